/* qcow2: opening an image.  The header and every table it points to are
 * checked against the file's real size and against fixed limits before
 * anything is allocated or read through them. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "block/qcow2.h"

struct qcow2_hdr_info {
    char backing[1024];
    char backing_fmt[64];
    bool has_backing, has_backing_fmt;
};

static int bad(struct qcow2 *s, const char *fmt, const char *detail)
{
    return fail(EINVAL, "%s: not a valid qcow2 image: %s%s", s->b->path, fmt, detail);
}

/* A table of `bytes` at `off` must be cluster-aligned, inside the file and
 * clear of the header cluster. */
static int check_table(struct qcow2 *s, uint64_t off, uint64_t bytes, uint64_t file_size,
                       const char *what)
{
    if (off == 0 || off % s->cluster_size)
        return fail(EINVAL, "%s: %s offset 0x%" PRIx64 " is not a cluster-aligned offset",
                    s->b->path, what, off);
    if (off > file_size || bytes > file_size - off)
        return fail(EINVAL, "%s: %s (0x%" PRIx64 "+%" PRIu64 ") lies past the end of the file",
                    s->b->path, what, off, bytes);
    return 0;
}

static int check_features(struct qcow2 *s, const uint8_t *h, int flags)
{
    if (s->version < 3)
        return 0;
    uint64_t inc = get_be64(h + QH_INCOMPAT);
    uint64_t known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT | QCOW2_INCOMPAT_COMPRESSION;
    if (inc & ~known)
        return fail(ENOTSUP, "%s: unsupported qcow2 incompatible features 0x%" PRIx64
                    " (external data file, extended L2 or unknown)", s->b->path, inc & ~known);
    if (inc & QCOW2_INCOMPAT_COMPRESSION) {
        if (s->header_length <= QH_COMPRESSION_TYPE)
            return bad(s, "compression type bit set but no compression type field", "");
        if (h[QH_COMPRESSION_TYPE] != 0)
            return fail(ENOTSUP, "%s: compression type %u (zstd?) is not supported, only zlib",
                        s->b->path, h[QH_COMPRESSION_TYPE]);
    } else if (s->header_length > QH_COMPRESSION_TYPE && h[QH_COMPRESSION_TYPE] != 0) {
        return bad(s, "compression type set without its incompatible feature bit", "");
    }
    if ((inc & QCOW2_INCOMPAT_CORRUPT) && !(flags & (BLK_OPEN_RDONLY | BLK_OPEN_CHECK)))
        return fail(EROFS, "%s: image is marked corrupt; it can only be opened read-only "
                    "(repair it with 'qemu-img check -r all')", s->b->path);
    s->lazy = get_be64(h + QH_COMPAT) & QCOW2_COMPAT_LAZY_REFCOUNTS;
    s->keep_dirty = inc & QCOW2_INCOMPAT_DIRTY;
    return 0;
}

/* The sizes and offsets of the header's tables. */
static int parse_tables(struct qcow2 *s, const uint8_t *h, uint64_t file_size, uint64_t *size)
{
    uint64_t cs = s->cluster_size;
    if (get_be32(h + QH_CRYPT) != 0)
        return fail(ENOTSUP, "%s: encrypted qcow2 images are not supported", s->b->path);
    *size = get_be64(h + QH_SIZE);
    uint32_t shift = s->cluster_bits + s->l2_bits;
    uint64_t l1_need = (*size >> shift) + !!(*size & ((1ULL << shift) - 1));
    if (l1_need > QCOW2_MAX_L1_BYTES / 8)
        return fail(EFBIG, "%s: virtual size %" PRIu64 " is too large for %" PRIu64
                    "-byte clusters", s->b->path, *size, cs);
    s->l1_size = get_be32(h + QH_L1_SIZE);
    s->l1_offset = get_be64(h + QH_L1_OFFSET);
    if (s->l1_size > QCOW2_MAX_L1_BYTES / 8)
        return bad(s, "L1 table is larger than 32 MiB", "");
    if (s->l1_size < l1_need)
        return bad(s, "L1 table is too small for the virtual size", "");
    int r = check_table(s, s->l1_offset, (uint64_t)s->l1_size * 8, file_size, "L1 table");
    if (r < 0)
        return r;
    s->reftable_offset = get_be64(h + QH_REFTABLE_OFFSET);
    s->reftable_clusters = get_be32(h + QH_REFTABLE_CLUSTERS);
    if (s->reftable_clusters == 0 || s->reftable_clusters > QCOW2_MAX_REFTABLE_BYTES / cs)
        return bad(s, "refcount table size out of range", "");
    s->reftable_entries = (uint64_t)s->reftable_clusters * cs / 8;
    r = check_table(s, s->reftable_offset, (uint64_t)s->reftable_clusters * cs, file_size,
                    "refcount table");
    if (r < 0)
        return r;
    uint64_t l1_end = s->l1_offset + (uint64_t)s->l1_size * 8;
    uint64_t rt_end = s->reftable_offset + s->reftable_entries * 8;
    if (s->l1_size && s->l1_offset < rt_end && s->reftable_offset < l1_end)
        return bad(s, "the L1 table and the refcount table overlap", "");
    s->refcount_order = s->version >= 3 ? get_be32(h + QH_REFCOUNT_ORDER) : 4;
    if (s->refcount_order > 6)
        return bad(s, "refcount_order is larger than 6", "");
    s->rb_bits = s->cluster_bits + 3 - s->refcount_order;
    s->nb_snapshots = get_be32(h + QH_NB_SNAPSHOTS);
    if (s->nb_snapshots) {
        if (s->nb_snapshots > 65536)
            return bad(s, "too many snapshots", "");
        r = check_table(s, get_be64(h + QH_SNAPSHOTS_OFFSET), 0, file_size, "snapshot table");
    }
    return r;
}

