/* engine — how corrald runs a VM: one engine process per VM, `corral-vmm`
 * (engine "kvm", hardware-assisted KVM) or `qemu-system-x86_64` (engine
 * "qemu", KVM where usable, else TCG binary translation), behind one small
 * interface.
 *
 * A VM process never depends on corrald's: engine_spawn() double-forks it
 * into its own session, so a killed corrald leaves it running.  What
 * corrald needs to find it again is a `struct vm_handle` (pid, the pid's
 * start time so a reused pid is never mistaken for it, the control and
 * serial console paths), which the caller stores in the database; after a
 * restart engine_alive() checks it against /proc and the other calls
 * reconnect to the control socket (QMP for qemu, docs/vmm-api.md for kvm).
 *
 * Every call is synchronous and thread-safe; errors via fail(). */
#ifndef CORRAL_ENGINE_H
#define CORRAL_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct json_object;

enum vm_engine { ENGINE_AUTO, ENGINE_KVM, ENGINE_QEMU };
const char *engine_name(enum vm_engine e);
int engine_parse(const char *s, enum vm_engine *out);   /* "auto", "kvm", "qemu" */

#define VM_MAX_DISKS 8
#define VM_MAX_NICS 4
#define VM_PATH_MAX 1200

struct vm_spec {
    const char *name;
    enum vm_engine engine;       /* resolved: KVM or QEMU */
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
    const char *dir;             /* the VM's run directory: sockets and engine.log */
    uint32_t uid;                /* kvm: the engine runs as uid = gid = this, chrooted
                                  * into DIR/jail once its files are open (0: as root) */
};
/* The kvm engine's uid of VM number ID: one per VM, far from the uids of
 * people and of user-namespace ranges, so one engine cannot signal another. */
#define VM_ENGINE_UID(id) (0x60000000u + (uint32_t)(id))

struct vm_handle {
    enum vm_engine engine;
    pid_t pid;
    uint64_t start_time;         /* /proc/PID/stat field 22 */
    char control[108];           /* QMP or corral-vmm API socket */
    char console[108];           /* qemu: a Unix socket; kvm: a pty */
};

/* Where the engine binaries are: corral-vmm from --vmm or next to corrald,
 * qemu-system-x86_64 from PATH.  Called once at start. */
void engine_setup(const char *vmm_path);
/* What `auto` means here and why; the host resource shows it. */
enum vm_engine engine_auto(void);
struct json_object *engine_describe(void);
/* Whether a KVM-accelerated engine can run here (else qemu uses TCG). */
bool engine_hw_kvm(void);

/* Spawns the engine: on success out holds its pid and start time, which the
 * caller records at once (a corrald killed before the engine is ready can
 * then find it again), then calls engine_ready(). */
int engine_spawn(const struct vm_spec *spec, struct vm_handle *out);
/* Waits up to timeout_ms until the engine's control socket answers (dir is
 * the VM's run directory; fills the handle's console).  On failure the
 * engine is killed and the message includes its last log lines. */
int engine_ready(const char *dir, struct vm_handle *h, int timeout_ms);
bool engine_alive(const struct vm_handle *h);
/* Hard stop: the engine's quit command, then SIGKILL; returns once gone. */
int engine_stop(const struct vm_handle *h);
/* Asks the guest to power off (ACPI power button / Ctrl-Alt-Del). */
int engine_powerdown(const struct vm_handle *h);
int engine_pause(const struct vm_handle *h);
int engine_resume(const struct vm_handle *h);
/* "running" or "paused" (into buf). */
int engine_status(const struct vm_handle *h, char *buf, size_t len);
/* A connected fd to the guest's serial port (bytes both ways). */
int engine_console(const struct vm_handle *h);
/* What the engine process has used: CPU time (user + system) and resident
 * memory (guest RAM it touched plus its own). */
int engine_usage(const struct vm_handle *h, double *cpu_seconds, uint64_t *rss_bytes);
/* Waits until the process is gone or timeout_ms passes: true if gone. */
bool engine_wait_gone(const struct vm_handle *h, int timeout_ms);

#endif
