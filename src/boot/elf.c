/* ELF kernels: Linux's vmlinux (ELF64, 64-bit entry with boot_params) and
 * PVH kernels (ELF64 or ELF32), which carry a XEN_ELFNOTE_PHYS32_ENTRY note
 * and are entered in 32-bit protected mode with ebx pointing at struct
 * hvm_start_info. */
#include "boot_internal.h"

#include <elf.h>
#include <errno.h>

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578
#define PVH_MODLIST_ADDR (BOOT_PVH_INFO_ADDR + 0x100)
#define PVH_MEMMAP_ADDR (BOOT_PVH_INFO_ADDR + 0x200)

/* Finds the PVH entry in one PT_NOTE segment; 0 if absent. */
static uint64_t pvh_entry_in(const uint8_t *p, size_t len)
{
    size_t off = 0;
    while (len - off >= 12) {
        uint32_t namesz = rd32(p + off), descsz = rd32(p + off + 4), type = rd32(p + off + 8);
        size_t name_off = off + 12;
        size_t desc_off = name_off + ALIGN_UP((size_t)namesz, 4);
        if (namesz > len || descsz > len || desc_off > len || ALIGN_UP((size_t)descsz, 4) > len - desc_off)
            return 0;
        if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 && memcmp(p + name_off, "Xen", 4) == 0) {
            if (descsz == 4)
                return rd32(p + desc_off);
            if (descsz == 8)
                return rd64(p + desc_off);
            return 0;
        }
        off = desc_off + ALIGN_UP((size_t)descsz, 4);
    }
    return 0;
}

static int write_pvh_start_info(struct guest_mem *mem, const struct boot_image *img)
{
    uint8_t *si = gm_ptr(mem, BOOT_PVH_INFO_ADDR, 0x1000);
    if (!si)
        return fail(ENOMEM, "no room for hvm_start_info");
    memset(si, 0, 0x1000);
    struct e820_entry e[E820_MAX];
    int n = boot_e820(mem, e, E820_MAX);
    if (n < 0)
        return n;
    wr32(si + 0, HVM_START_MAGIC);
    wr32(si + 4, 1);                        /* version 1: has the memory map */
    wr64(si + 24, BOOT_CMDLINE_ADDR);       /* cmdline_paddr */
    wr64(si + 32, img->rsdp);               /* rsdp_paddr */
    wr64(si + 40, PVH_MEMMAP_ADDR);         /* memmap_paddr */
    wr32(si + 48, (uint32_t)n);             /* memmap_entries */
    if (img->initrd_len) {
        wr32(si + 12, 1);                   /* nr_modules */
        wr64(si + 16, PVH_MODLIST_ADDR);
        uint8_t *mod = si + (PVH_MODLIST_ADDR - BOOT_PVH_INFO_ADDR);
        wr64(mod, img->initrd_addr);
        wr64(mod + 8, img->initrd_len);
    }
    for (int i = 0; i < n; i++) {
        uint8_t *p = si + (PVH_MEMMAP_ADDR - BOOT_PVH_INFO_ADDR) + 24 * i;
        wr64(p, e[i].addr);
        wr64(p + 8, e[i].size);
        wr32(p + 16, e[i].type);
    }
    return 0;
}

/* The header fields the loader uses, from either class. */
struct ehdr {
    uint64_t entry, phoff;
    unsigned phnum, phentsize;
};

static void ehdr_of(const uint8_t *k, bool is64, struct ehdr *h)
{
    if (is64) {
        Elf64_Ehdr e;
        memcpy(&e, k, sizeof(e));
        *h = (struct ehdr){ e.e_entry, e.e_phoff, e.e_phnum, e.e_phentsize };
    } else {
        Elf32_Ehdr e;
        memcpy(&e, k, sizeof(e));
        *h = (struct ehdr){ e.e_entry, e.e_phoff, e.e_phnum, e.e_phentsize };
    }
}

