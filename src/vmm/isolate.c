/* The sandbox corral-vmm locks itself into once every host resource is
 * open: an optional chroot with a new uid/gid (like Firecracker's jailer),
 * no capabilities, no way to regain privileges, and a system-call allowlist.
 * A guest that takes over the VMM's device emulation still cannot open
 * files, create sockets or exec anything. */
#include "vmm.h"

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/kvm.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <seccomp.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <termios.h>

int isolate_jail(const char *dir, uint64_t uid, uint64_t gid, bool set_ids)
{
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return fail(ENOTDIR, "--jail %s: not a directory", dir);
    if (chroot(dir) < 0 || chdir("/") < 0)
        return fail(errno, "--jail %s: cannot chroot: %s", dir, strerror(errno));
    if (set_ids) {
        if (setgroups(0, NULL) < 0 || setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) < 0 ||
            setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0)
            return fail(errno, "--uid/--gid: cannot switch to %llu:%llu: %s",
                        (unsigned long long)uid, (unsigned long long)gid, strerror(errno));
    }
    return 0;
}

int isolate_drop_caps(void)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return fail(errno, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    for (int c = 0; c <= CAP_LAST_CAP; c++)
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL && errno != EPERM)
            return fail(errno, "cannot drop capability %d: %s", c, strerror(errno));
    cap_t caps = cap_init(); /* empty set */
    if (!caps)
        return fail(ENOMEM, "out of memory");
    int r = cap_set_proc(caps);
    cap_free(caps);
    if (r < 0)
        return fail(errno, "cannot drop capabilities: %s", strerror(errno));
    return 0;
}

/* Everything the VMM does after set-up: vCPU runs, device I/O, the event
 * loop, the API, thread creation for a reboot, logging. */
static const int allowed[] = {
    SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
    SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev),
    SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(lseek), SCMP_SYS(close),
    SCMP_SYS(ftruncate),    /* qcow2 grows its file ahead of allocations (qcow2_refcount.c) */
    SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl), SCMP_SYS(poll), SCMP_SYS(ppoll),
    SCMP_SYS(accept4), SCMP_SYS(eventfd2),
    /* a migration's connection (the socket itself: see isolate_seccomp);
     * GnuTLS sends and receives with send() and recv() */
    SCMP_SYS(connect), SCMP_SYS(sendmsg), SCMP_SYS(recvmsg), SCMP_SYS(sendto), SCMP_SYS(recvfrom),
    SCMP_SYS(getsockopt), SCMP_SYS(setsockopt), SCMP_SYS(fcntl), SCMP_SYS(fstat),
    SCMP_SYS(newfstatat), SCMP_SYS(unlink),
    SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mprotect), SCMP_SYS(madvise),
    SCMP_SYS(brk), SCMP_SYS(mremap),
    SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(sched_yield),
    SCMP_SYS(sched_getaffinity), SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep),
    SCMP_SYS(timerfd_create), SCMP_SYS(timerfd_settime),
    SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday), SCMP_SYS(getrandom),
    SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
    SCMP_SYS(sigaltstack), SCMP_SYS(tgkill), SCMP_SYS(gettid), SCMP_SYS(getpid),
    SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(restart_syscall),
};

static const unsigned long allowed_ioctls[] = {
    KVM_RUN, KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS,
    KVM_IRQ_LINE, KVM_IRQFD, KVM_IOEVENTFD, KVM_CREATE_VM, KVM_CREATE_VCPU,
    KVM_SET_USER_MEMORY_REGION, KVM_SET_TSS_ADDR, KVM_SET_IDENTITY_MAP_ADDR,
    KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2, KVM_SET_CPUID2, KVM_SET_MSRS, KVM_SET_FPU,
    KVM_GET_LAPIC, KVM_SET_LAPIC, KVM_GET_VCPU_MMAP_SIZE, KVM_CHECK_EXTENSION,
    /* snapshots (snapshot.c): saving a running VM, restoring one */
    KVM_GET_XSAVE, KVM_GET_XSAVE2, KVM_SET_XSAVE, KVM_GET_XCRS, KVM_SET_XCRS,
    KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
    KVM_GET_MP_STATE, KVM_SET_MP_STATE, KVM_GET_MSRS, KVM_GET_IRQCHIP, KVM_SET_IRQCHIP,
    KVM_GET_PIT2, KVM_SET_PIT2, KVM_GET_CLOCK, KVM_SET_CLOCK, KVM_GET_TSC_KHZ, KVM_SET_TSC_KHZ,
    /* live migration (migrate.c) */
    KVM_GET_DIRTY_LOG,
    TCGETS, TCSETS,
};

