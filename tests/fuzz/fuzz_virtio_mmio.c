/* Fuzzes the virtio-mmio register block and the devices behind it.  The
 * input is a device choice, a list of MMIO accesses (offset, size, value;
 * plus two shortcuts a real driver would take: a full set-up sequence and a
 * queue kick) and then the guest RAM the rings live in.  Everything runs
 * synchronously: no irqfd, no ioeventfd.
 *
 * Bit 6 of the device choice puts virtio-blk on a fresh qcow2 image (512-
 * byte clusters, so a few requests allocate L2 tables, refcount blocks and
 * grow the tables) instead of the raw disk: the guest-driven qcow2 write
 * path.  After the run that image must check clean (no corruption, no
 * leak) and flush.
 *
 * Rings go in the first 4 KiB of RAM and buffers anywhere in its 16 KiB,
 * so run with -max_len=8192 or more; the register shortcuts get the fuzzer
 * to live queues quickly, a seed with one valid request per device type
 * helps it reach the request parsers. */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "block/block.h"
#include "virtio/virtio.h"

#define RAM_SIZE (16 * 1024)
#define DISK_SIZE (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
    bool ready;
    int disk, qdisk, sock[2], pipe[2], devnull;
    struct blk *blk;
    char qpath[64];
    struct evloop *loop;
    struct dev_host host;
} g;

static void no_irq(struct dev_host *h, unsigned gsi, int level) { (void)h, (void)gsi, (void)level; }
static int no_irqfd(struct dev_host *h, int fd, unsigned gsi) { (void)h, (void)fd, (void)gsi; return -ENOSYS; }
static int no_ioeventfd(struct dev_host *h, int fd, uint64_t a, unsigned l, uint64_t m)
{
    (void)h, (void)fd, (void)a, (void)l, (void)m;
    return -ENOSYS;
}

static void init_once(void)
{
    if (g.ready)
        return;
    log_set_level(LOG_ERROR);
    g.disk = memfd_create("fuzz-disk", MFD_CLOEXEC);
    g.qdisk = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
    snprintf(g.qpath, sizeof(g.qpath), "/proc/self/fd/%d", g.qdisk);
    if (g.disk < 0 || g.qdisk < 0 || ftruncate(g.disk, DISK_SIZE) < 0 ||
        socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, g.sock) < 0 ||
        pipe2(g.pipe, O_NONBLOCK | O_CLOEXEC) < 0 || evloop_new(&g.loop) < 0)
        abort();
    g.devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", g.disk);
    if (blk_open(path, BLK_FMT_RAW, 0, &g.blk) < 0)
        abort();
    g.host = (struct dev_host){ .loop = g.loop, .set_irq = no_irq, .irqfd = no_irqfd,
                                .ioeventfd = no_ioeventfd };
    g.ready = true;
}

/* A new qcow2 image for this input (the last one's allocations gone). */
static struct blk *fresh_qcow2(void)
{
    struct blk_create_opts o = { .format = BLK_FMT_QCOW2, .size = DISK_SIZE, .cluster_size = 512 };
    struct blk *b = NULL;
    if (ftruncate(g.qdisk, 0) < 0 || blk_create(g.qpath, &o) < 0 || blk_open(g.qpath, BLK_FMT_QCOW2, 0, &b) < 0)
        abort();
    return b;
}

static struct virtio_dev *make_device(uint8_t sel, struct blk *qcow2)
{
    struct virtio_dev *d = NULL;
    switch (sel % 8) {
    case 4: virtio_rng_new(&d); break;
    case 5: virtio_net_new(&d, &(struct virtio_net_cfg){ .tap_fd = g.sock[0] }); break;
    case 6: virtio_console_new(&d, (struct console_io){ g.pipe[0], g.devnull }); break;
    default: {
        struct virtio_blk_cfg c = { .disk = qcow2 ? qcow2 : g.blk, .readonly = sel & 8, .serial = "fuzz" };
        virtio_blk_new(&d, &c);
    }
    }
    return d;
}

struct op {
    uint8_t kind;
    uint8_t size;
    uint16_t off;
    uint32_t value;
    uint32_t extra;
};

static void mmio_access(struct bus *b, uint64_t off, unsigned size, uint64_t v, bool write)
{
    bus_access(b, VIRTIO_MMIO_BASE + off, (uint8_t *)&v, size, write);
}

static void wr32(struct bus *b, uint64_t off, uint32_t v) { mmio_access(b, off, 4, v, true); }

/* What a driver does to bring a device up, with the fuzzer's features and
 * ring placement. */
