/* The generic block layer: format probing, the backing chain (depth limit,
 * loop detection, relative names), argument checks and dispatch to the
 * raw and qcow2 drivers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "block/block_internal.h"

#define QCOW2_MAGIC 0x514649fbu

const char *blk_format_name(enum blk_format f)
{
    switch (f) {
    case BLK_FMT_RAW: return "raw";
    case BLK_FMT_QCOW2: return "qcow2";
    default: return "probe";
    }
}

int blk_parse_format(const char *name, enum blk_format *out)
{
    if (name && !strcmp(name, "raw"))
        *out = BLK_FMT_RAW;
    else if (name && !strcmp(name, "qcow2"))
        *out = BLK_FMT_QCOW2;
    else
        return fail(EINVAL, "unknown image format '%s' (use raw or qcow2)", name ? name : "");
    return 0;
}

uint64_t blk_size(const struct blk *b) { return b->size; }
enum blk_format blk_format_of(const struct blk *b) { return b->fmt; }

ssize_t blk_pread_fd(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, p + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    memset(p + done, 0, len - done);
    return (ssize_t)done;
}

int blk_pwrite_fd(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, p + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        done += (size_t)n;
    }
    return 0;
}

int blk_data_fd(const struct blk *b, const void *buf, size_t len, uint64_t host)
{
    uint64_t mis = (uintptr_t)buf | len | host;
    return b->dfd != b->fd && !(mis & (BLK_DIRECT_ALIGN - 1)) ? b->dfd : b->fd;
}

int blk_data_pread(struct blk *b, void *buf, size_t len, uint64_t host)
{
    int fd = blk_data_fd(b, buf, len, host);
    ssize_t n = blk_pread_fd(fd, buf, len, host);
    /* O_DIRECT refuses the partial block at the end of a file: */
    if (n == -EINVAL && fd != b->fd)
        n = blk_pread_fd(b->fd, buf, len, host);
    return n < 0 ? (int)n : 0;
}

int blk_data_pwrite(struct blk *b, const void *buf, size_t len, uint64_t host)
{
    return blk_pwrite_fd(blk_data_fd(b, buf, len, host), buf, len, host);
}

char *blk_resolve_path(const char *image, const char *name)
{
    const char *slash = strrchr(image, '/');
    if (name[0] == '/' || !slash)
        return strdup(name);
    char *p = NULL;
    if (asprintf(&p, "%.*s/%s", (int)(slash - image), image, name) < 0)
        return NULL;
    return p;
}

int blk_read_backing(struct blk *b, uint64_t off, void *buf, size_t len)
{
    size_t n = 0;
    if (b->backing && off < b->backing->size)
        n = (size_t)MIN((uint64_t)len, b->backing->size - off);
    if (n) {
        int r = blk_pread(b->backing, off, buf, n);
        if (r < 0)
            return r;
    }
    memset((uint8_t *)buf + n, 0, len - n);
    return 0;
}

static int probe_format(int fd, enum blk_format *fmt)
{
    uint8_t magic[4];
    ssize_t n = blk_pread_fd(fd, magic, sizeof(magic), 0);
    if (n < 0)
        return fail((int)-n, "cannot read the image: %s", strerror((int)-n));
    *fmt = get_be32(magic) == QCOW2_MAGIC ? BLK_FMT_QCOW2 : BLK_FMT_RAW;
    return 0;
}

/* Records the image in the chain; a second visit of the same file is a loop. */
static int chain_add(struct blk_chain *chain, int fd, const char *path)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return fail(errno, "%s: %s", path, strerror(errno));
    for (int i = 0; i < chain->n; i++)
        if (chain->dev[i] == st.st_dev && chain->ino[i] == st.st_ino)
            return fail(ELOOP, "%s: backing chain loop (this file is already in the chain)", path);
    if (chain->n > BLK_MAX_BACKING_DEPTH)
        return fail(ELOOP, "%s: backing chain deeper than %d images", path, BLK_MAX_BACKING_DEPTH);
    chain->dev[chain->n] = st.st_dev;
    chain->ino[chain->n] = st.st_ino;
    chain->n++;
    return 0;
}

