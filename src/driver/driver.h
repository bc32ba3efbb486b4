/* driver — what runs a guest, behind one interface: corral-vmm (driver
 * "kvm", hardware-assisted KVM), qemu-system-x86_64 (driver "qemu", KVM
 * where usable, else TCG) for VMs, and the corral-oci library (driver
 * "oci") for containers.
 *
 * A guest's process never depends on corrald's: driver_spawn() starts it
 * detached in its own session (a VM's engine, or a container's keeper: a
 * small process that holds the container's terminal and reaps its init),
 * so a killed corrald leaves it running.  What corrald needs to find it
 * again is a `struct guest_handle` (the process's pid and start time, so a
 * reused pid is never mistaken for it, and where to reach it), which the
 * caller stores in its database; after a restart driver_alive() checks it
 * against /proc and the other calls reconnect (QMP for qemu,
 * docs/vmm-api.md for kvm, the runtime's state for oci).
 *
 * Starting is spawn, then ready: between the two the guest exists but does
 * not run yet (a VM's engine is still starting; a container is "created"),
 * which is where the caller plumbs what needs its process (a container's
 * veth).  Snapshot, restore and migrate are further operations of
 * struct driver_ops when they come; a driver without one returns
 * -EOPNOTSUPP from it.
 *
 * Every call is synchronous and thread-safe; errors via fail(). */
#ifndef CORRAL_DRIVER_H
#define CORRAL_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct json_object;

enum driver_id { DRIVER_KVM, DRIVER_QEMU, DRIVER_OCI, DRIVER_COUNT };
const char *driver_name(enum driver_id d);
/* "kvm", "qemu" or "oci"; -EINVAL for anything else. */
int driver_parse(const char *s, enum driver_id *out);

/* A VM's configured engine: auto picks kvm where it can run, else qemu. */
enum vm_engine { ENGINE_AUTO, ENGINE_KVM, ENGINE_QEMU };
const char *engine_name(enum vm_engine e);
int engine_parse(const char *s, enum vm_engine *out);   /* "auto", "kvm", "qemu" */

#define VM_MAX_DISKS 8
#define VM_MAX_NICS 4
#define VM_PATH_MAX 1200

/* What to start.  The caller fills the part of its driver. */
struct guest_spec {
    enum driver_id driver;
    const char *name;
    const char *dir;             /* the guest's run directory: sockets and logs */

    /* VMs (kvm, qemu) */
    int vcpus;
    uint64_t memory;             /* bytes */
    const char *kernel, *initrd, *cmdline;   /* kernel NULL: boot disks[0] */
    /* The kernel and initrd, opened (and checked) by the caller; -1: none.
     * The engine inherits them and reads these, never kernel/initrd by
     * path again (those then only name them in messages). */
    int kernel_fd, initrd_fd;
    struct { char path[VM_PATH_MAX]; const char *format; } disks[VM_MAX_DISKS];
    int ndisks;
    struct { char tap[16]; char mac[18]; } nics[VM_MAX_NICS];
    int nnics;
    uint32_t uid;                /* kvm: the engine runs as uid = gid = this, chrooted
                                  * into DIR/jail once its files are open (0: as root) */
    int ready_fd;                /* set by the driver: the engine's fd number for its
                                  * readiness line (kvm: --ready-fd), 0 if none */

    /* Containers (oci) */
    char id[64];                 /* its id in the runtime's state root */
    char bundle[VM_PATH_MAX];    /* an OCI bundle: config.json and the rootfs */
};
/* The kvm engine's uid of VM number ID: one per VM, far from the uids of
 * people and of user-namespace ranges, so one engine cannot signal another. */
#define VM_ENGINE_UID(id) (0x60000000u + (uint32_t)(id))

/* What finds a started guest again; stored by the caller. */
struct guest_handle {
    enum driver_id driver;
    pid_t pid;                   /* the engine, or the container's keeper */
    uint64_t start_time;         /* its /proc/PID/stat field 22 */
    pid_t init;                  /* oci: the container's init (host view) */
    char control[108];           /* kvm, qemu: the control socket; oci: the container's id */
    char console[108];           /* qemu: a Unix socket; kvm: a pty */
    bool ready_pipe;             /* kvm, from spawn until ready or release: */
    int ready_fd;                /* the read end of the engine's readiness pipe */
};

/* A command run in a guest without a terminal (driver_exec). */
struct guest_exec {
    char **argv, **env;          /* NULL-terminated; env NULL: the guest's own */
    int timeout_s;               /* then it is killed and -ETIMEDOUT returned */
    size_t cap;                  /* at most this much output is kept */
    const char *dir;             /* a directory of the caller's for scratch files */
};

