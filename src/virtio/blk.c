/* virtio-blk (virtio 1.2 section 5.2) over a disk image of the block layer
 * (raw or qcow2).
 *
 * A request is a 16-byte header the device reads, then data, then one
 * status byte the device writes: the last byte of the last writable buffer.
 * Data moves straight between the image and guest memory, segment by
 * segment.  Requests run synchronously on the I/O thread.
 */
#include "virtio_internal.h"

#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <string.h>
#include <sys/uio.h>

#include "block/block.h"

#define SECTOR 512u

struct vblk {
    struct blk *disk;
    bool readonly;
    uint64_t sectors;
    char serial[VIRTIO_BLK_ID_BYTES];
};

static uint64_t blk_features(struct virtio_dev *d)
{
    struct vblk *b = d->priv;
    uint64_t f = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
                 (1ULL << VIRTIO_BLK_F_FLUSH);
    return f | (b->readonly ? 1ULL << VIRTIO_BLK_F_RO : 0);
}

static void blk_config_read(struct virtio_dev *d, uint64_t off, uint8_t *data, unsigned size)
{
    struct vblk *b = d->priv;
    struct virtio_blk_config c = {
        .capacity = htole64(b->sectors),
        /* Header and status take two of an indirect table's entries. */
        .seg_max = htole32(VIRTQ_MAX_SIZE - 2),
        .blk_size = htole32(SECTOR),
    };
    memcpy(data, (uint8_t *)&c + off, size);
}

static int transfer(struct blk *disk, const struct iovec *iov, unsigned n, uint64_t off, bool write)
{
    for (unsigned i = 0; i < n; i++) {
        int r = write ? blk_pwrite(disk, off, iov[i].iov_base, iov[i].iov_len)
                      : blk_pread(disk, off, iov[i].iov_base, iov[i].iov_len);
        if (r < 0)
            return r;
        off += iov[i].iov_len;
    }
    return 0;
}

/* Moves `len` bytes at `sector`; the status to report. */
static uint8_t blk_rw(struct vblk *b, const struct iovec *src, unsigned n, size_t skip,
                      uint64_t len, uint64_t sector, bool write)
{
    if (write && b->readonly)
        return VIRTIO_BLK_S_IOERR;
    if (len % SECTOR || sector > b->sectors || len / SECTOR > b->sectors - sector)
        return VIRTIO_BLK_S_IOERR;
    struct iovec iov[VIRTQ_MAX_SEGS];
    unsigned k = iov_slice(src, n, skip, len, iov, VIRTQ_MAX_SEGS);
    return transfer(b->disk, iov, k, sector * SECTOR, write) < 0 ? VIRTIO_BLK_S_IOERR
                                                                  : VIRTIO_BLK_S_OK;
}

/* Returns the bytes written into the chain, including the status byte. */
static long blk_request(struct virtio_dev *d, struct virtq_req *req)
{
    struct vblk *b = d->priv;
    if (req->in_len == 0) {
        /* Nowhere to put a status: complete it empty and count it. */
        atomic_fetch_add_explicit(&d->errors, 1, memory_order_relaxed);
        return 0;
    }
    struct iovec *last = &req->in[req->nin - 1];
    uint8_t *status = (uint8_t *)last->iov_base + last->iov_len - 1;
    uint64_t in_data = req->in_len - 1; /* writable bytes before the status */
    uint64_t written = 0;
    struct virtio_blk_outhdr h;
    uint8_t st;
    if (iov_to_buf(req->out, req->nout, 0, &h, sizeof(h)) < sizeof(h)) {
        st = VIRTIO_BLK_S_IOERR;
    } else {
        uint32_t type = le32toh(h.type);
        uint64_t sector = le64toh(h.sector);
        switch (type) {
        case VIRTIO_BLK_T_IN:
            st = blk_rw(b, req->in, req->nin, 0, in_data, sector, false);
            written = st == VIRTIO_BLK_S_OK ? in_data : 0;
            break;
        case VIRTIO_BLK_T_OUT:
            st = blk_rw(b, req->out, req->nout, sizeof(h), req->out_len - sizeof(h),
                        sector, true);
            break;
        case VIRTIO_BLK_T_FLUSH:
            st = blk_flush(b->disk) == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
            break;
        case VIRTIO_BLK_T_GET_ID:
            written = buf_to_iov(req->in, req->nin, 0, b->serial,
                                 MIN(in_data, sizeof(b->serial)));
            st = VIRTIO_BLK_S_OK;
            break;
        default:
            st = VIRTIO_BLK_S_UNSUPP;
            break;
        }
    }
    if (st != VIRTIO_BLK_S_OK)
        atomic_fetch_add_explicit(&d->errors, 1, memory_order_relaxed);
    *status = st;
    return (long)(written + 1);
}

static void blk_notify(struct virtio_dev *d, unsigned q)
{
    virtio_serve_queue(d, q, blk_request);
}

static void blk_nothing(struct virtio_dev *d) { (void)d; }

static const struct virtio_dev_ops blk_ops = {
    .device_id = VIRTIO_ID_BLOCK,
    .num_queues = 1,
    .features = blk_features,
    .config_read = blk_config_read,
    .notify = blk_notify,
    .activate = blk_nothing,
    .reset = blk_nothing,
};

int virtio_blk_new(struct virtio_dev **out, const struct virtio_blk_cfg *cfg)
{
    struct virtio_dev *d;
    int r = virtio_dev_alloc(&d, &blk_ops, "virtio-blk", sizeof(struct virtio_blk_config),
                             sizeof(struct vblk));
    if (r < 0)
        return r;
    struct vblk *b = d->priv;
    b->disk = cfg->disk;
    b->readonly = cfg->readonly;
    b->sectors = blk_size(cfg->disk) / SECTOR;
    memcpy(b->serial, cfg->serial, sizeof(b->serial));
    *out = d;
    return 0;
}
