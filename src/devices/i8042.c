/* An i8042 keyboard controller, enough for Linux's probe to find a keyboard,
 * for "reset the CPU" (command 0xFE) to end or restart the VM, and for the
 * host to type Ctrl-Alt-Del as a graceful shutdown request. */
#include "devices.h"

#include "snap/snap.h"

#include <string.h>

#define KBD_IRQ 1

#define STAT_OBF 0x01     /* output buffer full */
#define STAT_SYS 0x04     /* self-test passed */
#define STAT_CMD 0x08     /* last write was a command */
#define STAT_UNLOCKED 0x10
#define STAT_AUX_OBF 0x20

#define CTR_KBD_INT 0x01
#define CTR_KBD_DISABLE 0x10
#define CTR_XLATE 0x40

static void update(struct i8042 *k)
{
    struct i8042_state *s = &k->s;
    if (s->count)
        s->status |= STAT_OBF;
    else
        s->status &= (uint8_t)~(STAT_OBF | STAT_AUX_OBF);
    k->host->set_irq(k->host, KBD_IRQ, s->count && (s->ctr & CTR_KBD_INT));
}

static void push(struct i8042_state *s, uint8_t v)
{
    if (s->count < sizeof(s->buf)) {
        s->buf[(s->head + s->count) % sizeof(s->buf)] = v;
        s->count++;
    }
}

static void controller_cmd(struct i8042 *k, uint8_t cmd)
{
    struct i8042_state *s = &k->s;
    switch (cmd) {
    case 0x20: push(s, s->ctr); break;                 /* read CTR */
    case 0x60: case 0xd1: case 0xd2: case 0xd3: case 0xd4:
        s->cmd = cmd;                                  /* takes a data byte */
        break;
    case 0xa7: s->ctr |= 0x20; break;                  /* disable aux */
    case 0xa8: s->ctr &= (uint8_t)~0x20; break;        /* enable aux */
    case 0xa9: push(s, 0x01); break;                   /* no aux (mouse) port */
    case 0xaa: push(s, 0x55); s->status |= STAT_SYS; break; /* self test ok */
    case 0xab: push(s, 0x00); break;                   /* kbd interface test ok */
    case 0xad: s->ctr |= CTR_KBD_DISABLE; break;
    case 0xae: s->ctr &= (uint8_t)~CTR_KBD_DISABLE; break;
    case 0xd0: push(s, s->outport); break;
    case 0xfe:                                         /* pulse reset line */
        k->host->request(k->host, VM_REQ_REBOOT);
        break;
    default: break;
    }
}

static void keyboard_cmd(struct i8042_state *s, uint8_t v)
{
    switch (v) {
    case 0xff: push(s, 0xfa); push(s, 0xaa); break;       /* reset + BAT ok */
    case 0xf2: push(s, 0xfa); push(s, 0xab); push(s, 0x83); break; /* identify */
    case 0xee: push(s, 0xee); break;                      /* echo */
    default: push(s, 0xfa); break;                        /* ack */
    }
}

/* Both ports decode one byte each, so the bus offset is always 0; which
 * port was hit is told by which ops table the bus called. */
static void kbd_read(struct i8042 *k, bool data_port, uint8_t *data)
{
    struct i8042_state *s = &k->s;
    pthread_mutex_lock(&k->lock);
    if (data_port) {
        if (s->count) {
            *data = s->buf[s->head];
            s->head = (uint8_t)((s->head + 1) % sizeof(s->buf));
            s->count--;
            /* Each byte is its own interrupt, as on a real controller: drop
             * the (edge-triggered) line so the next byte raises it again. */
            k->host->set_irq(k->host, KBD_IRQ, 0);
        }
    } else {
        *data = s->status;
    }
    update(k);
    pthread_mutex_unlock(&k->lock);
}

