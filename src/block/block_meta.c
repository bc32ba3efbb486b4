/* The generic side of what `corral img` needs beyond reading and writing:
 * argument checks, then the driver's operation, or -ENOTSUP when the
 * format has none. */
#include "block_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int unsupported(const struct blk *b, const char *what)
{
    return fail(ENOTSUP, "%s: %s images do not support %s", b->path, blk_format_name(b->fmt), what);
}

static int writable(const struct blk *b)
{
    return b->readonly ? fail(EROFS, "%s is open read-only", b->path) : 0;
}

uint32_t blk_cluster_size(const struct blk *b)
{
    struct blk_info info;
    return b->ops->get_info && b->ops->get_info((struct blk *)b, &info) == 0 ? info.cluster_size : 0;
}

int blk_get_info(struct blk *b, struct blk_info *out)
{
    memset(out, 0, sizeof(*out));
    out->format = b->fmt;
    out->virtual_size = b->size;
    struct stat st;
    if (fstat(b->fd, &st) == 0)
        out->actual_size = (uint64_t)st.st_blocks * 512;
    return b->ops->get_info ? b->ops->get_info(b, out) : 0;
}

int blk_block_status(struct blk *b, uint64_t off, uint64_t len, uint64_t *pnum,
                     int *status, uint64_t *host_off, int *depth)
{
    int r = blk_check_range(b, off, len);
    if (r < 0)
        return r;
    if (len == 0)
        return fail(EINVAL, "%s: block status of an empty range", b->path);
    *depth = 0;
    *host_off = 0;
    if (!b->ops->block_status) { /* raw: all data, at the same offset */
        *pnum = len;
        *status = BLK_STATUS_DATA | BLK_STATUS_ALLOCATED | BLK_STATUS_PRESENT;
        *host_off = off;
        return 0;
    }
    r = b->ops->block_status(b, off, len, pnum, status, host_off);
    if (r < 0)
        return r;
    if (*status & BLK_STATUS_ALLOCATED) {
        *status |= BLK_STATUS_PRESENT;
        return 0;
    }
    /* Not decided here: ask the backing chain, within its size. */
    if (!b->backing || off >= b->backing->size) {
        *status = BLK_STATUS_ZERO;
        return 0;
    }
    uint64_t n = MIN(*pnum, b->backing->size - off);
    r = blk_block_status(b->backing, off, n, pnum, status, host_off, depth);
    (*depth)++;
    *status &= ~BLK_STATUS_ALLOCATED;
    return r;
}

#define DISPATCH_RW(b, op, what, ...) \
    ((b)->readonly ? writable(b) : (b)->ops->op ? (b)->ops->op(b, __VA_ARGS__) : unsupported(b, what))

/* A change of [off, off+len) through OP, which the migration's write
 * tracking then marks (after it, as blk_pwrite does). */
static int range_op(struct blk *b, uint64_t off, uint64_t len, int (*op)(struct blk *, uint64_t, uint64_t),
                    const char *what)
{
    int r = blk_shared_check(b);
    if (r == 0)
        r = blk_check_range(b, off, len);
    if (r == 0 && len)
        r = b->readonly ? writable(b) : op ? op(b, off, len) : unsupported(b, what);
    if (!b->readonly)
        blk_track_mark(b, off, len);
    return r;
}

int blk_write_zeroes(struct blk *b, uint64_t off, uint64_t len)
{
    return range_op(b, off, len, b->ops->write_zeroes, "write-zeroes");
}

int blk_discard(struct blk *b, uint64_t off, uint64_t len)
{
    return range_op(b, off, len, b->ops->discard, "discard");
}

int blk_resize(struct blk *b, uint64_t size)
{
    return DISPATCH_RW(b, resize, "resize", size);
}

int blk_set_backing(struct blk *b, const char *file, enum blk_format fmt)
{
    if (file && strlen(file) > 1023)
        return fail(ENAMETOOLONG, "backing file name is longer than 1023 bytes");
    return DISPATCH_RW(b, set_backing, "backing files", file, fmt);
}

int blk_write_compressed(struct blk *b, uint64_t off, const void *buf, size_t len)
{
    int r = blk_check_range(b, off, len);
    return r < 0 ? r : len ? DISPATCH_RW(b, write_compressed, "compression", off, buf, len) : 0;
}

int blk_check(struct blk *b, int fix, struct blk_check_result *res)
{
    memset(res, 0, sizeof(*res));
    if (fix && b->readonly)
        return writable(b);
    return b->ops->check ? b->ops->check(b, fix, res) : 0; /* raw: nothing to check */
}

int blk_snapshot_list(struct blk *b, struct blk_snapshot **out, int *n)
{
    *out = NULL;
    *n = 0;
    return b->ops->snapshot_list ? b->ops->snapshot_list(b, out, n) : 0;
}

int blk_snapshot_create(struct blk *b, const char *name)
{
    if (!name || !*name || strlen(name) > 255)
        return fail(EINVAL, "snapshot name must be 1 to 255 bytes");
    return DISPATCH_RW(b, snapshot_create, "snapshots", name);
}

int blk_snapshot_apply(struct blk *b, const char *name_or_id)
{
    return DISPATCH_RW(b, snapshot_apply, "snapshots", name_or_id);
}

int blk_snapshot_delete(struct blk *b, const char *name_or_id)
{
    return DISPATCH_RW(b, snapshot_delete, "snapshots", name_or_id);
}
