/* exec: a new process inside a created or running container.
 *
 * The process is built from the container's config.json process — the copy
 * create kept in the state directory, not the bundle's (or from
 * `-p process.json`), with the command line's overrides.  The runtime joins
 * the container's pid namespace for its children only (setns on the init's
 * pidfd), forks, and the child enters the cgroups (from the host's view of
 * /sys/fs/cgroup), then every other namespace that differs from ours in one
 * setns(pidfd) call — the kernel orders user before the rest — and applies
 * the process attributes exactly as the init does (process.c).  The child
 * reports a set-up error over a CLOEXEC socket; EOF means execve happened. */
#include "oci/oci_internal.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* NAME=VALUE into env (replacing NAME's entry); takes ownership of nothing. */
static int env_set(char ***env, const char *kv)
{
    size_t n = 0, klen = strcspn(kv, "=");
    if (!kv[klen] || !klen)
        return fail(EINVAL, "--env \"%s\": not NAME=VALUE", kv);
    char *dup = strdup(kv);
    if (!dup)
        return fail(ENOMEM, "out of memory");
    for (; (*env)[n]; n++)
        if (strncmp((*env)[n], kv, klen + 1) == 0) {
            free((*env)[n]);
            (*env)[n] = dup;
            return 0;
        }
    char **nv = realloc(*env, (n + 2) * sizeof(char *));
    if (!nv) {
        free(dup);
        return fail(ENOMEM, "out of memory");
    }
    nv[n] = dup;
    nv[n + 1] = NULL;
    *env = nv;
    return 0;
}

static int strv_dup(char **src, char ***out)
{
    size_t n = 0;
    while (src[n])
        n++;
    char **v = calloc(n + 1, sizeof(char *));
    if (!v)
        return fail(ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (!(v[i] = strdup(src[i]))) {
            oci_strv_free(v);
            return fail(ENOMEM, "out of memory");
        }
    *out = v;
    return 0;
}

/* The process to run: -p's, or the config's with the command line's changes. */
static int build_process(const struct oci_exec_opts *o, struct oci_process *p)
{
    int r;
    if (o->process_json) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;
        if ((r = read_file(o->process_json, OCI_CONFIG_MAX, &data, &len)) < 0)
            return r;
        oci_process_free(p);
        if ((r = oci_process_parse((const char *)data, len, p)) < 0)
            return fail(-r, "%s: %s", o->process_json, err_msg());
        return 0;
    }
    if (!o->args || !o->args[0])
        return fail(EINVAL, "exec: no command given (or -p process.json)");
    oci_strv_free(p->args);
    p->args = NULL;
    if ((r = strv_dup(o->args, &p->args)) < 0)
        return r;
    for (size_t i = 0; o->env && o->env[i]; i++)
        if ((r = env_set(&p->env, o->env[i])) < 0)
            return r;
    if (o->cwd) {
        if (o->cwd[0] != '/')
            return fail(EINVAL, "--cwd \"%s\": not an absolute path", o->cwd);
        free(p->cwd);
        if (!(p->cwd = strdup(o->cwd)))
            return fail(ENOMEM, "out of memory");
    }
    if (o->has_user) {
        p->uid = o->uid;
        p->gid = o->gid;
    }
    p->terminal = o->tty;
    if (o->no_new_privs >= 0)
        p->no_new_privileges = o->no_new_privs;
    for (size_t i = 0; o->caps && o->caps[i]; i++) {
        cap_value_t c;
        if (cap_from_name(o->caps[i], &c) < 0 || c < 0 || c > 63)
            return fail(EINVAL, "--cap \"%s\": unknown capability", o->caps[i]);
        if (p->caps.present) {
            uint64_t bit = 1ULL << c;
            p->caps.bounding |= bit;
            p->caps.effective |= bit;
            p->caps.permitted |= bit;
            p->caps.inheritable |= bit;
            p->caps.ambient |= bit;
        }
    }
    return 0;
}

