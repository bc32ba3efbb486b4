/* The virtio-mmio transport and the device types, driven the way a guest
 * driver would: register accesses through the bus, rings in guest RAM. */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "block/block.h"
#include "virtio/virtio.h"

/* After the project headers: cmocka defines a fail() macro of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define RAM_SIZE (2u << 20)
#define QSIZE 16
#define BUF 0x40000 /* request buffers from here */
#define FEAT(b) (1ULL << (b))
#define BASE_FEATURES (FEAT(VIRTIO_F_VERSION_1))

struct fx {
    struct dev_host host;
    uint8_t *ram;
    struct guest_mem mem;
    struct evloop *loop;
    struct bus bus;
    char cmdline[512];
    struct virtio_dev *d;
    uint64_t base;
    int pulses;          /* set_irq(.., 1) calls */
    unsigned last_gsi;
    bool fake_irqfd;     /* irqfd/ioeventfd "work": the test reads the eventfds */
    int irqfd;
    int tmpfd;
    struct blk *disk;    /* the block layer over tmpfd */
    int pipe_in[2], pipe_out[2], sock[2];
    uint16_t avail_idx[VIRTIO_MAX_QUEUES];
};

static void stub_set_irq(struct dev_host *h, unsigned gsi, int level)
{
    struct fx *f = h->opaque;
    f->last_gsi = gsi;
    if (level)
        f->pulses++;
}

static int stub_irqfd(struct dev_host *h, int fd, unsigned gsi)
{
    struct fx *f = h->opaque;
    (void)gsi;
    if (!f->fake_irqfd)
        return -ENOSYS;
    f->irqfd = fd;
    return 0;
}

static int stub_ioeventfd(struct dev_host *h, int fd, uint64_t addr, unsigned len, uint64_t m)
{
    struct fx *f = h->opaque;
    (void)fd, (void)addr, (void)len, (void)m;
    return f->fake_irqfd ? 0 : -ENOSYS;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->ram = aligned_alloc(4096, RAM_SIZE);
    memset(f->ram, 0, RAM_SIZE);
    gm_wrap(&f->mem, f->ram, RAM_SIZE);
    assert_int_equal(evloop_new(&f->loop), 0);
    f->host = (struct dev_host){ .mem = &f->mem, .loop = f->loop, .opaque = f,
                                 .set_irq = stub_set_irq, .irqfd = stub_irqfd,
                                 .ioeventfd = stub_ioeventfd };
    f->irqfd = f->tmpfd = -1;
    f->pipe_in[0] = f->pipe_in[1] = f->pipe_out[0] = f->pipe_out[1] = -1;
    f->sock[0] = f->sock[1] = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    virtio_dev_free(f->d);
    if (f->disk)
        blk_close(f->disk);
    evloop_free(f->loop);
    int fds[] = { f->tmpfd, f->pipe_in[0], f->pipe_in[1], f->pipe_out[0], f->pipe_out[1],
                  f->sock[0], f->sock[1] };
    for (unsigned i = 0; i < ARRAY_SIZE(fds); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(f->ram);
    free(f);
    return 0;
}

static void add(struct fx *f, struct virtio_dev *d, unsigned slot)
{
    f->d = d;
    assert_int_equal(virtio_mmio_add(d, &f->host, &f->bus, slot, f->cmdline,
                                     sizeof(f->cmdline)), 0);
    f->base = VIRTIO_MMIO_BASE + slot * VIRTIO_MMIO_SIZE;
}

static uint32_t rd(struct fx *f, uint64_t off)
{
    uint32_t v;
    assert_true(bus_access(&f->bus, f->base + off, (uint8_t *)&v, 4, false));
    return v;
}

static void wr(struct fx *f, uint64_t off, uint32_t v)
{
    assert_true(bus_access(&f->bus, f->base + off, (uint8_t *)&v, 4, true));
}

/* Queue q's rings: desc, avail, used in consecutive pages. */
static uint64_t ring(unsigned q, unsigned part) { return 0x10000 + q * 0x3000 + part * 0x1000; }

static void setup_queue(struct fx *f, unsigned q)
{
    memset(f->ram + ring(q, 0), 0, 0x3000); /* fresh rings, as a driver allocates */
    wr(f, VIRTIO_MMIO_QUEUE_SEL, q);
    assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
    assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
    wr(f, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
    wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)ring(q, 0));
    wr(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
    wr(f, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)ring(q, 1));
    wr(f, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
    wr(f, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)ring(q, 2));
    wr(f, VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
    wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
    assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 1);
}

static void set_features(struct fx *f, uint64_t feat)
{
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)feat);
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(feat >> 32));
}

/* The Linux driver's sequence (virtio 1.2 3.1.1). */
static void driver_init(struct fx *f, uint64_t feat, unsigned nq)
{
    wr(f, VIRTIO_MMIO_STATUS, 0);
    wr(f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    wr(f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    set_features(f, feat);
    uint32_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                  VIRTIO_CONFIG_S_FEATURES_OK;
    wr(f, VIRTIO_MMIO_STATUS, st);
    assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), st);
    for (unsigned q = 0; q < nq; q++)
        setup_queue(f, q);
    memset(f->avail_idx, 0, sizeof(f->avail_idx));
    wr(f, VIRTIO_MMIO_STATUS, st | VIRTIO_CONFIG_S_DRIVER_OK);
    assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), st | VIRTIO_CONFIG_S_DRIVER_OK);
}

