/* Fuzzes corral-vmm's vCPU exit dispatch (exit_dispatch in
 * src/vmm/machine.c): what KVM writes into the vCPU's run page after an
 * exit, with every field the fuzzer's — port I/O including string
 * instructions (COUNT items at DATA_OFFSET in the page), MMIO, system
 * events, unknown reasons — on a bus with the legacy PC devices and one
 * virtio-mmio device, as a guest drives them.
 *
 * Input: records of 24 bytes (reason, direction, size, count, port, data
 * offset, MMIO address, length, write flag, 8 bytes of data), then the run
 * page's data area.  The run page is a heap block of exactly its mapped
 * size, so an access outside it is an AddressSanitizer report.  Invariant:
 * the action is one of enum exit_action. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/devices.h"
#include "virtio/virtio.h"
#include "vmm/vmm.h"

#define RUN_SIZE (3 * 4096)    /* what KVM_GET_VCPU_MMAP_SIZE says on x86 */
#define RAM_SIZE (16 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void st_set_irq(struct dev_host *h, unsigned gsi, int level) { (void)h, (void)gsi, (void)level; }
static void st_request(struct dev_host *h, enum vm_request req) { (void)h, (void)req; }
static int no_irqfd(struct dev_host *h, int fd, unsigned gsi) { (void)h, (void)fd, (void)gsi; return -ENOSYS; }
static int no_ioeventfd(struct dev_host *h, int fd, uint64_t a, unsigned l, uint64_t m)
{
    (void)h, (void)fd, (void)a, (void)l, (void)m;
    return -ENOSYS;
}

static const uint32_t reasons[] = { KVM_EXIT_IO, KVM_EXIT_MMIO, KVM_EXIT_INTR, KVM_EXIT_IRQ_WINDOW_OPEN,
                                    KVM_EXIT_HLT, KVM_EXIT_SYSTEM_EVENT, KVM_EXIT_SHUTDOWN };
static const uint16_t ports[] = { COM1_PORT, I8042_DATA_PORT, I8042_CMD_PORT, 0x70, 0x71, ACPI_PM_PORT };

struct rec {
    uint8_t reason, dir, size, count;
    uint16_t port, offset;
    uint32_t addr;
    uint8_t len, write, pad[2];
    uint8_t value[8];
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    static struct evloop *loop;
    if (!ready) {
        log_set_level(LOG_ERROR);
        if (evloop_new(&loop) < 0)
            abort();
        ready = true;
    }
    if (size < 1)
        return 0;
    size_t n = MIN((size_t)data[0], (size - 1) / sizeof(struct rec));
    const uint8_t *recs = data + 1, *tail = recs + n * sizeof(struct rec);
    size_t tail_len = size - 1 - n * sizeof(struct rec);

    uint8_t *ram = calloc(1, RAM_SIZE);
    struct guest_mem mem;
    gm_wrap(&mem, ram, RAM_SIZE);
    struct dev_host h = { .mem = &mem, .loop = loop, .set_irq = st_set_irq, .request = st_request,
                          .irqfd = no_irqfd, .ioeventfd = no_ioeventfd };
    static struct bus pio, mmio;
    static struct serial uart;
    static struct i8042 kbd;
    static struct rtc rtc;
    static struct acpi_pm pm;
    memset(&pio, 0, sizeof(pio));
    memset(&mmio, 0, sizeof(mmio));
    struct console_io none = { -1, -1 };
    struct virtio_dev *rng = NULL;
    char cmdline[128] = "";
    if (serial_init(&uart, &h, &pio, none, COM1_PORT, COM1_IRQ) < 0 || i8042_init(&kbd, &h, &pio) < 0 ||
        rtc_init(&rtc, &pio) < 0 || acpi_pm_init(&pm, &h, &pio) < 0 || virtio_rng_new(&rng) < 0 ||
        virtio_mmio_add(rng, &h, &mmio, 0, cmdline, sizeof(cmdline)) < 0)
        abort();

    struct kvm_run *run = malloc(RUN_SIZE);
    for (size_t i = 0; i < n; i++) {
        struct rec r;
        memcpy(&r, recs + i * sizeof(r), sizeof(r));
        memset(run, 0, RUN_SIZE);
        memcpy((uint8_t *)run + 4096, tail, MIN(tail_len, (size_t)4096));
        /* Mostly the reasons KVM sends, sometimes any number. */
        run->exit_reason = r.reason < 0xf0 ? reasons[r.reason % ARRAY_SIZE(reasons)] : r.reason;
        switch (run->exit_reason) {
        case KVM_EXIT_IO:
            run->io.direction = r.dir & 1;
            /* Usually sane (1, 2, 4 bytes; the data page), sometimes not. */
            run->io.size = r.dir & 0x80 ? r.size : (uint8_t)(1u << (r.size % 3));
            run->io.port = r.dir & 0x40 ? r.port : (uint16_t)(ports[r.port % ARRAY_SIZE(ports)] + (r.port >> 8) % 8);
            run->io.count = r.dir & 0x20 ? (uint32_t)r.count << 8 | r.len : r.count;
            run->io.data_offset = r.dir & 0x10 ? (uint64_t)r.offset << 4 : 4096 + r.offset % 4096;
            break;
        case KVM_EXIT_MMIO:
            run->mmio.phys_addr = r.write & 0x80 ? r.addr : VIRTIO_MMIO_BASE + r.addr % 0x1100;
            run->mmio.len = r.len % 16;
            run->mmio.is_write = r.write & 1;
            memcpy(run->mmio.data, r.value, sizeof(r.value));
            break;
        case KVM_EXIT_SYSTEM_EVENT:
            run->system_event.type = r.size % 6;
            break;
        }
        enum exit_action a = exit_dispatch(&pio, &mmio, run, RUN_SIZE);
        if ((unsigned)a > EXIT_BAD)
            abort();
        /* What KVM checks for IO: a sane exit is never refused. */
        if (run->exit_reason == KVM_EXIT_IO && !(r.dir & 0xb0) && a != EXIT_RESUME)
            abort();
    }
    free(run);
    virtio_dev_free(rng);
    serial_stop(&uart);
    pthread_mutex_destroy(&kbd.lock);
    pthread_mutex_destroy(&rtc.lock);
    pthread_mutex_destroy(&pm.lock);
    free(ram);
    return 0;
}
