/* virtio-console (virtio 1.2 section 5.3) with a single port: receiveq0
 * carries host input to the guest (hvc0), transmitq0 the guest's output.
 *
 * The input fd may be blocking (stdin, a pty), so it is read only after
 * poll() says it has data, and polled on the I/O loop only while the guest
 * has receive buffers posted.
 */
#include "virtio_internal.h"

#include <errno.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>

#define RXQ 0
#define TXQ 1
#define RX_BUDGET 64u

struct console {
    struct console_io io;
    bool attached;         /* in_fd registered with the loop (paused or not) */
    bool polling;          /* EPOLLIN currently requested */
    bool dead;             /* input at end of file: never poll again */
    bool in_empty;         /* the last look found no input */
};

static void console_config_read(struct virtio_dev *d, uint64_t off, uint8_t *data,
                                unsigned size)
{
    /* No SIZE, MULTIPORT or EMERG_WRITE: the fields exist but say nothing. */
    (void)d, (void)off;
    memset(data, 0, size);
}

static void set_polling(struct virtio_dev *d, bool on)
{
    struct console *c = d->priv;
    on = on && !c->dead;
    if (c->attached && c->polling != on) {
        c->polling = on;
        evloop_set_events(d->host->loop, c->io.in_fd, on ? EPOLLIN : 0);
    }
}

static long console_tx_one(struct virtio_dev *d, struct virtq_req *req)
{
    struct console *c = d->priv;
    for (unsigned i = 0; i < req->nout && c->io.out_fd >= 0; i++) {
        if (write_all(c->io.out_fd, req->out[i].iov_base, req->out[i].iov_len) < 0) {
            atomic_fetch_add_explicit(&d->errors, 1, memory_order_relaxed);
            break;
        }
    }
    return 0;
}

static long console_rx_one(struct virtio_dev *d, struct virtq_req *req)
{
    struct console *c = d->priv;
    if (req->nin == 0) {
        atomic_fetch_add_explicit(&d->errors, 1, memory_order_relaxed);
        return 0;
    }
    struct pollfd p = { .fd = c->io.in_fd, .events = POLLIN };
    if (poll(&p, 1, 0) <= 0) {
        c->in_empty = true;
        return -EAGAIN;
    }
    ssize_t n = readv(c->io.in_fd, req->in, (int)req->nin);
    if (n > 0)
        return n;
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        /* The guest keeps its console, without input. */
        c->dead = true;
        set_polling(d, false);
    }
    c->in_empty = true;
    return -EAGAIN;
}

/* Moves pending input into rx buffers; d->lock held. */
static void console_rx(struct virtio_dev *d)
{
    struct console *c = d->priv;
    if (c->io.in_fd < 0 || c->dead)
        return;
    if (!virtio_queue_live(d, RXQ)) {
        set_polling(d, false); /* or the loop spins on input nobody takes */
        return;
    }
    c->in_empty = false;
    unsigned done = virtio_drain_queue(d, RXQ, console_rx_one, RX_BUDGET);
    /* Input still waiting but no buffer for it: wait for a kick. */
    if (done < RX_BUDGET && !c->in_empty)
        set_polling(d, false);
}

static void on_input(void *arg, uint32_t events)
{
    struct virtio_dev *d = arg;
    struct console *c = d->priv;
    pthread_mutex_lock(&d->lock);
    console_rx(d);
    /* epoll reports a hang-up even while the fd is paused: stop listening
     * (we are on the loop thread, so we may), or the loop would spin.  Input
     * still buffered is read when the guest next kicks receiveq0. */
    if ((events & (EPOLLHUP | EPOLLERR)) && c->attached && (c->dead || !c->polling)) {
        evloop_del(d->host->loop, c->io.in_fd);
        c->attached = c->polling = false;
    }
    pthread_mutex_unlock(&d->lock);
}

static void console_notify(struct virtio_dev *d, unsigned q)
{
    if (q == TXQ) {
        virtio_serve_queue(d, TXQ, console_tx_one);
    } else {
        set_polling(d, true);
        console_rx(d);
    }
}

static void console_activate(struct virtio_dev *d) { set_polling(d, true); }
static void console_reset(struct virtio_dev *d) { set_polling(d, false); }

static int console_attach(struct virtio_dev *d)
{
    struct console *c = d->priv;
    if (c->io.in_fd < 0)
        return 0;
    int r = evloop_add(d->host->loop, c->io.in_fd, 0, on_input, d);
    if (r < 0)
        return r;
    c->attached = true;
    c->polling = false;
    return 0;
}

static void console_detach(struct virtio_dev *d)
{
    struct console *c = d->priv;
    if (c->attached)
        evloop_del(d->host->loop, c->io.in_fd);
    c->attached = c->polling = false;
}

static const struct virtio_dev_ops console_ops = {
    .device_id = VIRTIO_ID_CONSOLE,
    .num_queues = 2,
    .config_read = console_config_read,
    .notify = console_notify,
    .activate = console_activate,
    .reset = console_reset,
    .attach = console_attach,
    .detach = console_detach,
};

int virtio_console_new(struct virtio_dev **out, struct console_io io)
{
    struct virtio_dev *d;
    int r = virtio_dev_alloc(&d, &console_ops, "virtio-console",
                             sizeof(struct virtio_console_config), sizeof(struct console));
    if (r < 0)
        return r;
    struct console *c = d->priv;
    c->io = io;
    *out = d;
    return 0;
}