struct seg {
    uint64_t gpa;
    uint32_t len;
    bool write;
};

/* Puts a chain on queue q (descriptors 4*slot.. so up to 4 chains can be
 * outstanding) without kicking. */
static void post(struct fx *f, unsigned q, const struct seg *s, unsigned n)
{
    uint16_t idx = f->avail_idx[q];
    unsigned first = (idx % 4) * 4;
    for (unsigned i = 0; i < n; i++) {
        struct vring_desc d = { .addr = s[i].gpa, .len = s[i].len,
                                .flags = (uint16_t)((s[i].write ? VRING_DESC_F_WRITE : 0) |
                                                    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
                                .next = (uint16_t)(first + i + 1) };
        memcpy(f->ram + ring(q, 0) + 16 * (first + i), &d, sizeof(d));
    }
    uint16_t *avail = (uint16_t *)(f->ram + ring(q, 1));
    avail[2 + idx % QSIZE] = (uint16_t)first;
    f->avail_idx[q] = (uint16_t)(idx + 1);
    __atomic_store_n(&avail[1], f->avail_idx[q], __ATOMIC_RELEASE);
}

static uint16_t used_idx(struct fx *f, unsigned q)
{
    return __atomic_load_n((uint16_t *)(f->ram + ring(q, 2) + 2), __ATOMIC_ACQUIRE);
}

static uint32_t used_len(struct fx *f, unsigned q, uint16_t i)
{
    struct vring_used_elem e;
    memcpy(&e, f->ram + ring(q, 2) + 4 + 8 * (i % QSIZE), sizeof(e));
    return e.len;
}

/* Posts, kicks and returns the used length of the completed chain. */
static uint32_t submit(struct fx *f, unsigned q, const struct seg *s, unsigned n)
{
    uint16_t before = used_idx(f, q);
    post(f, q, s, n);
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, q);
    assert_int_equal(used_idx(f, q), (uint16_t)(before + 1));
    return used_len(f, q, before);
}

/* ---- transport ----------------------------------------------------------- */

static void test_identity(void **state)
{
    struct fx *f = *state;
    struct virtio_dev *d;
    assert_int_equal(virtio_rng_new(&d), 0);
    add(f, d, 0);
    assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
    assert_int_equal(rd(f, VIRTIO_MMIO_VERSION), 2);
    assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
    assert_int_equal(rd(f, VIRTIO_MMIO_VENDOR_ID), 0x4c525243);
    /* Only aligned 32-bit register accesses count. */
    uint8_t b = 0xaa;
    bus_access(&f->bus, f->base, &b, 1, false);
    assert_int_equal(b, 0);
    uint32_t v = 0xaaaa;
    bus_access(&f->bus, f->base + 2, (uint8_t *)&v, 4, false);
    assert_int_equal(v, 0);
    wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 1); /* VERSION_1 */
    wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint32_t lo = rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
    assert_true(lo & FEAT(VIRTIO_RING_F_INDIRECT_DESC));
    assert_true(lo & FEAT(VIRTIO_RING_F_EVENT_IDX));
    wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
    assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 0);
    wr(f, VIRTIO_MMIO_QUEUE_SEL, 1); /* rng has one queue */
    assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
    wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
    assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
    assert_int_equal(rd(f, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
    assert_string_equal(f->cmdline, " virtio_mmio.device=4K@0xd0000000:5");
}

static void test_add_slots(void **state)
{
    struct fx *f = *state;
    struct virtio_dev *d, *e;
    assert_int_equal(virtio_rng_new(&d), 0);
    add(f, d, 3);
    assert_int_equal(d->irq, 10); /* 8 is the RTC's, 9 ACPI's SCI */
    assert_string_equal(f->cmdline, " virtio_mmio.device=4K@0xd0003000:10");
    assert_int_equal(virtio_rng_new(&e), 0);
    assert_true(virtio_mmio_add(e, &f->host, &f->bus, VIRTIO_MAX_DEVICES, f->cmdline,
                                sizeof(f->cmdline)) < 0);
    char small[40] = "console=ttyS0";
    assert_int_equal(virtio_mmio_add(e, &f->host, &f->bus, 4, small, sizeof(small)), -ENOSPC);
    assert_string_equal(small, "console=ttyS0");
    assert_int_equal(virtio_mmio_add(e, &f->host, &f->bus, 3, f->cmdline,
                                     sizeof(f->cmdline)), -EEXIST);
    assert_int_equal(virtio_mmio_add(e, &f->host, &f->bus, 15, f->cmdline,
                                     sizeof(f->cmdline)), 0);
    assert_int_equal(e->irq, 23);
    virtio_dev_free(e);
}

static void test_negotiation(void **state)
{
    struct fx *f = *state;
    struct virtio_dev *d;
    assert_int_equal(virtio_rng_new(&d), 0);
    add(f, d, 0);
    driver_init(f, BASE_FEATURES | FEAT(VIRTIO_RING_F_EVENT_IDX), 1);
    assert_true(d->vq[0].event_idx);
    assert_false(d->vq[0].indirect);
    /* Features are frozen after FEATURES_OK. */
    set_features(f, BASE_FEATURES | FEAT(VIRTIO_RING_F_INDIRECT_DESC));
    assert_int_equal(d->s.driver_features, BASE_FEATURES | FEAT(VIRTIO_RING_F_EVENT_IDX));
}

#define DISK_SECTORS 64

/* A raw disk of DISK_SECTORS in an unlinked temporary file, opened through
 * the block layer; f->tmpfd lets tests look at the file directly. */
static struct blk *make_disk(struct fx *f, bool ro)
{
    char path[] = "/tmp/corral-blk-XXXXXX";
    f->tmpfd = mkstemp(path);
    assert_true(f->tmpfd >= 0);
    unlink(path);
    assert_int_equal(ftruncate(f->tmpfd, DISK_SECTORS * 512), 0);
    char fdpath[64];
    snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", f->tmpfd);
    assert_int_equal(blk_open(fdpath, BLK_FMT_RAW, ro ? BLK_OPEN_RDONLY : 0, &f->disk), 0);
    return f->disk;
}

static void test_features_refused(void **state)
{
    struct fx *f = *state;
    struct virtio_dev *d;
    assert_int_equal(virtio_blk_new(&d, &(struct virtio_blk_cfg){ .disk = make_disk(f, false) }), 0);
    add(f, d, 0);
    uint32_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
    wr(f, VIRTIO_MMIO_STATUS, st);
    set_features(f, FEAT(VIRTIO_RING_F_EVENT_IDX)); /* no VERSION_1 */
    wr(f, VIRTIO_MMIO_STATUS, st | VIRTIO_CONFIG_S_FEATURES_OK);
    assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), st);
    set_features(f, BASE_FEATURES | FEAT(VIRTIO_BLK_F_RO)); /* RO not offered here */
    wr(f, VIRTIO_MMIO_STATUS, st | VIRTIO_CONFIG_S_FEATURES_OK);
    assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), st);
    set_features(f, BASE_FEATURES | FEAT(40));
    wr(f, VIRTIO_MMIO_STATUS, st | VIRTIO_CONFIG_S_FEATURES_OK);
    assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), st);
    /* DRIVER_OK regardless is a driver bug: the device needs a reset. */
    wr(f, VIRTIO_MMIO_STATUS, st | VIRTIO_CONFIG_S_DRIVER_OK);
    assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
    assert_false(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_DRIVER_OK);
    /* After a reset a good driver gets through. */
    driver_init(f, BASE_FEATURES | FEAT(VIRTIO_BLK_F_FLUSH), 1);
}

