/* qcow2 metadata operations: info, block status, zeroes, discard, resize
 * and the backing file name.  Like qcow2_io.c, every change is written so
 * that a crash in between leaves at worst a leaked cluster: an L2 entry is
 * cleared before the refcount it held is dropped, a new L1 table is
 * complete before the header points at it. */
#include "qcow2.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

static int io_err(struct qcow2 *s, int r)
{
    return fail(-r, "%s: I/O failed: %s", s->b->path, strerror(-r));
}

static int write_at(struct qcow2 *s, const void *buf, size_t len, uint64_t off)
{
    int r = blk_pwrite_fd(s->fd, buf, len, off);
    return r < 0 ? io_err(s, r) : 0;
}

/* The header cluster, zero-padded. */
static int read_header_cluster(struct qcow2 *s, uint8_t **h)
{
    *h = calloc(1, s->cluster_size);
    if (!*h)
        return fail(ENOMEM, "out of memory");
    ssize_t n = blk_pread_fd(s->fd, *h, s->cluster_size, 0);
    return n < 0 ? io_err(s, (int)n) : 0;
}

/* Where the extension area ends: at the backing name if it follows. */
static uint64_t ext_end(const struct qcow2 *s, const uint8_t *h)
{
    uint64_t bo = get_be64(h + QH_BACKING_OFFSET);
    return bo > s->header_length && bo < s->cluster_size ? bo : s->cluster_size;
}

static void info_backing(const struct qcow2 *s, const uint8_t *h, struct blk_info *out)
{
    uint64_t bo = get_be64(h + QH_BACKING_OFFSET), len = get_be32(h + QH_BACKING_SIZE);
    if (bo && len < sizeof(out->backing_file) && bo <= s->cluster_size - len)
        memcpy(out->backing_file, h + bo, len);   /* out was zeroed by the caller */
    uint64_t off = s->header_length, end = ext_end(s, h);
    while (off + 8 <= end) {
        uint32_t type = get_be32(h + off), elen = get_be32(h + off + 4);
        off += 8;
        if (type == QCOW2_EXT_END || elen > end - off)
            return;
        if (type == QCOW2_EXT_BACKING_FORMAT && elen < 64) {
            char name[64] = { 0 };
            memcpy(name, h + off, elen);
            if (blk_parse_format(name, &out->backing_format) < 0)
                out->backing_format = BLK_FMT_PROBE;
        }
        off += ALIGN_UP((uint64_t)elen, 8);
    }
}

int qcow2_get_info(struct blk *b, struct blk_info *out)
{
    struct qcow2 *s = b->priv;
    _cleanup_free_ uint8_t *h = NULL;
    int r = read_header_cluster(s, &h);
    if (r < 0)
        return r;
    out->cluster_size = (uint32_t)s->cluster_size;
    out->compat = (int)s->version;
    out->refcount_bits = 1u << s->refcount_order;
    if (s->version >= 3) {
        uint64_t inc = get_be64(h + QH_INCOMPAT);
        out->lazy_refcounts = get_be64(h + QH_COMPAT) & QCOW2_COMPAT_LAZY_REFCOUNTS;
        out->dirty = inc & QCOW2_INCOMPAT_DIRTY;
        out->corrupt = inc & QCOW2_INCOMPAT_CORRUPT;
    }
    out->backing_format = BLK_FMT_PROBE;
    info_backing(s, h, out);
    out->nsnapshots = (int)s->nb_snapshots;
    return 0;
}

/* ---- block status ------------------------------------------------------ */

static int entry_status(const struct qcow2 *s, uint64_t e, uint64_t *host)
{
    *host = 0;
    if (e & QCOW2_COMPRESSED)
        return BLK_STATUS_ALLOCATED | BLK_STATUS_DATA | BLK_STATUS_COMPRESSED;
    if (s->version >= 3 && (e & QCOW2_ZERO))
        return BLK_STATUS_ALLOCATED | BLK_STATUS_ZERO;
    *host = e & QCOW2_OFFSET_MASK;
    return *host ? BLK_STATUS_ALLOCATED | BLK_STATUS_DATA : 0;
}

/* The status of the guest cluster at vo; *span is how far (in bytes from
 * vo) it certainly holds: one cluster, or the rest of the L2 range when
 * there is no L2 table, so a sparse image is walked a table at a time. */