static int parse_extensions(struct qcow2 *s, const uint8_t *h, uint64_t end,
                            struct qcow2_hdr_info *info)
{
    uint64_t off = s->header_length;
    while (off + 8 <= end) {
        uint32_t type = get_be32(h + off), len = get_be32(h + off + 4);
        off += 8;
        if (type == QCOW2_EXT_END)
            return 0;
        if (len > end - off)
            return bad(s, "a header extension runs past the header cluster", "");
        if (type == QCOW2_EXT_BACKING_FORMAT) {
            if (len >= sizeof(info->backing_fmt))
                return bad(s, "backing format name is too long", "");
            memcpy(info->backing_fmt, h + off, len);
            info->backing_fmt[len] = 0;
            info->has_backing_fmt = true;
        }
        /* The feature name table and unknown extensions only inform. */
        off += ALIGN_UP((uint64_t)len, 8);
    }
    return 0;
}

static int parse_backing_name(struct qcow2 *s, const uint8_t *h, uint64_t file_size,
                              struct qcow2_hdr_info *info)
{
    uint64_t off = get_be64(h + QH_BACKING_OFFSET);
    uint32_t len = get_be32(h + QH_BACKING_SIZE);
    if (off == 0)
        return 0;
    if (len == 0 || len > 1023)
        return bad(s, "backing file name length is 0 or over 1023 bytes", "");
    if (off < s->header_length || off > s->cluster_size - len || off + len > file_size)
        return bad(s, "backing file name lies outside the header cluster", "");
    memcpy(info->backing, h + off, len);
    info->backing[len] = 0;
    if (strlen(info->backing) != len)
        return bad(s, "backing file name contains a NUL byte", "");
    info->has_backing = true;
    return 0;
}

/* Reads and checks the first cluster; *hp is the header, zero-padded to a
 * whole cluster. */