static void test_bad_layout(void **state)
{
    struct fx *f = *state;
    struct virtio_dev *d;
    assert_int_equal(virtio_rng_new(&d), 0);
    add(f, d, 0);
    uint32_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                  VIRTIO_CONFIG_S_FEATURES_OK;
    wr(f, VIRTIO_MMIO_STATUS, st & ~VIRTIO_CONFIG_S_FEATURES_OK);
    set_features(f, BASE_FEATURES);
    wr(f, VIRTIO_MMIO_STATUS, st);
    wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
    wr(f, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
    wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
    wr(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0x10); /* far outside RAM */
    wr(f, VIRTIO_MMIO_QUEUE_AVAIL_LOW, 0x2000);
    wr(f, VIRTIO_MMIO_QUEUE_USED_LOW, 0x3000);
    wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
    assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
    assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
    assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
    assert_int_equal(f->pulses, 1);
    assert_int_equal(f->last_gsi, 5);
    assert_true(atomic_load(&d->errors) >= 1);
    wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
    assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
    /* Reset clears it all. */
    wr(f, VIRTIO_MMIO_STATUS, 0);
    assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
    assert_false(d->broken);
    driver_init(f, BASE_FEATURES, 1);
}

static void test_bad_queue_num(void **state)
{
    struct fx *f = *state;
    struct virtio_dev *d;
    assert_int_equal(virtio_rng_new(&d), 0);
    add(f, d, 0);
    wr(f, VIRTIO_MMIO_QUEUE_NUM, VIRTQ_MAX_SIZE + 1);
    assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
    wr(f, VIRTIO_MMIO_STATUS, 0);
    wr(f, VIRTIO_MMIO_QUEUE_NUM, 0);
    assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
    /* A split queue's size must be a power of 2. */
    static const uint32_t bad[] = { 3, 5, 6, 7, 12, 100, VIRTQ_MAX_SIZE - 1 };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        wr(f, VIRTIO_MMIO_STATUS, 0);
        wr(f, VIRTIO_MMIO_QUEUE_NUM, bad[i]);
        assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
    }
    for (uint32_t n = 1; n <= VIRTQ_MAX_SIZE; n *= 2) {
        wr(f, VIRTIO_MMIO_STATUS, 0);
        wr(f, VIRTIO_MMIO_QUEUE_NUM, n);
        assert_false(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
        assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM), n);
    }
}

static void test_reset(void **state)
{
    struct fx *f = *state;
    struct virtio_dev *d;
    assert_int_equal(virtio_rng_new(&d), 0);
    add(f, d, 0);
    driver_init(f, BASE_FEATURES, 1);
    struct seg s = { BUF, 16, true };
    submit(f, 0, &s, 1);
    assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
    /* A live queue's set-up is frozen. */
    wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x5000);
    assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_DESC_LOW), ring(0, 0));
    wr(f, VIRTIO_MMIO_STATUS, 0);
    assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
    assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
    assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
    assert_int_equal(d->s.driver_features, 0);
    /* Kicks before DRIVER_OK do nothing. */
    post(f, 0, &s, 1);
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(used_idx(f, 0), 1);
}

