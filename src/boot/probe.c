/* Telling a kernel's boot protocol from its first bytes: what boot_load()
 * dispatches on, and what corrald checks before it imports a kernel.  Only
 * headers are read here; offsets inside the image are checked when it is
 * loaded. */
#include "boot_internal.h"

#include <elf.h>
#include <errno.h>

int boot_probe(const uint8_t *k, size_t len, uint64_t size, enum boot_kind *kind)
{
    if (len > size)
        len = (size_t)size;
    if (len >= 4 && memcmp(k, ELFMAG, SELFMAG) == 0) {
        /* e_ident, e_type and e_machine sit at the same place in both classes. */
        bool is64 = len > EI_CLASS && k[EI_CLASS] == ELFCLASS64;
        Elf64_Ehdr eh;
        if (len < (is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr)))
            return fail(ENOEXEC, "kernel: ELF header is truncated");
        memcpy(&eh, k, is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr));
        if (eh.e_ident[EI_DATA] != ELFDATA2LSB ||
            !((is64 && eh.e_machine == EM_X86_64) || (eh.e_ident[EI_CLASS] == ELFCLASS32 && eh.e_machine == EM_386)))
            return fail(ENOEXEC, "kernel: not an x86-64 ELF64 or i386 ELF32 image");
        if (eh.e_type != ET_EXEC)
            return fail(ENOEXEC, "kernel: ELF image is not an executable");
        *kind = is64 ? BOOT_ELF64 : BOOT_ELF32;    /* PVH or not shows in its notes, read when loading */
        return 0;
    }
    if (len <= HDR_VERSION || memcmp(k + HDR_MAGIC, "HdrS", 4) != 0)
        return fail(ENOEXEC, "kernel: not a bzImage or ELF image");
    if (len < HDR_MAX_END || size < 0x1000)
        return fail(ENOEXEC, "kernel: bzImage is truncated (%llu bytes)", (unsigned long long)size);
    uint16_t version = rd16(k + HDR_VERSION);
    if (version < 0x0206)
        return fail(ENOEXEC, "kernel: boot protocol %u.%02u is too old (need 2.06 or later)",
                    version >> 8, version & 0xff);
    if (version >= 0x020c && !(rd16(k + HDR_XLOADFLAGS) & XLF_KERNEL_64))
        return fail(ENOEXEC, "kernel: bzImage has no 64-bit entry point");
    if (!(k[HDR_LOADFLAGS] & LOADED_HIGH))
        return fail(ENOEXEC, "kernel: zImage (not loaded high) is not supported");
    size_t hdr_end = bz_hdr_end(k);
    if (hdr_end > HDR_MAX_END || hdr_end < HDR_CMDLINE_SIZE + 4)
        return fail(ENOEXEC, "kernel: bzImage setup header has a bad length");
    if (bz_setup_len(k) >= size)
        return fail(ENOEXEC, "kernel: bzImage setup (%zu bytes) is longer than the file", bz_setup_len(k));
    *kind = BOOT_BZIMAGE;
    return 0;
}
