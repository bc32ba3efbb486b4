/* Fuzzes boot_load() with arbitrary kernel images.
 *
 * Input: byte 0 picks the vCPU count, command line and initrd; byte 1 picks
 * how the rest becomes the kernel: as is, or XORed onto a valid bzImage,
 * ELF64 or PVH template so that mutations land in real header fields.  The
 * kernel is always an exact-size heap copy, so ASan sees any over-read. */
#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "util/util.h"

#define RAM_SIZE (32 * MiB)
#define TEMPLATE_LEN 0x2000

static uint8_t *ram, *big_initrd;
static uint8_t tmpl[3][TEMPLATE_LEN];
static char long_cmdline[3000];

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static void make_templates(void)
{
    uint8_t *k = tmpl[0];                   /* bzImage, protocol 2.15 */
    k[0x1f1] = 4;
    put16(k + 0x1fe, 0xaa55);
    k[0x200] = 0xeb, k[0x201] = 0x66;
    memcpy(k + 0x202, "HdrS", 4);
    put16(k + 0x206, 0x020f);
    k[0x211] = 0x01;
    put32(k + 0x22c, 0x37ffffff);
    put16(k + 0x236, 0x01);
    put32(k + 0x238, 2047);
    put32(k + 0x260, 2 * MiB);
    for (int t = 1; t <= 2; t++) {          /* ELF64 and PVH */
        k = tmpl[t];
        Elf64_Ehdr eh = {
            .e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB, EV_CURRENT },
            .e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
            .e_entry = 0x200000, .e_phoff = sizeof(eh), .e_ehsize = sizeof(eh),
            .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = (uint16_t)t,
        };
        Elf64_Phdr ph[2] = {
            { .p_type = PT_LOAD, .p_offset = 0x1000, .p_paddr = 0x200000,
              .p_filesz = 0x1000, .p_memsz = 0x3000 },
            { .p_type = PT_NOTE, .p_offset = 0x800, .p_filesz = 20 },
        };
        memcpy(k, &eh, sizeof(eh));
        memcpy(k + sizeof(eh), ph, sizeof(ph));
        put32(k + 0x800, 4), put32(k + 0x804, 4), put32(k + 0x808, 18);
        memcpy(k + 0x80c, "Xen", 4);
        put32(k + 0x810, 0x200010);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ram) {
        ram = calloc(1, RAM_SIZE);
        big_initrd = calloc(1, 31 * MiB);
        memset(long_cmdline, 'c', sizeof(long_cmdline) - 1);
        make_templates();
        if (!ram || !big_initrd)
            abort();
    }
    if (size < 2)
        return 0;
    static const int ncpus[] = { 1, 2, 4, 38, BOOT_MAX_CPUS, 0, 255, -1 };
    static const char *const cmdlines[] = { NULL, "", "console=ttyS0 root=/dev/vda", long_cmdline };
    static const uint8_t small_initrd[64] = { 1, 2, 3 };
    static const size_t initrd_len[] = { 0, sizeof(small_initrd), 1 * MiB, 31 * MiB };
    uint8_t sel = data[0], mode = data[1] & 3;
    data += 2, size -= 2;

    /* The template's header starts at 0x1f1 for a bzImage, at 0 for ELF. */
    size_t base = mode == 1 ? 0x1f1 : 0;
    size_t len = mode ? MAX((size_t)TEMPLATE_LEN, base + size) : size;
    uint8_t *kernel = malloc(len ? len : 1);
    if (!kernel)
        return 0;
    if (mode) {
        memset(kernel, 0, len);
        memcpy(kernel, tmpl[mode - 1], TEMPLATE_LEN);
        for (size_t i = 0; i < size; i++)
            kernel[base + i] ^= data[i];
    } else {
        memcpy(kernel, data, size);
    }

    struct boot_params_in in = {
        .kernel = kernel, .kernel_len = len,
        .cmdline = cmdlines[(sel >> 3) & 3],
        .ncpus = ncpus[sel & 7],
    };
    size_t il = initrd_len[(sel >> 5) & 3];
    if (il) {
        in.initrd = il == sizeof(small_initrd) ? small_initrd : big_initrd;
        in.initrd_len = il;
    }
    struct guest_mem mem;
    gm_wrap(&mem, ram, RAM_SIZE);
    struct boot_entry e;
    int r = boot_load(&mem, &in, &e);
    if (r == 0) {
        /* A successful load always leaves a usable start state. */
        if (!gm_ptr(&mem, e.rip, 1) || (e.kind == BOOT_PVH) == (e.long_mode != 0) ||
            memcmp(ram + BOOT_MPTABLE_ADDR, "_MP_", 4) != 0)
            abort();
    } else if (r > 0 || !err_msg()[0]) {
        abort();
    }
    free(kernel);
    return 0;
}
