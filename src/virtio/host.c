/* Plugging a virtio device into the VM: its MMIO window and IRQ line, the
 * irqfd and per-queue ioeventfds that keep interrupts and kicks off the
 * vCPU exit path when KVM offers them, its fds on the I/O loop, and the
 * kernel command line entry that tells Linux where to find it. */
#include "virtio_internal.h"

#include <errno.h>
#include <linux/virtio_mmio.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

/* One GSI per slot, skipping the legacy ISA lines in use: PIT 0, i8042 1,
 * COM1 4, RTC 8, ACPI's SCI 9, and 2 (the PIC cascade), 3 (COM2) and 13
 * (FPU).  12 is free: the i8042 has no mouse port. */
static const uint8_t slot_irq[] = { VIRTIO_FIRST_IRQ, 6, 7, 10, 11, 12, 14, 15,
                                    16, 17, 18, 19, 20, 21, 22, 23 };
_Static_assert(ARRAY_SIZE(slot_irq) == VIRTIO_MAX_DEVICES, "one IRQ per slot");

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

void virtio_dev_reset(struct virtio_dev *d)
{
    pthread_mutex_lock(&d->lock);
    virtio_reset(d);
    pthread_mutex_unlock(&d->lock);
}

void virtio_mmio_remove(struct virtio_dev *d)
{
    if (!d->host)
        return;
    virtio_dev_reset(d);
    if (d->ops->detach)
        d->ops->detach(d);
    release_fds(d);
    pthread_mutex_lock(&d->lock);
    d->host = NULL;
    pthread_mutex_unlock(&d->lock);
}
