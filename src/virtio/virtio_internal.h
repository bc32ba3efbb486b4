/* virtio_internal — what the virtio files share among themselves but the
 * rest of the VMM has no business calling. */
#ifndef CORRAL_VIRTIO_INTERNAL_H
#define CORRAL_VIRTIO_INTERNAL_H

#include <stddef.h>

#include "virtio.h"

/* Every device is allocated here: the virtio_dev, the per-queue kick
 * contexts the transport needs and the device type's private state in one
 * block, so virtio_dev_free() is a single free(). */
int virtio_dev_alloc(struct virtio_dev **out, const struct virtio_dev_ops *ops,
                     const char *name, unsigned config_len, size_t priv_size);

/* What the I/O loop hands a queue's kick handler: which device and queue. */
struct virtio_kick {
    struct virtio_dev *d;
    unsigned q;
};

struct virtio_box {
    struct virtio_dev dev;
    struct virtio_kick kick[VIRTIO_MAX_QUEUES];
    _Alignas(max_align_t) unsigned char priv[];
};

static inline struct virtio_box *virtio_box_of(struct virtio_dev *d)
{
    return (struct virtio_box *)((char *)d - offsetof(struct virtio_box, dev));
}

/* Sets `why` (VIRTIO_MMIO_INT_*) in InterruptStatus and interrupts the
 * guest; d->lock held. */
void virtio_raise_irq(struct virtio_dev *d, uint32_t why);

/* The register block (mmio.c), and the device reset a Status write of 0
 * does; d->lock held. */
extern const struct io_ops virtio_mmio_ops;
void virtio_reset(struct virtio_dev *d);

/* Whether requests on queue q may be processed now: the driver is done
 * setting up (DRIVER_OK), the queue is live and the device not broken. */
bool virtio_queue_live(const struct virtio_dev *d, unsigned q);

/* Gives back the chain virtq_pop() returned last, unused (e.g. the tap had
 * no frame for an rx buffer after all); the guest still owns nothing. */
void virtq_unpop(struct virtq *q);

/* Describes bytes [skip, skip+len) of a segment list in dst (at most max
 * entries); returns how many entries it used.  Stops early if src is short. */
unsigned iov_slice(const struct iovec *src, unsigned n, size_t skip, size_t len,
                   struct iovec *dst, unsigned max);

/* Pops every pending request on queue q and hands it to fn, which returns
 * the bytes it wrote into the chain (or a negative errno to stop, with the
 * chain given back).  Marks the device broken on a bad chain; signals used
 * buffers once at the end.  Returns the number of requests completed. */
typedef long (*virtio_req_fn)(struct virtio_dev *d, struct virtq_req *req);
unsigned virtio_drain_queue(struct virtio_dev *d, unsigned q, virtio_req_fn fn,
                            unsigned budget);
/* A notified queue's handler: at most VIRTIO_PASS_BUDGET requests, then,
 * if that used the budget up, its kick eventfd is signalled again, so a
 * guest that keeps publishing buffers cannot hold the I/O loop (which
 * also serves the control API, signals and every other device): the loop
 * comes back to the queue after everything else that is ready.  Without
 * an ioeventfd the notify runs on the guest's own vCPU and drains all. */
unsigned virtio_serve_queue(struct virtio_dev *d, unsigned q, virtio_req_fn fn);

#endif
