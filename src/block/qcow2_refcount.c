/* qcow2: refcounts, cluster allocation and the order of metadata writes.
 *
 * New clusters are always taken from the end of the file (freed ones are
 * never reused), so a fresh cluster reads as zeros until written; refcount
 * blocks and a larger refcount table are added on the way.
 *
 * Crash safety.  Metadata is written through (no dirty cache), in this
 * order, so a process killed at any point leaves at worst leaked clusters
 * (refcount > references), never a reference to garbage or a refcount
 * below its references:
 *   1. the new cluster's contents (table, copied data) and its refcount;
 *   2. the reference to it (L1 entry, L2 entry, reftable entry, header);
 *   3. only then the refcounts of what the old reference pointed at drop.
 * For power loss the kernel may reorder unsynced writes, so:
 *   - qcow2_barrier() runs before step 2 and fdatasyncs if refcounts were
 *     raised or copied contents written since the last sync.  To keep that
 *     cheap, single clusters come from a pool whose refcounts were raised
 *     together (one sync per pool, ~1 MiB); the file is extended over the
 *     pool, so after a crash its unused clusters are ordinary leaks.
 *   - step 3 is deferred (qcow2_release) to the next qcow2_sync(), i.e.
 *     the next flush: its fdatasync makes the removal durable first.
 *   - with lazy_refcounts the barrier sets the header's dirty bit once
 *     (durably) instead of syncing for refcounts; refcounts are still kept
 *     up to date, so a clean close only clears the bit, and an image left
 *     dirty gets its refcounts rebuilt on its next read-write open.
 * Copied contents (COW of a partial cluster, a copied L2 table, compressed
 * data) are always synced before the reference: losing them would lose
 * data that an earlier flush had made durable. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2.h"

static uint64_t rc_get(const uint8_t *blk, uint64_t idx, uint32_t order)
{
    switch (order) {
    case 3: return blk[idx];
    case 4: return get_be16(blk + idx * 2);
    case 5: return get_be32(blk + idx * 4);
    case 6: return get_be64(blk + idx * 8);
    default: {
        /* Sub-byte widths are packed from the least significant bit up. */
        uint32_t bits = 1u << order;
        uint64_t bit = idx * bits;
        return (uint64_t)(blk[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
    }
    }
}

/* Stores a refcount; returns the byte offset of what changed in *at and its
 * length in *len. */
static void rc_put(uint8_t *blk, uint64_t idx, uint32_t order, uint64_t v, uint64_t *at,
                   size_t *len)
{
    *len = order <= 3 ? 1 : (size_t)1 << (order - 3);
    *at = order <= 3 ? (idx << order) / 8 : idx * *len;
    switch (order) {
    case 3: blk[idx] = (uint8_t)v; break;
    case 4: put_be16(blk + *at, (uint16_t)v); break;
    case 5: put_be32(blk + *at, (uint32_t)v); break;
    case 6: put_be64(blk + *at, v); break;
    default: {
        uint32_t bits = 1u << order, shift = (uint32_t)((idx * bits) % 8);
        uint8_t mask = (uint8_t)(((1u << bits) - 1) << shift);
        blk[*at] = (uint8_t)((blk[*at] & ~mask) | ((v << shift) & mask));
    }
    }
}

#define POOL_BYTES (1 * MiB)
#define PENDING_MAX 4096

static int write_or_fail(struct qcow2 *s, const void *buf, size_t len, uint64_t off)
{
    int r = blk_pwrite_fd(s->fd, buf, len, off);
    return r < 0 ? fail(-r, "%s: write failed: %s", s->b->path, strerror(-r)) : 0;
}

/* cache=unsafe (BLK_OPEN_NO_FLUSH) gives up ordering against power loss
 * too; the order of the writes themselves still protects against a kill. */
static int sync_fd(struct qcow2 *s)
{
    int r = s->b->flags & BLK_OPEN_NO_FLUSH ? 0 : blk_sync_file(s->b);
    if (r < 0)
        return r;
    s->rc_unsynced = s->data_unsynced = false;
    return 0;
}

