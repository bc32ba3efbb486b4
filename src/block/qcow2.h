/* qcow2 driver internals shared by qcow2*.c.  Layout facts follow QEMU's
 * docs/interop/qcow2.rst; all on-disk fields are big-endian. */
#ifndef CORRAL_BLOCK_QCOW2_H
#define CORRAL_BLOCK_QCOW2_H

#include <string.h>

#include "block/block_internal.h"

#define QCOW2_MAGIC 0x514649fbu
#define QCOW2_V2_HEADER_LEN 72
#define QCOW2_V3_HEADER_LEN 104
#define QCOW2_OUR_HEADER_LEN 112     /* v3 + compression type, padded to 8 */

#define QCOW2_INCOMPAT_DIRTY (1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ULL << 4)
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ULL << 0)

#define QCOW2_EXT_END 0
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_FEATURE_TABLE 0x6803f857u

/* Header field offsets. */
#define QH_BACKING_OFFSET 8
#define QH_BACKING_SIZE 16
#define QH_CLUSTER_BITS 20
#define QH_SIZE 24
#define QH_CRYPT 32
#define QH_L1_SIZE 36
#define QH_L1_OFFSET 40
#define QH_REFTABLE_OFFSET 48
#define QH_REFTABLE_CLUSTERS 56
#define QH_NB_SNAPSHOTS 60
#define QH_SNAPSHOTS_OFFSET 64
#define QH_INCOMPAT 72
#define QH_COMPAT 80
#define QH_AUTOCLEAR 88
#define QH_REFCOUNT_ORDER 96
#define QH_HEADER_LENGTH 100
#define QH_COMPRESSION_TYPE 104

/* Table entries. */
#define QCOW2_OFFSET_MASK 0x00fffffffffffe00ULL  /* L1, L2 and refcount table */
#define QCOW2_COPIED (1ULL << 63)
#define QCOW2_COMPRESSED (1ULL << 62)
#define QCOW2_ZERO 1ULL

/* Limits that keep a hostile header from sizing our allocations (the same
 * values QEMU uses, so every image QEMU makes opens here). */
#define QCOW2_MAX_L1_BYTES (32 * MiB)
#define QCOW2_MAX_REFTABLE_BYTES (8 * MiB)
#define QCOW2_CACHE_BYTES (32 * MiB)

/* A small cache of whole clusters (L2 tables or refcount blocks), written
 * through: a slot is never dirty, so evicting one costs nothing and the
 * on-disk update order is the order of the writes.  Lookups go through a
 * hash of the cluster offset (chains of slot indexes); only a miss, which
 * reads a cluster anyway, scans the slots for the least recently used. */
struct qcow2_cache {
    struct qcow2_slot {
        uint64_t off;           /* 0: empty (no table lives at offset 0) */
        uint64_t used;
        uint8_t *data;
        int32_t next;           /* next slot in the same hash chain, or -1 */
    } *slots;
    int32_t *heads;             /* nheads chains, -1 = empty */
    size_t n, nheads;
    uint64_t tick;
};

struct qcow2 {
    struct blk *b;
    int fd;
    uint32_t version;
    uint32_t cluster_bits;
    uint64_t cluster_size;
    uint32_t l2_bits;               /* log2 entries per L2 table */
    uint64_t *l1;
    uint32_t l1_size;
    uint64_t l1_offset;
    uint64_t *reftable;
    uint64_t reftable_entries;
    uint64_t reftable_offset;
    uint32_t reftable_clusters;
    uint32_t refcount_order;
    uint32_t rb_bits;               /* log2 entries per refcount block */
    uint32_t nb_snapshots;
    uint64_t header_length;
    uint64_t file_end;              /* cluster-aligned; new clusters go here */
    struct qcow2_cache l2_cache, rb_cache;
    uint8_t *zbuf, *cbuf;           /* compressed input, decompressed cluster */
    uint64_t cbuf_entry;            /* L2 entry cbuf holds (0 = none) */
    uint64_t comp_next;             /* where packed compressed data may go on */
    uint8_t *wbuf;                  /* new clusters being written (QCOW2_WBUF_BYTES) */
    /* Crash safety (the rules are at the top of qcow2_refcount.c). */
    uint64_t pool_next, pool_end;   /* clusters whose refcount is already 1, unused */
    bool rc_unsynced;               /* refcounts raised since the last fdatasync */
    bool data_unsynced;             /* copied contents written since then */
    bool lazy;                      /* lazy_refcounts: the dirty bit instead of syncs */
    bool dirty_set;                 /* we set the header's dirty bit */
    bool keep_dirty;                /* it was set on open and is not repaired yet */
    bool snap_walked;               /* a snapshot operation has begun changing references */
    uint64_t *pending;              /* deferred refcount decrements (host offsets) */
    size_t npending;
};

/* New clusters a write allocates at once: up to this many bytes (and at
 * least one cluster). */
#define QCOW2_WBUF_BYTES (2 * MiB)

static inline uint64_t qcow2_cluster_of(const struct qcow2 *s, uint64_t host)
{
    return host >> s->cluster_bits;
}