static int cluster_status(struct qcow2 *s, uint64_t vo, int *st, uint64_t *host,
                          uint64_t *span)
{
    struct qcow2_l2ref ref;
    int r = qcow2_get_l2(s, vo, false, &ref);
    if (r < 0)
        return r;
    *st = entry_status(s, ref.table ? get_be64(ref.table + ref.idx * 8) : 0, host);
    uint64_t l2_range = s->cluster_size << s->l2_bits;
    *span = ref.table ? s->cluster_size : l2_range - (vo & (l2_range - 1));
    return 0;
}

int qcow2_block_status(struct blk *b, uint64_t off, uint64_t len, uint64_t *pnum,
                       int *status, uint64_t *host_off)
{
    struct qcow2 *s = b->priv;
    uint64_t in = off & (s->cluster_size - 1), host, next_host, span;
    int r = cluster_status(s, off - in, status, &host, &span);
    if (r < 0)
        return r;
    *host_off = host ? host + in : 0;
    uint64_t done = span - in;
    /* Merge following clusters with the same status (and, for data, the
     * next host cluster), as qemu-img map does. */
    while (done < len) {
        int st;
        r = cluster_status(s, off + done, &st, &next_host, &span);
        if (r < 0)
            return r;
        if (st != *status || (host && next_host != host + (done + in)))
            break;
        done += span;
    }
    *pnum = MIN(done, len);
    return 0;
}

/* ---- write zeroes and discard ------------------------------------------ */

/* Whether the image names a backing file (even if it was not opened). */
static bool has_backing(struct qcow2 *s)
{
    uint8_t e[8];
    return s->b->backing ||
           (blk_pread_fd(s->fd, e, 8, QH_BACKING_OFFSET) == 8 && get_be64(e) != 0);
}

struct zap {
    uint64_t target;        /* the L2 entry whole clusters get */
    bool whole_ok;          /* else whole clusters are treated like partial ones */
    bool zero_partial;      /* partial clusters are written as zeros (else left) */
    bool backing;           /* unallocated clusters show a backing file */
};

static bool reads_zero(const struct qcow2 *s, const struct zap *z, uint64_t e)
{
    if (e & QCOW2_COMPRESSED)
        return false;
    return (e == 0 && !z->backing) || (s->version >= 3 && (e & QCOW2_ZERO));
}

/* One cluster of [off, off+n): whole clusters get the entry z->target
 * (the write path copies a table shared with a snapshot, and the old
 * entry's references are dropped after the new entry is written). */
static int zap_cluster(struct qcow2 *s, uint64_t off, uint64_t n, bool whole,
                       const struct zap *z, const uint8_t *zeros)
{
    uint64_t e;
    int r = qcow2_get_entry(s, off - (off & (s->cluster_size - 1)), &e);
    if (r < 0)
        return r;
    if (whole && z->whole_ok)
        return e == z->target || (e == 0 && !z->backing)
                   ? 0 : qcow2_set_entry(s, off, z->target);
    if (!z->zero_partial || reads_zero(s, z, e))
        return 0;
    return qcow2_write(s->b, off, zeros, (size_t)n);
}

static int for_clusters(struct qcow2 *s, uint64_t off, uint64_t len, const struct zap *z)
{
    _cleanup_free_ uint8_t *zeros = z->zero_partial ? calloc(1, s->cluster_size) : NULL;
    if (z->zero_partial && !zeros)
        return fail(ENOMEM, "out of memory");
    uint64_t end = off + len;
    while (off < end) {
        uint64_t in = off & (s->cluster_size - 1);
        uint64_t n = MIN(end - off, s->cluster_size - in);
        /* The image's last cluster is whole if the range reaches its end. */
        bool whole = in == 0 && (n == s->cluster_size || off + n == s->b->size);
        int r = zap_cluster(s, off, n, whole, z, zeros);
        if (r < 0)
            return r;
        off += n;
    }
    return 0;
}

int qcow2_write_zeroes(struct blk *b, uint64_t off, uint64_t len)
{
    struct qcow2 *s = b->priv;
    bool backing = has_backing(s);
    /* v2 has no zero flag: deallocating reads as zeros only without backing. */
    struct zap z = { .target = s->version >= 3 ? QCOW2_ZERO : 0,
                     .whole_ok = s->version >= 3 || !backing, .zero_partial = true,
                     .backing = backing };
    return for_clusters(s, off, len, &z);
}

