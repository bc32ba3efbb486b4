/* The drivers' context (which engines this host has and why) and the
 * calls that dispatch to the driver of a handle. */
#include "driver/driver_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc/proc.h"
#include "util/util.h"

static const char *const driver_names[DRIVER_COUNT] = { "kvm", "qemu", "oci" };
static const char *const engine_names[] = { "auto", "kvm", "qemu" };

const char *driver_name(enum driver_id d) { return d < DRIVER_COUNT ? driver_names[d] : "unknown"; }
const char *engine_name(enum vm_engine e) { return engine_names[e]; }

static int parse(const char *s, const char *const *names, int n, int *out)
{
    for (int i = 0; s && i < n; i++)
        if (!strcmp(s, names[i])) {
            *out = i;
            return 0;
        }
    return -EINVAL;
}

int driver_parse(const char *s, enum driver_id *out)
{
    int i, r = parse(s, driver_names, DRIVER_COUNT, &i);
    if (r < 0)
        return fail(EINVAL, "driver must be kvm, qemu or oci");
    *out = (enum driver_id)i;
    return 0;
}

int engine_parse(const char *s, enum vm_engine *out)
{
    int i, r = parse(s, engine_names, 3, &i);
    if (r < 0)
        return fail(EINVAL, "engine must be auto, kvm or qemu");
    *out = (enum vm_engine)i;
    return 0;
}

