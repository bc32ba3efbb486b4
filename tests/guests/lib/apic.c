/* apic.c — the local APIC (xAPIC MMIO), the IOAPIC and the lib tick. */
#include "guest.h"

#define MSR_APIC_BASE 0x1b
#define APIC_BASE_ENABLE (1u << 11)
#define ICR_BUSY (1u << 12)

void lapic_init(void)
{
    uint64_t base = rdmsr(MSR_APIC_BASE);
    if (!(base & APIC_BASE_ENABLE) || (base & ~0xfffull) != LAPIC_BASE)
        wrmsr(MSR_APIC_BASE, (base & 0xfff) | LAPIC_BASE | APIC_BASE_ENABLE);
    lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS); /* software enable */
    lapic_write(LAPIC_TPR, 0);
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TICK);
    lapic_write(LAPIC_LVT_ERROR, LVT_MASKED | 0xfe);
    lapic_write(LAPIC_ESR, 0);
}

uint32_t lapic_id(void) { return lapic_read(LAPIC_ID) >> 24; }

void lapic_eoi(void) { lapic_write(LAPIC_EOI, 0); }

bool lapic_ipi(uint32_t dest, uint32_t icr_lo)
{
    lapic_write(LAPIC_ICR_HI, dest << 24);
    lapic_write(LAPIC_ICR_LO, icr_lo);
    for (int i = 0; i < 1000; i++) {
        if (!(lapic_read(LAPIC_ICR_LO) & ICR_BUSY))
            return true;
        cpu_relax();
    }
    return false;
}

/* ---- IOAPIC ------------------------------------------------------------ */

static uint32_t ioapic_read(unsigned reg)
{
    mmio_write32(IOAPIC_BASE, reg);
    return mmio_read32(IOAPIC_BASE + 0x10);
}

static void ioapic_write(unsigned reg, uint32_t v)
{
    mmio_write32(IOAPIC_BASE, reg);
    mmio_write32(IOAPIC_BASE + 0x10, v);
}

unsigned ioapic_pins(void)
{
    uint32_t ver = ioapic_read(0x01);
    if (ver == 0xffffffffu)
        return 0;
    return ((ver >> 16) & 0xff) + 1;
}

void ioapic_mask(unsigned pin)
{
    ioapic_write(0x10 + 2 * pin, LVT_MASKED);
    ioapic_write(0x11 + 2 * pin, 0);
}

void ioapic_init(void)
{
    unsigned n = ioapic_pins();
    for (unsigned pin = 0; pin < n; pin++)
        ioapic_mask(pin);
}

void ioapic_route(unsigned pin, uint8_t vector, bool level, bool active_low)
{
    uint32_t lo = vector | (active_low ? 1u << 13 : 0) | (level ? 1u << 15 : 0);
    ioapic_write(0x11 + 2 * pin, lapic_id() << 24);
    ioapic_write(0x10 + 2 * pin, lo);
}

/* ---- tick -------------------------------------------------------------- */

volatile uint64_t ticks;
static bool running;

static void on_tick(unsigned vector, void *ctx)
{
    (void)vector;
    (void)ctx;
    ticks++;
}

void tick_start(void)
{
    irq_set_handler(VEC_TICK, on_tick, NULL);
    lapic_write(LAPIC_TIMER_DIV, 0x3); /* divide by 16 */
    lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | VEC_TICK);
    lapic_write(LAPIC_TIMER_INIT, TICK_MS * LAPIC_COUNT_PER_MS);
    running = true;
}

void tick_stop(void)
{
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TICK);
    lapic_write(LAPIC_TIMER_INIT, 0);
    running = false;
}

bool tick_running(void) { return running; }

void wait_a_bit(void)
{
    if (running)
        cpu_idle();
    else
        cpu_relax();
}

void sleep_ms(unsigned ms)
{
    if (!running)
        tick_start();
    /* +1: the next tick may be just about to fire. */
    uint64_t end = ticks + (ms + TICK_MS - 1) / TICK_MS + 1;
    while (ticks < end)
        cpu_idle();
}