int qcow2_discard(struct blk *b, uint64_t off, uint64_t len)
{
    struct qcow2 *s = b->priv;
    bool backing = has_backing(s);
    /* With a backing file a plain hole would expose its data: in v3 we use
     * zero clusters instead. */
    struct zap z = { .target = s->version >= 3 && backing ? QCOW2_ZERO : 0,
                     .whole_ok = true, .backing = backing };
    return for_clusters(s, off, len, &z);
}

/* ---- resize ------------------------------------------------------------ */

static uint64_t l1_clusters(const struct qcow2 *s, uint64_t entries)
{
    return (entries * 8 + s->cluster_size - 1) / s->cluster_size;
}

/* New L1 table at the end of the file, then the header, then the old one
 * is freed: a crash leaks at most one of the two tables. */
static int grow_l1(struct qcow2 *s, uint64_t need)
{
    if (need > QCOW2_MAX_L1_BYTES / 8)
        return fail(EFBIG, "%s: the new size needs an L1 table over 32 MiB", s->b->path);
    uint64_t n = l1_clusters(s, need), off;
    _cleanup_free_ uint64_t *t = calloc(n * s->cluster_size / 8, 8);
    _cleanup_free_ uint8_t *buf = calloc(n, s->cluster_size);
    if (!t || !buf)
        return fail(ENOMEM, "out of memory");
    memcpy(t, s->l1, (size_t)s->l1_size * 8);
    for (uint64_t i = 0; i < need; i++)
        put_be64(buf + i * 8, t[i]);
    int r = qcow2_alloc(s, n, &off);
    if (!r)
        r = write_at(s, buf, n * s->cluster_size, off);
    if (!r)
        r = blk_sync_file(s->b);
    uint8_t h[12];
    put_be32(h, (uint32_t)need);
    put_be64(h + 4, off);
    if (!r)
        r = write_at(s, h, sizeof(h), QH_L1_SIZE);
    if (!r)
        r = blk_sync_file(s->b);
    if (r < 0)
        return r;
    uint64_t old = s->l1_offset, old_n = s->l1_size ? l1_clusters(s, s->l1_size) : 0;
    free(s->l1);
    s->l1 = t;
    t = NULL;
    s->l1_size = (uint32_t)need;
    s->l1_offset = off;
    for (uint64_t i = 0; i < old_n && !r; i++)
        r = qcow2_refcount_set(s, old + i * s->cluster_size, 0);
    return r;
}

/* Shrinking must not drop data: every cluster past the new end must be
 * unallocated; the tail of the new last cluster is zeroed so a later grow
 * reads zeros there. */
static int check_shrink(struct qcow2 *s, uint64_t size)
{
    for (uint64_t vo = ALIGN_UP(size, s->cluster_size); vo < s->b->size;
         vo += s->cluster_size) {
        struct qcow2_l2ref ref;
        int r = qcow2_get_l2(s, vo, false, &ref);
        if (r < 0)
            return r;
        if (!ref.table) {   /* skip the rest of this L2 table's range */
            vo = ALIGN_DOWN(vo, s->cluster_size << s->l2_bits) +
                 (s->cluster_size << s->l2_bits) - s->cluster_size;
            continue;
        }
        uint64_t e = get_be64(ref.table + ref.idx * 8);
        if (e && !(s->version >= 3 && e == QCOW2_ZERO))
            return fail(ENOTSUP, "%s: cannot shrink to %" PRIu64 " bytes: the cluster at "
                        "guest offset 0x%" PRIx64 " is allocated", s->b->path, size, vo);
    }
    uint64_t tail = MIN(ALIGN_UP(size, s->cluster_size), s->b->size) - size;
    return tail ? qcow2_write_zeroes(s->b, size, tail) : 0;
}

/* Grown space reads as zeros, also where a backing file is longer than the
 * old size (done before the header makes the space visible). */
static int zero_grown(struct qcow2 *s, uint64_t old, uint64_t size)
{
    struct blk *bk = s->b->backing;
    uint64_t end = bk ? MIN(size, bk->size) : 0;
    if (end <= old)
        return 0;
    s->b->size = size;   /* the range check in the write path */
    int r = qcow2_write_zeroes(s->b, old, end - old);
    s->b->size = old;
    return r;
}

