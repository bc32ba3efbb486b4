/* printf.c — COM1 output and a small printf: flags '-', '0', '#', a width,
 * the length modifiers hh/h/l/ll/z, and d i u x X p s c %. */
#include "guest.h"

enum { UART_DATA = 0, UART_IER = 1, UART_FCR = 2, UART_LCR = 3, UART_MCR = 4, UART_LSR = 5 };
#define LSR_DR 0x01
#define LSR_THRE 0x20

static spinlock_t print_lock;

void serial_init(void)
{
    outb(COM1 + UART_IER, 0x00);
    outb(COM1 + UART_LCR, 0x80); /* DLAB: divisor 1 = 115200 baud */
    outb(COM1 + UART_DATA, 0x01); /* DLL */
    outb(COM1 + UART_IER, 0x00);  /* DLM */
    outb(COM1 + UART_LCR, 0x03); /* 8N1 */
    /* FCR is left alone: switching the FIFOs on or off clears them, and a
     * harness may have typed ahead of the guest. */
    outb(COM1 + UART_MCR, 0x0b); /* DTR, RTS, OUT2 */
}

void serial_putc(char c)
{
    /* THR is empty at once on corral and on QEMU; the bound only keeps a
     * broken UART from hanging the guest. */
    for (int i = 0; i < 100000 && !(inb(COM1 + UART_LSR) & LSR_THRE); i++)
        cpu_relax();
    outb(COM1 + UART_DATA, (uint8_t)c);
}

bool serial_rx_ready(void) { return inb(COM1 + UART_LSR) & LSR_DR; }

int serial_getc_nowait(void)
{
    if (!serial_rx_ready())
        return -1;
    return inb(COM1 + UART_DATA);
}

/* Lines end in a bare '\n' so that harnesses can match them exactly. */
static void put_raw(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        serial_putc(s[i]);
}

void kputs(const char *s)
{
    spin_lock(&print_lock);
    put_raw(s, strlen(s));
    spin_unlock(&print_lock);
}

void kput_printable(const void *p, size_t len)
{
    const uint8_t *b = p;
    spin_lock(&print_lock);
    for (size_t i = 0; i < len; i++)
        serial_putc(b[i] >= 0x20 && b[i] < 0x7f ? (char)b[i] : '.');
    spin_unlock(&print_lock);
}

/* ---- formatting into a buffer ------------------------------------------ */

struct out {
    char *buf;
    size_t size, len; /* len counts every byte, even those that did not fit */
};

static void emit(struct out *o, char c)
{
    if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

static void emit_padded(struct out *o, const char *s, size_t n, int width, bool left, char pad)
{
    int fill = width > (int)n ? width - (int)n : 0;
    if (!left && pad == '0' && n > 0 && (s[0] == '-' || (n > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')))) {
        /* zero padding goes after the sign or the 0x prefix */
        size_t pre = s[0] == '-' ? 1 : 2;
        for (size_t i = 0; i < pre; i++)
            emit(o, s[i]);
        s += pre;
        n -= pre;
    }
    if (!left)
        while (fill-- > 0)
            emit(o, pad);
    for (size_t i = 0; i < n; i++)
        emit(o, s[i]);
    if (left)
        while (fill-- > 0)
            emit(o, ' ');
}

int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = { buf, size, 0 };
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(&o, *fmt);
            continue;
        }
        bool left = false, alt = false;
        char pad = ' ';
        int width = 0, lng = 0;
        for (;; fmt++) {
            if (fmt[1] == '-') left = true;
            else if (fmt[1] == '0') pad = '0';
            else if (fmt[1] == '#') alt = true;
            else break;
        }
        fmt++;
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l' || *fmt == 'h' || *fmt == 'z') {
            if (*fmt == 'l' || *fmt == 'z')
                lng = 1;
            fmt++;
        }
        char tmp[24];
        char *end = tmp + sizeof(tmp), *p = end;
        switch (*fmt) {
        case 'd': case 'i': {
            int64_t v = lng ? va_arg(ap, long) : va_arg(ap, int);
            uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
            do { *--p = (char)('0' + u % 10); u /= 10; } while (u);
            if (v < 0) *--p = '-';
            emit_padded(&o, p, (size_t)(end - p), width, left, pad);
            break;
        }
        case 'u': case 'x': case 'X': case 'p': {
            uint64_t u;
            if (*fmt == 'p') {
                u = (uint64_t)(uintptr_t)va_arg(ap, void *);
                alt = true;
            } else {
                u = lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
            }
            unsigned base = *fmt == 'u' ? 10 : 16;
            const char *digits = *fmt == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
            do { *--p = digits[u % base]; u /= base; } while (u);
            if (alt && base == 16) {
                *--p = *fmt == 'X' ? 'X' : 'x';
                *--p = '0';
            }
            emit_padded(&o, p, (size_t)(end - p), width, left, pad);
            break;
        }
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            emit_padded(&o, s, strlen(s), width, left, ' ');
            break;
        }
        case 'c':
            tmp[0] = (char)va_arg(ap, int);
            emit_padded(&o, tmp, 1, width, left, ' ');
            break;
        case '%':
            emit(&o, '%');
            break;
        case 0:
            fmt--; /* a lone '%' at the end */
            break;
        default:
            emit(&o, '%');
            emit(&o, *fmt);
            break;
        }
    }
    if (size)
        buf[o.len < size ? o.len : size - 1] = 0;
    return (int)o.len;
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = kvsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

void kvprintf(const char *fmt, va_list ap)
{
    char buf[512];
    int n = kvsnprintf(buf, sizeof(buf), fmt, ap);
    if (n >= (int)sizeof(buf))
        n = sizeof(buf) - 1;
    spin_lock(&print_lock);
    put_raw(buf, (size_t)n);
    spin_unlock(&print_lock);
}

void kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kvprintf(fmt, ap);
    va_end(ap);
}
