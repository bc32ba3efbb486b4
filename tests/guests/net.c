/* net — virtio-net (device id 1): reads the MAC address from the config
 * space, broadcasts an Ethernet frame of type 0x88b5 with the payload
 * "corral-ping from MAC" and waits for a frame of that type whose payload
 * starts with "corral-pong"; prints it and passes.  The ping is repeated
 * every second.  Something on the host side must answer: net-peer.py does.
 *
 * cmdline: timeout=S   give up after S seconds (default 20)
 *          indirect=on|off|auto, event_idx=on|off|auto   (default auto);
 *                      noindirect, noeventidx = ...=off */
#include "virtio.h"

const char test_name[] = "net";

#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_STATUS 16
#define NET_HDR_LEN 12 /* struct virtio_net_hdr_v1 */
#define ETH_HLEN 14
#define ETHERTYPE 0x88b5
#define RX_BUFS 16
#define RX_BUF_SIZE 2048
#define FRAME_MIN 60

static struct virtio_dev dev;
static struct virtq rxq, txq;
static uint8_t *rx_buf[VQ_MAX_SIZE];
static uint8_t mac[6];

static const char *const feature_names[] = {
    [0] = "CSUM", [1] = "GUEST_CSUM", [VIRTIO_NET_F_MAC] = "MAC", [15] = "MRG_RXBUF",
    [VIRTIO_NET_F_STATUS] = "STATUS", [22] = "MQ",
};

static void post_rx(uint8_t *buf)
{
    struct vq_buf b = { gpa(buf), RX_BUF_SIZE, true };
    int head = virtq_submit(&rxq, &b, 1, false);
    CHECK(head >= 0, "receive queue full");
    rx_buf[head] = buf;
}

static void send_ping(uint8_t *tx, unsigned n)
{
    uint32_t id, len;
    while (virtq_poll(&txq, &id, &len)) /* reclaim earlier pings */
        ;
    memset(tx, 0, NET_HDR_LEN + FRAME_MIN + 32);
    uint8_t *f = tx + NET_HDR_LEN;
    memset(f, 0xff, 6);
    memcpy(f + 6, mac, 6);
    f[12] = ETHERTYPE >> 8;
    f[13] = ETHERTYPE & 0xff;
    int plen = ksnprintf((char *)f + ETH_HLEN, 40, "corral-ping from %02x:%02x:%02x:%02x:%02x:%02x #%u",
                         mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], n);
    unsigned flen = ETH_HLEN + (unsigned)plen + 1;
    if (flen < FRAME_MIN)
        flen = FRAME_MIN;
    struct vq_buf b = { gpa(tx), NET_HDR_LEN + flen, false };
    bool indirect = virtio_has(&dev, VIRTIO_F_INDIRECT_DESC);
    CHECK(virtq_submit(&txq, &b, 1, indirect) >= 0, "transmit queue full");
    virtq_kick(&txq);
    kprintf("net: sent ping #%u (%u-byte frame)\n", n, flen);
}

void test_main(void)
{
    uint64_t want = BIT64(VIRTIO_NET_F_MAC) | BIT64(VIRTIO_NET_F_STATUS), need = 0;
    virtio_feature_option("indirect", VIRTIO_F_INDIRECT_DESC, &want, &need);
    virtio_feature_option("event_idx", VIRTIO_F_EVENT_IDX, &want, &need);
    unsigned timeout = (unsigned)cmdline_u64("timeout", 20);

    CHECK(virtio_find(VIRTIO_ID_NET, &dev), "no virtio-net device");
    CHECK(virtio_start(&dev, want, need), "feature negotiation failed");
    virtio_print_features(&dev, feature_names, ARRAY_SIZE(feature_names));
    if (virtio_has(&dev, VIRTIO_NET_F_MAC)) {
        for (unsigned i = 0; i < 6; i++)
            mac[i] = virtio_cfg8(&dev, i);
    } else {
        uint64_t r = rand64();
        memcpy(mac, &r, 6);
        mac[0] = (uint8_t)((mac[0] & 0xfe) | 0x02); /* locally administered unicast */
    }
    kprintf("net: MAC %02x:%02x:%02x:%02x:%02x:%02x%s\n", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
            virtio_has(&dev, VIRTIO_NET_F_MAC) ? "" : " (random: the device offers no MAC)");
    if (virtio_has(&dev, VIRTIO_NET_F_STATUS))
        kprintf("net: link %s\n", virtio_cfg16(&dev, 6) & 1 ? "up" : "down");

    CHECK(virtq_init(&rxq, &dev, 0, RX_BUFS), "cannot set up the receive queue");
    CHECK(virtq_init(&txq, &dev, 1, 16), "cannot set up the transmit queue");
    for (unsigned i = 0; i < rxq.size; i++) {
        uint8_t *b = arena_alloc(RX_BUF_SIZE, 64);
        CHECK(b, "out of memory");
        post_rx(b);
    }
    virtio_driver_ok(&dev);
    virtq_kick(&rxq);

    uint8_t *tx = arena_alloc(NET_HDR_LEN + FRAME_MIN + 64, 64);
    CHECK(tx, "out of memory");
    uint64_t end = ticks + timeout * 1000ull / TICK_MS, next_ping = 0;
    unsigned pings = 0, ignored = 0;
    for (;;) {
        if (ticks >= next_ping) {
            send_ping(tx, ++pings);
            next_ping = ticks + 1000 / TICK_MS;
        }
        uint32_t id, len;
        if (!virtq_poll(&rxq, &id, &len)) {
            CHECK(ticks < end, "no corral-pong within %u s (%u pings sent, %u other frames)", timeout, pings, ignored);
            wait_a_bit();
            continue;
        }
        CHECK(id < rxq.size && rx_buf[id], "receive: bad buffer id %u", id);
        uint8_t *buf = rx_buf[id];
        CHECK(len <= RX_BUF_SIZE, "receive: used length %u exceeds the %u-byte buffer", len, RX_BUF_SIZE);
        uint8_t *f = buf + NET_HDR_LEN;
        unsigned flen = len > NET_HDR_LEN ? len - NET_HDR_LEN : 0;
        unsigned type = flen >= ETH_HLEN ? (unsigned)(f[12] << 8 | f[13]) : 0;
        if (type == ETHERTYPE && flen >= ETH_HLEN + 11 && memcmp(f + ETH_HLEN, "corral-pong", 11) == 0) {
            unsigned plen = flen - ETH_HLEN, n = 0;
            while (n < plen && f[ETH_HLEN + n])
                n++;
            kprintf("net: received %u-byte frame from %02x:%02x:%02x:%02x:%02x:%02x: \"", flen, f[6], f[7], f[8],
                    f[9], f[10], f[11]);
            kput_printable(f + ETH_HLEN, n);
            kprintf("\"\n");
            return;
        }
        if (ignored++ < 5)
            kprintf("net: ignoring a %u-byte frame of type %#06x\n", flen, type);
        post_rx(buf);
        virtq_kick(&rxq);
    }
}
