/* The virtio-mmio transport, version 2 (virtio 1.2 section 4.2).
 *
 * Register accesses come from vCPU threads; queue work runs on the I/O
 * loop when KVM can turn QueueNotify writes into eventfd signals, and right
 * in the MMIO write otherwise.  Either way it runs under d->lock, so a
 * device never sees a register change in the middle of a request.
 */
#include "virtio_internal.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#define MMIO_MAGIC 0x74726976u   /* "virt" */
#define MMIO_VERSION 2u
#define MMIO_VENDOR 0x4c525243u  /* "CRRL", as the hypercall channel */

/* One GSI per slot, skipping the legacy ISA lines in use: PIT 0, i8042 1
 * and 12, COM1 4, RTC 8, and 2 (the PIC cascade) and 3 (COM2) and 13 (FPU). */
static const uint8_t slot_irq[] = { VIRTIO_FIRST_IRQ, 6, 7, 9, 10, 11, 14, 15,
                                    16, 17, 18, 19, 20, 21, 22, 23 };
_Static_assert(ARRAY_SIZE(slot_irq) == VIRTIO_MAX_DEVICES, "one IRQ per slot");

static uint64_t offered_features(struct virtio_dev *d)
{
    uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
                 (1ULL << VIRTIO_RING_F_EVENT_IDX);
    return f | (d->ops->features ? d->ops->features(d) : 0);
}

static struct virtq *selected_queue(struct virtio_dev *d)
{
    return d->s.queue_sel < d->ops->num_queues ? &d->vq[d->s.queue_sel] : NULL;
}

static void device_reset(struct virtio_dev *d)
{
    for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
        struct virtq *q = &d->vq[i];
        *q = (struct virtq){ .mem = q->mem, .s.num = VIRTQ_MAX_SIZE };
    }
    uint32_t gen = d->s.config_generation;
    d->s = (struct virtio_mmio_state){ .config_generation = gen };
    d->broken = false;
    d->ops->reset(d);
}

static uint32_t half(uint64_t v, uint32_t sel)
{
    return sel == 0 ? (uint32_t)v : sel == 1 ? (uint32_t)(v >> 32) : 0;
}

static void set_half(uint64_t *v, bool high, uint32_t x)
{
    *v = high ? (*v & 0xffffffffULL) | ((uint64_t)x << 32)
              : (*v & ~0xffffffffULL) | x;
}

static uint32_t reg_read(struct virtio_dev *d, uint64_t off)
{
    struct virtq *q = selected_queue(d);
    switch (off) {
    case VIRTIO_MMIO_MAGIC_VALUE: return MMIO_MAGIC;
    case VIRTIO_MMIO_VERSION: return MMIO_VERSION;
    case VIRTIO_MMIO_DEVICE_ID: return d->ops->device_id;
    case VIRTIO_MMIO_VENDOR_ID: return MMIO_VENDOR;
    case VIRTIO_MMIO_DEVICE_FEATURES: return half(offered_features(d), d->s.dev_feat_sel);
    case VIRTIO_MMIO_QUEUE_NUM_MAX: return q ? VIRTQ_MAX_SIZE : 0;
    case VIRTIO_MMIO_QUEUE_NUM: return q ? q->s.num : 0;
    case VIRTIO_MMIO_QUEUE_READY: return q ? q->s.ready : 0;
    case VIRTIO_MMIO_INTERRUPT_STATUS: return d->s.interrupt_status;
    case VIRTIO_MMIO_STATUS: return d->s.status;
    case VIRTIO_MMIO_QUEUE_DESC_LOW: return q ? half(q->s.desc_gpa, 0) : 0;
    case VIRTIO_MMIO_QUEUE_DESC_HIGH: return q ? half(q->s.desc_gpa, 1) : 0;
    case VIRTIO_MMIO_QUEUE_AVAIL_LOW: return q ? half(q->s.avail_gpa, 0) : 0;
    case VIRTIO_MMIO_QUEUE_AVAIL_HIGH: return q ? half(q->s.avail_gpa, 1) : 0;
    case VIRTIO_MMIO_QUEUE_USED_LOW: return q ? half(q->s.used_gpa, 0) : 0;
    case VIRTIO_MMIO_QUEUE_USED_HIGH: return q ? half(q->s.used_gpa, 1) : 0;
    /* No shared memory regions: the spec's "absent" answer is all-ones. */
    case VIRTIO_MMIO_SHM_LEN_LOW: case VIRTIO_MMIO_SHM_LEN_HIGH:
    case VIRTIO_MMIO_SHM_BASE_LOW: case VIRTIO_MMIO_SHM_BASE_HIGH: return 0xffffffffu;
    case VIRTIO_MMIO_CONFIG_GENERATION: return d->s.config_generation;
    default: return 0;
    }
}

