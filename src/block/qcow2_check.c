/* qcow2 consistency check, as `qemu-img check` does it: the refcount of
 * every cluster is recomputed from everything that references it (header,
 * L1/L2 tables of the image and of each internal snapshot, data clusters,
 * refcount table and blocks, snapshot table) and compared with the stored
 * one.  Stored < computed is a corruption (a cluster in use could be
 * reallocated), stored > computed a leak (space lost, harmless).
 *
 * The computed counts live in one array sized by the file's real length in
 * clusters (capped), so a hostile image cannot make us allocate by its
 * claims; references past the end of the file are counted as corruptions
 * instead of being followed. */
#include "qcow2.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* 64 Mi clusters: 256 MiB of counts, a 32 GiB file with 512-byte clusters. */
#define CHECK_MAX_CLUSTERS (1ULL << 26)
#define SNAPSHOT_HEADER_LEN 40

struct ck {
    struct qcow2 *s;
    struct blk_check_result *res;
    uint32_t *rc;           /* computed refcounts, one per cluster of the file */
    uint64_t n;             /* clusters in the file */
    uint64_t file_size;
    uint64_t next_contig;   /* for fragmentation, as qemu-img counts it */
    uint8_t *one;           /* bitmap: stored refcount is 1 (after fixes) */
    uint8_t *l2;            /* one L2 table */
};

