/* The oci driver: containers through the corral-oci library (oci.h).
 *
 * Why a process per container at all: oci_create() clones the container's
 * init from the calling process, which in a many-threaded daemon is unsafe
 * (clone3 runs no fork handlers), and the init's terminal needs a pty master
 * that outlives corrald (a closed master hangs the container's terminal
 * up).  So spawn starts a keeper, the small program corrald-ct (keeper.c),
 * detached in its own session: it creates the container and holds its pty
 * master; corrald takes a copy with pidfd_getfd() whenever it wants the
 * console (also after a restart).  Everything else (start, kill, pause,
 * delete, state) is a plain library call; exec runs in a forked child only
 * because oci_exec() gives the process the caller's stdio. */
#include "driver/driver_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "oci/oci.h"
#include "proc/proc.h"
#include "util/util.h"

static struct oci_ctx ctx_of(const struct drivers *d)
{
    return (struct oci_ctx){ .root = d->oci_root };
}

static int ct_spawn(const struct drivers *d, const struct guest_spec *spec, struct guest_handle *h)
{
    memset(h, 0, sizeof(*h));
    h->driver = DRIVER_OCI;
    if (snprintf(h->control, sizeof(h->control), "%s", spec->id) >= (int)sizeof(h->control))
        return fail(ENAMETOOLONG, "container id too long");
    struct oci_ctx ctx = ctx_of(d);
    struct oci_state st;
    if (oci_state(&ctx, spec->id, &st) == 0) {    /* what a previous run left */
        oci_state_free(&st);
        oci_delete(&ctx, spec->id, true);
    }
    if (!d->keeper_bin[0])
        return fail(ENOENT, "corrald-ct, the containers' keeper, is not installed next to corrald");
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
        return fail(errno, "socketpair: %m");
    char log[VM_PATH_MAX + 16];
    snprintf(log, sizeof(log), "%s/keeper.log", spec->dir);
    char *argv[] = { (char *)d->keeper_bin, (char *)d->oci_root, (char *)spec->id, (char *)spec->bundle,
                     (char *)spec->dir, NULL };
    pid_t pid;
    int r = proc_spawn(argv, log, &sp[1], 1, &pid);
    close(sp[1]);
    if (r < 0) {
        close(sp[0]);
        return r;
    }
    struct keeper_report rep;
    struct pollfd p = { sp[0], POLLIN, 0 };
    if (poll(&p, 1, KEEPER_READY_MS) <= 0)
        r = fail(ETIMEDOUT, "the container did not get created within %d s", KEEPER_READY_MS / 1000);
    else if (recv(sp[0], &rep, sizeof(rep), 0) != sizeof(rep))
        r = fail(EPROTO, "the container's keeper died");
    else if (rep.rc < 0)
        r = fail(-rep.rc, "%s", rep.msg);
    close(sp[0]);
    if (r < 0)
        return r;
    h->pid = rep.keeper;
    h->start_time = proc_start_time(rep.keeper);
    h->init = rep.pid;
    return 0;
}

static const char *status_of(const struct drivers *d, const struct guest_handle *h, pid_t *pid);

/* Starts the created container (one already running, re-adopted after a
 * restart, is left as it is). */
static int ct_ready(const struct drivers *d, const struct guest_spec *spec, struct guest_handle *h, int timeout_ms)
{
    (void)spec, (void)timeout_ms;
    struct oci_ctx ctx = ctx_of(d);
    pid_t pid;
    if (!strcmp(status_of(d, h, &pid), "running") && pid == h->init)
        return 0;
    return oci_start(&ctx, h->control);
}

static int ct_console(const struct drivers *d, const struct guest_handle *h)
{
    (void)d;
    int pidfd = (int)syscall(SYS_pidfd_open, h->pid, 0);
    if (pidfd < 0)
        return fail(errno, "the container's keeper (pid %d): %m", (int)h->pid);
    int fd = -1;
    if (!proc_alive(h->pid, h->start_time))
        errno = ESRCH;
    else
        fd = (int)syscall(SYS_pidfd_getfd, pidfd, KEEPER_MASTER_FD, 0);
    int r = fd >= 0 ? fd : fail(errno, "taking the console from the container's keeper: %m");
    close(pidfd);
    return r;
}

/* The runtime's status of the container ("stopped" if it knows none) and
 * its init's pid. */
