/* qcow2 internal snapshots (docs/interop/qcow2.rst, "Snapshots").
 *
 * A snapshot is a copy of the active L1 table plus one reference more on
 * every L2 table and data cluster it reaches; the active tables lose their
 * COPIED flags, so the write path copies anything shared before changing
 * it.  Every operation first adds references, then switches the header,
 * then drops references: a crash in between leaves leaked clusters, never
 * a cluster in use with a refcount too low.  References and COPIED flags
 * are two writes apart, so while an operation walks the tables they
 * disagree; on a v3 image the header's dirty bit is set around the walk,
 * and the next read-write open rebuilds both from the tables, as QEMU does.
 * An operation that fails rebuilds them at once.
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

#include "block/qcow2_snapshot.h"

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
        return snap_io_fail(s, r, "write");
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
    if (!s->snap_walked) {   /* see marked() */
        int r = qcow2_update_incompat(s, QCOW2_INCOMPAT_DIRTY, 0);
        if (r < 0)
            return r;
        s->snap_walked = true;
    }
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
            return snap_io_fail(s, r, "write");
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
    int r = snap_read_exact(s, l1, (uint64_t)sn->l1_size * 8, sn->l1_offset);
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
    return snap_write_new(s, buf, (uint64_t)n * 8, off);
}

/* ---- operations ---------------------------------------------------------- */

/* Each operation starts from exact refcounts (no deferred decrements: the
 * COPIED flags are recomputed from them) and makes its decrements durable
 * before the flags are set again. */
static int begin(struct blk *b, struct snaptab *t)
{
    int r = qcow2_sync(b->priv);
    return r < 0 ? r : snap_with_table(b, t);
}

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
    return r < 0 ? r : snaptab_write(s, t, NULL, &sn);
}

/* Rebuilds refcounts and COPIED flags from the tables after an operation
 * failed half-way; its own error is the one reported. */
static int repair_after(struct qcow2 *s, int r)
{
    char why[512];
    snprintf(why, sizeof(why), "%s", err_msg());
    struct blk_check_result res = { 0 };
    int rr = qcow2_check(s->b, BLK_FIX_ERRORS | BLK_FIX_LEAKS, &res);
    if (rr == 0 && (res.check_errors || res.corruptions > res.corruptions_fixed))
        rr = -EIO;
    if (rr < 0)
        log_warn("%s: references left inconsistent by a failed snapshot operation could "
                 "not be repaired; the image stays marked dirty", s->b->path);
    return fail(-r, "%s", why);
}

/* Runs op.  Its first walk sets the dirty bit; it is cleared when the
 * operation has succeeded (unless lazy refcounts had set it before).  An
 * operation refused before its first walk (a name taken, a corrupt
 * snapshot) has changed nothing and leaves the image as it was. */
static int marked(struct qcow2 *s, struct snaptab *t, const char *name, struct snap *sn,
                  int (*op)(struct qcow2 *, struct snaptab *, const char *, struct snap *))
{
    bool was_dirty = s->dirty_set;
    s->snap_walked = false;
    int r = op(s, t, name, sn);
    bool walked = s->snap_walked;
    s->snap_walked = false;
    if (r < 0)
        return walked ? repair_after(s, r) : r;
    return walked && !was_dirty ? qcow2_update_incompat(s, 0, QCOW2_INCOMPAT_DIRTY) : 0;
}

static int create_op(struct qcow2 *s, struct snaptab *t, const char *name, struct snap *sn)
{
    (void)sn;
    return create_in(s, t, name);
}

int qcow2_snapshot_create(struct blk *b, const char *name)
{
    struct snaptab t;
    int r = begin(b, &t);
    if (!r)
        r = marked(b->priv, &t, name, NULL, create_op);
    snaptab_free(&t);
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
    int r = blk_sync_file(s->b);
    if (!r && (r = blk_pwrite_fd(s->fd, h, sizeof(h), QH_SIZE)) < 0)
        r = snap_io_fail(s, r, "write");
    if (!r)
        r = blk_sync_file(s->b);
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

static int apply_in(struct qcow2 *s, struct snaptab *t, const char *name, struct snap *sn)
{
    (void)t, (void)name;   /* reverting leaves the snapshot table as it is */
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
        r = snap_free_clusters(s, old_off, (uint64_t)old_n * 8);
    if (!r)
        r = blk_sync_file(s->b);
    return r < 0 ? r : walk(s, s->l1, s->l1_size, 0, true);
}

/* Runs op on the snapshot named (or numbered) name_or_id of b's table. */
static int with_snapshot(struct blk *b, const char *name_or_id,
                         int (*op)(struct qcow2 *, struct snaptab *, const char *, struct snap *))
{
    struct snaptab t;
    int r = begin(b, &t);
    struct snap *sn = r ? NULL : snap_find(&t, name_or_id);
    if (!r && !sn)
        r = fail(ENOENT, "%s: no snapshot with ID or name '%s'", b->path, name_or_id);
    if (!r)
        r = marked(b->priv, &t, name_or_id, sn, op);
    snaptab_free(&t);
    return r;
}

int qcow2_snapshot_apply(struct blk *b, const char *name_or_id)
{
    return with_snapshot(b, name_or_id, apply_in);
}

static int delete_in(struct qcow2 *s, struct snaptab *t, const char *name, struct snap *sn)
{
    (void)name;
    uint64_t *l1 = NULL;
    int r = load_l1(s, sn, sn->l1_size, &l1);
    if (!r)
        r = snaptab_write(s, t, sn, NULL);
    if (!r)
        r = walk(s, l1, sn->l1_size, -1, false);
    if (!r)
        r = snap_free_clusters(s, sn->l1_offset, (uint64_t)sn->l1_size * 8);
    free(l1);
    if (!r)
        r = blk_sync_file(s->b);
    /* Clusters only the active tables use now get their COPIED flag back. */
    return r < 0 ? r : walk(s, s->l1, s->l1_size, 0, true);
}

int qcow2_snapshot_delete(struct blk *b, const char *name_or_id)
{
    return with_snapshot(b, name_or_id, delete_in);
}
