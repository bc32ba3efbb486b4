/* virtio.h — a minimal virtio-mmio (version 2, "modern") driver with split
 * virtqueues, shared by the device guests.
 *
 * Use: virtio_find() a device announced on the command line, virtio_start()
 * to negotiate features, virtq_init() each queue, virtio_driver_ok(); then
 * virtq_submit() buffer chains, virtq_kick() and virtq_wait() for them.
 * Waits sleep in cpu_idle() and wake on the device interrupt (routed through
 * the IOAPIC when its number fits) or on the lib tick, which also bounds them.
 * Functions report problems with kprintf and return false/-1 so that a test
 * (notably `hostile`) can decide what is fatal. */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include "guest.h"

#define VIRTIO_MMIO_MAGIC 0x74726976u /* "virt" */

enum {
    VIRTIO_ID_NET = 1, VIRTIO_ID_BLOCK = 2, VIRTIO_ID_CONSOLE = 3, VIRTIO_ID_RNG = 4,
};

/* Register offsets (virtio 1.x, 4.2.2). */
enum {
    VM_MAGIC = 0x000, VM_VERSION = 0x004, VM_DEVICE_ID = 0x008, VM_VENDOR_ID = 0x00c,
    VM_DEVICE_FEATURES = 0x010, VM_DEVICE_FEATURES_SEL = 0x014,
    VM_DRIVER_FEATURES = 0x020, VM_DRIVER_FEATURES_SEL = 0x024,
    VM_QUEUE_SEL = 0x030, VM_QUEUE_NUM_MAX = 0x034, VM_QUEUE_NUM = 0x038,
    VM_QUEUE_READY = 0x044, VM_QUEUE_NOTIFY = 0x050,
    VM_INTERRUPT_STATUS = 0x060, VM_INTERRUPT_ACK = 0x064, VM_STATUS = 0x070,
    VM_QUEUE_DESC_LOW = 0x080, VM_QUEUE_DESC_HIGH = 0x084,
    VM_QUEUE_DRIVER_LOW = 0x090, VM_QUEUE_DRIVER_HIGH = 0x094,
    VM_QUEUE_DEVICE_LOW = 0x0a0, VM_QUEUE_DEVICE_HIGH = 0x0a4,
    VM_CONFIG_GENERATION = 0x0fc, VM_CONFIG = 0x100,
};

#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define BIT64(n) (1ull << (n))

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_USED_F_NO_NOTIFY 1

#define VQ_MAX_SIZE 256
#define VQ_MAX_SEGS 8 /* per chain */

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

struct virtq_avail {
    uint16_t flags, idx;
    uint16_t ring[]; /* [size], then used_event */
};

struct virtq_used_elem {
    uint32_t id, len;
};

struct virtq_used {
    uint16_t flags, idx;
    struct virtq_used_elem ring[]; /* [size], then avail_event */
};

struct virtio_dev {
    uint64_t base;
    unsigned irq;
    uint32_t id;
    uint64_t offered, features; /* device features; negotiated features */
    volatile uint32_t irqs;     /* interrupts seen */
};

struct virtq {
    struct virtio_dev *dev;
    unsigned index;
    uint16_t size;
    bool event_idx;
    volatile struct virtq_desc *desc;
    volatile struct virtq_avail *avail;
    volatile struct virtq_used *used;
    struct virtq_desc *indirect;      /* VQ_MAX_SEGS entries per head */
    uint16_t next_free[VQ_MAX_SIZE];  /* driver's own free list: never read back from shared memory */
    uint16_t chain_len[VQ_MAX_SIZE];
    uint16_t free_head, num_free;
    uint16_t avail_idx, kicked_idx, last_used;
};

/* One buffer of a chain: device-readable (out) or device-writable (in). */
struct vq_buf {
    uint64_t addr;
    uint32_t len;
    bool write;
};

static inline uint32_t vm_read(const struct virtio_dev *d, unsigned reg) { return mmio_read32(d->base + reg); }
static inline void vm_write(const struct virtio_dev *d, unsigned reg, uint32_t v) { mmio_write32(d->base + reg, v); }

const char *virtio_id_name(uint32_t id);
/* Finds the first device with `device_id` among the command line's
 * virtio_mmio.device= entries; prints what it finds. */
bool virtio_find(uint32_t device_id, struct virtio_dev *dev);
/* Reset, ACKNOWLEDGE, DRIVER, feature negotiation (VERSION_1 always, plus
 * whatever of `want` is offered; every bit of `need` must be offered) and
 * FEATURES_OK.  Also routes the device interrupt. */
bool virtio_start(struct virtio_dev *dev, uint64_t want, uint64_t need);
void virtio_driver_ok(struct virtio_dev *dev);
void virtio_reset(struct virtio_dev *dev);
uint8_t virtio_status(const struct virtio_dev *dev);
bool virtio_has(const struct virtio_dev *dev, unsigned feature);
void virtio_print_features(const struct virtio_dev *dev, const char *const *names, unsigned n);

/* Reads cmdline option KEY=on|off|auto (a bare KEY means on; absent means
 * auto; noKEY without underscores, e.g. noeventidx, means off) for a feature
 * bit: auto and on add it to *want, on also to *need. */
void virtio_feature_option(const char *key, unsigned bit, uint64_t *want, uint64_t *need);

uint8_t virtio_cfg8(const struct virtio_dev *dev, unsigned off);
uint16_t virtio_cfg16(const struct virtio_dev *dev, unsigned off);
uint32_t virtio_cfg32(const struct virtio_dev *dev, unsigned off);
uint64_t virtio_cfg64(const struct virtio_dev *dev, unsigned off);

/* Sets up queue `index` with at most `max_size` entries.  `vq` must be
 * zeroed the first time; later calls for the same queue reuse its rings. */
bool virtq_init(struct virtq *vq, struct virtio_dev *dev, unsigned index, unsigned max_size);
/* Keeps the last n descriptors out of the free list, for a caller that
 * writes them by hand.  Call right after virtq_init(). */
void virtq_reserve(struct virtq *vq, unsigned n);
/* Places a chain (in an indirect table if `indirect`) in the descriptor table
 * and publishes it in the avail ring; returns the head, or -1 if full. */
int virtq_submit(struct virtq *vq, const struct vq_buf *bufs, unsigned n, bool indirect);
/* Publishes descriptor `head` in the avail ring as is (hostile tests). */
void virtq_publish(struct virtq *vq, uint16_t head);
/* Notifies the device if it wants to be notified (EVENT_IDX or NO_NOTIFY). */
void virtq_kick(struct virtq *vq);
/* Takes one used element if there is one; frees its chain if it is one
 * virtq_submit() made (other ids are returned without freeing anything). */
bool virtq_poll(struct virtq *vq, uint32_t *id, uint32_t *len);
/* virtq_poll() until one arrives or timeout_ms passes. */
bool virtq_wait(struct virtq *vq, uint32_t *id, uint32_t *len, unsigned timeout_ms);
/* Submits, kicks and waits for this chain; returns the used length or -1. */
int64_t virtq_transfer(struct virtq *vq, const struct vq_buf *bufs, unsigned n, bool indirect,
                       unsigned timeout_ms);

static inline uint64_t gpa(const volatile void *p) { return (uint64_t)(uintptr_t)p; }

#endif