/* The namespaces of pid that differ from ours (CLONE_NEW* flags). */
static int other_namespaces(pid_t pid, int *flags)
{
    static const struct { const char *name; int flag; } ns[] = {
        { "user", CLONE_NEWUSER }, { "mnt", CLONE_NEWNS },     { "pid", CLONE_NEWPID },
        { "net", CLONE_NEWNET },   { "ipc", CLONE_NEWIPC },    { "uts", CLONE_NEWUTS },
        { "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
    };
    *flags = 0;
    for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
        char path[64], mine[64], theirs[64];
        snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns[i].name);
        ssize_t n = readlink(path, theirs, sizeof(theirs) - 1);
        if (n < 0) {
            if (errno == ENOENT)
                continue;   /* a kernel without it */
            return fail(errno, "%s: %s", path, strerror(errno));
        }
        theirs[n] = 0;
        snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i].name);
        n = readlink(path, mine, sizeof(mine) - 1);
        mine[n < 0 ? 0 : n] = 0;
        if (strcmp(mine, theirs) != 0)
            *flags |= ns[i].flag;
    }
    return 0;
}

struct exec_child {
    const struct oci_process *p;
    json_object *seccomp;
    const struct cgroup *cg;
    int pidfd, ns_flags, sync_fd, console_fd;
};

/* A pty inside the container: the master goes to console_fd, the slave
 * becomes our stdio. */
static int exec_tty(int console_fd, const struct oci_process *p)
{
    int master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || unlockpt(master) < 0)
        return fail(errno, "--tty: the container's /dev/pts/ptmx: %s", strerror(errno));
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    int r = slave < 0 ? fail(errno, "--tty: opening the pty: %s", strerror(errno)) : 0;
    if (r == 0 && fchown(slave, p->uid, p->gid) < 0)
        r = fail(errno, "--tty: %s", strerror(errno));
    if (r == 0)
        r = send_console(console_fd, master);
    if (r == 0)
        r = process_setup_tty(slave);
    if (slave >= 0)
        close(slave);
    close(master);
    return r;
}

static int child_setup(const struct exec_child *c, char *exe, size_t len)
{
    int r;
    /* Entered from the host's view of /sys/fs/cgroup, so before the mount
     * namespace; "0" is the writer itself. */
    if ((r = cgroup_enter(c->cg, 0)) < 0)
        return r;
    if (c->ns_flags && setns(c->pidfd, c->ns_flags) < 0)
        return fail(errno, "joining the container's namespaces: %s", strerror(errno));
    /* Its own session, like the init (and as runc does). */
    if (setsid() < 0)
        return fail(errno, "setsid: %s", strerror(errno));
    if (c->console_fd >= 0 && (r = exec_tty(c->console_fd, c->p)) < 0)
        return r;
    if (c->p->has_oom_score_adj) {
        _cleanup_close_ int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || dprintf(fd, "%d", c->p->oom_score_adj) < 0)
            return fail(errno, "process.oomScoreAdj: %s", strerror(errno));
    }
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        return fail(errno, "close_range: %s", strerror(errno));
    if ((r = process_setup(c->p, c->seccomp)) < 0)
        return r;
    return process_find_exec(c->p, exe, len);
}

static void __attribute__((noreturn)) child_main(const struct exec_child *c)
{
    char exe[PATH_MAX];
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int r = child_setup(c, exe, sizeof(exe));
    if (r == 0) {
        execve(exe, c->p->args, c->p->env);
        r = fail(errno, "exec %s: %s", exe, strerror(errno));
    }
    const char *msg = err_msg();
    (void)!send(c->sync_fd, msg, strlen(msg), MSG_NOSIGNAL);
    _exit(127);
}

/* Forks the process into the container; returns its pid. */
static int spawn(struct exec_child *c, bool own_pidns, int *child_pidfd)
{
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
        return fail(errno, "socketpair: %s", strerror(errno));
    /* The pid namespace applies to our children: join it first. */
    if (own_pidns && setns(c->pidfd, CLONE_NEWPID) < 0) {
        int r = fail(errno, "joining the container's pid namespace: %s", strerror(errno));
        close(sp[0]);
        close(sp[1]);
        return r;
    }
    c->ns_flags &= ~CLONE_NEWPID;
    c->sync_fd = sp[1];
    pid_t pid = fork();
    if (pid == 0)
        child_main(c);
    close(sp[1]);
    if (pid < 0) {
        close(sp[0]);
        return fail(errno, "fork: %s", strerror(errno));
    }
    char msg[1024];
    ssize_t n;
    while ((n = recv(sp[0], msg, sizeof(msg) - 1, 0)) < 0 && errno == EINTR) {
    }
    close(sp[0]);
    if (n > 0) {
        msg[n] = 0;
        waitpid(pid, NULL, 0);
        return fail(EINVAL, "%s", msg);
    }
    *child_pidfd = pidfd_open(pid, 0);
    return pid;
}

