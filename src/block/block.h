/* block — virtual disk images: raw files and qcow2 (versions 2 and 3, as
 * specified in QEMU's docs/interop/qcow2.rst), behind one handle.
 *
 * Used by corral-vmm's virtio-blk and by `corral img`.  An image is opened
 * once (read-only or read-write); reads and writes take guest byte offsets
 * and may be of any length; flush makes everything written so far durable,
 * metadata included.  Backing files are opened read-only, recursively, with
 * a depth limit and loop detection.
 *
 * Safety: every offset, size and count read from an image file is checked
 * against the file's real size and against sane limits before it is used;
 * a corrupt or hostile image gets one clear error (fail()/err_msg()), never
 * a crash, a hang or an allocation sized by an untrusted field.  Metadata
 * is written in an order that leaves the image consistent (at worst with
 * leaked clusters) if the process dies at any point.
 *
 * Thread safety: one handle is used by one thread at a time.
 */
#ifndef CORRAL_BLOCK_H
#define CORRAL_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum blk_format { BLK_FMT_PROBE = 0, BLK_FMT_RAW, BLK_FMT_QCOW2 };

#define BLK_MAX_BACKING_DEPTH 64
#define BLK_MIN_CLUSTER_BITS 9   /* 512 B */
#define BLK_MAX_CLUSTER_BITS 21  /* 2 MiB */

struct blk;

struct blk_create_opts {
    enum blk_format format;      /* RAW or QCOW2 */
    uint64_t size;               /* virtual size in bytes; 0 = the backing file's */
    uint32_t cluster_size;       /* qcow2: power of two, 512 B..2 MiB; 0 = 64 KiB */
    int compat;                  /* qcow2: 2 (0.10) or 3 (1.1); 0 = 3 */
    bool lazy_refcounts;         /* qcow2 v3 only */
    const char *backing_file;    /* qcow2 only; NULL = none */
    enum blk_format backing_format; /* PROBE = probe and do not record */
};

/* Creates (truncating) an image.  Returns 0 or a negative errno via fail(). */
int blk_create(const char *path, const struct blk_create_opts *opts);

enum { BLK_OPEN_RDONLY = 1, BLK_OPEN_NO_BACKING = 2 };
int blk_open(const char *path, enum blk_format fmt, int flags, struct blk **out);
/* Flushes (if writable) and frees; returns the flush result. */
int blk_close(struct blk *b);

uint64_t blk_size(const struct blk *b);
enum blk_format blk_format_of(const struct blk *b);
const char *blk_format_name(enum blk_format f);
int blk_parse_format(const char *name, enum blk_format *out);

/* Any offset and length inside the virtual size. */
int blk_pread(struct blk *b, uint64_t off, void *buf, size_t len);
int blk_pwrite(struct blk *b, uint64_t off, const void *buf, size_t len);
int blk_flush(struct blk *b);

#endif
