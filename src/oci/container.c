/* The lifecycle: create, start, state, kill, delete, run.
 *
 * create forks the container's init with clone3() straight into its new
 * namespaces (no re-exec of the runtime: the init is this process's copy and
 * runs init_main() below).  The two talk over a SOCK_SEQPACKET pair: the
 * parent writes the id maps of a new user namespace and says "go"; the init
 * sets everything up and answers "ready" or one error line.  The init then
 * blocks reading exec.fifo (opened O_RDWR so it never sees EOF), and create
 * exits: the init is re-parented, no shim stays behind.  start writes one
 * byte to the FIFO; the init reads it and calls execve(). */
#include "oci/oci_internal.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

enum { SYNC_GO = 1, SYNC_READY, SYNC_ERROR };

struct sync_msg {
    int type;
    int err;
    char msg[500];
};

struct init_args {
    const struct oci_spec *s;
    const char *id, *bundle, *rootfs;
    int sync_fd, fifo_fd, console_fd;
    int close_fds[2];           /* the parent's: its sync end, the state lock */
    bool new_userns;
    const struct cgroup *cg;    /* the parent places the init in it */
    char *start_state;          /* the init's: state for the startContainer hooks */
};

/* ---- the container's init ---- */

static int sync_send(int fd, int type, int err, const char *msg)
{
    struct sync_msg m = { .type = type, .err = err };
    snprintf(m.msg, sizeof(m.msg), "%s", msg ? msg : "");
    return send(fd, &m, sizeof(m), MSG_NOSIGNAL) == sizeof(m) ? 0 : -errno;
}

static int join_namespaces(const struct oci_spec *s)
{
    /* The user namespace first: the others usually belong to it.  The pid
     * namespace was joined by the parent (it applies to children only). */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < s->nns; i++) {
            const struct oci_namespace *ns = &s->ns[i];
            if (!ns->path || ns->type == CLONE_NEWPID || (pass == 0) != (ns->type == CLONE_NEWUSER))
                continue;
            _cleanup_close_ int fd = open(ns->path, O_RDONLY | O_CLOEXEC);
            if (fd < 0 || setns(fd, ns->type) < 0)
                return fail(errno, "linux.namespaces: joining %s namespace %s: %s",
                            oci_ns_name(ns->type), ns->path, strerror(errno));
            if (ns->type == CLONE_NEWUSER && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
                return fail(errno, "user namespace %s: becoming root: %s", ns->path,
                            strerror(errno));
        }
    return 0;
}

static int write_proc(const char *path, const char *value, const char *what)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || write_all(fd, value, strlen(value)) < 0)
        return fail(errno, "%s: %s", what, strerror(errno));
    return 0;
}

static int setup_terminal(const struct init_args *a, int master)
{
    if (unlockpt(master) < 0)
        return fail(errno, "process.terminal: unlockpt: %s", strerror(errno));
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        return fail(errno, "process.terminal: opening the pty: %s", strerror(errno));
    int r = 0;
    if (fchown(slave, a->s->process.uid, a->s->process.gid) < 0)
        r = fail(errno, "process.terminal: %s", strerror(errno));
    if (r == 0)
        r = send_console(a->console_fd, master);
    if (r == 0)
        r = process_setup_tty(slave);
    close(slave);
    return r;
}

