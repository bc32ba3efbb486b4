/* hostile — a driver that lies.  With a virtio-blk device it submits
 * requests and programs the transport in ways no honest driver would, one
 * case at a time, and after each checks that the VMM is still alive: the
 * UART's scratch register still answers, the hypercall channel (if any)
 * still answers, and a good request still succeeds — or the device has set
 * NEEDS_RESET (status bit 0x40), in which case a good request must succeed
 * after a reset.  A device that just stops answering is reset too, and
 * reported as such.  Then come stray accesses outside the device: past its
 * registers, odd widths, unclaimed I/O ports and MMIO holes.
 *
 * One line per case:  hostile: CASE: WHAT THE DEVICE DID; AFTERWARDS
 * PASS if the guest gets through every case.  A device that cannot be
 * brought back even by a reset fails the test.
 *
 * cmdline: only=SUBSTRING   run only the cases whose name contains it
 *          skip=SUBSTRING   skip the cases whose name contains it
 *          storm=SECONDS    instead: keep the queue from ever running dry
 *                           for that long (see storm()) */
#include "virtio.h"

const char test_name[] = "hostile";

enum { BLK_T_IN = 0, BLK_T_OUT = 1 };
#define VIRTIO_BLK_F_FLUSH 9
#define QSIZE 16
#define NRESERVED 6
#define HOSTILE_MS 500
#define GOOD_MS 3000
#define FAR_AWAY 0xffffffff0000ull /* far outside any guest's RAM */

struct blk_req {
    uint32_t type, reserved;
    uint64_t sector;
};

static struct virtio_dev dev;
static struct virtq vq;
static struct blk_req *hdr;
static uint8_t *data;
static volatile uint8_t *status;
static struct virtq_desc *itable; /* for indirect cases */
static uint64_t capacity;
static unsigned cases, resets, stuck;
static char only[32], skip[32];

/* ---- device (re)initialisation and the health check --------------------- */

static bool setup(void)
{
    if (!virtio_start(&dev, BIT64(VIRTIO_F_INDIRECT_DESC), 0))
        return false;
    if (!virtq_init(&vq, &dev, 0, QSIZE))
        return false;
    virtq_reserve(&vq, NRESERVED);
    virtio_driver_ok(&dev);
    return true;
}

static int good_request(void)
{
    *hdr = (struct blk_req){ .type = BLK_T_IN, .sector = 0 };
    *status = 0xff;
    struct vq_buf b[3] = {
        { gpa(hdr), sizeof(*hdr), false }, { gpa(data), 512, true }, { gpa(status), 1, true },
    };
    if (virtq_transfer(&vq, b, 3, false, GOOD_MS) < 0)
        return -1;
    return *status;
}

/* Descriptor indices no virtq_submit() hands out. */
static unsigned R(unsigned i) { return vq.size - 1 - i; }

static void rdesc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    vq.desc[i].addr = addr;
    vq.desc[i].len = len;
    vq.desc[i].flags = flags;
    vq.desc[i].next = next;
}

/* Publishes `head` and waits a little for the device's reaction. */
static const char *submit_and_watch(uint16_t head)
{
    static char what[64];
    virtq_publish(&vq, head);
    virtq_kick(&vq);
    uint64_t end = ticks + HOSTILE_MS / TICK_MS + 1;
    while (ticks <= end) {
        uint32_t id, len;
        if (virtq_poll(&vq, &id, &len)) {
            ksnprintf(what, sizeof(what), "completed (id %u, len %u, status byte %u)", id, len, *status);
            return what;
        }
        if (virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET)
            return "device set NEEDS_RESET";
        wait_a_bit();
    }
    return "no completion";
}

/* The standard read request in reserved descriptors, for cases to spoil. */
static void std_chain(void)
{
    *hdr = (struct blk_req){ .type = BLK_T_IN, .sector = 0 };
    *status = 0xff;
    rdesc(R(0), gpa(hdr), sizeof(*hdr), VIRTQ_DESC_F_NEXT, (uint16_t)R(1));
    rdesc(R(1), gpa(data), 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, (uint16_t)R(2));
    rdesc(R(2), gpa(status), 1, VIRTQ_DESC_F_WRITE, 0);
}