int qcow2_resize(struct blk *b, uint64_t size)
{
    struct qcow2 *s = b->priv;
    uint32_t shift = s->cluster_bits + s->l2_bits;
    if (size > INT64_MAX)
        return fail(EFBIG, "%s: size %" PRIu64 " is too large", b->path, size);
    uint64_t need = (size >> shift) + !!(size & ((1ULL << shift) - 1));
    int r = size < b->size ? check_shrink(s, size) : 0;
    if (!r && need > s->l1_size)
        r = grow_l1(s, need);
    if (!r && size > b->size)
        r = zero_grown(s, b->size, size);
    uint8_t e[8];
    put_be64(e, size);
    if (!r)
        r = write_at(s, e, 8, QH_SIZE);
    if (!r)
        r = blk_sync_file(s->b);
    if (!r)
        b->size = size;
    return r;
}

/* ---- backing file ------------------------------------------------------ */

/* Copies the extensions of h except the backing format into out; returns
 * the bytes used, or a negative errno. */
static int64_t copy_extensions(const struct qcow2 *s, const uint8_t *h, uint8_t *out,
                               uint64_t room)
{
    uint64_t off = s->header_length, end = ext_end(s, h), used = 0;
    while (off + 8 <= end) {
        uint32_t type = get_be32(h + off), len = get_be32(h + off + 4);
        uint64_t whole = 8 + ALIGN_UP((uint64_t)len, 8);
        if (type == QCOW2_EXT_END || len > end - off - 8)
            break;
        if (type != QCOW2_EXT_BACKING_FORMAT) {
            if (used + whole > room)
                return -ENAMETOOLONG;
            memcpy(out + used, h + off, MIN(whole, end - off));
            used += whole;
        }
        off += whole;
    }
    return (int64_t)used;
}

/* Builds the new header cluster in nh: header fields, extensions (with
 * the new backing format), end marker, name. */
static int build_header(struct qcow2 *s, const uint8_t *h, uint8_t *nh, const char *file,
                        enum blk_format fmt)
{
    uint64_t cs = s->cluster_size, pos = s->header_length;
    memcpy(nh, h, pos);
    int64_t used = copy_extensions(s, h, nh + pos, cs - pos);
    if (used < 0)
        return fail(ENAMETOOLONG, "%s: header extensions do not fit", s->b->path);
    pos += (uint64_t)used;
    const char *fname = file && fmt != BLK_FMT_PROBE ? blk_format_name(fmt) : NULL;
    size_t name_len = file ? strlen(file) : 0;
    uint64_t flen = fname ? strlen(fname) : 0;
    if (pos + (fname ? 8 + ALIGN_UP(flen, 8) : 0) + 8 + name_len > cs)
        return fail(ENAMETOOLONG, "%s: the backing file name does not fit in the header "
                    "cluster", s->b->path);
    if (fname) {
        put_be32(nh + pos, QCOW2_EXT_BACKING_FORMAT);
        put_be32(nh + pos + 4, (uint32_t)flen);
        memcpy(nh + pos + 8, fname, flen);
        pos += 8 + ALIGN_UP(flen, 8);
    }
    pos += 8;   /* end of extensions: already zero */
    put_be64(nh + QH_BACKING_OFFSET, name_len ? pos : 0);
    put_be32(nh + QH_BACKING_SIZE, (uint32_t)name_len);
    memcpy(nh + pos, file ? file : "", name_len);
    return 0;
}

/* The old extension area may overlap where the new name goes, so there is
 * no order of two writes that is always consistent; instead the header
 * cluster is rewritten in one write (its meaningful part lies in the first
 * sector in practice, which disks and filesystems do not tear), clearing
 * the old name. */
int qcow2_set_backing(struct blk *b, const char *file, enum blk_format fmt)
{
    struct qcow2 *s = b->priv;
    _cleanup_free_ uint8_t *h = NULL;
    _cleanup_free_ uint8_t *nh = calloc(1, s->cluster_size);
    int r = nh ? read_header_cluster(s, &h) : fail(ENOMEM, "out of memory");
    if (!r)
        r = build_header(s, h, nh, file, fmt);
    if (r < 0)
        return r;
    r = write_at(s, nh, s->cluster_size, 0);
    return r < 0 ? r : blk_sync_file(s->b);
}
