/* The engine-independent half of running a VM: choosing the engine,
 * spawning its process detached from corrald, recognizing it again through
 * /proc after a restart, and the JSON-lines client both control protocols
 * (QMP and corral-vmm's API) are spoken over.  engine_qemu.c and
 * engine_kvm.c supply the command line and the commands. */
#include "engine/engine_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proc/proc.h"
#include "util/util.h"

static char vmm_bin[PATH_MAX], qemu_bin[PATH_MAX];

static const char *const names[] = { "auto", "kvm", "qemu" };
const char *engine_name(enum vm_engine e) { return names[e]; }

int engine_parse(const char *s, enum vm_engine *out)
{
    for (int i = 0; i < 3; i++)
        if (s && !strcmp(s, names[i])) {
            *out = (enum vm_engine)i;
            return 0;
        }
    return fail(EINVAL, "engine must be auto, kvm or qemu");
}

static const struct engine_ops *ops_of(enum vm_engine e)
{
    return e == ENGINE_KVM ? &engine_kvm_ops : &engine_qemu_ops;
}

const char *engine_bin(enum vm_engine e) { return e == ENGINE_KVM ? vmm_bin : qemu_bin; }

int engine_jail(const struct vm_spec *s, char *out, size_t len)
{
    snprintf(out, len, "%s/jail", s->dir);
    if (mkdir(out, 0711) < 0 && errno != EEXIST)
        return fail(errno, "cannot create %s: %m", out);
    return 0;
}