/* The same classification as scripts/kvm-kind.sh. */
static const char *kvm_kind(const char **why)
{
    if (access("/dev/kvm", R_OK | W_OK) < 0) {
        *why = "no usable /dev/kvm (load kvm-intel or kvm-amd, or enable virtualization in the firmware)";
        return "none";
    }
    struct stat st;
    if (stat("/sys/module/kvm_pvm", &st) == 0) {
        *why = "/dev/kvm is the paravirtual kvm_pvm module: guest ring 0 is emulated, too slow for stock Linux";
        return "pvm";
    }
    char cpuinfo[8192];    /* the first CPU's flags are enough */
    _cleanup_close_ int fd = open("/proc/cpuinfo", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read_full(fd, cpuinfo, sizeof(cpuinfo) - 1);
    cpuinfo[n > 0 ? n : 0] = 0;
    if (strstr(cpuinfo, " vmx") || strstr(cpuinfo, " svm")) {
        *why = "hardware-assisted /dev/kvm (VT-x/AMD-V)";
        return "hw";
    }
    *why = "/dev/kvm exists but the CPU shows no vmx/svm flags";
    return "other";
}

int drivers_new(const char *vmm_path, const char *oci_root, struct drivers **out)
{
    struct drivers *d = calloc(1, sizeof(*d));
    if (!d)
        return fail(ENOMEM, "out of memory");
    d->ops[DRIVER_KVM] = d->ops[DRIVER_QEMU] = &driver_vm_ops;
    d->ops[DRIVER_OCI] = &driver_oci_ops;
    /* corral-vmm and the keeper sit next to corrald's own binary. */
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = 0;
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = 0;
    if (vmm_path)
        snprintf(d->vmm_bin, sizeof(d->vmm_bin), "%s", vmm_path);
    else
        snprintf(d->vmm_bin, sizeof(d->vmm_bin), "%.*s/corral-vmm", PATH_MAX - 16, self);
    snprintf(d->keeper_bin, sizeof(d->keeper_bin), "%.*s/corrald-ct", PATH_MAX - 16, self);
    if (access(d->vmm_bin, X_OK) < 0)
        d->vmm_bin[0] = 0;
    if (access(d->keeper_bin, X_OK) < 0) {
        log_warn("%s is missing: containers cannot start", d->keeper_bin);
        d->keeper_bin[0] = 0;
    }
    proc_find("qemu-system-x86_64", d->qemu_bin, sizeof(d->qemu_bin));
    snprintf(d->oci_root, sizeof(d->oci_root), "%s", oci_root ? oci_root : "");
    d->kvm_kind = kvm_kind(&d->kvm_why);
    *out = d;
    return 0;
}

void drivers_free(struct drivers *d) { free(d); }

void drivers_replace(struct drivers *d, enum driver_id id, const struct driver_ops *ops) { d->ops[id] = ops; }

bool drivers_hw_kvm(const struct drivers *d) { return !strcmp(d->kvm_kind, "hw"); }

enum driver_id drivers_vm(const struct drivers *d, enum vm_engine e)
{
    if (e == ENGINE_AUTO)
        return drivers_hw_kvm(d) && d->vmm_bin[0] ? DRIVER_KVM : DRIVER_QEMU;
    return e == ENGINE_KVM ? DRIVER_KVM : DRIVER_QEMU;
}

static struct json_object *engine_obj(bool ok, const char *why)
{
    struct json_object *e = json_object_new_object();
    json_object_object_add(e, "available", json_object_new_boolean(ok));
    json_object_object_add(e, "reason", json_object_new_string(why));
    return e;
}

struct json_object *drivers_describe(const struct drivers *d)
{
    bool hw = drivers_hw_kvm(d);
    char kwhy[PATH_MAX + 300], qwhy[PATH_MAX + 100];
    if (hw && !d->vmm_bin[0])
        snprintf(kwhy, sizeof(kwhy), "%s, but corral-vmm was not found (give corrald --vmm PATH)", d->kvm_why);
    else
        snprintf(kwhy, sizeof(kwhy), "%s%s%s", d->kvm_why, hw ? ": " : "", hw ? d->vmm_bin : "");
    if (d->qemu_bin[0])
        snprintf(qwhy, sizeof(qwhy), "%s with %s", d->qemu_bin,
                 hw ? "KVM acceleration" : "TCG binary translation (no hardware-assisted /dev/kvm)");
    else
        snprintf(qwhy, sizeof(qwhy), "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
    enum driver_id def = drivers_vm(d, ENGINE_AUTO);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "kvm_kind", json_object_new_string(d->kvm_kind));
    json_object_object_add(o, "kvm", engine_obj(hw && d->vmm_bin[0], kwhy));
    json_object_object_add(o, "qemu", engine_obj(d->qemu_bin[0], qwhy));
    json_object_object_add(o, "default", json_object_new_string(def == DRIVER_QEMU && !d->qemu_bin[0] ? "none"
                                                                 : driver_name(def)));
    json_object_object_add(o, "default_reason",
                           json_object_new_string(def == DRIVER_KVM ? "the host has hardware-assisted KVM"
                                                                    : "no hardware-assisted KVM here: QEMU runs VMs"));
    return o;
}

/* ---- dispatch ------------------------------------------------------------- */

static const struct driver_ops *ops_of(const struct drivers *d, enum driver_id id)
{
    return id < DRIVER_COUNT ? d->ops[id] : NULL;
}

#define DISPATCH(h, op, ...)                                                                  \
    do {                                                                                      \
        const struct driver_ops *o_ = ops_of(d, (h)->driver);                                 \
        if (!o_ || !o_->op)                                                                   \
            return fail(EOPNOTSUPP, "the %s driver cannot " #op, driver_name((h)->driver));   \
        return o_->op(d, __VA_ARGS__);                                                        \
    } while (0)

int driver_spawn(const struct drivers *d, const struct guest_spec *spec, struct guest_handle *out)
{
    DISPATCH(spec, spawn, spec, out);
}

int driver_ready(const struct drivers *d, const struct guest_spec *spec, struct guest_handle *h, int timeout_ms)
{
    DISPATCH(h, ready, spec, h, timeout_ms);
}

bool driver_alive(const struct drivers *d, const struct guest_handle *h)
{
    const struct driver_ops *o = ops_of(d, h->driver);
    return h->pid > 0 && o && o->alive(d, h);
}

int driver_status(const struct drivers *d, const struct guest_handle *h, char *buf, size_t len)
{
    DISPATCH(h, status, h, buf, len);
}

int driver_stop(const struct drivers *d, const struct guest_handle *h, int timeout_ms)
{
    DISPATCH(h, stop, h, timeout_ms);
}

int driver_kill(const struct drivers *d, const struct guest_handle *h) { DISPATCH(h, kill, h); }
int driver_powerdown(const struct drivers *d, const struct guest_handle *h) { DISPATCH(h, powerdown, h); }
int driver_pause(const struct drivers *d, const struct guest_handle *h, bool paused) { DISPATCH(h, pause, h, paused); }
int driver_console(const struct drivers *d, const struct guest_handle *h) { DISPATCH(h, console, h); }

int driver_usage(const struct drivers *d, const struct guest_handle *h, double *cpu_seconds, int64_t *memory)
{
    DISPATCH(h, usage, h, cpu_seconds, memory);
}

int driver_exec(const struct drivers *d, const struct guest_handle *h, const struct guest_exec *x, int *status,
                char **output)
{
    DISPATCH(h, exec, h, x, status, output);
}

void driver_release(const struct drivers *d, const struct guest_handle *h)
{
    const struct driver_ops *o = ops_of(d, h->driver);
    if (o && o->release)
        o->release(d, h);
}

bool driver_wait_gone(const struct drivers *d, const struct guest_handle *h, int timeout_ms)
{
    (void)d;
    return proc_wait_gone(h->pid, h->start_time, timeout_ms);
}
