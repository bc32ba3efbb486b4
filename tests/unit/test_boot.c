/* boot: loads synthetic bzImage, ELF64 and PVH kernels into a 64 MiB
 * buffer and checks what the guest would find there. */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#undef fail /* cmocka's fail() would hide util's */

#include "boot/boot.h"
#include "util/util.h"

#define RAM_SIZE (64 * MiB)

struct fixture {
    uint8_t *ram;
    struct guest_mem mem;
    struct boot_entry entry;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f || !(f->ram = calloc(1, RAM_SIZE)))
        return -1;
    gm_wrap(&f->mem, f->ram, RAM_SIZE);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    free(f->ram);
    free(f);
    return 0;
}

static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static uint8_t sum8(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    while (len--)
        s = (uint8_t)(s + *p++);
    return s;
}

/* ---- synthetic images --------------------------------------------------- */

#define BZ_SETUP_SECTS 4
#define BZ_SETUP_LEN ((BZ_SETUP_SECTS + 1) * 512)
#define BZ_PAYLOAD_LEN 8192
#define BZ_LEN (BZ_SETUP_LEN + BZ_PAYLOAD_LEN)

/* A bzImage as the x86 boot protocol 2.15 describes it; the protected-mode
 * payload is a byte pattern. */
static uint8_t *make_bzimage(void)
{
    uint8_t *k = calloc(1, BZ_LEN);
    assert_non_null(k);
    k[0x1f1] = BZ_SETUP_SECTS;
    put16(k + 0x1fe, 0xaa55);
    k[0x200] = 0xeb;                 /* jmp: header ends at 0x202 + 0x66 */
    k[0x201] = 0x66;
    memcpy(k + 0x202, "HdrS", 4);
    put16(k + 0x206, 0x020f);        /* version */
    k[0x211] = 0x01;                 /* loadflags: LOADED_HIGH */
    put32(k + 0x22c, 0x37ffffff);    /* initrd_addr_max */
    put16(k + 0x236, 0x01);          /* xloadflags: XLF_KERNEL_64 */
    put32(k + 0x238, 2047);          /* cmdline_size */
    put32(k + 0x260, 4 * MiB);       /* init_size */
    for (size_t i = 0; i < BZ_PAYLOAD_LEN; i++)
        k[BZ_SETUP_LEN + i] = (uint8_t)(i * 7 + 1);
    return k;
}

#define ELF_SEG_OFF 0x1000
#define ELF_SEG_PADDR 0x200000
#define ELF_SEG_FILESZ 0x300
#define ELF_SEG_MEMSZ 0x2000
#define ELF_ENTRY (ELF_SEG_PADDR + 0x40)
#define ELF_LEN (ELF_SEG_OFF + ELF_SEG_FILESZ)
#define PVH_ENTRY (ELF_SEG_PADDR + 0x80)

/* An ELF64 executable with one PT_LOAD; with `pvh`, a second header is a
 * PT_NOTE holding XEN_ELFNOTE_PHYS32_ENTRY. */
static uint8_t *make_elf(bool pvh)
{
    uint8_t *k = calloc(1, ELF_LEN);
    assert_non_null(k);
    Elf64_Ehdr eh = {
        .e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB, EV_CURRENT },
        .e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
        .e_entry = ELF_ENTRY, .e_phoff = sizeof(Elf64_Ehdr), .e_ehsize = sizeof(Elf64_Ehdr),
        .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = pvh ? 2 : 1,
    };
    Elf64_Phdr ph[2] = {
        { .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = ELF_SEG_OFF,
          .p_vaddr = 0xffffffff81000000ULL, .p_paddr = ELF_SEG_PADDR,
          .p_filesz = ELF_SEG_FILESZ, .p_memsz = ELF_SEG_MEMSZ, .p_align = 0x1000 },
        { .p_type = PT_NOTE, .p_offset = 0x800, .p_filesz = 48, .p_align = 4 },
    };
    memcpy(k, &eh, sizeof(eh));
    memcpy(k + sizeof(eh), ph, sizeof(ph));
    /* An unrelated note first, then the PVH entry note. */
    uint8_t *n = k + 0x800;
    put32(n, 4), put32(n + 4, 4), put32(n + 8, 1), memcpy(n + 12, "Foo", 4), put32(n + 16, 0x1234);
    n += 20;
    put32(n, 4), put32(n + 4, 4), put32(n + 8, 18), memcpy(n + 12, "Xen", 4), put32(n + 16, PVH_ENTRY);
    for (size_t i = 0; i < ELF_SEG_FILESZ; i++)
        k[ELF_SEG_OFF + i] = (uint8_t)(0xa5 ^ i);
    return k;
}

