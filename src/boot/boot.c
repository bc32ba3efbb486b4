#include "boot_internal.h"

#include <errno.h>

const char *boot_kind_name(enum boot_kind k)
{
    switch (k) {
    case BOOT_BZIMAGE: return "bzImage";
    case BOOT_ELF64: return "ELF64";
    case BOOT_PVH: return "PVH";
    case BOOT_ELF32: return "ELF32";
    }
    return "?";
}

int boot_e820(const struct guest_mem *mem, struct e820_entry *e, int max)
{
    int n = 0;
    uint64_t low = gm_low_end(mem);
    if (max < 5)
        return fail(ENOSPC, "e820 table too small");
    e[n++] = (struct e820_entry){ 0, BOOT_MPTABLE_ADDR, E820_RAM };
    e[n++] = (struct e820_entry){ BOOT_MPTABLE_ADDR, BOOT_EBDA_END - BOOT_MPTABLE_ADDR, E820_RESERVED };
    e[n++] = (struct e820_entry){ BOOT_BIOS_AREA, BOOT_KERNEL_ADDR - BOOT_BIOS_AREA, E820_RESERVED };
    e[n++] = (struct e820_entry){ BOOT_KERNEL_ADDR, low - BOOT_KERNEL_ADDR, E820_RAM };
    if (mem->nslots > 1)
        e[n++] = (struct e820_entry){ mem->slot[1].gpa, mem->slot[1].size, E820_RAM };
    return n;
}

int boot_put_cmdline(struct guest_mem *mem, const char *cmdline, uint64_t max)
{
    const char *s = cmdline ? cmdline : "";
    size_t len = strlen(s);
    max = MIN(max, (uint64_t)BOOT_CMDLINE_MAX);
    if (len + 1 > max)
        return fail(E2BIG, "command line is %zu bytes; this kernel accepts at most %llu",
                    len, (unsigned long long)(max - 1));
    if (!gm_write(mem, BOOT_CMDLINE_ADDR, s, len + 1))
        return fail(ENOMEM, "no room for the command line");
    return (int)len;
}

int boot_place_initrd(struct guest_mem *mem, const struct boot_params_in *in, struct boot_image *img)
{
    img->initrd_addr = img->initrd_len = 0;
    if (!in->initrd)
        return 0;
    uint64_t top = MIN(img->initrd_max + 1, gm_low_end(mem));
    uint64_t start = ALIGN_UP(img->kernel_end, 4 * KiB);
    if (in->initrd_len > top || ALIGN_DOWN(top - in->initrd_len, 4 * KiB) < start)
        return fail(ENOMEM, "initrd (%zu bytes) does not fit in guest memory below 0x%llx; "
                    "give the VM more memory", in->initrd_len, (unsigned long long)top);
    uint64_t addr = ALIGN_DOWN(top - in->initrd_len, 4 * KiB);
    if (!gm_write(mem, addr, in->initrd, in->initrd_len))
        return fail(ENOMEM, "initrd does not fit in guest memory");
    img->initrd_addr = addr;
    img->initrd_len = in->initrd_len;
    return 0;
}

int boot_load(struct guest_mem *mem, const struct boot_params_in *in, struct boot_entry *entry)
{
    struct boot_image img = { 0 };
    int r;
    memset(entry, 0, sizeof(*entry));
    if (in->ncpus < 1 || in->ncpus > BOOT_MAX_CPUS)
        return fail(EINVAL, "vCPU count %d is out of range (1..%d)", in->ncpus, BOOT_MAX_CPUS);
    if (in->acpi && (r = boot_write_acpi(mem, in, &img.rsdp)) < 0)
        return r;
    enum boot_kind kind;
    if ((r = boot_probe(in->kernel, in->kernel_len, in->kernel_len, &kind)) < 0)
        return r;
    r = kind == BOOT_BZIMAGE ? boot_load_bzimage(mem, in, entry, &img) : boot_load_elf(mem, in, entry, &img);
    if (r < 0)
        return r;
    if ((r = boot_write_gdt(mem)) < 0 || (r = boot_write_page_tables(mem)) < 0 ||
        (r = boot_write_mptable(mem, in->ncpus)) < 0)
        return r;
    return 0;
}