static int open_driver(struct blk *b, int flags, struct blk_chain *chain)
{
    if (b->fmt == BLK_FMT_RAW)
        return raw_open(b);
    if (b->fmt == BLK_FMT_QCOW2)
        return qcow2_open(b, flags, chain);
    return fail(EINVAL, "unknown image format %d", (int)b->fmt);
}

int blk_open_in_chain(const char *path, enum blk_format fmt, int flags,
                      struct blk_chain *chain, struct blk **out)
{
    struct blk *b = calloc(1, sizeof(*b));
    if (!b)
        return fail(ENOMEM, "out of memory");
    b->readonly = flags & BLK_OPEN_RDONLY;
    b->flags = flags;
    b->path = strdup(path);
    int oflags = (b->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC |
                 (flags & BLK_OPEN_DSYNC ? O_DSYNC : 0);
    b->fd = b->dfd = open(path, oflags);
    int r = b->fd < 0 ? fail(errno, "cannot open %s: %s", path, strerror(errno)) : 0;
    if (!r && (flags & BLK_OPEN_DIRECT)) {
        b->dfd = open(path, oflags | O_DIRECT);
        if (b->dfd < 0)
            r = fail(errno, "cannot open %s with O_DIRECT (cache mode none/directsync): %s",
                     path, errno == EINVAL ? "the file system does not support it"
                                           : strerror(errno));
    }
    if (!r && !b->path)
        r = fail(ENOMEM, "out of memory");
    if (!r)
        r = chain_add(chain, b->fd, path);
    if (!r && fmt == BLK_FMT_PROBE)
        r = probe_format(b->fd, &fmt);
    b->fmt = fmt;
    if (!r)
        r = open_driver(b, flags, chain);
    if (r < 0) {
        b->readonly = true; /* nothing to flush from a failed open */
        blk_close(b);
        return r;
    }
    *out = b;
    return 0;
}

int blk_open(const char *path, enum blk_format fmt, int flags, struct blk **out)
{
    struct blk_chain chain = { .n = 0 };
    return blk_open_in_chain(path, fmt, flags, &chain, out);
}

int blk_close(struct blk *b)
{
    if (!b)
        return 0;
    bool ours = !b->readonly && !b->handed_over && !(b->flags & BLK_OPEN_SHARED);
    int r = !ours ? 0 : b->ops && b->ops->shutdown ? b->ops->shutdown(b) : blk_flush(b);
    if (b->ops)
        b->ops->close(b);
    if (b->backing)
        blk_close(b->backing);
    if (b->dfd >= 0 && b->dfd != b->fd)
        close(b->dfd);
    if (b->fd >= 0)
        close(b->fd);
    free(b->track);
    free(b->path);
    free(b);
    return r;
}

int blk_hand_over(struct blk *b)
{
    if (b->readonly)
        return 0;
    int r = b->ops->shutdown ? b->ops->shutdown(b) : blk_flush(b);
    b->handed_over = r == 0;
    return r;
}

void blk_take_back(struct blk *b) { b->handed_over = false; }

int blk_reload(struct blk *b)
{
    b->flags &= ~BLK_OPEN_SHARED;    /* ours alone from now on */
    return b->ops->reload ? b->ops->reload(b) : 0;
}

int blk_shared_check(const struct blk *b)
{
    return b->flags & BLK_OPEN_SHARED ? fail(EBUSY, "%s: another process may be writing it (not reloaded yet)", b->path)
                                      : 0;
}

int blk_check_range(const struct blk *b, uint64_t off, uint64_t len)
{
    if (off > b->size || len > b->size - off)
        return fail(EINVAL, "%s: access at %llu+%llu is beyond the end (%llu bytes)", b->path,
                    (unsigned long long)off, (unsigned long long)len, (unsigned long long)b->size);
    return 0;
}

int blk_pread(struct blk *b, uint64_t off, void *buf, size_t len)
{
    int r = blk_check_range(b, off, len);
    return r < 0 ? r : len ? b->ops->pread(b, off, buf, len) : 0;
}

int blk_pwrite(struct blk *b, uint64_t off, const void *buf, size_t len)
{
    if (b->readonly)
        return fail(EROFS, "%s is open read-only", b->path);
    int r = blk_shared_check(b);
    if (r == 0)
        r = blk_check_range(b, off, len);
    if (r == 0 && len)
        r = b->ops->pwrite(b, off, buf, len);
    /* After the write: a migration that collects the mark reads what it wrote. */
    blk_track_mark(b, off, len);
    return r;
}

uint64_t blk_track_chunks(const struct blk *b) { return (b->size + BLK_TRACK_CHUNK - 1) / BLK_TRACK_CHUNK; }

int blk_track_start(struct blk *b)
{
    size_t words = (size_t)((blk_track_chunks(b) + 63) / 64);
    if (!b->track && !(b->track = calloc(words ? words : 1, sizeof(uint64_t))))
        return fail(ENOMEM, "out of memory");
    for (size_t w = 0; w < words; w++)
        __atomic_store_n(&b->track[w], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&b->tracking, true, __ATOMIC_RELEASE);
    return 0;
}

/* The bitmap stays until close: a write may be marking right now. */
void blk_track_stop(struct blk *b) { __atomic_store_n(&b->tracking, false, __ATOMIC_RELEASE); }

void blk_track_mark(struct blk *b, uint64_t off, uint64_t len)
{
    if (!__atomic_load_n(&b->tracking, __ATOMIC_ACQUIRE) || !len || off >= b->size)
        return;
    uint64_t last = (MIN(off + len, b->size) - 1) / BLK_TRACK_CHUNK;
    for (uint64_t c = off / BLK_TRACK_CHUNK; c <= last; c++)
        __atomic_fetch_or(&b->track[c / 64], 1ULL << (c % 64), __ATOMIC_RELAXED);
}

void blk_track_collect(struct blk *b, uint64_t *bitmap)
{
    if (!b->track)
        return;
    for (size_t w = 0; w < (size_t)((blk_track_chunks(b) + 63) / 64); w++)
        bitmap[w] |= __atomic_exchange_n(&b->track[w], 0, __ATOMIC_ACQ_REL);
}

int blk_flush(struct blk *b)
{
    if (b->readonly || (b->flags & BLK_OPEN_NO_FLUSH))
        return 0;
    if (b->ops->flush)
        return b->ops->flush(b);
    return blk_sync_file(b);
}

int blk_sync_file(struct blk *b)
{
    if (b->sync_failed)
        return fail(EIO, "%s: flush failed: an earlier flush failed, and what was written "
                    "before it may be lost (check the image and open it again)", b->path);
    if (fdatasync(b->fd) == 0)
        return 0;
    int e = errno;
    b->sync_failed = true;
    return fail(e, "%s: flush failed: %s", b->path, strerror(e));
}

static int backing_size(const char *path, const struct blk_create_opts *o, uint64_t *size)
{
    _cleanup_free_ char *full = blk_resolve_path(path, o->backing_file);
    if (!full)
        return fail(ENOMEM, "out of memory");
    struct blk *bk;
    int r = blk_open(full, o->backing_format, BLK_OPEN_RDONLY, &bk);
    if (r < 0)
        return fail(-r, "backing file: %s", err_msg());
    *size = bk->size;
    blk_close(bk);
    return 0;
}

int blk_create(const char *path, const struct blk_create_opts *opts)
{
    uint64_t size = opts->size;
    if (opts->backing_file && opts->format != BLK_FMT_QCOW2)
        return fail(EINVAL, "only qcow2 images can have a backing file");
    if (opts->backing_file && size == 0) {
        int r = backing_size(path, opts, &size);
        if (r < 0)
            return r;
    }
    if (opts->format == BLK_FMT_RAW)
        return raw_create(path, size);
    if (opts->format == BLK_FMT_QCOW2)
        return qcow2_create(path, opts, size);
    return fail(EINVAL, "create: choose a format (raw or qcow2)");
}