static int read_header(struct qcow2 *s, uint8_t **hp, uint64_t *file_size)
{
    struct stat st;
    if (fstat(s->fd, &st) < 0)
        return fail(errno, "%s: %s", s->b->path, strerror(errno));
    *file_size = (uint64_t)st.st_size;
    uint8_t h0[QCOW2_V3_HEADER_LEN];
    ssize_t n = blk_pread_fd(s->fd, h0, sizeof(h0), 0);
    if (n < 0)
        return fail((int)-n, "%s: read failed: %s", s->b->path, strerror((int)-n));
    if (n < QCOW2_V2_HEADER_LEN)
        return bad(s, "truncated header", "");
    if (get_be32(h0) != QCOW2_MAGIC)
        return bad(s, "bad magic", "");
    s->version = get_be32(h0 + 4);
    if (s->version != 2 && s->version != 3)
        return fail(ENOTSUP, "%s: qcow2 version %u is not supported (only 2 and 3)",
                    s->b->path, s->version);
    s->cluster_bits = get_be32(h0 + QH_CLUSTER_BITS);
    if (s->cluster_bits < BLK_MIN_CLUSTER_BITS || s->cluster_bits > BLK_MAX_CLUSTER_BITS)
        return fail(EINVAL, "%s: not a valid qcow2 image: cluster_bits %u is outside 9..21",
                    s->b->path, s->cluster_bits);
    s->cluster_size = 1ULL << s->cluster_bits;
    s->l2_bits = s->cluster_bits - 3;
    s->header_length = QCOW2_V2_HEADER_LEN;
    if (s->version == 3) {
        if (n < QCOW2_V3_HEADER_LEN)
            return bad(s, "truncated version 3 header", "");
        s->header_length = get_be32(h0 + QH_HEADER_LENGTH);
        if (s->header_length < QCOW2_V3_HEADER_LEN || s->header_length > s->cluster_size)
            return bad(s, "header_length out of range", "");
    }
    *hp = calloc(1, s->cluster_size);
    if (!*hp)
        return fail(ENOMEM, "out of memory");
    n = blk_pread_fd(s->fd, *hp, s->cluster_size, 0);
    if (n < 0)
        return fail((int)-n, "%s: read failed: %s", s->b->path, strerror((int)-n));
    if ((uint64_t)n < s->header_length)
        return bad(s, "truncated header", "");
    return 0;
}

static int load_table(struct qcow2 *s, uint64_t off, uint64_t entries, uint64_t **out)
{
    uint64_t *t = calloc(entries ? entries : 1, 8);
    if (!t)
        return fail(ENOMEM, "out of memory");
    ssize_t n = blk_pread_fd(s->fd, t, entries * 8, off);
    if (n < 0) {
        free(t);
        return fail((int)-n, "%s: read failed: %s", s->b->path, strerror((int)-n));
    }
    for (uint64_t i = 0; i < entries; i++)
        t[i] = get_be64((const uint8_t *)&t[i]);
    *out = t;
    return 0;
}

static int open_backing(struct qcow2 *s, const struct qcow2_hdr_info *info, int flags,
                        struct blk_chain *chain)
{
    enum blk_format fmt = BLK_FMT_PROBE;
    if (info->has_backing_fmt && blk_parse_format(info->backing_fmt, &fmt) < 0)
        return fail(ENOTSUP, "%s: backing format '%s' is not supported", s->b->path,
                    info->backing_fmt);
    _cleanup_free_ char *path = blk_resolve_path(s->b->path, info->backing);
    if (!path)
        return fail(ENOMEM, "out of memory");
    int bflags = BLK_OPEN_RDONLY | (flags & (BLK_OPEN_NO_BACKING | BLK_OPEN_DIRECT));
    int r = blk_open_in_chain(path, fmt, bflags, chain, &s->b->backing);
    if (r < 0)
        return fail(-r, "%s: backing file: %s", s->b->path, err_msg());
    return 0;
}

static void qcow2_close(struct blk *b)
{
    struct qcow2 *s = b->priv;
    if (!s)
        return;
    qcow2_cache_free(&s->l2_cache);
    qcow2_cache_free(&s->rb_cache);
    free(s->l1);
    free(s->reftable);
    free(s->zbuf);
    free(s->cbuf);
    free(s->wbuf);
    free(s->pending);
    free(s);
    b->priv = NULL;
}

static int qcow2_flush(struct blk *b)
{
    return qcow2_sync(b->priv);
}

static int qcow2_close_cleanly(struct blk *b)
{
    return qcow2_shutdown(b->priv);
}

static int qcow2_reload(struct blk *b);

static const struct blk_ops qcow2_ops = {
    .pread = qcow2_read,
    .pwrite = qcow2_write,
    .close = qcow2_close,
    .reload = qcow2_reload,
    .map = qcow2_map,
    .flush = qcow2_flush,
    .shutdown = qcow2_close_cleanly,
    .get_info = qcow2_get_info,
    .block_status = qcow2_block_status,
    .write_zeroes = qcow2_write_zeroes,
    .discard = qcow2_discard,
    .resize = qcow2_resize,
    .set_backing = qcow2_set_backing,
    .write_compressed = qcow2_write_compressed,
    .check = qcow2_check,
    .snapshot_list = qcow2_snapshot_list,
    .snapshot_create = qcow2_snapshot_create,
    .snapshot_apply = qcow2_snapshot_apply,
    .snapshot_delete = qcow2_snapshot_delete,
};

