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
