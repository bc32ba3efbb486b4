/* qcow2: creating an empty image.  Layout: header cluster, refcount table,
 * L1 table, refcount blocks covering all of these; the header is written
 * last so an interrupted create never leaves a valid-looking image. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "block/qcow2.h"

struct layout {
    uint32_t cluster_bits;
    uint64_t cs, l1_size, l1_clusters, rt_clusters, rb_clusters, total;
};

static int plan(const char *path, const struct blk_create_opts *o, uint64_t size,
                struct layout *l)
{
    l->cs = o->cluster_size ? o->cluster_size : 64 * KiB;
    if (l->cs < (1u << BLK_MIN_CLUSTER_BITS) || l->cs > (1u << BLK_MAX_CLUSTER_BITS) ||
        (l->cs & (l->cs - 1)))
        return fail(EINVAL, "%s: cluster size must be a power of two from 512 to 2M", path);
    l->cluster_bits = (uint32_t)__builtin_ctzll(l->cs);
    uint32_t shift = 2 * l->cluster_bits - 3;
    l->l1_size = MAX((size >> shift) + !!(size & ((1ULL << shift) - 1)), 1);
    if (size > INT64_MAX || l->l1_size > QCOW2_MAX_L1_BYTES / 8)
        return fail(EFBIG, "%s: size %llu is too large for %llu-byte clusters", path,
                    (unsigned long long)size, (unsigned long long)l->cs);
    l->l1_clusters = (l->l1_size * 8 + l->cs - 1) / l->cs;
    uint64_t per_block = l->cs / 2;   /* 16-bit refcounts */
    l->rt_clusters = l->rb_clusters = 1;
    for (;;) {
        l->total = 1 + l->rt_clusters + l->l1_clusters + l->rb_clusters;
        uint64_t rb = (l->total + per_block - 1) / per_block;
        uint64_t rt = (rb * 8 + l->cs - 1) / l->cs;
        if (rb == l->rb_clusters && rt == l->rt_clusters)
            return 0;
        l->rb_clusters = rb;
        l->rt_clusters = rt;
    }
}

/* Header, extensions and backing file name: all in the first cluster. */
static int build_header(const char *path, const struct blk_create_opts *o, uint64_t size,
                        const struct layout *l, uint8_t *h)
{
    int version = o->compat ? o->compat : 3;
    put_be32(h, QCOW2_MAGIC);
    put_be32(h + 4, (uint32_t)version);
    put_be32(h + QH_CLUSTER_BITS, l->cluster_bits);
    put_be64(h + QH_SIZE, size);
    put_be32(h + QH_L1_SIZE, (uint32_t)l->l1_size);
    put_be64(h + QH_L1_OFFSET, (1 + l->rt_clusters) * l->cs);
    put_be64(h + QH_REFTABLE_OFFSET, l->cs);
    put_be32(h + QH_REFTABLE_CLUSTERS, (uint32_t)l->rt_clusters);
    uint64_t pos = QCOW2_V2_HEADER_LEN;
    if (version == 3) {
        put_be64(h + QH_COMPAT, o->lazy_refcounts ? QCOW2_COMPAT_LAZY_REFCOUNTS : 0);
        put_be32(h + QH_REFCOUNT_ORDER, 4);
        put_be32(h + QH_HEADER_LENGTH, QCOW2_OUR_HEADER_LEN);
        pos = QCOW2_OUR_HEADER_LEN;
    }
    size_t name_len = o->backing_file ? strlen(o->backing_file) : 0;
    const char *fmt = o->backing_file && o->backing_format != BLK_FMT_PROBE
                          ? blk_format_name(o->backing_format) : NULL;
    uint64_t need = pos + (fmt ? 8 + 8 : 0) + 8 + name_len;
    if (name_len > 1023 || need > l->cs)
        return fail(ENAMETOOLONG, "%s: backing file name is too long for the header", path);
    if (fmt) {
        put_be32(h + pos, QCOW2_EXT_BACKING_FORMAT);
        put_be32(h + pos + 4, (uint32_t)strlen(fmt));
        memcpy(h + pos + 8, fmt, strlen(fmt));
        pos += 16;
    }
    pos += 8;   /* the end-of-extensions marker: already zero */
    if (name_len) {
        put_be64(h + QH_BACKING_OFFSET, pos);
        put_be32(h + QH_BACKING_SIZE, (uint32_t)name_len);
        memcpy(h + pos, o->backing_file, name_len);
    }
    return 0;
}

static int write_image(int fd, const struct layout *l, const uint8_t *h)
{
    uint64_t cs = l->cs;
    _cleanup_free_ uint8_t *rt = calloc(l->rt_clusters, cs);
    _cleanup_free_ uint8_t *rb = calloc(l->rb_clusters, cs);
    if (!rt || !rb)
        return -ENOMEM;
    uint64_t rb_off = (1 + l->rt_clusters + l->l1_clusters) * cs;
    for (uint64_t i = 0; i < l->rb_clusters; i++)
        put_be64(rt + i * 8, rb_off + i * cs);
    for (uint64_t c = 0; c < l->total; c++)
        put_be16(rb + c * 2, 1);
    if (ftruncate(fd, (off_t)(l->total * cs)) < 0)
        return -errno;
    int r = blk_pwrite_fd(fd, rb, l->rb_clusters * cs, rb_off);
    if (!r)
        r = blk_pwrite_fd(fd, rt, l->rt_clusters * cs, cs);
    if (!r && fdatasync(fd) < 0)
        r = -errno;
    if (!r)
        r = blk_pwrite_fd(fd, h, cs, 0);
    if (!r && fdatasync(fd) < 0)
        r = -errno;
    return r;
}

int qcow2_create(const char *path, const struct blk_create_opts *o, uint64_t size)
{
    struct layout l = { .cs = 0 };
    if (o->compat && o->compat != 2 && o->compat != 3)
        return fail(EINVAL, "%s: qcow2 compat must be 2 (0.10) or 3 (1.1)", path);
    if (o->lazy_refcounts && o->compat == 2)
        return fail(EINVAL, "%s: lazy refcounts need qcow2 version 3", path);
    int r = plan(path, o, size, &l);
    if (r < 0)
        return r;
    _cleanup_free_ uint8_t *h = calloc(1, l.cs);
    if (!h)
        return fail(ENOMEM, "out of memory");
    r = build_header(path, o, size, &l, h);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail(errno, "cannot create %s: %s", path, strerror(errno));
    r = write_image(fd, &l, h);
    return r < 0 ? fail(-r, "%s: create failed: %s", path, strerror(-r)) : 0;
}