static struct boot_params_in params(const uint8_t *k, size_t len, const char *cmdline)
{
    return (struct boot_params_in){ .kernel = k, .kernel_len = len, .cmdline = cmdline, .ncpus = 1 };
}

/* ---- what every boot path writes ------------------------------------------ */

static void check_e820(const uint8_t *base, size_t stride, unsigned n)
{
    static const struct { uint64_t addr, size; uint32_t type; } want[] = {
        { 0, 0x9fc00, 1 }, { 0x9fc00, 0x400, 2 }, { 0xe0000, 0x20000, 2 },
        { 0x100000, RAM_SIZE - 0x100000, 1 },
    };
    assert_int_equal(n, ARRAY_SIZE(want));
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *e = base + stride * i;
        assert_true(get64(e) == want[i].addr);
        assert_true(get64(e + 8) == want[i].size);
        assert_int_equal(get32(e + 16), want[i].type);
    }
}

static void check_common(const struct fixture *f, int ncpus)
{
    const uint8_t *ram = f->ram;
    /* GDT: null, 32-bit code, 64-bit code, data. */
    assert_true(get64(ram + BOOT_GDT_ADDR) == 0);
    assert_true(get64(ram + BOOT_GDT_ADDR + BOOT_SEL_CODE32) == 0x00cf9b000000ffffULL);
    assert_true(get64(ram + BOOT_GDT_ADDR + BOOT_SEL_CODE64) == 0x00af9b000000ffffULL);
    assert_true(get64(ram + BOOT_GDT_ADDR + BOOT_SEL_DATA) == 0x00cf93000000ffffULL);

    /* Page tables: 4 GiB identity-mapped with 2 MiB pages. */
    const uint8_t *pml4 = ram + BOOT_PML4_ADDR;
    assert_true(get64(pml4) == ((BOOT_PML4_ADDR + 0x1000) | 3));
    assert_true(get64(pml4 + 8) == 0);
    for (int i = 0; i < 4; i++)
        assert_true(get64(pml4 + 0x1000 + 8 * i) == ((BOOT_PML4_ADDR + 0x2000 + 0x1000 * (uint64_t)i) | 3));
    for (uint64_t i = 0; i < 2048; i += 511)
        assert_true(get64(pml4 + 0x2000 + 8 * i) == ((i << 21) | 0x83));

    /* MP floating pointer, then the configuration table it points at. */
    const uint8_t *fp = ram + BOOT_MPTABLE_ADDR;
    assert_memory_equal(fp, "_MP_", 4);
    assert_int_equal(fp[8], 1);
    assert_int_equal(sum8(fp, 16), 0);
    uint32_t cfg = get32(fp + 4);
    assert_true(cfg >= BOOT_MPTABLE_ADDR && cfg < 0x100000);
    const uint8_t *hdr = ram + cfg;
    assert_memory_equal(hdr, "PCMP", 4);
    uint16_t len = get16(hdr + 4), entries = get16(hdr + 34);
    assert_true(cfg + len <= 0x100000);
    assert_int_equal(sum8(hdr, len), 0);
    int cpus = 0, bsps = 0;
    const uint8_t *p = hdr + 44;
    for (unsigned i = 0; i < entries; i++) {
        assert_true(p < hdr + len);
        if (p[0] == 0) {
            assert_int_equal(p[1], cpus);       /* APIC id = vCPU index */
            assert_true(p[3] & 1);              /* enabled */
            bsps += (p[3] & 2) != 0;
            if (p[3] & 2)
                assert_int_equal(cpus, 0);
            cpus++;
        }
        p += p[0] == 0 ? 20 : 8;
    }
    assert_true(p == hdr + len);
    assert_int_equal(cpus, ncpus);
    assert_int_equal(bsps, 1);
}

/* ---- bzImage -------------------------------------------------------------- */

