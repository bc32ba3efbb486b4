/* virtio-net (virtio 1.2 section 5.1) over a tap device.
 *
 * No offloads: every frame carries a 12-byte virtio_net_hdr_v1 that says
 * "nothing to do", so transmit strips it and receive writes a zeroed one.
 * The tap is level-triggered on the I/O loop; while the guest has posted
 * no receive buffers we stop polling it (or the loop would spin) until the
 * guest kicks the receive queue.
 */
#include "virtio_internal.h"

#include <errno.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#define RXQ 0
#define TXQ 1
#define HDR_LEN sizeof(struct virtio_net_hdr_v1)
#define ETH_MIN 14u        /* an Ethernet header */
#define ETH_MAX 65550u     /* 64 KiB of payload plus headers */
#define RX_BUDGET 64u      /* frames per wake-up, so one busy tap can't hog the loop */

struct net {
    int tap_fd;
    uint8_t mac[6];
    bool attached;         /* tap registered with the loop (paused or not) */
    bool polling;          /* EPOLLIN currently requested */
    bool dead;             /* tap hung up; never poll again */
    bool tap_empty;        /* the last read found no frame */
};

static uint64_t net_features(struct virtio_dev *d)
{
    (void)d;
    return (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS);
}

static void net_config_read(struct virtio_dev *d, uint64_t off, uint8_t *data, unsigned size)
{
    struct net *n = d->priv;
    struct virtio_net_config c = { .status = htole16(VIRTIO_NET_S_LINK_UP) };
    memcpy(c.mac, n->mac, sizeof(c.mac));
    memcpy(data, (uint8_t *)&c + off, size);
}

static void set_polling(struct virtio_dev *d, bool on)
{
    struct net *n = d->priv;
    on = on && !n->dead;
    if (n->attached && n->polling != on) {
        n->polling = on;
        evloop_set_events(d->host->loop, n->tap_fd, on ? EPOLLIN : 0);
    }
}

static long net_tx_one(struct virtio_dev *d, struct virtq_req *req)
{
    struct net *n = d->priv;
    uint64_t len = req->out_len >= HDR_LEN ? req->out_len - HDR_LEN : 0;
    if (len < ETH_MIN || len > ETH_MAX) {
        atomic_fetch_add_explicit(&d->errors, 1, memory_order_relaxed);
        return 0;
    }
    struct iovec iov[VIRTQ_MAX_SEGS];
    unsigned k = iov_slice(req->out, req->nout, HDR_LEN, len, iov, VIRTQ_MAX_SEGS);
    ssize_t r;
    do {
        r = writev(n->tap_fd, iov, (int)k);
    } while (r < 0 && errno == EINTR);
    /* A full tap queue drops the frame, as a wire would. */
    if (r < 0)
        atomic_fetch_add_explicit(&d->errors, 1, memory_order_relaxed);
    return 0;
}

static long net_rx_one(struct virtio_dev *d, struct virtq_req *req)
{
    struct net *n = d->priv;
    if (req->in_len <= HDR_LEN) {
        /* No room for a frame after the header: use it up empty so it can't
         * wedge the ring (a readv into no room would read 0, as at EOF). */
        atomic_fetch_add_explicit(&d->errors, 1, memory_order_relaxed);
        return 0;
    }
    struct iovec iov[VIRTQ_MAX_SEGS];
    unsigned k = iov_slice(req->in, req->nin, HDR_LEN, req->in_len - HDR_LEN, iov,
                           VIRTQ_MAX_SEGS);
    ssize_t r;
    do {
        r = readv(n->tap_fd, iov, (int)k);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) {
        if (r == 0 || errno != EAGAIN) {
            /* EOF or a hard error: polling again would only spin. */
            log_guest(LOG_WARN, "%s: tap read failed (%s); receive stopped", d->name,
                     r == 0 ? "end of file" : strerror(errno));
            n->dead = true;
            set_polling(d, false);
        }
        n->tap_empty = true;
        return -EAGAIN;
    }
    struct virtio_net_hdr_v1 h = { .num_buffers = htole16(1) };
    buf_to_iov(req->in, req->nin, 0, &h, sizeof(h));
    return (long)(HDR_LEN + (size_t)r);
}