static void check_alive(const char *name, const char *what, bool reinit)
{
    uint8_t probe = (uint8_t)(0x5a ^ cases);
    outb(COM1 + 7, probe);
    CHECK(inb(COM1 + 7) == probe, "%s: the UART scratch register no longer answers", name);
    if (hcall_present())
        CHECK(hcall(HC_PROBE, 0, 0, NULL) == 0, "%s: the hypercall channel no longer answers", name);

    const char *after;
    bool needs_reset = virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET;
    int st = -1;
    if (!reinit && !needs_reset) {
        st = good_request();
        after = "a good request still works";
    }
    if (st != 0) {
        after = reinit ? "reset; a good request works"
              : needs_reset ? "NEEDS_RESET; after a reset a good request works"
                            : "the queue is stuck; after a reset a good request works";
        if (!reinit && !needs_reset)
            stuck++;
        resets++;
        CHECK(setup(), "%s: the device cannot be set up again after a reset", name);
        st = good_request();
        CHECK(st == 0, "%s: a good request fails even after a reset (status %d)", name, st);
    }
    kprintf("hostile: %s: %s; %s\n", name, what, after);
}

static bool contains(const char *s, const char *sub)
{
    for (; *s; s++)
        if (strncmp(s, sub, strlen(sub)) == 0)
            return true;
    return false;
}

static bool selected(const char *name)
{
    return (!only[0] || contains(name, only)) && (!skip[0] || !contains(name, skip));
}

struct hcase {
    const char *name;
    const char *(*run)(void);
    bool reinit; /* the case leaves the transport half-programmed */
};

/* ---- requests with bad descriptors --------------------------------------- */

static const char *buf_outside_ram(void)
{
    std_chain();
    vq.desc[R(1)].addr = FAR_AWAY;
    return submit_and_watch((uint16_t)R(0));
}

static const char *buf_in_device_mmio(void)
{
    std_chain();
    vq.desc[R(1)].addr = dev.base; /* DMA into the device's own registers */
    return submit_and_watch((uint16_t)R(0));
}

static const char *buf_straddles_ram_end(void)
{
    std_chain();
    vq.desc[R(1)].addr = boot.ram_top_low - 256;
    vq.desc[R(1)].len = 4096;
    hdr->type = BLK_T_IN;
    return submit_and_watch((uint16_t)R(0));
}

static const char *len_all_ones(void)
{
    std_chain();
    vq.desc[R(1)].len = 0xffffffffu;
    return submit_and_watch((uint16_t)R(0));
}

static const char *write_len_all_ones(void)
{
    std_chain();
    hdr->type = BLK_T_OUT;
    vq.desc[R(1)].flags = VIRTQ_DESC_F_NEXT; /* device-readable data */
    vq.desc[R(1)].len = 0xffffffffu;
    return submit_and_watch((uint16_t)R(0));
}

static const char *header_len_all_ones(void)
{
    std_chain();
    vq.desc[R(0)].len = 0xffffffffu;
    return submit_and_watch((uint16_t)R(0));
}

static const char *zero_lengths(void)
{
    std_chain();
    vq.desc[R(0)].len = 0;
    vq.desc[R(1)].len = 0;
    vq.desc[R(2)].len = 0;
    return submit_and_watch((uint16_t)R(0));
}

static const char *status_read_only(void)
{
    std_chain();
    vq.desc[R(2)].flags = 0; /* the device would have to write a read-only buffer */
    return submit_and_watch((uint16_t)R(0));
}

static const char *chain_self_loop(void)
{
    std_chain();
    vq.desc[R(1)].next = (uint16_t)R(1);
    return submit_and_watch((uint16_t)R(0));
}

static const char *chain_two_loop(void)
{
    std_chain();
    vq.desc[R(2)].flags = VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT;
    vq.desc[R(2)].next = (uint16_t)R(1);
    return submit_and_watch((uint16_t)R(0));
}

