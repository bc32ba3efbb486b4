/* devices: the bus and the legacy PC devices, driven through bus_access()
 * exactly as a vCPU thread would, with a stub dev_host that records what the
 * devices ask of the VM. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#undef fail /* cmocka's fail() would hide util's */

#include "devices/devices.h"
#include "util/util.h"

#define RAM_SIZE (1 * MiB)

struct stub {
    struct dev_host h;
    struct guest_mem mem;
    uint8_t *ram;
    struct bus pio;
    int irq[32];              /* last level per GSI, -1: never set */
    int rises[32];            /* 0 -> 1 transitions per GSI (edges) */
    int irq_calls;
    enum vm_request req[8];
    int nreq;
    uint64_t report_key[8], report_val[8];
    int nreports;
};

static void stub_set_irq(struct dev_host *h, unsigned gsi, int level)
{
    struct stub *s = h->opaque;
    assert_true(gsi < ARRAY_SIZE(s->irq));
    if (level && s->irq[gsi] <= 0)
        s->rises[gsi]++;
    s->irq[gsi] = level;
    s->irq_calls++;
}

static void stub_request(struct dev_host *h, enum vm_request req)
{
    struct stub *s = h->opaque;
    assert_true(s->nreq < (int)ARRAY_SIZE(s->req));
    s->req[s->nreq++] = req;
}

static void stub_report(struct dev_host *h, uint64_t key, uint64_t value)
{
    struct stub *s = h->opaque;
    assert_true(s->nreports < (int)ARRAY_SIZE(s->report_key));
    s->report_key[s->nreports] = key;
    s->report_val[s->nreports++] = value;
}

static int setup(void **state)
{
    struct stub *s = calloc(1, sizeof(*s));
    if (!s || !(s->ram = calloc(1, RAM_SIZE)) || evloop_new(&s->h.loop) < 0)
        return -1;
    gm_wrap(&s->mem, s->ram, RAM_SIZE);
    s->h.mem = &s->mem;
    s->h.opaque = s;
    s->h.set_irq = stub_set_irq;
    s->h.request = stub_request;
    s->h.report = stub_report;
    memset(s->irq, -1, sizeof(s->irq));
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct stub *s = *state;
    evloop_free(s->h.loop);
    free(s->ram);
    free(s);
    return 0;
}

static void out8(struct stub *s, uint16_t port, uint8_t v) { bus_access(&s->pio, port, &v, 1, true); }
static uint8_t in8(struct stub *s, uint16_t port)
{
    uint8_t v = 0x5a;
    bus_access(&s->pio, port, &v, 1, false);
    return v;
}
static void out32(struct stub *s, uint16_t port, uint32_t v)
{
    bus_access(&s->pio, port, (uint8_t *)&v, 4, true);
}
static uint32_t in32(struct stub *s, uint16_t port)
{
    uint32_t v = 0x5a5a5a5a;
    bus_access(&s->pio, port, (uint8_t *)&v, 4, false);
    return v;
}

/* ---- bus ------------------------------------------------------------------- */

struct rec { uint64_t off; unsigned size; uint8_t first; int reads, writes; };
static void rec_read(void *o, uint64_t off, uint8_t *d, unsigned size)
{
    struct rec *r = o;
    r->off = off, r->size = size, r->first = d[0], r->reads++;
    d[0] = 0x42;
}
static void rec_write(void *o, uint64_t off, const uint8_t *d, unsigned size)
{
    struct rec *r = o;
    r->off = off, r->size = size, r->first = d[0], r->writes++;
}
static const struct io_ops rec_ops = { .read = rec_read, .write = rec_write };

