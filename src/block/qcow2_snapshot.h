/* Shared by the two halves of qcow2 internal snapshots: the snapshot table
 * (qcow2_snaptable.c: parse, validate, write) and the operations on it
 * (qcow2_snapshot.c).  Not part of the module's interface. */
#ifndef CORRAL_QCOW2_SNAPSHOT_H
#define CORRAL_QCOW2_SNAPSHOT_H

#include "block/qcow2.h"

#define SN_HDR 40
#define SN_MAX_EXTRA 1024            /* QEMU's limit too */
#define SN_MAX_TABLE (64 * MiB)
#define SN_MAX 65536

struct snap {
    uint64_t l1_offset;
    uint32_t l1_size;
    char *id, *name;
    uint32_t date_sec, date_nsec, vm_state_size, extra_size;
    uint64_t vm_clock_nsec, disk_size, vm_state_large;
    uint8_t *extra;                  /* kept as read: unknown fields survive */
};

struct snaptab {
    struct snap *v;
    uint32_t n;
    uint64_t offset, bytes;
};

/* L1 entries needed to map `size` bytes. */
static inline uint64_t l1_entries_for(const struct qcow2 *s, uint64_t size)
{
    uint32_t shift = s->cluster_bits + s->l2_bits;
    return (size >> shift) + !!(size & ((1ULL << shift) - 1));
}

void snaptab_free(struct snaptab *t);
int snap_io_fail(struct qcow2 *s, int r, const char *what);
int snap_read_exact(struct qcow2 *s, void *buf, size_t len, uint64_t off);
struct snap *snap_find(struct snaptab *t, const char *key);
int snap_with_table(struct blk *b, struct snaptab *t);
int snap_write_new(struct qcow2 *s, const void *buf, uint64_t bytes, uint64_t *off);
int snap_free_clusters(struct qcow2 *s, uint64_t off, uint64_t bytes);
int snaptab_write(struct qcow2 *s, struct snaptab *t, const struct snap *skip,
                  const struct snap *add);

#endif
