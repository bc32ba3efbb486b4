/* irq.c — the IDT, interrupt dispatch, exception reports and the 8259s. */
#include "guest.h"

struct idt_entry {
    uint16_t off_lo, sel;
    uint8_t ist, type;
    uint16_t off_mid;
    uint32_t off_hi, zero;
} __attribute__((packed));

extern const char isr_stubs[];

static struct idt_entry idt[256] __attribute__((aligned(16)));
static struct {
    irq_handler_t fn;
    void *ctx;
} handlers[256];
static bool warned[256];

static const char *const exception_names[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
    "#BR bound", "#UD invalid opcode", "#NM no FPU", "#DF double fault", "coprocessor overrun",
    "#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection",
    "#PF page fault", "reserved 15", "#MF x87 error", "#AC alignment check", "#MC machine check",
    "#XM SIMD error", "#VE virtualization", "#CP control protection",
};

void idt_load(void)
{
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) desc = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
    __asm__ volatile("lidt %0" : : "m"(desc));
}

/* Remaps the 8259 pair to VEC_PIC_BASE (so a stray IRQ is not mistaken for
 * an exception) and masks every line. */
static void pic_init(void)
{
    outb(0x20, 0x11); outb(0xa0, 0x11);                       /* ICW1: edge, cascade, ICW4 */
    outb(0x21, VEC_PIC_BASE); outb(0xa1, VEC_PIC_BASE + 8);   /* ICW2: vector bases */
    outb(0x21, 0x04); outb(0xa1, 0x02);                       /* ICW3: slave on IRQ2 */
    outb(0x21, 0x01); outb(0xa1, 0x01);                       /* ICW4: 8086 mode */
    pic_mask_all();
}

void pic_mask_all(void)
{
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}

void pic_unmask(unsigned irq)
{
    if (irq >= 8) {
        outb(0xa1, inb(0xa1) & ~(1u << (irq - 8)));
        irq = 2;
    }
    outb(0x21, inb(0x21) & ~(1u << irq));
}

void irq_init(void)
{
    uint64_t base = (uint64_t)(uintptr_t)isr_stubs;
    for (unsigned v = 0; v < 256; v++) {
        uint64_t a = base + 16 * v;
        idt[v] = (struct idt_entry){
            .off_lo = (uint16_t)a, .sel = 0x10, .ist = 0, .type = 0x8e, /* present, interrupt gate */
            .off_mid = (uint16_t)(a >> 16), .off_hi = (uint32_t)(a >> 32),
        };
    }
    idt_load();
    pic_init();
}

void irq_set_handler(unsigned vector, irq_handler_t fn, void *ctx)
{
    if (vector < 0x20 || vector > 0xff)
        return;
    handlers[vector].ctx = ctx;
    __atomic_store_n(&handlers[vector].fn, fn, __ATOMIC_RELEASE);
}

static NORETURN void exception(struct irq_frame *f)
{
    unsigned v = (unsigned)f->vector;
    const char *name = v < 32 && exception_names[v] ? exception_names[v] : "exception";
    kprintf("exception %u (%s) error=%#lx rip=%#lx cs=%#lx rflags=%#lx rsp=%#lx cr2=%#lx\n",
            v, name, f->error, f->rip, f->cs, f->rflags, f->rsp, read_cr2());
    kprintf("  rax=%#lx rbx=%#lx rcx=%#lx rdx=%#lx rsi=%#lx rdi=%#lx\n",
            f->rax, f->rbx, f->rcx, f->rdx, f->rsi, f->rdi);
    test_fail("exception vector %u (%s) at rip %#lx", v, name, f->rip);
}

void isr_dispatch(struct irq_frame *f);
void isr_dispatch(struct irq_frame *f)
{
    unsigned v = (unsigned)f->vector;
    if (v < 0x20)
        exception(f);
    if (v == VEC_SPURIOUS)
        return; /* no EOI for the spurious vector */
    irq_handler_t fn = __atomic_load_n(&handlers[v].fn, __ATOMIC_ACQUIRE);
    if (fn) {
        fn(v, handlers[v].ctx);
    } else if (!warned[v]) {
        /* A masked 8259 can still deliver spurious IRQ 7/15: not worth a warning. */
        if (v != VEC_PIC_BASE + 7 && v != VEC_PIC_BASE + 15)
            kprintf("warning: unexpected interrupt vector %#x\n", v);
        warned[v] = true;
    }
    if (v >= VEC_PIC_BASE && v < VEC_PIC_BASE + 16) {
        unsigned irq = v - VEC_PIC_BASE;
        if (irq == 7 || irq == 15)
            return; /* possibly spurious: an EOI would ack a real one */
        if (irq >= 8)
            outb(0xa0, 0x20);
        outb(0x20, 0x20);
    } else {
        lapic_eoi();
    }
}
