/* ACPI power management registers: how a Linux guest with ACPI powers off
 * (poweroff -> S5 -> SLP_EN in PM1a_CNT) and resets (the FADT reset
 * register).  The event block keeps the enables the guest sets (ACPICA
 * reads them back) but no event ever fires. */
#include "devices.h"

#include "snap/snap.h"

#include <string.h>

#define PM1_SCI_EN 0x0001
#define PM1_SLP_EN 0x2000

enum {
    OFF_EN = ACPI_PM1A_EVT - ACPI_PM_PORT + 2,
    OFF_CNT = ACPI_PM1A_CNT - ACPI_PM_PORT,
    OFF_RESET = ACPI_PM_RESET - ACPI_PM_PORT,
};

/* The registers as one little-endian byte image, so 1- and 2-byte
 * accesses at any offset are handled the same way. */
static void image(const struct acpi_pm_state *s, uint8_t img[ACPI_PM_LEN])
{
    memset(img, 0, ACPI_PM_LEN);
    img[OFF_EN] = (uint8_t)s->pm1_en;
    img[OFF_EN + 1] = (uint8_t)(s->pm1_en >> 8);
    uint16_t cnt = s->pm1_cnt | PM1_SCI_EN; /* ACPI mode is always on */
    img[OFF_CNT] = (uint8_t)cnt;
    img[OFF_CNT + 1] = (uint8_t)(cnt >> 8);
}

static void pm_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct acpi_pm *pm = opaque;
    uint8_t img[ACPI_PM_LEN];
    pthread_mutex_lock(&pm->lock);
    image(&pm->s, img);
    pthread_mutex_unlock(&pm->lock);
    memcpy(data, img + off, size); /* the bus keeps off + size within the region */
}

static void pm_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct acpi_pm *pm = opaque;
    uint8_t img[ACPI_PM_LEN];
    pthread_mutex_lock(&pm->lock);
    image(&pm->s, img);
    memcpy(img + off, data, size);
    pm->s.pm1_en = (uint16_t)(img[OFF_EN] | img[OFF_EN + 1] << 8);
    uint16_t cnt = (uint16_t)(img[OFF_CNT] | img[OFF_CNT + 1] << 8);
    pm->s.pm1_cnt = cnt & (uint16_t)~PM1_SLP_EN;
    pthread_mutex_unlock(&pm->lock);
    /* S5 is the only sleep state the DSDT offers, so any SLP_EN is S5. */
    if (off <= OFF_CNT + 1 && off + size > OFF_CNT && (cnt & PM1_SLP_EN))
        pm->host->request(pm->host, VM_REQ_POWEROFF);
    else if (off == OFF_RESET && data[0] == ACPI_PM_RESET_VALUE)
        pm->host->request(pm->host, VM_REQ_REBOOT);
}

static const struct io_ops pm_ops = { .read = pm_read, .write = pm_write };

int acpi_pm_init(struct acpi_pm *pm, struct dev_host *host, struct bus *pio)
{
    memset(pm, 0, sizeof(*pm));
    pthread_mutex_init(&pm->lock, NULL);
    pm->host = host;
    return bus_add(pio, ACPI_PM_PORT, ACPI_PM_LEN, "acpi-pm", &pm_ops, pm);
}

void acpi_pm_save(struct acpi_pm *pm, struct snap_writer *w)
{
    pthread_mutex_lock(&pm->lock);
    snap_u16(w, pm->s.pm1_en);
    snap_u16(w, pm->s.pm1_cnt);
    pthread_mutex_unlock(&pm->lock);
}

int acpi_pm_load(struct acpi_pm *pm, struct snap_cursor *c)
{
    struct acpi_pm_state s = { .pm1_en = snap_get_u16(c), .pm1_cnt = snap_get_u16(c) };
    int r = snap_cursor_done(c, "ACPI PM");
    if (r < 0)
        return r;
    pthread_mutex_lock(&pm->lock);
    pm->s = s;
    pthread_mutex_unlock(&pm->lock);
    return 0;
}