/* Moves frames from the tap into rx buffers; d->lock held. */
static void net_rx(struct virtio_dev *d)
{
    struct net *n = d->priv;
    if (n->dead)
        return;
    if (!virtio_queue_live(d, RXQ)) {
        set_polling(d, false); /* or the loop spins on frames nobody takes */
        return;
    }
    n->tap_empty = false;
    unsigned done = virtio_drain_queue(d, RXQ, net_rx_one, RX_BUDGET);
    /* Stopped with frames still waiting: out of buffers (or broken), so
     * stop polling until the guest kicks the receive queue. */
    if (done < RX_BUDGET && !n->tap_empty)
        set_polling(d, false);
}

static void on_tap(void *arg, uint32_t events)
{
    struct virtio_dev *d = arg;
    struct net *n = d->priv;
    pthread_mutex_lock(&d->lock);
    net_rx(d);
    /* epoll reports a hang-up even while the fd is paused: stop listening
     * (we are on the loop thread, so we may), or the loop would spin. */
    if ((events & (EPOLLHUP | EPOLLERR)) && n->attached && (n->dead || !n->polling)) {
        evloop_del(d->host->loop, n->tap_fd);
        n->attached = n->polling = false;
    }
    pthread_mutex_unlock(&d->lock);
}

static void net_notify(struct virtio_dev *d, unsigned q)
{
    if (q == TXQ) {
        virtio_serve_queue(d, TXQ, net_tx_one);
    } else {
        set_polling(d, true);
        net_rx(d); /* a frame may be waiting already */
    }
}

static void net_activate(struct virtio_dev *d) { set_polling(d, true); }
/* A reset starts over: polling waits for the driver, and a tap that
 * failed is tried again then (it is marked dead again if it still fails). */
static void net_reset(struct virtio_dev *d)
{
    struct net *n = d->priv;
    set_polling(d, false);
    n->dead = false;
}

static int net_attach(struct virtio_dev *d)
{
    struct net *n = d->priv;
    int r = evloop_add(d->host->loop, n->tap_fd, 0, on_tap, d);
    if (r < 0)
        return r;
    n->attached = true;
    n->polling = false;
    return 0;
}

static void net_detach(struct virtio_dev *d)
{
    struct net *n = d->priv;
    if (n->attached)
        evloop_del(d->host->loop, n->tap_fd);
    n->attached = n->polling = false;
}

void virtio_net_set_mac(struct virtio_dev *d, const uint8_t mac[6])
{
    struct net *n = d->priv;
    memcpy(n->mac, mac, sizeof(n->mac));
}

/* A RARP request (RFC 903, opcode 3) from the NIC's address to everyone:
 * what QEMU sends after a migration too.  It asks nothing a host answers;
 * it only shows every switch on the way the new path to that address. */
int virtio_net_announce(struct virtio_dev *d)
{
    struct net *n = d->priv;
    uint8_t f[60] = { 0 };    /* the shortest Ethernet frame, zero-padded */
    memset(f, 0xff, 6);
    memcpy(f + 6, n->mac, 6);
    f[12] = 0x80, f[13] = 0x35;                  /* ETH_P_RARP */
    uint8_t *a = f + 14;
    a[1] = 1;                                    /* hardware: Ethernet */
    a[2] = 0x08;                                 /* protocol: IPv4 */
    a[4] = 6, a[5] = 4, a[7] = 3;                /* address lengths; reverse request */
    memcpy(a + 8, n->mac, 6);                    /* sender and target: the NIC */
    memcpy(a + 18, n->mac, 6);
    ssize_t r = write(n->tap_fd, f, sizeof(f));
    return r == (ssize_t)sizeof(f) ? 0 : fail(r < 0 ? errno : EIO, "%s: cannot announce the guest's address: %s",
                                              d->name, r < 0 ? strerror(errno) : "short write");
}

static const struct virtio_dev_ops net_ops = {
    .device_id = VIRTIO_ID_NET,
    .num_queues = 2,
    .features = net_features,
    .config_read = net_config_read,
    .notify = net_notify,
    .activate = net_activate,
    .reset = net_reset,
    .attach = net_attach,
    .detach = net_detach,
};

int virtio_net_new(struct virtio_dev **out, const struct virtio_net_cfg *cfg)
{
    struct virtio_dev *d;
    int r = virtio_dev_alloc(&d, &net_ops, "virtio-net",
                             offsetof(struct virtio_net_config, max_virtqueue_pairs),
                             sizeof(struct net));
    if (r < 0)
        return r;
    struct net *n = d->priv;
    n->tap_fd = cfg->tap_fd;
    memcpy(n->mac, cfg->mac, sizeof(n->mac));
    *out = d;
    return 0;
}