static void test_bzimage(void **state)
{
    struct fixture *f = *state;
    uint8_t *k = make_bzimage();
    static uint8_t initrd[100000];
    for (size_t i = 0; i < sizeof(initrd); i++)
        initrd[i] = (uint8_t)(i >> 3);
    struct boot_params_in in = params(k, BZ_LEN, "console=ttyS0 quiet");
    in.initrd = initrd;
    in.initrd_len = sizeof(initrd);
    in.ncpus = 4;
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), 0);

    assert_int_equal(f->entry.kind, BOOT_BZIMAGE);
    assert_string_equal(boot_kind_name(f->entry.kind), "bzImage");
    assert_int_equal(f->entry.long_mode, 1);
    assert_true(f->entry.rip == BOOT_KERNEL_ADDR + 0x200);
    assert_true(f->entry.rsi == BOOT_ZERO_PAGE_ADDR);
    assert_memory_equal(f->ram + BOOT_KERNEL_ADDR, k + BZ_SETUP_LEN, BZ_PAYLOAD_LEN);

    const uint8_t *zp = f->ram + BOOT_ZERO_PAGE_ADDR;
    assert_int_equal(zp[0x1f1], BZ_SETUP_SECTS);          /* header copied */
    assert_memory_equal(zp + 0x202, "HdrS", 4);
    assert_int_equal(get16(zp + 0x206), 0x020f);
    assert_int_equal(zp[0x210], 0xff);                    /* type_of_loader */
    assert_true(zp[0x211] & 0x01);                        /* still LOADED_HIGH */
    assert_true(zp[0x211] & 0x80);                        /* CAN_USE_HEAP */
    assert_int_equal(get32(zp + 0x228), BOOT_CMDLINE_ADDR);
    assert_string_equal((const char *)f->ram + BOOT_CMDLINE_ADDR, "console=ttyS0 quiet");

    uint32_t rd = get32(zp + 0x218);
    assert_int_equal(get32(zp + 0x21c), sizeof(initrd));
    assert_int_equal(rd % 4096, 0);
    assert_true(rd >= BOOT_KERNEL_ADDR + BZ_PAYLOAD_LEN && rd + sizeof(initrd) <= RAM_SIZE);
    assert_int_equal(rd, ALIGN_DOWN(RAM_SIZE - sizeof(initrd), 4096)); /* as high as possible */
    assert_memory_equal(f->ram + rd, initrd, sizeof(initrd));

    check_e820(zp + 0x2d0, 20, zp[0x1e8]);
    check_common(f, 4);
    free(k);
}

static void test_bzimage_initrd_addr_max(void **state)
{
    struct fixture *f = *state;
    uint8_t *k = make_bzimage();
    put32(k + 0x22c, 0x00ffffff); /* initrd must end below 16 MiB */
    static const uint8_t initrd[5000] = { 1, 2, 3 };
    struct boot_params_in in = params(k, BZ_LEN, NULL);
    in.initrd = initrd;
    in.initrd_len = sizeof(initrd);
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), 0);
    const uint8_t *zp = f->ram + BOOT_ZERO_PAGE_ADDR;
    assert_int_equal(get32(zp + 0x218), 16 * MiB - 8192);
    assert_string_equal((const char *)f->ram + BOOT_CMDLINE_ADDR, ""); /* no cmdline: empty */
    check_common(f, 1);
    free(k);
}

/* Each corruption of a good bzImage fails with its own message. */
static void test_bzimage_errors(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *what;
        size_t off;      /* where to patch (0: none) */
        uint32_t val;
        unsigned width;
        size_t len;      /* image length to pass (0: full) */
        int err;
        const char *msg;
    } cases[] = {
        { "truncated", 0, 0, 0, 0x800, -ENOEXEC, "truncated" },
        { "old protocol", 0x206, 0x0205, 2, 0, -ENOEXEC, "protocol 2.05 is too old" },
        { "no 64-bit entry", 0x236, 0, 2, 0, -ENOEXEC, "no 64-bit entry point" },
        { "not loaded high", 0x211, 0, 1, 0, -ENOEXEC, "zImage" },
        { "header too long", 0x201, 0x90, 1, 0, -ENOEXEC, "setup header has a bad length" },
        { "header too short", 0x201, 0x10, 1, 0, -ENOEXEC, "setup header has a bad length" },
        { "setup past end", 0x1f1, 200, 1, 0, -ENOEXEC, "longer than the file" },
        { "init_size too big", 0x260, 64 * MiB, 4, 0, -ENOMEM, "the VM has 64 MiB" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        uint8_t *k = make_bzimage();
        if (cases[i].width == 1)
            k[cases[i].off] = (uint8_t)cases[i].val;
        else if (cases[i].width == 2)
            put16(k + cases[i].off, (uint16_t)cases[i].val);
        else if (cases[i].width == 4)
            put32(k + cases[i].off, cases[i].val);
        struct boot_params_in in = params(k, cases[i].len ? cases[i].len : BZ_LEN, NULL);
        int r = boot_load(&f->mem, &in, &f->entry);
        if (r >= 0 || !strstr(err_msg(), cases[i].msg))
            print_error("case '%s': r=%d msg='%s'\n", cases[i].what, r, err_msg());
        assert_int_equal(r, cases[i].err);
        assert_non_null(strstr(err_msg(), cases[i].msg));
        assert_non_null(strstr(err_msg(), "kernel"));
        free(k);
    }
}

