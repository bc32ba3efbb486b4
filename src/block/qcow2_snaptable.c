/* The qcow2 snapshot table: parsed and validated from the file, written
 * as a new copy.  See qcow2_snapshot.c for how snapshots work. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "block/qcow2_snapshot.h"

void snaptab_free(struct snaptab *t)
{
    for (uint32_t i = 0; t->v && i < t->n; i++) {
        free(t->v[i].id);
        free(t->v[i].name);
        free(t->v[i].extra);
    }
    free(t->v);
    t->v = NULL;
}

static int corrupt(struct qcow2 *s, uint32_t i, const char *what)
{
    return fail(EINVAL, "%s: corrupt snapshot table: entry %u: %s", s->b->path, i, what);
}

int snap_io_fail(struct qcow2 *s, int r, const char *what)
{
    return fail(-r, "%s: %s failed: %s", s->b->path, what, strerror(-r));
}

int snap_read_exact(struct qcow2 *s, void *buf, size_t len, uint64_t off)
{
    ssize_t n = blk_pread_fd(s->fd, buf, len, off);
    return n < 0 ? snap_io_fail(s, (int)n, "read") : 0;
}

static char *dup_str(const uint8_t *p, size_t len)
{
    char *c = malloc(len + 1);
    if (c) {
        memcpy(c, p, len);
        c[len] = 0;
    }
    return c;
}

/* The fixed part of entry i at `pos`; sets *len to the whole entry's size. */
static int parse_fixed(struct qcow2 *s, uint32_t i, const uint8_t *h, uint64_t fsize,
                       struct snap *sn, uint64_t *len)
{
    sn->l1_offset = get_be64(h);
    sn->l1_size = get_be32(h + 8);
    uint32_t id_len = get_be16(h + 12), name_len = get_be16(h + 14);
    sn->date_sec = get_be32(h + 16);
    sn->date_nsec = get_be32(h + 20);
    sn->vm_clock_nsec = get_be64(h + 24);
    sn->vm_state_size = get_be32(h + 32);
    sn->extra_size = get_be32(h + 36);
    if (sn->extra_size > SN_MAX_EXTRA)
        return corrupt(s, i, "extra data is larger than 1024 bytes");
    if (id_len == 0)
        return corrupt(s, i, "empty snapshot ID");
    if (sn->l1_size > QCOW2_MAX_L1_BYTES / 8)
        return corrupt(s, i, "L1 table is larger than 32 MiB");
    if ((sn->l1_offset % s->cluster_size) || (sn->l1_size && !sn->l1_offset))
        return corrupt(s, i, "L1 table offset is not cluster-aligned");
    if (sn->l1_offset > fsize || (uint64_t)sn->l1_size * 8 > fsize - sn->l1_offset)
        return corrupt(s, i, "L1 table lies past the end of the file");
    /* Entries start 8-aligned; the last one's padding may be missing. */
    *len = SN_HDR + (uint64_t)sn->extra_size + id_len + name_len;
    return 0;
}

/* Extra data, ID and name of entry i (the variable part, in `v`). */
static int parse_var(struct qcow2 *s, uint32_t i, const uint8_t *h, const uint8_t *v,
                     uint64_t size, struct snap *sn)
{
    uint32_t id_len = get_be16(h + 12), name_len = get_be16(h + 14), x = sn->extra_size;
    sn->vm_state_large = x >= 8 ? get_be64(v) : sn->vm_state_size;
    /* Version 3 requires disk_size; older entries take the image's size. */
    sn->disk_size = x >= 16 ? get_be64(v + 8) : size;
    if (x < 16 && s->version >= 3)
        return corrupt(s, i, "extra data too short for version 3 (no disk size)");
    if (l1_entries_for(s, sn->disk_size) > QCOW2_MAX_L1_BYTES / 8)
        return corrupt(s, i, "disk size is too large");
    sn->extra = malloc(x ? x : 1);
    sn->id = dup_str(v + x, id_len);
    sn->name = dup_str(v + x + id_len, name_len);
    if (!sn->extra || !sn->id || !sn->name)
        return fail(ENOMEM, "out of memory");
    memcpy(sn->extra, v, x);
    if (strlen(sn->id) != id_len || strlen(sn->name) != name_len)
        return corrupt(s, i, "ID or name contains a NUL byte");
    return 0;
}

