/* What every virtio device type shares: allocation, the request loop,
 * interrupts and the broken state.  The register block is in mmio.c. */
#include "virtio_internal.h"

#include <errno.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <stddef.h>
#include <string.h>

int virtio_dev_alloc(struct virtio_dev **out, const struct virtio_dev_ops *ops,
                     const char *name, unsigned config_len, size_t priv_size)
{
    struct virtio_box *b = calloc(1, sizeof(*b) + priv_size);
    if (!b)
        return fail(ENOMEM, "%s: out of memory", name);
    struct virtio_dev *d = &b->dev;
    d->ops = ops;
    d->name = name;
    d->config_len = config_len;
    d->priv = b->priv;
    d->irq_fd = -1;
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
        d->kick_fd[q] = -1;
        b->kick[q] = (struct virtio_kick){ .d = d, .q = q };
        d->vq[q].s.num = VIRTQ_MAX_SIZE;
    }
    pthread_mutex_init(&d->lock, NULL);
    atomic_init(&d->requests, 0);
    atomic_init(&d->errors, 0);
    *out = d;
    return 0;
}

void virtio_dev_free(struct virtio_dev *d)
{
    if (!d)
        return;
    if (d->host)
        virtio_mmio_remove(d);
    pthread_mutex_destroy(&d->lock);
    free(virtio_box_of(d));
}

bool virtio_queue_live(const struct virtio_dev *d, unsigned q)
{
    return (d->s.status & VIRTIO_CONFIG_S_DRIVER_OK) && !d->broken &&
           q < d->ops->num_queues && d->vq[q].s.ready;
}

void virtio_raise_irq(struct virtio_dev *d, uint32_t why)
{
    d->s.interrupt_status |= why;
    if (d->irq_fd >= 0) {
        uint64_t one = 1;
        if (write(d->irq_fd, &one, sizeof(one)) == sizeof(one))
            return;
    }
    /* No irqfd: a pulse gives the guest the same edge the irqfd would. */
    d->host->set_irq(d->host, d->irq, 1);
    d->host->set_irq(d->host, d->irq, 0);
}

void virtio_signal_used(struct virtio_dev *d, unsigned q)
{
    if (q < d->ops->num_queues && virtq_should_notify(&d->vq[q]))
        virtio_raise_irq(d, VIRTIO_MMIO_INT_VRING);
}

void virtio_mark_broken(struct virtio_dev *d, const char *why)
{
    atomic_fetch_add_explicit(&d->errors, 1, memory_order_relaxed);
    if (d->broken)
        return;
    d->broken = true;
    log_guest(LOG_WARN, "%s: %s; device needs reset", d->name, why);
    d->s.status |= VIRTIO_CONFIG_S_NEEDS_RESET;
    /* The driver learns of NEEDS_RESET through a configuration interrupt. */
    if (d->host)
        virtio_raise_irq(d, VIRTIO_MMIO_INT_CONFIG);
}

unsigned virtio_drain_queue(struct virtio_dev *d, unsigned q, virtio_req_fn fn,
                            unsigned budget)
{
    struct virtq *vq = &d->vq[q];
    struct virtq_req req;
    unsigned done = 0;
    while (done < budget && virtio_queue_live(d, q)) {
        int r = virtq_pop(vq, &req);
        if (r < 0) {
            virtio_mark_broken(d, err_msg());
            break;
        }
        if (r == 0)
            break;
        long n = fn(d, &req);
        if (n < 0) {
            virtq_unpop(vq);
            break;
        }
        /* What the device wrote, for a migration's dirty log (the whole
         * writable part: cheaper than following N bytes through it). */
        for (unsigned i = 0; i < req.nin && n > 0; i++)
            gm_mark_dirty(vq->mem, req.in[i].iov_base, req.in[i].iov_len);
        virtq_push(vq, req.head, (uint32_t)MIN((uint64_t)n, req.in_len));
        done++;
    }
    if (done) {
        atomic_fetch_add_explicit(&d->requests, done, memory_order_relaxed);
        virtio_signal_used(d, q);
    }
    return done;
}

unsigned virtio_serve_queue(struct virtio_dev *d, unsigned q, virtio_req_fn fn)
{
    if (d->kick_fd[q] < 0)    /* on the guest's own vCPU: it holds up only itself */
        return virtio_drain_queue(d, q, fn, UINT32_MAX);
    unsigned done = virtio_drain_queue(d, q, fn, VIRTIO_PASS_BUDGET);
    if (done == VIRTIO_PASS_BUDGET) {
        uint64_t one = 1;    /* come back after what else is ready */
        (void)!write(d->kick_fd[q], &one, sizeof(one));
    }
    return done;
}