static void queue_ready(struct virtio_dev *d, struct virtq *q, uint32_t v)
{
    if (!v) {
        q->s.ready = false;
        return;
    }
    if (q->s.ready)
        return;
    if (!virtq_check_layout(q)) {
        char why[96];
        snprintf(why, sizeof(why), "queue %u of size %u is misaligned or outside RAM",
                 d->s.queue_sel, q->s.num);
        virtio_mark_broken(d, why);
        return;
    }
    bool negotiated = d->s.status & VIRTIO_CONFIG_S_FEATURES_OK;
    uint64_t f = negotiated ? d->s.driver_features : 0;
    q->event_idx = f & (1ULL << VIRTIO_RING_F_EVENT_IDX);
    q->indirect = f & (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
    q->s.last_avail = q->s.used_idx = 0;
    q->signalled_valid = false;
    q->s.ready = true;
}

static void queue_config(struct virtio_dev *d, struct virtq *q, uint64_t off, uint32_t v)
{
    /* The driver may not touch a live queue's set-up; refusing keeps the
     * layout that was checked when it went live. */
    if (!q || q->s.ready)
        return;
    switch (off) {
    case VIRTIO_MMIO_QUEUE_NUM:
        if (v == 0 || v > VIRTQ_MAX_SIZE) {
            char why[64];
            snprintf(why, sizeof(why), "queue size %u not in 1..%u", v, VIRTQ_MAX_SIZE);
            virtio_mark_broken(d, why);
        } else {
            q->s.num = (uint16_t)v;
        }
        break;
    case VIRTIO_MMIO_QUEUE_DESC_LOW: case VIRTIO_MMIO_QUEUE_DESC_HIGH:
        set_half(&q->s.desc_gpa, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
        break;
    case VIRTIO_MMIO_QUEUE_AVAIL_LOW: case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
        set_half(&q->s.avail_gpa, off == VIRTIO_MMIO_QUEUE_AVAIL_HIGH, v);
        break;
    case VIRTIO_MMIO_QUEUE_USED_LOW: case VIRTIO_MMIO_QUEUE_USED_HIGH:
        set_half(&q->s.used_gpa, off == VIRTIO_MMIO_QUEUE_USED_HIGH, v);
        break;
    }
}

static void queue_notify(struct virtio_dev *d, uint32_t q)
{
    if (q >= d->ops->num_queues)
        return;
    if (d->kick_fd[q] >= 0) {
        /* KVM passed this one on after all: keep queue work on the loop. */
        uint64_t one = 1;
        (void)!write(d->kick_fd[q], &one, sizeof(one));
    } else if (virtio_queue_live(d, q)) {
        d->ops->notify(d, q);
    }
}

static void set_status(struct virtio_dev *d, uint32_t v)
{
    if (v == 0) {
        device_reset(d);
        return;
    }
    uint32_t added = v & ~d->s.status;
    if (added & VIRTIO_CONFIG_S_FEATURES_OK) {
        uint64_t f = d->s.driver_features;
        /* Refusing leaves the bit clear; the driver reads it back and gives up. */
        if ((f & ~offered_features(d)) || !(f & (1ULL << VIRTIO_F_VERSION_1)))
            added &= ~VIRTIO_CONFIG_S_FEATURES_OK;
    }
    if ((added & VIRTIO_CONFIG_S_DRIVER_OK) &&
        !((d->s.status | added) & VIRTIO_CONFIG_S_FEATURES_OK)) {
        virtio_mark_broken(d, "DRIVER_OK without FEATURES_OK");
        added &= ~VIRTIO_CONFIG_S_DRIVER_OK;
    }
    /* Bits only accumulate until reset: the driver may not clear one. */
    d->s.status |= added & 0xff;
    if ((added & VIRTIO_CONFIG_S_DRIVER_OK) && !d->broken) {
        d->ops->activate(d);
        /* Buffers added before DRIVER_OK got no service yet. */
        for (unsigned q = 0; q < d->ops->num_queues; q++)
            if (virtio_queue_live(d, q))
                d->ops->notify(d, q);
    }
}

static void reg_write(struct virtio_dev *d, uint64_t off, uint32_t v)
{
    switch (off) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL: d->s.dev_feat_sel = v; break;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL: d->s.drv_feat_sel = v; break;
    case VIRTIO_MMIO_DRIVER_FEATURES:
        /* Features are fixed once FEATURES_OK was accepted. */
        if (d->s.drv_feat_sel < 2 && !(d->s.status & VIRTIO_CONFIG_S_FEATURES_OK))
            set_half(&d->s.driver_features, d->s.drv_feat_sel == 1, v);
        break;
    case VIRTIO_MMIO_QUEUE_SEL: d->s.queue_sel = v; break;
    case VIRTIO_MMIO_QUEUE_READY:
        if (selected_queue(d))
            queue_ready(d, selected_queue(d), v);
        break;
    case VIRTIO_MMIO_QUEUE_NOTIFY: queue_notify(d, v); break;
    case VIRTIO_MMIO_INTERRUPT_ACK: d->s.interrupt_status &= ~v; break;
    case VIRTIO_MMIO_STATUS: set_status(d, v); break;
    case VIRTIO_MMIO_QUEUE_NUM:
    case VIRTIO_MMIO_QUEUE_DESC_LOW: case VIRTIO_MMIO_QUEUE_DESC_HIGH:
    case VIRTIO_MMIO_QUEUE_AVAIL_LOW: case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
    case VIRTIO_MMIO_QUEUE_USED_LOW: case VIRTIO_MMIO_QUEUE_USED_HIGH:
        queue_config(d, selected_queue(d), off, v);
        break;
    default: break; /* read-only or unknown: ignored */
    }
}

/* Config space: any 1/2/4/8-byte access that fits; the rest reads 0. */
static bool config_access_ok(const struct virtio_dev *d, uint64_t off, unsigned size)
{
    return (size == 1 || size == 2 || size == 4 || size == 8) &&
           off < d->config_len && size <= d->config_len - off;
}

static void mmio_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct virtio_dev *d = opaque;
    memset(data, 0, size);
    pthread_mutex_lock(&d->lock);
    if (!d->host) {
        /* removed: nothing to answer */
    } else if (off >= VIRTIO_MMIO_CONFIG) {
        off -= VIRTIO_MMIO_CONFIG;
        if (config_access_ok(d, off, size) && d->ops->config_read)
            d->ops->config_read(d, off, data, size);
    } else if (size == 4 && off % 4 == 0) {
        uint32_t v = htole32(reg_read(d, off));
        memcpy(data, &v, 4);
    }
    pthread_mutex_unlock(&d->lock);
}

