/* An 8250/16550A UART.  Transmit is instantaneous (bytes go straight to the
 * console), so THR is always empty; receive has a 64-byte FIFO fed from the
 * console's input fd by the I/O loop. */
#include "devices.h"

#include "snap/snap.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

enum {
    UART_RBR_THR = 0, UART_IER = 1, UART_IIR_FCR = 2, UART_LCR = 3,
    UART_MCR = 4, UART_LSR = 5, UART_MSR = 6, UART_SCR = 7,
};

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02

static uint8_t iir(const struct serial_state *s)
{
    uint8_t fifo = (s->fcr & FCR_ENABLE) ? IIR_FIFO : 0;
    if ((s->ier & IER_RDI) && s->rx_count)
        return IIR_RDI | fifo;
    if ((s->ier & IER_THRI) && s->thr_irq)
        return IIR_THRI | fifo;
    return IIR_NONE | fifo;
}

static void update_irq(struct serial *u)
{
    u->host->set_irq(u->host, u->irq, !(iir(&u->s) & IIR_NONE));
}

static bool rx_push(struct serial_state *s, uint8_t c)
{
    if (s->rx_count == sizeof(s->rx))
        return false;
    s->rx[(s->rx_head + s->rx_count) % sizeof(s->rx)] = c;
    s->rx_count++;
    return true;
}

static void set_input_polling(struct serial *u, bool on)
{
    if (u->io.in_fd >= 0 && u->input_enabled != on) {
        u->input_enabled = on;
        evloop_set_events(u->host->loop, u->io.in_fd, on ? EPOLLIN : 0);
    }
}

static void uart_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct serial *u = opaque;
    struct serial_state *s = &u->s;
    (void)size;
    pthread_mutex_lock(&u->lock);
    switch (off) {
    case UART_RBR_THR:
        if (s->lcr & LCR_DLAB) {
            *data = s->dll;
        } else if (s->rx_count) {
            *data = s->rx[s->rx_head];
            s->rx_head = (uint8_t)((s->rx_head + 1) % sizeof(s->rx));
            s->rx_count--;
            if (!s->rx_count)
                set_input_polling(u, true);
        }
        break;
    case UART_IER:
        *data = (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
        break;
    case UART_IIR_FCR:
        *data = iir(s);
        /* Reading IIR while it reports THR-empty acknowledges that source. */
        if ((*data & 0x0f) == IIR_THRI)
            s->thr_irq = false;
        break;
    case UART_LCR: *data = s->lcr; break;
    case UART_MCR: *data = s->mcr; break;
    case UART_LSR:
        *data = LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0);
        break;
    case UART_MSR:
        if (s->mcr & MCR_LOOP) /* loopback wires modem outputs to inputs */
            *data = (uint8_t)(((s->mcr & 0x02) << 3) | ((s->mcr & 0x01) << 5) |
                              ((s->mcr & 0x04) << 4) | ((s->mcr & 0x08) << 4));
        else
            *data = 0xb0; /* DCD, DSR, CTS */
        break;
    case UART_SCR: *data = s->scr; break;
    }
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
}

static void uart_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct serial *u = opaque;
    struct serial_state *s = &u->s;
    uint8_t v = data[0];
    (void)size;
    pthread_mutex_lock(&u->lock);
    switch (off) {
    case UART_RBR_THR:
        if (s->lcr & LCR_DLAB) {
            s->dll = v;
        } else if (s->mcr & MCR_LOOP) {
            rx_push(s, v);
            s->thr_irq = true;
        } else {
            if (u->io.out_fd >= 0)
                write_all(u->io.out_fd, &v, 1);
            atomic_fetch_add_explicit(&u->tx_bytes, 1, memory_order_relaxed);
            s->thr_irq = true;
        }
        break;
    case UART_IER:
        if (s->lcr & LCR_DLAB) {
            s->dlm = v;
        } else {
            /* Enabling THR-empty interrupts while THR is empty raises one. */
            if ((v & IER_THRI) && !(s->ier & IER_THRI))
                s->thr_irq = true;
            s->ier = v & 0x0f;
        }
        break;
    case UART_IIR_FCR:
        s->fcr = v & 0xc9;
        if (v & FCR_CLEAR_RX) {
            s->rx_count = 0;
            set_input_polling(u, true);
        }
        break;
    case UART_LCR: s->lcr = v; break;
    case UART_MCR: s->mcr = v & 0x1f; break;
    case UART_SCR: s->scr = v; break;
    default: break; /* LSR and MSR are read-only */
    }
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
}

