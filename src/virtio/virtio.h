/* virtio — paravirtual devices (virtio 1.2) over the MMIO transport.
 *
 * Three layers, each in its own file:
 *   - queue.c: split virtqueues.  Turns what the guest put in a ring into a
 *     validated chain of host iovecs (indirect descriptors, loops, lengths
 *     and addresses all checked against guest RAM) and publishes used
 *     buffers with EVENT_IDX-aware interrupt suppression.
 *   - mmio.c: the virtio-mmio register block (version 2), feature
 *     negotiation, queue set-up, ioeventfd per queue and irqfd per device.
 *   - blk.c, net.c, console.c, rng.c: the device types, each a
 *     struct virtio_dev_ops plus a constructor.
 *
 * A device's requests run on the VMM's I/O loop thread (queue notify
 * eventfds are polled there; without ioeventfd support they run in the vCPU's
 * MMIO exit instead); MMIO register accesses arrive on vCPU threads; a
 * per-device mutex (d->lock) orders the two.  A guest that breaks the rules
 * (bad descriptor, index past the ring, address outside RAM) gets its
 * device marked DEVICE_NEEDS_RESET; the VMM itself carries on.
 */
#ifndef CORRAL_VIRTIO_H
#define CORRAL_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/devices.h"

#define VIRTIO_MMIO_BASE 0xd0000000ULL
#define VIRTIO_MMIO_SIZE 0x1000
#define VIRTIO_FIRST_IRQ 5
#define VIRTIO_MAX_DEVICES 16
#define VIRTQ_MAX_SIZE 256
/* Requests a notified queue is served per pass of the I/O loop before the
 * loop turns to its other work (virtio_serve_queue). */
#define VIRTIO_PASS_BUDGET 64u
#define VIRTIO_MAX_QUEUES 2

/* ---- virtqueues ---------------------------------------------------------- */

struct virtq_state {                 /* guest-visible, savable as bytes */
    uint16_t num;                    /* queue size chosen by the driver */
    bool ready;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    uint16_t last_avail;             /* next avail entry the device will take */
    uint16_t used_idx;               /* next used entry the device will fill */
};

struct virtq {
    struct virtq_state s;
    struct guest_mem *mem;
    bool event_idx;                  /* VIRTIO_RING_F_EVENT_IDX negotiated */
    bool indirect;                   /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
    uint16_t signalled_used;         /* used_idx at the last interrupt */
    bool signalled_valid;
};

/* One request: the descriptor chain's buffers as host iovecs, the
 * device-readable ones first, then the device-writable ones. */
#define VIRTQ_MAX_SEGS (VIRTQ_MAX_SIZE + 8)
struct virtq_req {
    uint16_t head;
    unsigned nout, nin;              /* readable, writable segment counts */
    struct iovec out[VIRTQ_MAX_SEGS];
    struct iovec in[VIRTQ_MAX_SEGS];
    uint64_t out_len, in_len;
};

/* Validates the ring addresses for the current size; false if not in RAM. */
bool virtq_check_layout(const struct virtq *q);
/* 1: got a request; 0: ring empty; <0: the guest broke the rules (the caller
 * marks the device broken). */
int virtq_pop(struct virtq *q, struct virtq_req *req);
/* Returns a chain to the guest with `written` bytes filled in. */
int virtq_push(struct virtq *q, uint16_t head, uint32_t written);
/* Whether the guest wants an interrupt for what was pushed since the last one. */
bool virtq_should_notify(struct virtq *q);
/* Copies between a request's segments and a flat buffer; return bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len);
size_t buf_to_iov(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len);

/* ---- a device on the MMIO transport ------------------------------------ */

struct virtio_dev;

struct virtio_dev_ops {
    uint32_t device_id;
    unsigned num_queues;
    uint64_t (*features)(struct virtio_dev *d);      /* device-specific feature bits */
    /* Config space reads/writes; offset/size already checked against config_len. */
    void (*config_read)(struct virtio_dev *d, uint64_t off, uint8_t *data, unsigned size);
    void (*config_write)(struct virtio_dev *d, uint64_t off, const uint8_t *data, unsigned size);
    /* Queue `q` has new buffers (called on the I/O thread, device lock held). */
    void (*notify)(struct virtio_dev *d, unsigned q);
    /* Driver became ready (DRIVER_OK) or reset the device (device lock held,
     * on a vCPU thread).  reset is also called for a device never activated. */
    void (*activate)(struct virtio_dev *d);
    void (*reset)(struct virtio_dev *d);
    /* Optional.  Called once by virtio_mmio_add / virtio_mmio_remove on the
     * set-up thread, before the guest runs and after it stops: a device that
     * polls a host fd registers it with host->loop here (paused), because
     * evloop_add/evloop_del are not safe from vCPU threads; activate and
     * reset then only switch it on and off with evloop_set_events. */
    int (*attach)(struct virtio_dev *d);
    void (*detach)(struct virtio_dev *d);
};

