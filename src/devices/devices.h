/* devices — how emulated hardware plugs into a VM, and the legacy PC devices
 * a fully-virtualized guest expects (8250 UART, i8042, CMOS RTC) plus
 * corral's hypercall port.
 *
 * A device fills a struct io_ops and calls bus_add() for the port or MMIO
 * range it decodes; a vCPU thread that traps on an access calls
 * bus_access(), which finds the device.  Adding a device touches no central
 * switch.  Devices reach the rest of the VM (guest memory, interrupts, the
 * I/O loop, power requests) only through struct dev_host, which the VMM
 * implements with KVM and tests implement with stubs.
 *
 * Each device keeps its guest-visible registers in a plain `*_state` struct
 * with no pointers, so it can be saved and restored as bytes.
 */
#ifndef CORRAL_DEVICES_H
#define CORRAL_DEVICES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mem/mem.h"
#include "util/util.h"

/* Each device's snapshot state (docs/snapshot-format.md lists the fields):
 * X_save() appends its guest-visible registers to the open section of a
 * snap_writer; X_load() reads them back from a cursor, refuses values the
 * device could never have held (an index past its FIFO, a line longer than
 * its buffer), applies them and drives its interrupt line to match.  Loads
 * run before the vCPUs start. */
struct snap_writer;
struct snap_cursor;

/* ---- the bus ----------------------------------------------------------- */

struct io_ops {
    void (*read)(void *opaque, uint64_t offset, uint8_t *data, unsigned size);
    void (*write)(void *opaque, uint64_t offset, const uint8_t *data, unsigned size);
};

struct bus_region {
    uint64_t base, len;
    const char *name;
    const struct io_ops *ops;
    void *opaque;
    atomic_uint_fast64_t accesses;
};

#define BUS_MAX_REGIONS 64

struct bus {
    struct bus_region region[BUS_MAX_REGIONS];
    int n;
    atomic_uint_fast64_t unclaimed; /* accesses no device decoded */
};

/* Regions may not overlap; returns 0 or -EEXIST/-ENOSPC via fail(). */
int bus_add(struct bus *b, uint64_t base, uint64_t len, const char *name,
            const struct io_ops *ops, void *opaque);
/* Dispatches one access of 1..8 bytes.  An access nobody claims reads as
 * all-ones and is otherwise ignored; returns whether a device claimed it. */
bool bus_access(struct bus *b, uint64_t addr, uint8_t *data, unsigned size, bool is_write);

/* ---- what devices may ask of the VM ---------------------------------- */

enum vm_request {
    VM_REQ_NONE = 0,
    VM_REQ_POWEROFF,  /* guest asked to power off: exit 0 */
    VM_REQ_REBOOT,    /* guest asked to reset: restart or exit 0 */
    VM_REQ_STOP,      /* host asked to stop now */
    VM_REQ_CRASH,     /* triple fault / emulation failure: exit 3 */
};

struct dev_host {
    struct guest_mem *mem;
    struct evloop *loop;
    void *opaque;
    /* Drives an interrupt line (in-kernel IOAPIC/PIC). */
    void (*set_irq)(struct dev_host *h, unsigned gsi, int level);
    /* Binds eventfd `fd` so that writing it injects edge interrupt `gsi`. */
    int (*irqfd)(struct dev_host *h, int fd, unsigned gsi);
    /* Makes a guest write of `len` bytes of `match` to MMIO `addr` signal `fd`
     * without a trip through user space. */
    int (*ioeventfd)(struct dev_host *h, int fd, uint64_t addr, unsigned len, uint64_t match);
    void (*request)(struct dev_host *h, enum vm_request req);
    /* Records a value a guest reported through the hypercall channel. */
    void (*report)(struct dev_host *h, uint64_t key, uint64_t value);
};

/* ---- console endpoints ------------------------------------------------- */

/* Where a console's bytes go and come from: stdio, a pty, a file or nothing.
 * in_fd < 0 means no input; out_fd < 0 means output is dropped. */