static void driver_setup(struct bus *b, const struct op *o)
{
    wr32(b, VIRTIO_MMIO_STATUS, 0);
    wr32(b, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    wr32(b, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr32(b, VIRTIO_MMIO_DRIVER_FEATURES, o->value);
    wr32(b, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr32(b, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
    wr32(b, VIRTIO_MMIO_STATUS, 0x0b);
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
        /* Contiguous rings, as Linux lays them out, in the first 4 KiB so
         * that short inputs can fill them. */
        uint32_t num = ((o->off >> (q * 8)) & 0x1f) + 1;
        uint32_t desc = q * 0x800 + ((o->extra >> (q * 8)) & 0x3f) * 16;
        uint32_t avail = desc + 16 * num;
        uint32_t used = ALIGN_UP(avail + 6 + 2 * num, 4);
        wr32(b, VIRTIO_MMIO_QUEUE_SEL, q);
        wr32(b, VIRTIO_MMIO_QUEUE_NUM, num);
        wr32(b, VIRTIO_MMIO_QUEUE_DESC_LOW, desc);
        wr32(b, VIRTIO_MMIO_QUEUE_AVAIL_LOW, avail);
        wr32(b, VIRTIO_MMIO_QUEUE_USED_LOW, used);
        wr32(b, VIRTIO_MMIO_QUEUE_READY, 1);
    }
    wr32(b, VIRTIO_MMIO_STATUS, 0x0f);
}

static void drain(int fd)
{
    char buf[256];
    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
        ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    if (size < 2)
        return 0;
    uint8_t sel = data[0];
    size_t nops = data[1];
    data += 2;
    size -= 2;
    nops = MIN(nops, size / sizeof(struct op));
    const uint8_t *ops = data;
    data += nops * sizeof(struct op);
    size -= nops * sizeof(struct op);

    uint8_t *ram = malloc(RAM_SIZE);
    memset(ram, 0, RAM_SIZE);
    memcpy(ram, data, MIN(size, (size_t)RAM_SIZE));
    struct guest_mem mem;
    /* Bit 7 of the selector: a big guest's layout in small, the rings in
     * the first slot at 0 and a second slot at 4 GiB (its own heap block)
     * for buffers that descriptors point at there. */
    uint8_t *high = NULL;
    if (sel & 0x80) {
        high = malloc(RAM_SIZE);
        memcpy(high, ram, RAM_SIZE);
        gm_wrap2(&mem, ram, RAM_SIZE, high, RAM_SIZE);
    } else {
        gm_wrap(&mem, ram, RAM_SIZE);
    }
    g.host.mem = &mem;

    static struct bus bus;
    memset(&bus, 0, sizeof(bus));
    char cmdline[128] = "";
    bool blk = sel % 8 < 4 || sel % 8 == 7;
    struct blk *qcow2 = blk && (sel & 0x40) ? fresh_qcow2() : NULL;
    struct virtio_dev *d = make_device(sel, qcow2);
    if (!d || virtio_mmio_add(d, &g.host, &bus, 0, cmdline, sizeof(cmdline)) < 0)
        abort();
    static const char frame[60] = { 1, 2, 3 };
    /* Something to receive for net and console. */
    send(g.sock[1], frame, sizeof(frame), MSG_DONTWAIT);
    (void)!write(g.pipe[1], "input", 5);

    static const unsigned sizes[] = { 1, 2, 4, 8, 3, 4, 4, 4 };
    for (size_t i = 0; i < nops; i++) {
        struct op o;
        memcpy(&o, ops + i * sizeof(o), sizeof(o));
        uint64_t v = o.value | (uint64_t)o.extra << 32;
        switch (o.kind % 4) {
        case 0: mmio_access(&bus, o.off % 0x1000, sizes[o.size % 8], 0, false); break;
        case 1: mmio_access(&bus, o.off % 0x1000, sizes[o.size % 8], v, true); break;
        case 2: driver_setup(&bus, &o); break;
        case 3: wr32(&bus, VIRTIO_MMIO_QUEUE_NOTIFY, o.value % 3); break;
        }
    }
    virtio_dev_free(d);
    if (qcow2) {
        struct blk_check_result res;
        if (blk_flush(qcow2) < 0 || blk_check(qcow2, 0, &res) < 0 || res.corruptions || res.leaks ||
            res.check_errors || blk_close(qcow2) < 0)
            abort();
    }
    drain(g.sock[0]);
    drain(g.sock[1]);
    char buf[64];
    while (read(g.pipe[0], buf, sizeof(buf)) > 0)
        ;
    free(ram);
    free(high);
    return 0;
}
