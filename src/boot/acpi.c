/* ACPI tables for kernels that find CPUs, devices and power control only
 * through ACPI (Debian's cloud kernel is built without MP-table support and
 * without virtio_mmio.device= parsing): RSDP -> XSDT -> FADT (PM1 blocks for
 * S5 power-off, a reset register) -> DSDT (\_S5 and one LNRO0005 device per
 * virtio-mmio device), and a MADT listing one local APIC per vCPU and the
 * IOAPIC.  Tables live in the BIOS area at
 * 0xe0000, which the e820 map does not offer as RAM. */
#include "boot_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#define RSDP_ADDR 0xe0000
#define XSDT_ADDR 0xe0040
#define FADT_ADDR 0xe0100
#define MADT_ADDR 0xe0400
#define DSDT_ADDR 0xe1000
#define ACPI_AREA_END 0xe3000

#define IOAPIC_ADDR 0xfec00000u
#define LAPIC_ADDR 0xfee00000u

#define FADT_LEN 276
#define FADT_F_WBINVD (1u << 0)
#define FADT_F_PWR_BUTTON (1u << 4)   /* no fixed power button */
#define FADT_F_SLP_BUTTON (1u << 5)   /* no fixed sleep button */
#define FADT_F_RESET_REG_SUP (1u << 10)
#define IAPC_BOOT_ARCH_LEGACY (1u << 0)
#define IAPC_BOOT_ARCH_8042 (1u << 1)
#define SLEEP_TYPE_S5 5

static uint8_t sum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    for (size_t i = 0; i < len; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

static void header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(t, sig, 4);
    wr32(t + 4, len);
    t[8] = rev;
    memcpy(t + 10, "CORRAL", 6);
    memcpy(t + 16, "CORRALVM", 8);
    wr32(t + 24, 1);
    memcpy(t + 28, "CRRL", 4);
    wr32(t + 32, 1);
    t[9] = (uint8_t)-sum(t, len);
}

/* Generic Address Structure for a byte-wide I/O port. */
static void gas_io(uint8_t *g, uint16_t port)
{
    g[0] = 1;       /* system I/O */
    g[1] = 8;       /* bit width */
    g[2] = 0;
    g[3] = 1;       /* byte access */
    wr64(g + 4, port);
}

/* A tiny AML writer: enough for names, strings, integers, buffers and the
 * nesting of scopes and devices, with exact PkgLength encodings. */
struct aml {
    uint8_t *p;
    size_t len, cap;
    bool overflow;
};

static void aml_bytes(struct aml *a, const void *b, size_t n)
{
    if (a->len + n > a->cap) {
        a->overflow = true;
        return;
    }
    memcpy(a->p + a->len, b, n);
    a->len += n;
}

static void aml_byte(struct aml *a, uint8_t b) { aml_bytes(a, &b, 1); }

/* Wraps everything written since `start` in a PkgLength (the length
 * includes the PkgLength bytes themselves). */
static void aml_pkg_close(struct aml *a, size_t start)
{
    if (a->overflow)
        return;
    size_t body = a->len - start;
    size_t n = body + 1 < 64 ? 1 : body + 2 < 4096 ? 2 : 3;
    size_t total = body + n;
    if (a->len + n > a->cap || total >= (1u << 20)) {
        a->overflow = true;
        return;
    }
    memmove(a->p + start + n, a->p + start, body);
    if (n == 1) {
        a->p[start] = (uint8_t)total;
    } else {
        a->p[start] = (uint8_t)(((n - 1) << 6) | (total & 0x0f));
        for (size_t i = 1; i < n; i++)
            a->p[start + i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
    }
    a->len += n;
}

static void aml_name(struct aml *a, const char seg[4]) { aml_byte(a, 0x08); aml_bytes(a, seg, 4); }

static void aml_dword(struct aml *a, uint32_t v)
{
    aml_byte(a, 0x0c);                      /* DWordPrefix */
    aml_bytes(a, &v, 4);
}

/* One virtio-mmio device: Linux's virtio_mmio driver matches _HID LNRO0005
 * and takes its registers and interrupt from _CRS. */
static void aml_virtio_mmio(struct aml *a, unsigned idx, const struct boot_mmio_dev *d)
{
    char seg[5];
    snprintf(seg, sizeof(seg), "V%03u", idx % 1000);
    aml_bytes(a, "\x5b\x82", 2);              /* DeviceOp */
    size_t dev = a->len;
    aml_bytes(a, seg, 4);
    aml_name(a, "_HID");
    aml_byte(a, 0x0d);                      /* StringPrefix */
    aml_bytes(a, "LNRO0005", 9);
    aml_name(a, "_UID");
    aml_dword(a, idx);
    aml_name(a, "_CRS");
    uint8_t res[23] = {
        0x86, 0x09, 0x00, 0x01,             /* Memory32Fixed, read-write */
        0, 0, 0, 0, 0, 0, 0, 0,
        0x89, 0x06, 0x00, 0x03, 0x01,       /* Interrupt: consumer, edge, high; one */
        0, 0, 0, 0,
        0x79, 0x00,                         /* end tag */
    };
    wr32(res + 4, (uint32_t)d->addr);
    wr32(res + 8, (uint32_t)d->len);
    wr32(res + 17, d->irq);
    aml_byte(a, 0x11);                      /* BufferOp */
    size_t buf = a->len;
    aml_byte(a, 0x0a);                      /* BytePrefix: buffer size */
    aml_byte(a, sizeof(res));
    aml_bytes(a, res, sizeof(res));
    aml_pkg_close(a, buf);
    aml_pkg_close(a, dev);
}

static int write_dsdt(uint8_t *t, size_t cap, const struct boot_params_in *in)
{
    struct aml a = { .p = t + 36, .cap = cap - 36 };
    /* Name (_S5, Package () { 5, 5 }): the value Linux writes, shifted into
     * SLP_TYP, to the sleep control register to power off. */
    static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x02,
                                  0x0a, SLEEP_TYPE_S5, 0x0a, SLEEP_TYPE_S5 };
    aml_bytes(&a, s5, sizeof(s5));
    if (in->nmmio) {
        aml_byte(&a, 0x10);                 /* ScopeOp (\_SB) */
        size_t scope = a.len;
        aml_bytes(&a, "\\_SB_", 5);
        for (int i = 0; i < in->nmmio; i++)
            aml_virtio_mmio(&a, (unsigned)i, &in->mmio[i]);
        aml_pkg_close(&a, scope);
    }
    if (a.overflow)
        return fail(ENOSPC, "too many devices for the ACPI DSDT");
    header(t, "DSDT", (uint32_t)(36 + a.len), 2);
    return 0;
}