static const char *status_of(const struct drivers *d, const struct guest_handle *h, pid_t *pid)
{
    struct oci_ctx ctx = ctx_of(d);
    struct oci_state st;
    static const char *const names[] = { "creating", "created", "running", "stopped", "paused" };
    *pid = 0;
    if (oci_state(&ctx, h->control, &st) < 0)
        return "stopped";
    const char *s = (unsigned)st.status < ARRAY_SIZE(names) ? names[st.status] : "stopped";
    *pid = st.pid;
    oci_state_free(&st);
    return s;
}

static bool live(const char *status) { return !strcmp(status, "running") || !strcmp(status, "paused"); }

static bool ct_alive(const struct drivers *d, const struct guest_handle *h)
{
    pid_t pid;
    return live(status_of(d, h, &pid)) && pid == h->init;
}

static int ct_status(const struct drivers *d, const struct guest_handle *h, char *buf, size_t len)
{
    pid_t pid;
    const char *s = status_of(d, h, &pid);
    if (!live(s) || pid != h->init)
        return fail(ESRCH, "the container is not running");
    snprintf(buf, len, "%s", s);
    return 0;
}

static int ct_pause(const struct drivers *d, const struct guest_handle *h, bool paused)
{
    struct oci_ctx ctx = ctx_of(d);
    return paused ? oci_pause(&ctx, h->control) : oci_resume(&ctx, h->control);
}

static int ct_usage(const struct drivers *d, const struct guest_handle *h, double *cpu_seconds, int64_t *memory)
{
    struct oci_ctx ctx = ctx_of(d);
    int64_t cpu_ns;
    int r = oci_usage(&ctx, h->control, &cpu_ns, memory);
    if (r == 0)
        *cpu_seconds = cpu_ns < 0 ? -1 : (double)cpu_ns / 1e9;
    return r;
}

static void kill_pid_file(const char *path)
{
    char buf[32] = "";
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    pid_t pid = n > 0 ? (pid_t)atoi(buf) : 0;
    if (pid > 1)
        kill(pid, SIGKILL);
}

/* The forked child: oci_exec() with stdout and stderr on out; a failure's
 * message goes to err.  Exits with the command's status. */
static void __attribute__((noreturn)) exec_child(const struct drivers *d, const char *id, char **argv, char **env,
                                                 const char *pid_file, int out, int err)
{
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    dup2(null, 0), dup2(out, 1), dup2(out, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct oci_ctx ctx = ctx_of(d);
    struct oci_exec_opts o = { .args = argv, .env = env, .no_new_privs = -1, .pid_file = pid_file };
    int st = 0;
    if (oci_exec(&ctx, id, &o, &st) < 0) {
        (void)!write(err, err_msg(), strlen(err_msg()));
        _exit(255);
    }
    _exit(st & 0xff);
}

struct exec_io {
    pid_t child;
    int fd;                      /* the output pipe */
    const char *pid_file;
    char *buf;
    size_t len, cap;
    int wst;                     /* the child's wait status, once reaped */
};

/* Collects output until the child is done and the pipe drained, or the
 * deadline: then the command is killed.  Returns true if it was. */
static bool exec_collect(struct exec_io *io, uint64_t deadline)
{
    bool killed = false, reaped = false;
    for (;;) {
        uint64_t now = now_ns();
        if (now >= deadline && !killed) {
            kill_pid_file(io->pid_file);    /* oci_exec then returns its status */
            killed = true;
            deadline = now + 2000000000ULL;
        } else if (now >= deadline) {
            kill(io->child, SIGKILL);    /* still waiting: give up on it */
            break;
        }
        struct pollfd p = { io->fd, POLLIN, 0 };
        int n = poll(&p, 1, reaped ? 0 : 100);
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0) {
            char tmp[4096];
            ssize_t got = read(io->fd, tmp, sizeof(tmp));
            if (got <= 0)
                break;
            size_t take = MIN((size_t)got, io->cap - io->len);
            memcpy(io->buf + io->len, tmp, take);
            io->len += take;
        } else if (n == 0 && reaped) {
            break;    /* done; what is left belongs to its background children */
        } else if (!reaped) {
            reaped = waitpid(io->child, &io->wst, WNOHANG) == io->child;
        }
    }
    if (!reaped)
        while (waitpid(io->child, &io->wst, 0) < 0 && errno == EINTR) {
        }
    return killed;
}

