/* ACPI power management registers: how a Linux guest with ACPI powers off
 * (poweroff -> S5 -> SLP_EN in PM1a_CNT) and resets (the FADT reset
 * register).  The event block has no events to report. */
#include "devices.h"

#define PM1_SCI_EN 0x0001
#define PM1_SLP_EN 0x2000

static void pm_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    (void)opaque;
    /* ACPI mode is always on: PM1a_CNT reads with SCI_EN set. */
    uint16_t v = off == ACPI_PM1A_CNT - ACPI_PM_PORT ? PM1_SCI_EN : 0;
    data[0] = (uint8_t)v;
    if (size > 1)
        data[1] = (uint8_t)(v >> 8);
}

static void pm_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct dev_host *host = opaque;
    uint64_t cnt = ACPI_PM1A_CNT - ACPI_PM_PORT;
    /* SLP_EN is bit 13: the high byte of a 16-bit write or a byte write to
     * the control block's second byte.  S5 is the only state offered. */
    bool slp_en = (off == cnt && size >= 2 && (data[1] << 8 & PM1_SLP_EN)) ||
                  (off == cnt + 1 && (data[0] << 8 & PM1_SLP_EN));
    if (slp_en)
        host->request(host, VM_REQ_POWEROFF);
    else if (off == ACPI_PM_RESET - ACPI_PM_PORT && data[0] == ACPI_PM_RESET_VALUE)
        host->request(host, VM_REQ_REBOOT);
}

static const struct io_ops pm_ops = { .read = pm_read, .write = pm_write };

int acpi_pm_init(struct dev_host *host, struct bus *pio)
{
    return bus_add(pio, ACPI_PM_PORT, ACPI_PM_LEN, "acpi-pm", &pm_ops, host);
}
