/* serial — the 8250/16550A UART on COM1: prints a banner, reads one line
 * and echoes it back as "echo: LINE".
 *
 * cmdline: irq        receive through the IRQ 4 interrupt, routed by the IOAPIC
 *          irq=pic    ... routed by the 8259 PIC (LAPIC LINT0 in ExtINT mode)
 *          timeout=S  fail if no line arrives within S seconds (default: wait)
 * Without `irq` the receiver is polled through LSR (between polls the CPU
 * halts until the next LAPIC tick). */
#include "guest.h"

const char test_name[] = "serial";

#define COM1_IRQ 4
#define UART_IER 1
#define UART_IIR 2
#define LINE_MAX 200

static char rx_ring[256];
static volatile unsigned rx_head, rx_tail, rx_irqs;

static void on_uart_irq(unsigned vector, void *ctx)
{
    (void)vector;
    (void)ctx;
    rx_irqs++;
    (void)inb(COM1 + UART_IIR);
    int c;
    while ((c = serial_getc_nowait()) >= 0)
        if (rx_head - rx_tail < sizeof(rx_ring))
            rx_ring[rx_head++ % sizeof(rx_ring)] = (char)c;
}

static bool use_irq, irq_via_pic;
static uint64_t deadline; /* in ticks, 0 = none */

static void check_deadline(void)
{
    if (deadline && ticks > deadline)
        test_fail("no complete line within the timeout");
}

static int getc_blocking(void)
{
    if (!use_irq) {
        /* Poll LSR: briefly in a tight loop, then once per tick, halted in
         * between, so that a guest waiting for a human costs next to nothing. */
        int c;
        unsigned polls = 0;
        while ((c = serial_getc_nowait()) < 0) {
            check_deadline();
            if (++polls < 1000) {
                cpu_relax();
            } else {
                if (!tick_running())
                    tick_start();
                cpu_idle();
            }
        }
        return c;
    }
    uint64_t pending_since = 0;
    while (rx_head == rx_tail) {
        check_deadline();
        /* Data waiting in the UART for more than 2 s with no interrupt:
         * the interrupt path is broken, say so instead of hanging. */
        if (serial_rx_ready()) {
            if (!pending_since)
                pending_since = ticks;
            else if (ticks - pending_since > 2000 / TICK_MS)
                test_fail("receive data pending but no IRQ %d after %u interrupts", COM1_IRQ, rx_irqs);
        } else {
            pending_since = 0;
        }
        cpu_idle();
    }
    return rx_ring[rx_tail++ % sizeof(rx_ring)];
}

static void setup_irq(void)
{
    irq_set_handler(irq_via_pic ? VEC_PIC_BASE + COM1_IRQ : VEC_IOAPIC_BASE + COM1_IRQ, on_uart_irq, NULL);
    if (irq_via_pic) {
        lapic_write(LAPIC_LVT_LINT0, 0x700); /* ExtINT: the 8259 delivers through LINT0 */
        pic_unmask(COM1_IRQ);
    } else {
        CHECK(ioapic_pins() > COM1_IRQ, "no IOAPIC pin %d", COM1_IRQ);
        ioapic_route(COM1_IRQ, VEC_IOAPIC_BASE + COM1_IRQ, false, false);
    }
    outb(COM1 + UART_IER, 0x01); /* received-data-available interrupt */
}

void test_main(void)
{
    char mode[16] = "";
    use_irq = cmdline_get("irq", mode, sizeof(mode));
    irq_via_pic = use_irq && strcmp(mode, "pic") == 0;
    uint64_t timeout = cmdline_u64("timeout", 0);
    if (use_irq || timeout)
        tick_start(); /* irq mode: for the stuck-interrupt check */
    if (timeout)
        deadline = ticks + timeout * 1000 / TICK_MS;

    kprintf("serial: hello from the corral serial test guest\n");
    if (use_irq)
        setup_irq();
    kprintf("serial: receive mode %s; type a line\n",
            !use_irq ? "polled (LSR)" : irq_via_pic ? "interrupt (IRQ 4 via 8259 PIC)" : "interrupt (IRQ 4 via IOAPIC)");

    char line[LINE_MAX + 1];
    unsigned n = 0;
    int c;
    do { /* skip line ends left over from a previous line */
        c = getc_blocking();
    } while (c == '\r' || c == '\n');
    while (c != '\r' && c != '\n') {
        if (n < LINE_MAX)
            line[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
        c = getc_blocking();
    }
    line[n] = 0;
    if (use_irq) {
        outb(COM1 + UART_IER, 0);
        kprintf("serial: %u receive interrupts\n", rx_irqs);
        CHECK(rx_irqs > 0, "line read without a single receive interrupt");
    }
    kprintf("echo: %s\n", line);
}
