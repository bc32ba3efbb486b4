/* virtio-rng (virtio 1.2 section 5.4): the guest posts writable buffers and
 * gets them back filled from the host's getrandom(). */
#include "virtio_internal.h"

#include <errno.h>
#include <linux/virtio_ids.h>
#include <sys/random.h>

/* Per request, so one huge buffer can't keep the I/O thread busy. */
#define RNG_MAX_PER_REQ (64 * 1024)

static long rng_fill(const struct iovec *iov, unsigned n)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < RNG_MAX_PER_REQ; i++) {
        size_t want = MIN(iov[i].iov_len, RNG_MAX_PER_REQ - done);
        size_t got = 0;
        while (got < want) {
            ssize_t r = getrandom((uint8_t *)iov[i].iov_base + got, want - got, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return (long)(done + got);
            got += (size_t)r;
        }
        done += got;
    }
    return (long)done;
}

static long rng_request(struct virtio_dev *d, struct virtq_req *req)
{
    long n = rng_fill(req->in, req->nin);
    if (n == 0)
        atomic_fetch_add_explicit(&d->errors, 1, memory_order_relaxed);
    return n;
}

static void rng_notify(struct virtio_dev *d, unsigned q)
{
    virtio_serve_queue(d, q, rng_request);
}

static void rng_nothing(struct virtio_dev *d) { (void)d; }

static const struct virtio_dev_ops rng_ops = {
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 1,
    .notify = rng_notify,
    .activate = rng_nothing,
    .reset = rng_nothing,
};

int virtio_rng_new(struct virtio_dev **out)
{
    return virtio_dev_alloc(out, &rng_ops, "virtio-rng", 0, 0);
}