static void data_write(struct i8042 *k, uint8_t v)
{
    struct i8042_state *s = &k->s;
    uint8_t cmd = s->cmd;
    s->cmd = 0;
    s->status &= (uint8_t)~STAT_CMD;
    switch (cmd) {
    case 0x60: s->ctr = v; break;
    case 0xd1:
        s->outport = v;
        if (!(v & 1)) /* bit 0 low holds the CPU in reset */
            k->host->request(k->host, VM_REQ_REBOOT);
        break;
    case 0xd2: push(s, v); break;   /* write to keyboard output buffer */
    case 0xd3: break;               /* no mouse */
    case 0xd4:                      /* to the (absent) mouse: report an error */
        push(s, 0xfe);
        s->status |= STAT_AUX_OBF;
        break;
    default: keyboard_cmd(s, v); break;
    }
}

static void kbd_write(struct i8042 *k, bool data_port, uint8_t v)
{
    pthread_mutex_lock(&k->lock);
    if (data_port) {
        data_write(k, v);
    } else {
        k->s.status |= STAT_CMD;
        controller_cmd(k, v);
    }
    update(k);
    pthread_mutex_unlock(&k->lock);
}

void i8042_ctrl_alt_del(struct i8042 *k)
{
    /* Set-1 scancodes (the controller translates for Linux): Ctrl, Alt,
     * Del (extended), then their releases. */
    static const uint8_t seq[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
    pthread_mutex_lock(&k->lock);
    for (size_t i = 0; i < sizeof(seq); i++)
        push(&k->s, seq[i]);
    update(k);
    pthread_mutex_unlock(&k->lock);
}

static void data_rd(void *o, uint64_t off, uint8_t *d, unsigned n) { (void)off; (void)n; kbd_read(o, true, d); }
static void cmd_rd(void *o, uint64_t off, uint8_t *d, unsigned n) { (void)off; (void)n; kbd_read(o, false, d); }
static void data_wr(void *o, uint64_t off, const uint8_t *d, unsigned n) { (void)off; (void)n; kbd_write(o, true, d[0]); }
static void cmd_wr(void *o, uint64_t off, const uint8_t *d, unsigned n) { (void)off; (void)n; kbd_write(o, false, d[0]); }
static const struct io_ops data_ops = { .read = data_rd, .write = data_wr };
static const struct io_ops cmd_ops = { .read = cmd_rd, .write = cmd_wr };

int i8042_init(struct i8042 *k, struct dev_host *host, struct bus *pio)
{
    memset(k, 0, sizeof(*k));
    pthread_mutex_init(&k->lock, NULL);
    k->host = host;
    k->s.status = STAT_SYS | STAT_UNLOCKED;
    k->s.ctr = CTR_KBD_INT | CTR_XLATE;
    k->s.outport = 0x01;
    int r = bus_add(pio, I8042_DATA_PORT, 1, "i8042-data", &data_ops, k);
    if (r == 0)
        r = bus_add(pio, I8042_CMD_PORT, 1, "i8042-cmd", &cmd_ops, k);
    return r;
}

void i8042_save(struct i8042 *k, struct snap_writer *w)
{
    pthread_mutex_lock(&k->lock);
    const struct i8042_state *s = &k->s;
    const uint8_t regs[] = { s->status, s->ctr, s->cmd, s->outport, s->head, s->count };
    snap_bytes(w, regs, sizeof(regs));
    snap_bytes(w, s->buf, sizeof(s->buf));
    pthread_mutex_unlock(&k->lock);
}

int i8042_load(struct i8042 *k, struct snap_cursor *c)
{
    struct i8042_state s;
    uint8_t regs[6];
    snap_get_bytes(c, regs, sizeof(regs));
    s.status = regs[0], s.ctr = regs[1], s.cmd = regs[2], s.outport = regs[3], s.head = regs[4], s.count = regs[5];
    snap_get_bytes(c, s.buf, sizeof(s.buf));
    if (s.head >= sizeof(s.buf) || s.count > sizeof(s.buf))
        c->bad = true;
    int r = snap_cursor_done(c, "i8042");
    if (r < 0)
        return r;
    pthread_mutex_lock(&k->lock);
    k->s = s;
    update(k);
    pthread_mutex_unlock(&k->lock);
    return 0;
}
