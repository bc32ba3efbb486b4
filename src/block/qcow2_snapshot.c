/* qcow2 internal snapshots (docs/interop/qcow2.rst, "Snapshots").
 *
 * A snapshot is a copy of the active L1 table plus one reference more on
 * every L2 table and data cluster it reaches; the active tables lose their
 * COPIED flags, so the write path copies anything shared before changing
 * it.  Every operation first adds references, then switches the header,
 * then drops references: a crash in between leaves leaked clusters, never
 * a cluster in use with a refcount too low.
 *
 * The snapshot table is read from the file whenever it is needed (it is
 * small and rarely used); it is never rewritten in place: a new copy is
 * written, the header is switched to it, then the old one is freed. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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

static void tab_free(struct snaptab *t)
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

static int io_fail(struct qcow2 *s, int r, const char *what)
{
    return fail(-r, "%s: %s failed: %s", s->b->path, what, strerror(-r));
}

static int read_exact(struct qcow2 *s, void *buf, size_t len, uint64_t off)
{
    ssize_t n = blk_pread_fd(s->fd, buf, len, off);
    return n < 0 ? io_fail(s, (int)n, "read") : 0;
}

static uint64_t l1_entries_for(const struct qcow2 *s, uint64_t size)
{
    uint32_t shift = s->cluster_bits + s->l2_bits;
    return (size >> shift) + !!(size & ((1ULL << shift) - 1));
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
    int r = read_exact(s, h, SN_HDR, *pos);
    if (!r)
        r = parse_fixed(s, i, h, fsize, sn, &len);
    if (r < 0)
        return r;
    if (*pos + len > end)
        return corrupt(s, i, "the table runs past the end of the file (or 64 MiB)");
    _cleanup_free_ uint8_t *v = malloc(len - SN_HDR + 1);
    if (!v)
        return fail(ENOMEM, "out of memory");
    r = read_exact(s, v, len - SN_HDR, *pos + SN_HDR);
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
    int r = read_exact(s, h, sizeof(h), QH_NB_SNAPSHOTS);
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
        tab_free(t);
    return r;
}

int qcow2_snapshot_validate(struct qcow2 *s, uint64_t size)
{
    struct snaptab t;
    int r = tab_load(s, size, &t);
    tab_free(&t);
    return r;
}

/* Lookup as qemu-img does it: by ID first, then by name. */
static struct snap *find(struct snaptab *t, const char *key)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].id, key))
            return &t->v[i];
    for (uint32_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].name, key))
            return &t->v[i];
    return NULL;
}

static int with_table(struct blk *b, struct snaptab *t)
{
    return tab_load(b->priv, b->size, t);
}