static int ct_exec(const struct drivers *d, const struct guest_handle *h, const struct guest_exec *x, int *status,
                   char **output)
{
    size_t cap = x->cap;
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) < 0)
        return fail(errno, "pipe: %m");
    if (pipe2(err, O_CLOEXEC | O_NONBLOCK) < 0) {
        close(out[0]), close(out[1]);
        return fail(errno, "pipe: %m");
    }
    /* The command's host pid, so a timeout can kill it (not only our child). */
    char pid_file[160];
    static atomic_uint seq;
    snprintf(pid_file, sizeof(pid_file), "%s/exec-%u.pid", x->dir, atomic_fetch_add(&seq, 1));
    unlink(pid_file);
    struct exec_io io = { .fd = out[0], .pid_file = pid_file, .buf = malloc(cap + 1), .cap = cap };
    io.child = io.buf ? fork() : -1;
    if (io.child == 0)
        exec_child(d, h->control, x->argv, x->env, pid_file, out[1], err[1]);
    int r = io.child < 0 ? fail(io.buf ? errno : ENOMEM, "cannot run the command: %m") : 0;
    close(out[1]), close(err[1]);
    bool killed = r == 0 && exec_collect(&io, now_ns() + (uint64_t)x->timeout_s * 1000000000ULL);
    close(out[0]);
    unlink(pid_file);
    char emsg[512];
    ssize_t en = read(err[0], emsg, sizeof(emsg) - 1);
    close(err[0]);
    if (r == 0 && en > 0) {
        emsg[en] = 0;
        r = fail(EINVAL, "%s", emsg);
    } else if (r == 0 && killed) {
        r = fail(ETIMEDOUT, "the command did not finish within %d s: killed", x->timeout_s);
    }
    if (r < 0) {
        free(io.buf);
        return r;
    }
    io.buf[io.len] = 0;
    *output = io.buf;
    *status = WIFEXITED(io.wst) ? WEXITSTATUS(io.wst) : 128 + WTERMSIG(io.wst);
    return 0;
}

/* Signals every process, waits up to timeout_ms for the init to go; then
 * SIGKILL.  A frozen process takes no signal: a paused container is
 * thawed first.  Leaves the runtime's state for release. */
static int stop_with(const struct drivers *d, const struct guest_handle *h, int sig, int timeout_ms)
{
    struct oci_ctx ctx = ctx_of(d);
    pid_t pid;
    const char *st = status_of(d, h, &pid);
    if (!strcmp(st, "stopped"))
        return 0;
    if (!strcmp(st, "paused"))
        oci_resume(&ctx, h->control);
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (sig != SIGKILL && oci_kill(&ctx, h->control, sig, true) == 0 && pidfd >= 0) {
        struct pollfd p = { pidfd, POLLIN, 0 };
        while (poll(&p, 1, timeout_ms) < 0 && errno == EINTR) {
        }
    }
    int r = 0;
    if (strcmp(status_of(d, h, &pid), "stopped")) {
        r = oci_kill(&ctx, h->control, SIGKILL, true);
        if (pidfd >= 0) {
            struct pollfd p = { pidfd, POLLIN, 0 };
            if (poll(&p, 1, 10000) <= 0)
                r = fail(ETIMEDOUT, "the container did not die after SIGKILL");
            else
                r = 0;
        }
    }
    if (pidfd >= 0)
        close(pidfd);
    return r;
}

static int ct_stop(const struct drivers *d, const struct guest_handle *h, int timeout_ms)
{
    return stop_with(d, h, SIGTERM, timeout_ms);
}

static int ct_kill(const struct drivers *d, const struct guest_handle *h) { return stop_with(d, h, SIGKILL, 0); }

static void ct_release(const struct drivers *d, const struct guest_handle *h)
{
    struct oci_ctx ctx = ctx_of(d);
    struct oci_state st;
    if (!h->control[0] || oci_state(&ctx, h->control, &st) < 0)
        return;    /* nothing there */
    oci_state_free(&st);
    stop_with(d, h, SIGKILL, 0);
    if (oci_delete(&ctx, h->control, true) < 0)
        log_warn("container %s: %s", h->control, err_msg());
}

const struct driver_ops driver_oci_ops = {
    .spawn = ct_spawn, .ready = ct_ready, .alive = ct_alive, .status = ct_status, .stop = ct_stop,
    .kill = ct_kill, .pause = ct_pause, .console = ct_console, .usage = ct_usage, .exec = ct_exec,
    .release = ct_release,
};