static void mmio_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct virtio_dev *d = opaque;
    pthread_mutex_lock(&d->lock);
    if (!d->host) {
        /* removed */
    } else if (off >= VIRTIO_MMIO_CONFIG) {
        off -= VIRTIO_MMIO_CONFIG;
        if (config_access_ok(d, off, size) && d->ops->config_write)
            d->ops->config_write(d, off, data, size);
    } else if (size == 4 && off % 4 == 0) {
        uint32_t v;
        memcpy(&v, data, 4);
        reg_write(d, off, le32toh(v));
    }
    pthread_mutex_unlock(&d->lock);
}

static const struct io_ops virtio_mmio_ops = { .read = mmio_read, .write = mmio_write };

static void on_kick(void *arg, uint32_t events)
{
    struct virtio_kick *k = arg;
    struct virtio_dev *d = k->d;
    uint64_t n;
    (void)events;
    (void)!read(d->kick_fd[k->q], &n, sizeof(n)); /* drain; a spurious wake is harmless */
    pthread_mutex_lock(&d->lock);
    if (virtio_queue_live(d, k->q))
        d->ops->notify(d, k->q);
    pthread_mutex_unlock(&d->lock);
}

static void release_fds(struct virtio_dev *d)
{
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
        if (d->kick_fd[q] >= 0) {
            evloop_del(d->host->loop, d->kick_fd[q]);
            close(d->kick_fd[q]);
            d->kick_fd[q] = -1;
        }
    }
    if (d->irq_fd >= 0)
        close(d->irq_fd);
    d->irq_fd = -1;
}