static void test_bus(void **state)
{
    struct stub *s = *state;
    struct bus *b = &s->pio;
    struct rec r = { 0 };
    assert_int_equal(bus_add(b, 0x100, 8, "a", &rec_ops, &r), 0);
    assert_int_equal(bus_add(b, 0x104, 8, "b", &rec_ops, &r), -EEXIST);
    assert_string_equal(err_msg(), "b overlaps a at 0x100");
    assert_int_equal(bus_add(b, 0xff, 2, "c", &rec_ops, &r), -EEXIST);
    assert_int_equal(bus_add(b, 0x0, 0x1000, "d", &rec_ops, &r), -EEXIST);
    assert_int_equal(bus_add(b, 0x100, 0, "e", &rec_ops, &r), -EINVAL);
    assert_int_equal(bus_add(b, UINT64_MAX - 3, 8, "f", &rec_ops, &r), -EINVAL);
    assert_int_equal(bus_add(b, 0x108, 8, "g", &rec_ops, &r), 0);   /* adjacent is fine */
    assert_int_equal(bus_add(b, 0xf8, 8, "h", &rec_ops, &r), 0);
    assert_int_equal(b->n, 3);

    /* A claimed read starts from zeroes and gets the region's offset. */
    uint8_t d[8];
    memset(d, 0xee, sizeof(d));
    assert_true(bus_access(b, 0x103, d, 2, false));
    assert_int_equal(r.reads, 1);
    assert_int_equal(r.off, 3);
    assert_int_equal(r.size, 2);
    assert_int_equal(r.first, 0);
    assert_int_equal(d[0], 0x42);
    assert_int_equal(d[1], 0);
    d[0] = 0x77;
    assert_true(bus_access(b, 0x10f, d, 1, true));
    assert_int_equal(r.writes, 1);
    assert_int_equal(r.off, 7);
    assert_int_equal(r.first, 0x77);
    assert_int_equal(b->region[0].accesses, 1);

    /* Nobody's port reads as all-ones; writes are dropped. */
    memset(d, 0, sizeof(d));
    assert_false(bus_access(b, 0x200, d, 4, false));
    assert_memory_equal(d, "\xff\xff\xff\xff\0", 5);
    assert_false(bus_access(b, 0x200, d, 4, true));
    /* An access straddling a region's end is not passed to the device. */
    memset(d, 0, sizeof(d));
    assert_false(bus_access(b, 0x116, d, 4, false));
    assert_memory_equal(d, "\xff\xff\xff\xff", 4);
    assert_int_equal(b->unclaimed, 3);
    assert_int_equal(r.reads + r.writes, 2);

    for (int i = b->n; i < BUS_MAX_REGIONS; i++)
        assert_int_equal(bus_add(b, 0x1000 + 16 * (uint64_t)i, 16, "x", &rec_ops, &r), 0);
    assert_int_equal(bus_add(b, 0x10000, 16, "full", &rec_ops, &r), -ENOSPC);
}

/* ---- serial ---------------------------------------------------------------- */

static void serial_setup(struct stub *s, struct serial *u, int out[2])
{
    assert_int_equal(pipe2(out, O_NONBLOCK | O_CLOEXEC), 0);
    struct console_io io = { .in_fd = -1, .out_fd = out[1] };
    assert_int_equal(serial_init(u, &s->h, &s->pio, io, COM1_PORT, COM1_IRQ), 0);
}

static void serial_teardown(struct serial *u, int out[2])
{
    serial_stop(u);
    close(out[0]);
    close(out[1]);
}

#define THR (COM1_PORT + 0)
#define IER (COM1_PORT + 1)
#define IIR (COM1_PORT + 2)
#define LCR (COM1_PORT + 3)
#define MCR (COM1_PORT + 4)
#define LSR (COM1_PORT + 5)
#define MSR (COM1_PORT + 6)
#define SCR (COM1_PORT + 7)

