/* timer — timer interrupts: the LAPIC timer in periodic mode and the 8254
 * PIT (channel 0, IRQ 0), each counted to N in a `sti; hlt` loop.  While one
 * timer is tested the other runs as a watchdog, so a silent timer gives a
 * FAIL line rather than a hang.
 *
 * cmdline: timer=LIST  comma-separated phases out of
 *                      lapic  LAPIC timer, periodic, ~10 ms
 *                      pit    PIT at 100 Hz through the IOAPIC (pin 2, the
 *                             ISA override, or pin 0: both are routed)
 *                      pic    PIT at 100 Hz through the 8259 and LINT0 (ExtINT)
 *                      default: lapic,pit
 *          ticks=N     interrupts to count per phase (default 10) */
#include "guest.h"

const char test_name[] = "timer";

#define VEC_LAPIC VEC_TEST
#define PIT_HZ 100
#define PIT_INPUT_HZ 1193182
#define WATCHDOG_TICKS 300

static volatile uint32_t hits[256];

static void count_irq(unsigned vector, void *ctx)
{
    (void)ctx;
    hits[vector]++;
}

static void pit_start(void)
{
    unsigned div = PIT_INPUT_HZ / PIT_HZ;
    outb(0x43, 0x34); /* channel 0, lobyte/hibyte, mode 2 (rate generator) */
    outb(0x40, (uint8_t)div);
    outb(0x40, (uint8_t)(div >> 8));
}

static void pit_stop(void) { outb(0x43, 0x30); } /* mode 0, no count: output stays low */

static void lapic_timer(unsigned ms)
{
    lapic_write(LAPIC_TIMER_DIV, 0x3); /* divide by 16 */
    lapic_write(LAPIC_LVT_TIMER, ms ? LVT_PERIODIC | VEC_LAPIC : LVT_MASKED | VEC_LAPIC);
    lapic_write(LAPIC_TIMER_INIT, ms * LAPIC_COUNT_PER_MS);
}

static void reset_counts(void)
{
    for (unsigned i = 0; i < 256; i++)
        hits[i] = 0;
}

static uint32_t pit_ioapic_hits(void) { return hits[VEC_IOAPIC_BASE + 0] + hits[VEC_IOAPIC_BASE + 2]; }

/* Idles until *counter reaches n; fails once the watchdog passes its limit. */
static void wait_count(const char *what, uint32_t (*counter)(void), uint32_t n,
                       uint32_t (*watchdog)(void), const char *wd_name)
{
    uint64_t t0 = rdtsc();
    while (counter() < n) {
        if (watchdog() > WATCHDOG_TICKS)
            test_fail("%s: %u of %u interrupts while the %s watchdog ticked %u times",
                      what, counter(), n, wd_name, watchdog());
        cpu_idle();
    }
    uint64_t dt = rdtsc() - t0;
    kprintf("timer: %s: %u interrupts, %lu TSC cycles per interrupt\n", what, n, dt / n);
}

static uint32_t lapic_hits(void) { return hits[VEC_LAPIC]; }
static uint32_t pic_hits(void) { return hits[VEC_PIC_BASE + 0]; }

static void route_pit_ioapic(void)
{
    ioapic_route(0, VEC_IOAPIC_BASE + 0, false, false);
    ioapic_route(2, VEC_IOAPIC_BASE + 2, false, false);
}

static void phase_lapic(uint32_t n)
{
    reset_counts();
    route_pit_ioapic();
    pit_start(); /* watchdog, through both IOAPIC pins */
    lapic_timer(10);
    wait_count("lapic (periodic, 10 ms)", lapic_hits, n, pit_ioapic_hits, "PIT");
    lapic_timer(0);
    pit_stop();
    kprintf("timer: lapic: the PIT ticked %u times meanwhile (about %u expected)\n", pit_ioapic_hits(), n);
}

static void phase_pit(uint32_t n)
{
    reset_counts();
    route_pit_ioapic();
    lapic_timer(20); /* watchdog */
    pit_start();
    wait_count("pit via IOAPIC (100 Hz)", pit_ioapic_hits, n, lapic_hits, "LAPIC timer");
    pit_stop();
    lapic_timer(0);
    kprintf("timer: pit: IOAPIC pin 0 got %u, pin 2 got %u\n", hits[VEC_IOAPIC_BASE + 0], hits[VEC_IOAPIC_BASE + 2]);
}

static void phase_pic(uint32_t n)
{
    reset_counts();
    ioapic_mask(0);
    ioapic_mask(2);
    lapic_write(LAPIC_LVT_LINT0, 0x700); /* ExtINT */
    pic_unmask(0);
    lapic_timer(20); /* watchdog */
    pit_start();
    wait_count("pit via 8259 PIC (100 Hz)", pic_hits, n, lapic_hits, "LAPIC timer");
    pit_stop();
    lapic_timer(0);
    pic_mask_all();
}

void test_main(void)
{
    char list[64] = "lapic,pit";
    cmdline_get("timer", list, sizeof(list));
    uint32_t n = (uint32_t)cmdline_u64("ticks", 10);
    CHECK(n > 0 && n < 100000, "bad ticks=");

    irq_set_handler(VEC_LAPIC, count_irq, NULL);
    irq_set_handler(VEC_PIC_BASE + 0, count_irq, NULL);
    irq_set_handler(VEC_IOAPIC_BASE + 0, count_irq, NULL);
    irq_set_handler(VEC_IOAPIC_BASE + 2, count_irq, NULL);
    CHECK(ioapic_pins() > 2, "no IOAPIC");

    unsigned phases = 0;
    for (const char *p = list; *p;) {
        const char *q = p;
        while (*q && *q != ',')
            q++;
        size_t len = (size_t)(q - p);
        if (len == 5 && strncmp(p, "lapic", 5) == 0)
            phase_lapic(n);
        else if (len == 3 && strncmp(p, "pit", 3) == 0)
            phase_pit(n);
        else if (len == 3 && strncmp(p, "pic", 3) == 0)
            phase_pic(n);
        else
            test_fail("unknown timer phase in timer=%s", list);
        phases++;
        p = *q ? q + 1 : q;
    }
    CHECK(phases > 0, "timer= names no phase");
}