static int add_refblock(struct qcow2 *s, uint64_t rb);

/* The cached refcount block for host offset `host`, or NULL if none. */
static int get_block(struct qcow2 *s, uint64_t host, uint8_t **blk, uint64_t *blk_off)
{
    uint64_t rb = qcow2_cluster_of(s, host) >> s->rb_bits;
    *blk = NULL;
    if (rb >= s->reftable_entries || !(s->reftable[rb] & QCOW2_OFFSET_MASK))
        return 0;
    *blk_off = s->reftable[rb] & QCOW2_OFFSET_MASK;
    int r = qcow2_check_cluster(s, *blk_off, "refcount block");
    return r < 0 ? r : qcow2_cache_get(s, &s->rb_cache, *blk_off, blk);
}

int qcow2_refcount_get(struct qcow2 *s, uint64_t host, uint64_t *val)
{
    uint8_t *blk;
    uint64_t blk_off;
    int r = get_block(s, host, &blk, &blk_off);
    uint64_t idx = qcow2_cluster_of(s, host) & ((1ULL << s->rb_bits) - 1);
    *val = r == 0 && blk ? rc_get(blk, idx, s->refcount_order) : 0;
    return r;
}

int qcow2_refcount_set(struct qcow2 *s, uint64_t host, uint64_t val)
{
    uint8_t *blk;
    uint64_t blk_off, at;
    size_t len;
    int r = get_block(s, host, &blk, &blk_off);
    /* Only a repair meets a cluster in use that no block covers yet. */
    if (r == 0 && !blk && val > 0) {
        r = add_refblock(s, qcow2_cluster_of(s, host) >> s->rb_bits);
        if (r == 0)
            r = get_block(s, host, &blk, &blk_off);
    }
    if (r < 0)
        return r;
    if (!blk)
        return fail(EIO, "%s: no refcount block covers offset 0x%" PRIx64, s->b->path, host);
    uint64_t idx = qcow2_cluster_of(s, host) & ((1ULL << s->rb_bits) - 1);
    if (val > rc_get(blk, idx, s->refcount_order))
        s->rc_unsynced = true;
    rc_put(blk, idx, s->refcount_order, val, &at, &len);
    return write_or_fail(s, blk + at, len, blk_off + at);
}

int qcow2_refcount_add(struct qcow2 *s, uint64_t host, int addend)
{
    uint64_t v, max = s->refcount_order == 6 ? UINT64_MAX
                                             : (1ULL << (1u << s->refcount_order)) - 1;
    int r = qcow2_refcount_get(s, host, &v);
    if (r < 0)
        return r;
    if (addend < 0 && v == 0)
        return fail(EIO, "%s: corrupt image: refcount of cluster 0x%" PRIx64 " would drop "
                    "below zero", s->b->path, host);
    if (addend > 0 && v == max)
        return fail(ERANGE, "%s: refcount of cluster 0x%" PRIx64 " would exceed %" PRIu64
                    " (refcount_bits too small)", s->b->path, host, max);
    return qcow2_refcount_set(s, host, addend < 0 ? v - 1 : v + 1);
}

static int write_reftable(struct qcow2 *s, const uint64_t *t, uint64_t entries, uint64_t off)
{
    _cleanup_free_ uint8_t *buf = malloc(entries * 8);
    if (!buf)
        return fail(ENOMEM, "out of memory");
    for (uint64_t i = 0; i < entries; i++)
        put_be64(buf + i * 8, t[i]);
    return write_or_fail(s, buf, entries * 8, off);
}

/* Moves the refcount table to a larger one at the end of the file, with the
 * refcount blocks that it and its own blocks need. */