static void test_serial_tx_and_registers(void **state)
{
    struct stub *s = *state;
    struct serial u;
    int out[2];
    serial_setup(s, &u, out);
    char buf[16] = { 0 };

    assert_int_equal(in8(s, LSR), 0x60);        /* THRE | TEMT, no data */
    out8(s, THR, 'h');
    out8(s, THR, 'i');
    assert_int_equal(read(out[0], buf, sizeof(buf)), 2);
    assert_string_equal(buf, "hi");
    assert_int_equal(u.tx_bytes, 2);

    /* DLAB: ports 0 and 1 become the divisor latch; nothing is sent. */
    out8(s, IER, 0x00);
    out8(s, LCR, 0x83);
    out8(s, THR, 0x0c);
    out8(s, IER, 0x01);
    assert_int_equal(in8(s, THR), 0x0c);
    assert_int_equal(in8(s, IER), 0x01);
    assert_int_equal(in8(s, LCR), 0x83);
    out8(s, LCR, 0x03);
    assert_int_equal(in8(s, IER), 0x00);        /* IER untouched by the DLM write */
    assert_int_equal(read(out[0], buf, sizeof(buf)), -1);
    assert_int_equal(u.tx_bytes, 2);

    out8(s, SCR, 0xa5);
    assert_int_equal(in8(s, SCR), 0xa5);
    out8(s, MCR, 0xff);
    assert_int_equal(in8(s, MCR), 0x1f);
    out8(s, MCR, 0x0b);
    assert_int_equal(in8(s, MSR), 0xb0);        /* DCD, DSR, CTS */
    out8(s, LSR, 0x00);                         /* read-only */
    assert_int_equal(in8(s, LSR), 0x60);
    serial_teardown(&u, out);
}

static void test_serial_thre_interrupt(void **state)
{
    struct stub *s = *state;
    struct serial u;
    int out[2];
    serial_setup(s, &u, out);

    assert_int_equal(in8(s, IIR), 0x01);        /* nothing pending */
    assert_int_equal(s->irq[COM1_IRQ], 0);
    out8(s, IER, 0x02);                         /* enabling THRI while empty raises it */
    assert_int_equal(s->irq[COM1_IRQ], 1);
    assert_int_equal(in8(s, IIR), 0x02);        /* reading IIR acknowledges it ... */
    assert_int_equal(s->irq[COM1_IRQ], 0);
    assert_int_equal(in8(s, IIR), 0x01);
    out8(s, THR, 'x');                          /* ... and the next byte sent re-arms it */
    assert_int_equal(s->irq[COM1_IRQ], 1);
    out8(s, IER, 0x00);                         /* masked: line drops, source stays */
    assert_int_equal(s->irq[COM1_IRQ], 0);
    assert_int_equal(in8(s, IIR), 0x01);
    out8(s, IIR, 0x01);                         /* FCR: FIFO on shows in IIR */
    assert_int_equal(in8(s, IIR), 0xc1);
    serial_teardown(&u, out);
}

static void test_serial_rx(void **state)
{
    struct stub *s = *state;
    struct serial u;
    int out[2];
    serial_setup(s, &u, out);

    out8(s, IER, 0x01);
    assert_int_equal(s->irq[COM1_IRQ], 0);
    assert_int_equal(serial_input(&u, (const uint8_t *)"abc", 3), 3);
    assert_int_equal(s->irq[COM1_IRQ], 1);
    assert_int_equal(in8(s, IIR), 0x04);
    assert_int_equal(in8(s, LSR), 0x61);        /* data ready */
    assert_int_equal(in8(s, THR), 'a');
    assert_int_equal(in8(s, THR), 'b');
    assert_int_equal(s->irq[COM1_IRQ], 1);
    assert_int_equal(in8(s, THR), 'c');
    assert_int_equal(s->irq[COM1_IRQ], 0);
    assert_int_equal(in8(s, IIR), 0x01);
    assert_int_equal(in8(s, LSR), 0x60);
    assert_int_equal(in8(s, THR), 0);           /* empty FIFO */
    assert_int_equal(u.rx_bytes, 3);

    /* The FIFO holds 64 bytes; the rest is left to the caller. */
    uint8_t big[100];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)i;
    assert_int_equal(serial_input(&u, big, sizeof(big)), 64);
    assert_int_equal(serial_input(&u, big, 1), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(in8(s, THR), i);
    assert_int_equal(serial_input(&u, big + 64, 20), 10);
    for (int i = 10; i < 74; i++)
        assert_int_equal(in8(s, THR), i);
    assert_int_equal(in8(s, LSR) & 1, 0);

    /* FCR bit 1 clears the receive FIFO. */
    serial_input(&u, big, 5);
    out8(s, IIR, 0x03);
    assert_int_equal(in8(s, LSR), 0x60);
    assert_int_equal(s->irq[COM1_IRQ], 0);
    assert_int_equal(in8(s, IIR), 0xc1);
    serial_teardown(&u, out);
}

