/* Processes corrald starts and finds again.  See proc.h. */
#include "proc/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/util.h"

bool proc_stat(pid_t pid, uint64_t *f, int n)
{
    char state = 0;
    return proc_stat_fields(pid, &state, f, n) && state != 'Z' && state != 'X';
}

uint64_t proc_start_time(pid_t pid)
{
    uint64_t f[23] = { 0 };
    return proc_stat(pid, f, 23) ? f[22] : 0;
}

bool proc_alive(pid_t pid, uint64_t start_time)
{
    return pid > 0 && start_time && proc_start_time(pid) == start_time;
}

bool proc_wait_gone(pid_t pid, uint64_t start_time, int timeout_ms)
{
    for (int waited = 0;; waited += 50) {
        if (!proc_alive(pid, start_time))
            return true;
        if (waited >= timeout_ms)
            return false;
        usleep(50 * 1000);
    }
}

#define KEEP_MAX 4

/* The children of proc_spawn run on stacks of their own in corrald's
 * memory: AddressSanitizer (the unit tests' build) must not instrument
 * them, or it takes their stack for a corrupted one of corrald's. */
#define CHILD_CODE __attribute__((no_sanitize_address))

/* In a forked child: only async-signal-safe calls from here to execv. */
CHILD_CODE static void child_exec(char *const argv[], int in, int out, int err, const int *keep, int nkeep)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    /* Out of the way first, so placing one cannot overwrite another. */
    int high[KEEP_MAX];
    for (int i = 0; i < nkeep; i++)
        high[i] = fcntl(keep[i], F_DUPFD, 64);
    for (int i = 0; i < nkeep; i++)
        dup2(high[i], 3 + i);    /* dup2 clears close-on-exec */
    /* Nothing else of corrald's (sockets, database) may leak into the
     * child, whatever flags its opener used. */
    close_range(3 + (unsigned)nkeep, ~0U, CLOSE_RANGE_CLOEXEC);
    execv(argv[0], argv);
}

/* proc_spawn's two children share corrald's memory (CLONE_VM, as
 * posix_spawn's does) instead of copying it, which a fork of a process
 * with many threads and mappings makes slow: the middle one starts a
 * session and the grandchild, which execs; the middle one then exits, so
 * init, not corrald, is the grandchild's parent.  CLONE_VFORK holds each
 * parent until its child has exec'd or exited, so the results below are
 * written before anyone reads them. */
#define SPAWN_STACK (64 * 1024)

struct spawn {
    char *const *argv;
    int in, out;
    const int *keep;
    int nkeep;
    char *stack;                 /* the grandchild's */
    pid_t pid;                   /* set by the middle child */
    int exec_errno;              /* set by the grandchild if execv fails */
};

CHILD_CODE static int spawn_grandchild(void *arg)
{
    struct spawn *sp = arg;
    /* Its own copy of the dispositions (no CLONE_SIGHAND): corrald's
     * handlers must not run here, on corrald's memory, before the exec. */
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction old;
        if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, NULL, &old) == 0 && old.sa_handler != SIG_IGN &&
            old.sa_handler != SIG_DFL)
            sigaction(sig, &dfl, NULL);
    }
    child_exec(sp->argv, sp->in, sp->out, sp->out, sp->keep, sp->nkeep);
    sp->exec_errno = errno ? errno : ENOEXEC;
    _exit(127);
}

CHILD_CODE static int spawn_middle(void *arg)
{
    struct spawn *sp = arg;
    setsid();
    sp->pid = clone(spawn_grandchild, sp->stack + SPAWN_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, sp);
    _exit(0);
}

int proc_spawn(char *const argv[], const char *log_path, const int *keep, int nkeep, pid_t *out)
{
    if (nkeep < 0 || nkeep > KEEP_MAX)
        return fail(EINVAL, "at most %d fds can be passed on", KEEP_MAX);
    int logfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    char *stacks = mmap(NULL, 2 * SPAWN_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (logfd < 0 || nullfd < 0 || stacks == MAP_FAILED) {
        int e = errno;
        if (logfd >= 0)
            close(logfd);
        if (nullfd >= 0)
            close(nullfd);
        if (stacks != MAP_FAILED)
            munmap(stacks, 2 * SPAWN_STACK);
        return fail(e, "cannot prepare to run %s: %s", argv[0], strerror(e));
    }
    struct spawn sp = { .argv = argv, .in = nullfd, .out = logfd, .keep = keep, .nkeep = nkeep,
                        .stack = stacks + SPAWN_STACK, .pid = -1 };
    /* No signal until the children have their own dispositions. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t mid = clone(spawn_middle, stacks + SPAWN_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &sp);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (mid > 0)
        while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
            ;
    close(logfd);
    close(nullfd);
    munmap(stacks, 2 * SPAWN_STACK);
    if (mid < 0)
        return fail(e, "clone: %s", strerror(e));
    if (sp.pid <= 0)
        return fail(EAGAIN, "cannot start %s", argv[0]);
    if (sp.exec_errno)    /* the grandchild exited; init reaps it */
        return fail(sp.exec_errno, "cannot run %s: %s", argv[0], strerror(sp.exec_errno));
    *out = sp.pid;
    return 0;
}

int proc_run(char *const argv[], const char *input)
{
    int in[2], err[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return fail(errno, "pipe: %m");
    if (pipe2(err, O_CLOEXEC) < 0) {
        int e = errno;
        close(in[0]);
        close(in[1]);
        return fail(e, "pipe: %s", strerror(e));
    }
    pid_t pid = fork();
    if (pid == 0) {
        child_exec(argv, in[0], err[1], err[1], NULL, 0);
        _exit(127);
    }
    close(in[0]);
    close(err[1]);
    if (pid < 0) {
        int e = errno;
        close(in[1]);
        close(err[0]);
        return fail(e, "fork: %s", strerror(e));
    }
    /* The input is small (a ruleset): the pipe takes it whole or the
     * child reads it while we write. */
    (void)write_all(in[1], input, strlen(input));
    close(in[1]);
    char msg[512];
    ssize_t n = read_full(err[0], msg, sizeof(msg) - 1);
    char rest[512];
    while (n == (ssize_t)sizeof(msg) - 1 && read_full(err[0], rest, sizeof(rest)) > 0)
        ;                            /* drain, so the child never blocks on it */
    close(err[0]);
    msg[n > 0 ? n : 0] = 0;
    msg[strcspn(msg, "\n")] = 0;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && !msg[0])
        return fail(ENOENT, "cannot run %s", argv[0]);
    return fail(EIO, "%s failed: %s", argv[0], msg[0] ? msg : "(no message)");
}

bool proc_find(const char *prog, char *out, size_t len)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof(dirs), "%s", path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, len, "%s/%s", d, prog);
        if (access(out, X_OK) == 0)
            return true;
    }
    out[0] = 0;
    return false;
}