static void test_irq_pulses(void **state)
{
    struct fx *f = *state;
    struct virtio_dev *d;
    assert_int_equal(virtio_rng_new(&d), 0);
    add(f, d, 2);
    driver_init(f, BASE_FEATURES, 1);
    struct seg s = { BUF, 8, true };
    submit(f, 0, &s, 1);
    assert_int_equal(f->pulses, 1);
    assert_int_equal(f->last_gsi, 7);
    /* The driver asks for no interrupts. */
    *(uint16_t *)(f->ram + ring(0, 1)) = VRING_AVAIL_F_NO_INTERRUPT;
    submit(f, 0, &s, 1);
    assert_int_equal(f->pulses, 1);
    assert_int_equal(atomic_load(&d->requests), 2);
}

static void test_event_idx_mmio(void **state)
{
    struct fx *f = *state;
    struct virtio_dev *d;
    assert_int_equal(virtio_rng_new(&d), 0);
    add(f, d, 0);
    driver_init(f, BASE_FEATURES | FEAT(VIRTIO_RING_F_EVENT_IDX), 1);
    uint16_t *used_event = (uint16_t *)(f->ram + ring(0, 1) + 4 + 2 * QSIZE);
    uint16_t *avail_event = (uint16_t *)(f->ram + ring(0, 2) + 4 + 8 * QSIZE);
    struct seg s = { BUF, 8, true };
    *used_event = 2; /* interrupt when entry 2 is used */
    submit(f, 0, &s, 1);
    assert_int_equal(f->pulses, 1); /* the first is never suppressed */
    assert_int_equal(*avail_event, 1);
    submit(f, 0, &s, 1);
    assert_int_equal(f->pulses, 1);
    submit(f, 0, &s, 1);
    assert_int_equal(f->pulses, 2);
}

static void test_indirect_mmio(void **state)
{
    struct fx *f = *state;
    struct virtio_dev *d;
    assert_int_equal(virtio_rng_new(&d), 0);
    add(f, d, 0);
    driver_init(f, BASE_FEATURES | FEAT(VIRTIO_RING_F_INDIRECT_DESC), 1);
    struct vring_desc t[2] = { { .addr = BUF, .len = 10, .flags = VRING_DESC_F_WRITE |
                                 VRING_DESC_F_NEXT, .next = 1 },
                               { .addr = BUF + 100, .len = 20, .flags = VRING_DESC_F_WRITE } };
    memcpy(f->ram + 0x30000, t, sizeof(t));
    struct vring_desc head = { .addr = 0x30000, .len = sizeof(t), .flags = VRING_DESC_F_INDIRECT };
    memcpy(f->ram + ring(0, 0), &head, sizeof(head));
    uint16_t *avail = (uint16_t *)(f->ram + ring(0, 1));
    avail[2] = 0;
    avail[1] = 1;
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(used_idx(f, 0), 1);
    assert_int_equal(used_len(f, 0, 0), 30);
}

static void test_guest_error_breaks(void **state)
{
    struct fx *f = *state;
    struct virtio_dev *d;
    assert_int_equal(virtio_rng_new(&d), 0);
    add(f, d, 0);
    driver_init(f, BASE_FEATURES, 1);
    struct seg s = { RAM_SIZE - 4, 8, true }; /* runs off the end of RAM */
    post(f, 0, &s, 1);
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(used_idx(f, 0), 0);
    assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
    assert_true(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
    /* Broken: good requests are not served until reset. */
    struct seg g = { BUF, 8, true };
    post(f, 0, &g, 1);
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(used_idx(f, 0), 0);
    driver_init(f, BASE_FEATURES, 1);
    submit(f, 0, &g, 1);
}

/* irqfd and ioeventfd available: interrupts go to the eventfd, and kicks
 * are served by the I/O loop. */
struct loop_thread {
    pthread_t t;
    struct evloop *l;
};

static void *run_loop(void *arg)
{
    struct loop_thread *lt = arg;
    evloop_run(lt->l);
    return NULL;
}

static bool wait_used(struct fx *f, unsigned q, uint16_t want)
{
    for (int i = 0; i < 2000 && used_idx(f, q) != want; i++)
        usleep(1000);
    return used_idx(f, q) == want;
}

static void test_eventfds(void **state)
{
    struct fx *f = *state;
    f->fake_irqfd = true;
    struct virtio_dev *d;
    assert_int_equal(virtio_rng_new(&d), 0);
    add(f, d, 0);
    assert_true(d->irq_fd >= 0 && d->kick_fd[0] >= 0);
    driver_init(f, BASE_FEATURES, 1);
    struct loop_thread lt = { .l = f->loop };
    pthread_create(&lt.t, NULL, run_loop, &lt);
    struct seg s = { BUF, 64, true };
    post(f, 0, &s, 1);
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0); /* as if KVM signalled the ioeventfd */
    bool ok = wait_used(f, 0, 1);
    evloop_stop(f->loop);
    pthread_join(lt.t, NULL);
    assert_true(ok);
    uint64_t n = 0;
    assert_int_equal(read(f->irqfd, &n, sizeof(n)), sizeof(n));
    assert_int_equal(n, 1);
    assert_int_equal(f->pulses, 0);
}