static int grow_reftable(struct qcow2 *s, uint64_t need_rb)
{
    uint64_t cs = s->cluster_size, cov = cs << s->rb_bits;
    uint64_t want = 2 * MAX(s->file_end, (need_rb + 1) * cov) + 64 * cs;
    uint64_t clusters = ((want + cov - 1) / cov * 8 + cs - 1) / cs;
    if (clusters * cs > QCOW2_MAX_REFTABLE_BYTES)
        return fail(EFBIG, "%s: image is too large for a refcount table", s->b->path);
    uint64_t entries = clusters * cs / 8, start = s->file_end, pos = start + clusters * cs;
    _cleanup_free_ uint64_t *t = calloc(entries, 8);
    _cleanup_free_ uint8_t *blocks = calloc(16, cs);
    uint64_t first_new = 0, nnew = 0;
    if (!t || !blocks)
        return fail(ENOMEM, "out of memory");
    memcpy(t, s->reftable, s->reftable_entries * 8);
    for (uint64_t c = start / cs; c < pos / cs; c++) {
        uint64_t rb = c >> s->rb_bits;
        if (rb >= entries || (!t[rb] && nnew == 16))
            return fail(EFBIG, "%s: refcount table growth overflow", s->b->path);
        if (!t[rb]) {
            t[rb] = pos;
            first_new = nnew ? first_new : rb;
            nnew++;
            pos += cs;
        }
    }
    /* The new blocks cover consecutive indexes: the new area is contiguous. */
    for (uint64_t c = start / cs; c < pos / cs; c++) {
        uint64_t rb = c >> s->rb_bits, at;
        size_t len;
        int r = 0;
        if (rb >= first_new && rb < first_new + nnew)
            rc_put(blocks + (rb - first_new) * cs, c & ((1ULL << s->rb_bits) - 1),
                   s->refcount_order, 1, &at, &len);
        else
            r = qcow2_refcount_set(s, c * cs, 1);
        if (r < 0)
            return r;
    }
    int r = 0;
    for (uint64_t i = 0; i < nnew && !r; i++)
        r = write_or_fail(s, blocks + i * cs, cs, t[first_new + i]);
    if (!r)
        r = write_reftable(s, t, entries, start);
    if (!r)
        r = sync_fd(s);
    uint8_t hdr[12];
    put_be64(hdr, start);
    put_be32(hdr + 8, (uint32_t)clusters);
    if (!r)
        r = write_or_fail(s, hdr, sizeof(hdr), QH_REFTABLE_OFFSET);
    if (!r)   /* the switch is durable before the old table is freed */
        r = sync_fd(s);
    if (r < 0)
        return r;
    uint64_t old_off = s->reftable_offset, old_clusters = s->reftable_clusters;
    free(s->reftable);
    s->reftable = t;
    t = NULL;
    s->reftable_entries = entries;
    s->reftable_offset = start;
    s->reftable_clusters = (uint32_t)clusters;
    s->file_end = pos;
    for (uint64_t i = 0; i < old_clusters && !r; i++)
        r = qcow2_refcount_set(s, old_off + i * cs, 0);
    return r;
}

/* Adds refcount block number `rb` at the end of the file. */
static int add_refblock(struct qcow2 *s, uint64_t rb)
{
    if (rb >= s->reftable_entries)
        return grow_reftable(s, rb);
    uint64_t off = s->file_end, c = qcow2_cluster_of(s, off), at;
    bool self = (c >> s->rb_bits) == rb;
    size_t len;
    uint8_t *blk;
    int r = qcow2_cache_get_new(s, &s->rb_cache, off, &blk);
    if (r < 0)
        return r;
    if (self)
        rc_put(blk, c & ((1ULL << s->rb_bits) - 1), s->refcount_order, 1, &at, &len);
    s->file_end += s->cluster_size;
    r = write_or_fail(s, blk, s->cluster_size, off);
    if (!r && !self)
        r = qcow2_refcount_set(s, off, 1);
    s->rc_unsynced = true;   /* the block's contents, even if it counts only itself */
    uint8_t e[8];
    put_be64(e, off);
    if (!r)
        r = qcow2_barrier(s);
    if (!r)
        r = write_or_fail(s, e, 8, s->reftable_offset + rb * 8);
    if (!r)
        s->reftable[rb] = off;
    return r;
}

