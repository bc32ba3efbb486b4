/* Fuzzes the legacy PC devices a fully-virtualized guest drives with port
 * I/O — 8250 UART, i8042, CMOS RTC, ACPI power registers — all on one bus,
 * as a hostile guest would.
 *
 * Input: a sequence of 4-byte records (device, offset, control, value).
 * Control bits 0-1 pick the access size (1, 2, 4, 8), bit 7 makes it a
 * write; offsets run a little past each device's window to cover the
 * edges.  Invariants: only power requests come out of the devices, and the
 * UART's receive FIFO never reports more bytes than it holds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/devices.h"

static unsigned requests;

static void st_set_irq(struct dev_host *h, unsigned gsi, int level)
{
    (void)h;
    if (gsi > 23 || (level != 0 && level != 1))
        abort();
}

static void st_request(struct dev_host *h, enum vm_request req)
{
    (void)h;
    if (req != VM_REQ_POWEROFF && req != VM_REQ_REBOOT)
        abort();
    requests++;
}

static const struct { uint16_t base, len; } windows[] = {
    { COM1_PORT, 8 }, { I8042_DATA_PORT, 1 }, { I8042_CMD_PORT, 1 }, { 0x70, 2 },
    { ACPI_PM_PORT, ACPI_PM_LEN },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct bus pio;
    static struct serial uart;
    static struct i8042 kbd;
    static struct rtc rtc;
    static struct acpi_pm pm;
    struct dev_host h = { .set_irq = st_set_irq, .request = st_request };
    memset(&pio, 0, sizeof(pio));
    struct console_io none = { -1, -1 };
    if (serial_init(&uart, &h, &pio, none, COM1_PORT, COM1_IRQ) < 0 || i8042_init(&kbd, &h, &pio) < 0 ||
        rtc_init(&rtc, &pio) < 0 || acpi_pm_init(&pm, &h, &pio) < 0)
        abort();
    for (size_t i = 0; i + 4 <= size; i += 4) {
        const uint8_t *r = data + i;
        unsigned w = r[0] % ARRAY_SIZE(windows);
        uint64_t port = windows[w].base + r[1] % (windows[w].len + 4u);
        unsigned sz = 1u << (r[2] & 3);
        uint8_t buf[8] = { r[3], r[3], r[3], r[3], r[3], r[3], r[3], r[3] };
        bus_access(&pio, port, buf, sz, r[2] & 0x80);
        if (r[2] & 0x40) /* host input arriving in between */
            serial_input(&uart, &r[3], 1);
        if (uart.s.rx_count > sizeof(uart.s.rx))
            abort();
    }
    if (size && data[0] == 0xca)
        i8042_ctrl_alt_del(&kbd);
    serial_stop(&uart);
    pthread_mutex_destroy(&kbd.lock);
    pthread_mutex_destroy(&rtc.lock);
    pthread_mutex_destroy(&pm.lock);
    return 0;
}