/* A notified queue is served VIRTIO_PASS_BUDGET requests per pass of the
 * I/O loop; a pass that used the budget up signals the queue's kick
 * eventfd again, so the loop serves its other fds (the control API, other
 * devices) before it comes back: a guest that keeps publishing buffers
 * cannot hold it. */
static void test_serve_budget(void **state)
{
    struct fx *f = *state;
    f->fake_irqfd = true;
    struct virtio_dev *d;
    assert_int_equal(virtio_rng_new(&d), 0);
    add(f, d, 0);
    assert_true(d->kick_fd[0] >= 0);
    /* One queue of 256 with 200 requests waiting: more than three passes. */
    enum { N = 256, WAITING = 200 };
    wr(f, VIRTIO_MMIO_STATUS, 0);
    wr(f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    set_features(f, BASE_FEATURES);
    uint32_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK;
    wr(f, VIRTIO_MMIO_STATUS, st);
    memset(f->ram + ring(0, 0), 0, 0x3000);
    wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
    wr(f, VIRTIO_MMIO_QUEUE_NUM, N);
    wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)ring(0, 0));
    wr(f, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)ring(0, 1));
    wr(f, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)ring(0, 2));
    wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
    for (unsigned i = 0; i < WAITING; i++) {
        struct vring_desc desc = { .addr = BUF, .len = 16, .flags = VRING_DESC_F_WRITE };
        memcpy(f->ram + ring(0, 0) + 16 * i, &desc, sizeof(desc));
        ((uint16_t *)(f->ram + ring(0, 1)))[2 + i] = (uint16_t)i;
    }
    ((uint16_t *)(f->ram + ring(0, 1)))[1] = WAITING;
    wr(f, VIRTIO_MMIO_STATUS, st | VIRTIO_CONFIG_S_DRIVER_OK);    /* serves queued buffers: pass 1 */
    unsigned want = VIRTIO_PASS_BUDGET;
    for (int pass = 1;; pass++) {
        assert_int_equal(used_idx(f, 0), want);
        struct pollfd p = { d->kick_fd[0], POLLIN, 0 };
        bool rearmed = poll(&p, 1, 0) == 1;
        assert_true(rearmed == (want < WAITING));    /* a full pass asks to come back */
        if (!rearmed)
            break;
        uint64_t n;
        assert_int_equal(read(d->kick_fd[0], &n, sizeof(n)), sizeof(n));
        pthread_mutex_lock(&d->lock);    /* as the I/O loop's kick handler does */
        d->ops->notify(d, 0);
        pthread_mutex_unlock(&d->lock);
        want = want + VIRTIO_PASS_BUDGET < WAITING ? want + VIRTIO_PASS_BUDGET : WAITING;
        assert_true(pass < 10);
    }
    assert_int_equal(atomic_load(&d->requests), WAITING);
    assert_false(d->broken);
}

/* ---- virtio-blk ---------------------------------------------------------- */

static struct virtio_dev *blk_setup(struct fx *f, bool ro)
{
    struct virtio_blk_cfg cfg = { .disk = make_disk(f, ro), .readonly = ro };
    memcpy(cfg.serial, "corral-disk-serial-1", 20);
    struct virtio_dev *d;
    assert_int_equal(virtio_blk_new(&d, &cfg), 0);
    add(f, d, 1);
    driver_init(f, BASE_FEATURES | FEAT(VIRTIO_BLK_F_FLUSH) | (ro ? FEAT(VIRTIO_BLK_F_RO) : 0), 1);
    return d;
}

#define HDR 0x40000
#define DATA 0x41000
#define STATUS 0x4ff00

/* One request: header, optional data (readable for writes, writable
 * otherwise), status.  Returns the status byte; *used gets the used length. */
static uint8_t blk_req(struct fx *f, uint32_t type, uint64_t sector, uint32_t len,
                       uint32_t *used)
{
    struct virtio_blk_outhdr h = { .type = type, .sector = sector };
    memcpy(f->ram + HDR, &h, sizeof(h));
    f->ram[STATUS] = 0xee;
    struct seg s[3] = { { HDR, sizeof(h), false } };
    unsigned n = 1;
    if (len)
        s[n++] = (struct seg){ DATA, len, type != VIRTIO_BLK_T_OUT };
    s[n++] = (struct seg){ STATUS, 1, true };
    uint32_t u = submit(f, 0, s, n);
    if (used)
        *used = u;
    return f->ram[STATUS];
}

static void test_blk_config(void **state)
{
    struct fx *f = *state;
    blk_setup(f, false);
    uint64_t cap = 0;
    assert_true(bus_access(&f->bus, f->base + 0x100, (uint8_t *)&cap, 8, false));
    assert_int_equal(cap, DISK_SECTORS);
    uint32_t lo = rd(f, 0x100), hi = rd(f, 0x104);
    assert_int_equal(lo, DISK_SECTORS);
    assert_int_equal(hi, 0);
    assert_int_equal(rd(f, 0x100 + offsetof(struct virtio_blk_config, blk_size)), 512);
    assert_int_equal(rd(f, 0x100 + offsetof(struct virtio_blk_config, seg_max)),
                     VIRTQ_MAX_SIZE - 2);
    uint8_t b = 0xaa;
    bus_access(&f->bus, f->base + 0x100 + sizeof(struct virtio_blk_config), &b, 1, false);
    assert_int_equal(b, 0);
    uint8_t three[3] = { 1, 1, 1 };
    bus_access(&f->bus, f->base + 0x100, three, 3, false);
    assert_int_equal(three[0], 0);
    wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint32_t feat = rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
    assert_true(feat & FEAT(VIRTIO_BLK_F_FLUSH));
    assert_true(feat & FEAT(VIRTIO_BLK_F_SEG_MAX));
    assert_false(feat & FEAT(VIRTIO_BLK_F_RO));
    assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
}

