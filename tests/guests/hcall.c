/* hcall — corral's hypercall channel (docs/guest-abi.md): signature and
 * PROBE (version 1), LOG, TIME (plausible wall clock), REPORT 42=4242, the
 * error statuses (-EFAULT for text outside RAM, -EINVAL for a too long LOG,
 * -ENOSYS for an unknown op), the debug byte port, and blocks the VMM must
 * ignore (misaligned, outside RAM).  PASS then POWEROFF.  Under a VMM
 * without the channel (QEMU) it fails: "hypercall channel absent". */
#include "guest.h"

const char test_name[] = "hcall";

#define EFAULT 14
#define EINVAL 22
#define ENOSYS 38
#define NS 1000000000ull
#define Y2020_NS (1577836800ull * NS) /* 2020-01-01T00:00:00Z */
#define Y2100_NS (4102444800ull * NS)

/* Days since 1970-01-01 to a civil date (proleptic Gregorian). */
static void civil(int64_t days, int *y, unsigned *m, unsigned *d)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static bool ram_above_4g(void)
{
    for (int i = 0; i < boot.nmem; i++)
        if (boot.mem[i].type == E820_RAM && boot.mem[i].addr + boot.mem[i].size > (1ull << 32))
            return true;
    return false;
}

static void expect_status(const char *what, int32_t got, int32_t want)
{
    kprintf("hcall: %s -> status %d\n", what, got);
    CHECK(got == want, "%s: status %d, expected %d", what, got, want);
}

void test_main(void)
{
    uint32_t sig = inl(HCALL_PORT);
    CHECK(sig == HCALL_SIGNATURE, "hypercall channel absent: port %#x reads %#x", HCALL_PORT, sig);
    kprintf("hcall: signature %#x (\"CRRL\")\n", sig);

    uint64_t r = 0;
    int32_t st = hcall(HC_PROBE, 0, 0, &r);
    CHECK(st == 0 && r == 1, "PROBE: status %d, version %lu (expected 0, 1)", st, r);
    kprintf("hcall: PROBE -> ABI version %lu\n", r);

    expect_status("LOG \"hello from the corral hcall test guest\"",
                  hcall_log("hello from the corral hcall test guest"), 0);

    st = hcall(HC_TIME, 0, 0, &r);
    CHECK(st == 0, "TIME: status %d", st);
    CHECK(r > Y2020_NS && r < Y2100_NS, "TIME: %lu ns is not between 2020 and 2100", r);
    int y;
    unsigned mo, d;
    civil((int64_t)(r / NS / 86400), &y, &mo, &d);
    unsigned sod = (unsigned)(r / NS % 86400);
    kprintf("hcall: TIME -> %lu ns = %d-%02u-%02u %02u:%02u:%02u UTC\n", r, y, mo, d, sod / 3600,
            sod / 60 % 60, sod % 60);

    expect_status("REPORT 42=4242", hcall(HC_REPORT, 42, 4242, NULL), 0);

    static const char text[] = "0123456789abcdef";
    expect_status("LOG of text outside RAM (0xffffffff0000)", hcall(HC_LOG, 0xffffffff0000ull, 16, NULL), -EFAULT);
    expect_status("LOG of text in the MMIO hole (0xd0000000)", hcall(HC_LOG, 0xd0000000ull, 16, NULL), -EFAULT);
    if (boot.ram_top_low && !ram_above_4g())
        expect_status("LOG of text straddling the end of RAM",
                      hcall(HC_LOG, boot.ram_top_low - 8, 16, NULL), -EFAULT);
    expect_status("LOG of 1025 bytes", hcall(HC_LOG, (uint64_t)(uintptr_t)text, 1025, NULL), -EINVAL);
    expect_status("LOG of 2^64-1 bytes", hcall(HC_LOG, (uint64_t)(uintptr_t)text, ~0ull, NULL), -EINVAL);
    expect_status("unknown op 99", hcall(99, 0, 0, NULL), -ENOSYS);
    expect_status("unknown op 0xffffffff", hcall(0xffffffffu, 0, 0, NULL), -ENOSYS);

    /* Blocks the VMM must ignore: the status must stay untouched. */
    static struct hcall_block blocks[2];
    volatile struct hcall_block *mis = (volatile struct hcall_block *)((uintptr_t)&blocks[0] + 4);
    mis->op = HC_PROBE;
    mis->status = HC_NOT_DONE;
    hcall_raw((uint32_t)(uintptr_t)mis);
    CHECK(mis->status == HC_NOT_DONE, "a misaligned block was processed (status %d)", mis->status);
    kprintf("hcall: misaligned block ignored\n");
    hcall_raw(0xfffffff8u);
    hcall_raw(0xd0000000u);
    if (boot.ram_top_low && !ram_above_4g())
        hcall_raw((uint32_t)boot.ram_top_low - 16); /* straddles the end of RAM */
    kprintf("hcall: blocks outside RAM ignored, still running\n");

    for (const char *s = "hcall: a line through the debug byte port\n"; *s; s++)
        outb(HCALL_DEBUG_PORT, (uint8_t)*s);
    expect_status("PROBE after the bad calls", hcall(HC_PROBE, 0, 0, NULL), 0);
}