/* irqfd and ioeventfds are optimisations: without them interrupts are
 * pulses through set_irq and QueueNotify is handled in the MMIO exit. */
static int wire_eventfds(struct virtio_dev *d)
{
    struct dev_host *h = d->host;
    d->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->irq_fd >= 0 && (!h->irqfd || h->irqfd(h, d->irq_fd, d->irq) < 0)) {
        close(d->irq_fd);
        d->irq_fd = -1;
    }
    for (unsigned q = 0; q < d->ops->num_queues; q++) {
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
            return fail(errno, "%s: eventfd: %s", d->name, strerror(errno));
        if (!h->ioeventfd ||
            h->ioeventfd(h, fd, d->mmio_base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q) < 0) {
            close(fd);
            continue;
        }
        d->kick_fd[q] = fd;
        /* From here KVM signals fd, so the loop must listen or kicks are lost. */
        int r = evloop_add(h->loop, fd, EPOLLIN, on_kick, &virtio_box_of(d)->kick[q]);
        if (r < 0)
            return r;
    }
    return 0;
}

int virtio_mmio_add(struct virtio_dev *d, struct dev_host *host, struct bus *mmio,
                    unsigned slot, char *cmdline, size_t cap)
{
    if (slot >= VIRTIO_MAX_DEVICES)
        return fail(EINVAL, "%s: virtio slot %u out of range", d->name, slot);
    if (d->host)
        return fail(EBUSY, "%s: already added", d->name);
    uint64_t base = VIRTIO_MMIO_BASE + (uint64_t)slot * VIRTIO_MMIO_SIZE;
    char arg[64];
    int n = snprintf(arg, sizeof(arg), " virtio_mmio.device=4K@0x%llx:%u",
                     (unsigned long long)base, slot_irq[slot]);
    size_t len = strnlen(cmdline, cap);
    if (len + (size_t)n >= cap)
        return fail(ENOSPC, "%s: kernel command line too long", d->name);
    d->host = host;
    d->mmio_base = base;
    d->irq = slot_irq[slot];
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        d->vq[q].mem = host->mem;
    int r = wire_eventfds(d);
    if (r >= 0 && d->ops->attach)
        r = d->ops->attach(d);
    if (r < 0)
        goto undo_fds;
    r = bus_add(mmio, base, VIRTIO_MMIO_SIZE, d->name, &virtio_mmio_ops, d);
    if (r < 0)
        goto undo_attach;
    memcpy(cmdline + len, arg, (size_t)n + 1);
    return 0;
undo_attach:
    if (d->ops->detach)
        d->ops->detach(d);
undo_fds:
    release_fds(d);
    d->host = NULL;
    return r;
}

void virtio_mmio_remove(struct virtio_dev *d)
{
    if (!d->host)
        return;
    pthread_mutex_lock(&d->lock);
    device_reset(d);
    pthread_mutex_unlock(&d->lock);
    if (d->ops->detach)
        d->ops->detach(d);
    release_fds(d);
    pthread_mutex_lock(&d->lock);
    d->host = NULL;
    pthread_mutex_unlock(&d->lock);
}
