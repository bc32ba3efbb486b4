/* The keeper, exec with captured output, and the plain library calls
 * (see ctrun.h for why the first two are processes). */
#include "server/ctrun.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "oci/oci.h"
#include "util/util.h"

#define CTRUN_REPORT_FD 3
#define CTRUN_READY_MS 30000

struct report {
    int rc;                      /* 0 or a negative errno */
    pid_t keeper, pid;
    char msg[480];
};

static uint64_t start_time_of(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
        return 0;
    p += 2;
    for (int field = 3; field < 22 && p; field++)
        if ((p = strchr(p, ' ')))
            p++;
    return p ? strtoull(p, NULL, 10) : 0;
}

static int send_fd(int sock, const void *data, size_t len, int fd)
{
    struct iovec iov = { (void *)data, len };
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (fd >= 0) {
        m.msg_control = u.buf;
        m.msg_controllen = sizeof(u.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    return sendmsg(sock, &m, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
}

/* One message and maybe one fd (else *fd = -1). */
static ssize_t recv_fd(int sock, void *data, size_t len, int *fd)
{
    struct iovec iov = { data, len };
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
    *fd = -1;
    ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); n >= 0 && c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(fd, CMSG_DATA(c), sizeof(int));
    return n;
}

/* The keeper: runs in a fresh session with fds 0-2 on /dev/null and the
 * report socket on CTRUN_REPORT_FD.  Never returns. */
static void __attribute__((noreturn)) keeper_main(const struct ct_where *w)
{
    struct report rep = { .keeper = getpid() };
    char path[128];
    int lsock = -1, master = -1, conn = -1;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    prctl(PR_SET_NAME, "corrald-ct", 0, 0, 0);
    snprintf(path, sizeof(path), "%s/console.sock", w->run_dir);
    unlink(path);
    if (strlen(path) >= sizeof(sa.sun_path))
        rep.rc = fail(ENAMETOOLONG, "%s is too long for a Unix socket", path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (rep.rc == 0 && ((lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
                        bind(lsock, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lsock, 1) < 0))
        rep.rc = fail(errno, "console socket %s: %m", path);
    if (rep.rc == 0) {
        struct oci_ctx ctx = { .root = w->oci_root };
        struct oci_create_opts o = { .bundle = w->bundle, .console_socket = path };
        rep.rc = oci_create(&ctx, w->id, &o);
    }
    if (rep.rc == 0) {
        /* The init sent the master while oci_create() waited for it. */
        char b;
        struct pollfd p = { lsock, POLLIN, 0 };
        if (poll(&p, 1, 5000) <= 0 || (conn = accept4(lsock, NULL, NULL, SOCK_CLOEXEC)) < 0 ||
            recv_fd(conn, &b, 1, &master) < 0 || master < 0)
            rep.rc = fail(EPROTO, "the container's init sent no terminal");
    }
    unlink(path);
    if (rep.rc == 0) {
        struct oci_ctx ctx = { .root = w->oci_root };
        struct oci_state st;
        if ((rep.rc = oci_state(&ctx, w->id, &st)) == 0) {
            rep.pid = st.pid;
            oci_state_free(&st);
        }
    }
    if (rep.rc < 0)
        snprintf(rep.msg, sizeof(rep.msg), "%s", err_msg());
    if (send_fd(CTRUN_REPORT_FD, &rep, sizeof(rep), rep.rc == 0 ? master : -1) < 0 || rep.rc < 0)
        _exit(1);
    dup2(master, CTRUN_MASTER_FD);
    close_range(CTRUN_MASTER_FD + 1, ~0U, 0);
    close(CTRUN_REPORT_FD);
    /* The init is our child: reap it (and anything re-parented here). */
    while (waitpid(-1, NULL, 0) >= 0 || errno == EINTR) {
    }
    _exit(0);
}

int ctrun_create(const struct ct_where *w, struct ct_handle *h, int *console)
{
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
        return fail(errno, "socketpair: %m");
    pid_t pid = fork();
    if (pid < 0) {
        close(sp[0]);
        close(sp[1]);
        return fail(errno, "fork: %m");
    }
    if (pid == 0) {
        setsid();
        if (fork() != 0)
            _exit(0);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0), dup2(null, 1), dup2(null, 2);
        dup2(sp[1], CTRUN_REPORT_FD);
        close_range(CTRUN_REPORT_FD + 1, ~0U, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        keeper_main(w);
    }
    close(sp[1]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    struct report rep;
    struct pollfd p = { sp[0], POLLIN, 0 };
    int fd = -1, r = 0;
    if (poll(&p, 1, CTRUN_READY_MS) <= 0)
        r = fail(ETIMEDOUT, "the container did not get created within %d s", CTRUN_READY_MS / 1000);
    else if (recv_fd(sp[0], &rep, sizeof(rep), &fd) != sizeof(rep))
        r = fail(EPROTO, "the container's keeper died");
    else if (rep.rc < 0)
        r = fail(-rep.rc, "%s", rep.msg);
    close(sp[0]);
    if (r == 0 && fd < 0)
        r = fail(EPROTO, "the container's keeper sent no console");
    if (r < 0) {
        if (fd >= 0)
            close(fd);
        return r;
    }
    h->keeper = rep.keeper;
    h->keeper_start = start_time_of(rep.keeper);
    h->pid = rep.pid;
    *console = fd;
    return 0;
}

bool ctrun_keeper_alive(const struct ct_handle *h)
{
    return h->keeper > 0 && h->keeper_start && start_time_of(h->keeper) == h->keeper_start;
}

int ctrun_console(const struct ct_handle *h)
{
    int pidfd = (int)syscall(SYS_pidfd_open, h->keeper, 0);
    if (pidfd < 0)
        return fail(errno, "the container's keeper (pid %d): %m", (int)h->keeper);
    int fd = -1;
    if (!ctrun_keeper_alive(h))
        errno = ESRCH;
    else
        fd = (int)syscall(SYS_pidfd_getfd, pidfd, CTRUN_MASTER_FD, 0);
    int r = fd >= 0 ? fd : fail(errno, "taking the console from the container's keeper: %m");
    close(pidfd);
    return r;
}

const char *ctrun_status(const struct ct_where *w, pid_t *pid)
{
    struct oci_ctx ctx = { .root = w->oci_root };
    struct oci_state st;
    static const char *const names[] = { "creating", "created", "running", "stopped", "paused" };
    if (pid)
        *pid = 0;
    if (oci_state(&ctx, w->id, &st) < 0)
        return "stopped";
    const char *s = (unsigned)st.status < ARRAY_SIZE(names) ? names[st.status] : "stopped";
    if (pid)
        *pid = st.pid;
    oci_state_free(&st);
    return s;
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
static void __attribute__((noreturn)) exec_child(const struct ct_where *w, char **argv, char **env,
                                                 const char *pid_file, int out, int err)
{
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    dup2(null, 0), dup2(out, 1), dup2(out, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct oci_ctx ctx = { .root = w->oci_root };
    struct oci_exec_opts o = { .args = argv, .env = env, .no_new_privs = -1, .pid_file = pid_file };
    int st = 0;
    if (oci_exec(&ctx, w->id, &o, &st) < 0) {
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

int ctrun_exec(const struct ct_where *w, char **argv, char **env, int timeout_s, int *status, char **output,
               size_t cap)
{
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
    snprintf(pid_file, sizeof(pid_file), "%s/exec-%u.pid", w->run_dir, atomic_fetch_add(&seq, 1));
    unlink(pid_file);
    struct exec_io io = { .fd = out[0], .pid_file = pid_file, .buf = malloc(cap + 1), .cap = cap };
    io.child = io.buf ? fork() : -1;
    if (io.child == 0)
        exec_child(w, argv, env, pid_file, out[1], err[1]);
    int r = io.child < 0 ? fail(io.buf ? errno : ENOMEM, "cannot run the command: %m") : 0;
    close(out[1]), close(err[1]);
    bool killed = r == 0 && exec_collect(&io, now_ns() + (uint64_t)timeout_s * 1000000000ULL);
    close(out[0]);
    unlink(pid_file);
    char emsg[512];
    ssize_t en = read(err[0], emsg, sizeof(emsg) - 1);
    close(err[0]);
    if (r == 0 && en > 0) {
        emsg[en] = 0;
        r = fail(EINVAL, "%s", emsg);
    } else if (r == 0 && killed) {
        r = fail(ETIMEDOUT, "the command did not finish within %d s: killed", timeout_s);
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

int ctrun_stop(const struct ct_where *w, int sig, int timeout_ms)
{
    struct oci_ctx ctx = { .root = w->oci_root };
    pid_t pid;
    const char *st = ctrun_status(w, &pid);
    if (!strcmp(st, "stopped"))
        return 0;
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (sig != SIGKILL && oci_kill(&ctx, w->id, sig, true) == 0 && pidfd >= 0) {
        struct pollfd p = { pidfd, POLLIN, 0 };
        while (poll(&p, 1, timeout_ms) < 0 && errno == EINTR) {
        }
    }
    int r = 0;
    if (strcmp(ctrun_status(w, NULL), "stopped")) {
        r = oci_kill(&ctx, w->id, SIGKILL, true);
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

int ctrun_freeze(const struct ct_where *w, bool frozen)
{
    struct oci_ctx ctx = { .root = w->oci_root };
    return frozen ? oci_pause(&ctx, w->id) : oci_resume(&ctx, w->id);
}

int ctrun_remove(const struct ct_where *w)
{
    struct oci_ctx ctx = { .root = w->oci_root };
    struct oci_state st;
    if (oci_state(&ctx, w->id, &st) < 0)
        return 0;    /* nothing there */
    oci_state_free(&st);
    return oci_delete(&ctx, w->id, true);
}
