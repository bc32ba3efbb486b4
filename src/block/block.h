/* block — virtual disk images: raw files and qcow2 (versions 2 and 3, as
 * specified in QEMU's docs/interop/qcow2.rst), behind one handle.
 *
 * Used by corral-vmm's virtio-blk and by `corral img`.  An image is opened
 * once (read-only or read-write); reads and writes take guest byte offsets
 * and may be of any length; flush makes everything written so far durable,
 * metadata included.  Backing files are opened read-only, recursively, with
 * a depth limit and loop detection.
 *
 * Safety: every offset, size and count read from an image file is checked
 * against the file's real size and against sane limits before it is used;
 * a corrupt or hostile image gets one clear error (fail()/err_msg()), never
 * a crash, a hang or an allocation sized by an untrusted field.  Metadata
 * is written in an order that leaves the image consistent (at worst with
 * leaked clusters) if the process dies at any point, and with the syncs
 * that keep it so across a power loss (see block/qcow2_refcount.c); a
 * snapshot operation killed half-way leaves a v3 image marked dirty, which
 * the next read-write open repairs (block/qcow2_snapshot.c).  Once a flush
 * has failed, every later flush of the image fails (blk_sync_file).
 *
 * Thread safety: one handle is used by one thread at a time.  That thread
 * may keep many requests in flight with a blk_queue (below).
 */
#ifndef CORRAL_BLOCK_H
#define CORRAL_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum blk_format { BLK_FMT_PROBE = 0, BLK_FMT_RAW, BLK_FMT_QCOW2 };

#define BLK_MAX_BACKING_DEPTH 64
#define BLK_MIN_CLUSTER_BITS 9   /* 512 B */
#define BLK_MAX_CLUSTER_BITS 21  /* 2 MiB */

struct blk;

struct blk_create_opts {
    enum blk_format format;      /* RAW or QCOW2 */
    uint64_t size;               /* virtual size in bytes; 0 = the backing file's */
    uint32_t cluster_size;       /* qcow2: power of two, 512 B..2 MiB; 0 = 64 KiB */
    int compat;                  /* qcow2: 2 (0.10) or 3 (1.1); 0 = 3 */
    bool lazy_refcounts;         /* qcow2 v3 only */
    const char *backing_file;    /* qcow2 only; NULL = none */
    enum blk_format backing_format; /* PROBE = probe and do not record */
};

/* Creates (truncating) an image.  Returns 0 or a negative errno via fail(). */
int blk_create(const char *path, const struct blk_create_opts *opts);

/* A qcow2 image marked dirty (lazy refcounts, not closed cleanly) gets its
 * refcounts rebuilt when opened read-write, with one line on stderr; one
 * marked corrupt opens read-only only.  BLK_OPEN_CHECK (for `check -r`)
 * opens either read-write as it is, for blk_check to repair and unmark. */
/* Caching (QEMU's -t modes map onto these, see docs/img.md):
 * DIRECT   guest data bypasses the host page cache (O_DIRECT) wherever the
 *          buffer, offset and length are 4 KiB-aligned; the rest of the data
 *          and the image's own tables go through the page cache.  The file
 *          system must support O_DIRECT.  Backing files inherit it.
 * DSYNC    every write is durable when it returns (O_DSYNC): writethrough.
 * NO_FLUSH blk_flush() and blk_close() do not sync (cache=unsafe).
 * SHARED   another process may be writing the image until blk_reload() (a
 *          migration's destination): opening writes nothing - a dirty
 *          image's repair waits for the reload, which clears the flag. */
enum {
    BLK_OPEN_RDONLY = 1, BLK_OPEN_NO_BACKING = 2,
    BLK_OPEN_DIRECT = 4, BLK_OPEN_DSYNC = 8, BLK_OPEN_NO_FLUSH = 16, BLK_OPEN_CHECK = 32,
    BLK_OPEN_SHARED = 64,
};
#define BLK_DIRECT_ALIGN 4096
int blk_open(const char *path, enum blk_format fmt, int flags, struct blk **out);
/* Flushes (if writable) and frees; returns the flush result. */
int blk_close(struct blk *b);

