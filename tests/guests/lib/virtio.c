/* virtio.c — virtio-mmio transport and split virtqueues (see virtio.h). */
#include "virtio.h"

#define DEFAULT_MMIO_BASE 0xd0000000u /* corral's first slot (docs/guest-abi.md) */
#define DEFAULT_MMIO_SLOTS 16

const char *virtio_id_name(uint32_t id)
{
    switch (id) {
    case VIRTIO_ID_NET: return "virtio-net";
    case VIRTIO_ID_BLOCK: return "virtio-blk";
    case VIRTIO_ID_CONSOLE: return "virtio-console";
    case VIRTIO_ID_RNG: return "virtio-rng";
    }
    return "virtio";
}

static void on_irq(unsigned vector, void *ctx)
{
    struct virtio_dev *d = ctx;
    (void)vector;
    uint32_t st = vm_read(d, VM_INTERRUPT_STATUS);
    if (st)
        vm_write(d, VM_INTERRUPT_ACK, st);
    d->irqs++;
}

static bool probe_slot(uint64_t addr, unsigned irq, uint32_t want, struct virtio_dev *dev, bool quiet)
{
    uint32_t magic = mmio_read32(addr + VM_MAGIC);
    if (magic != VIRTIO_MMIO_MAGIC) {
        if (!quiet)
            kprintf("virtio: %#lx: bad magic %#x\n", addr, magic);
        return false;
    }
    uint32_t version = mmio_read32(addr + VM_VERSION);
    uint32_t id = mmio_read32(addr + VM_DEVICE_ID);
    if (id == 0)
        return false; /* empty transport */
    if (!quiet || id == want)
        kprintf("virtio: %#lx irq %u: %s (device id %u), version %u, vendor %#x\n", addr, irq,
                virtio_id_name(id), id, version, mmio_read32(addr + VM_VENDOR_ID));
    if (id != want)
        return false;
    if (version != 2) {
        kprintf("virtio: %#lx: version %u is not the modern (2) interface%s\n", addr, version,
                version == 1 ? " (QEMU: -global virtio-mmio.force-legacy=false)" : "");
        return false;
    }
    *dev = (struct virtio_dev){ .base = addr, .irq = irq, .id = id };
    return true;
}

bool virtio_find(uint32_t device_id, struct virtio_dev *dev)
{
    struct virtio_mmio_slot slots[32];
    int n = cmdline_virtio_mmio(slots, ARRAY_SIZE(slots));
    for (int i = 0; i < n; i++)
        if (slots[i].addr < (1ull << 32) && probe_slot(slots[i].addr, slots[i].irq, device_id, dev, false))
            return true;
    if (n == 0) {
        kprintf("virtio: no virtio_mmio.device= on the command line; scanning %#x\n", DEFAULT_MMIO_BASE);
        for (unsigned i = 0; i < DEFAULT_MMIO_SLOTS; i++)
            if (probe_slot(DEFAULT_MMIO_BASE + 0x1000ull * i, 5 + i, device_id, dev, true))
                return true;
    }
    kprintf("virtio: no %s (device id %u) found\n", virtio_id_name(device_id), device_id);
    return false;
}

uint8_t virtio_status(const struct virtio_dev *dev) { return (uint8_t)vm_read(dev, VM_STATUS); }

bool virtio_has(const struct virtio_dev *dev, unsigned feature) { return dev->features & BIT64(feature); }

void virtio_reset(struct virtio_dev *dev)
{
    vm_write(dev, VM_STATUS, 0);
    /* The reset is complete when status reads back 0 (4.2.3.1.1). */
    for (int i = 0; i < 1000 && vm_read(dev, VM_STATUS) != 0; i++)
        wait_a_bit();
}

