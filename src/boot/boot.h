/* boot — puts a kernel into guest memory the way its boot protocol wants and
 * says how the boot vCPU must start.  No firmware runs: this module writes
 * the zero page or PVH start info, the e820 map, the command line, the
 * initrd, the GDT, the identity-mapped page tables and the MP table.
 *
 * Three image kinds are recognised by their contents:
 *   - bzImage (Linux x86 boot protocol >= 2.06 with a 64-bit entry point),
 *   - ELF64 with a XEN_ELFNOTE_PHYS32_ENTRY note (PVH: 32-bit entry, ebx =
 *     hvm_start_info),
 *   - plain ELF64 vmlinux (64-bit entry, rsi = boot_params).
 * Every offset and size read from the image is checked against the image's
 * length and against guest RAM before use, so a corrupt kernel gets a clear
 * error instead of a crash.  The parsers only touch memory through
 * struct guest_mem, which lets tests and fuzzers run them without KVM.
 */
#ifndef CORRAL_BOOT_H
#define CORRAL_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "mem/mem.h"

/* Fixed guest-physical layout used by all boot paths (docs/guest-abi.md). */
#define BOOT_GDT_ADDR 0x500
#define BOOT_PVH_INFO_ADDR 0x6000
#define BOOT_ZERO_PAGE_ADDR 0x7000
#define BOOT_PML4_ADDR 0x9000
#define BOOT_CMDLINE_ADDR 0x20000
#define BOOT_CMDLINE_MAX 0x10000
#define BOOT_MPTABLE_ADDR 0x9fc00
#define BOOT_EBDA_END 0xa0000
#define BOOT_KERNEL_ADDR 0x100000

#define BOOT_BIOS_AREA 0xe0000 /* ACPI tables; reserved in the e820 map */

/* Where the VM's ACPI power-management registers are (I/O ports), for the
 * FADT: the PM1a event block (4 bytes), the PM1a control block (2 bytes)
 * and the reset register.  The only sleep state offered is S5 (power off),
 * with SLP_TYP 5. */
struct boot_acpi_pm {
    uint16_t pm1a_evt, pm1a_cnt, reset;
    uint8_t reset_value;
    uint8_t sci_irq;
};

#define BOOT_SEL_CODE32 0x08
#define BOOT_SEL_CODE64 0x10
#define BOOT_SEL_DATA 0x18

/* BOOT_ELF32 is what boot_probe() says of an i386 ELF: it boots only
 * through its PVH note (as QEMU boots it). */
enum boot_kind { BOOT_BZIMAGE, BOOT_ELF64, BOOT_PVH, BOOT_ELF32 };

/* How the boot vCPU starts. */
struct boot_entry {
    enum boot_kind kind;
    int long_mode;     /* 1: 64-bit paging on (CR3 = BOOT_PML4_ADDR); 0: 32-bit flat, no paging */
    uint64_t rip;
    uint64_t rsi;      /* boot_params for Linux 64-bit entry */
    uint64_t rbx;      /* hvm_start_info for PVH */
};

/* A memory-mapped device to describe in ACPI (virtio-mmio). */
struct boot_mmio_dev {
    uint64_t addr, len;
    uint32_t irq;
};

struct boot_params_in {
    const uint8_t *kernel;
    size_t kernel_len;
    const uint8_t *initrd; /* may be NULL */
    size_t initrd_len;
    const char *cmdline;   /* may be NULL */
    int ncpus;
    const struct boot_acpi_pm *acpi; /* NULL: no ACPI tables */
    const struct boot_mmio_dev *mmio; /* virtio-mmio devices for the DSDT */
    int nmmio;
};

/* Loads everything into `mem` and fills `entry`.  Returns 0 or a negative
 * errno with a message (e.g. "kernel: not a bzImage or ELF image"). */
int boot_load(struct guest_mem *mem, const struct boot_params_in *in, struct boot_entry *entry);

/* Which protocol a kernel follows, from its first LEN bytes (of SIZE in
 * all; 4 KiB is enough): BOOT_BZIMAGE, BOOT_ELF64 or BOOT_ELF32 (PVH shows
 * only when loading).  0, or -ENOEXEC with a message saying what is wrong.  Reads
 * headers only, so corrald can check a kernel without loading it. */
int boot_probe(const uint8_t *head, size_t len, uint64_t size, enum boot_kind *kind);

/* Pieces boot_load() uses, exported for tests. */
const char *boot_kind_name(enum boot_kind k);
int boot_write_mptable(struct guest_mem *mem, int ncpus);
int boot_write_page_tables(struct guest_mem *mem);
int boot_write_gdt(struct guest_mem *mem);
/* RSDP, XSDT, FADT, DSDT and MADT at BOOT_BIOS_AREA; *rsdp gets the RSDP's address. */
int boot_write_acpi(struct guest_mem *mem, const struct boot_params_in *in, uint64_t *rsdp);
/* Highest number of vCPUs the MP table can describe. */
#define BOOT_MAX_CPUS 254

#endif