size_t serial_input(struct serial *u, const uint8_t *buf, size_t len)
{
    size_t n = 0;
    pthread_mutex_lock(&u->lock);
    while (n < len && rx_push(&u->s, buf[n]))
        n++;
    atomic_fetch_add_explicit(&u->rx_bytes, n, memory_order_relaxed);
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return n;
}

static void on_input(void *arg, uint32_t events)
{
    struct serial *u = arg;
    pthread_mutex_lock(&u->lock);
    size_t room = sizeof(u->s.rx) - u->s.rx_count;
    pthread_mutex_unlock(&u->lock);
    if (room == 0) {
        pthread_mutex_lock(&u->lock);
        set_input_polling(u, false);
        pthread_mutex_unlock(&u->lock);
        return;
    }
    uint8_t buf[64];
    ssize_t n = read(u->io.in_fd, buf, MIN(room, sizeof(buf)));
    if (n > 0) {
        serial_input(u, buf, (size_t)n);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR) || (events & (EPOLLHUP | EPOLLERR))) {
        /* Input closed (e.g. stdin at EOF): the guest keeps running without it. */
        evloop_del(u->host->loop, u->io.in_fd);
        u->io.in_fd = -1;
    }
}

static const struct io_ops uart_ops = { .read = uart_read, .write = uart_write };

int serial_init(struct serial *u, struct dev_host *host, struct bus *pio,
                struct console_io io, uint16_t port, unsigned irq)
{
    memset(u, 0, sizeof(*u));
    pthread_mutex_init(&u->lock, NULL);
    u->host = host;
    u->io = io;
    u->irq = irq;
    u->s.lsr = LSR_THRE | LSR_TEMT;
    u->s.mcr = 0x08; /* OUT2: lets the interrupt through on PCs */
    int r = bus_add(pio, port, 8, "serial", &uart_ops, u);
    if (r < 0)
        return r;
    if (io.in_fd >= 0) {
        u->input_enabled = true;
        r = evloop_add(host->loop, io.in_fd, EPOLLIN, on_input, u);
        if (r < 0)
            return r;
    }
    return 0;
}

void serial_stop(struct serial *u)
{
    if (u->io.in_fd >= 0)
        evloop_del(u->host->loop, u->io.in_fd);
    pthread_mutex_destroy(&u->lock);
}

void serial_save(struct serial *u, struct snap_writer *w)
{
    pthread_mutex_lock(&u->lock);
    const struct serial_state *s = &u->s;
    const uint8_t regs[] = { s->ier, s->iir_pending, s->lcr, s->mcr, s->lsr, s->msr, s->scr, s->dll, s->dlm, s->fcr };
    snap_bytes(w, regs, sizeof(regs));
    snap_bytes(w, s->rx, sizeof(s->rx));
    snap_u8(w, s->rx_head);
    snap_u8(w, s->rx_count);
    snap_u8(w, s->thr_irq);
    pthread_mutex_unlock(&u->lock);
}

int serial_load(struct serial *u, struct snap_cursor *c)
{
    struct serial_state s;
    uint8_t regs[10];
    snap_get_bytes(c, regs, sizeof(regs));
    s.ier = regs[0], s.iir_pending = regs[1], s.lcr = regs[2], s.mcr = regs[3], s.lsr = regs[4];
    s.msr = regs[5], s.scr = regs[6], s.dll = regs[7], s.dlm = regs[8], s.fcr = regs[9];
    snap_get_bytes(c, s.rx, sizeof(s.rx));
    s.rx_head = snap_get_u8(c);
    s.rx_count = snap_get_u8(c);
    uint8_t thr = snap_get_u8(c);
    if (s.rx_head >= sizeof(s.rx) || s.rx_count > sizeof(s.rx) || thr > 1)
        c->bad = true;
    int r = snap_cursor_done(c, "serial port");
    if (r < 0)
        return r;
    s.thr_irq = thr;
    pthread_mutex_lock(&u->lock);
    u->s = s;
    update_irq(u);
    set_input_polling(u, s.rx_count < sizeof(s.rx));
    pthread_mutex_unlock(&u->lock);
    return 0;
}