int qcow2_snapshot_list(struct blk *b, struct blk_snapshot **out, int *n)
{
    struct snaptab t;
    int r = with_table(b, &t);
    if (r < 0)
        return r;
    *out = calloc(t.n ? t.n : 1, sizeof(**out));
    if (!*out) {
        tab_free(&t);
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
    }
    *n = (int)t.n;
    tab_free(&t);
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

static int sync_or_fail(struct qcow2 *s)
{
    return fdatasync(s->fd) < 0 ? fail(errno, "%s: flush failed: %s", s->b->path,
                                       strerror(errno)) : 0;
}

/* Writes `bytes` at freshly allocated clusters, with refcount 1 each. */
static int write_new(struct qcow2 *s, const void *buf, uint64_t bytes, uint64_t *off)
{
    uint64_t n = ALIGN_UP(bytes, s->cluster_size) / s->cluster_size;
    *off = 0;
    if (n == 0)
        return 0;
    int r = qcow2_reserve(s, n, off);
    if (!r && (r = blk_pwrite_fd(s->fd, buf, bytes, *off)) < 0)
        r = io_fail(s, r, "write");
    for (uint64_t i = 0; i < n && r == 0; i++)
        r = qcow2_refcount_set(s, *off + i * s->cluster_size, 1);
    return r;
}

static int free_clusters(struct qcow2 *s, uint64_t off, uint64_t bytes)
{
    int r = 0;
    for (uint64_t c = 0; off && c < bytes && r == 0; c += s->cluster_size)
        r = qcow2_refcount_add(s, off + c, -1);
    return r;
}

/* Writes the table `t` minus entry `skip` (NULL: none) plus `add` (NULL:
 * none) as a new copy, points the header at it, frees the old copy. */
static int tab_write(struct qcow2 *s, struct snaptab *t, const struct snap *skip,
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
    int r = write_new(s, buf, bytes, &off);
    if (!r)
        r = sync_or_fail(s);
    uint8_t h[12];
    put_be32(h, n);
    put_be64(h + 4, off);
    if (!r && (r = blk_pwrite_fd(s->fd, h, sizeof(h), QH_NB_SNAPSHOTS)) < 0)
        r = io_fail(s, r, "write");
    if (!r)
        r = sync_or_fail(s);
    if (r < 0)
        return r;
    s->nb_snapshots = n;
    return free_clusters(s, t->offset, t->bytes);
}

/* ---- references ---------------------------------------------------------- */

/* With fix (active tables only): entry e with its COPIED flag set exactly
 * when its cluster's refcount is 1, as the spec requires. */
static int fixed_flag(struct qcow2 *s, uint64_t e, uint64_t *out)
{
    uint64_t host = e & QCOW2_OFFSET_MASK, v = 0;
    *out = e & ~QCOW2_COPIED;
    if ((e & QCOW2_COMPRESSED) || !host)
        return 0;
    int r = qcow2_refcount_get(s, host, &v);
    if (v == 1)
        *out |= QCOW2_COPIED;
    return r;
}

/* Adds addend to every cluster the L2 table at `off` maps; with fix, then
 * rewrites its COPIED flags (on disk and in the cache). */
static int walk_l2(struct qcow2 *s, uint64_t off, int addend, bool fix, uint8_t *buf)
{
    uint8_t *t;
    bool changed = false;
    int r = qcow2_cache_get(s, &s->l2_cache, off, &t);
    if (r < 0)
        return r;
    memcpy(buf, t, s->cluster_size);
    for (uint64_t i = 0; i < s->cluster_size / 8 && r == 0; i++) {
        uint64_t e = get_be64(buf + i * 8), ne = e;
        if (addend)
            r = qcow2_entry_ref(s, e, addend);
        if (!r && fix)
            r = fixed_flag(s, e, &ne);
        if (!r && ne != e) {
            put_be64(buf + i * 8, ne);
            changed = true;
        }
    }
    if (r < 0 || !changed)
        return r;
    if ((r = blk_pwrite_fd(s->fd, buf, s->cluster_size, off)) < 0)
        return io_fail(s, r, "write");
    r = qcow2_cache_get(s, &s->l2_cache, off, &t);
    if (r == 0)
        memcpy(t, buf, s->cluster_size);
    return r;
}

/* Adds addend to the refcount of every L2 table and cluster that `l1`
 * reaches.  With fix, `l1` is the active table (at s->l1_offset) and all
 * the COPIED flags of the active tables are brought up to date. */
static int walk(struct qcow2 *s, uint64_t *l1, uint32_t n, int addend, bool fix)
{
    _cleanup_free_ uint8_t *buf = malloc(s->cluster_size);
    if (!buf)
        return fail(ENOMEM, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
        uint64_t off = l1[i] & QCOW2_OFFSET_MASK, ne = l1[i];
        if (!off)
            continue;
        int r = qcow2_check_cluster(s, off, "L2 table");
        if (!r)
            r = walk_l2(s, off, addend, fix, buf);
        if (!r && addend)
            r = qcow2_refcount_add(s, off, addend);
        if (!r && fix)
            r = fixed_flag(s, l1[i], &ne);
        if (r < 0)
            return r;
        if (!fix || ne == l1[i])
            continue;
        uint8_t e[8];
        put_be64(e, ne);
        if ((r = blk_pwrite_fd(s->fd, e, 8, s->l1_offset + (uint64_t)i * 8)) < 0)
            return io_fail(s, r, "write");
        l1[i] = ne;
    }
    return 0;
}

/* Every L2 table of a snapshot's L1 must be a cluster in the file: checked
 * before anything changes, so a corrupt snapshot is refused untouched. */
static int check_l1(struct qcow2 *s, const uint64_t *l1, uint32_t n)
{
    int r = 0;
    for (uint32_t i = 0; i < n && r == 0; i++)
        if (l1[i] & QCOW2_OFFSET_MASK)
            r = qcow2_check_cluster(s, l1[i] & QCOW2_OFFSET_MASK, "snapshot L2 table");
    return r;
}

static int load_l1(struct qcow2 *s, const struct snap *sn, uint64_t entries, uint64_t **out)
{
    uint64_t *l1 = calloc(entries ? entries : 1, 8);
    if (!l1)
        return fail(ENOMEM, "out of memory");
    int r = read_exact(s, l1, (uint64_t)sn->l1_size * 8, sn->l1_offset);
    for (uint32_t i = 0; i < sn->l1_size; i++)
        l1[i] = get_be64((const uint8_t *)&l1[i]);
    if (r == 0)
        r = check_l1(s, l1, sn->l1_size);
    if (r < 0)
        free(l1);
    else
        *out = l1;
    return r;
}

/* A new on-disk copy of l1 (COPIED flags dropped: they mean nothing in a
 * snapshot and are recomputed for an active table). */
static int write_l1_copy(struct qcow2 *s, const uint64_t *l1, uint32_t n, uint64_t *off)
{
    _cleanup_free_ uint8_t *buf = malloc(n ? (size_t)n * 8 : 1);
    if (!buf)
        return fail(ENOMEM, "out of memory");
    for (uint32_t i = 0; i < n; i++)
        put_be64(buf + (size_t)i * 8, l1[i] & ~QCOW2_COPIED);
    return write_new(s, buf, (uint64_t)n * 8, off);
}

/* ---- operations ---------------------------------------------------------- */

static uint64_t next_id(const struct snaptab *t)
{
    uint64_t max = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        char *end;
        unsigned long long v = strtoull(t->v[i].id, &end, 10);
        if (!*end && v > max)
            max = v;
    }
    return max + 1;
}