uint64_t blk_size(const struct blk *b);
enum blk_format blk_format_of(const struct blk *b);
const char *blk_format_name(enum blk_format f);
int blk_parse_format(const char *name, enum blk_format *out);

/* Any offset and length inside the virtual size. */
int blk_pread(struct blk *b, uint64_t off, void *buf, size_t len);
int blk_pwrite(struct blk *b, uint64_t off, const void *buf, size_t len);
int blk_flush(struct blk *b);

/* Live migration with shared storage: two processes have the image open,
 * only one writes at a time.  blk_hand_over() writes what a close would
 * (pending refcount work settled, dirty bit cleared, synced) and then
 * nothing more, not even at blk_close, unless blk_take_back() says the
 * hand-over failed.  blk_reload() makes the other process re-read the
 * metadata the first one changed since it opened the image. */
int blk_hand_over(struct blk *b);
void blk_take_back(struct blk *b);
int blk_reload(struct blk *b);

/* Live migration without shared storage: while tracking, every write
 * (pwrite, write-zeroes, discard) marks the BLK_TRACK_CHUNK-sized chunks it
 * touches; blk_track_collect() moves the marks into BITMAP (one bit per
 * chunk, ORed in).  Marking is atomic: writes and collecting may run on
 * different threads. */
#define BLK_TRACK_CHUNK (64 * 1024)
int blk_track_start(struct blk *b);
void blk_track_stop(struct blk *b);
void blk_track_collect(struct blk *b, uint64_t *bitmap);
uint64_t blk_track_chunks(const struct blk *b);

/* ---- many requests in flight from one thread ---------------------------------
 * A queue keeps up to `depth` reads and writes in flight at once (io_uring).
 * A request whose bytes lie in the image file as they are (any raw range;
 * qcow2 clusters that are allocated and ours alone, contiguous ones merged
 * into one host I/O) goes to the kernel directly.  Anything else
 * (allocation, copy-on-write, zero or compressed clusters, the backing
 * file) waits until the requests in flight have completed and then runs
 * synchronously, so the image's metadata never changes under data I/O.
 * Without io_uring (old kernel, seccomp) every request runs synchronously.
 * Requests in flight complete in any order; overlapping ones in any order.
 * Buffers belong to the queue until their request has been reaped. */
struct blk_queue;
struct blk_done {
    void *tag;              /* as given when the request was queued */
    int ret;                /* 0 or a negative errno */
};
int blk_queue_new(struct blk *b, unsigned depth, struct blk_queue **out);
/* Waits for the requests in flight, then frees the queue. */
void blk_queue_free(struct blk_queue *q);
/* Queue a request (sent to the kernel by the next blk_queue_reap).  The
 * range is checked at once; -EBUSY when `depth` requests are outstanding
 * (queued and not yet reaped). */
int blk_queue_read(struct blk_queue *q, uint64_t off, void *buf, size_t len, void *tag);
int blk_queue_write(struct blk_queue *q, uint64_t off, const void *buf, size_t len, void *tag);
/* Submits what is queued, waits until at least `min` requests (at most all
 * outstanding ones) have completed and stores up to `max` completions in
 * done[].  Returns how many it stored, or a negative errno if the queue
 * itself failed.  After a failed completion err_msg() describes the last
 * failed one stored. */
int blk_queue_reap(struct blk_queue *q, struct blk_done *done, unsigned max, unsigned min);
unsigned blk_queue_outstanding(const struct blk_queue *q);
/* Whether requests really overlap (false: io_uring unavailable, all sync). */
bool blk_queue_is_async(const struct blk_queue *q);

