/* blk — virtio-blk (device id 2): negotiates VERSION_1 (+ FLUSH, and
 * INDIRECT_DESC / EVENT_IDX as the command line says), prints the capacity,
 * asks for the device ID, writes a fresh pattern, flushes, reads it back and
 * compares; also a batch of reads under one notification and a read past
 * the end, which must fail with IOERR.
 *
 * cmdline: ro                 the device must offer VIRTIO_BLK_F_RO and
 *                             refuse a write with VIRTIO_BLK_S_IOERR (the
 *                             disk is only read)
 *          sector=N           first sector to overwrite (default 1; 8 sectors)
 *          indirect=on|off|auto, event_idx=on|off|auto (default auto);
 *                             noindirect, noeventidx = ...=off */
#include "virtio.h"

const char test_name[] = "blk";

#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9

enum { BLK_T_IN = 0, BLK_T_OUT = 1, BLK_T_FLUSH = 4, BLK_T_GET_ID = 8 };
enum { BLK_S_OK = 0, BLK_S_IOERR = 1, BLK_S_UNSUPP = 2 };

#define SECTOR 512
#define NSECT 8
#define TIMEOUT_MS 5000

struct blk_req {
    uint32_t type, reserved;
    uint64_t sector;
};

static struct virtio_dev dev;
static struct virtq vq;
static bool use_indirect;

static const char *const feature_names[] = {
    [VIRTIO_BLK_F_SIZE_MAX] = "SIZE_MAX", [VIRTIO_BLK_F_SEG_MAX] = "SEG_MAX", [4] = "GEOMETRY",
    [VIRTIO_BLK_F_RO] = "RO", [VIRTIO_BLK_F_BLK_SIZE] = "BLK_SIZE", [VIRTIO_BLK_F_FLUSH] = "FLUSH",
    [10] = "TOPOLOGY", [11] = "CONFIG_WCE", [12] = "MQ", [13] = "DISCARD", [14] = "WRITE_ZEROES",
};

/* One request: header, data in up to two segments (to exercise chains),
 * status.  Returns the status byte, or -1 if the device never answered. */
static int request(uint32_t type, uint64_t sector, void *data, uint32_t len, bool indirect)
{
    struct blk_req *h = arena_alloc(sizeof(*h), 16);
    volatile uint8_t *status = arena_alloc(1, 1);
    CHECK(h && status, "out of memory");
    *h = (struct blk_req){ .type = type, .sector = sector };
    *status = 0xff;
    bool write = type != BLK_T_OUT; /* the device writes IN and GET_ID data */
    struct vq_buf b[4];
    unsigned n = 0;
    b[n++] = (struct vq_buf){ gpa(h), sizeof(*h), false };
    if (len > SECTOR) {
        b[n++] = (struct vq_buf){ gpa(data), SECTOR, write };
        b[n++] = (struct vq_buf){ gpa(data) + SECTOR, len - SECTOR, write };
    } else if (len) {
        b[n++] = (struct vq_buf){ gpa(data), len, write };
    }
    b[n++] = (struct vq_buf){ gpa(status), 1, true };
    if (virtq_transfer(&vq, b, n, indirect, TIMEOUT_MS) < 0)
        return -1;
    return *status;
}

static void fill(uint8_t *buf, uint64_t seed, uint64_t sector)
{
    for (unsigned i = 0; i < NSECT * SECTOR; i += 8) {
        uint64_t v = seed ^ ((sector + i / SECTOR) << 32) ^ i;
        memcpy(buf + i, &v, 8);
    }
}

/* Several reads published together and announced with one kick. */
static void read_batch(uint64_t first, const uint8_t *expect)
{
    enum { N = 4 };
    struct blk_req *h = arena_alloc(N * sizeof(*h), 16);
    uint8_t *data = arena_alloc(N * SECTOR, 16);
    volatile uint8_t *status = arena_alloc(N, 1);
    CHECK(h && data && status, "out of memory");
    int heads[N];
    for (int i = 0; i < N; i++) {
        h[i] = (struct blk_req){ .type = BLK_T_IN, .sector = first + (uint64_t)i };
        status[i] = 0xff;
        struct vq_buf b[3] = {
            { gpa(&h[i]), sizeof(h[i]), false },
            { gpa(data + i * SECTOR), SECTOR, true },
            { gpa(&status[i]), 1, true },
        };
        heads[i] = virtq_submit(&vq, b, 3, use_indirect && (i & 1));
        CHECK(heads[i] >= 0, "queue full");
    }
    virtq_kick(&vq);
    for (int done = 0; done < N; done++) {
        uint32_t id, len;
        CHECK(virtq_wait(&vq, &id, &len, TIMEOUT_MS), "batched read: only %d of %d answered", done, N);
    }
    for (int i = 0; i < N; i++) {
        CHECK(status[i] == BLK_S_OK, "batched read %d: status %u", i, status[i]);
        if (expect)
            CHECK(memcmp(data + i * SECTOR, expect + i * SECTOR, SECTOR) == 0,
                  "batched read of sector %lu: data differs", first + (uint64_t)i);
    }
    kprintf("blk: %d reads under one notification: ok\n", N);
}