/* qcow2_cache.c */
int qcow2_cache_init(struct qcow2_cache *c, size_t n);
void qcow2_cache_free(struct qcow2_cache *c);
int qcow2_cache_get(struct qcow2 *s, struct qcow2_cache *c, uint64_t off, uint8_t **data);
/* For a freshly allocated (all-zero) table: no need to read it back. */
int qcow2_cache_get_new(struct qcow2 *s, struct qcow2_cache *c, uint64_t off, uint8_t **data);
/* Checks that a table or data cluster offset from the image is usable. */
int qcow2_check_cluster(struct qcow2 *s, uint64_t off, const char *what);

/* qcow2_refcount.c */
int qcow2_refcount_get(struct qcow2 *s, uint64_t host, uint64_t *val);
int qcow2_refcount_set(struct qcow2 *s, uint64_t host, uint64_t val);
/* Adds addend (+1/-1); an overflow or underflow is an error, not a wrap. */
int qcow2_refcount_add(struct qcow2 *s, uint64_t host, int addend);
/* Reserves n contiguous clusters at the end of the file (refcount blocks
 * for them exist afterwards, their refcounts are still 0). */
int qcow2_reserve(struct qcow2 *s, uint64_t n, uint64_t *off);
int qcow2_find_end(struct qcow2 *s);
/* n clusters with refcount 1 (single ones come from a preallocated pool). */
int qcow2_alloc(struct qcow2 *s, uint64_t n, uint64_t *off);
/* Call before writing a reference (L1/L2/reftable entry) to something just
 * allocated or copied: makes what it points to durable first. */
int qcow2_barrier(struct qcow2 *s);
/* Drops the references of L2 entry e once its replacement is durable. */
int qcow2_release(struct qcow2 *s, uint64_t e);
/* fdatasync, then the deferred decrements (the flush of a qcow2 image). */
int qcow2_sync(struct qcow2 *s);
/* qcow2_sync, then the unused pool is freed: refcounts are exact. */
int qcow2_settle(struct qcow2 *s);
/* Before a clean close: settles, syncs, clears the dirty bit we set. */
int qcow2_shutdown(struct qcow2 *s);
/* Sets and clears incompatible-feature bits in a v3 header, durably (after
 * an fdatasync of everything before). */
int qcow2_update_incompat(struct qcow2 *s, uint64_t set, uint64_t clear);
/* Entry idx of a refcount block's contents (any refcount width). */
uint64_t qcow2_refcount_in_block(const struct qcow2 *s, const uint8_t *blk, uint64_t idx);

/* qcow2_io.c */
int qcow2_read(struct blk *b, uint64_t off, void *buf, size_t len);
int qcow2_write(struct blk *b, uint64_t off, const void *buf, size_t len);
int qcow2_map(struct blk *b, uint64_t off, uint64_t len, bool write, uint64_t *host,
              uint64_t *n);
/* The L2 entry for guest offset vo: table == NULL if there is no L2 table
 * (and alloc is false); with alloc, a missing table is created. */
struct qcow2_l2ref { uint8_t *table; uint64_t table_off; uint64_t idx; };
int qcow2_get_l2(struct qcow2 *s, uint64_t vo, bool alloc, struct qcow2_l2ref *ref);
/* Host byte range of a compressed cluster's data (L2 entry e). */
void qcow2_compressed_span(const struct qcow2 *s, uint64_t e, uint64_t *off, uint64_t *len);
/* Adds addend (+1/-1) to the refcount of each host cluster L2 entry e uses. */
int qcow2_entry_ref(struct qcow2 *s, uint64_t e, int addend);
/* The L2 entry of guest offset vo (0 if it has no L2 table). */
int qcow2_get_entry(struct qcow2 *s, uint64_t vo, uint64_t *e);
/* Points guest cluster vo at L2 entry e (its host clusters already
 * referenced), then releases the references of the entry it replaces. */
int qcow2_set_entry(struct qcow2 *s, uint64_t vo, uint64_t e);

/* qcow2_meta.c: info, block status, zeroes, discard, resize, backing file. */
int qcow2_get_info(struct blk *b, struct blk_info *out);
int qcow2_block_status(struct blk *b, uint64_t off, uint64_t len, uint64_t *pnum,
                       int *status, uint64_t *host_off);
int qcow2_write_zeroes(struct blk *b, uint64_t off, uint64_t len);
int qcow2_discard(struct blk *b, uint64_t off, uint64_t len);
int qcow2_resize(struct blk *b, uint64_t size);
int qcow2_set_backing(struct blk *b, const char *file, enum blk_format fmt);
/* qcow2_check.c */
int qcow2_check(struct blk *b, int fix, struct blk_check_result *res);
/* qcow2_compress.c */
int qcow2_write_compressed(struct blk *b, uint64_t off, const void *buf, size_t len);
/* qcow2_snapshot.c */
int qcow2_snapshot_list(struct blk *b, struct blk_snapshot **out, int *n);
int qcow2_snapshot_create(struct blk *b, const char *name);
int qcow2_snapshot_apply(struct blk *b, const char *name_or_id);
int qcow2_snapshot_delete(struct blk *b, const char *name_or_id);
/* Checks the snapshot table (on a read-write open); size is the header's. */
int qcow2_snapshot_validate(struct qcow2 *s, uint64_t size);

#endif
