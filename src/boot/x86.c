/* The x86 structures no firmware builds for us: GDT, boot page tables and
 * the Intel MultiProcessor table that tells the guest how many CPUs it has. */
#include "boot_internal.h"

#include <errno.h>

#define IOAPIC_ADDR 0xfec00000u
#define LAPIC_ADDR 0xfee00000u
#define MP_IRQS 24

int boot_write_gdt(struct guest_mem *mem)
{
    const uint64_t gdt[] = {
        0,                       /* null */
        0x00cf9b000000ffffULL,   /* 0x08: 32-bit code, flat */
        0x00af9b000000ffffULL,   /* 0x10: 64-bit code */
        0x00cf93000000ffffULL,   /* 0x18: data, flat */
        0x00008b0000000067ULL,   /* 0x20: TSS (busy), for a valid TR */
    };
    if (!gm_write(mem, BOOT_GDT_ADDR, gdt, sizeof(gdt)))
        return fail(ENOMEM, "no room for the GDT");
    return 0;
}

int boot_write_page_tables(struct guest_mem *mem)
{
    /* PML4 -> one PDPT -> four page directories of 2 MiB pages: the first
     * 4 GiB identity-mapped, enough for any 64-bit entry point. */
    uint64_t *pml4 = gm_ptr(mem, BOOT_PML4_ADDR, 6 * 4096);
    if (!pml4)
        return fail(ENOMEM, "no room for page tables");
    uint64_t *pdpt = pml4 + 512, *pd = pdpt + 512;
    memset(pml4, 0, 6 * 4096);
    pml4[0] = (BOOT_PML4_ADDR + 0x1000) | 0x03;
    for (uint64_t i = 0; i < 4; i++)
        pdpt[i] = (BOOT_PML4_ADDR + 0x2000 + i * 0x1000) | 0x03;
    for (uint64_t i = 0; i < 4 * 512; i++)
        pd[i] = (i << 21) | 0x83;
    return 0;
}

static uint8_t checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + p[i]);
    return (uint8_t)-sum;
}

int boot_write_mptable(struct guest_mem *mem, int ncpus)
{
    /* The floating pointer must be in the last KiB of base memory, where
     * guests look for it; with more than 37 CPUs the table behind it runs on
     * into the legacy hole at 0xa0000, which is never RAM in the e820 map. */
    size_t len = 16 + 44 + 20 * (size_t)ncpus + 8 + 8 + 8 * MP_IRQS + 8 * 2;
    size_t area = MAX(len, (size_t)(BOOT_EBDA_END - BOOT_MPTABLE_ADDR));
    uint8_t *base = gm_ptr(mem, BOOT_MPTABLE_ADDR, area);
    if (ncpus < 1 || ncpus > BOOT_MAX_CPUS || area > BOOT_KERNEL_ADDR - BOOT_MPTABLE_ADDR || !base)
        return fail(EINVAL, "cannot describe %d CPUs in the MP table", ncpus);
    memset(base, 0, area);

    uint8_t *fp = base, *hdr = base + 16, *p = hdr + 44;
    uint8_t ioapic_id = (uint8_t)ncpus;
    int entries = 0;
    for (int i = 0; i < ncpus; i++, entries++, p += 20) {
        p[0] = 0;                                /* processor */
        p[1] = (uint8_t)i;                       /* local APIC id */
        p[2] = 0x14;                             /* local APIC version */
        p[3] = (uint8_t)(0x01 | (i == 0 ? 0x02 : 0)); /* enabled, BSP */
        wr32(p + 4, 0x600);                      /* CPU signature: family 6 */
        wr32(p + 8, 0x201);                      /* features: FPU, APIC */
    }
    p[0] = 1;                                    /* bus 0: ISA */
    memcpy(p + 2, "ISA   ", 6);
    p += 8, entries++;
    p[0] = 2;                                    /* the IOAPIC */
    p[1] = ioapic_id;
    p[2] = 0x11;
    p[3] = 1;
    wr32(p + 4, IOAPIC_ADDR);
    p += 8, entries++;
    for (int irq = 0; irq < MP_IRQS; irq++, p += 8, entries++) {
        p[0] = 3;                                /* I/O interrupt: ISA irq -> same pin */
        p[1] = 0;                                /* INT */
        p[4] = 0;
        p[5] = (uint8_t)irq;
        p[6] = ioapic_id;
        p[7] = (uint8_t)irq;
    }
    p[0] = 4, p[1] = 3, p[6] = 0xff, p[7] = 0;   /* LINT0: ExtINT to all */
    p += 8, entries++;
    p[0] = 4, p[1] = 1, p[6] = 0xff, p[7] = 1;   /* LINT1: NMI to all */
    p += 8, entries++;

    memcpy(hdr, "PCMP", 4);
    wr16(hdr + 4, (uint16_t)(p - hdr));
    hdr[6] = 4;                                  /* spec 1.4 */
    memcpy(hdr + 8, "CORRAL  ", 8);
    memcpy(hdr + 16, "CORRAL-VMM  ", 12);
    wr16(hdr + 34, (uint16_t)entries);
    wr32(hdr + 36, LAPIC_ADDR);
    hdr[7] = checksum(hdr, (size_t)(p - hdr));

    memcpy(fp, "_MP_", 4);
    wr32(fp + 4, BOOT_MPTABLE_ADDR + 16);
    fp[8] = 1;                                   /* length in 16-byte units */
    fp[9] = 4;
    fp[10] = checksum(fp, 16);
    return 0;
}