void engine_setup(const char *vmm_path)
{
    if (vmm_path) {
        snprintf(vmm_bin, sizeof(vmm_bin), "%s", vmm_path);
    } else {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        self[n > 0 ? n : 0] = 0;
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = 0;
        snprintf(vmm_bin, sizeof(vmm_bin), "%.*s/corral-vmm", PATH_MAX - 16, self);
    }
    if (access(vmm_bin, X_OK) < 0)
        vmm_bin[0] = 0;
    proc_find("qemu-system-x86_64", qemu_bin, sizeof(qemu_bin));
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
    static char cpuinfo[1 << 16];    /* the first CPU's flags are enough */
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    _cleanup_close_ int fd = open("/proc/cpuinfo", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read_full(fd, cpuinfo, sizeof(cpuinfo) - 1);
    cpuinfo[n > 0 ? n : 0] = 0;
    bool hw = strstr(cpuinfo, " vmx") || strstr(cpuinfo, " svm");
    pthread_mutex_unlock(&lock);
    if (hw) {
        *why = "hardware-assisted /dev/kvm (VT-x/AMD-V)";
        return "hw";
    }
    *why = "/dev/kvm exists but the CPU shows no vmx/svm flags";
    return "other";
}

bool engine_hw_kvm(void)
{
    const char *why;
    return !strcmp(kvm_kind(&why), "hw");
}

enum vm_engine engine_auto(void)
{
    return engine_hw_kvm() && vmm_bin[0] ? ENGINE_KVM : ENGINE_QEMU;
}

static struct json_object *engine_obj(bool ok, const char *why)
{
    struct json_object *e = json_object_new_object();
    json_object_object_add(e, "available", json_object_new_boolean(ok));
    json_object_object_add(e, "reason", json_object_new_string(why));
    return e;
}

struct json_object *engine_describe(void)
{
    const char *why;
    const char *kind = kvm_kind(&why);
    bool hw = !strcmp(kind, "hw");
    char kwhy[PATH_MAX + 300], qwhy[PATH_MAX + 100], dwhy[200];
    if (hw && !vmm_bin[0])
        snprintf(kwhy, sizeof(kwhy), "%s, but corral-vmm was not found (give corrald --vmm PATH)", why);
    else
        snprintf(kwhy, sizeof(kwhy), "%s%s%s", why, hw ? ": " : "", hw ? vmm_bin : "");
    if (qemu_bin[0])
        snprintf(qwhy, sizeof(qwhy), "%s with %s", qemu_bin,
                 hw ? "KVM acceleration" : "TCG binary translation (no hardware-assisted /dev/kvm)");
    else
        snprintf(qwhy, sizeof(qwhy), "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
    enum vm_engine d = engine_auto();
    snprintf(dwhy, sizeof(dwhy), "%s", d == ENGINE_KVM ? "the host has hardware-assisted KVM"
                                                       : "no hardware-assisted KVM here: QEMU runs VMs");
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "kvm_kind", json_object_new_string(kind));
    json_object_object_add(o, "kvm", engine_obj(hw && vmm_bin[0], kwhy));
    json_object_object_add(o, "qemu", engine_obj(qemu_bin[0], qwhy));
    json_object_object_add(o, "default", json_object_new_string(d == ENGINE_QEMU && !qemu_bin[0] ? "none"
                                                                 : engine_name(d)));
    json_object_object_add(o, "default_reason", json_object_new_string(dwhy));
    return o;
}

/* ---- processes ------------------------------------------------------------ */

int engine_usage(const struct vm_handle *h, double *cpu_seconds, uint64_t *rss_bytes)
{
    uint64_t f[25] = { 0 };
    if (h->pid <= 0 || !proc_stat(h->pid, f, 25) || f[22] != h->start_time)
        return fail(ESRCH, "the engine process %d is gone", (int)h->pid);
    *cpu_seconds = (double)(f[14] + f[15]) / (double)sysconf(_SC_CLK_TCK);
    *rss_bytes = f[24] * (uint64_t)sysconf(_SC_PAGESIZE);
    return 0;
}

bool engine_alive(const struct vm_handle *h)
{
    return proc_alive(h->pid, h->start_time);
}

bool engine_wait_gone(const struct vm_handle *h, int timeout_ms)
{
    return proc_wait_gone(h->pid, h->start_time, timeout_ms);
}

/* The last lines of the engine's log, for error messages. */
static void log_tail(const char *dir, char *out, size_t len)
{
    char path[VM_PATH_MAX];
    snprintf(path, sizeof(path), "%s/engine.log", dir);
    out[0] = 0;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t end = lseek(fd, 0, SEEK_END);
    off_t start = end > (off_t)len - 1 ? end - (off_t)len + 1 : 0;
    ssize_t n = pread(fd, out, len - 1, start);
    out[n > 0 ? n : 0] = 0;
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = 0;
    for (char *p = out; *p; p++)
        if (*p == '\n')
            *p = ' ';
}

static int spawn(char *const argv[], const char *dir, const int *keep, int nkeep, pid_t *out)
{
    char path[VM_PATH_MAX];
    snprintf(path, sizeof(path), "%s/engine.log", dir);
    return proc_spawn(argv, path, keep, nkeep, out);
}

static void kill_handle(const struct vm_handle *h)
{
    if (engine_alive(h))
        kill(h->pid, SIGKILL);
    engine_wait_gone(h, 3000);
}

int engine_spawn(const struct vm_spec *spec, struct vm_handle *out)
{
    const struct engine_ops *ops = ops_of(spec->engine);
    if (!engine_bin(spec->engine)[0])
        return fail(ENOENT, "the %s engine is not available here (see GET /api/v1/host)",
                    engine_name(spec->engine));
    memset(out, 0, sizeof(*out));
    out->engine = spec->engine;
    if (snprintf(out->control, sizeof(out->control), "%s/control.sock", spec->dir) >= (int)sizeof(out->control) ||
        snprintf(out->console, sizeof(out->console), "%s/console.sock", spec->dir) >= (int)sizeof(out->console))
        return fail(ENAMETOOLONG, "the state directory's path is too long for Unix sockets");
    unlink(out->control);
    unlink(out->console);
    /* The boot files reach the engine as fds 3 and 4, by their /proc names. */
    struct vm_spec sp = *spec;
    int keep[2], nkeep = 0;
    static const char *const fd_names[] = { "/proc/self/fd/3", "/proc/self/fd/4" };
    if (spec->kernel_fd >= 0) {
        sp.kernel = fd_names[nkeep];
        keep[nkeep++] = spec->kernel_fd;
    }
    if (spec->initrd_fd >= 0) {
        sp.initrd = fd_names[nkeep];
        keep[nkeep++] = spec->initrd_fd;
    }
    struct argv a = { 0 };
    int r = ops->argv(&sp, out, &a);
    if (r == 0)
        r = a.overflow ? fail(E2BIG, "too many engine arguments") : spawn(a.v, spec->dir, keep, nkeep, &out->pid);
    argv_free(&a);
    if (r == 0)
        out->start_time = proc_start_time(out->pid);
    return r;
}

int engine_ready(const char *dir, struct vm_handle *h, int timeout_ms)
{
    const struct engine_ops *ops = ops_of(h->engine);
    char msg[600];
    /* Polled every 2 ms for the first 5 s (a start is done as soon as the
     * engine answers; a check is a connect and a read of /proc), then
     * every 20 ms. */
    for (int waited = 0, step = 2; waited < timeout_ms; waited += step, step = waited < 5000 ? 2 : 20) {
        if (!h->start_time || !engine_alive(h)) {
            usleep(100 * 1000);    /* let its last words reach the log */
            log_tail(dir, msg, sizeof(msg));
            return fail(EIO, "%s exited at once: %s", engine_name(h->engine), msg[0] ? msg : "(no output)");
        }
        if (ops->ready(dir, h) == 0)
            return 0;
        usleep((useconds_t)step * 1000);
    }
    kill_handle(h);
    log_tail(dir, msg, sizeof(msg));
    return fail(ETIMEDOUT, "%s did not answer on its control socket within %d s: %s",
                engine_name(h->engine), timeout_ms / 1000, msg);
}

int engine_stop(const struct vm_handle *h)
{
    if (!engine_alive(h))
        return 0;
    ops_of(h->engine)->command(h, ENGINE_CMD_QUIT, NULL, 0);
    if (!engine_wait_gone(h, 3000))
        kill_handle(h);
    return engine_alive(h) ? fail(EIO, "the engine process %d does not go away", (int)h->pid) : 0;
}

static int command(const struct vm_handle *h, enum engine_cmd c, char *buf, size_t len)
{
    if (!engine_alive(h))
        return fail(ESRCH, "the VM's engine process is not running");
    return ops_of(h->engine)->command(h, c, buf, len);
}

int engine_powerdown(const struct vm_handle *h) { return command(h, ENGINE_CMD_POWERDOWN, NULL, 0); }
int engine_pause(const struct vm_handle *h) { return command(h, ENGINE_CMD_PAUSE, NULL, 0); }
int engine_resume(const struct vm_handle *h) { return command(h, ENGINE_CMD_RESUME, NULL, 0); }
int engine_status(const struct vm_handle *h, char *buf, size_t len) { return command(h, ENGINE_CMD_STATUS, buf, len); }

int engine_console(const struct vm_handle *h)
{
    if (!engine_alive(h))
        return fail(ESRCH, "the VM is not running");
    return ops_of(h->engine)->console(h);
}

/* ---- argv building -------------------------------------------------------- */

void argv_add(struct argv *a, const char *fmt, ...)
{
    if (a->n + 1 >= ARGV_MAX) {
        a->overflow = true;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&a->v[a->n], fmt, ap) < 0)
        a->overflow = true;
    else
        a->n++;
    va_end(ap);
}