static void test_serial_loopback(void **state)
{
    struct stub *s = *state;
    struct serial u;
    int out[2];
    serial_setup(s, &u, out);
    char buf[4];

    /* Linux's autoconfig check: loop + OUT2 + RTS reads back DCD + CTS. */
    out8(s, MCR, 0x1a);
    assert_int_equal(in8(s, MSR), 0x90);
    out8(s, MCR, 0x1f);
    assert_int_equal(in8(s, MSR), 0xf0);
    out8(s, MCR, 0x10);
    assert_int_equal(in8(s, MSR), 0x00);
    out8(s, MCR, 0x11);
    assert_int_equal(in8(s, MSR), 0x20);        /* DTR -> DSR */
    /* In loopback, sent bytes come back instead of leaving. */
    out8(s, THR, 'q');
    assert_int_equal(in8(s, LSR) & 1, 1);
    assert_int_equal(in8(s, THR), 'q');
    assert_int_equal(read(out[0], buf, sizeof(buf)), -1);
    assert_int_equal(u.tx_bytes, 0);
    serial_teardown(&u, out);
}

/* ---- i8042 ----------------------------------------------------------------- */

static void test_i8042(void **state)
{
    struct stub *s = *state;
    struct i8042 k;
    assert_int_equal(i8042_init(&k, &s->h, &s->pio), 0);

    assert_int_equal(in8(s, 0x64) & 0x01, 0);   /* output buffer empty */
    out8(s, 0x64, 0xaa);                        /* controller self-test */
    assert_int_equal(in8(s, 0x64) & 0x05, 0x05);/* OBF + SYS */
    assert_int_equal(in8(s, 0x60), 0x55);
    assert_int_equal(in8(s, 0x64) & 0x01, 0);

    out8(s, 0x64, 0x20);                        /* read CTR */
    assert_int_equal(in8(s, 0x60), 0x41);       /* kbd interrupt, translation */
    out8(s, 0x64, 0x60);                        /* write CTR */
    out8(s, 0x60, 0x75);
    out8(s, 0x64, 0x20);
    assert_int_equal(in8(s, 0x60), 0x75);
    out8(s, 0x64, 0xae);                        /* enable kbd clears bit 4 */
    out8(s, 0x64, 0x20);
    assert_int_equal(in8(s, 0x60), 0x65);

    out8(s, 0x60, 0xff);                        /* keyboard reset */
    assert_int_equal(s->irq[1], 1);
    assert_int_equal(in8(s, 0x60), 0xfa);
    assert_int_equal(in8(s, 0x60), 0xaa);
    assert_int_equal(s->irq[1], 0);
    int rises = s->rises[1];
    out8(s, 0x60, 0xf2);                        /* identify */
    assert_int_equal(in8(s, 0x60), 0xfa);
    assert_int_equal(in8(s, 0x60), 0xab);
    assert_int_equal(in8(s, 0x60), 0x83);
    /* One edge per byte: the ISR reads a single byte per interrupt. */
    assert_int_equal(s->rises[1] - rises, 3);

    assert_int_equal(s->nreq, 0);
    out8(s, 0x64, 0xfe);                        /* pulse the reset line */
    assert_int_equal(s->nreq, 1);
    assert_int_equal(s->req[0], VM_REQ_REBOOT);
    out8(s, 0x64, 0xd1);                        /* output port, CPU reset bit low */
    out8(s, 0x60, 0x00);
    assert_int_equal(s->nreq, 2);
    assert_int_equal(s->req[1], VM_REQ_REBOOT);
    out8(s, 0x64, 0xd1);
    out8(s, 0x60, 0x03);
    assert_int_equal(s->nreq, 2);

    i8042_ctrl_alt_del(&k);
    assert_int_equal(s->irq[1], 1);
    static const uint8_t seq[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
    for (size_t i = 0; i < sizeof(seq); i++)
        assert_int_equal(in8(s, 0x60), seq[i]);
    assert_int_equal(s->irq[1], 0);
    assert_int_equal(in8(s, 0x64) & 0x01, 0);

    /* With the keyboard interrupt off in CTR the line stays low. */
    out8(s, 0x64, 0x60);
    out8(s, 0x60, 0x40);
    i8042_ctrl_alt_del(&k);
    assert_int_equal(s->irq[1], 0);
    assert_int_equal(in8(s, 0x64) & 0x01, 1);
    pthread_mutex_destroy(&k.lock);
}

/* ---- rtc ------------------------------------------------------------------- */

static void test_acpi_pm(void **state)
{
    struct stub *s = *state;
    struct acpi_pm pm;
    assert_int_equal(acpi_pm_init(&pm, &s->h, &s->pio), 0);
    uint8_t v[2];
    /* Enables read back what was written; ACPI mode (SCI_EN) reads as on. */
    uint8_t en[2] = { 0x20, 0x01 };
    bus_access(&s->pio, ACPI_PM1A_EVT + 2, en, 2, true);
    bus_access(&s->pio, ACPI_PM1A_EVT + 2, v, 2, false);
    assert_memory_equal(v, en, 2);
    bus_access(&s->pio, ACPI_PM1A_CNT, v, 2, false);
    assert_int_equal(v[0] & 1, 1);
    /* A reset value other than the FADT's does nothing; the right one reboots. */
    out8(s, ACPI_PM_RESET, 0x02);
    assert_int_equal(s->nreq, 0);
    out8(s, ACPI_PM_RESET, ACPI_PM_RESET_VALUE);
    assert_int_equal(s->nreq, 1);
    assert_int_equal(s->req[0], VM_REQ_REBOOT);
    /* SLP_TYP=5 | SLP_EN, as Linux writes it for S5: power off. */
    uint8_t s5[2] = { 0x00, 0x34 };
    bus_access(&s->pio, ACPI_PM1A_CNT, s5, 2, true);
    assert_int_equal(s->nreq, 2);
    assert_int_equal(s->req[1], VM_REQ_POWEROFF);
    /* The same through a byte write to the control block's high byte. */
    out8(s, ACPI_PM1A_CNT + 1, 0x34);
    assert_int_equal(s->nreq, 3);
    assert_int_equal(s->req[2], VM_REQ_POWEROFF);
}

static uint8_t cmos(struct stub *s, uint8_t reg)
{
    out8(s, 0x70, reg);
    return in8(s, 0x71);
}

static int from_bcd(uint8_t v)
{
    assert_true((v & 0x0f) <= 9 && (v >> 4) <= 9);
    return (v >> 4) * 10 + (v & 0x0f);
}

static void test_rtc(void **state)
{
    struct stub *s = *state;
    struct rtc r;
    assert_int_equal(rtc_init(&r, &s->pio), 0);

    assert_int_equal(cmos(s, 0x0d), 0x80);      /* battery good */
    assert_int_equal(cmos(s, 0x8d), 0x80);      /* NMI-mask bit ignored */
    assert_int_equal(cmos(s, 0x0a), 0x26);
    assert_int_equal(cmos(s, 0x0b), 0x02);      /* 24 h, BCD */

    /* The time in BCD; retried if a second boundary passes mid-read. */
    bool checked = false;
    for (int tries = 0; tries < 5 && !checked; tries++) {
        time_t t0 = time(NULL);
        uint8_t v[10];
        for (int i = 0; i < 10; i++)
            v[i] = cmos(s, (uint8_t)i);
        uint8_t cent = cmos(s, 0x32);
        if (time(NULL) != t0)
            continue;
        struct tm tm;
        gmtime_r(&t0, &tm);
        assert_int_equal(from_bcd(v[0]), tm.tm_sec);
        assert_int_equal(from_bcd(v[2]), tm.tm_min);
        assert_int_equal(from_bcd(v[4]), tm.tm_hour);
        assert_int_equal(from_bcd(v[6]), tm.tm_wday + 1);
        assert_int_equal(from_bcd(v[7]), tm.tm_mday);
        assert_int_equal(from_bcd(v[8]), tm.tm_mon + 1);
        assert_int_equal(from_bcd(v[9]) + 100 * from_bcd(cent), tm.tm_year + 1900);
        checked = true;
    }
    assert_true(checked);

    /* The guest may not set the clock, only CMOS RAM. */
    out8(s, 0x70, 0x09);
    out8(s, 0x71, 0x99);
    out8(s, 0x70, 0x32);
    out8(s, 0x71, 0x42);
    out8(s, 0x70, 0x0d);
    out8(s, 0x71, 0x00);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    assert_int_equal(from_bcd(cmos(s, 0x09)), tm.tm_year % 100);
    assert_int_equal(from_bcd(cmos(s, 0x32)), (tm.tm_year + 1900) / 100);
    assert_int_equal(cmos(s, 0x0d), 0x80);
    out8(s, 0x70, 0x40);
    out8(s, 0x71, 0x12);
    assert_int_equal(cmos(s, 0x40), 0x12);
    out8(s, 0x70, 0x7f);
    out8(s, 0x71, 0x34);
    assert_int_equal(cmos(s, 0xff), 0x34);

    /* Register B bit 2: binary mode; the 24-hour bit cannot be cleared. */
    out8(s, 0x70, 0x0b);
    out8(s, 0x71, 0x04);
    assert_int_equal(cmos(s, 0x0b), 0x06);
    assert_int_equal(cmos(s, 0x09), tm.tm_year % 100);
    assert_true(cmos(s, 0x00) < 60);
    assert_int_equal(cmos(s, 0x32), (tm.tm_year + 1900) / 100);
    out8(s, 0x70, 0x0b);
    out8(s, 0x71, 0xf9);
    assert_int_equal(cmos(s, 0x0b), 0x02);
    pthread_mutex_destroy(&r.lock);
}

/* ---- hcall ----------------------------------------------------------------- */

struct hreq { uint32_t op; int32_t status; uint64_t arg0, arg1, result; };
#define BLOCK 0x1000

static struct hreq hcall(struct stub *s, uint32_t op, uint64_t arg0, uint64_t arg1)
{
    struct hreq rq = { .op = op, .status = 12345, .arg0 = arg0, .arg1 = arg1, .result = 777 };
    memcpy(s->ram + BLOCK, &rq, sizeof(rq));
    out32(s, HCALL_PORT, BLOCK);
    memcpy(&rq, s->ram + BLOCK, sizeof(rq));
    return rq;
}

/* Captures stderr (the host log) between capture_start() and capture_end(). */
static int saved_stderr = -1, cap_pipe[2];
static void capture_start(void)
{
    assert_int_equal(pipe2(cap_pipe, O_NONBLOCK | O_CLOEXEC), 0);
    saved_stderr = dup(STDERR_FILENO);
    dup2(cap_pipe[1], STDERR_FILENO);
}
static void capture_end(char *buf, size_t cap)
{
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    ssize_t n = read(cap_pipe[0], buf, cap - 1);
    buf[n > 0 ? n : 0] = 0;
    close(cap_pipe[0]);
    close(cap_pipe[1]);
}

static void test_hcall(void **state)
{
    struct stub *s = *state;
    struct hcall hc;
    char log[4096];
    assert_int_equal(hcall_init(&hc, &s->h, &s->pio), 0);

    assert_int_equal(in32(s, HCALL_PORT), 0x4c525243);
    assert_memory_equal(&(uint32_t){ in32(s, HCALL_PORT) }, "CRRL", 4);
    assert_int_equal(in8(s, HCALL_PORT), 0);        /* only a 32-bit read signs */
    assert_int_equal(in32(s, HCALL_PORT + 4), 0);

    struct hreq r = hcall(s, 0, 0, 0);
    assert_int_equal(r.status, 0);
    assert_true(r.result == 1);
    assert_int_equal(hc.calls, 1);

    memcpy(s->ram + 0x2000, "hello\tworld\x01", 12);
    capture_start();
    r = hcall(s, 1, 0x2000, 12);
    capture_end(log, sizeof(log));
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(log, "guest: hello?world?\n"));

    assert_int_equal(hcall(s, 1, RAM_SIZE - 4, 8).status, -EFAULT);
    assert_int_equal(hcall(s, 1, UINT64_MAX, 1).status, -EFAULT);
    assert_int_equal(hcall(s, 1, 0x2000, 1025).status, -EINVAL);
    capture_start();
    assert_int_equal(hcall(s, 1, 0x2000, 1024).status, 0);
    capture_end(log, sizeof(log));
    assert_non_null(strstr(log, "guest: hello"));

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    r = hcall(s, 2, 0, 0);
    assert_int_equal(r.status, 0);
    assert_true(r.result >= now && r.result - now < 5000000000ULL);

    r = hcall(s, 3, 0xabc, 0x123456789ULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(s->nreports, 1);
    assert_true(s->report_key[0] == 0xabc && s->report_val[0] == 0x123456789ULL);

    r = hcall(s, 99, 0, 0);
    assert_int_equal(r.status, -ENOSYS);
    assert_true(r.result == 777);
    assert_int_equal(hcall(s, 0xffffffff, 0, 0).status, -38);

    /* Blocks that are misaligned or not wholly in RAM are ignored. */
    uint64_t calls = hc.calls;
    struct hreq blk = { .op = 0, .status = 5 };
    memcpy(s->ram + BLOCK + 4, &blk, sizeof(blk));
    out32(s, HCALL_PORT, BLOCK + 4);
    assert_memory_equal(s->ram + BLOCK + 4, &blk, sizeof(blk));
    out32(s, HCALL_PORT, RAM_SIZE - 16);
    out32(s, HCALL_PORT, RAM_SIZE);
    out32(s, HCALL_PORT, 0xfffffff8);
    uint16_t w = BLOCK;
    bus_access(&s->pio, HCALL_PORT, (uint8_t *)&w, 2, true); /* not a 32-bit out */
    assert_int_equal(hc.calls, calls);

    assert_int_equal(hcall(s, 4, 0, 0).status, 0);
    assert_int_equal(hcall(s, 5, 0, 0).status, 0);
    assert_int_equal(s->nreq, 2);
    assert_int_equal(s->req[0], VM_REQ_POWEROFF);
    assert_int_equal(s->req[1], VM_REQ_REBOOT);

    /* The debug byte port logs whole lines; overlong lines are split. */
    capture_start();
    for (const char *p = "early\x7f"; *p; p++)
        out8(s, HCALL_PORT + 4, (uint8_t)*p);
    capture_end(log, sizeof(log));
    assert_string_equal(log, "");
    capture_start();
    out8(s, HCALL_PORT + 4, '\n');
    for (int i = 0; i < 300; i++)
        out8(s, HCALL_PORT + 4, 'z');
    out8(s, HCALL_PORT + 4, '\n');
    capture_end(log, sizeof(log));
    char z[301], want[600];
    memset(z, 'z', 300);
    z[300] = 0;
    snprintf(want, sizeof(want), "corral: guest: early?\ncorral: guest: %.256s\ncorral: guest: %.44s\n", z, z);
    assert_string_equal(log, want);
    pthread_mutex_destroy(&hc.lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serial_tx_and_registers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serial_thre_interrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serial_rx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serial_loopback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_i8042, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rtc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acpi_pm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hcall, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