static void phdr_of(const uint8_t *p, bool is64, Elf64_Phdr *ph)
{
    if (is64) {
        memcpy(ph, p, sizeof(*ph));
        return;
    }
    Elf32_Phdr q;
    memcpy(&q, p, sizeof(q));
    *ph = (Elf64_Phdr){ .p_type = q.p_type, .p_flags = q.p_flags, .p_offset = q.p_offset, .p_vaddr = q.p_vaddr,
                        .p_paddr = q.p_paddr, .p_filesz = q.p_filesz, .p_memsz = q.p_memsz, .p_align = q.p_align };
}

int boot_load_elf(struct guest_mem *mem, const struct boot_params_in *in,
                  struct boot_entry *entry, struct boot_image *img)
{
    const uint8_t *k = in->kernel;
    size_t len = in->kernel_len;
    /* Class, machine and type were checked by boot_probe(). */
    bool is64 = k[EI_CLASS] == ELFCLASS64;
    size_t phsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    struct ehdr eh;
    ehdr_of(k, is64, &eh);
    if (eh.phentsize != phsize || eh.phnum == 0 || eh.phnum > 256 || eh.phoff > len ||
        (size_t)eh.phnum * phsize > len - eh.phoff)
        return fail(ENOEXEC, "kernel: ELF program headers are out of the file");

    uint64_t pvh = 0, end = 0;
    int loaded = 0;
    for (unsigned i = 0; i < eh.phnum; i++) {
        Elf64_Phdr ph;
        phdr_of(k + eh.phoff + i * phsize, is64, &ph);
        if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
            return fail(ENOEXEC, "kernel: ELF segment %u is out of the file", i);
        if (ph.p_type == PT_NOTE && !pvh) {
            pvh = pvh_entry_in(k + ph.p_offset, ph.p_filesz);
        } else if (ph.p_type == PT_LOAD && ph.p_memsz) {
            if (ph.p_filesz > ph.p_memsz)
                return fail(ENOEXEC, "kernel: ELF segment %u is larger in the file than in memory", i);
            if (ph.p_paddr < BOOT_KERNEL_ADDR)
                return fail(ENOEXEC, "kernel: ELF segment %u at 0x%llx overlaps the boot area below 1 MiB",
                            i, (unsigned long long)ph.p_paddr);
            uint8_t *dst = gm_ptr(mem, ph.p_paddr, ph.p_memsz);
            if (!dst)
                return fail(ENOMEM, "kernel: ELF segment %u (0x%llx, %llu bytes) is outside guest memory",
                            i, (unsigned long long)ph.p_paddr, (unsigned long long)ph.p_memsz);
            memcpy(dst, k + ph.p_offset, ph.p_filesz);
            memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
            end = MAX(end, ph.p_paddr + ph.p_memsz);
            loaded++;
        }
    }
    if (!loaded)
        return fail(ENOEXEC, "kernel: ELF image has nothing to load");

    img->kernel_end = end;
    img->initrd_max = 0xffffffff;
    img->cmdline_max = BOOT_CMDLINE_MAX;
    int r = boot_place_initrd(mem, in, img);
    if (r < 0 || (r = boot_put_cmdline(mem, in->cmdline, img->cmdline_max)) < 0)
        return r;

    if (pvh) {
        if (pvh >= 0x100000000ULL || !gm_ptr(mem, pvh, 1))
            return fail(ENOEXEC, "kernel: PVH entry 0x%llx is outside guest memory",
                        (unsigned long long)pvh);
        entry->kind = BOOT_PVH;
        entry->long_mode = 0;
        entry->rip = pvh;
        entry->rbx = BOOT_PVH_INFO_ADDR;
        return write_pvh_start_info(mem, img);
    }
    if (!is64)
        return fail(ENOEXEC, "kernel: an ELF32 kernel boots only through PVH, and this one has no PVH entry note");
    if (!gm_ptr(mem, eh.entry, 1))
        return fail(ENOEXEC, "kernel: ELF entry 0x%llx is outside guest memory", (unsigned long long)eh.entry);
    entry->kind = BOOT_ELF64;
    entry->long_mode = 1;
    entry->rip = eh.entry;
    entry->rsi = BOOT_ZERO_PAGE_ADDR;
    return boot_write_zero_page(mem, NULL, 0, img);
}