static void test_blk_io(void **state)
{
    struct fx *f = *state;
    struct virtio_dev *d = blk_setup(f, false);
    for (unsigned i = 0; i < 1024; i++)
        f->ram[DATA + i] = (uint8_t)(i * 7 + 1);
    uint32_t used;
    assert_int_equal(blk_req(f, VIRTIO_BLK_T_OUT, 3, 1024, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, 1);
    uint8_t disk[1024];
    assert_int_equal(pread(f->tmpfd, disk, sizeof(disk), 3 * 512), sizeof(disk));
    assert_memory_equal(disk, f->ram + DATA, sizeof(disk));
    memset(f->ram + DATA, 0, 1024);
    assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, 3, 1024, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, 1025);
    assert_memory_equal(disk, f->ram + DATA, sizeof(disk));
    assert_int_equal(blk_req(f, VIRTIO_BLK_T_FLUSH, 0, 0, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(blk_req(f, VIRTIO_BLK_T_GET_ID, 0, 20, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, 21);
    assert_memory_equal(f->ram + DATA, "corral-disk-serial-1", 20);
    /* The last sector is fine, one past it is not. */
    assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, 512, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, 1024, NULL),
                     VIRTIO_BLK_S_IOERR);
    assert_int_equal(blk_req(f, VIRTIO_BLK_T_OUT, DISK_SECTORS, 512, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, UINT64_MAX / 512 + 1, 512, NULL),
                     VIRTIO_BLK_S_IOERR);
    assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, UINT64_MAX, 512, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(blk_req(f, VIRTIO_BLK_T_OUT, 0, 100, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(blk_req(f, 99, 0, 0, NULL), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(blk_req(f, VIRTIO_BLK_T_DISCARD, 0, 16, NULL), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(atomic_load(&d->errors), 7);
    assert_int_equal(atomic_load(&d->requests), 12);

    /* A header shorter than 16 bytes. */
    struct seg s[2] = { { HDR, 8, false }, { STATUS, 1, true } };
    f->ram[STATUS] = 0xee;
    submit(f, 0, s, 2);
    assert_int_equal(f->ram[STATUS], VIRTIO_BLK_S_IOERR);
    /* Status is the last byte of the last writable buffer, even if that
     * buffer is bigger. */
    struct virtio_blk_outhdr h = { .type = VIRTIO_BLK_T_IN, .sector = 3 };
    memcpy(f->ram + HDR, &h, sizeof(h));
    struct seg t[2] = { { HDR, 16, false }, { DATA, 513, true } };
    f->ram[DATA + 512] = 0xee;
    assert_int_equal(submit(f, 0, t, 2), 513);
    assert_int_equal(f->ram[DATA + 512], VIRTIO_BLK_S_OK);
    assert_memory_equal(disk, f->ram + DATA, 512);
    /* No writable byte at all: completed empty, device still fine. */
    struct seg u[1] = { { HDR, 16, false } };
    assert_int_equal(submit(f, 0, u, 1), 0);
    assert_false(d->broken);
}

static void test_blk_readonly(void **state)
{
    struct fx *f = *state;
    blk_setup(f, true);
    wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    assert_true(rd(f, VIRTIO_MMIO_DEVICE_FEATURES) & FEAT(VIRTIO_BLK_F_RO));
    memset(f->ram + DATA, 0x5a, 512);
    assert_int_equal(blk_req(f, VIRTIO_BLK_T_OUT, 0, 512, NULL), VIRTIO_BLK_S_IOERR);
    uint8_t disk[512], zero[512] = { 0 };
    assert_int_equal(pread(f->tmpfd, disk, sizeof(disk), 0), sizeof(disk));
    assert_memory_equal(disk, zero, sizeof(disk));
    assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, 0, 512, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(blk_req(f, VIRTIO_BLK_T_FLUSH, 0, 0, NULL), VIRTIO_BLK_S_OK);
}

/* ---- virtio-rng ---------------------------------------------------------- */

static void test_rng(void **state)
{
    struct fx *f = *state;
    struct virtio_dev *d;
    assert_int_equal(virtio_rng_new(&d), 0);
    add(f, d, 0);
    driver_init(f, BASE_FEATURES, 1);
    struct seg s[2] = { { BUF, 100, true }, { BUF + 200, 156, true } };
    assert_int_equal(submit(f, 0, s, 2), 256);
    int nonzero = 0;
    for (unsigned i = 0; i < 100; i++)
        nonzero += f->ram[BUF + i] != 0;
    assert_true(nonzero > 50);
    assert_int_equal(f->ram[BUF + 150], 0); /* the gap is untouched */
    struct seg big = { BUF, 100 * 1024, true };
    assert_int_equal(submit(f, 0, &big, 1), 64 * 1024);
    struct seg ro = { BUF, 16, false }; /* nothing to fill */
    assert_int_equal(submit(f, 0, &ro, 1), 0);
}

/* ---- virtio-console ------------------------------------------------------ */

static void test_console(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pipe2(f->pipe_in, O_NONBLOCK), 0);
    assert_int_equal(pipe2(f->pipe_out, O_NONBLOCK), 0);
    struct virtio_dev *d;
    assert_int_equal(virtio_console_new(&d, (struct console_io){ f->pipe_in[0],
                                                                 f->pipe_out[1] }), 0);
    add(f, d, 0);
    assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_CONSOLE);
    driver_init(f, BASE_FEATURES, 2);
    memcpy(f->ram + BUF, "hello, ", 7);
    memcpy(f->ram + BUF + 0x100, "world", 5);
    struct seg tx[2] = { { BUF, 7, false }, { BUF + 0x100, 5, false } };
    assert_int_equal(submit(f, 1, tx, 2), 0);
    char out[32] = { 0 };
    assert_int_equal(read(f->pipe_out[0], out, sizeof(out)), 12);
    assert_string_equal(out, "hello, world");

    struct seg rx = { BUF + 0x1000, 64, true };
    post(f, 0, &rx, 1);
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(used_idx(f, 0), 0); /* no input yet */
    assert_int_equal(write(f->pipe_in[1], "abc", 3), 3);
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(used_idx(f, 0), 1);
    assert_int_equal(used_len(f, 0, 0), 3);
    assert_memory_equal(f->ram + BUF + 0x1000, "abc", 3);

    /* Input arriving later is picked up by the I/O loop. */
    post(f, 0, &rx, 1);
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    struct loop_thread lt = { .l = f->loop };
    pthread_create(&lt.t, NULL, run_loop, &lt);
    assert_int_equal(write(f->pipe_in[1], "xy", 2), 2);
    bool ok = wait_used(f, 0, 2);
    evloop_stop(f->loop);
    pthread_join(lt.t, NULL);
    assert_true(ok);
    assert_int_equal(used_len(f, 0, 1), 2);
}

static void test_console_hangup(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pipe2(f->pipe_in, O_NONBLOCK), 0);
    struct virtio_dev *d;
    assert_int_equal(virtio_console_new(&d, (struct console_io){ f->pipe_in[0], -1 }), 0);
    add(f, d, 0);
    driver_init(f, BASE_FEATURES, 2);
    /* Input then hang-up while the guest has no buffers: the loop must
     * let go of the fd (or spin on EPOLLHUP) and keep the input. */
    assert_int_equal(write(f->pipe_in[1], "zz", 2), 2);
    close(f->pipe_in[1]);
    f->pipe_in[1] = -1;
    struct loop_thread lt = { .l = f->loop };
    pthread_create(&lt.t, NULL, run_loop, &lt);
    usleep(30000);
    evloop_stop(f->loop);
    pthread_join(lt.t, NULL);
    struct seg rx = { BUF, 64, true };
    post(f, 0, &rx, 1);
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(used_idx(f, 0), 1);
    assert_int_equal(used_len(f, 0, 0), 2);
    post(f, 0, &rx, 1);
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0); /* end of input: nothing more */
    assert_int_equal(used_idx(f, 0), 1);
    /* Output to nowhere is dropped, the request still completes. */
    struct seg tx = { BUF, 5, false };
    assert_int_equal(submit(f, 1, &tx, 1), 0);
}

/* ---- virtio-net ---------------------------------------------------------- */

#define NET_HDR sizeof(struct virtio_net_hdr_v1)

static struct virtio_dev *net_setup(struct fx *f)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, f->sock), 0);
    struct virtio_net_cfg cfg = { .tap_fd = f->sock[0], .mac = { 0x52, 0x54, 0, 1, 2, 3 } };
    struct virtio_dev *d;
    assert_int_equal(virtio_net_new(&d, &cfg), 0);
    add(f, d, 0);
    driver_init(f, BASE_FEATURES | FEAT(VIRTIO_NET_F_MAC) | FEAT(VIRTIO_NET_F_STATUS), 2);
    return d;
}

