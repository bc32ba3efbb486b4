/* smp — multiprocessor start-up: finds the MP table the way the MP spec
 * says (EBDA, last KiB of base memory, BIOS ROM area), counts its processor
 * entries and starts every AP with INIT-SIPI-SIPI.  Each AP reaches long
 * mode through the real-mode trampoline (smp-tramp.S), reports its LAPIC id
 * and increments a counter.  PASS when every listed CPU came up: cpus=N.
 *
 * cmdline: cpus=N   also fail unless the MP table lists exactly N processors */
#include "guest.h"

const char test_name[] = "smp";

#define TRAMP_ADDR 0x8000
#define AP_STACK_SIZE 4096
#define ICR_INIT 0x00004500   /* INIT, level assert */
#define ICR_STARTUP 0x00000600

extern const char tramp_start[], tramp_end[], tramp_cr3[], tramp_stack[], tramp_entry[];

struct mp_float {
    char sig[4];
    uint32_t config;
    uint8_t length, rev, checksum, feature[5];
} __attribute__((packed));

struct mp_config {
    char sig[4];
    uint16_t length;
    uint8_t rev, checksum;
    char oem[8], product[12];
    uint32_t oem_table;
    uint16_t oem_size, count;
    uint32_t lapic;
    uint16_t ext_length;
    uint8_t ext_checksum, reserved;
} __attribute__((packed));

struct mp_proc {
    uint8_t type, apic_id, apic_ver, flags;
    uint32_t signature, features;
    uint32_t reserved[2];
} __attribute__((packed));

#define MP_PROC_ENABLED 0x01
#define MP_PROC_BSP 0x02

/* Low physical addresses as pointers, hidden from gcc's null-page checks. */
static const void *phys(uint64_t a)
{
    __asm__("" : "+r"(a));
    return (const void *)(uintptr_t)a;
}

static bool sum_ok(const void *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + ((const uint8_t *)p)[i]);
    return s == 0;
}

static const struct mp_float *scan(uint64_t start, uint64_t len)
{
    for (uint64_t a = start; a + sizeof(struct mp_float) <= start + len; a += 16) {
        const struct mp_float *f = phys(a);
        if (memcmp(f->sig, "_MP_", 4) == 0 && f->length == 1 && sum_ok(f, 16))
            return f;
    }
    return NULL;
}

static const struct mp_float *find_mp(void)
{
    const struct mp_float *f = NULL;
    uint64_t ebda = (uint64_t)*(const uint16_t *)phys(0x40e) << 4;
    uint64_t base_kb = *(const uint16_t *)phys(0x413);
    if (ebda >= 0x80000 && ebda < 0xa0000)
        f = scan(ebda, 1024);
    if (!f && base_kb >= 512 && base_kb <= 640)
        f = scan(base_kb * 1024 - 1024, 1024);
    if (!f) /* no BIOS data area (corral writes none): the default 639 KiB */
        f = scan(0x9fc00, 1024);
    if (!f)
        f = scan(0xf0000, 0x10000);
    return f;
}

static volatile uint32_t ap_count;
static volatile uint8_t ap_up[256];

static void ap_main(void)
{
    idt_load();
    lapic_init();
    uint32_t id = lapic_id();
    kprintf("smp: AP with LAPIC id %u is up\n", id);
    ap_up[id & 0xff] = 1;
    __atomic_fetch_add(&ap_count, 1, __ATOMIC_SEQ_CST);
    halt_forever();
}

static void tramp_set(const char *field, uint64_t v)
{
    uint64_t a = TRAMP_ADDR + (uint64_t)(field - tramp_start);
    memcpy((void *)(uintptr_t)a, &v, 8);
}

static bool wait_for_ap(uint32_t before, unsigned ms)
{
    uint64_t end = ticks + ms / TICK_MS + 1;
    while (__atomic_load_n(&ap_count, __ATOMIC_SEQ_CST) == before && ticks <= end)
        cpu_idle();
    return ap_count != before;
}

static void start_ap(uint8_t id)
{
    void *stack = arena_alloc(AP_STACK_SIZE, 16);
    CHECK(stack, "out of memory for AP stacks");
    tramp_set(tramp_stack, (uint64_t)(uintptr_t)stack + AP_STACK_SIZE);
    uint32_t before = ap_count;
    lapic_write(LAPIC_ESR, 0);
    CHECK(lapic_ipi(id, ICR_INIT), "INIT to APIC id %u not delivered", id);
    sleep_ms(10);
    for (int sipi = 0; sipi < 2; sipi++) {
        CHECK(lapic_ipi(id, ICR_STARTUP | (TRAMP_ADDR >> 12)), "SIPI to APIC id %u not delivered", id);
        if (wait_for_ap(before, sipi == 0 ? 10 : 1000))
            break;
    }
    CHECK(ap_count != before, "AP with APIC id %u did not start (ESR %#x)", id, lapic_read(LAPIC_ESR));
    CHECK(ap_up[id], "APIC id %u was started but another id reported", id);
}

void test_main(void)
{
    const struct mp_float *f = find_mp();
    CHECK(f, "no MP floating pointer structure found");
    kprintf("smp: MP floating pointer at %p, spec 1.%u, config table at %#x\n", (const void *)f, f->rev, f->config);
    CHECK(f->config, "MP default configurations are not supported");
    const struct mp_config *c = phys(f->config);
    CHECK(memcmp(c->sig, "PCMP", 4) == 0, "MP config table: bad signature");
    CHECK(c->length >= sizeof(*c) && sum_ok(c, c->length), "MP config table: bad length or checksum");

    uint8_t ids[256];
    unsigned ncpu = 0, nioapic = 0;
    uint32_t bsp = lapic_id();
    const uint8_t *e = (const uint8_t *)(c + 1), *end = (const uint8_t *)c + c->length;
    /* Walked by length, as Linux does: some firmware (qboot) leaves count 0. */
    while (e < end) {
        if (*e == 0) {
            CHECK(e + sizeof(struct mp_proc) <= end, "MP config table: truncated processor entry");
            const struct mp_proc *p = (const void *)e;
            kprintf("smp: processor entry: APIC id %u, flags %#x%s\n", p->apic_id, p->flags,
                    p->flags & MP_PROC_BSP ? " (BSP)" : "");
            if (p->flags & MP_PROC_ENABLED)
                ids[ncpu++] = p->apic_id;
            e += sizeof(struct mp_proc);
        } else {
            if (*e == 2)
                nioapic++;
            CHECK(*e <= 4, "MP config table: unknown entry type %u", *e);
            e += 8;
        }
    }
    kprintf("smp: config table: %u entries, %u bytes; %u enabled processors, %u IOAPIC(s); BSP has APIC id %u\n",
            c->count, c->length, ncpu, nioapic, bsp);
    CHECK(ncpu > 0, "no enabled processor entries");
    uint64_t expect = cmdline_u64("cpus", 0);
    CHECK(!expect || expect == ncpu, "the MP table lists %u processors, cpus=%lu expected", ncpu, expect);

    size_t len = (size_t)(tramp_end - tramp_start);
    memcpy((void *)(uintptr_t)TRAMP_ADDR, tramp_start, len);
    tramp_set(tramp_cr3, read_cr3());
    tramp_set(tramp_entry, (uint64_t)(uintptr_t)ap_main);
    tick_start();

    for (unsigned i = 0; i < ncpu; i++)
        if (ids[i] != bsp)
            start_ap(ids[i]);
    CHECK(ap_count + 1 == ncpu, "%u APs came up, expected %u", ap_count, ncpu - 1);
    kprintf("smp: cpus=%u\n", ncpu);
}