static void test_bzimage_cmdline_and_initrd_limits(void **state)
{
    struct fixture *f = *state;
    uint8_t *k = make_bzimage();
    put32(k + 0x238, 16); /* cmdline_size: at most 16 characters */
    struct boot_params_in in = params(k, BZ_LEN, "0123456789abcdef");
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), 0);
    in.cmdline = "0123456789abcdefg";
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), -E2BIG);
    assert_string_equal(err_msg(), "command line is 17 bytes; this kernel accepts at most 16");

    /* An initrd that cannot fit above the kernel and below the top of RAM. */
    uint8_t *initrd = calloc(1, RAM_SIZE);
    assert_non_null(initrd);
    in.cmdline = NULL;
    in.initrd = initrd;
    in.initrd_len = RAM_SIZE - MiB;
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), -ENOMEM);
    assert_non_null(strstr(err_msg(), "initrd"));
    assert_non_null(strstr(err_msg(), "give the VM more memory"));
    in.initrd_len = RAM_SIZE + 1;
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), -ENOMEM);
    assert_non_null(strstr(err_msg(), "initrd"));
    /* Below initrd_addr_max there is room for 1 MiB only. */
    put32(k + 0x22c, 0x1fffff);
    in.initrd_len = MiB;
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), -ENOMEM);
    in.initrd_len = MiB - 3 * 4096;
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), 0);
    assert_int_equal(get32(f->ram + BOOT_ZERO_PAGE_ADDR + 0x218), 0x200000 - MiB + 3 * 4096);
    free(initrd);
    free(k);
}

/* ---- ELF64 and PVH --------------------------------------------------------- */

static void test_elf64(void **state)
{
    struct fixture *f = *state;
    uint8_t *k = make_elf(false);
    memset(f->ram + ELF_SEG_PADDR, 0xcc, ELF_SEG_MEMSZ); /* the bss must be cleared */
    struct boot_params_in in = params(k, ELF_LEN, "root=/dev/vda");
    in.ncpus = 2;
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), 0);
    assert_int_equal(f->entry.kind, BOOT_ELF64);
    assert_int_equal(f->entry.long_mode, 1);
    assert_true(f->entry.rip == ELF_ENTRY);
    assert_true(f->entry.rsi == BOOT_ZERO_PAGE_ADDR);
    assert_memory_equal(f->ram + ELF_SEG_PADDR, k + ELF_SEG_OFF, ELF_SEG_FILESZ);
    for (size_t i = ELF_SEG_FILESZ; i < ELF_SEG_MEMSZ; i++)
        assert_int_equal(f->ram[ELF_SEG_PADDR + i], 0);

    /* No setup header in the image: a minimal one is made up. */
    const uint8_t *zp = f->ram + BOOT_ZERO_PAGE_ADDR;
    assert_int_equal(get16(zp + 0x1fe), 0xaa55);
    assert_memory_equal(zp + 0x202, "HdrS", 4);
    assert_int_equal(zp[0x210], 0xff);
    assert_int_equal(get32(zp + 0x228), BOOT_CMDLINE_ADDR);
    assert_string_equal((const char *)f->ram + BOOT_CMDLINE_ADDR, "root=/dev/vda");
    assert_int_equal(get32(zp + 0x218), 0);
    assert_int_equal(get32(zp + 0x21c), 0);
    check_e820(zp + 0x2d0, 20, zp[0x1e8]);
    check_common(f, 2);
    free(k);
}