static void corrupt(struct ck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void corrupt(struct ck *c, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->res->corruptions++;
    log_debug("%s: check: %s", c->s->b->path, msg);
}

/* Counts one reference to every cluster of [off, off+len). */
static void inc(struct ck *c, uint64_t off, uint64_t len, const char *what)
{
    if (!len)
        return;
    uint32_t bits = c->s->cluster_bits;
    uint64_t first = off >> bits, last = (off + len - 1) >> bits;
    if (off + len < off || last >= c->n) {
        corrupt(c, "%s at 0x%" PRIx64 " lies past the end of the file", what, off);
        return;
    }
    for (uint64_t i = first; i <= last; i++)
        c->rc[i] += c->rc[i] < UINT32_MAX;
}

static bool aligned(struct ck *c, uint64_t off, const char *what)
{
    if (off & (c->s->cluster_size - 1)) {
        corrupt(c, "%s at 0x%" PRIx64 " is not cluster-aligned", what, off);
        return false;
    }
    return true;
}

static int read_at(struct ck *c, void *buf, size_t len, uint64_t off)
{
    ssize_t n = blk_pread_fd(c->s->fd, buf, len, off);
    if (n < 0)
        c->res->check_errors++;
    return n < 0 ? (int)n : 0;
}

static void l2_entry(struct ck *c, uint64_t e, bool active)
{
    struct qcow2 *s = c->s;
    if (e & QCOW2_COMPRESSED) {
        uint64_t off, len;
        qcow2_compressed_span(s, e, &off, &len);
        inc(c, off, len, "compressed cluster");
        if (active) {   /* compressed clusters are fragmented by nature */
            c->res->allocated_clusters++;
            c->res->compressed_clusters++;
            c->res->fragmented_clusters++;
        }
        return;
    }
    uint64_t host = e & QCOW2_OFFSET_MASK;
    if (!host || !aligned(c, host, "data cluster"))
        return;
    inc(c, host, s->cluster_size, "data cluster");
    if (!active)
        return;
    c->res->allocated_clusters++;
    if (c->next_contig && host != c->next_contig)
        c->res->fragmented_clusters++;
    c->next_contig = host + s->cluster_size;
}

/* Counts an L2 table and what it maps.  A table is walked at most once per
 * L1 table that may share it, so a hostile image repeating one table in
 * every L1 entry costs a count, not a walk. */
static void walk_l2(struct ck *c, uint64_t off, bool active)
{
    struct qcow2 *s = c->s;
    /* qemu-img counts fragmentation within each L2 table, not across them. */
    c->next_contig = 0;
    if (!aligned(c, off, "L2 table"))
        return;
    inc(c, off, s->cluster_size, "L2 table");
    uint64_t i = off >> s->cluster_bits;
    if (i >= c->n || c->rc[i] > s->nb_snapshots + 1)
        return;
    if (read_at(c, c->l2, s->cluster_size, off) < 0)
        return;
    for (uint64_t j = 0; j < (1ULL << s->l2_bits); j++)
        l2_entry(c, get_be64(c->l2 + j * 8), active);
}

static void walk_l1(struct ck *c, uint64_t off, uint64_t size, bool active)
{
    struct qcow2 *s = c->s;
    if (!size)
        return;
    if (!aligned(c, off, "L1 table"))
        return;
    if (size > QCOW2_MAX_L1_BYTES / 8 || off > c->file_size || size * 8 > c->file_size - off) {
        corrupt(c, "L1 table at 0x%" PRIx64 " (%" PRIu64 " entries) lies past the end of "
                "the file or is too large", off, size);
        return;
    }
    inc(c, off, size * 8, "L1 table");
    /* L1 tables are never shared: one counted twice overlaps something. */
    if (c->rc[off >> s->cluster_bits] > 1)
        return;
    _cleanup_free_ uint8_t *t = malloc(size * 8);
    if (!t) {
        c->res->check_errors++;
        return;
    }
    if (read_at(c, t, size * 8, off) < 0)
        return;
    for (uint64_t i = 0; i < size; i++) {
        uint64_t l2 = get_be64(t + i * 8) & QCOW2_OFFSET_MASK;
        if (l2)
            walk_l2(c, l2, active);
    }
}

static void walk_reftable(struct ck *c)
{
    struct qcow2 *s = c->s;
    inc(c, s->reftable_offset, (uint64_t)s->reftable_clusters * s->cluster_size,
        "refcount table");
    for (uint64_t i = 0; i < s->reftable_entries; i++) {
        uint64_t off = s->reftable[i] & QCOW2_OFFSET_MASK;
        if (off && aligned(c, off, "refcount block"))
            inc(c, off, s->cluster_size, "refcount block");
    }
}

/* The snapshot table (its entries are variable-length) and every
 * snapshot's L1 table with what it references. */
static void walk_snapshots(struct ck *c)
{
    uint8_t h[8], e[SNAPSHOT_HEADER_LEN];
    if (!c->s->nb_snapshots || read_at(c, h, 8, QH_SNAPSHOTS_OFFSET) < 0)
        return;
    uint64_t start = get_be64(h), pos = start;
    for (uint32_t i = 0; i < c->s->nb_snapshots; i++) {
        if (pos > c->file_size || c->file_size - pos < SNAPSHOT_HEADER_LEN) {
            corrupt(c, "snapshot table entry %u lies past the end of the file", i);
            return;
        }
        if (read_at(c, e, sizeof(e), pos) < 0)
            return;
        walk_l1(c, get_be64(e), get_be32(e + 8), false);
        pos += ALIGN_UP(SNAPSHOT_HEADER_LEN + (uint64_t)get_be32(e + 36) +
                        get_be16(e + 12) + get_be16(e + 14), 8);
    }
    if (aligned(c, start, "snapshot table"))
        inc(c, start, pos - start, "snapshot table");
}

static uint64_t refcount_max(const struct qcow2 *s)
{
    return s->refcount_order == 6 ? UINT64_MAX : (1ULL << (1u << s->refcount_order)) - 1;
}

/* The cached refcount block number rb, or NULL if there is none (or it is
 * unusable: already counted as a corruption by walk_reftable). */
static uint8_t *refblock(struct qcow2 *s, uint64_t rb)
{
    uint8_t *blk;
    uint64_t off = rb < s->reftable_entries ? s->reftable[rb] & QCOW2_OFFSET_MASK : 0;
    if (!off || qcow2_check_cluster(s, off, "refcount block") < 0 ||
        qcow2_cache_get(s, &s->rb_cache, off, &blk) < 0)
        return NULL;
    return blk;
}

/* Compares stored and computed refcounts, fixing what `fix` asks for, and
 * notes in c->one which clusters end up with refcount 1. */
static void compare(struct ck *c, int fix, bool *changed)
{
    struct qcow2 *s = c->s;
    uint64_t per = 1ULL << s->rb_bits;
    for (uint64_t rb = 0; rb * per < c->n; rb++) {
        uint8_t *blk = refblock(s, rb);
        for (uint64_t i = rb * per; i < MIN(c->n, (rb + 1) * per); i++) {
            uint64_t want = c->rc[i];
            uint64_t stored = blk ? qcow2_refcount_in_block(s, blk, i - rb * per) : 0;
            if (want || stored)   /* leaks count, as in qemu-img */
                c->res->image_end_offset = (i + 1) << s->cluster_bits;
            bool low = stored < want, high = stored > want;
            if (low)
                corrupt(c, "cluster %" PRIu64 " has refcount %" PRIu64 ", references %"
                        PRIu64, i, stored, want);
            else if (high)
                c->res->leaks++;
            bool fixit = (low && (fix & BLK_FIX_ERRORS)) || (high && (fix & BLK_FIX_LEAKS));
            /* The cached block is written through: blk stays current. */
            if (fixit && want <= refcount_max(s) &&
                qcow2_refcount_set(s, i << s->cluster_bits, want) == 0) {
                *changed = true;
                stored = want;
            }
            if (stored == 1)
                c->one[i / 8] |= (uint8_t)(1u << (i % 8));
        }
    }
}

/* Whether the COPIED flag of entry e agrees with the stored refcount of the
 * cluster at host (the flag means "refcount is exactly 1"); if not and
 * fixing, returns the corrected entry in *fixed. */
static bool copied_ok(struct ck *c, uint64_t e, uint64_t host, uint64_t *fixed)
{
    if (!host || (host & (c->s->cluster_size - 1)) || host >= c->file_size)
        return true;   /* nothing to say, or already counted */
    uint64_t i = host >> c->s->cluster_bits;
    bool want = c->one[i / 8] >> (i % 8) & 1;
    if (want == !!(e & QCOW2_COPIED))
        return true;
    corrupt(c, "COPIED flag of the entry for 0x%" PRIx64 " is wrong (refcount %s1)", host,
            want ? "" : "not ");
    *fixed = want ? e | QCOW2_COPIED : e & ~QCOW2_COPIED;
    return false;
}

static void fix_entry(struct ck *c, uint8_t *copy, uint64_t ne, uint64_t at, bool *changed)
{
    uint8_t b[8];
    put_be64(b, ne);
    if (blk_pwrite_fd(c->s->fd, b, 8, at) < 0) {
        c->res->check_errors++;
        return;
    }
    memcpy(copy, b, 8);
    *changed = true;
}

static void check_copied_l2(struct ck *c, uint64_t l2, bool fix, bool *changed)
{
    struct qcow2 *s = c->s;
    uint8_t *t;
    if (qcow2_cache_get(s, &s->l2_cache, l2, &t) < 0) {
        c->res->check_errors++;
        return;
    }
    for (uint64_t j = 0; j < (1ULL << s->l2_bits); j++) {
        uint64_t e = get_be64(t + j * 8), ne = e & ~QCOW2_COPIED;
        bool ok;
        if (e & QCOW2_COMPRESSED) {   /* never COPIED: the data may be shared */
            ok = !(e & QCOW2_COPIED);
            if (!ok)
                corrupt(c, "compressed cluster entry with the COPIED flag");
        } else {
            ok = copied_ok(c, e, e & QCOW2_OFFSET_MASK, &ne);
        }
        if (!ok && fix)
            fix_entry(c, t + j * 8, ne, l2 + j * 8, changed);
    }
}

/* The active L1 and L2 tables' COPIED flags (snapshots' are not used). */
static void check_copied(struct ck *c, bool fix, bool *changed)
{
    struct qcow2 *s = c->s;
    for (uint64_t i = 0; i < s->l1_size; i++) {
        uint64_t e = s->l1[i], l2 = e & QCOW2_OFFSET_MASK, ne;
        uint8_t copy[8];
        if (!copied_ok(c, e, l2, &ne) && fix) {
            fix_entry(c, copy, ne, s->l1_offset + i * 8, changed);
            s->l1[i] = get_be64(copy);
        }
        /* A table that overlaps other metadata is not written to. */
        if (l2 && !(l2 & (s->cluster_size - 1)) && l2 < c->file_size)
            check_copied_l2(c, l2, fix && c->rc[l2 >> s->cluster_bits] <= s->nb_snapshots + 1,
                            changed);
    }
}

static int run(struct qcow2 *s, int fix, struct blk_check_result *res, bool *changed)
{
    struct stat st;
    if (fstat(s->fd, &st) < 0)
        return fail(errno, "%s: %s", s->b->path, strerror(errno));
    struct ck c = { .s = s, .res = res, .file_size = (uint64_t)st.st_size };
    c.n = (c.file_size + s->cluster_size - 1) >> s->cluster_bits;
    if (c.n > CHECK_MAX_CLUSTERS)
        return fail(EFBIG, "%s: the file has too many clusters (%" PRIu64 ") to check",
                    s->b->path, c.n);
    _cleanup_free_ uint32_t *rc = calloc(c.n ? c.n : 1, sizeof(uint32_t));
    _cleanup_free_ uint8_t *one = calloc(c.n / 8 + 1, 1);
    _cleanup_free_ uint8_t *l2 = malloc(s->cluster_size);
    if (!rc || !one || !l2)
        return fail(ENOMEM, "out of memory");
    c.rc = rc;
    c.one = one;
    c.l2 = l2;
    res->total_clusters = (s->b->size + s->cluster_size - 1) >> s->cluster_bits;
    inc(&c, 0, s->cluster_size, "header");
    walk_l1(&c, s->l1_offset, s->l1_size, true);
    walk_reftable(&c);
    walk_snapshots(&c);
    compare(&c, fix, changed);
    check_copied(&c, fix & BLK_FIX_ERRORS, changed);
    return 0;
}

/* A repaired image is no longer dirty or corrupt (QEMU unmarks it too). */
static int unmark(struct qcow2 *s, const struct blk_check_result *left)
{
    if (left->corruptions || left->check_errors)
        return 0;
    int r = qcow2_update_incompat(s, 0, QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT);
    if (r == 0)
        s->keep_dirty = false;
    return r;
}

int qcow2_check(struct blk *b, int fix, struct blk_check_result *res)
{
    struct qcow2 *s = b->priv;
    bool changed = false;
    /* Deferred decrements and the allocation pool would look like leaks. */
    int r = b->readonly ? 0 : qcow2_settle(s);
    if (r == 0)
        r = run(s, fix, res, &changed);
    if (r < 0 || !fix)
        return r;
    if (!changed)
        return unmark(s, res);
    if ((r = blk_sync_file(b)) < 0)
        return r;
    s->cbuf_entry = 0;
    /* What is left after the repair decides what was fixed. */
    struct blk_check_result again = { 0 };
    r = run(s, 0, &again, &changed);
    if (r < 0)
        return r;
    res->corruptions_fixed = res->corruptions - MIN(again.corruptions, res->corruptions);
    res->leaks_fixed = res->leaks - MIN(again.leaks, res->leaks);
    res->check_errors += again.check_errors;
    return unmark(s, &again);
}