static void test_net_config(void **state)
{
    struct fx *f = *state;
    net_setup(f);
    assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
    uint8_t mac[6];
    for (unsigned i = 0; i < 6; i++)
        assert_true(bus_access(&f->bus, f->base + 0x100 + i, &mac[i], 1, false));
    const uint8_t want[6] = { 0x52, 0x54, 0, 1, 2, 3 };
    assert_memory_equal(mac, want, 6);
    uint16_t st;
    bus_access(&f->bus, f->base + 0x106, (uint8_t *)&st, 2, false);
    assert_int_equal(st, VIRTIO_NET_S_LINK_UP);
}

static void test_net_tx(void **state)
{
    struct fx *f = *state;
    struct virtio_dev *d = net_setup(f);
    memset(f->ram + BUF, 0, NET_HDR);
    for (unsigned i = 0; i < 60; i++)
        f->ram[BUF + 0x100 + i] = (uint8_t)i;
    struct seg s[2] = { { BUF, NET_HDR, false }, { BUF + 0x100, 60, false } };
    assert_int_equal(submit(f, 1, s, 2), 0);
    uint8_t frame[128];
    assert_int_equal(recv(f->sock[1], frame, sizeof(frame), 0), 60);
    assert_memory_equal(frame, f->ram + BUF + 0x100, 60);
    /* Header and frame in one buffer. */
    struct seg one = { BUF + 0x100 - NET_HDR, NET_HDR + 60, false };
    submit(f, 1, &one, 1);
    assert_int_equal(recv(f->sock[1], frame, sizeof(frame), 0), 60);
    /* Runts and giants are dropped and counted. */
    struct seg runt[2] = { { BUF, NET_HDR, false }, { BUF + 0x100, 13, false } };
    submit(f, 1, runt, 2);
    struct seg giant[2] = { { BUF, NET_HDR, false }, { BUF + 0x100, 65551, false } };
    submit(f, 1, giant, 2);
    struct seg tiny = { BUF, 4, false };
    submit(f, 1, &tiny, 1);
    assert_int_equal(recv(f->sock[1], frame, sizeof(frame), 0), -1);
    assert_int_equal(atomic_load(&d->errors), 3);
    assert_int_equal(atomic_load(&d->requests), 5);
}