static int create_in(struct qcow2 *s, struct snaptab *t, const char *name)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].name, name))
            return fail(EEXIST, "%s: a snapshot named '%s' already exists", s->b->path, name);
    if (t->n >= SN_MAX)
        return fail(ENOSPC, "%s: too many snapshots (at most 65536)", s->b->path);
    char id[24];
    uint8_t extra[24];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(id, sizeof(id), "%" PRIu64, next_id(t));
    put_be64(extra, 0);
    put_be64(extra + 8, s->b->size);
    put_be64(extra + 16, UINT64_MAX); /* icount: -1, not recorded */
    struct snap sn = { .l1_size = s->l1_size, .id = id, .name = (char *)name,
                       .date_sec = (uint32_t)ts.tv_sec, .date_nsec = (uint32_t)ts.tv_nsec,
                       .extra_size = sizeof(extra), .extra = extra };
    int r = walk(s, s->l1, s->l1_size, 1, true);
    if (!r)
        r = write_l1_copy(s, s->l1, s->l1_size, &sn.l1_offset);
    return r < 0 ? r : tab_write(s, t, NULL, &sn);
}

int qcow2_snapshot_create(struct blk *b, const char *name)
{
    struct snaptab t;
    int r = with_table(b, &t);
    if (!r)
        r = create_in(b->priv, &t, name);
    tab_free(&t);
    return r;
}

/* Switches the header to the active L1 at `off` and the virtual size. */
static int switch_active(struct qcow2 *s, uint64_t *l1, uint32_t n, uint64_t off,
                         uint64_t size)
{
    uint8_t h[24] = { 0 };
    put_be64(h, size);
    put_be32(h + 12, n);
    put_be64(h + 16, off);
    int r = sync_or_fail(s);
    if (!r && (r = blk_pwrite_fd(s->fd, h, sizeof(h), QH_SIZE)) < 0)
        r = io_fail(s, r, "write");
    if (!r)
        r = sync_or_fail(s);
    if (r < 0)
        return r;
    for (uint32_t i = 0; i < n; i++)
        l1[i] &= ~QCOW2_COPIED;
    s->l1 = l1;    /* the caller still needs (and frees) the old table */
    s->l1_size = n;
    s->l1_offset = off;
    s->b->size = size;
    return 0;
}

static int apply_in(struct qcow2 *s, const struct snap *sn)
{
    uint64_t n = MAX(sn->l1_size, l1_entries_for(s, sn->disk_size)), off;
    uint64_t *l1 = NULL, *old = s->l1, old_off = s->l1_offset;
    uint32_t old_n = s->l1_size;
    int r = load_l1(s, sn, n, &l1);
    if (!r)
        r = walk(s, l1, sn->l1_size, 1, false);
    if (!r)
        r = write_l1_copy(s, l1, (uint32_t)n, &off);
    if (!r)
        r = switch_active(s, l1, (uint32_t)n, off, sn->disk_size);
    if (r < 0) {
        free(l1);
        return r;
    }
    s->cbuf_entry = 0;
    r = walk(s, old, old_n, -1, false);
    free(old);
    if (!r)
        r = free_clusters(s, old_off, (uint64_t)old_n * 8);
    return r < 0 ? r : walk(s, s->l1, s->l1_size, 0, true);
}

int qcow2_snapshot_apply(struct blk *b, const char *name_or_id)
{
    struct snaptab t;
    int r = with_table(b, &t);
    struct snap *sn = r ? NULL : find(&t, name_or_id);
    if (!r && !sn)
        r = fail(ENOENT, "%s: no snapshot with ID or name '%s'", b->path, name_or_id);
    if (!r)
        r = apply_in(b->priv, sn);
    tab_free(&t);
    return r;
}

static int delete_in(struct qcow2 *s, struct snaptab *t, struct snap *sn)
{
    uint64_t *l1 = NULL;
    int r = load_l1(s, sn, sn->l1_size, &l1);
    if (!r)
        r = tab_write(s, t, sn, NULL);
    if (!r)
        r = walk(s, l1, sn->l1_size, -1, false);
    if (!r)
        r = free_clusters(s, sn->l1_offset, (uint64_t)sn->l1_size * 8);
    free(l1);
    /* Clusters only the active tables use now get their COPIED flag back. */
    return r < 0 ? r : walk(s, s->l1, s->l1_size, 0, true);
}

int qcow2_snapshot_delete(struct blk *b, const char *name_or_id)
{
    struct snaptab t;
    int r = with_table(b, &t);
    struct snap *sn = r ? NULL : find(&t, name_or_id);
    if (!r && !sn)
        r = fail(ENOENT, "%s: no snapshot with ID or name '%s'", b->path, name_or_id);
    if (!r)
        r = delete_in(b->priv, &t, sn);
    tab_free(&t);
    return r;
}