static uint8_t sum_bytes(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    for (size_t i = 0; i < len; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

/* Follows RSDP -> XSDT -> table with signature `sig`; checks each checksum. */
static const uint8_t *acpi_table(const uint8_t *ram, const char *sig)
{
    const uint8_t *rsdp = ram + 0xe0000;
    assert_memory_equal(rsdp, "RSD PTR ", 8);
    assert_int_equal(sum_bytes(rsdp, 20), 0);
    assert_int_equal(sum_bytes(rsdp, 36), 0);
    const uint8_t *xsdt = ram + get64(rsdp + 24);
    assert_memory_equal(xsdt, "XSDT", 4);
    assert_int_equal(sum_bytes(xsdt, get32(xsdt + 4)), 0);
    for (uint32_t off = 36; off < get32(xsdt + 4); off += 8) {
        const uint8_t *t = ram + get64(xsdt + off);
        if (memcmp(t, sig, 4) == 0) {
            assert_int_equal(sum_bytes(t, get32(t + 4)), 0);
            return t;
        }
    }
    return NULL;
}

static void test_acpi(void **state)
{
    struct fixture *f = *state;
    uint8_t *k = make_elf(false);
    static const struct boot_acpi_pm pm = { .pm1a_evt = 0x600, .pm1a_cnt = 0x604, .reset = 0x608,
                                            .reset_value = 1, .sci_irq = 9 };
    static const struct boot_mmio_dev mmio[] = { { 0xd0000000, 0x1000, 5 }, { 0xd0001000, 0x1000, 6 } };
    struct boot_params_in in = params(k, ELF_LEN, "");
    in.ncpus = 3;
    in.acpi = &pm;
    in.mmio = mmio;
    in.nmmio = 2;
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), 0);
    assert_true(get64(f->ram + BOOT_ZERO_PAGE_ADDR + 0x70) == 0xe0000); /* acpi_rsdp_addr */

    const uint8_t *madt = acpi_table(f->ram, "APIC");
    assert_non_null(madt);
    int lapics = 0, ioapics = 0;
    for (uint32_t off = 44; off < get32(madt + 4); off += madt[off + 1]) {
        assert_true(madt[off + 1] > 0);
        if (madt[off] == 0) {
            assert_int_equal(madt[off + 3], lapics); /* APIC id = vCPU index */
            lapics++;
        }
        ioapics += madt[off] == 1;
    }
    assert_int_equal(lapics, 3);
    assert_int_equal(ioapics, 1);

    const uint8_t *fadt = acpi_table(f->ram, "FACP");
    assert_non_null(fadt);
    assert_int_equal(get32(fadt + 64), 0x604);          /* PM1a_CNT_BLK */
    assert_int_equal(get16(fadt + 46), 9);              /* SCI_INT */
    assert_int_equal(fadt[128], 1);                     /* RESET_VALUE */
    const uint8_t *dsdt = f->ram + get32(fadt + 40);
    uint32_t dlen = get32(dsdt + 4);
    assert_memory_equal(dsdt, "DSDT", 4);
    assert_int_equal(sum_bytes(dsdt, dlen), 0);
    assert_non_null(memmem(dsdt, dlen, "_S5_", 4));
    /* One LNRO0005 device per virtio-mmio device, with its address and IRQ. */
    const uint8_t *p = dsdt;
    for (int i = 0; i < 2; i++) {
        p = memmem(p, dlen - (size_t)(p - dsdt), "LNRO0005", 8);
        assert_non_null(p);
        const uint8_t *mem32 = memmem(p, dlen - (size_t)(p - dsdt), "\x86\x09\x00\x01", 4);
        assert_non_null(mem32);
        assert_int_equal(get32(mem32 + 4), mmio[i].addr);
        assert_int_equal(get32(mem32 + 17), mmio[i].irq);
        p += 8;
    }
    assert_null(memmem(p, dlen - (size_t)(p - dsdt), "LNRO0005", 8));
    free(k);
}

static void test_pvh(void **state)
{
    struct fixture *f = *state;
    uint8_t *k = make_elf(true);
    static const uint8_t initrd[12345] = { 9, 8, 7 };
    struct boot_params_in in = params(k, ELF_LEN, "console=hvc0");
    in.initrd = initrd;
    in.initrd_len = sizeof(initrd);
    in.ncpus = 3;
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), 0);
    assert_int_equal(f->entry.kind, BOOT_PVH);
    assert_string_equal(boot_kind_name(f->entry.kind), "PVH");
    assert_int_equal(f->entry.long_mode, 0);
    assert_true(f->entry.rip == PVH_ENTRY);
    assert_true(f->entry.rbx == BOOT_PVH_INFO_ADDR);

    const uint8_t *si = f->ram + BOOT_PVH_INFO_ADDR;
    assert_int_equal(get32(si), 0x336ec578);
    assert_int_equal(get32(si + 4), 1);
    assert_true(get64(si + 24) == BOOT_CMDLINE_ADDR);
    assert_string_equal((const char *)f->ram + BOOT_CMDLINE_ADDR, "console=hvc0");
    assert_int_equal(get32(si + 12), 1);                    /* nr_modules */
    const uint8_t *mod = f->ram + get64(si + 16);
    uint64_t rd = get64(mod);
    assert_true(get64(mod + 8) == sizeof(initrd));
    assert_true(rd >= ELF_SEG_PADDR + ELF_SEG_MEMSZ && rd + sizeof(initrd) <= RAM_SIZE);
    assert_memory_equal(f->ram + rd, initrd, sizeof(initrd));
    uint64_t memmap = get64(si + 40);
    assert_true(memmap > BOOT_PVH_INFO_ADDR && memmap < BOOT_PVH_INFO_ADDR + 0x1000);
    check_e820(f->ram + memmap, 24, get32(si + 48));
    check_common(f, 3);

    /* Without an initrd there are no modules. */
    in.initrd = NULL;
    in.initrd_len = 0;
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), 0);
    assert_int_equal(get32(si + 12), 0);
    assert_true(get64(si + 16) == 0);
    free(k);
}