int qcow2_reserve(struct qcow2 *s, uint64_t n, uint64_t *off)
{
    for (int guard = 0; guard < 1000; guard++) {
        uint64_t first = qcow2_cluster_of(s, s->file_end), last = first + n - 1;
        uint64_t rb = first >> s->rb_bits;
        while (rb <= last >> s->rb_bits && rb < s->reftable_entries &&
               (s->reftable[rb] & QCOW2_OFFSET_MASK))
            rb++;
        if (rb > last >> s->rb_bits) {
            *off = s->file_end;
            s->file_end += n * s->cluster_size;
            return 0;
        }
        int r = add_refblock(s, rb);
        if (r < 0)
            return r;
    }
    return fail(EIO, "%s: cannot allocate refcount blocks", s->b->path);
}

/* Sets the refcounts of the n clusters at off to val, one write per block
 * (the blocks exist: the clusters were reserved). */
static int set_range(struct qcow2 *s, uint64_t off, uint64_t n, uint64_t val)
{
    uint64_t c = qcow2_cluster_of(s, off), end = c + n, mask = (1ULL << s->rb_bits) - 1;
    while (c < end) {
        uint8_t *blk;
        uint64_t blk_off, first = 0, at = 0;
        size_t len = 0;
        int r = get_block(s, c << s->cluster_bits, &blk, &blk_off);
        if (r == 0 && !blk)
            r = fail(EIO, "%s: no refcount block covers cluster %" PRIu64, s->b->path, c);
        if (r < 0)
            return r;
        uint64_t stop = MIN(end, (c | mask) + 1);
        for (uint64_t i = c; i < stop; i++) {
            if (val > rc_get(blk, i & mask, s->refcount_order))
                s->rc_unsynced = true;
            rc_put(blk, i & mask, s->refcount_order, val, &at, &len);
            if (i == c)
                first = at;
        }
        r = write_or_fail(s, blk + first, at + len - first, blk_off + first);
        if (r < 0)
            return r;
        c = stop;
    }
    return 0;
}

/* A new pool: reserved, refcounts raised in one go, and the file extended
 * over it so that after a crash its clusters are leaks check can see. */
static int refill_pool(struct qcow2 *s)
{
    uint64_t n = MAX(POOL_BYTES >> s->cluster_bits, 1), off;
    int r = qcow2_reserve(s, n, &off);
    if (!r)
        r = set_range(s, off, n, 1);
    if (!r && ftruncate(s->fd, (off_t)(off + (n << s->cluster_bits))) < 0)
        r = fail(errno, "%s: cannot extend the file: %s", s->b->path, strerror(errno));
    if (r < 0)
        return r;
    s->pool_next = off;
    s->pool_end = off + (n << s->cluster_bits);
    return 0;
}

int qcow2_alloc(struct qcow2 *s, uint64_t n, uint64_t *off)
{
    if (n != 1) {
        int r = qcow2_reserve(s, n, off);
        return r < 0 ? r : set_range(s, *off, n, 1);
    }
    if (s->pool_next == s->pool_end) {
        int r = refill_pool(s);
        if (r < 0)
            return r;
    }
    *off = s->pool_next;
    s->pool_next += s->cluster_size;
    return 0;
}

int qcow2_update_incompat(struct qcow2 *s, uint64_t set, uint64_t clear)
{
    uint8_t f[8];
    if (s->version < 3)
        return 0;
    ssize_t n = blk_pread_fd(s->fd, f, 8, QH_INCOMPAT);
    if (n != 8)
        return fail(n < 0 ? (int)-n : EIO, "%s: cannot read the header", s->b->path);
    uint64_t inc = get_be64(f), v = (inc | set) & ~clear;
    if (v == inc)
        return 0;
    put_be64(f, v);
    int r = sync_fd(s);   /* a bit cleared vouches for everything before it */
    if (!r)
        r = write_or_fail(s, f, 8, QH_INCOMPAT);
    if (!r)
        r = sync_fd(s);
    if (!r && (set | clear) & QCOW2_INCOMPAT_DIRTY)
        s->dirty_set = set & QCOW2_INCOMPAT_DIRTY;
    return r;
}