static int init_setup(struct init_args *a, char *exe, size_t exe_len)
{
    const struct oci_spec *s = a->s;
    const struct oci_process *p = &s->process;
    struct sync_msg m;
    int r;
    /* "go" comes once the id maps are written, the init is in its cgroups
     * and the createRuntime hooks have run; it carries the init's host pid. */
    if (recv(a->sync_fd, &m, sizeof(m), 0) != sizeof(m) || m.type != SYNC_GO)
        _exit(1);   /* the runtime is gone; nobody to tell */
    /* Its own session, as runc gives every container process: left in the
     * caller's process group, a signal to that group (conmon's --timeout
     * kill) would take the caller down with the container. */
    if (setsid() < 0)
        return fail(errno, "setsid: %s", strerror(errno));
    if (a->new_userns && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
        return fail(errno, "linux.uidMappings: container root (0) must be mapped: %s",
                    strerror(errno));
    /* Only now, inside its cgroups, so they are the namespace's root. */
    const struct oci_namespace *cgns = oci_spec_ns(s, CLONE_NEWCGROUP);
    if (cgns && !cgns->path && unshare(CLONE_NEWCGROUP) < 0)
        return fail(errno, "cgroup namespace: %s", strerror(errno));
    if ((r = join_namespaces(s)) < 0)
        return r;
    _cleanup_free_ char *create_state = NULL;
    if (s->hooks.n[OCI_HOOK_CREATE_CONTAINER] &&
        !(create_state = hooks_state(a->id, OCI_CREATING, m.err, a->bundle, s->annotations)))
        return fail(ENOMEM, "out of memory");
    if (s->hooks.n[OCI_HOOK_START_CONTAINER] &&
        !(a->start_state = hooks_state(a->id, OCI_CREATED, m.err, a->bundle, s->annotations)))
        return fail(ENOMEM, "out of memory");
    if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
        return fail(errno, "hostname: %s", strerror(errno));
    if (s->domainname && setdomainname(s->domainname, strlen(s->domainname)) < 0)
        return fail(errno, "domainname: %s", strerror(errno));
    if (p->has_oom_score_adj) {
        char v[16];
        snprintf(v, sizeof(v), "%d", p->oom_score_adj);
        if ((r = write_proc("/proc/self/oom_score_adj", v, "process.oomScoreAdj")) < 0)
            return r;
    }
    if (chdir(a->bundle) < 0)
        return fail(errno, "bundle %s: %s", a->bundle, strerror(errno));
    int master = -1;
    bool in_userns = a->new_userns || (oci_spec_ns(s, CLONE_NEWUSER) != NULL);
    if ((r = rootfs_setup(s, a->rootfs, in_userns, p->terminal ? &master : NULL,
                          create_state)) < 0)
        return r;
    if (master >= 0) {
        r = setup_terminal(a, master);
        close(master);
        close(a->console_fd);
        if (r < 0)
            return r;
    }
    /* The container gets fds 0-2 only; ours close on execve(). */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        return fail(errno, "close_range: %s", strerror(errno));
    if ((r = process_setup(p, s->seccomp)) < 0)
        return r;
    return process_find_exec(p, exe, exe_len);
}

static void __attribute__((noreturn)) init_main(struct init_args *a)
{
    char exe[PATH_MAX];
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* The state lock would stay held while we wait for start. */
    close(a->close_fds[0]);
    close(a->close_fds[1]);
    /* Die with the runtime until the set-up is done. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    struct pollfd pf = { .fd = a->sync_fd, .events = 0 };
    if (poll(&pf, 1, 0) > 0 && (pf.revents & (POLLHUP | POLLERR)))
        _exit(1);
    int r = init_setup(a, exe, sizeof(exe));
    if (r < 0) {
        sync_send(a->sync_fd, SYNC_ERROR, -r, err_msg());
        _exit(1);
    }
    prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    if (sync_send(a->sync_fd, SYNC_READY, 0, NULL) < 0)
        _exit(1);
    close(a->sync_fd);
    char c;
    ssize_t n;
    while ((n = read(a->fifo_fd, &c, 1)) < 0 && errno == EINTR) {
    }
    if (n != 1)
        _exit(1);
    if (a->start_state && hooks_run(&a->s->hooks, OCI_HOOK_START_CONTAINER, a->start_state) < 0) {
        dprintf(STDERR_FILENO, "corral-oci: %s\n", err_msg());
        _exit(1);
    }
    execve(exe, a->s->process.args, a->s->process.env);
    dprintf(STDERR_FILENO, "corral-oci: exec %s: %s\n", exe, strerror(errno));
    _exit(127);
}

/* ---- create ---- */

struct clone3_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static int write_id_map(pid_t pid, const char *file, const struct oci_idmap *maps, size_t n)
{
    char path[64], buf[340 * 40];
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%u %u %u\n",
                                maps[i].container_id, maps[i].host_id, maps[i].size);
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
        return fail(errno, "linux.%s: writing %s: %s", strcmp(file, "uid_map") == 0
                    ? "uidMappings" : "gidMappings", path, strerror(errno));
    return 0;
}

static void rfc3339_now(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%09ldZ", ts.tv_nsec);
}

static int resolve_paths(const char *bundle_arg, const struct oci_spec *s, char *bundle, char *rootfs)
{
    char tmp[PATH_MAX];
    if (!realpath(bundle_arg, bundle))
        return fail(errno, "bundle %s: %s", bundle_arg, strerror(errno));
    if (snprintf(tmp, sizeof(tmp), "%s/%s", s->root_path[0] == '/' ? "" : bundle,
                 s->root_path) >= (int)sizeof(tmp))
        return fail(ENAMETOOLONG, "root.path: too long");
    struct stat st;
    if (!realpath(tmp, rootfs) || stat(rootfs, &st) < 0)
        return fail(errno, "root.path: %s: %s", tmp, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fail(ENOTDIR, "root.path: %s is not a directory", tmp);
    return 0;
}

/* Spawns the init and waits for it to be ready.  Returns its pid; the caller
 * owns the pidfd. */
static int spawn_init(struct init_args *a, int parent_fd, int *pidfd_out)
{
    const struct oci_spec *s = a->s;
    uint64_t flags = 0;
    for (size_t i = 0; i < s->nns; i++)
        if (!s->ns[i].path)
            flags |= (uint64_t)s->ns[i].type;
    flags &= ~(uint64_t)CLONE_NEWCGROUP;   /* the init unshares it once in its cgroups */
    const struct oci_namespace *pidns = oci_spec_ns(s, CLONE_NEWPID);
    if (pidns && pidns->path) {
        /* Affects our next child only: the init starts inside it. */
        _cleanup_close_ int fd = open(pidns->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWPID) < 0) {
            close(a->sync_fd);
            return fail(errno, "linux.namespaces: joining pid namespace %s: %s", pidns->path,
                        strerror(errno));
        }
    }
    int pidfd = -1;
    struct clone3_args ca = { .flags = flags | CLONE_PIDFD, .pidfd = (uint64_t)(uintptr_t)&pidfd,
                              .exit_signal = SIGCHLD };
    pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid < 0) {
        int r = fail(errno, "clone3 (namespaces 0x%llx): %s", (unsigned long long)flags,
                     strerror(errno));
        close(a->sync_fd);
        return r;
    }
    if (pid == 0)
        init_main(a);
    *pidfd_out = pidfd;
    /* Only the init holds its end now: its death reads as EOF here. */
    close(a->sync_fd);
    int r = 0;
    if (a->new_userns && (r = write_id_map(pid, "uid_map", s->uid_maps, s->nuid_maps)) == 0)
        r = write_id_map(pid, "gid_map", s->gid_maps, s->ngid_maps);
    if (r == 0)
        r = cgroup_enter(a->cg, pid);
    if (r == 0 && (s->hooks.n[OCI_HOOK_PRESTART] || s->hooks.n[OCI_HOOK_CREATE_RUNTIME])) {
        char *state = hooks_state(a->id, OCI_CREATING, pid, a->bundle, s->annotations);
        r = state ? hooks_run(&s->hooks, OCI_HOOK_PRESTART, state) : fail(ENOMEM, "out of memory");
        if (r == 0)
            r = hooks_run(&s->hooks, OCI_HOOK_CREATE_RUNTIME, state);
        free(state);
    }
    if (r == 0 && sync_send(parent_fd, SYNC_GO, (int)pid, NULL) < 0)
        r = fail(EPIPE, "container init died");
    struct sync_msg m;
    ssize_t n = r == 0 ? recv(parent_fd, &m, sizeof(m), 0) : 0;
    if (r == 0 && n != sizeof(m))
        r = fail(EPIPE, "container init died during set-up");
    else if (r == 0 && m.type == SYNC_ERROR)
        r = fail(m.err, "%s", m.msg);
    if (r < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(pidfd);
        return r;
    }
    return pid;
}

