/* Shared between the files of src/boot only; other modules use boot.h. */
#ifndef CORRAL_BOOT_INTERNAL_H
#define CORRAL_BOOT_INTERNAL_H

#include <string.h>

#include "boot.h"
#include "util/util.h"

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_MAX 8

struct e820_entry {
    uint64_t addr, size;
    uint32_t type;
};

/* The RAM map every boot path hands to the guest. */
int boot_e820(const struct guest_mem *mem, struct e820_entry *e, int max);

/* Where kernel and initrd ended up, for the protocol-specific writers. */
struct boot_image {
    uint64_t kernel_end;    /* first byte after the loaded kernel */
    uint64_t initrd_addr, initrd_len;
    uint64_t initrd_max;    /* highest byte the initrd may occupy */
    uint64_t cmdline_max;   /* protocol's limit on the command line, with NUL */
    uint64_t rsdp;          /* ACPI RSDP address, 0 if none */
};

/* The bzImage setup header (Documentation/arch/x86/boot.rst). */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_INIT_SIZE 0x260

#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0

#define LOADED_HIGH 0x01
#define CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x01

#define HDR_MAX_END 0x290    /* the furthest a setup header we understand may end */

/* The setup header's end, from the jump at 0x200; and the real-mode setup's length. */
static inline size_t bz_hdr_end(const uint8_t *k) { return (size_t)HDR_JUMP + 2 + k[HDR_JUMP + 1]; }
static inline size_t bz_setup_len(const uint8_t *k)
{
    return ((size_t)(k[HDR_SETUP_SECTS] ? k[HDR_SETUP_SECTS] : 4) + 1) * 512;
}

int boot_load_bzimage(struct guest_mem *mem, const struct boot_params_in *in,
                      struct boot_entry *entry, struct boot_image *img);
int boot_load_elf(struct guest_mem *mem, const struct boot_params_in *in,
                  struct boot_entry *entry, struct boot_image *img);
/* Fills the Linux zero page; hdr == NULL writes a minimal setup header. */
int boot_write_zero_page(struct guest_mem *mem, const uint8_t *hdr, size_t hdr_end,
                         const struct boot_image *img);
/* Places the initrd as high as allowed; fills img->initrd_*. */
int boot_place_initrd(struct guest_mem *mem, const struct boot_params_in *in, struct boot_image *img);
/* Writes the command line at BOOT_CMDLINE_ADDR; returns its length or <0. */
int boot_put_cmdline(struct guest_mem *mem, const char *cmdline, uint64_t max);

static inline uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline void wr8(uint8_t *p, uint8_t v) { *p = v; }
static inline void wr16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

#endif