bool virtio_start(struct virtio_dev *dev, uint64_t want, uint64_t need)
{
    virtio_reset(dev);
    vm_write(dev, VM_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    vm_write(dev, VM_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    vm_write(dev, VM_DEVICE_FEATURES_SEL, 0);
    uint64_t lo = vm_read(dev, VM_DEVICE_FEATURES);
    vm_write(dev, VM_DEVICE_FEATURES_SEL, 1);
    uint64_t hi = vm_read(dev, VM_DEVICE_FEATURES);
    dev->offered = hi << 32 | lo;
    need |= BIT64(VIRTIO_F_VERSION_1);
    if ((dev->offered & need) != need) {
        kprintf("virtio: device offers features %#lx, missing required %#lx\n", dev->offered,
                need & ~dev->offered);
        vm_write(dev, VM_STATUS, VIRTIO_STATUS_FAILED);
        return false;
    }
    dev->features = dev->offered & (want | need);
    vm_write(dev, VM_DRIVER_FEATURES_SEL, 0);
    vm_write(dev, VM_DRIVER_FEATURES, (uint32_t)dev->features);
    vm_write(dev, VM_DRIVER_FEATURES_SEL, 1);
    vm_write(dev, VM_DRIVER_FEATURES, (uint32_t)(dev->features >> 32));
    vm_write(dev, VM_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    if (!(virtio_status(dev) & VIRTIO_STATUS_FEATURES_OK)) {
        kprintf("virtio: device refused features %#lx\n", dev->features);
        vm_write(dev, VM_STATUS, VIRTIO_STATUS_FAILED);
        return false;
    }
    if (!tick_running())
        tick_start();
    if (dev->irq < ioapic_pins()) {
        irq_set_handler(VEC_IOAPIC_BASE + dev->irq, on_irq, dev);
        ioapic_route(dev->irq, (uint8_t)(VEC_IOAPIC_BASE + dev->irq), false, false);
    }
    return true;
}

void virtio_driver_ok(struct virtio_dev *dev)
{
    vm_write(dev, VM_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                             VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

void virtio_print_features(const struct virtio_dev *dev, const char *const *names, unsigned n)
{
    static const char *const common[] = {
        [VIRTIO_F_INDIRECT_DESC] = "INDIRECT_DESC", [VIRTIO_F_EVENT_IDX] = "EVENT_IDX",
        [VIRTIO_F_VERSION_1] = "VERSION_1", [33] = "ACCESS_PLATFORM", [34] = "RING_PACKED",
        [35] = "IN_ORDER", [36] = "ORDER_PLATFORM", [37] = "SR_IOV", [38] = "NOTIFICATION_DATA",
    };
    char line[400];
    int len = ksnprintf(line, sizeof(line), "virtio: offered %#lx, negotiated", dev->offered);
    for (unsigned b = 0; b < 64; b++) {
        if (!(dev->features & BIT64(b)))
            continue;
        const char *name = b < n && names[b] ? names[b] : b < ARRAY_SIZE(common) ? common[b] : NULL;
        if (len < (int)sizeof(line))
            len += name ? ksnprintf(line + len, sizeof(line) - (size_t)len, " %s", name)
                        : ksnprintf(line + len, sizeof(line) - (size_t)len, " bit%u", b);
    }
    kprintf("%s\n", line);
}

void virtio_feature_option(const char *key, unsigned bit, uint64_t *want, uint64_t *need)
{
    /* "noKEY" with the underscores dropped (noindirect, noeventidx) means off. */
    char off[32] = "no";
    size_t n = 2;
    for (const char *k = key; *k && n < sizeof(off) - 1; k++)
        if (*k != '_')
            off[n++] = *k;
    off[n] = 0;
    if (cmdline_has(off))
        return;
    char v[8] = "auto";
    if (cmdline_get(key, v, sizeof(v)) && (v[0] == 0 || strcmp(v, "on") == 0)) {
        *want |= BIT64(bit);
        *need |= BIT64(bit);
    } else if (strcmp(v, "auto") == 0) {
        *want |= BIT64(bit);
    } else if (strcmp(v, "off") != 0) {
        kprintf("virtio: %s=%s: expected on, off or auto; using auto\n", key, v);
        *want |= BIT64(bit);
    }
}

/* ---- config space: natural-width accesses, 64-bit ones generation-checked ---- */

uint8_t virtio_cfg8(const struct virtio_dev *d, unsigned off) { return mmio_read8(d->base + VM_CONFIG + off); }
uint16_t virtio_cfg16(const struct virtio_dev *d, unsigned off) { return mmio_read16(d->base + VM_CONFIG + off); }
uint32_t virtio_cfg32(const struct virtio_dev *d, unsigned off) { return mmio_read32(d->base + VM_CONFIG + off); }

uint64_t virtio_cfg64(const struct virtio_dev *d, unsigned off)
{
    uint32_t gen, lo, hi;
    int tries = 0;
    do {
        gen = vm_read(d, VM_CONFIG_GENERATION);
        lo = virtio_cfg32(d, off);
        hi = virtio_cfg32(d, off + 4);
    } while (vm_read(d, VM_CONFIG_GENERATION) != gen && ++tries < 10);
    return (uint64_t)hi << 32 | lo;
}

/* ---- virtqueues -------------------------------------------------------- */

static volatile uint16_t *used_event(struct virtq *vq) { return &vq->avail->ring[vq->size]; }
static volatile uint16_t *avail_event(struct virtq *vq) { return (volatile uint16_t *)&vq->used->ring[vq->size]; }

bool virtq_init(struct virtq *vq, struct virtio_dev *dev, unsigned index, unsigned max_size)
{
    vm_write(dev, VM_QUEUE_SEL, index);
    if (vm_read(dev, VM_QUEUE_READY)) {
        kprintf("virtio: queue %u already ready after reset\n", index);
        return false;
    }
    unsigned max = vm_read(dev, VM_QUEUE_NUM_MAX);
    if (max == 0) {
        kprintf("virtio: queue %u does not exist\n", index);
        return false;
    }
    if (max_size > VQ_MAX_SIZE)
        max_size = VQ_MAX_SIZE;
    unsigned size = 1;
    while (size * 2 <= max && size * 2 <= max_size)
        size *= 2;
    /* Re-initialising a queue (after a device reset) reuses its rings. */
    bool reuse = vq->dev == dev && vq->index == index && vq->size == size && vq->desc;
    volatile struct virtq_desc *desc = vq->desc;
    volatile struct virtq_avail *avail = vq->avail;
    volatile struct virtq_used *used = vq->used;
    struct virtq_desc *indirect = vq->indirect;
    memset(vq, 0, sizeof(*vq));
    vq->dev = dev;
    vq->index = index;
    vq->size = (uint16_t)size;
    vq->event_idx = virtio_has(dev, VIRTIO_F_EVENT_IDX);
    if (reuse) {
        memset((void *)desc, 0, 16 * size);
        memset((void *)avail, 0, 6 + 2 * size);
        memset((void *)used, 0, 6 + 8 * size);
        vq->desc = desc, vq->avail = avail, vq->used = used, vq->indirect = indirect;
    } else {
        vq->desc = arena_alloc(16 * size, 4096);
        vq->avail = arena_alloc(6 + 2 * size, 4096);
        vq->used = arena_alloc(6 + 8 * size, 4096);
        vq->indirect = arena_alloc(sizeof(struct virtq_desc) * VQ_MAX_SEGS * size, 16);
    }
    if (!vq->desc || !vq->avail || !vq->used || !vq->indirect) {
        kprintf("virtio: out of memory for queue %u\n", index);
        return false;
    }
    for (unsigned i = 0; i < size; i++)
        vq->next_free[i] = (uint16_t)(i + 1);
    vq->num_free = (uint16_t)size;
    vm_write(dev, VM_QUEUE_NUM, size);
    vm_write(dev, VM_QUEUE_DESC_LOW, (uint32_t)gpa(vq->desc));
    vm_write(dev, VM_QUEUE_DESC_HIGH, (uint32_t)(gpa(vq->desc) >> 32));
    vm_write(dev, VM_QUEUE_DRIVER_LOW, (uint32_t)gpa(vq->avail));
    vm_write(dev, VM_QUEUE_DRIVER_HIGH, (uint32_t)(gpa(vq->avail) >> 32));
    vm_write(dev, VM_QUEUE_DEVICE_LOW, (uint32_t)gpa(vq->used));
    vm_write(dev, VM_QUEUE_DEVICE_HIGH, (uint32_t)(gpa(vq->used) >> 32));
    vm_write(dev, VM_QUEUE_READY, 1);
    return true;
}

void virtq_reserve(struct virtq *vq, unsigned n)
{
    /* The free list starts as 0 -> 1 -> ... -> size-1: cut its tail. */
    if (n >= vq->size || vq->num_free != vq->size)
        return;
    vq->num_free = (uint16_t)(vq->size - n);
    vq->next_free[vq->size - n - 1] = vq->size;
}

static void put_desc(volatile struct virtq_desc *d, const struct vq_buf *b, uint16_t flags, uint16_t next)
{
    d->addr = b->addr;
    d->len = b->len;
    d->flags = (uint16_t)(flags | (b->write ? VIRTQ_DESC_F_WRITE : 0));
    d->next = next;
}

void virtq_publish(struct virtq *vq, uint16_t head)
{
    vq->avail->ring[vq->avail_idx % vq->size] = head;
    barrier(); /* the entry before the index (x86 keeps stores in order) */
    vq->avail_idx++;
    vq->avail->idx = vq->avail_idx;
}

int virtq_submit(struct virtq *vq, const struct vq_buf *bufs, unsigned n, bool indirect)
{
    if (n == 0 || n > VQ_MAX_SEGS)
        return -1;
    unsigned need = indirect ? 1 : n;
    if (vq->num_free < need)
        return -1;
    uint16_t head = vq->free_head;
    if (indirect) {
        struct virtq_desc *t = &vq->indirect[head * VQ_MAX_SEGS];
        for (unsigned i = 0; i < n; i++)
            put_desc(&t[i], &bufs[i], i + 1 < n ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
        struct vq_buf tb = { gpa(t), (uint32_t)(n * sizeof(*t)), false };
        vq->free_head = vq->next_free[head];
        put_desc(&vq->desc[head], &tb, VIRTQ_DESC_F_INDIRECT, 0);
    } else {
        uint16_t d = head;
        for (unsigned i = 0; i < n; i++) {
            uint16_t next = vq->next_free[d];
            put_desc(&vq->desc[d], &bufs[i], i + 1 < n ? VIRTQ_DESC_F_NEXT : 0, next);
            if (i + 1 < n)
                d = next;
        }
        vq->free_head = vq->next_free[d];
    }
    vq->num_free = (uint16_t)(vq->num_free - need);
    vq->chain_len[head] = (uint16_t)need;
    virtq_publish(vq, head);
    return head;
}

void virtq_kick(struct virtq *vq)
{
    mb(); /* avail.idx must be visible before we read the device's wishes */
    uint16_t old = vq->kicked_idx, now = vq->avail_idx;
    vq->kicked_idx = now;
    bool notify;
    if (vq->event_idx) {
        uint16_t ev = *avail_event(vq);
        notify = (uint16_t)(now - ev - 1) < (uint16_t)(now - old);
    } else {
        notify = !(vq->used->flags & VIRTQ_USED_F_NO_NOTIFY);
    }
    if (notify)
        vm_write(vq->dev, VM_QUEUE_NOTIFY, vq->index);
}

bool virtq_poll(struct virtq *vq, uint32_t *id, uint32_t *len)
{
    if (vq->used->idx == vq->last_used)
        return false;
    barrier();
    volatile struct virtq_used_elem *e = &vq->used->ring[vq->last_used % vq->size];
    uint32_t head = e->id, l = e->len;
    vq->last_used++;
    if (vq->event_idx)
        *used_event(vq) = vq->last_used; /* interrupt me for the next one */
    /* An id we did not submit (a bad device, or a reserved descriptor) is
     * handed to the caller as is; nothing is freed for it. */
    if (head < vq->size && vq->chain_len[head]) {
        /* Return the chain to the free list, following our own links. */
        uint16_t d = (uint16_t)head;
        for (unsigned i = 1; i < vq->chain_len[head]; i++)
            d = vq->next_free[d];
        vq->next_free[d] = vq->free_head;
        vq->free_head = (uint16_t)head;
        vq->num_free = (uint16_t)(vq->num_free + vq->chain_len[head]);
        vq->chain_len[head] = 0;
    }
    if (id)
        *id = head;
    if (len)
        *len = l;
    return true;
}

bool virtq_wait(struct virtq *vq, uint32_t *id, uint32_t *len, unsigned timeout_ms)
{
    uint64_t end = ticks + timeout_ms / TICK_MS + 1;
    for (;;) {
        if (virtq_poll(vq, id, len))
            return true;
        if (ticks > end)
            return false;
        wait_a_bit();
    }
}

int64_t virtq_transfer(struct virtq *vq, const struct vq_buf *bufs, unsigned n, bool indirect,
                       unsigned timeout_ms)
{
    int head = virtq_submit(vq, bufs, n, indirect);
    if (head < 0)
        return -1;
    virtq_kick(vq);
    uint32_t id, len;
    while (virtq_wait(vq, &id, &len, timeout_ms)) {
        if (id == (uint32_t)head)
            return len;
    }
    kprintf("virtio: queue %u: no answer within %u ms\n", vq->index, timeout_ms);
    return -1;
}