int qcow2_barrier(struct qcow2 *s)
{
    if (s->lazy && !s->data_unsynced) {
        bool need = s->rc_unsynced && !s->dirty_set;
        s->rc_unsynced = false;
        return need ? qcow2_update_incompat(s, QCOW2_INCOMPAT_DIRTY, 0) : 0;
    }
    return s->rc_unsynced || s->data_unsynced ? sync_fd(s) : 0;
}

static int defer_dec(struct qcow2 *s, uint64_t host)
{
    if (!s->pending && !(s->pending = malloc(PENDING_MAX * sizeof(*s->pending))))
        return fail(ENOMEM, "out of memory");
    if (s->npending == PENDING_MAX) {
        int r = qcow2_sync(s);
        if (r < 0)
            return r;
    }
    s->pending[s->npending++] = host;
    return 0;
}

int qcow2_release(struct qcow2 *s, uint64_t e)
{
    uint64_t coff, clen, host = e & QCOW2_OFFSET_MASK;
    if (!(e & QCOW2_COMPRESSED))
        return host ? defer_dec(s, host) : 0;
    qcow2_compressed_span(s, e, &coff, &clen);
    for (uint64_t c = ALIGN_DOWN(coff, s->cluster_size); c < coff + clen; c += s->cluster_size) {
        int r = defer_dec(s, c);
        if (r < 0)
            return r;
    }
    return 0;
}

int qcow2_sync(struct qcow2 *s)
{
    int r = sync_fd(s);
    size_t n = r < 0 ? 0 : s->npending;
    s->npending = 0;   /* on an error the rest stays leaked: harmless */
    for (size_t i = 0; i < n && r == 0; i++)
        r = qcow2_refcount_add(s, s->pending[i], -1);
    return r;
}

int qcow2_settle(struct qcow2 *s)
{
    int r = qcow2_sync(s);
    uint64_t left = (s->pool_end - s->pool_next) >> s->cluster_bits;
    if (!r && left)
        r = set_range(s, s->pool_next, left, 0);
    if (!r && left && s->pool_end == s->file_end) {
        s->file_end = s->pool_next;
        if (ftruncate(s->fd, (off_t)s->file_end) < 0)
            r = fail(errno, "%s: cannot truncate: %s", s->b->path, strerror(errno));
    }
    s->pool_next = s->pool_end = 0;
    return r;
}

int qcow2_shutdown(struct qcow2 *s)
{
    int r = qcow2_settle(s);
    if (!r)
        r = s->dirty_set && !s->keep_dirty ? qcow2_update_incompat(s, 0, QCOW2_INCOMPAT_DIRTY)
                                           : sync_fd(s);
    return r;
}

/* The first cluster after everything with a nonzero refcount (or the end of
 * the file, if later).  Each block is fetched once and scanned in memory:
 * a hostile reftable costs entries x one cluster, not a cache lookup per
 * refcount. */
int qcow2_find_end(struct qcow2 *s)
{
    for (uint64_t rb = s->reftable_entries; rb-- > 0;) {
        if (!(s->reftable[rb] & QCOW2_OFFSET_MASK))
            continue;
        uint64_t base = rb << s->rb_bits, blk_off;
        uint8_t *blk;
        if (base >> (62 - s->cluster_bits))
            return fail(EIO, "%s: corrupt image: refcounts far beyond the file", s->b->path);
        int r = get_block(s, base << s->cluster_bits, &blk, &blk_off);
        if (r < 0)
            return r;
        for (uint64_t i = 1ULL << s->rb_bits; i-- > 0;) {
            if (rc_get(blk, i, s->refcount_order)) {
                s->file_end = MAX(s->file_end, (base + i + 1) << s->cluster_bits);
                return 0;
            }
        }
    }
    return 0;
}

uint64_t qcow2_refcount_in_block(const struct qcow2 *s, const uint8_t *blk, uint64_t idx)
{
    return rc_get(blk, idx, s->refcount_order);
}
