/* start.c — guest_start(), called by head.S in 64-bit mode: reads the boot
 * information, sets up the machine, runs the test and reports the outcome. */
#include "guest.h"

struct boot_info boot;

/* Linux boot_params (zero page) offsets. */
#define BP_E820_ENTRIES 0x1e8
#define BP_HDR_MAGIC 0x202
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128

/* struct hvm_start_info offsets (xen/include/public/arch-x86/hvm/start_info.h). */
#define PVH_VERSION 4
#define PVH_CMDLINE 24
#define PVH_MEMMAP 40
#define PVH_MEMMAP_ENTRIES 48

const char *boot_path_name(enum boot_path p)
{
    switch (p) {
    case BOOT_PATH_LINUX64: return "linux64 (64-bit boot protocol)";
    case BOOT_PATH_LINUX32: return "linux32 (32-bit boot protocol)";
    case BOOT_PATH_PVH: return "pvh";
    }
    return "?";
}

static void copy_cmdline(uint64_t addr)
{
    if (!addr || addr >= (1ull << 32))
        return;
    const char *s = (const char *)(uintptr_t)addr;
    size_t i = 0;
    while (i < CMDLINE_MAX - 1 && s[i])
        i++;
    memcpy(boot.cmdline, s, i);
    boot.cmdline[i] = 0;
}

static void add_mem(uint64_t addr, uint64_t size, uint32_t type)
{
    if (boot.nmem >= BOOT_MAX_MEM)
        return;
    boot.mem[boot.nmem++] = (struct mem_range){ addr, size, type };
    if (type == E820_RAM && addr < (1ull << 32)) {
        uint64_t end = addr + size;
        if (end > (1ull << 32))
            end = 1ull << 32;
        if (end > boot.ram_top_low)
            boot.ram_top_low = end;
    }
}

static void read_boot_params(const uint8_t *bp)
{
    uint32_t cmd;
    memcpy(&cmd, bp + BP_CMD_LINE_PTR, 4);
    copy_cmdline(cmd);
    unsigned n = bp[BP_E820_ENTRIES];
    for (unsigned i = 0; i < n && i < BP_E820_MAX; i++) {
        const uint8_t *e = bp + BP_E820_TABLE + 20 * i;
        uint64_t addr, size;
        uint32_t type;
        memcpy(&addr, e, 8);
        memcpy(&size, e + 8, 8);
        memcpy(&type, e + 16, 4);
        add_mem(addr, size, type);
    }
}

static void read_pvh_info(const uint8_t *si)
{
    uint32_t version, entries;
    uint64_t cmd, map;
    memcpy(&version, si + PVH_VERSION, 4);
    memcpy(&cmd, si + PVH_CMDLINE, 8);
    copy_cmdline(cmd);
    if (version < 1)
        return;
    memcpy(&map, si + PVH_MEMMAP, 8);
    memcpy(&entries, si + PVH_MEMMAP_ENTRIES, 4);
    if (!map || map >= (1ull << 32))
        return;
    for (uint32_t i = 0; i < entries; i++) {
        const uint8_t *e = (const uint8_t *)(uintptr_t)map + 24 * i;
        uint64_t addr, size;
        uint32_t type;
        memcpy(&addr, e, 8);
        memcpy(&size, e + 8, 8);
        memcpy(&type, e + 16, 4);
        add_mem(addr, size, type);
    }
}

bool mem_is_ram(uint64_t addr, uint64_t len)
{
    for (int i = 0; i < boot.nmem; i++) {
        const struct mem_range *m = &boot.mem[i];
        if (m->type == E820_RAM && addr >= m->addr && len <= m->size && addr - m->addr <= m->size - len)
            return true;
    }
    return false;
}

void guest_start(uint64_t path, uint64_t info);
void guest_start(uint64_t path, uint64_t info)
{
    boot.path = (enum boot_path)path;
    serial_init();
    if (info && info < (1ull << 32)) {
        if (boot.path == BOOT_PATH_PVH)
            read_pvh_info((const uint8_t *)(uintptr_t)info);
        else
            read_boot_params((const uint8_t *)(uintptr_t)info);
    }
    irq_init();
    lapic_init();
    ioapic_init();
    kprintf("corral test guest '%s': boot path %s\n", test_name, boot_path_name(boot.path));
    kprintf("cmdline: %s\n", boot.cmdline);
    if (boot.ram_top_low)
        kprintf("memory: %d ranges, RAM below 4 GiB ends at %#lx\n", boot.nmem, boot.ram_top_low);
    test_main();
    test_pass();
}

/* ---- outcome and power --------------------------------------------------- */

NORETURN void halt_forever(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}

void i8042_reset(void)
{
    /* Wait (bounded) for the controller's input buffer to drain first. */
    for (int i = 0; i < 1000 && (inb(0x64) & 0x02); i++)
        cpu_relax();
    outb(0x64, 0xfe);
}

NORETURN void power_off(void)
{
    cli();
    /* Once POWEROFF is accepted the VMM stops the vCPU: an i8042 reset
     * after it could turn the power-off into a reboot. */
    if (hcall_present() && hcall(HC_POWEROFF, 0, 0, NULL) == 0)
        halt_forever();
    i8042_reset();
    halt_forever();
}

static spinlock_t outcome_lock;

NORETURN void test_pass(void)
{
    spin_lock(&outcome_lock);
    kprintf("CORRAL-TEST PASS %s\n", test_name);
    power_off();
}

NORETURN void test_fail(const char *fmt, ...)
{
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    spin_lock(&outcome_lock);
    kprintf("CORRAL-TEST FAIL %s: %s\n", test_name, reason);
    power_off();
}

/* ---- helpers ----------------------------------------------------------- */

#define ARENA_SIZE (1024 * 1024)
static uint8_t arena[ARENA_SIZE] __attribute__((section(".noinit"), aligned(4096)));
static size_t arena_used;

void *arena_alloc(size_t size, size_t align)
{
    size_t start = ALIGN_UP(arena_used, align ? align : 8);
    if (start > ARENA_SIZE || size > ARENA_SIZE - start)
        return NULL;
    arena_used = start + size;
    return memset(arena + start, 0, size);
}

uint64_t rand64(void)
{
    static uint64_t s;
    if (!s)
        s = rdtsc() | 1;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}