/* The same kernel as an i386 ELF32: one PT_LOAD and, with `pvh`, the PVH
 * entry note (an ELF32 boots only through it, as under QEMU). */
static uint8_t *make_elf32(bool pvh)
{
    uint8_t *k = calloc(1, ELF_LEN);
    assert_non_null(k);
    Elf32_Ehdr eh = {
        .e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS32, ELFDATA2LSB, EV_CURRENT },
        .e_type = ET_EXEC, .e_machine = EM_386, .e_version = EV_CURRENT,
        .e_entry = ELF_ENTRY, .e_phoff = sizeof(Elf32_Ehdr), .e_ehsize = sizeof(Elf32_Ehdr),
        .e_phentsize = sizeof(Elf32_Phdr), .e_phnum = pvh ? 2 : 1,
    };
    Elf32_Phdr ph[2] = {
        { .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = ELF_SEG_OFF, .p_vaddr = ELF_SEG_PADDR,
          .p_paddr = ELF_SEG_PADDR, .p_filesz = ELF_SEG_FILESZ, .p_memsz = ELF_SEG_MEMSZ, .p_align = 0x1000 },
        { .p_type = PT_NOTE, .p_offset = 0x800, .p_filesz = 20, .p_align = 4 },
    };
    memcpy(k, &eh, sizeof(eh));
    memcpy(k + sizeof(eh), ph, sizeof(ph));
    uint8_t *n = k + 0x800;
    put32(n, 4), put32(n + 4, 4), put32(n + 8, 18), memcpy(n + 12, "Xen", 4), put32(n + 16, PVH_ENTRY);
    for (size_t i = 0; i < ELF_SEG_FILESZ; i++)
        k[ELF_SEG_OFF + i] = (uint8_t)(0x5a ^ i);
    return k;
}

static void test_elf32_pvh(void **state)
{
    struct fixture *f = *state;
    uint8_t *k = make_elf32(true);
    enum boot_kind kind;
    assert_int_equal(boot_probe(k, ELF_LEN, ELF_LEN, &kind), 0);
    assert_int_equal(kind, BOOT_ELF32);
    assert_string_equal(boot_kind_name(kind), "ELF32");
    struct boot_params_in in = params(k, ELF_LEN, "console=ttyS0");
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), 0);
    assert_int_equal(f->entry.kind, BOOT_PVH);
    assert_int_equal(f->entry.long_mode, 0);
    assert_true(f->entry.rip == PVH_ENTRY);
    assert_true(f->entry.rbx == BOOT_PVH_INFO_ADDR);
    assert_int_equal(get32(f->ram + BOOT_PVH_INFO_ADDR), 0x336ec578);
    for (size_t i = 0; i < ELF_SEG_FILESZ; i++)
        assert_int_equal(f->ram[ELF_SEG_PADDR + i], (uint8_t)(0x5a ^ i));
    assert_int_equal(f->ram[ELF_SEG_PADDR + ELF_SEG_FILESZ], 0);    /* the rest of p_memsz is zeroed */
    free(k);

    /* Without the note there is no way in. */
    k = make_elf32(false);
    in = params(k, ELF_LEN, NULL);
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), -ENOEXEC);
    assert_non_null(strstr(err_msg(), "ELF32 kernel boots only through PVH"));
    free(k);
    /* Its program headers are bounded like an ELF64's. */
    k = make_elf32(true);
    ((Elf32_Ehdr *)k)->e_phnum = 0xffff;
    in = params(k, ELF_LEN, NULL);
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), -ENOEXEC);
    assert_non_null(strstr(err_msg(), "program headers are out of the file"));
    free(k);
    k = make_elf32(true);
    ((Elf32_Ehdr *)k)->e_machine = EM_X86_64;    /* ELF32 for x86-64 (x32): not a kernel */
    in = params(k, ELF_LEN, NULL);
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), -ENOEXEC);
    free(k);
    k = make_elf32(true);
    in = params(k, sizeof(Elf32_Ehdr) - 1, NULL);
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), -ENOEXEC);
    assert_non_null(strstr(err_msg(), "truncated"));
    free(k);
}

