/* What the driver files share: the drivers' context, the three drivers'
 * operations, and for the two VM engines (vm_qemu.c, vm_kvm.c) what vm.c
 * needs of each: its command line, when it is ready, its control commands
 * and its console.  Private to src/driver. */
#ifndef CORRAL_DRIVER_IMPL_H
#define CORRAL_DRIVER_IMPL_H

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>

#include "driver/driver.h"

struct drivers {
    const struct driver_ops *ops[DRIVER_COUNT];
    char vmm_bin[PATH_MAX];      /* corral-vmm; "" if not found */
    char qemu_bin[PATH_MAX];     /* qemu-system-x86_64; "" if not installed */
    char oci_root[PATH_MAX];     /* the container runtime's state root */
    char keeper_bin[PATH_MAX];   /* corrald-ct, next to corrald; "" if not found */
    const char *kvm_kind;        /* "hw", "pvm", "none", "other" (scripts/kvm-kind.sh) */
    const char *kvm_why;
};
extern const struct driver_ops driver_vm_ops, driver_oci_ops;

/* The keeper of one container (keeper.c, the program corrald-ct): it gets
 * its report socket as fd KEEPER_REPORT_FD, creates the container, puts
 * the pty master on fd KEEPER_MASTER_FD, sends one report and stays until
 * the container's init is gone. */
#define KEEPER_REPORT_FD 3
#define KEEPER_MASTER_FD 4
#define KEEPER_READY_MS 30000
struct keeper_report {
    int rc;                      /* 0 or a negative errno */
    pid_t keeper, pid;           /* its own pid, the init's */
    char msg[480];               /* rc < 0: why */
};

#define ARGV_MAX 96
struct argv {
    char *v[ARGV_MAX];           /* NULL-terminated */
    int n;
    bool overflow;
};
void argv_add(struct argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void argv_free(struct argv *a);

enum engine_cmd { ENGINE_CMD_QUIT, ENGINE_CMD_POWERDOWN, ENGINE_CMD_PAUSE, ENGINE_CMD_RESUME,
                  ENGINE_CMD_STATUS };

struct engine_ops {
    int (*argv)(const struct drivers *d, const struct guest_spec *spec, const struct guest_handle *h,
                struct argv *out);
    /* 0 once the control socket answers (may fill the handle's console);
     * dir is the VM's run directory.  Polled: used for an engine that
     * tells no readiness (ready_pipe false) or one re-adopted. */
    int (*ready)(const char *dir, struct guest_handle *h);
    /* ENGINE_CMD_STATUS writes "running" or "paused" into buf. */
    int (*command)(const struct guest_handle *h, enum engine_cmd c, char *buf, size_t len);
    int (*console)(const struct guest_handle *h);
    /* The engine writes a readiness line on the pipe whose write end it
     * gets as fd spec->ready_fd (corral-vmm's --ready-fd) */
    bool ready_pipe;
};
extern const struct engine_ops engine_qemu_ops, engine_kvm_ops;
/* The empty root-owned directory SPEC's engine chroots into once it has
 * opened every file it needs (kernel, disks, taps, sockets): DIR/jail. */
int engine_jail(const struct guest_spec *spec, char *out, size_t len);

/* One JSON object per line over a Unix socket (QMP, corral-vmm's API). */
int jsonl_connect(const char *path);
int jsonl_send(int fd, struct json_object *o);
int jsonl_recv(int fd, struct json_object **out, int timeout_ms);

#endif
