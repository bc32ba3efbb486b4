/* guest.h — the runtime shared by corral's test guests.
 *
 * A test guest is one C file that defines `test_name` and `test_main()` and
 * links this library.  lib/head.S brings the CPU to 64-bit mode from any of
 * the three x86 boot paths (Linux 64-bit entry, Linux 32-bit entry through
 * the bzImage setup stub, PVH) and calls guest_start(), which sets up the
 * serial port, copies the command line and memory map, installs the IDT,
 * masks the legacy interrupt controllers and then runs test_main().
 *
 * Output protocol: progress lines on COM1, then exactly one final line,
 *     CORRAL-TEST PASS <name>      or     CORRAL-TEST FAIL <name>: <reason>
 * written by test_pass()/test_fail(), after which the guest powers off
 * through the hypercall channel (docs/guest-abi.md), falling back to the
 * i8042 reset and finally to halting.  test_main() returning means PASS.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((uint64_t)(a) - 1))
#define NORETURN __attribute__((noreturn))
#define PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- what each guest defines ------------------------------------------ */

extern const char test_name[];
void test_main(void);

/* ---- boot information ---------------------------------------------------- */

enum boot_path {
    BOOT_PATH_LINUX64 = 0, /* 64-bit entry at load address + 0x200, rsi = boot_params */
    BOOT_PATH_LINUX32 = 1, /* 32-bit entry (bzImage setup stub / 32-bit loader), esi = boot_params */
    BOOT_PATH_PVH = 2,     /* XEN_ELFNOTE_PHYS32_ENTRY, ebx = hvm_start_info */
};

#define E820_RAM 1
#define BOOT_MAX_MEM 32
#define CMDLINE_MAX 4096

struct mem_range {
    uint64_t addr, size;
    uint32_t type;
};

struct boot_info {
    enum boot_path path;
    char cmdline[CMDLINE_MAX];       /* copied at start: loaders' memory may be reused */
    struct mem_range mem[BOOT_MAX_MEM];
    int nmem;
    uint64_t ram_top_low;            /* end of the highest RAM range below 4 GiB, 0 if unknown */
};

extern struct boot_info boot;
const char *boot_path_name(enum boot_path p);
/* Whether [addr, addr+len) lies in one RAM range of the memory map. */
bool mem_is_ram(uint64_t addr, uint64_t len);

/* ---- test outcome ------------------------------------------------------ */

NORETURN void test_pass(void);
NORETURN PRINTF(1, 2) void test_fail(const char *fmt, ...);
#define CHECK(cond, ...) do { if (!(cond)) test_fail(__VA_ARGS__); } while (0)

/* Hypercall POWEROFF, else i8042 reset, else halt forever. */
NORETURN void power_off(void);
/* i8042 "pulse reset line" command; returns if nothing happened. */
void i8042_reset(void);
NORETURN void halt_forever(void);

/* ---- serial console (COM1) and formatted output -------------------------- */

#define COM1 0x3f8

void serial_init(void);
void serial_putc(char c);
bool serial_rx_ready(void);     /* the UART holds a received byte */
int serial_getc_nowait(void);  /* -1 when no byte is waiting */

void kputs(const char *s); /* no newline added */
PRINTF(1, 2) void kprintf(const char *fmt, ...);
void kvprintf(const char *fmt, va_list ap);
PRINTF(3, 4) int ksnprintf(char *buf, size_t size, const char *fmt, ...);
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
/* Prints `len` bytes with non-printable ones as '.'. */
void kput_printable(const void *p, size_t len);

/* ---- strings ----------------------------------------------------------- */

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/* ---- command line ------------------------------------------------------ */

/* Finds `key` as a bare word or as `key=value`; copies the value (empty for a
 * bare word) into val when val is not NULL.  The first match wins. */
bool cmdline_get(const char *key, char *val, size_t len);
bool cmdline_has(const char *key);
uint64_t cmdline_u64(const char *key, uint64_t dflt);
/* Parses a number: decimal or 0x-hex, with an optional K/M/G suffix.
 * Advances *s past it; returns false if no digits were found. */
bool parse_u64(const char **s, uint64_t *out);

struct virtio_mmio_slot {
    uint64_t size, addr;
    unsigned irq;
};
/* Collects `virtio_mmio.device=SIZE@ADDR:IRQ[:ID]` entries. */
int cmdline_virtio_mmio(struct virtio_mmio_slot *out, int max);

/* ---- hypercall channel (docs/guest-abi.md) --------------------------------- */

#define HCALL_PORT 0x0ca0
#define HCALL_DEBUG_PORT 0x0ca4
#define HCALL_SIGNATURE 0x4c525243u
enum { HC_PROBE = 0, HC_LOG = 1, HC_TIME = 2, HC_REPORT = 3, HC_POWEROFF = 4, HC_REBOOT = 5 };
#define HC_NOT_DONE 0x7eadbeef /* status a block keeps when the VMM ignored it */