static void patch_ph(uint8_t *k, size_t field, uint64_t v)
{
    memcpy(k + sizeof(Elf64_Ehdr) + field, &v, sizeof(v));
}

static void test_elf_errors(void **state)
{
    struct fixture *f = *state;
    uint8_t *k;
    struct boot_params_in in;

#define EXPECT(r_, msg_) do {                                        \
        in = params(k, ELF_LEN, NULL);                               \
        assert_int_equal(boot_load(&f->mem, &in, &f->entry), r_);    \
        assert_non_null(strstr(err_msg(), msg_));                    \
        free(k);                                                     \
    } while (0)

    k = make_elf(false);
    patch_ph(k, offsetof(Elf64_Phdr, p_paddr), RAM_SIZE - 0x1000); /* runs past RAM */
    EXPECT(-ENOMEM, "outside guest memory");
    k = make_elf(false);
    patch_ph(k, offsetof(Elf64_Phdr, p_paddr), 0xfffffffffffff000ULL);
    EXPECT(-ENOMEM, "outside guest memory");
    k = make_elf(false);
    patch_ph(k, offsetof(Elf64_Phdr, p_filesz), ELF_SEG_FILESZ + 1);
    EXPECT(-ENOEXEC, "segment 0 is out of the file");
    k = make_elf(false);
    patch_ph(k, offsetof(Elf64_Phdr, p_offset), 0xffffffffffffff00ULL);
    EXPECT(-ENOEXEC, "out of the file");
    k = make_elf(false);
    patch_ph(k, offsetof(Elf64_Phdr, p_paddr), 0x8000);
    EXPECT(-ENOEXEC, "below 1 MiB");
    k = make_elf(false);
    patch_ph(k, offsetof(Elf64_Phdr, p_memsz), ELF_SEG_FILESZ - 1);
    EXPECT(-ENOEXEC, "larger in the file than in memory");
    k = make_elf(false);
    patch_ph(k, offsetof(Elf64_Phdr, p_type), PT_NULL);
    EXPECT(-ENOEXEC, "nothing to load");
    k = make_elf(false);
    ((Elf64_Ehdr *)k)->e_phnum = 0xffff;
    EXPECT(-ENOEXEC, "program headers are out of the file");
    k = make_elf(false);
    ((Elf64_Ehdr *)k)->e_phoff = 0xfffffffffffffff0ULL;
    EXPECT(-ENOEXEC, "program headers are out of the file");
    k = make_elf(false);
    ((Elf64_Ehdr *)k)->e_phentsize = 32;
    EXPECT(-ENOEXEC, "program headers");
    k = make_elf(false);
    ((Elf64_Ehdr *)k)->e_machine = EM_386;
    EXPECT(-ENOEXEC, "not an x86-64 ELF64");
    k = make_elf(false);
    ((Elf64_Ehdr *)k)->e_ident[EI_CLASS] = ELFCLASS32;
    EXPECT(-ENOEXEC, "not an x86-64 ELF64");
    k = make_elf(false);
    ((Elf64_Ehdr *)k)->e_type = ET_DYN;
    EXPECT(-ENOEXEC, "not an executable");
    k = make_elf(false);
    ((Elf64_Ehdr *)k)->e_entry = RAM_SIZE;
    EXPECT(-ENOEXEC, "ELF entry 0x4000000 is outside guest memory");
    k = make_elf(true);
    put32(k + 0x800 + 20 + 16, RAM_SIZE + 0x1000); /* the PVH entry */
    EXPECT(-ENOEXEC, "PVH entry");
    /* A note whose size runs off its segment is ignored: plain ELF64. */
    k = make_elf(true);
    put32(k + 0x800 + 20 + 4, 0x1000);
    in = params(k, ELF_LEN, NULL);
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), 0);
    assert_int_equal(f->entry.kind, BOOT_ELF64);
    free(k);
#undef EXPECT

    k = make_elf(false);
    in = params(k, sizeof(Elf64_Ehdr) - 1, NULL);
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), -ENOEXEC);
    assert_non_null(strstr(err_msg(), "ELF header is truncated"));
    free(k);
}