/* relay_fd (or -1): where the init sends its pty master when the config
 * asks for a terminal and there is no --console-socket (run in the
 * foreground relays it); *terminal says whether it did. */
static int create_container(const struct oci_ctx *ctx, const char *id,
                            const struct oci_create_opts *o, int relay_fd, bool *terminal,
                            pid_t *pid_out, int *pidfd_out)
{
    struct oci_spec s;
    char bundle[PATH_MAX], rootfs[PATH_MAX];
    int r = oci_validate_id(id);
    if (r < 0)
        return r;
    _cleanup_free_ uint8_t *text = NULL;
    size_t text_len = 0;
    if ((r = spec_load_text(o->bundle ? o->bundle : ".", &s, &text, &text_len)) < 0)
        return r;
    if (!s.has_process)
        r = fail(EINVAL, "config.json: process: missing");
    else if (s.process.terminal && !o->console_socket && relay_fd < 0)
        r = fail(EINVAL, "process.terminal is true: --console-socket is required (or run "
                         "in the foreground)");
    else if (!s.process.terminal && o->console_socket)
        r = fail(EINVAL, "--console-socket needs process.terminal to be true");
    if (r == 0)
        r = spec_check_host_ns(&s);
    if (r == 0)
        r = resolve_paths(o->bundle ? o->bundle : ".", &s, bundle, rootfs);
    char cgpath[CG_PATH_MAX];
    struct cgroup cg;
    if (r == 0 && (r = cgroup_path(&s, id, cgpath, sizeof(cgpath))) == 0)
        r = cgroup_open(cgpath, &cg);
    int dirfd = -1;
    if (r == 0)
        r = state_lock(ctx->root, id, true, LOCK_EX, &dirfd);
    if (r == 0 && (r = cgroup_create(&cg, &s)) < 0)
        state_remove(ctx->root, id, dirfd);
    if (r < 0) {
        if (dirfd >= 0)
            close(dirfd);
        oci_spec_free(&s);
        return r;
    }
    int fifo = -1, console = -1, sp[2] = { -1, -1 }, pidfd = -1;
    pid_t pid = -1;
    if (mkfifoat(dirfd, STATE_FIFO, 0600) < 0 ||
        (fifo = openat(dirfd, STATE_FIFO, O_RDWR | O_CLOEXEC)) < 0)
        r = fail(errno, "exec fifo: %s", strerror(errno));
    if (r == 0 && o->console_socket && (console = connect_console(o->console_socket)) < 0)
        r = console;
    else if (r == 0 && s.process.terminal && !o->console_socket &&
             (console = fcntl(relay_fd, F_DUPFD_CLOEXEC, 3)) < 0)
        r = fail(errno, "process.terminal: %s", strerror(errno));
    if (r == 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
        r = fail(errno, "socketpair: %s", strerror(errno));
    if (r == 0) {
        const struct oci_namespace *user = oci_spec_ns(&s, CLONE_NEWUSER);
        struct init_args a = { .s = &s, .id = id, .bundle = bundle, .rootfs = rootfs,
                               .sync_fd = sp[1], .fifo_fd = fifo, .console_fd = console,
                               .close_fds = { sp[0], dirfd },
                               .new_userns = user && !user->path, .cg = &cg };
        int r2 = spawn_init(&a, sp[0], &pidfd);
        sp[1] = -1;   /* closed by spawn_init once the init has it */
        if (r2 < 0)
            r = r2;
        else
            pid = r2;
    }
    if (r == 0) {
        const struct oci_namespace *pidns = oci_spec_ns(&s, CLONE_NEWPID);
        char created[64];
        rfc3339_now(created, sizeof(created));
        struct oci_state st = { .status = OCI_CREATED, .pid = pid,
                                .start_time = pid_start_time(pid, NULL),
                                .bundle = bundle, .rootfs = rootfs, .created = created,
                                .annotations = s.annotations,
                                .own_pidns = pidns && !pidns->path, .cgroup_path = cgpath,
                                .hooks = s.hooks.json };
        snprintf(st.id, sizeof(st.id), "%s", id);
        r = state_save_config(dirfd, text, text_len);
        if (r == 0)
            r = state_write(dirfd, &st);
        if (r == 0 && o->pid_file)
            r = write_pid_file(o->pid_file, pid);
        if (r < 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
    }
    if (r < 0) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        cgroup_destroy(&cg);
        state_remove(ctx->root, id, dirfd);
        r = fail(-r, "%s", msg);
    }
    int fds[] = { fifo, console, sp[0], sp[1], dirfd };
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (terminal)
        *terminal = s.process.terminal;
    oci_spec_free(&s);
    if (r == 0 && pid_out) {
        *pid_out = pid;
        *pidfd_out = pidfd;
    } else if (pidfd >= 0) {
        close(pidfd);
    }
    return r;
}

int oci_create(const struct oci_ctx *ctx, const char *id, const struct oci_create_opts *o)
{
    return create_container(ctx, id, o, -1, NULL, NULL, NULL);
}

/* ---- start, state, kill, delete ---- */

/* poststart and poststop: from the hooks kept in the state; a failure is
 * only a warning (runtime.md). */
static void run_state_hooks(const struct oci_state *st, enum oci_hook_kind kind)
{
    struct oci_hooks h;
    if (!st->hooks || hooks_parse(st->hooks, &h) < 0)
        return;
    char *state = hooks_state(st->id, st->status, st->pid, st->bundle, st->annotations);
    if (state && hooks_run(&h, kind, state) < 0)
        log_warn("%s", err_msg());
    free(state);
    hooks_free(&h);
}

int oci_start(const struct oci_ctx *ctx, const char *id)
{
    int dirfd, r = state_lock(ctx->root, id, false, LOCK_EX, &dirfd);
    if (r < 0)
        return r;
    struct oci_state st;
    if ((r = state_read(dirfd, id, &st)) < 0)
        goto out;
    if (st.status != OCI_CREATED) {
        r = fail(EINVAL, "cannot start container \"%s\": it is %s, not created", id,
                 oci_status_name(st.status));
        goto out_state;
    }
    int fd = openat(dirfd, STATE_FIFO, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        r = fail(errno, "cannot start container \"%s\": %s", id,
                 errno == ENXIO ? "its init is gone" : strerror(errno));
        goto out_state;
    }
    if (write(fd, "0", 1) != 1)
        r = fail(errno, "cannot start container \"%s\": %s", id, strerror(errno));
    close(fd);
    if (r == 0) {
        unlinkat(dirfd, STATE_FIFO, 0);
        st.status = OCI_RUNNING;
        r = state_write(dirfd, &st);
    }
    if (r == 0)
        run_state_hooks(&st, OCI_HOOK_POSTSTART);
out_state:
    oci_state_free(&st);
out:
    close(dirfd);
    return r;
}

int oci_state(const struct oci_ctx *ctx, const char *id, struct oci_state *st)
{
    int dirfd, r = state_lock(ctx->root, id, false, LOCK_SH, &dirfd);
    if (r < 0)
        return r;
    r = state_read(dirfd, id, st);
    close(dirfd);
    return r;
}

/* A pidfd for the state's process, or -ESRCH if it is no longer that process. */
static int open_pidfd(const struct oci_state *st)
{
    int fd = pidfd_open(st->pid, 0);
    if (fd < 0)
        return -ESRCH;
    /* The pidfd pins the pid: re-check that it is still the container's. */
    if (!state_alive(st)) {
        close(fd);
        return -ESRCH;
    }
    return fd;
}

/* Signals every process in the container's cgroup.  Frozen meanwhile, so
 * none can fork a child that escapes the signal; a paused container stays
 * frozen, except that SIGKILL needs it thawed to act. */
static int kill_all(const struct oci_state *st, int sig)
{
    struct cgroup cg;
    int r = cgroup_open(st->cgroup_path ? st->cgroup_path : "/", &cg);
    if (r == 0 && !st->cgroup_path)
        r = fail(ENOENT, "container \"%s\" has no cgroup", st->id);
    if (r < 0)
        return r;
    bool paused = cgroup_frozen(&cg);
    bool froze = !paused && cgroup_freeze(&cg, true) == 0;
    r = cgroup_signal(&cg, sig);
    if (froze || (paused && sig == SIGKILL))
        cgroup_freeze(&cg, false);
    return r;
}

static int signal_container(const struct oci_state *st, int sig, bool all)
{
    int pidfd = open_pidfd(st);
    if (pidfd < 0)
        return fail(ESRCH, "container \"%s\" is not running", st->id);
    int r = 0;
    if (all)
        r = kill_all(st, sig);
    else if (pidfd_send_signal(pidfd, sig, NULL, 0) < 0)
        r = fail(errno, "kill %s: %s", st->id, strerror(errno));
    close(pidfd);
    return r;
}

int oci_kill(const struct oci_ctx *ctx, const char *id, int sig, bool all)
{
    int dirfd, r = state_lock(ctx->root, id, false, LOCK_SH, &dirfd);
    if (r < 0)
        return r;
    struct oci_state st;
    if ((r = state_read(dirfd, id, &st)) == 0) {
        if (st.status == OCI_STOPPED)
            r = fail(EINVAL, "cannot kill container \"%s\": it is %s", id,
                     oci_status_name(st.status));
        else
            r = signal_container(&st, sig, all);
        oci_state_free(&st);
    }
    close(dirfd);
    return r;
}

/* Kills the container and waits (up to 10 s) until its init is gone. */
static int kill_and_wait(const struct oci_state *st)
{
    int pidfd = open_pidfd(st);
    if (pidfd < 0)
        return 0;
    pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
    if (st->cgroup_path)
        kill_all(st, SIGKILL);   /* and thaws a paused container so it can die */
    struct pollfd pf = { .fd = pidfd, .events = POLLIN };
    int n;
    while ((n = poll(&pf, 1, 10000)) < 0 && errno == EINTR) {
    }
    close(pidfd);
    return n > 0 ? 0 : fail(ETIMEDOUT, "container \"%s\" did not die after SIGKILL", st->id);
}

int oci_delete(const struct oci_ctx *ctx, const char *id, bool force)
{
    int dirfd, r = state_lock(ctx->root, id, false, LOCK_EX, &dirfd);
    if (r == -ENOENT && force)
        return 0;   /* nothing to delete: fine for --force, as with runc */
    if (r < 0)
        return r;
    struct oci_state st;
    if ((r = state_read(dirfd, id, &st)) < 0 && force) {
        /* A directory without a readable state (a create that crashed):
         * --force cleans it up. */
        r = 0;
        memset(&st, 0, sizeof(st));
        st.status = OCI_STOPPED;
    }
    if (r == 0) {
        if (st.status != OCI_STOPPED && !force)
            r = fail(EBUSY, "cannot delete container \"%s\": it is %s (use --force)", id,
                     oci_status_name(st.status));
        else if (st.status != OCI_STOPPED)
            r = kill_and_wait(&st);
        struct cgroup cg;
        if (r == 0 && st.cgroup_path && (r = cgroup_open(st.cgroup_path, &cg)) == 0)
            r = cgroup_destroy(&cg);
        if (r == 0)
            r = state_remove(ctx->root, id, dirfd);
        if (r == 0) {
            st.status = OCI_STOPPED;
            run_state_hooks(&st, OCI_HOOK_POSTSTOP);
        }
        oci_state_free(&st);
    }
    close(dirfd);
    return r;
}

/* ---- run ---- */

/* Forwards signals to the container until its init exits; returns the
 * exit status as a shell reports it. */
void block_forwarded(sigset_t *fwd, sigset_t *old)
{
    static const int forwarded[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2,
                                     SIGWINCH, SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU };
    sigemptyset(fwd);
    for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
        sigaddset(fwd, forwarded[i]);
    sigprocmask(SIG_BLOCK, fwd, old);
}

int wait_forwarding(pid_t pid, int pidfd, const sigset_t *fwd)
{
    int sfd = signalfd(-1, fwd, SFD_CLOEXEC);
    struct pollfd pf[2] = { { .fd = pidfd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
    for (;;) {
        int n = poll(pf, sfd >= 0 ? 2 : 1, -1);
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0 && (pf[0].revents & (POLLIN | POLLHUP)))
            break;
        struct signalfd_siginfo si;
        if (n > 0 && (pf[1].revents & POLLIN) && read(sfd, &si, sizeof(si)) == sizeof(si))
            pidfd_send_signal(pidfd, (int)si.ssi_signo, NULL, 0);
    }
    if (sfd >= 0)
        close(sfd);
    int wst = 0;
    while (waitpid(pid, &wst, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
}

int oci_run(const struct oci_ctx *ctx, const char *id, const struct oci_create_opts *o,
            bool detach, int *exit_status)
{
    sigset_t fwd, old;
    /* Blocked before the fork so nothing is lost; the init unblocks them. */
    if (!detach)
        block_forwarded(&fwd, &old);
    /* In the foreground without --console-socket, a terminal the config
     * asks for comes back to us and is relayed to ours, as runc does. */
    int relay[2] = { -1, -1 };
    if (!detach && !o->console_socket &&
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, relay) < 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        return fail(errno, "socketpair: %s", strerror(errno));
    }
    pid_t pid = -1;
    bool terminal = false;
    int pidfd = -1, r = create_container(ctx, id, o, relay[1], &terminal, &pid, &pidfd);
    if (relay[1] >= 0)
        close(relay[1]);
    int master = -1;
    if (r == 0 && terminal && relay[0] >= 0 && (master = recv_console(relay[0])) < 0) {
        r = master;
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        oci_delete(ctx, id, true);
        waitpid(pid, NULL, 0);
        r = fail(-r, "%s", msg);
    }
    if (relay[0] >= 0)
        close(relay[0]);
    if (r == 0 && (r = oci_start(ctx, id)) < 0) {
        if (master >= 0)
            close(master);
        master = -1;
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        oci_delete(ctx, id, true);
        waitpid(pid, NULL, 0);
        r = fail(-r, "%s", msg);
    }
    if (r == 0 && !detach) {
        *exit_status = master >= 0 ? tty_relay(master, pid, pidfd, &fwd)
                                   : wait_forwarding(pid, pidfd, &fwd);
        /* Someone may have run delete --force meanwhile: that is fine. */
        if ((r = oci_delete(ctx, id, false)) == -ENOENT)
            r = 0;
    }
    if (pidfd >= 0)
        close(pidfd);
    if (!detach)
        sigprocmask(SIG_SETMASK, &old, NULL);
    return r;
}
