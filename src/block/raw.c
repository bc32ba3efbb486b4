/* The raw driver: the virtual disk is the file, byte for byte. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "block/block_internal.h"

static int raw_pread(struct blk *b, uint64_t off, void *buf, size_t len)
{
    int r = blk_data_pread(b, buf, len, off);
    if (r < 0)
        return fail(-r, "%s: read failed: %s", b->path, strerror(-r));
    return 0;
}

static int raw_pwrite(struct blk *b, uint64_t off, const void *buf, size_t len)
{
    int r = blk_data_pwrite(b, buf, len, off);
    if (r < 0)
        return fail(-r, "%s: write failed: %s", b->path, strerror(-r));
    return 0;
}

static int raw_map(struct blk *b, uint64_t off, uint64_t len, bool write, uint64_t *host,
                   uint64_t *n)
{
    (void)b;
    (void)write;
    *host = off;
    *n = len;
    return 1;
}

static void raw_close(struct blk *b) { (void)b; }

/* Block devices and some filesystems have no FALLOC_FL_ZERO_RANGE: then
 * zeros are written, a megabyte at a time. */
static int raw_write_zeroes(struct blk *b, uint64_t off, uint64_t len)
{
    if (fallocate(b->fd, FALLOC_FL_ZERO_RANGE, (off_t)off, (off_t)len) == 0)
        return 0;
    if (errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL && errno != ENODEV)
        return fail(errno, "%s: write-zeroes failed: %s", b->path, strerror(errno));
    size_t chunk = (size_t)MIN(len, MiB);
    _cleanup_free_ uint8_t *z = calloc(1, chunk);
    if (!z)
        return fail(ENOMEM, "out of memory");
    for (uint64_t done = 0; done < len;) {
        size_t n = (size_t)MIN(len - done, (uint64_t)chunk);
        int r = raw_pwrite(b, off + done, z, n);
        if (r < 0)
            return r;
        done += n;
    }
    return 0;
}

/* Discard is a hint: where the file cannot punch holes nothing happens. */
static int raw_discard(struct blk *b, uint64_t off, uint64_t len)
{
    if (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                  (off_t)len) == 0 || errno == EOPNOTSUPP || errno == ENOSYS)
        return 0;
    return fail(errno, "%s: discard failed: %s", b->path, strerror(errno));
}

static int raw_resize(struct blk *b, uint64_t size)
{
    if (size > INT64_MAX)
        return fail(EFBIG, "%s: size %llu is too large", b->path, (unsigned long long)size);
    if (ftruncate(b->fd, (off_t)size) < 0)
        return fail(errno, "%s: resize failed: %s", b->path, strerror(errno));
    b->size = size;
    return 0;
}

static const struct blk_ops raw_ops = {
    .pread = raw_pread,
    .pwrite = raw_pwrite,
    .close = raw_close,
    .map = raw_map,
    .write_zeroes = raw_write_zeroes,
    .discard = raw_discard,
    .resize = raw_resize,
};

int raw_open(struct blk *b)
{
    struct stat st;
    if (fstat(b->fd, &st) < 0)
        return fail(errno, "%s: %s", b->path, strerror(errno));
    if (S_ISBLK(st.st_mode)) {
        off_t end = lseek(b->fd, 0, SEEK_END);
        if (end < 0)
            return fail(errno, "%s: cannot find the size: %s", b->path, strerror(errno));
        b->size = (uint64_t)end;
    } else {
        b->size = (uint64_t)st.st_size;
    }
    b->ops = &raw_ops;
    return 0;
}

int raw_create(const char *path, uint64_t size)
{
    if (size > INT64_MAX)
        return fail(EFBIG, "%s: size %llu is too large", path, (unsigned long long)size);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail(errno, "cannot create %s: %s", path, strerror(errno));
    /* ftruncate leaves the file sparse: no blocks until data is written. */
    if (ftruncate(fd, (off_t)size) < 0 || fdatasync(fd) < 0)
        return fail(errno, "%s: %s", path, strerror(errno));
    return 0;
}