/* Writing needs the true end of the allocated area, and clears autoclear
 * bits (we do not maintain what they vouch for, e.g. dirty bitmaps). */
static int prepare_write(struct qcow2 *s, const uint8_t *h)
{
    /* Snapshots share clusters; the write path copies anything shared, but
     * a broken table would make snapshot operations corrupt the image. */
    int r = s->nb_snapshots ? qcow2_snapshot_validate(s, get_be64(h + QH_SIZE)) : 0;
    if (r == 0)
        r = qcow2_find_end(s);
    if (r < 0 || s->version < 3 || get_be64(h + QH_AUTOCLEAR) == 0)
        return r;
    uint8_t zero[8] = { 0 };
    r = blk_pwrite_fd(s->fd, zero, sizeof(zero), QH_AUTOCLEAR);
    return r < 0 ? fail(-r, "%s: write failed: %s", s->b->path, strerror(-r)) : 0;
}

/* A dirty image's refcounts may be too low (lazy refcounts, not closed
 * cleanly): they are rebuilt from the tables before anything is written,
 * as QEMU does.  The work is bounded by the file's real size (qcow2_check). */
static int repair_dirty(struct qcow2 *s)
{
    struct blk_check_result res = { 0 };
    int r = qcow2_check(s->b, BLK_FIX_ERRORS | BLK_FIX_LEAKS, &res);
    if (r == 0 && (res.check_errors || res.corruptions > res.corruptions_fixed))
        r = fail(EIO, "%s: image is marked dirty and its refcounts could not be repaired "
                 "(%" PRIu64 " errors left); see 'qemu-img check -r all'", s->b->path,
                 res.corruptions - res.corruptions_fixed + res.check_errors);
    if (r == 0)
        log_warn("%s: image was not closed cleanly; refcounts repaired (%" PRIu64
                 " leaked clusters, %" PRIu64 " errors fixed)", s->b->path, res.leaks_fixed,
                 res.corruptions_fixed);
    return r;
}

static int qcow2_setup(struct qcow2 *s, int flags, struct blk_chain *chain)
{
    _cleanup_free_ uint8_t *h = NULL;
    uint64_t file_size = 0, size = 0;
    struct qcow2_hdr_info info = { .has_backing = false };
    int r = read_header(s, &h, &file_size);
    if (!r)
        r = parse_tables(s, h, file_size, &size);
    if (!r)
        r = check_features(s, h, flags);
    if (!r)
        r = parse_backing_name(s, h, file_size, &info);
    if (!r) {
        uint64_t bo = get_be64(h + QH_BACKING_OFFSET);
        r = parse_extensions(s, h, bo > s->header_length ? bo : s->cluster_size, &info);
    }
    if (!r)
        r = load_table(s, s->l1_offset, s->l1_size, &s->l1);
    if (!r)
        r = load_table(s, s->reftable_offset, s->reftable_entries, &s->reftable);
    if (!r)
        r = qcow2_cache_init(&s->l2_cache, MIN(MAX(s->l1_size, 2), QCOW2_CACHE_BYTES / s->cluster_size));
    if (!r)
        r = qcow2_cache_init(&s->rb_cache, MAX(4 * MiB / s->cluster_size, 2));
    s->file_end = ALIGN_UP(file_size, s->cluster_size);
    s->b->size = size;
    if (!r && !(flags & BLK_OPEN_RDONLY))
        r = prepare_write(s, h);    /* SHARED: its one write is of bits the writer already cleared */
    if (!r && s->keep_dirty && !(flags & (BLK_OPEN_RDONLY | BLK_OPEN_CHECK | BLK_OPEN_SHARED)))
        r = repair_dirty(s);
    if (!r && info.has_backing && !(flags & BLK_OPEN_NO_BACKING))
        r = open_backing(s, &info, flags, chain);
    return r;
}

int qcow2_open(struct blk *b, int flags, struct blk_chain *chain)
{
    struct qcow2 *s = calloc(1, sizeof(*s));
    if (!s)
        return fail(ENOMEM, "out of memory");
    s->b = b;
    s->fd = b->fd;
    b->priv = s;
    b->ops = &qcow2_ops;
    return qcow2_setup(s, flags, chain);
}

/* The header, tables and caches read again; the backing chain (read-only,
 * unchanged) stays open. */
static int qcow2_reload(struct blk *b)
{
    qcow2_close(b);
    return qcow2_open(b, b->flags | BLK_OPEN_NO_BACKING, NULL);
}
