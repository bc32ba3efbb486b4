/* mkbzimage — wraps a test guest into a Linux bzImage (boot protocol 2.15).
 *
 *   mkbzimage SETUP.elf KERNEL.elf OUT.bzImage
 *
 * SETUP.elf is the real-mode stub (bzsetup.S) linked at 0; KERNEL.elf is a
 * guest linked at 1 MiB with its 64-bit entry at 0x100200 (guest.ld).  The
 * output is the setup sectors with a filled-in setup header, followed by the
 * kernel's loadable segments as one flat image: a 64-bit loader puts that
 * at 0x100000 and enters at 0x100200, as for a Linux bzImage.  Every offset
 * read from the inputs is checked; this is a host tool built by Meson. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOAD_ADDR 0x100000u
#define ENTRY64_OFFSET 0x200u
#define SECTOR 512u
#define MAX_IMAGE (64u << 20)

struct flat {
    uint8_t *data;
    uint64_t base, len, memsz; /* file bytes from base; memory needed from base */
    uint64_t entry;
};

static const char *prog = "mkbzimage";

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(1);
}

static uint64_t get(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put(uint8_t *p, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open %s", path);
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf)
            die("out of memory reading %s", path);
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        if (cap >= MAX_IMAGE)
            die("%s is too large", path);
        cap *= 2;
        buf = realloc(buf, cap);
    }
    if (ferror(f))
        die("cannot read %s", path);
    fclose(f);
    *len = n;
    return buf;
}

/* Lays out the PT_LOAD segments of an ELF64 x86-64 file as one flat image. */
static struct flat load_elf(const char *path)
{
    size_t n;
    uint8_t *f = read_file(path, &n);
    if (n < 64 || memcmp(f, "\177ELF", 4) != 0 || f[4] != 2 || f[5] != 1 || get(f + 18, 2) != 62)
        die("%s: not a little-endian ELF64 x86-64 file", path);
    uint64_t phoff = get(f + 32, 8), phentsize = get(f + 54, 2), phnum = get(f + 56, 2);
    if (phentsize < 56 || phnum == 0 || phoff > n || phnum * phentsize > n - phoff)
        die("%s: bad program header table", path);

    struct flat fl = { .base = UINT64_MAX, .entry = get(f + 24, 8) };
    uint64_t file_end = 0, mem_end = 0;
    for (uint64_t i = 0; i < phnum; i++) {
        const uint8_t *ph = f + phoff + i * phentsize;
        uint64_t off = get(ph + 8, 8), paddr = get(ph + 24, 8);
        uint64_t filesz = get(ph + 32, 8), memsz = get(ph + 40, 8);
        if (get(ph, 4) != 1 /* PT_LOAD */ || memsz == 0)
            continue;
        if (filesz > memsz || off > n || filesz > n - off || paddr > MAX_IMAGE * 4ull ||
            memsz > MAX_IMAGE)
            die("%s: bad PT_LOAD segment", path);
        if (paddr < fl.base)
            fl.base = paddr;
        if (filesz && paddr + filesz > file_end)
            file_end = paddr + filesz;
        if (paddr + memsz > mem_end)
            mem_end = paddr + memsz;
    }
    if (fl.base == UINT64_MAX || file_end <= fl.base)
        die("%s: nothing to load", path);
    fl.len = file_end - fl.base;
    fl.memsz = mem_end - fl.base;
    if (fl.len > MAX_IMAGE || fl.memsz > MAX_IMAGE)
        die("%s: image too large", path);
    fl.data = calloc(1, fl.len);
    if (!fl.data)
        die("out of memory for %s", path);
    for (uint64_t i = 0; i < phnum; i++) {
        const uint8_t *ph = f + phoff + i * phentsize;
        uint64_t off = get(ph + 8, 8), paddr = get(ph + 24, 8), filesz = get(ph + 32, 8);
        if (get(ph, 4) == 1 && filesz)
            memcpy(fl.data + (paddr - fl.base), f + off, filesz);
    }
    free(f);
    return fl;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s SETUP.elf KERNEL.elf OUT.bzImage\n", prog);
        return 2;
    }
    struct flat setup = load_elf(argv[1]);
    struct flat kernel = load_elf(argv[2]);

    if (setup.base != 0 || setup.len < 0x270 || setup.len > 32 * SECTOR)
        die("%s: setup stub must be linked at 0 and fit in 32 sectors", argv[1]);
    for (unsigned i = 0x1f1; i < 0x270; i++)
        if (i != 0x200 && i != 0x201 && setup.data[i] != 0)
            die("%s: bytes 0x1f1..0x26f are reserved for the setup header", argv[1]);
    if (setup.data[0x200] != 0xeb)
        die("%s: no short jump at 0x200", argv[1]);
    if (kernel.base != LOAD_ADDR)
        die("%s: the image must start at 0x100000", argv[2]);
    if (kernel.entry != LOAD_ADDR + ENTRY64_OFFSET)
        die("%s: the ELF entry must be the 64-bit entry at 0x100200", argv[2]);

    uint64_t setup_len = (setup.len + SECTOR - 1) / SECTOR * SECTOR;
    if (setup_len < 2 * SECTOR)
        setup_len = 2 * SECTOR; /* setup_sects 0 would mean 4 */
    uint8_t *hdr = calloc(1, setup_len);
    if (!hdr)
        die("out of memory%s", "");
    memcpy(hdr, setup.data, setup.len);

    uint64_t init_size = (kernel.memsz + 0xfff) & ~0xfffull;
    put(hdr + 0x1f1, 1, setup_len / SECTOR - 1);   /* setup_sects */
    put(hdr + 0x1f4, 4, (kernel.len + 15) / 16);   /* syssize, 16-byte units */
    put(hdr + 0x1fa, 2, 0xffff);                   /* vid_mode: normal */
    put(hdr + 0x1fe, 2, 0xaa55);                   /* boot_flag */
    memcpy(hdr + 0x202, "HdrS", 4);
    put(hdr + 0x206, 2, 0x020f);                   /* version 2.15 */
    put(hdr + 0x20c, 2, 0x1000);                   /* start_sys_seg (obsolete) */
    put(hdr + 0x211, 1, 0x01);                     /* loadflags: LOADED_HIGH */
    put(hdr + 0x212, 2, 0x8000);                   /* setup_move_size */
    put(hdr + 0x214, 4, LOAD_ADDR);                /* code32_start */
    put(hdr + 0x22c, 4, 0x7fffffff);               /* initrd_addr_max */
    put(hdr + 0x230, 4, LOAD_ADDR);                /* kernel_alignment */
    put(hdr + 0x234, 1, 0);                        /* relocatable_kernel: no */
    put(hdr + 0x235, 1, 20);                       /* min_alignment: 1 MiB */
    put(hdr + 0x236, 2, 0x0001);                   /* xloadflags: XLF_KERNEL_64 */
    put(hdr + 0x238, 4, 4095);                     /* cmdline_size */
    put(hdr + 0x258, 8, LOAD_ADDR);                /* pref_address */
    put(hdr + 0x260, 4, init_size);                /* init_size */

    FILE *out = fopen(argv[3], "wb");
    if (!out)
        die("cannot create %s", argv[3]);
    if (fwrite(hdr, 1, setup_len, out) != setup_len || fwrite(kernel.data, 1, kernel.len, out) != kernel.len ||
        fclose(out) != 0)
        die("cannot write %s", argv[3]);
    free(hdr);
    free(setup.data);
    free(kernel.data);
    return 0;
}