struct hcall_block {
    uint32_t op;
    int32_t status;
    uint64_t arg0, arg1;
    uint64_t result;
} __attribute__((aligned(8)));

bool hcall_present(void); /* reads the signature each time */
/* Issues one call with a block on the stack; returns its status. */
int32_t hcall(uint32_t op, uint64_t arg0, uint64_t arg1, uint64_t *result);
/* Issues a call with a caller-placed block (may be deliberately bad). */
void hcall_raw(uint32_t block_gpa);
int32_t hcall_log(const char *s);

/* ---- interrupts -------------------------------------------------------- */

#define VEC_PIC_BASE 0x20    /* 8259 IRQ 0..15 after remapping */
#define VEC_TICK 0x30        /* lib LAPIC tick */
#define VEC_TEST 0x31        /* free for a test's own use: 0x31..0x3f */
#define VEC_IOAPIC_BASE 0x40 /* IOAPIC pin N -> 0x40 + N */
#define VEC_SPURIOUS 0xff

typedef void (*irq_handler_t)(unsigned vector, void *ctx);

struct irq_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

void irq_init(void);      /* IDT (all 256 vectors), 8259s remapped and masked */
void idt_load(void);      /* for APs */
/* Vectors >= 0x20 only.  The handler runs with interrupts off; EOI is sent
 * by the dispatcher (LAPIC for >= 0x30, 8259 for the PIC range). */
void irq_set_handler(unsigned vector, irq_handler_t fn, void *ctx);
/* Atomically enables interrupts and halts until one arrives, then disables them. */
static inline void cpu_idle(void) { __asm__ volatile("sti; hlt; cli" : : : "memory"); }

void pic_mask_all(void);
void pic_unmask(unsigned irq);

/* ---- local APIC, IOAPIC, tick ------------------------------------------------- */

#define LAPIC_BASE 0xfee00000u
#define IOAPIC_BASE 0xfec00000u

enum {
    LAPIC_ID = 0x20, LAPIC_VER = 0x30, LAPIC_TPR = 0x80, LAPIC_EOI = 0xb0,
    LAPIC_SVR = 0xf0, LAPIC_ESR = 0x280, LAPIC_ICR_LO = 0x300, LAPIC_ICR_HI = 0x310,
    LAPIC_LVT_TIMER = 0x320, LAPIC_LVT_LINT0 = 0x350, LAPIC_LVT_LINT1 = 0x360,
    LAPIC_LVT_ERROR = 0x370, LAPIC_TIMER_INIT = 0x380, LAPIC_TIMER_CUR = 0x390,
    LAPIC_TIMER_DIV = 0x3e0,
};
#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)

static inline uint32_t lapic_read(unsigned reg) { return mmio_read32(LAPIC_BASE + reg); }
static inline void lapic_write(unsigned reg, uint32_t v) { mmio_write32(LAPIC_BASE + reg, v); }
void lapic_init(void);          /* software-enable, TPR 0, LVTs masked */
uint32_t lapic_id(void);
void lapic_eoi(void);
/* Sends an IPI; returns false if the delivery-status bit never cleared. */
bool lapic_ipi(uint32_t dest_apic_id, uint32_t icr_lo);

void ioapic_init(void);         /* masks every pin */
unsigned ioapic_pins(void);
/* Routes `pin` to `vector` on the boot CPU (fixed delivery, physical dest). */
void ioapic_route(unsigned pin, uint8_t vector, bool level, bool active_low);
void ioapic_mask(unsigned pin);

/* The lib tick: LAPIC timer, periodic, VEC_TICK, about TICK_MS apart.  Used to
 * wake cpu_idle() waits and to bound them with timeouts. */
#define TICK_MS 10
extern volatile uint64_t ticks;
void tick_start(void);
void tick_stop(void);
bool tick_running(void);
/* Waits for an interrupt (or spins briefly if no tick is running). */
void wait_a_bit(void);
void sleep_ms(unsigned ms);
/* LAPIC timer initial count for `ms` milliseconds at divide-by-16, assuming
 * the 1 GHz APIC bus both KVM and QEMU emulate. */
#define LAPIC_COUNT_PER_MS 62500u

/* ---- small helpers ----------------------------------------------------- */

void *arena_alloc(size_t size, size_t align); /* zeroed, never freed; NULL when exhausted */
uint64_t rand64(void);                         /* xorshift seeded from the TSC */

typedef struct { volatile int v; } spinlock_t;
static inline void spin_lock(spinlock_t *l)
{
    while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&l->v, __ATOMIC_RELAXED))
            cpu_relax();
}
static inline void spin_unlock(spinlock_t *l) { __atomic_store_n(&l->v, 0, __ATOMIC_RELEASE); }

#endif