/* ---- what `corral img` needs beyond reading and writing --------------------
 * Functions a format does not support return -ENOTSUP with a message. */

struct blk_info {
    enum blk_format format;
    uint64_t virtual_size;
    uint64_t actual_size;        /* bytes the file occupies on the host */
    uint32_t cluster_size;       /* qcow2; 0 for raw */
    int compat;                  /* qcow2: 2 or 3 */
    unsigned refcount_bits;      /* qcow2 */
    bool lazy_refcounts, dirty, corrupt;
    char backing_file[1024];     /* as recorded in the image; "" if none */
    enum blk_format backing_format; /* as recorded; BLK_FMT_PROBE if not */
    int nsnapshots;
};
int blk_get_info(struct blk *b, struct blk_info *out);
uint32_t blk_cluster_size(const struct blk *b); /* 0 for raw */

/* Block status, as `qemu-img map` reports it. */
enum {
    BLK_STATUS_DATA = 1,         /* reads come from a file (this one or a backing one) */
    BLK_STATUS_ZERO = 2,         /* reads as zeros */
    BLK_STATUS_ALLOCATED = 4,    /* decided by this image, not its backing chain */
    BLK_STATUS_COMPRESSED = 8,
    BLK_STATUS_PRESENT = 16,     /* decided by some file of the chain (map's "present") */
};
/* Describes the range at `off`: *pnum (1..len) bytes share *status; for
 * DATA ranges *host_off is the offset in the file of the image at chain
 * depth *depth (0 = b itself) that holds them, else 0. */
int blk_block_status(struct blk *b, uint64_t off, uint64_t len, uint64_t *pnum,
                     int *status, uint64_t *host_off, int *depth);

/* Reads as zeros afterwards (qcow2 v3: zero clusters; v2: only where no
 * backing file shows through, else written zeros). */
int blk_write_zeroes(struct blk *b, uint64_t off, uint64_t len);
/* Frees whole clusters in the range where the format allows it; partial
 * clusters are left alone (discard is a hint). */
int blk_discard(struct blk *b, uint64_t off, uint64_t len);
/* Grows (new space reads as zeros) or shrinks (only if nothing is
 * allocated past the new end, or raw). */
int blk_resize(struct blk *b, uint64_t size);
/* Records a new backing file (NULL = none) without copying data (rebase -u). */
int blk_set_backing(struct blk *b, const char *backing_file, enum blk_format backing_format);
/* Writes whole clusters compressed (qcow2; convert -c).  off and len are
 * cluster-aligned except that the image's last cluster may be short. */
int blk_write_compressed(struct blk *b, uint64_t off, const void *buf, size_t len);

/* Consistency check (`qemu-img check`): refcounts recomputed from the
 * metadata and compared with the stored ones. */
struct blk_check_result {
    uint64_t corruptions, leaks;             /* found (before fixing) */
    uint64_t corruptions_fixed, leaks_fixed;
    uint64_t check_errors;                   /* I/O errors while checking */
    uint64_t allocated_clusters, total_clusters, fragmented_clusters, compressed_clusters;
    uint64_t image_end_offset;
};
enum { BLK_FIX_LEAKS = 1, BLK_FIX_ERRORS = 2 };
int blk_check(struct blk *b, int fix, struct blk_check_result *res);

/* Internal snapshots (qcow2). */
struct blk_snapshot {
    char id[32];
    char name[256];
    uint64_t disk_size;
    uint64_t vm_state_size;
    uint64_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t icount;             /* instructions executed; UINT64_MAX = not recorded */
};
/* *out is malloc'ed (free it); *n entries. */
int blk_snapshot_list(struct blk *b, struct blk_snapshot **out, int *n);
int blk_snapshot_create(struct blk *b, const char *name);
int blk_snapshot_apply(struct blk *b, const char *name_or_id);
int blk_snapshot_delete(struct blk *b, const char *name_or_id);

#endif