static int parse_entry(struct qcow2 *s, uint32_t i, uint64_t *pos, uint64_t end,
                       uint64_t fsize, uint64_t size, struct snap *sn)
{
    uint8_t h[SN_HDR];
    uint64_t len = 0;
    if (*pos + SN_HDR > end)
        return corrupt(s, i, "the table runs past the end of the file (or 64 MiB)");
    int r = snap_read_exact(s, h, SN_HDR, *pos);
    if (!r)
        r = parse_fixed(s, i, h, fsize, sn, &len);
    if (r < 0)
        return r;
    if (*pos + len > end)
        return corrupt(s, i, "the table runs past the end of the file (or 64 MiB)");
    _cleanup_free_ uint8_t *v = malloc(len - SN_HDR + 1);
    if (!v)
        return fail(ENOMEM, "out of memory");
    r = snap_read_exact(s, v, len - SN_HDR, *pos + SN_HDR);
    if (!r)
        r = parse_var(s, i, h, v, size, sn);
    *pos += ALIGN_UP(len, 8);
    return r;
}

static int tab_load(struct qcow2 *s, uint64_t size, struct snaptab *t)
{
    uint8_t h[12];
    struct stat st;
    memset(t, 0, sizeof(*t));
    int r = snap_read_exact(s, h, sizeof(h), QH_NB_SNAPSHOTS);
    if (r < 0)
        return r;
    if (fstat(s->fd, &st) < 0)
        return fail(errno, "%s: %s", s->b->path, strerror(errno));
    uint32_t n = get_be32(h);
    uint64_t off = get_be64(h + 4), fsize = (uint64_t)st.st_size;
    if (n > SN_MAX)
        return fail(EINVAL, "%s: corrupt snapshot table: %u snapshots (at most 65536)",
                    s->b->path, n);
    if (n && (off == 0 || off % s->cluster_size || off >= fsize))
        return fail(EINVAL, "%s: corrupt snapshot table: offset 0x%" PRIx64 " is not a "
                    "cluster-aligned offset inside the file", s->b->path, off);
    t->v = calloc(n ? n : 1, sizeof(*t->v));
    if (!t->v)
        return fail(ENOMEM, "out of memory");
    uint64_t pos = off, end = n ? MIN(fsize, off + SN_MAX_TABLE) : 0;
    for (t->n = 0; t->n < n && r == 0; t->n++)
        r = parse_entry(s, t->n, &pos, end, fsize, size, &t->v[t->n]);
    t->offset = off;
    t->bytes = MIN(pos, end) - off;
    if (r < 0)
        snaptab_free(t);
    return r;
}

int qcow2_snapshot_validate(struct qcow2 *s, uint64_t size)
{
    struct snaptab t;
    int r = tab_load(s, size, &t);
    snaptab_free(&t);
    return r;
}

/* Lookup as qemu-img does it: by ID first, then by name. */
struct snap *snap_find(struct snaptab *t, const char *key)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].id, key))
            return &t->v[i];
    for (uint32_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].name, key))
            return &t->v[i];
    return NULL;
}

int snap_with_table(struct blk *b, struct snaptab *t)
{
    return tab_load(b->priv, b->size, t);
}

