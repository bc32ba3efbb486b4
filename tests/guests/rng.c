/* rng — virtio-rng (device id 4): asks twice for 64 bytes (the device may
 * hand out fewer per request: we ask until we have them), checks that
 * neither block is all zeros and that the two differ. */
#include "virtio.h"

const char test_name[] = "rng";

#define NBYTES 64

static struct virtio_dev dev;
static struct virtq vq;

static void get_random(uint8_t *out)
{
    uint8_t *buf = arena_alloc(NBYTES, 64);
    CHECK(buf, "out of memory");
    unsigned have = 0, requests = 0;
    while (have < NBYTES) {
        CHECK(++requests <= 64, "only %u of %u bytes after 64 requests", have, NBYTES);
        struct vq_buf b = { gpa(buf), NBYTES - have, true };
        int64_t len = virtq_transfer(&vq, &b, 1, false, 5000);
        CHECK(len >= 0, "no answer on the request queue");
        CHECK(len <= NBYTES - have, "the device claims %ld bytes in a %u-byte buffer", len, NBYTES - have);
        memcpy(out + have, buf, (size_t)len);
        have += (unsigned)len;
    }
    kprintf("rng: %u bytes in %u request(s):", NBYTES, requests);
    for (unsigned i = 0; i < 16; i++)
        kprintf(" %02x", out[i]);
    kprintf(" ...\n");
}

static bool all_zero(const uint8_t *p)
{
    for (unsigned i = 0; i < NBYTES; i++)
        if (p[i])
            return false;
    return true;
}

void test_main(void)
{
    CHECK(virtio_find(VIRTIO_ID_RNG, &dev), "no virtio-rng device");
    CHECK(virtio_start(&dev, 0, 0), "feature negotiation failed");
    virtio_print_features(&dev, NULL, 0);
    CHECK(virtq_init(&vq, &dev, 0, 8), "cannot set up the request queue");
    virtio_driver_ok(&dev);

    static uint8_t a[NBYTES], b[NBYTES];
    get_random(a);
    get_random(b);
    CHECK(!all_zero(a) && !all_zero(b), "the device returned all zeros");
    CHECK(memcmp(a, b, NBYTES) != 0, "the device returned the same 64 bytes twice");
    kprintf("rng: two non-zero, different blocks\n");
}
