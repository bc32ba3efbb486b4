/* console — virtio-console (device id 3), port 0 without MULTIPORT: writes
 * "hello from virtio-console\n" on transmitq0, then reads a line from
 * receiveq0 and prints it on the serial port as "console: received: LINE".
 *
 * cmdline: timeout=S   give up waiting for the line after S seconds (default 60) */
#include "virtio.h"

const char test_name[] = "console";

#define RX_BUFS 8
#define RX_BUF_SIZE 64
#define LINE_MAX 200

static struct virtio_dev dev;
static struct virtq rxq, txq;
static uint8_t *rx_buf[VQ_MAX_SIZE];

static void post_rx(uint8_t *buf)
{
    struct vq_buf b = { gpa(buf), RX_BUF_SIZE, true };
    int head = virtq_submit(&rxq, &b, 1, false);
    CHECK(head >= 0, "receive queue full");
    rx_buf[head] = buf;
}

void test_main(void)
{
    unsigned timeout = (unsigned)cmdline_u64("timeout", 60);
    CHECK(virtio_find(VIRTIO_ID_CONSOLE, &dev), "no virtio-console device");
    CHECK(virtio_start(&dev, 0, 0), "feature negotiation failed");
    virtio_print_features(&dev, NULL, 0);
    CHECK(virtq_init(&rxq, &dev, 0, RX_BUFS), "cannot set up receiveq0");
    CHECK(virtq_init(&txq, &dev, 1, 8), "cannot set up transmitq0");
    for (unsigned i = 0; i < rxq.size; i++) {
        uint8_t *b = arena_alloc(RX_BUF_SIZE, 16);
        CHECK(b, "out of memory");
        post_rx(b);
    }
    virtio_driver_ok(&dev);
    virtq_kick(&rxq);

    static const char hello[] = "hello from virtio-console\n";
    char *msg = arena_alloc(sizeof(hello), 16);
    CHECK(msg, "out of memory");
    memcpy(msg, hello, sizeof(hello) - 1);
    struct vq_buf b = { gpa(msg), sizeof(hello) - 1, false };
    CHECK(virtq_transfer(&txq, &b, 1, false, 5000) >= 0, "the write on transmitq0 was not consumed");
    kprintf("console: wrote \"hello from virtio-console\" on transmitq0; waiting for a line\n");

    char line[LINE_MAX + 1];
    unsigned n = 0;
    bool started = false;
    uint64_t end = ticks + timeout * 1000ull / TICK_MS;
    for (;;) {
        uint32_t id, len;
        if (!virtq_poll(&rxq, &id, &len)) {
            CHECK(ticks < end, "no line on receiveq0 within %u s (%u bytes so far)", timeout, n);
            wait_a_bit();
            continue;
        }
        CHECK(id < rxq.size && rx_buf[id], "receive: bad buffer id %u", id);
        CHECK(len <= RX_BUF_SIZE, "receive: used length %u exceeds the %u-byte buffer", len, RX_BUF_SIZE);
        uint8_t *buf = rx_buf[id];
        for (uint32_t i = 0; i < len; i++) {
            char c = (char)buf[i];
            if (c == '\r' || c == '\n') {
                if (started) {
                    line[n] = 0;
                    kprintf("console: received: %s\n", line);
                    return;
                }
                continue; /* leading line ends */
            }
            started = true;
            if (n < LINE_MAX)
                line[n++] = (c >= 0x20 && c < 0x7f) ? c : '?';
        }
        post_rx(buf);
        virtq_kick(&rxq);
    }
}