void test_main(void)
{
    bool ro = cmdline_has("ro");
    uint64_t want = BIT64(VIRTIO_BLK_F_FLUSH) | BIT64(VIRTIO_BLK_F_BLK_SIZE) | BIT64(VIRTIO_BLK_F_RO) |
                    BIT64(VIRTIO_BLK_F_SEG_MAX) | BIT64(VIRTIO_BLK_F_SIZE_MAX);
    uint64_t need = ro ? BIT64(VIRTIO_BLK_F_RO) : 0;
    virtio_feature_option("indirect", VIRTIO_F_INDIRECT_DESC, &want, &need);
    virtio_feature_option("event_idx", VIRTIO_F_EVENT_IDX, &want, &need);

    CHECK(virtio_find(VIRTIO_ID_BLOCK, &dev), "no virtio-blk device");
    CHECK(virtio_start(&dev, want, need), "feature negotiation failed");
    virtio_print_features(&dev, feature_names, ARRAY_SIZE(feature_names));
    use_indirect = virtio_has(&dev, VIRTIO_F_INDIRECT_DESC);
    CHECK(ro || !virtio_has(&dev, VIRTIO_BLK_F_RO), "the device is read-only but `ro` was not given");

    uint64_t capacity = virtio_cfg64(&dev, 0);
    uint32_t blk_size = virtio_has(&dev, VIRTIO_BLK_F_BLK_SIZE) ? virtio_cfg32(&dev, 20) : SECTOR;
    kprintf("blk: capacity %lu sectors (%lu KiB), block size %u\n", capacity, capacity / 2, blk_size);
    if (virtio_has(&dev, VIRTIO_BLK_F_SEG_MAX))
        CHECK(virtio_cfg32(&dev, 12) >= 4, "seg_max %u is too small for this test", virtio_cfg32(&dev, 12));

    CHECK(virtq_init(&vq, &dev, 0, 64), "cannot set up the request queue");
    virtio_driver_ok(&dev);
    kprintf("blk: queue 0 with %u entries, %s descriptors, event index %s\n", vq.size,
            use_indirect ? "indirect and direct" : "direct", vq.event_idx ? "on" : "off");

    char *id = arena_alloc(21, 8);
    CHECK(id, "out of memory");
    int st = request(BLK_T_GET_ID, 0, id, 20, false);
    CHECK(st == BLK_S_OK, "GET_ID: status %d", st);
    kprintf("blk: device id \"");
    kput_printable(id, strlen(id));
    kprintf("\"\n");

    uint8_t *buf = arena_alloc(NSECT * SECTOR, 4096), *back = arena_alloc(NSECT * SECTOR, 4096);
    CHECK(buf && back, "out of memory");

    st = request(BLK_T_IN, capacity, back, SECTOR, false);
    kprintf("blk: read past the end (sector %lu) -> status %d\n", capacity, st);
    CHECK(st == BLK_S_IOERR, "read past the end: status %d, expected IOERR (1)", st);

    if (ro) {
        st = request(BLK_T_IN, 0, back, SECTOR, use_indirect);
        CHECK(st == BLK_S_OK, "read of sector 0: status %d", st);
        fill(buf, rand64(), 0);
        st = request(BLK_T_OUT, 0, buf, SECTOR, false);
        kprintf("blk: write to the read-only device -> status %d\n", st);
        CHECK(st == BLK_S_IOERR, "write to a read-only device: status %d, expected IOERR (1)", st);
        st = request(BLK_T_IN, 0, buf, SECTOR, false);
        CHECK(st == BLK_S_OK && memcmp(buf, back, SECTOR) == 0, "sector 0 changed after the refused write");
        kprintf("blk: the write was refused and sector 0 is unchanged\n");
        return;
    }

    uint64_t sector = cmdline_u64("sector", 1);
    CHECK(capacity >= sector + NSECT, "the disk is too small: %lu sectors, need %lu", capacity, sector + NSECT);
    uint64_t seed = rand64();
    fill(buf, seed, sector);
    st = request(BLK_T_OUT, sector, buf, NSECT * SECTOR, use_indirect);
    CHECK(st == BLK_S_OK, "write of sectors %lu..%lu: status %d", sector, sector + NSECT - 1, st);
    kprintf("blk: wrote sectors %lu..%lu (pattern %#lx)\n", sector, sector + NSECT - 1, seed);
    if (virtio_has(&dev, VIRTIO_BLK_F_FLUSH)) {
        st = request(BLK_T_FLUSH, 0, NULL, 0, false);
        CHECK(st == BLK_S_OK, "FLUSH: status %d", st);
        kprintf("blk: flush ok\n");
    } else {
        kprintf("blk: the device offers no FLUSH\n");
    }
    memset(back, 0xaa, NSECT * SECTOR);
    st = request(BLK_T_IN, sector, back, NSECT * SECTOR, use_indirect);
    CHECK(st == BLK_S_OK, "read of sectors %lu..%lu: status %d", sector, sector + NSECT - 1, st);
    for (unsigned i = 0; i < NSECT * SECTOR; i++)
        CHECK(back[i] == buf[i], "read back differs at byte %u: %#x, wrote %#x", i, back[i], buf[i]);
    kprintf("blk: read back %u bytes: identical\n", NSECT * SECTOR);
    read_batch(sector, buf);
    kprintf("blk: %u interrupts\n", dev.irqs);
}
