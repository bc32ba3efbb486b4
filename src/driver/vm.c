/* The VM drivers (kvm, qemu): spawning the engine process detached from
 * corrald, recognizing it again through /proc after a restart, and the
 * JSON-lines client both control protocols (QMP and corral-vmm's API) are
 * spoken over.  vm_qemu.c and vm_kvm.c supply each engine's command line
 * and commands. */
#include "driver/driver_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proc/proc.h"
#include "util/util.h"

static const struct engine_ops *engine_of(enum driver_id id)
{
    return id == DRIVER_KVM ? &engine_kvm_ops : &engine_qemu_ops;
}

int engine_jail(const struct guest_spec *s, char *out, size_t len)
{
    snprintf(out, len, "%s/jail", s->dir);
    if (mkdir(out, 0711) < 0 && errno != EEXIST)
        return fail(errno, "cannot create %s: %m", out);
    return 0;
}

/* ---- processes ------------------------------------------------------------ */

static bool vm_alive(const struct drivers *d, const struct guest_handle *h)
{
    (void)d;
    return proc_alive(h->pid, h->start_time);
}

static int vm_usage(const struct drivers *d, const struct guest_handle *h, double *cpu_seconds, int64_t *memory)
{
    (void)d;
    uint64_t f[25] = { 0 };
    if (h->pid <= 0 || !proc_stat(h->pid, f, 25) || f[22] != h->start_time)
        return fail(ESRCH, "the engine process %d is gone", (int)h->pid);
    *cpu_seconds = (double)(f[14] + f[15]) / (double)sysconf(_SC_CLK_TCK);
    *memory = (int64_t)(f[24] * (uint64_t)sysconf(_SC_PAGESIZE));
    return 0;
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

static void kill_handle(const struct guest_handle *h)
{
    if (proc_alive(h->pid, h->start_time))
        kill(h->pid, SIGKILL);
    proc_wait_gone(h->pid, h->start_time, 3000);
}

static int vm_spawn(const struct drivers *d, const struct guest_spec *spec, struct guest_handle *out)
{
    const char *bin = spec->driver == DRIVER_KVM ? d->vmm_bin : d->qemu_bin;
    if (!bin[0])
        return fail(ENOENT, "the %s engine is not available here (see GET /api/v1/host)", driver_name(spec->driver));
    memset(out, 0, sizeof(*out));
    out->driver = spec->driver;
    if (snprintf(out->control, sizeof(out->control), "%s/control.sock", spec->dir) >= (int)sizeof(out->control) ||
        snprintf(out->console, sizeof(out->console), "%s/console.sock", spec->dir) >= (int)sizeof(out->console))
        return fail(ENAMETOOLONG, "the state directory's path is too long for Unix sockets");
    unlink(out->control);
    unlink(out->console);
    /* The boot files reach the engine as fds 3 and 4, by their /proc names,
     * then the write end of its readiness pipe. */
    struct guest_spec sp = *spec;
    int keep[3], nkeep = 0, ready[2] = { -1, -1 };
    static const char *const fd_names[] = { "/proc/self/fd/3", "/proc/self/fd/4" };
    if (spec->kernel_fd >= 0) {
        sp.kernel = fd_names[nkeep];
        keep[nkeep++] = spec->kernel_fd;
    }
    if (spec->initrd_fd >= 0) {
        sp.initrd = fd_names[nkeep];
        keep[nkeep++] = spec->initrd_fd;
    }
    if (engine_of(spec->driver)->ready_pipe) {
        if (pipe2(ready, O_CLOEXEC) < 0)
            return fail(errno, "pipe: %m");
        sp.ready_fd = 3 + nkeep;
        keep[nkeep++] = ready[1];
    }
    struct argv a = { 0 };
    char log[VM_PATH_MAX];
    snprintf(log, sizeof(log), "%s/engine.log", spec->dir);
    int r = engine_of(spec->driver)->argv(d, &sp, out, &a);
    if (r == 0)
        r = a.overflow ? fail(E2BIG, "too many engine arguments") : proc_spawn(a.v, log, keep, nkeep, &out->pid);
    argv_free(&a);
    if (ready[1] >= 0)
        close(ready[1]);
    if (r == 0)
        out->start_time = proc_start_time(out->pid);
    if (r == 0 && ready[0] >= 0) {
        out->ready_pipe = true;
        out->ready_fd = ready[0];
    } else if (ready[0] >= 0) {
        close(ready[0]);
    }
    return r;
}

/* The engine's readiness line on its pipe: {"ready":true,"serial":PTY|null}
 * (docs/vmm-api.md); 0, -EIO at end of file, -ETIMEDOUT, -EPROTO. */
static int read_ready_line(struct guest_handle *h, int timeout_ms)
{
    char line[256];
    size_t len = 0;
    struct timespec dl = deadline_after(CLOCK_MONOTONIC, timeout_ms);
    while (!memchr(line, '\n', len)) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t left = (dl.tv_sec - now.tv_sec) * 1000 + (dl.tv_nsec - now.tv_nsec) / 1000000;
        struct pollfd p = { .fd = h->ready_fd, .events = POLLIN };
        if (left <= 0)
            return -ETIMEDOUT;
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return -ETIMEDOUT;
        ssize_t got = n < 0 ? -1 : read(h->ready_fd, line + len, sizeof(line) - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -EIO;
        len += (size_t)got;
        if (len == sizeof(line) - 1)
            return fail(EPROTO, "its readiness line is too long");
    }
    line[len] = 0;
    struct json_object *o = json_tokener_parse(line);
    struct json_object *serial = json_object_object_get(o, "serial");
    const char *pty = json_object_get_string(serial);
    int r = 0;
    if (!json_object_get_boolean(json_object_object_get(o, "ready")))
        r = fail(EPROTO, "its readiness line is not {\"ready\":true,...}");
    else if (serial && (!pty || strncmp(pty, "/dev/pts/", 9) || !pty[9] || strspn(pty + 9, "0123456789") != strlen(pty + 9)))
        r = fail(EPROTO, "its readiness line names no pty as the serial console");
    else if (pty)
        snprintf(h->console, sizeof(h->console), "%s", pty);
    json_object_put(o);
    return r;
}

static void close_ready(struct guest_handle *h)
{
    if (h->ready_pipe)
        close(h->ready_fd);
    h->ready_pipe = false;
}

static int vm_ready(const struct drivers *d, const struct guest_spec *spec, struct guest_handle *h, int timeout_ms)
{
    (void)d;
    const struct engine_ops *ops = engine_of(h->driver);
    char msg[600];
    if (h->ready_pipe) {
        int r = read_ready_line(h, timeout_ms);
        close_ready(h);
        if (r == -EIO) {    /* the engine exited, or closed the pipe without a word */
            proc_wait_gone(h->pid, h->start_time, 1000);
            log_tail(spec->dir, msg, sizeof(msg));
            kill_handle(h);
            return fail(EIO, "%s exited at once: %s", driver_name(h->driver), msg[0] ? msg : "(no output)");
        }
        if (r < 0) {
            int e = -r;
            if (r == -ETIMEDOUT)
                fail(ETIMEDOUT, "did not get ready within %d s", timeout_ms / 1000);
            snprintf(msg, sizeof(msg), "%s", err_msg());
            kill_handle(h);
            char tail[400];
            log_tail(spec->dir, tail, sizeof(tail));
            return fail(e, "%s %s: %s", driver_name(h->driver), msg, tail);
        }
        return 0;
    }
    /* Polled every 2 ms for the first 5 s (a start is done as soon as the
     * engine answers; a check is a connect and a read of /proc), then
     * every 20 ms. */
    for (int waited = 0, step = 2; waited < timeout_ms; waited += step, step = waited < 5000 ? 2 : 20) {
        if (!h->start_time || !proc_alive(h->pid, h->start_time)) {
            usleep(100 * 1000);    /* let its last words reach the log */
            log_tail(spec->dir, msg, sizeof(msg));
            return fail(EIO, "%s exited at once: %s", driver_name(h->driver), msg[0] ? msg : "(no output)");
        }
        if (ops->ready(spec->dir, h) == 0)
            return 0;
        usleep((useconds_t)step * 1000);
    }
    kill_handle(h);
    log_tail(spec->dir, msg, sizeof(msg));
    return fail(ETIMEDOUT, "%s did not answer on its control socket within %d s: %s", driver_name(h->driver),
                timeout_ms / 1000, msg);
}

/* Hard stop: the engine's quit command, then SIGKILL; returns once gone. */
static int vm_kill(const struct drivers *d, const struct guest_handle *h)
{
    (void)d;
    if (!proc_alive(h->pid, h->start_time))
        return 0;
    engine_of(h->driver)->command(h, ENGINE_CMD_QUIT, NULL, 0);
    if (!proc_wait_gone(h->pid, h->start_time, 3000))
        kill_handle(h);
    return proc_alive(h->pid, h->start_time) ? fail(EIO, "the engine process %d does not go away", (int)h->pid) : 0;
}

static int vm_stop(const struct drivers *d, const struct guest_handle *h, int timeout_ms)
{
    (void)timeout_ms;    /* the guest is not asked: that is powerdown */
    return vm_kill(d, h);
}

static int command(const struct guest_handle *h, enum engine_cmd c, char *buf, size_t len)
{
    if (!proc_alive(h->pid, h->start_time))
        return fail(ESRCH, "the VM's engine process is not running");
    return engine_of(h->driver)->command(h, c, buf, len);
}

static int vm_powerdown(const struct drivers *d, const struct guest_handle *h)
{
    (void)d;
    return command(h, ENGINE_CMD_POWERDOWN, NULL, 0);
}

static int vm_pause(const struct drivers *d, const struct guest_handle *h, bool paused)
{
    (void)d;
    return command(h, paused ? ENGINE_CMD_PAUSE : ENGINE_CMD_RESUME, NULL, 0);
}

static int vm_status(const struct drivers *d, const struct guest_handle *h, char *buf, size_t len)
{
    (void)d;
    return command(h, ENGINE_CMD_STATUS, buf, len);
}

static int vm_console(const struct drivers *d, const struct guest_handle *h)
{
    (void)d;
    if (!proc_alive(h->pid, h->start_time))
        return fail(ESRCH, "the VM is not running");
    return engine_of(h->driver)->console(h);
}

/* An engine that still runs (spawned, then not answering) goes. */
static void vm_release(const struct drivers *d, const struct guest_handle *h)
{
    if (h->ready_pipe)    /* spawned, then given up before it was ready */
        close(h->ready_fd);
    if (h->pid > 0 && vm_kill(d, h) < 0)
        log_warn("%s", err_msg());
}

const struct driver_ops driver_vm_ops = {
    .spawn = vm_spawn, .ready = vm_ready, .alive = vm_alive, .status = vm_status, .stop = vm_stop,
    .kill = vm_kill, .powerdown = vm_powerdown, .pause = vm_pause, .console = vm_console, .usage = vm_usage,
    .release = vm_release,
};

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