static void write_fadt(uint8_t *t, const struct boot_acpi_pm *pm)
{
    /* A PC-style (not hardware-reduced) FADT: Linux then keeps the legacy
     * PIC, PIT and ISA interrupts that the UART, i8042 and RTC use.  With no
     * SMI command port, ACPI mode is always on. */
    wr32(t + 40, DSDT_ADDR);
    wr16(t + 46, pm->sci_irq);
    wr32(t + 56, pm->pm1a_evt);             /* PM1a_EVT_BLK */
    wr32(t + 64, pm->pm1a_cnt);             /* PM1a_CNT_BLK */
    t[88] = 4;                              /* PM1_EVT_LEN */
    t[89] = 2;                              /* PM1_CNT_LEN */
    wr16(t + 109, IAPC_BOOT_ARCH_LEGACY | IAPC_BOOT_ARCH_8042);
    wr32(t + 112, FADT_F_WBINVD | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON | FADT_F_RESET_REG_SUP);
    gas_io(t + 116, pm->reset);
    t[128] = pm->reset_value;
    wr64(t + 140, DSDT_ADDR);               /* X_DSDT */
    memcpy(t + 268, "CORRALVM", 8);         /* hypervisor vendor identity */
    header(t, "FACP", FADT_LEN, 6);
}

static uint32_t write_madt(uint8_t *t, int ncpus)
{
    uint8_t *p = t + 44;
    wr32(t + 36, LAPIC_ADDR);
    wr32(t + 40, 1);                        /* PCAT_COMPAT: there are 8259s */
    for (int i = 0; i < ncpus; i++, p += 8) {
        p[0] = 0, p[1] = 8;                 /* processor local APIC */
        p[2] = (uint8_t)i;                  /* ACPI processor UID */
        p[3] = (uint8_t)i;                  /* APIC id */
        wr32(p + 4, 1);                     /* enabled */
    }
    p[0] = 1, p[1] = 12;                    /* IOAPIC */
    p[2] = (uint8_t)ncpus;
    wr32(p + 4, IOAPIC_ADDR);
    wr32(p + 8, 0);                         /* GSI base */
    p += 12;
    p[0] = 4, p[1] = 6;                     /* LINT1 is NMI on every CPU */
    p[2] = 0xff;
    wr16(p + 3, 0);
    p[5] = 1;
    p += 6;
    uint32_t len = (uint32_t)(p - t);
    header(t, "APIC", len, 5);
    return len;
}

int boot_write_acpi(struct guest_mem *mem, const struct boot_params_in *in, uint64_t *rsdp)
{
    int ncpus = in->ncpus;
    uint8_t *area = gm_ptr(mem, RSDP_ADDR, ACPI_AREA_END - RSDP_ADDR);
    if (!area || 44 + 8 * (size_t)ncpus + 18 > DSDT_ADDR - MADT_ADDR)
        return fail(ENOMEM, "no room for the ACPI tables");
    memset(area, 0, ACPI_AREA_END - RSDP_ADDR);
    int r = write_dsdt(area + (DSDT_ADDR - RSDP_ADDR), ACPI_AREA_END - DSDT_ADDR, in);
    if (r < 0)
        return r;
    write_fadt(area + (FADT_ADDR - RSDP_ADDR), in->acpi);
    write_madt(area + (MADT_ADDR - RSDP_ADDR), ncpus);

    uint8_t *x = area + (XSDT_ADDR - RSDP_ADDR);
    wr64(x + 36, FADT_ADDR);
    wr64(x + 44, MADT_ADDR);
    header(x, "XSDT", 52, 1);

    uint8_t *rp = area;
    memcpy(rp, "RSD PTR ", 8);
    memcpy(rp + 9, "CORRAL", 6);
    rp[15] = 2;                              /* ACPI 2.0+: has the XSDT */
    wr32(rp + 20, 36);
    wr64(rp + 24, XSDT_ADDR);
    rp[8] = (uint8_t)-sum(rp, 20);
    rp[32] = (uint8_t)-sum(rp, 36);
    *rsdp = RSDP_ADDR;
    return 0;
}