/* The container, locked only while the process starts (a foreground exec
 * must not keep delete waiting). */
static int exec_start(const struct oci_ctx *ctx, const char *id, const struct oci_exec_opts *o,
                      int console_fd, int *child_pidfd)
{
    int dirfd, r = state_lock(ctx->root, id, false, LOCK_SH, &dirfd);
    if (r < 0)
        return r;
    struct oci_state st;
    struct oci_spec s;
    struct cgroup cg;
    memset(&s, 0, sizeof(s));
    if ((r = state_read(dirfd, id, &st)) < 0) {
        close(dirfd);
        return r;
    }
    if (st.status != OCI_CREATED && st.status != OCI_RUNNING)
        r = fail(EINVAL, "cannot exec in container \"%s\": it is %s", id,
                 oci_status_name(st.status));
    if (r == 0)
        r = state_load_spec(dirfd, &st, &s);
    if (r == 0 && !s.has_process && !o->process_json)
        r = fail(EINVAL, "config.json: process: missing");
    if (r == 0)
        r = build_process(o, &s.process);
    if (r == 0 && s.process.terminal && console_fd < 0)
        r = fail(EINVAL, "the process has a terminal: --console-socket is required");
    if (r == 0 && !s.process.terminal && console_fd >= 0)
        r = fail(EINVAL, "--console-socket needs --tty");
    if (r == 0)
        r = cgroup_open(st.cgroup_path ? st.cgroup_path : "/", &cg);
    int pidfd = r == 0 ? pidfd_open(st.pid, 0) : -1;
    if (r == 0 && (pidfd < 0 || !state_alive(&st)))
        r = fail(ESRCH, "container \"%s\" is not running", id);
    struct exec_child c = { .p = &s.process, .seccomp = s.seccomp, .cg = &cg, .pidfd = pidfd,
                            .console_fd = s.process.terminal ? console_fd : -1 };
    if (r == 0 && !st.cgroup_path)
        cg.n = 0;   /* a container without cgroups: nothing to enter */
    if (r == 0)
        r = other_namespaces(st.pid, &c.ns_flags);
    if (r == 0)
        r = spawn(&c, c.ns_flags & CLONE_NEWPID, child_pidfd);
    if (r > 0 && o->pid_file) {
        int w = write_pid_file(o->pid_file, r);
        if (w < 0) {
            kill(r, SIGKILL);
            waitpid(r, NULL, 0);
            close(*child_pidfd);
            r = w;
        }
    }
    if (pidfd >= 0)
        close(pidfd);
    oci_spec_free(&s);
    oci_state_free(&st);
    close(dirfd);
    return r;
}

int oci_exec(const struct oci_ctx *ctx, const char *id, const struct oci_exec_opts *o,
             int *exit_status)
{
    sigset_t fwd, old;
    int console = -1, relay[2] = { -1, -1 };
    if (o->console_socket && (console = connect_console(o->console_socket)) < 0)
        return console;
    /* --tty without a console socket: the pty comes back to us to relay. */
    if (o->tty && !o->console_socket && !o->detach &&
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, relay) == 0)
        console = relay[1];
    if (!o->detach)
        block_forwarded(&fwd, &old);
    int pidfd = -1;
    int pid = exec_start(ctx, id, o, console, &pidfd);
    if (console >= 0)
        close(console);
    int r = pid < 0 ? pid : 0;
    if (r == 0 && !o->detach) {
        int master = relay[0] >= 0 ? recv_console(relay[0]) : -1;
        *exit_status = master >= 0 ? tty_relay(master, pid, pidfd, &fwd)
                                   : wait_forwarding(pid, pidfd, &fwd);
    }
    if (relay[0] >= 0)
        close(relay[0]);
    if (pidfd >= 0)
        close(pidfd);
    if (!o->detach)
        sigprocmask(SIG_SETMASK, &old, NULL);
    return r;
}