/* ---- generic errors --------------------------------------------------------- */

static void test_not_a_kernel(void **state)
{
    struct fixture *f = *state;
    static uint8_t junk[0x2000];
    memset(junk, 0x90, sizeof(junk));
    struct boot_params_in in = params(junk, sizeof(junk), NULL);
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), -ENOEXEC);
    assert_string_equal(err_msg(), "kernel: not a bzImage or ELF image");
    in.kernel_len = 0;
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), -ENOEXEC);
    memcpy(junk + 0x202, "HdrS", 4); /* magic, but cut just after it */
    in.kernel_len = 0x206;
    assert_int_equal(boot_load(&f->mem, &in, &f->entry), -ENOEXEC);
    assert_string_equal(err_msg(), "kernel: not a bzImage or ELF image");
}

/* boot_probe() on a file's first 4 KiB, as corrald checks an imported kernel. */
static void test_probe_head(void **state)
{
    (void)state;
    enum boot_kind kind = BOOT_PVH;
    uint8_t *k = make_bzimage();
    assert_int_equal(boot_probe(k, 0x1000, 64 * MiB, &kind), 0);
    assert_int_equal(kind, BOOT_BZIMAGE);
    k[0x1f1] = 200;    /* setup of 201 sectors: past a file of 64 KiB, not of 64 MiB */
    assert_int_equal(boot_probe(k, 0x1000, 64 * MiB, &kind), 0);
    assert_int_equal(boot_probe(k, 0x1000, 64 * KiB, &kind), -ENOEXEC);
    assert_non_null(strstr(err_msg(), "longer than the file"));
    assert_int_equal(boot_probe(k, 0x1000, 0x800, &kind), -ENOEXEC);    /* size caps the head */
    assert_non_null(strstr(err_msg(), "truncated"));
    free(k);
    k = make_elf(true);
    assert_int_equal(boot_probe(k, 0x1000, 1 * MiB, &kind), 0);
    assert_int_equal(kind, BOOT_ELF64);
    assert_int_equal(boot_probe(k, 0x1000, 16, &kind), -ENOEXEC);
    assert_non_null(strstr(err_msg(), "ELF header is truncated"));
    free(k);
}

static void test_ncpus(void **state)
{
    struct fixture *f = *state;
    uint8_t *k = make_elf(false);
    struct boot_params_in in = params(k, ELF_LEN, NULL);
    static const int bad[] = { 0, -1, BOOT_MAX_CPUS + 1, 255 };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        in.ncpus = bad[i];
        assert_int_equal(boot_load(&f->mem, &in, &f->entry), -EINVAL);
        assert_non_null(strstr(err_msg(), "out of range"));
    }
    /* Every count the VMM accepts gets a valid MP table. */
    static const int good[] = { 1, 2, 37, 38, 64, 128, BOOT_MAX_CPUS };
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        in.ncpus = good[i];
        int r = boot_load(&f->mem, &in, &f->entry);
        if (r < 0)
            print_error("ncpus %d: %s\n", good[i], err_msg());
        assert_int_equal(r, 0);
        check_common(f, good[i]);
    }
    free(k);
}

static void test_small_memory(void **state)
{
    (void)state;
    /* 1 MiB + one page of RAM: the boot structures fit, the kernel does not. */
    static uint8_t ram[MiB + 4096];
    struct guest_mem mem;
    gm_wrap(&mem, ram, sizeof(ram));
    assert_int_equal(boot_write_gdt(&mem), 0);
    assert_int_equal(boot_write_page_tables(&mem), 0);
    assert_int_equal(boot_write_mptable(&mem, 1), 0);
    uint8_t *k = make_bzimage();
    struct boot_params_in in = params(k, BZ_LEN, NULL);
    struct boot_entry e;
    assert_int_equal(boot_load(&mem, &in, &e), -ENOMEM);
    assert_non_null(strstr(err_msg(), "needs"));
    free(k);

    gm_wrap(&mem, ram, 0x9000); /* not even room for the page tables */
    assert_int_equal(boot_write_page_tables(&mem), -ENOMEM);
    assert_int_equal(boot_write_mptable(&mem, 1), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bzimage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bzimage_initrd_addr_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bzimage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bzimage_cmdline_and_initrd_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elf64, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pvh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elf32_pvh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acpi, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elf_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_kernel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ncpus, setup, teardown),
        cmocka_unit_test(test_probe_head),
        cmocka_unit_test(test_small_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