struct console_io {
    int in_fd;
    int out_fd;
};

/* ---- legacy devices ---------------------------------------------------- */

#define COM1_PORT 0x3f8
#define COM1_IRQ 4

struct serial_state {
    uint8_t ier, iir_pending, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
    uint8_t rx[64];
    uint8_t rx_head, rx_count;
    bool thr_irq;     /* THR-empty interrupt pending until IIR read / THR write */
};

struct serial {
    struct serial_state s;
    pthread_mutex_t lock;
    struct dev_host *host;
    struct console_io io;
    unsigned irq;
    bool input_enabled;
    atomic_uint_fast64_t tx_bytes, rx_bytes;
};

int serial_init(struct serial *s, struct dev_host *host, struct bus *pio,
                struct console_io io, uint16_t port, unsigned irq);
void serial_stop(struct serial *s);
/* Queues host input; returns how many bytes fit in the receive FIFO. */
size_t serial_input(struct serial *s, const uint8_t *buf, size_t len);
void serial_save(struct serial *s, struct snap_writer *w);
int serial_load(struct serial *s, struct snap_cursor *c);

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64

struct i8042_state {
    uint8_t status, ctr, cmd, outport;
    uint8_t buf[16];
    uint8_t head, count;
};

struct i8042 {
    struct i8042_state s;
    pthread_mutex_t lock;
    struct dev_host *host;
};

int i8042_init(struct i8042 *k, struct dev_host *host, struct bus *pio);
/* Types Ctrl-Alt-Del on the keyboard: a Linux guest starts a clean reboot
 * or shutdown, as init is configured to. */
void i8042_ctrl_alt_del(struct i8042 *k);
void i8042_save(struct i8042 *k, struct snap_writer *w);
int i8042_load(struct i8042 *k, struct snap_cursor *c);

struct rtc_state {
    uint8_t index;
    uint8_t ram[128];
};

struct rtc {
    struct rtc_state s;
    pthread_mutex_t lock;
};

int rtc_init(struct rtc *r, struct bus *pio);
void rtc_save(struct rtc *r, struct snap_writer *w);
int rtc_load(struct rtc *r, struct snap_cursor *c);

/* ACPI power management (the FADT points here): the PM1a event block
 * (status, enable), the PM1a control block, where writing SLP_EN powers off
 * (S5 is the only sleep state offered), and the reset register.  SCI_IRQ is
 * reserved for ACPI; no device raises it. */
#define ACPI_PM_PORT 0x600
#define ACPI_PM1A_EVT (ACPI_PM_PORT + 0)
#define ACPI_PM1A_CNT (ACPI_PM_PORT + 4)
#define ACPI_PM_RESET (ACPI_PM_PORT + 8)
#define ACPI_PM_LEN 9
#define ACPI_PM_RESET_VALUE 0x01
#define ACPI_SCI_IRQ 9

struct acpi_pm_state {
    uint16_t pm1_en;   /* event enables: kept, never fire */
    uint16_t pm1_cnt;  /* control bits other than SLP_EN */
};

struct acpi_pm {
    struct acpi_pm_state s;
    pthread_mutex_t lock;
    struct dev_host *host;
};

int acpi_pm_init(struct acpi_pm *pm, struct dev_host *host, struct bus *pio);
void acpi_pm_save(struct acpi_pm *pm, struct snap_writer *w);
int acpi_pm_load(struct acpi_pm *pm, struct snap_cursor *c);

/* The hypercall channel: see docs/guest-abi.md. */
#define HCALL_PORT 0x0ca0
#define HCALL_PORT_LEN 8

struct hcall {
    struct dev_host *host;
    pthread_mutex_t lock;
    char line[256];
    unsigned line_len;
    atomic_uint_fast64_t calls;
};

int hcall_init(struct hcall *hc, struct dev_host *host, struct bus *pio);
void hcall_save(struct hcall *hc, struct snap_writer *w);
int hcall_load(struct hcall *hc, struct snap_cursor *c);

#endif
