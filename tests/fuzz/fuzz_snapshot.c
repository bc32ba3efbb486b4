/* Fuzzes what corral-vmm reads from a snapshot (docs/snapshot-format.md):
 * the state file's header, sections and configuration (snapshot_parse, as
 * --restore runs it before anything else), and each device's load of its
 * section payload, as a hostile or damaged snapshot would feed them.
 *
 * Input: byte 0 picks the target, the rest is its input.
 *   0      a whole state file: snapshot_parse, then every section read to
 *          its end through a cursor
 *   1..5   the payload of the serial port, i8042, RTC, ACPI PM or hypercall
 *          device's section, loaded into a fresh device
 *   6, 7   the payload of a virtio-rng or virtio-blk device's section, loaded
 *          into a fresh device over 64 KiB of guest RAM, which a load that
 *          finds the device live then serves
 * Invariants: a load that succeeds leaves the device's indices inside its
 * buffers; nothing crashes, hangs or reads outside its input. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "snap/snap.h"
#include "vmm/vmm.h"

#define RAM_SIZE (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void no_irq(struct dev_host *h, unsigned gsi, int level)
{
    (void)h;
    if (gsi > 23 || (level != 0 && level != 1))
        abort();
}
static int no_irqfd(struct dev_host *h, int fd, unsigned gsi) { (void)h, (void)fd, (void)gsi; return -ENOSYS; }
static int no_ioeventfd(struct dev_host *h, int fd, uint64_t a, unsigned l, uint64_t m)
{
    (void)h, (void)fd, (void)a, (void)l, (void)m;
    return -ENOSYS;
}
static void no_request(struct dev_host *h, enum vm_request req) { (void)h, (void)req; }

static struct evloop *loop;
static struct blk *disk;

static void load_legacy(unsigned which, struct snap_cursor *c, struct dev_host *h)
{
    static struct bus pio;
    static struct serial uart;
    static struct i8042 kbd;
    static struct rtc rtc;
    static struct acpi_pm pm;
    static struct hcall hc;
    memset(&pio, 0, sizeof(pio));
    struct console_io none = { -1, -1 };
    switch (which) {
    case 1:
        if (serial_init(&uart, h, &pio, none, COM1_PORT, COM1_IRQ) < 0)
            abort();
        if (serial_load(&uart, c) == 0 && (uart.s.rx_head >= sizeof(uart.s.rx) || uart.s.rx_count > sizeof(uart.s.rx)))
            abort();
        serial_stop(&uart);
        break;
    case 2:
        if (i8042_init(&kbd, h, &pio) < 0)
            abort();
        if (i8042_load(&kbd, c) == 0 && (kbd.s.head >= sizeof(kbd.s.buf) || kbd.s.count > sizeof(kbd.s.buf)))
            abort();
        break;
    case 3:
        if (rtc_init(&rtc, &pio) < 0)
            abort();
        if (rtc_load(&rtc, c) == 0 && rtc.s.index >= sizeof(rtc.s.ram))
            abort();
        break;
    case 4:
        if (acpi_pm_init(&pm, h, &pio) < 0)
            abort();
        acpi_pm_load(&pm, c);
        break;
    default:
        if (hcall_init(&hc, h, &pio) < 0)
            abort();
        if (hcall_load(&hc, c) == 0 && hc.line_len > sizeof(hc.line))
            abort();
        break;
    }
}

static void load_virtio(bool blk, struct snap_cursor *c, struct dev_host *h)
{
    uint8_t *ram = calloc(1, RAM_SIZE);
    struct guest_mem mem;
    gm_wrap(&mem, ram, RAM_SIZE);
    h->mem = &mem;
    h->loop = loop;
    static struct bus bus;
    memset(&bus, 0, sizeof(bus));
    char cmdline[128] = "";
    struct virtio_dev *d = NULL;
    if (blk)
        virtio_blk_new(&d, &(struct virtio_blk_cfg){ .disk = disk, .serial = "fuzz" });
    else
        virtio_rng_new(&d);
    if (!d || virtio_mmio_add(d, h, &bus, 0, cmdline, sizeof(cmdline)) < 0)
        abort();
    if (virtio_load(d, c) == 0)
        for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
            if (d->vq[q].s.num == 0 || d->vq[q].s.num > VIRTQ_MAX_SIZE || (d->vq[q].s.num & (d->vq[q].s.num - 1)))
                abort();
    virtio_dev_free(d);
    free(ram);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loop) {
        log_set_level(LOG_ERROR);
        int fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (fd < 0 || ftruncate(fd, 1 << 20) < 0 || evloop_new(&loop) < 0 || blk_open(path, BLK_FMT_RAW, 0, &disk) < 0)
            abort();
    }
    if (size < 1)
        return 0;
    unsigned which = data[0] % 8;
    struct snap_section s = { .type = SNAP_DEVICE, .data = data + 1, .len = size - 1 };
    struct snap_cursor c;
    snap_cursor_init(&c, &s);
    struct dev_host h = { .set_irq = no_irq, .irqfd = no_irqfd, .ioeventfd = no_ioeventfd, .request = no_request };
    if (which == 0) {
        static struct snap_file f;
        uint64_t memory;
        unsigned cpus;
        if (snapshot_parse(data + 1, size - 1, &f, &memory, &cpus, NULL) == 0) {
            if (!memory || !cpus)
                abort();
            for (unsigned i = 0; i < f.nsections; i++) {
                snap_cursor_init(&c, &f.section[i]);
                while (!c.bad && c.left)
                    snap_get_u8(&c);
                if (f.section[i].data < data || f.section[i].data + f.section[i].len > data + size)
                    abort();
            }
        }
    } else if (which <= 5) {
        load_legacy(which, &c, &h);
    } else {
        load_virtio(which == 7, &c, &h);
    }
    return 0;
}