static const char *next_out_of_range(void)
{
    std_chain();
    vq.desc[R(1)].next = 0xffff;
    return submit_and_watch((uint16_t)R(0));
}

static const char *head_out_of_range(void)
{
    std_chain();
    return submit_and_watch((uint16_t)(vq.size + 3));
}

static const char *head_all_ones(void)
{
    std_chain();
    return submit_and_watch(0xffff);
}

static const char *avail_idx_jump(void)
{
    std_chain();
    vq.avail_idx = (uint16_t)(vq.avail_idx + vq.size + 5);
    vq.avail->idx = vq.avail_idx;
    vq.kicked_idx = (uint16_t)(vq.avail_idx - 1);
    virtq_kick(&vq);
    sleep_ms(HOSTILE_MS);
    return virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET ? "device set NEEDS_RESET" : "no visible reaction";
}

static const char *indirect_huge_len(void)
{
    rdesc(R(0), gpa(itable), 0xfffffff0u, VIRTQ_DESC_F_INDIRECT, 0);
    return submit_and_watch((uint16_t)R(0));
}

static const char *indirect_outside_ram(void)
{
    rdesc(R(0), FAR_AWAY, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    return submit_and_watch((uint16_t)R(0));
}

static const char *indirect_odd_len(void)
{
    rdesc(R(0), gpa(itable), 20, VIRTQ_DESC_F_INDIRECT, 0);
    return submit_and_watch((uint16_t)R(0));
}

static void std_table(void)
{
    *hdr = (struct blk_req){ .type = BLK_T_IN, .sector = 0 };
    *status = 0xff;
    itable[0] = (struct virtq_desc){ gpa(hdr), sizeof(*hdr), VIRTQ_DESC_F_NEXT, 1 };
    itable[1] = (struct virtq_desc){ gpa(data), 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2 };
    itable[2] = (struct virtq_desc){ gpa(status), 1, VIRTQ_DESC_F_WRITE, 0 };
}

static const char *indirect_nested(void)
{
    std_table();
    itable[1] = (struct virtq_desc){ gpa(itable), 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 2 };
    rdesc(R(0), gpa(itable), 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    return submit_and_watch((uint16_t)R(0));
}

static const char *indirect_loop(void)
{
    std_table();
    itable[1].next = 1;
    rdesc(R(0), gpa(itable), 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    return submit_and_watch((uint16_t)R(0));
}

static const char *indirect_next_out_of_table(void)
{
    std_table();
    itable[1].next = 200;
    rdesc(R(0), gpa(itable), 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    return submit_and_watch((uint16_t)R(0));
}

static const char *sector_past_end(void)
{
    std_chain();
    hdr->sector = ~0ull - 1; /* sector * 512 overflows */
    return submit_and_watch((uint16_t)R(0));
}

/* ---- a badly programmed transport -------------------------------------------- */

/* Reset, negotiate, then program queue 0 with the given rings and start it. */
static const char *program_queue(unsigned num, uint64_t desc, uint64_t avail, uint64_t used)
{
    static char what[80];
    virtio_reset(&dev);
    vm_write(&dev, VM_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    vm_write(&dev, VM_DRIVER_FEATURES_SEL, 1);
    vm_write(&dev, VM_DRIVER_FEATURES, 1); /* VERSION_1 */
    vm_write(&dev, VM_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    vm_write(&dev, VM_QUEUE_SEL, 0);
    vm_write(&dev, VM_QUEUE_NUM, num);
    vm_write(&dev, VM_QUEUE_DESC_LOW, (uint32_t)desc);
    vm_write(&dev, VM_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
    vm_write(&dev, VM_QUEUE_DRIVER_LOW, (uint32_t)avail);
    vm_write(&dev, VM_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
    vm_write(&dev, VM_QUEUE_DEVICE_LOW, (uint32_t)used);
    vm_write(&dev, VM_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
    vm_write(&dev, VM_QUEUE_READY, 1);
    uint32_t ready = vm_read(&dev, VM_QUEUE_READY);
    virtio_driver_ok(&dev);
    vm_write(&dev, VM_QUEUE_NOTIFY, 0);
    sleep_ms(100);
    ksnprintf(what, sizeof(what), "QueueReady reads %u, status %#x after a notify", ready, virtio_status(&dev));
    return what;
}

static const char *rings_outside_ram(void)
{
    return program_queue(QSIZE, FAR_AWAY, FAR_AWAY + 0x1000, FAR_AWAY + 0x2000);
}

static const char *rings_in_device_mmio(void)
{
    return program_queue(QSIZE, dev.base, dev.base + 0x100, dev.base + 0x200);
}

static const char *rings_straddle_ram_end(void)
{
    uint64_t top = boot.ram_top_low;
    return program_queue(256, top - 0x800, top - 0x100, top - 0x80);
}

static const char *queue_num_too_big(void)
{
    vm_write(&dev, VM_QUEUE_SEL, 0);
    uint32_t max = vm_read(&dev, VM_QUEUE_NUM_MAX);
    return program_queue(max + 1 > 0x8000 ? 0xffff : (max + 1) * 2, gpa(vq.desc), gpa(vq.avail), gpa(vq.used));
}

static const char *queue_num_odd(void)
{
    return program_queue(3, gpa(vq.desc), gpa(vq.avail), gpa(vq.used));
}

static const char *queue_num_zero(void)
{
    return program_queue(0, gpa(vq.desc), gpa(vq.avail), gpa(vq.used));
}

static const char *missing_queue(void)
{
    static char what[64];
    vm_write(&dev, VM_QUEUE_SEL, 1000);
    uint32_t max = vm_read(&dev, VM_QUEUE_NUM_MAX);
    vm_write(&dev, VM_QUEUE_NUM, 16);
    vm_write(&dev, VM_QUEUE_DESC_LOW, (uint32_t)gpa(itable));
    vm_write(&dev, VM_QUEUE_READY, 1);
    uint32_t ready = vm_read(&dev, VM_QUEUE_READY);
    vm_write(&dev, VM_QUEUE_NOTIFY, 1000);
    vm_write(&dev, VM_QUEUE_NOTIFY, 0xffffffffu);
    vm_write(&dev, VM_QUEUE_SEL, 0);
    ksnprintf(what, sizeof(what), "queue 1000: QueueNumMax %u, QueueReady %u", max, ready);
    return what;
}

static const char *unoffered_features(void)
{
    static char what[64];
    virtio_reset(&dev);
    vm_write(&dev, VM_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    for (uint32_t sel = 0; sel < 4; sel++) {
        vm_write(&dev, VM_DRIVER_FEATURES_SEL, sel);
        vm_write(&dev, VM_DRIVER_FEATURES, 0xffffffffu);
    }
    vm_write(&dev, VM_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    uint8_t st = virtio_status(&dev);
    ksnprintf(what, sizeof(what), "FEATURES_OK %s", st & VIRTIO_STATUS_FEATURES_OK ? "accepted (should be refused)" : "refused");
    return what;
}

static const char *driver_ok_without_setup(void)
{
    virtio_reset(&dev);
    vm_write(&dev, VM_STATUS, 0x0f);
    vm_write(&dev, VM_QUEUE_NOTIFY, 0);
    sleep_ms(50);
    vm_write(&dev, VM_STATUS, 0xff); /* every bit, FAILED included */
    vm_write(&dev, VM_QUEUE_NOTIFY, 0);
    return "survived";
}

static const char *requeue_while_running(void)
{
    /* Re-programs the rings of the live queue without a reset. */
    vm_write(&dev, VM_QUEUE_SEL, 0);
    vm_write(&dev, VM_QUEUE_DESC_LOW, (uint32_t)FAR_AWAY);
    vm_write(&dev, VM_QUEUE_DESC_HIGH, (uint32_t)(FAR_AWAY >> 32));
    vm_write(&dev, VM_QUEUE_NUM, 3);
    vm_write(&dev, VM_QUEUE_NOTIFY, 0);
    sleep_ms(50);
    return "survived";
}

/* ---- stray register accesses -------------------------------------------- */

static const char *regs_past_config(void)
{
    static const unsigned offs[] = { 0x140, 0x1fc, 0x200, 0x800, 0xffc };
    uint32_t seen = 0;
    for (unsigned i = 0; i < ARRAY_SIZE(offs); i++) {
        seen |= mmio_read32(dev.base + offs[i]);
        mmio_write32(dev.base + offs[i], 0xdeadbeef);
    }
    mmio_write8(dev.base + 0xfff, 0x5a);
    seen |= mmio_read8(dev.base + 0xfff);
    static char what[48];
    ksnprintf(what, sizeof(what), "reads ORed together gave %#x", seen);
    return what;
}

static const char *regs_odd_widths(void)
{
    static char what[96];
    uint8_t b = mmio_read8(dev.base + VM_MAGIC);
    uint16_t w = mmio_read16(dev.base + VM_MAGIC + 2);
    uint32_t u = mmio_read32(dev.base + VM_MAGIC + 1); /* unaligned */
    uint64_t q = mmio_read64(dev.base + VM_MAGIC);
    mmio_write8(dev.base + VM_QUEUE_SEL, 0x7f);
    mmio_write16(dev.base + VM_QUEUE_NUM + 1, 0xffff);
    mmio_write64(dev.base + VM_QUEUE_DESC_LOW, FAR_AWAY);
    mmio_write32(dev.base + VM_STATUS + 1, 0xffffffffu);
    mmio_write8(dev.base + VM_QUEUE_NOTIFY + 3, 0);
    ksnprintf(what, sizeof(what), "8-bit %#x, 16-bit %#x, unaligned 32-bit %#x, 64-bit %#lx", b, w, u, q);
    return what;
}

static const char *regs_read_only_writes(void)
{
    static const unsigned ro[] = { VM_MAGIC, VM_VERSION, VM_DEVICE_ID, VM_VENDOR_ID, VM_DEVICE_FEATURES,
                                   VM_QUEUE_NUM_MAX, VM_INTERRUPT_STATUS, VM_CONFIG_GENERATION };
    for (unsigned i = 0; i < ARRAY_SIZE(ro); i++)
        vm_write(&dev, ro[i], 0);
    virtio_cfg64(&dev, 0);
    mmio_write32(dev.base + VM_CONFIG, 0);     /* capacity is read-only */
    mmio_write32(dev.base + VM_CONFIG + 4, 0);
    CHECK(vm_read(&dev, VM_MAGIC) == VIRTIO_MMIO_MAGIC && vm_read(&dev, VM_DEVICE_ID) == VIRTIO_ID_BLOCK,
          "writes to read-only registers changed the device's identity");
    uint64_t cap = virtio_cfg64(&dev, 0);
    return cap == capacity ? "identity and capacity unchanged" : "identity unchanged, CAPACITY CHANGED";
}

static const char *string_ops_on_mmio(void)
{
    uint32_t buf[16];
    const volatile void *src = (const volatile void *)(uintptr_t)dev.base;
    void *dst = buf;
    size_t n = 16;
    __asm__ volatile("rep movsl" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
    CHECK(buf[0] == VIRTIO_MMIO_MAGIC, "rep movs from the registers read %#x as the magic", buf[0]);
    return "rep movsl of 16 registers read the magic";
}

/* ---- outside the device -------------------------------------------------- */

static const char *unclaimed_ports(void)
{
    /* None of these is decoded by corral; on QEMU's microvm neither. */
    static const uint16_t ports[] = { 0x0200, 0x0207, 0x0278, 0x02e8, 0x0ca8, 0x0caf, 0x1234, 0x5000,
                                      0x8000, 0xbeef, 0xc000, 0xfff0, 0xfffc };
    uint32_t all = 0xffffffffu;
    for (unsigned i = 0; i < ARRAY_SIZE(ports); i++) {
        uint16_t p = ports[i];
        all &= inb(p) | 0xffffff00u;
        all &= inw(p) | 0xffff0000u;
        all &= inl(p);
        outb(p, 0xa5);
        outw(p, 0xa55a);
        outl(p, 0xdeadbeef);
    }
    outl(0xfffe, 0xdeadbeef); /* crosses the top of the port space */
    (void)inl(0xffff);
    static char what[48];
    ksnprintf(what, sizeof(what), "reads ANDed together gave %#x", all);
    return what;
}

static const char *hcall_port_widths(void)
{
    static char what[64];
    uint8_t b = inb(HCALL_PORT);
    uint16_t w = inw(HCALL_PORT + 2);
    uint32_t d = inl(HCALL_DEBUG_PORT);
    outb(HCALL_PORT, 0x10);
    outw(HCALL_PORT, 0x1000);
    outw(HCALL_DEBUG_PORT, 0x4141);
    outl(HCALL_DEBUG_PORT, 0x41414141);
    outl(HCALL_PORT + 1, 0x1000);
    outl(HCALL_PORT, 0x1001);               /* misaligned block */
    outl(HCALL_PORT, 0xfffffff8u);          /* block outside RAM */
    outl(HCALL_PORT, (uint32_t)dev.base);   /* block in device MMIO */
    ksnprintf(what, sizeof(what), "in8 %#x, in16 %#x, in32(debug) %#x", b, w, d);
    return what;
}

static const char *mmio_holes(void)
{
    static const uint64_t holes[] = { 0xc0000000, 0xc8000000, 0xcffff000, 0xdff00000, 0xe0000000,
                                      0xf0000000, 0xfd000000 };
    uint32_t all = 0xffffffffu;
    for (unsigned i = 0; i < ARRAY_SIZE(holes); i++) {
        uint64_t a = holes[i];
        if (mem_is_ram(a, 8))
            continue;
        all &= mmio_read32(a);
        (void)mmio_read8(a + 3);
        (void)mmio_read64(a + 8);
        mmio_write32(a, 0xdeadbeef);
        mmio_write8(a + 1, 0x5a);
        mmio_write64(a + 16, FAR_AWAY);
    }
    if (!mem_is_ram(0xc0000000, 0x2000)) {
        (void)mmio_read64(0xc0000ffc); /* straddles a page boundary */
        mmio_write64(0xc0000ffc, 0);
    }
    static char what[48];
    ksnprintf(what, sizeof(what), "32-bit reads ANDed together gave %#x", all);
    return what;
}

static const struct hcase hcases[] = {
    { "data buffer outside RAM", buf_outside_ram, false },
    { "data buffer in the device's MMIO", buf_in_device_mmio, false },
    { "data buffer straddling the end of RAM", buf_straddles_ram_end, false },
    { "data length 0xffffffff (read)", len_all_ones, false },
    { "data length 0xffffffff (write)", write_len_all_ones, false },
    { "header length 0xffffffff", header_len_all_ones, false },
    { "zero-length descriptors", zero_lengths, false },
    { "status buffer not writable", status_read_only, false },
    { "descriptor chain loop (self)", chain_self_loop, false },
    { "descriptor chain loop (two)", chain_two_loop, false },
    { "next index out of range", next_out_of_range, false },
    { "avail ring head out of range", head_out_of_range, false },
    { "avail ring head 0xffff", head_all_ones, false },
    { "avail.idx jumps by queue size + 5", avail_idx_jump, false },
    { "indirect table of length 0xfffffff0", indirect_huge_len, false },
    { "indirect table outside RAM", indirect_outside_ram, false },
    { "indirect table length not a multiple of 16", indirect_odd_len, false },
    { "nested indirect table", indirect_nested, false },
    { "loop inside an indirect table", indirect_loop, false },
    { "indirect next out of the table", indirect_next_out_of_table, false },
    { "sector number overflowing", sector_past_end, false },
    { "rings outside RAM", rings_outside_ram, true },
    { "rings in the device's MMIO", rings_in_device_mmio, true },
    { "rings straddling the end of RAM", rings_straddle_ram_end, true },
    { "QueueNum above QueueNumMax", queue_num_too_big, true },
    { "QueueNum 3 (not a power of 2)", queue_num_odd, true },
    { "QueueNum 0", queue_num_zero, true },
    { "nonexistent queue 1000", missing_queue, true },
    { "FEATURES_OK with unoffered features", unoffered_features, true },
    { "DRIVER_OK without setup, then status 0xff", driver_ok_without_setup, true },
    { "rings moved while the queue runs", requeue_while_running, true },
    { "registers past the config space", regs_past_config, true },
    { "odd-width and unaligned registers", regs_odd_widths, true },
    { "writes to read-only registers", regs_read_only_writes, true },
    { "string instructions on registers", string_ops_on_mmio, false },
    { "unclaimed I/O ports", unclaimed_ports, false },
    { "hypercall ports with odd widths and bad blocks", hcall_port_widths, false },
    { "MMIO holes", mmio_holes, false },
};

/* A driver that never lets the device's queue run dry: the same read
 * published again the moment the device completes one, half the queue in
 * flight at all times, for SECONDS.  A VMM that serves a queue until it is
 * empty would serve this one forever and answer nothing else; the test
 * script pings its control API meanwhile (tests/vmm/suite.sh). */
static void storm(uint64_t seconds)
{
    std_chain();
    if (!tick_running())
        tick_start();
    uint64_t end = ticks + seconds * 1000 / TICK_MS, done = 0;
    unsigned inflight = 0, idle = 0;
    while (ticks < end) {
        __asm__ volatile("sti; nop; cli" : : : "memory");    /* let a tick in, never wait */
        uint32_t id, len;
        bool progress = false;
        while (virtq_poll(&vq, &id, &len)) {
            inflight--;
            done++;
            progress = true;
        }
        idle = progress ? 0 : idle + 1;
        /* Published while the device works, without a kick: it finds them
         * in the same pass.  A kick only to start, or when it went quiet. */
        bool kick = inflight == 0 || idle > 1000;
        for (; inflight < QSIZE / 2; inflight++)
            virtq_publish(&vq, (uint16_t)R(0));
        if (kick) {
            virtq_kick(&vq);
            idle = 0;
        }
    }
    CHECK(done > 0, "storm: the device completed no request in %lu s", seconds);
    CHECK(!(virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET), "storm: the device gave up (NEEDS_RESET)");
    kprintf("hostile: storm: %lu requests completed in %lu s\n", done, seconds);
}

void test_main(void)
{
    cmdline_get("only", only, sizeof(only));
    cmdline_get("skip", skip, sizeof(skip));
    CHECK(virtio_find(VIRTIO_ID_BLOCK, &dev), "no virtio-blk device");
    hdr = arena_alloc(sizeof(*hdr), 16);
    data = arena_alloc(4096, 4096);
    status = arena_alloc(1, 1);
    itable = arena_alloc(16 * sizeof(*itable), 16);
    CHECK(hdr && data && status && itable, "out of memory");
    CHECK(setup(), "cannot set up the device");
    capacity = virtio_cfg64(&dev, 0);
    CHECK(good_request() == 0, "a good request fails before any hostile one");
    kprintf("hostile: virtio-blk at %#lx, %lu sectors, %u-entry queue; %s\n", dev.base, capacity, vq.size,
            virtio_has(&dev, VIRTIO_F_INDIRECT_DESC) ? "indirect descriptors negotiated"
                                                     : "indirect descriptors NOT negotiated (sent anyway)");
    uint64_t storm_s = cmdline_u64("storm", 0);
    if (storm_s) {
        storm(storm_s);
        return;
    }
    if (!boot.ram_top_low)
        kprintf("hostile: no memory map: skipping the cases at the end of RAM\n");

    for (unsigned i = 0; i < ARRAY_SIZE(hcases); i++) {
        const struct hcase *c = &hcases[i];
        if (!selected(c->name))
            continue;
        if (!boot.ram_top_low && (c->run == buf_straddles_ram_end || c->run == rings_straddle_ram_end))
            continue;
        cases++;
        const char *what = c->run();
        check_alive(c->name, what, c->reinit);
    }
    CHECK(cases > 0, "only=%s skip=%s select no case", only, skip);
    kprintf("hostile: %u cases survived; %u device resets, %u of them because a queue got stuck\n", cases,
            resets, stuck);
}