int qcow2_snapshot_list(struct blk *b, struct blk_snapshot **out, int *n)
{
    struct snaptab t;
    int r = snap_with_table(b, &t);
    if (r < 0)
        return r;
    *out = calloc(t.n ? t.n : 1, sizeof(**out));
    if (!*out) {
        snaptab_free(&t);
        return fail(ENOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < t.n; i++) {
        struct blk_snapshot *o = &(*out)[i];
        const struct snap *sn = &t.v[i];
        snprintf(o->id, sizeof(o->id), "%s", sn->id);
        snprintf(o->name, sizeof(o->name), "%s", sn->name);
        o->disk_size = sn->disk_size;
        o->vm_state_size = sn->vm_state_large;
        o->date_sec = sn->date_sec;
        o->date_nsec = sn->date_nsec;
        o->vm_clock_nsec = sn->vm_clock_nsec;
        o->icount = sn->extra_size >= 24 ? get_be64(sn->extra + 16) : UINT64_MAX;
    }
    *n = (int)t.n;
    snaptab_free(&t);
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

static uint64_t entry_len(const struct snap *sn)
{
    return ALIGN_UP(SN_HDR + (uint64_t)sn->extra_size + strlen(sn->id) + strlen(sn->name), 8);
}

static void put_entry(uint8_t *p, const struct snap *sn)
{
    size_t il = strlen(sn->id), nl = strlen(sn->name);
    put_be64(p, sn->l1_offset);
    put_be32(p + 8, sn->l1_size);
    put_be16(p + 12, (uint16_t)il);
    put_be16(p + 14, (uint16_t)nl);
    put_be32(p + 16, sn->date_sec);
    put_be32(p + 20, sn->date_nsec);
    put_be64(p + 24, sn->vm_clock_nsec);
    put_be32(p + 32, sn->vm_state_size);
    put_be32(p + 36, sn->extra_size);
    memcpy(p + SN_HDR, sn->extra, sn->extra_size);
    memcpy(p + SN_HDR + sn->extra_size, sn->id, il);
    memcpy(p + SN_HDR + sn->extra_size + il, sn->name, nl);
}

/* Writes `bytes` at freshly allocated clusters, with refcount 1 each. */
int snap_write_new(struct qcow2 *s, const void *buf, uint64_t bytes, uint64_t *off)
{
    uint64_t n = ALIGN_UP(bytes, s->cluster_size) / s->cluster_size;
    *off = 0;
    if (n == 0)
        return 0;
    int r = qcow2_alloc(s, n, off);
    if (!r && (r = blk_pwrite_fd(s->fd, buf, bytes, *off)) < 0)
        r = snap_io_fail(s, r, "write");
    return r;
}

int snap_free_clusters(struct qcow2 *s, uint64_t off, uint64_t bytes)
{
    int r = 0;
    for (uint64_t c = 0; off && c < bytes && r == 0; c += s->cluster_size)
        r = qcow2_refcount_add(s, off + c, -1);
    return r;
}

/* Writes the table `t` minus entry `skip` (NULL: none) plus `add` (NULL:
 * none) as a new copy, points the header at it, frees the old copy. */
int snaptab_write(struct qcow2 *s, struct snaptab *t, const struct snap *skip,
                  const struct snap *add)
{
    uint64_t bytes = add ? entry_len(add) : 0, pos = 0, off;
    uint32_t n = add ? 1 : 0;
    for (uint32_t i = 0; i < t->n; i++)
        if (&t->v[i] != skip) {
            bytes += entry_len(&t->v[i]);
            n++;
        }
    _cleanup_free_ uint8_t *buf = calloc(1, bytes ? bytes : 1);
    if (!buf)
        return fail(ENOMEM, "out of memory");
    for (uint32_t i = 0; i < t->n; i++)
        if (&t->v[i] != skip) {
            put_entry(buf + pos, &t->v[i]);
            pos += entry_len(&t->v[i]);
        }
    if (add)
        put_entry(buf + pos, add);
    int r = snap_write_new(s, buf, bytes, &off);
    if (!r)
        r = blk_sync_file(s->b);
    uint8_t h[12];
    put_be32(h, n);
    put_be64(h + 4, off);
    if (!r && (r = blk_pwrite_fd(s->fd, h, sizeof(h), QH_NB_SNAPSHOTS)) < 0)
        r = snap_io_fail(s, r, "write");
    if (!r)
        r = blk_sync_file(s->b);
    if (r < 0)
        return r;
    s->nb_snapshots = n;
    return snap_free_clusters(s, t->offset, t->bytes);
}