/* What each driver implements; the dispatching driver_*() calls below are
 * what callers use.  Tests replace a driver with a fake one
 * (drivers_replace). */
struct drivers;
struct driver_ops {
    int (*spawn)(const struct drivers *d, const struct guest_spec *spec, struct guest_handle *out);
    int (*ready)(const struct drivers *d, const struct guest_spec *spec, struct guest_handle *h, int timeout_ms);
    bool (*alive)(const struct drivers *d, const struct guest_handle *h);
    int (*status)(const struct drivers *d, const struct guest_handle *h, char *buf, size_t len);
    int (*stop)(const struct drivers *d, const struct guest_handle *h, int timeout_ms);
    int (*kill)(const struct drivers *d, const struct guest_handle *h);
    int (*powerdown)(const struct drivers *d, const struct guest_handle *h);
    int (*pause)(const struct drivers *d, const struct guest_handle *h, bool paused);
    int (*console)(const struct drivers *d, const struct guest_handle *h);
    int (*usage)(const struct drivers *d, const struct guest_handle *h, double *cpu_seconds, int64_t *memory);
    int (*exec)(const struct drivers *d, const struct guest_handle *h, const struct guest_exec *x, int *status,
                char **output);
    void (*release)(const struct drivers *d, const struct guest_handle *h);
};

/* The drivers of one corrald: corral-vmm from VMM_PATH (NULL: next to
 * corrald's own binary), qemu-system-x86_64 from PATH, the container
 * runtime's state under OCI_ROOT. */
int drivers_new(const char *vmm_path, const char *oci_root, struct drivers **out);
void drivers_free(struct drivers *d);
void drivers_replace(struct drivers *d, enum driver_id id, const struct driver_ops *ops);
/* Which driver runs a VM configured with engine E here ("auto" resolved). */
enum driver_id drivers_vm(const struct drivers *d, enum vm_engine e);
/* What each VM engine can do here and why; the host resource shows it. */
struct json_object *drivers_describe(const struct drivers *d);
/* Whether a KVM-accelerated engine can run here (else qemu uses TCG). */
bool drivers_hw_kvm(const struct drivers *d);

/* Starts the guest's process: on success out holds its pid and start time,
 * which the caller records at once (a corrald killed before it is ready
 * can then find it again), then calls driver_ready(). */
int driver_spawn(const struct drivers *d, const struct guest_spec *spec, struct guest_handle *out);
/* Lets it run: waits up to timeout_ms for a VM's control socket (and fills
 * the console), starts a created container.  On failure the process is
 * stopped and the message says why (a VM's last log lines). */
int driver_ready(const struct drivers *d, const struct guest_spec *spec, struct guest_handle *h, int timeout_ms);
/* Whether the guest still runs (running or paused). */
bool driver_alive(const struct drivers *d, const struct guest_handle *h);
/* "running" or "paused" into buf. */
int driver_status(const struct drivers *d, const struct guest_handle *h, char *buf, size_t len);
/* Ends it, returning once it is gone: a container's processes get SIGTERM
 * and up to timeout_ms before SIGKILL; a VM's engine quits at once. */
int driver_stop(const struct drivers *d, const struct guest_handle *h, int timeout_ms);
int driver_kill(const struct drivers *d, const struct guest_handle *h);
/* Asks the guest to power off (ACPI power button); oci: -EOPNOTSUPP. */
int driver_powerdown(const struct drivers *d, const struct guest_handle *h);
int driver_pause(const struct drivers *d, const struct guest_handle *h, bool paused);
/* A connected fd to the guest's console (bytes both ways). */
int driver_console(const struct drivers *d, const struct guest_handle *h);
/* What it has used: CPU time (user + system) and memory (a VM engine's
 * resident set, a container's cgroup); -1 for a figure it cannot read. */
int driver_usage(const struct drivers *d, const struct guest_handle *h, double *cpu_seconds, int64_t *memory);
/* Runs x->argv in the guest: its exit status and up to x->cap bytes of
 * stdout+stderr (malloc'd, NUL-terminated).  VMs: -EOPNOTSUPP (no guest
 * agent yet). */
int driver_exec(const struct drivers *d, const struct guest_handle *h, const struct guest_exec *x, int *status,
                char **output);
/* Forgets what the driver kept of a stopped guest (a container's runtime
 * state and cgroups).  Also for a handle whose spawn failed half-way. */
void driver_release(const struct drivers *d, const struct guest_handle *h);
/* Waits until the guest's process is gone or timeout_ms passes: true if gone. */
bool driver_wait_gone(const struct drivers *d, const struct guest_handle *h, int timeout_ms);

#endif