void argv_free(struct argv *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->v[i]);
    memset(a, 0, sizeof(*a));
}

/* ---- JSON lines over a Unix socket ------------------------------------------ */

int jsonl_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path))
        return fail(ENAMETOOLONG, "socket path too long: %s", path);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(errno, "socket: %m");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return fail(e, "cannot connect to %s: %s", path, strerror(e));
    }
    return fd;
}

int jsonl_send(int fd, struct json_object *o)
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    int r = write_all(fd, s, strlen(s));
    if (r == 0)
        r = write_all(fd, "\n", 1);
    return r < 0 ? fail(EIO, "the engine's control socket closed") : 0;
}

int jsonl_recv(int fd, struct json_object **out, int timeout_ms)
{
    char line[65536];
    size_t len = 0;
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int n = poll(&p, 1, timeout_ms);
        if (n == 0)
            return fail(ETIMEDOUT, "the engine did not answer within %d ms", timeout_ms);
        if (n < 0 && errno != EINTR)
            return fail(errno, "poll: %m");
        /* Byte by byte: the answers are short and the socket is ours alone. */
        ssize_t got = n > 0 ? read(fd, line + len, 1) : 0;
        if (n > 0 && got <= 0)
            return fail(EIO, "the engine closed its control socket");
        if (got == 1 && line[len] == '\n') {
            line[len] = 0;
            *out = json_tokener_parse(line);
            return *out ? 0 : fail(EPROTO, "the engine sent a line that is not JSON");
        }
        len += (size_t)MAX(got, 0);
        if (len == sizeof(line) - 1)
            return fail(EPROTO, "the engine sent an over-long line");
    }
}
