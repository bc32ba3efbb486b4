/* Internals shared by the block drivers (raw.c, qcow2*.c) and the generic
 * layer (block.c).  Not part of the module's interface. */
#ifndef CORRAL_BLOCK_INTERNAL_H
#define CORRAL_BLOCK_INTERNAL_H

#include <sys/types.h>

#include "block/block.h"
#include "util/util.h"

struct blk_ops {
    int (*pread)(struct blk *b, uint64_t off, void *buf, size_t len);
    int (*pwrite)(struct blk *b, uint64_t off, const void *buf, size_t len);
    void (*close)(struct blk *b);
    /* Optional: re-reads what blk_open read of the image (blk_reload). */
    int (*reload)(struct blk *b);
    /* Where [off, off+len) of the disk lies in the file, for a blk_queue:
     * 1 if its first *n bytes (1..len) are at *host as they are and (for
     * a write) may be overwritten in place; 0 if the range needs the
     * driver's pread/pwrite.  Changes nothing. */
    int (*map)(struct blk *b, uint64_t off, uint64_t len, bool write, uint64_t *host,
               uint64_t *n);
    /* Optional (NULL: fdatasync): makes everything written durable. */
    int (*flush)(struct blk *b);
    /* Optional: a writable image's last words before close (and flush). */
    int (*shutdown)(struct blk *b);
    /* Optional (NULL: -ENOTSUP), see block.h; ranges already checked. */
    int (*get_info)(struct blk *b, struct blk_info *out);
    int (*block_status)(struct blk *b, uint64_t off, uint64_t len, uint64_t *pnum,
                        int *status, uint64_t *host_off);
    int (*write_zeroes)(struct blk *b, uint64_t off, uint64_t len);
    int (*discard)(struct blk *b, uint64_t off, uint64_t len);
    int (*resize)(struct blk *b, uint64_t size);
    int (*set_backing)(struct blk *b, const char *file, enum blk_format fmt);
    int (*write_compressed)(struct blk *b, uint64_t off, const void *buf, size_t len);
    int (*check)(struct blk *b, int fix, struct blk_check_result *res);
    int (*snapshot_list)(struct blk *b, struct blk_snapshot **out, int *n);
    int (*snapshot_create)(struct blk *b, const char *name);
    int (*snapshot_apply)(struct blk *b, const char *name_or_id);
    int (*snapshot_delete)(struct blk *b, const char *name_or_id);
};

struct blk {
    const struct blk_ops *ops;
    enum blk_format fmt;
    int fd;
    int dfd;                /* data: fd itself, or an O_DIRECT descriptor */
    int flags;              /* BLK_OPEN_* */
    bool readonly;
    bool handed_over;       /* blk_hand_over: another process writes it now */
    uint64_t *track;        /* blk_track_start: chunks written since the last collect */
    bool tracking;
    bool sync_failed;       /* an fdatasync failed: blk_sync_file fails from then on */
    uint64_t size;          /* virtual size */
    char *path;
    struct blk *backing;    /* NULL: unallocated data reads as zeros */
    void *priv;             /* the driver's state */
};

/* The images opened so far along one backing chain, for loop detection. */
struct blk_chain {
    dev_t dev[BLK_MAX_BACKING_DEPTH + 1];
    ino_t ino[BLK_MAX_BACKING_DEPTH + 1];
    int n;
};

/* fdatasync(b->fd).  Once one has failed, every later call fails too (as in
 * QEMU): Linux may have dropped the pages it could not write and marked them
 * clean, so a later flush that succeeds would vouch for data that is gone. */
int blk_sync_file(struct blk *b);

/* 0 if [off, off+len) is inside the virtual size, else -EINVAL via fail(). */
int blk_check_range(const struct blk *b, uint64_t off, uint64_t len);

/* Opens one image as a link of `chain` (which it records itself in). */
int blk_open_in_chain(const char *path, enum blk_format fmt, int flags,
                      struct blk_chain *chain, struct blk **out);
/* `name` relative to the directory of `image` (unless absolute); malloc'ed. */
char *blk_resolve_path(const char *image, const char *name);
/* Reads from the backing file, zero-filling beyond its end (or everything
 * when there is no backing file). */
int blk_read_backing(struct blk *b, uint64_t off, void *buf, size_t len);

/* pread/pwrite that retry on EINTR and short transfers.  blk_pread_fd
 * zero-fills past the end of the file and returns the bytes really read. */
ssize_t blk_pread_fd(int fd, void *buf, size_t len, uint64_t off);
int blk_pwrite_fd(int fd, const void *buf, size_t len, uint64_t off);
/* Guest data at host offset `host` of b's file: through b->dfd when the
 * transfer is aligned for O_DIRECT, else b->fd.  blk_data_fd names the
 * descriptor; the others return 0 or a negative errno (not via fail()),
 * reads zero-filled past the end of the file. */
int blk_data_fd(const struct blk *b, const void *buf, size_t len, uint64_t host);
int blk_data_pread(struct blk *b, void *buf, size_t len, uint64_t host);
int blk_data_pwrite(struct blk *b, const void *buf, size_t len, uint64_t host);

int raw_open(struct blk *b);
int raw_create(const char *path, uint64_t size);
int qcow2_open(struct blk *b, int flags, struct blk_chain *chain);
int qcow2_create(const char *path, const struct blk_create_opts *opts, uint64_t size);

/* Big-endian field access: every qcow2 structure is big-endian. */
static inline uint16_t get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}
static inline void put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static inline void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

/* -EBUSY while the image is open BLK_OPEN_SHARED and not reloaded. */
int blk_shared_check(const struct blk *b);
/* Marks [off, off+len) written for blk_track_collect (block.c). */
void blk_track_mark(struct blk *b, uint64_t off, uint64_t len);

#endif