static void test_net_rx(void **state)
{
    struct fx *f = *state;
    struct virtio_dev *d = net_setup(f);
    struct seg rx = { BUF, NET_HDR + 1514, true };
    memset(f->ram + BUF, 0xee, NET_HDR);
    post(f, 0, &rx, 1);
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(used_idx(f, 0), 0); /* nothing to receive yet */
    uint8_t frame[60];
    for (unsigned i = 0; i < sizeof(frame); i++)
        frame[i] = (uint8_t)(0xa0 + i);
    assert_int_equal(send(f->sock[1], frame, sizeof(frame), 0), sizeof(frame));
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(used_idx(f, 0), 1);
    assert_int_equal(used_len(f, 0, 0), NET_HDR + sizeof(frame));
    struct virtio_net_hdr_v1 h;
    memcpy(&h, f->ram + BUF, sizeof(h));
    assert_int_equal(h.num_buffers, 1);
    assert_int_equal(h.flags, 0);
    assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
    assert_memory_equal(f->ram + BUF + NET_HDR, frame, sizeof(frame));
    assert_int_equal(atomic_load(&d->requests), 1);

    /* Frames that arrive while the guest has no buffers wait in the tap
     * and are delivered, via the I/O loop, once it posts some. */
    assert_int_equal(send(f->sock[1], frame, 20, 0), 20);
    struct loop_thread lt = { .l = f->loop };
    pthread_create(&lt.t, NULL, run_loop, &lt);
    usleep(20000);
    assert_int_equal(used_idx(f, 0), 1);
    struct seg rx2 = { BUF + 0x1000, NET_HDR + 1514, true };
    post(f, 0, &rx2, 1);
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    bool ok = wait_used(f, 0, 2);
    post(f, 0, &rx2, 1);
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(send(f->sock[1], frame, 30, 0), 30);
    ok = ok && wait_used(f, 0, 3);
    evloop_stop(f->loop);
    pthread_join(lt.t, NULL);
    assert_true(ok);
    assert_int_equal(used_len(f, 0, 1), NET_HDR + 20);
    assert_int_equal(used_len(f, 0, 2), NET_HDR + 30);
}

/* An rx buffer with room for the header only (exactly 12 bytes) is used
 * up empty and counted; the device keeps receiving into the next one. */
static void test_net_rx_header_only(void **state)
{
    struct fx *f = *state;
    struct virtio_dev *d = net_setup(f);
    struct seg small = { BUF, NET_HDR, true }, rx = { BUF + 0x1000, NET_HDR + 1514, true };
    post(f, 0, &small, 1);
    post(f, 0, &rx, 1);
    uint8_t frame[60] = { 0x11 };
    assert_int_equal(send(f->sock[1], frame, sizeof(frame), 0), sizeof(frame));
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(used_idx(f, 0), 2);
    assert_int_equal(used_len(f, 0, 0), 0);
    assert_int_equal(used_len(f, 0, 1), NET_HDR + sizeof(frame));
    assert_int_equal(atomic_load(&d->errors), 1);
    /* Still alive: a later frame is received too. */
    post(f, 0, &rx, 1);
    assert_int_equal(send(f->sock[1], frame, 30, 0), 30);
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(used_idx(f, 0), 3);
    assert_int_equal(used_len(f, 0, 2), NET_HDR + 30);
}

static void test_net_reset_stops(void **state)
{
    struct fx *f = *state;
    struct virtio_dev *d = net_setup(f);
    struct seg rx = { BUF, NET_HDR + 1514, true };
    post(f, 0, &rx, 1);
    virtio_dev_reset(d); /* as the VMM does on reboot */
    assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
    assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
    uint8_t frame[20] = { 0 };
    assert_int_equal(send(f->sock[1], frame, sizeof(frame), 0), sizeof(frame));
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(used_idx(f, 0), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    log_set_level(LOG_ERROR); /* the broken-device warnings are expected */
    const struct CMUnitTest tests[] = {
        T(test_identity), T(test_add_slots), T(test_negotiation), T(test_features_refused),
        T(test_bad_layout), T(test_bad_queue_num), T(test_reset), T(test_irq_pulses),
        T(test_event_idx_mmio), T(test_indirect_mmio), T(test_guest_error_breaks),
        T(test_eventfds), T(test_serve_budget), T(test_blk_config), T(test_blk_io), T(test_blk_readonly),
        T(test_rng), T(test_console), T(test_console_hangup), T(test_net_config), T(test_net_tx), T(test_net_rx),
        T(test_net_rx_header_only), T(test_net_reset_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
