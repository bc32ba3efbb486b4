/* The Linux x86 boot protocol (Documentation/arch/x86/boot.rst): a bzImage
 * is real-mode setup sectors carrying the setup header, followed by the
 * protected-mode kernel, whose 64-bit entry point is 0x200 bytes in. */
#include "boot_internal.h"

#include <errno.h>

#define ZERO_PAGE_SIZE 4096

/* Fills the zero page: setup header (copied from the image when there is
 * one), command line, initrd and e820 map.  Shared with the ELF path, which
 * passes hdr == NULL and gets a minimal header. */
int boot_write_zero_page(struct guest_mem *mem, const uint8_t *hdr, size_t hdr_end,
                         const struct boot_image *img)
{
    uint8_t *zp = gm_ptr(mem, BOOT_ZERO_PAGE_ADDR, ZERO_PAGE_SIZE);
    if (!zp)
        return fail(ENOMEM, "no room for boot_params");
    memset(zp, 0, ZERO_PAGE_SIZE);
    if (hdr) {
        memcpy(zp + HDR_SETUP_SECTS, hdr + HDR_SETUP_SECTS, hdr_end - HDR_SETUP_SECTS);
    } else {
        wr16(zp + HDR_BOOT_FLAG, 0xaa55);
        memcpy(zp + HDR_MAGIC, "HdrS", 4);
        wr16(zp + HDR_VERSION, 0x020c);
        wr32(zp + HDR_KERNEL_ALIGNMENT, 0x1000000);
        wr8(zp + HDR_LOADFLAGS, LOADED_HIGH);
    }
    wr8(zp + HDR_TYPE_OF_LOADER, 0xff);
    wr8(zp + HDR_LOADFLAGS, zp[HDR_LOADFLAGS] | CAN_USE_HEAP);
    wr16(zp + HDR_HEAP_END_PTR, 0xfe00);
    wr32(zp + HDR_CMD_LINE_PTR, BOOT_CMDLINE_ADDR);
    wr32(zp + BP_EXT_CMD_LINE_PTR, 0);
    wr32(zp + HDR_RAMDISK_IMAGE, (uint32_t)img->initrd_addr);
    wr32(zp + HDR_RAMDISK_SIZE, (uint32_t)img->initrd_len);
    wr32(zp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(img->initrd_addr >> 32));
    wr32(zp + BP_EXT_RAMDISK_SIZE, (uint32_t)(img->initrd_len >> 32));
    wr64(zp + BP_ACPI_RSDP_ADDR, img->rsdp);

    struct e820_entry e[E820_MAX];
    int n = boot_e820(mem, e, E820_MAX);
    if (n < 0)
        return n;
    wr8(zp + BP_E820_ENTRIES, (uint8_t)n);
    for (int i = 0; i < n; i++) {
        uint8_t *p = zp + BP_E820_TABLE + 20 * i;
        wr64(p, e[i].addr);
        wr64(p + 8, e[i].size);
        wr32(p + 16, e[i].type);
    }
    return 0;
}

int boot_load_bzimage(struct guest_mem *mem, const struct boot_params_in *in,
                      struct boot_entry *entry, struct boot_image *img)
{
    const uint8_t *k = in->kernel;
    size_t len = in->kernel_len;
    uint16_t version = rd16(k + HDR_VERSION);    /* the header was checked by boot_probe() */
    size_t hdr_end = bz_hdr_end(k), setup_len = bz_setup_len(k);

    const uint8_t *payload = k + setup_len;
    size_t payload_len = len - setup_len;
    uint64_t init_size = version >= 0x020a ? rd32(k + HDR_INIT_SIZE) : 0;
    uint64_t need = BOOT_KERNEL_ADDR + MAX((uint64_t)payload_len, init_size);
    if (need > gm_low_end(mem))
        return fail(ENOMEM, "kernel: needs %llu MiB of guest memory, the VM has %llu MiB",
                    (unsigned long long)(need / MiB + 1), (unsigned long long)(mem->size / MiB));
    if (!gm_write(mem, BOOT_KERNEL_ADDR, payload, payload_len))
        return fail(ENOMEM, "kernel does not fit in guest memory");

    img->kernel_end = BOOT_KERNEL_ADDR + payload_len;
    img->initrd_max = rd32(k + HDR_INITRD_ADDR_MAX);
    img->cmdline_max = (uint64_t)rd32(k + HDR_CMDLINE_SIZE) + 1;
    int r = boot_place_initrd(mem, in, img);
    if (r < 0)
        return r;
    if ((r = boot_put_cmdline(mem, in->cmdline, img->cmdline_max)) < 0)
        return r;
    if ((r = boot_write_zero_page(mem, k, hdr_end, img)) < 0)
        return r;

    entry->kind = BOOT_BZIMAGE;
    entry->long_mode = 1;
    entry->rip = BOOT_KERNEL_ADDR + 0x200;
    entry->rsi = BOOT_ZERO_PAGE_ADDR;
    return 0;
}