static struct scmp_arg_cmp arg_cmp(unsigned arg, enum scmp_compare op, uint64_t a, uint64_t b)
{
    return (struct scmp_arg_cmp){ .arg = arg, .op = op, .datum_a = a, .datum_b = b };
}

/* A call outside the allowlist is a bug or an attack either way: say which
 * call it was, in one line, and end the VMM. */
static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)ctx;
    char msg[96] = "corral-vmm: seccomp: blocked system call ";
    char num[16];
    int n = 0, v = si->si_syscall;
    do
        num[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < (int)sizeof(num));
    size_t len = strlen(msg);
    while (n)
        msg[len++] = num[--n];
    msg[len++] = '\n';
    (void)!write(STDERR_FILENO, msg, len);
    /* Where: addresses for addr2line -e corral-vmm (the unwinder was
     * loaded before the filter went on, see isolate_seccomp). */
    void *bt[24];
    backtrace_symbols_fd(bt, backtrace(bt, (int)ARRAY_SIZE(bt)), STDERR_FILENO);
    _exit(VMM_EXIT_ERROR);
}

int isolate_seccomp(void)
{
    struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
    sigaction(SIGSYS, &sa, NULL);
    void *warm[1];    /* backtrace() loads libgcc_s on first use: now, not in on_sigsys */
    backtrace(warm, 1);
    /* glibc shrinking a thread's own malloc arena first opens
     * /proc/sys/vm/overcommit_memory (seen: freeing a migration's dirty log
     * at exit); with one arena for all threads it trims with brk() only. */
    mallopt(M_ARENA_MAX, 1);
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
    if (!ctx)
        return fail(ENOMEM, "seccomp_init failed");
    int r = 0;
    for (size_t i = 0; i < ARRAY_SIZE(allowed) && r == 0; i++)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
    for (size_t i = 0; i < ARRAY_SIZE(allowed_ioctls) && r == 0; i++)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                             arg_cmp(1, SCMP_CMP_EQ, allowed_ioctls[i], 0));
    /* Threads only (a reboot starts new vCPU threads); never a new process.
     * clone3's flags live in memory seccomp cannot see: make glibc fall
     * back to clone. */
    if (r == 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                             arg_cmp(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
    if (r == 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    /* A snapshot creates its two files; an open that could read or
     * overwrite anything is refused (O_CREAT|O_EXCL only: new files). */
    if (r == 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                             arg_cmp(2, SCMP_CMP_MASKED_EQ, O_CREAT | O_EXCL | O_ACCMODE, O_CREAT | O_EXCL | O_WRONLY));
    /* A migration connects out: stream sockets of these families only. */
    static const int families[] = { AF_UNIX, AF_INET, AF_INET6 };
    for (size_t i = 0; i < ARRAY_SIZE(families) && r == 0; i++)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2, arg_cmp(0, SCMP_CMP_EQ, (uint64_t)families[i], 0),
                             arg_cmp(1, SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM));
    /* pthread_setname_np on the calling thread uses PR_SET_NAME. */
    if (r == 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                             arg_cmp(0, SCMP_CMP_EQ, PR_SET_NAME, 0));
    if (r == 0)
        r = seccomp_load(ctx);
    seccomp_release(ctx);
    return r < 0 ? fail(-r, "cannot install the seccomp filter: %s", strerror(-r)) : 0;
}
