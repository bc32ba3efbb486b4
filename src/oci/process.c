/* The container process's attributes, applied by its init just before it
 * blocks on the exec FIFO.  The order is the kernel's, not a choice:
 * rlimits and the bounding set need the runtime's full capabilities, so they
 * come first; then the user switch with PR_SET_KEEPCAPS so the configured
 * capabilities survive it; then capset() and the ambient set; no_new_privs
 * last, so nothing after it needs a privilege. */
#include "oci/oci_internal.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static int last_cap(void)
{
    static int last = -1;
    if (last < 0) {
        char buf[16] = "";
        int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            (void)!read(fd, buf, sizeof(buf) - 1);
            close(fd);
        }
        last = buf[0] ? atoi(buf) : CAP_LAST_CAP;
        if (last <= 0 || last > 63)
            last = CAP_LAST_CAP;
    }
    return last;
}

static int is_executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int process_find_exec(const struct oci_process *p, char *out, size_t len)
{
    const char *prog = p->args[0];
    if (strchr(prog, '/')) {
        if (!is_executable(prog))
            return fail(errno ? errno : EACCES, "exec: \"%s\": %s", prog,
                        errno == ENOENT ? "no such file or directory"
                                        : "not an executable file");
        snprintf(out, len, "%s", prog);
        return 0;
    }
    const char *path = DEFAULT_PATH;
    for (size_t i = 0; p->env[i]; i++)
        if (strncmp(p->env[i], "PATH=", 5) == 0)
            path = p->env[i] + 5;
    for (const char *d = path;; d++) {
        const char *end = strchrnul(d, ':');
        int n = snprintf(out, len, "%.*s/%s", (int)(end - d), d, prog);
        if (end == d)
            n = snprintf(out, len, "./%s", prog);   /* an empty entry is "." */
        if (n > 0 && (size_t)n < len && is_executable(out))
            return 0;
        if (!*end)
            break;
        d = end;
    }
    return fail(ENOENT, "exec: \"%s\": executable file not found in $PATH", prog);
}

static int set_rlimits(const struct oci_process *p)
{
    static const char *const names[] = {
        [RLIMIT_CPU] = "RLIMIT_CPU", [RLIMIT_FSIZE] = "RLIMIT_FSIZE", [RLIMIT_DATA] = "RLIMIT_DATA",
        [RLIMIT_STACK] = "RLIMIT_STACK", [RLIMIT_CORE] = "RLIMIT_CORE", [RLIMIT_RSS] = "RLIMIT_RSS",
        [RLIMIT_NPROC] = "RLIMIT_NPROC", [RLIMIT_NOFILE] = "RLIMIT_NOFILE",
        [RLIMIT_MEMLOCK] = "RLIMIT_MEMLOCK", [RLIMIT_AS] = "RLIMIT_AS",
        [RLIMIT_LOCKS] = "RLIMIT_LOCKS", [RLIMIT_SIGPENDING] = "RLIMIT_SIGPENDING",
        [RLIMIT_MSGQUEUE] = "RLIMIT_MSGQUEUE", [RLIMIT_NICE] = "RLIMIT_NICE",
        [RLIMIT_RTPRIO] = "RLIMIT_RTPRIO", [RLIMIT_RTTIME] = "RLIMIT_RTTIME",
    };
    for (size_t i = 0; i < p->nrlimits; i++) {
        const struct oci_rlimit *l = &p->rlimits[i];
        struct rlimit rl = { .rlim_cur = l->soft, .rlim_max = l->hard };
        if (setrlimit(l->resource, &rl) < 0)
            return fail(errno, "process.rlimits: %s %llu/%llu: %s", names[l->resource],
                        (unsigned long long)l->soft, (unsigned long long)l->hard,
                        strerror(errno));
    }
    return 0;
}

static int set_user(const struct oci_process *p)
{
    /* gid_t and uint32_t are the same width on Linux. */
    if (setgroups(p->ngids, (const gid_t *)p->gids) < 0 && !(errno == EPERM && p->ngids == 0))
        return fail(errno, "process.user.additionalGids: setgroups: %s", strerror(errno));
    if (setresgid(p->gid, p->gid, p->gid) < 0)
        return fail(errno, "process.user.gid %u: %s", p->gid, strerror(errno));
    if (setresuid(p->uid, p->uid, p->uid) < 0)
        return fail(errno, "process.user.uid %u: %s", p->uid, strerror(errno));
    return 0;
}

static int set_caps(const struct oci_caps *c)
{
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
    struct __user_cap_data_struct data[2];
    const uint64_t *sets[] = { &c->effective, &c->permitted, &c->inheritable };
    uint64_t mask = last_cap() == 63 ? ~0ULL : (1ULL << (last_cap() + 1)) - 1;
    for (int w = 0; w < 2; w++) {
        data[w].effective = (uint32_t)((*sets[0] & mask) >> (32 * w));
        data[w].permitted = (uint32_t)((*sets[1] & mask) >> (32 * w));
        data[w].inheritable = (uint32_t)((*sets[2] & mask) >> (32 * w));
    }
    if (syscall(SYS_capset, &hdr, data) < 0)
        return fail(errno, "process.capabilities: capset: %s", strerror(errno));
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return fail(errno, "process.capabilities.ambient: %s", strerror(errno));
    /* The kernel raises an ambient capability only if it is permitted and
     * inheritable; like runc, the others are skipped (fewer privileges). */
    uint64_t ambient = c->ambient & c->permitted & c->inheritable;
    for (int cap = 0; cap <= last_cap(); cap++)
        if ((ambient >> cap & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
            return fail(errno, "process.capabilities.ambient: capability %d: %s", cap,
                        strerror(errno));
    return 0;
}

int process_setup(const struct oci_process *p, json_object *seccomp)
{
    int r;
    if ((r = set_rlimits(p)) < 0)
        return r;
    if (p->caps.present)
        for (int cap = 0; cap <= last_cap(); cap++)
            if (!(p->caps.bounding >> cap & 1) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
                return fail(errno, "process.capabilities.bounding: dropping %d: %s", cap,
                            strerror(errno));
    /* chdir as the container's root: the cwd may be closed to the user. */
    if (chdir(p->cwd) < 0)
        return fail(errno, "process.cwd: %s: %s", p->cwd, strerror(errno));
    /* Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it
     * while the runtime still has it (the profile then covers the rest of
     * the set-up, as with runc). */
    if (seccomp && !p->no_new_privileges && (r = seccomp_install(seccomp)) < 0)
        return r;
    if (p->caps.present && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return fail(errno, "PR_SET_KEEPCAPS: %s", strerror(errno));
    if ((r = set_user(p)) < 0)
        return r;
    if (p->caps.present) {
        if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
            return fail(errno, "PR_SET_KEEPCAPS: %s", strerror(errno));
        if ((r = set_caps(&p->caps)) < 0)
            return r;
    }
    if (p->has_umask)
        umask(p->umask);
    if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return fail(errno, "process.noNewPrivileges: %s", strerror(errno));
    if (seccomp && p->no_new_privileges && (r = seccomp_install(seccomp)) < 0)
        return r;
    return 0;
}

int process_setup_tty(int slave)
{
    if (ioctl(slave, TIOCSCTTY, 0) < 0)
        return fail(errno, "process.terminal: making the pty the controlling terminal: %s",
                    strerror(errno));
    for (int fd = 0; fd < 3; fd++)
        if (dup2(slave, fd) < 0)
            return fail(errno, "process.terminal: dup2: %s", strerror(errno));
    return 0;
}
