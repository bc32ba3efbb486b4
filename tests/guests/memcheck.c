/* memcheck — memory and time that must survive a snapshot and restore (or a
 * migration): fills a region of RAM with a pattern that depends on the
 * address and a generation number, then forever verifies the whole region
 * and rewrites it with the next generation, printing one line per pass.
 * The lib's LAPIC timer (periodic, 10 ms) counts ticks meanwhile, and every pass
 * checks that the TSC and the tick count only ever moved forward.  A wrong
 * byte, a clock that ran backwards or a timer that stopped gives a FAIL line.
 *
 * cmdline: mib=N     region size in MiB, from 32 MiB up (default 16)
 *          passes=N  pass after N passes (default 0: run until stopped)
 * Output:  memcheck: pass P gen G ticks T */
#include "guest.h"

const char test_name[] = "memcheck";

#define REGION_START (32ull << 20)
#define STALL_PASSES 50    /* passes in a row without a tick: the timer died */

static inline uint64_t pattern(uint64_t addr, uint64_t gen)
{
    uint64_t x = addr * 0x9e3779b97f4a7c15ull ^ (gen + 1) * 0xc2b2ae3d27d4eb4full;
    return x ^ (x >> 29);
}

void test_main(void)
{
    uint64_t mib = cmdline_u64("mib", 16), passes = cmdline_u64("passes", 0);
    CHECK(mib > 0 && mib <= 4096, "bad mib=");
    uint64_t len = mib << 20;
    CHECK(mem_is_ram(REGION_START, len), "%lu MiB from 32 MiB is not RAM: give the VM more memory", mib);
    volatile uint64_t *mem = (volatile uint64_t *)REGION_START;
    uint64_t words = len / sizeof(uint64_t);

    tick_start();    /* the lib's LAPIC timer, every TICK_MS */
    sti();

    for (uint64_t i = 0; i < words; i++)
        mem[i] = pattern(REGION_START + i * 8, 0);
    uint64_t last_tsc = rdtsc(), last_ticks = 0, stalled = 0;
    for (uint64_t gen = 1;; gen++) {
        for (uint64_t i = 0; i < words; i++) {
            uint64_t addr = REGION_START + i * 8, want = pattern(addr, gen - 1), got = mem[i];
            if (got != want)
                test_fail("pass %lu: at 0x%lx found 0x%lx, wrote 0x%lx", gen, addr, got, want);
            mem[i] = pattern(addr, gen);
        }
        uint64_t tsc = rdtsc(), t = ticks;
        if (tsc < last_tsc)
            test_fail("pass %lu: the TSC went back from %lu to %lu", gen, last_tsc, tsc);
        if (t < last_ticks)
            test_fail("pass %lu: the tick count went back from %lu to %lu", gen, last_ticks, t);
        stalled = t == last_ticks ? stalled + 1 : 0;
        if (stalled > STALL_PASSES)
            test_fail("pass %lu: no timer tick in %lu passes", gen, stalled);
        last_tsc = tsc;
        last_ticks = t;
        kprintf("memcheck: pass %lu gen %lu ticks %lu\n", gen, gen, t);
        if (passes && gen >= passes)
            test_pass();
    }
}
