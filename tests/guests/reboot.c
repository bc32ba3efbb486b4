/* reboot — restarting the VM.  Every boot prints "reboot: booting".  RAM
 * does not survive a reset but CMOS RAM does on a PC, so the first boot
 * leaves a marker there, prints "reboot: first boot" and asks for a reset;
 * the second boot finds the marker, clears it and passes.  A VMM that
 * builds a fresh machine (and CMOS) on reboot sees the guest reboot over and
 * over, one "reboot: booting" per boot.
 *
 * cmdline: via=hcall   REBOOT hypercall (default)
 *          via=i8042   0xfe to port 0x64 (pulse the reset line)
 *          via=triple  a triple fault: zero-limit IDT, then int3
 * A VMM run with --no-reboot exits instead (status 0, or 3 for a triple
 * fault): then "reboot: first boot" and the absence of a FAIL line are the
 * result.  If the request returns, the guest fails. */
#include "guest.h"

const char test_name[] = "reboot";

#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define MARKER_REG 0x7d /* plain CMOS RAM on corral and QEMU */
#define METHOD_REG 0x7e
#define MARKER 0xc5

static uint8_t cmos_read(uint8_t reg)
{
    outb(CMOS_INDEX, reg);
    return inb(CMOS_DATA);
}

static void cmos_write(uint8_t reg, uint8_t v)
{
    outb(CMOS_INDEX, reg);
    outb(CMOS_DATA, v);
}

static const char *const methods[] = { "hcall", "i8042", "triple" };

void test_main(void)
{
    kprintf("reboot: booting\n");
    if (cmos_read(MARKER_REG) == MARKER) {
        uint8_t m = cmos_read(METHOD_REG);
        cmos_write(MARKER_REG, 0);
        kprintf("reboot: second boot: the reset requested via %s worked\n", m < 3 ? methods[m] : "?");
        return;
    }

    char via[16] = "hcall";
    cmdline_get("via", via, sizeof(via));
    unsigned m;
    for (m = 0; m < ARRAY_SIZE(methods) && strcmp(via, methods[m]) != 0; m++)
        ;
    CHECK(m < ARRAY_SIZE(methods), "unknown via=%s", via);
    if (m == 0)
        CHECK(hcall_present(), "hypercall channel absent: cannot request REBOOT");

    cmos_write(MARKER_REG, MARKER);
    cmos_write(METHOD_REG, (uint8_t)m);
    CHECK(cmos_read(MARKER_REG) == MARKER, "CMOS RAM does not keep a value");
    kprintf("reboot: first boot: requesting a reset via %s\n", via);

    if (m == 0) {
        int32_t st = hcall(HC_REBOOT, 0, 0, NULL);
        CHECK(st == 0, "REBOOT: status %d", st);
        /* The VMM stops the vCPU; give it ample time before calling it a failure. */
        sleep_ms(5000);
    } else if (m == 1) {
        i8042_reset();
        sleep_ms(5000);
    } else {
        struct {
            uint16_t limit;
            uint64_t base;
        } __attribute__((packed)) empty = { 0, 0 };
        __asm__ volatile("lidt %0; int3" : : "m"(empty));
    }
    cmos_write(MARKER_REG, 0);
    test_fail("still running after the reset request via %s", via);
}