struct virtio_mmio_state {           /* guest-visible, savable as bytes */
    uint32_t status;
    uint32_t dev_feat_sel, drv_feat_sel;
    uint64_t driver_features;
    uint32_t queue_sel;
    uint32_t interrupt_status;
    uint32_t config_generation;
};

struct virtio_dev {
    const struct virtio_dev_ops *ops;
    const char *name;
    struct virtio_mmio_state s;
    struct virtq vq[VIRTIO_MAX_QUEUES];
    int kick_fd[VIRTIO_MAX_QUEUES];  /* ioeventfd per queue */
    int irq_fd;                      /* irqfd */
    uint64_t mmio_base;
    unsigned irq;
    unsigned config_len;
    struct dev_host *host;
    pthread_mutex_t lock;
    bool broken;
    atomic_uint_fast64_t requests;   /* requests completed, for counters */
    atomic_uint_fast64_t errors;     /* requests failed or rejected */
    void *priv;                      /* the device type's own state */
};

/* Registers `d` on the MMIO bus at the next free slot, wires its eventfds,
 * and appends "virtio_mmio.device=4K@ADDR:IRQ" to `cmdline` (size cap). */
int virtio_mmio_add(struct virtio_dev *d, struct dev_host *host, struct bus *mmio,
                    unsigned slot, char *cmdline, size_t cap);
/* Snapshot state (devices.h explains save and load): the transport's
 * registers and every queue.  A device's own host-side state (a tap being
 * polled) follows from them: a load of a live device activates it and has
 * the I/O loop serve whatever its queues already hold.  Called with the vCPUs stopped
 * and, for a load, before the device ever ran. */
void virtio_save(struct virtio_dev *d, struct snap_writer *w);
int virtio_load(struct virtio_dev *d, struct snap_cursor *c);
/* Undoes virtio_mmio_add's host side (loop registrations, eventfds) once the
 * vCPUs are stopped; the bus region stays, so drop the whole bus after this. */
void virtio_mmio_remove(struct virtio_dev *d);
/* Resets the device as the driver writing 0 to Status would: for a VM
 * reboot, so no device keeps using rings in the old guest's memory. */
void virtio_dev_reset(struct virtio_dev *d);
/* Raises the used-buffer interrupt for queue q if the guest wants one.
 * Called with d->lock held (as ops->notify and the device's own fd handlers are). */
void virtio_signal_used(struct virtio_dev *d, unsigned q);
/* Marks the device broken (DEVICE_NEEDS_RESET + config interrupt); d->lock held. */
void virtio_mark_broken(struct virtio_dev *d, const char *why);

/* ---- device types -------------------------------------------------------- */

struct blk;
struct virtio_blk_cfg {
    struct blk *disk;                /* open image (src/block); stays the caller's */
    bool readonly;
    char serial[20];                 /* GET_ID answer */
};
int virtio_blk_new(struct virtio_dev **out, const struct virtio_blk_cfg *cfg);

struct virtio_net_cfg {
    int tap_fd;                      /* open tap, IFF_TAP | IFF_NO_PI, non-blocking */
    uint8_t mac[6];
};
int virtio_net_new(struct virtio_dev **out, const struct virtio_net_cfg *cfg);
/* The NIC's address, changed before the guest runs: a restored or migrated
 * guest keeps the one it knows. */
void virtio_net_set_mac(struct virtio_dev *d, const uint8_t mac[6]);
/* One RARP frame from the NIC's address out through its tap, so that
 * switches learn where the guest is after it moved (from any thread). */
int virtio_net_announce(struct virtio_dev *d);

int virtio_console_new(struct virtio_dev **out, struct console_io io);
int virtio_rng_new(struct virtio_dev **out);
/* Removes the device if it was added and frees it.  The fds handed to the
 * constructors (disk, tap, console) stay open: they belong to the caller. */
void virtio_dev_free(struct virtio_dev *d);

#endif
