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

#include "snap/snap.h"

#define MMIO_MAGIC 0x74726976u   /* "virt" */
#define MMIO_VERSION 2u
#define MMIO_VENDOR 0x4c525243u  /* "CRRL", as the hypercall channel */

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

void virtio_reset(struct virtio_dev *d)
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
        if (v == 0 || v > VIRTQ_MAX_SIZE || (v & (v - 1))) {
            /* A split virtqueue's size is a power of 2 (virtio 1.2, 2.7). */
            char why[80];
            snprintf(why, sizeof(why), "queue size %u is not a power of 2 in 1..%u", v, VIRTQ_MAX_SIZE);
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
        virtio_reset(d);
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

const struct io_ops virtio_mmio_ops = { .read = mmio_read, .write = mmio_write };

void virtio_save(struct virtio_dev *d, struct snap_writer *w)
{
    pthread_mutex_lock(&d->lock);
    const struct virtio_mmio_state *s = &d->s;
    snap_u32(w, d->ops->device_id);
    snap_u32(w, d->ops->num_queues);
    snap_u32(w, s->status);
    snap_u32(w, s->dev_feat_sel);
    snap_u32(w, s->drv_feat_sel);
    snap_u64(w, s->driver_features);
    snap_u32(w, s->queue_sel);
    snap_u32(w, s->interrupt_status);
    snap_u32(w, s->config_generation);
    snap_u8(w, d->broken);
    for (unsigned i = 0; i < d->ops->num_queues; i++) {
        const struct virtq_state *q = &d->vq[i].s;
        snap_u16(w, q->num);
        snap_u8(w, q->ready);
        snap_u64(w, q->desc_gpa);
        snap_u64(w, q->avail_gpa);
        snap_u64(w, q->used_gpa);
        snap_u16(w, q->last_avail);
        snap_u16(w, q->used_idx);
    }
    pthread_mutex_unlock(&d->lock);
}

int virtio_load(struct virtio_dev *d, struct snap_cursor *c)
{
    char what[48];
    snprintf(what, sizeof(what), "%s device", d->name);
    if (snap_get_u32(c) != d->ops->device_id || snap_get_u32(c) != d->ops->num_queues)
        return fail(EINVAL, "the snapshot's %s is another kind of device", what);
    struct virtio_mmio_state s = { 0 };
    s.status = snap_get_u32(c);
    s.dev_feat_sel = snap_get_u32(c);
    s.drv_feat_sel = snap_get_u32(c);
    s.driver_features = snap_get_u64(c);
    s.queue_sel = snap_get_u32(c);
    s.interrupt_status = snap_get_u32(c);
    s.config_generation = snap_get_u32(c);
    uint8_t broken = snap_get_u8(c);
    struct virtq_state q[VIRTIO_MAX_QUEUES] = { 0 };
    for (unsigned i = 0; i < d->ops->num_queues; i++) {
        q[i].num = snap_get_u16(c);
        uint8_t ready = snap_get_u8(c);
        q[i].desc_gpa = snap_get_u64(c);
        q[i].avail_gpa = snap_get_u64(c);
        q[i].used_gpa = snap_get_u64(c);
        q[i].last_avail = snap_get_u16(c);
        q[i].used_idx = snap_get_u16(c);
        /* What queue_config and queue_ready let a driver set up. */
        if (ready > 1 || q[i].num == 0 || q[i].num > VIRTQ_MAX_SIZE || (q[i].num & (q[i].num - 1)))
            c->bad = true;
        q[i].ready = ready;
    }
    if (s.status > 0xff || broken > 1 || (s.interrupt_status & ~3u) ||
        ((s.status & VIRTIO_CONFIG_S_FEATURES_OK) && (s.driver_features & ~offered_features(d))))
        c->bad = true;
    int r = snap_cursor_done(c, what);
    if (r < 0)
        return r;
    pthread_mutex_lock(&d->lock);
    d->s = s;
    d->broken = broken;
    uint64_t f = (s.status & VIRTIO_CONFIG_S_FEATURES_OK) ? s.driver_features : 0;
    for (unsigned i = 0; i < d->ops->num_queues && r == 0; i++) {
        struct virtq *vq = &d->vq[i];
        vq->s = q[i];
        vq->event_idx = f & (1ULL << VIRTIO_RING_F_EVENT_IDX);
        vq->indirect = f & (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
        vq->signalled_valid = false;
        if (vq->s.ready && !virtq_check_layout(vq))
            r = fail(EINVAL, "the snapshot's %s has queue %u outside guest memory", what, i);
    }
    if (r == 0 && (s.status & VIRTIO_CONFIG_S_DRIVER_OK) && !d->broken) {
        d->ops->activate(d);
        /* Buffers published before the snapshot: served by the I/O loop,
         * a budget per pass, never here, where rings a snapshot made up
         * (a device writing over its own avail ring) could keep it going
         * for ever.  Without an ioeventfd the guest's next notify does it. */
        uint64_t one = 1;
        for (unsigned i = 0; i < d->ops->num_queues; i++)
            if (virtio_queue_live(d, i) && d->kick_fd[i] >= 0)
                (void)!write(d->kick_fd[i], &one, sizeof(one));
    }
    pthread_mutex_unlock(&d->lock);
    return r;
}
