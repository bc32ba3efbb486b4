/* The VMM's host resources and its top-level run loop.  Everything that
 * needs privileges or a path in the host's file system is opened here,
 * before vmm_isolate() takes both away. */
#include "vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/fs.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <termios.h>
#include <time.h>

static struct termios saved_tty;
static bool tty_raw;
static int saved_stdin_flags = -1;

/* stdin's file description is shared with the shell that started us. */
static void restore_tty(void)
{
    if (tty_raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
    if (saved_stdin_flags >= 0)
        fcntl(STDIN_FILENO, F_SETFL, saved_stdin_flags);
}

/* The guest's console driver does its own echo and line editing. */
static void stdin_raw(void)
{
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tty) < 0)
        return;
    struct termios t = saved_tty;
    cfmakeraw(&t);
    t.c_oflag |= OPOST | ONLCR;
    t.c_lflag |= ISIG; /* keep Ctrl-C as a way to stop the VMM */
    if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0) {
        tty_raw = true;
        atexit(restore_tty);
    }
}

/* Regular files and /dev/null cannot be polled; a thread copies such an
 * input into a pipe, whose blocking writes pace it to the guest. */
static void *feed_pipe(void *arg)
{
    int *fds = arg;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof(buf))) > 0)
        if (write_all(fds[1], buf, (size_t)n) < 0)
            break;
    close(fds[1]);
    free(fds);
    return NULL;
}

static int pollable_input(int fd, int *out)
{
    struct stat st;
    *out = fd;
    if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISCHR(st.st_mode)))
        return 0;
    if (S_ISCHR(st.st_mode) && isatty(fd))
        return 0;
    int p[2];
    int *fds = malloc(2 * sizeof(int));
    if (!fds || pipe2(p, O_CLOEXEC) < 0) {
        free(fds);
        return fail(errno ? errno : ENOMEM, "console input: %s", strerror(errno ? errno : ENOMEM));
    }
    fds[0] = fd;
    fds[1] = p[1];
    pthread_t t;
    if (pthread_create(&t, NULL, feed_pipe, fds)) {
        close(p[0]);
        close(p[1]);
        free(fds);
        return fail(EAGAIN, "console input: cannot start a thread");
    }
    pthread_detach(t);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    *out = p[0];
    return 0;
}

/* pty[0]: the fd to close at the end (pty master or file); pty[1]: for a
 * pty, its slave, held open so the master never hangs up: clients (corrald)
 * may open and close the slave any number of times, input keeps working and
 * output nobody reads fills the slave's buffer, then is dropped (the guest
 * never waits). */
static int open_console(const struct console_cfg *c, const char *what,
                        struct console_io *io, int pty[2])
{
    io->in_fd = io->out_fd = -1;
    switch (c->kind) {
    case CONSOLE_NONE:
        return 0;
    case CONSOLE_STDIO: {
        int r = pollable_input(STDIN_FILENO, &io->in_fd);
        if (r < 0)
            return r;
        io->out_fd = STDOUT_FILENO;
        if (io->in_fd == STDIN_FILENO) {
            saved_stdin_flags = fcntl(STDIN_FILENO, F_GETFL);
            fcntl(STDIN_FILENO, F_SETFL, saved_stdin_flags | O_NONBLOCK);
            stdin_raw();
        } else {
            pty[0] = io->in_fd;
        }
        return 0;
    }
    case CONSOLE_PTY: {
        int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0 || grantpt(fd) < 0 || unlockpt(fd) < 0) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            return fail(e, "%s: cannot create a pty: %s", what, strerror(e));
        }
        struct termios t;
        if (tcgetattr(fd, &t) == 0) {
            cfmakeraw(&t);
            tcsetattr(fd, TCSANOW, &t);
        }
        io->in_fd = io->out_fd = pty[0] = fd;
        pty[1] = open(ptsname(fd), O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (pty[1] < 0)
            return fail(errno, "%s: cannot open %s: %s", what, ptsname(fd), strerror(errno));
        log_info("%s on %s", what, ptsname(fd));
        return 0;
    }
    case CONSOLE_FILE: {
        int fd = open(c->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0)
            return fail(errno, "%s: cannot open %s: %s", what, c->path, strerror(errno));
        io->out_fd = pty[0] = fd;
        return 0;
    }
    }
    return 0;
}

static int open_disk(struct vmm *v, int i)
{
    const struct disk_cfg *d = &v->cfg->disk[i];
    /* A migration's destination: the source may write the image until it
     * hands it over (docs/migration.md). */
    int r = blk_open(d->path, d->format, (d->readonly ? BLK_OPEN_RDONLY : 0) | (v->cfg->incoming ? BLK_OPEN_SHARED : 0),
                     &v->disk[i]);
    if (r < 0)
        return fail(-r, "--disk %s: %s", d->path, err_msg());
    uint64_t size = blk_size(v->disk[i]);
    if (size % 512)
        log_warn("--disk %s: size is not a multiple of 512; the last %llu bytes are not visible",
                 d->path, (unsigned long long)(size % 512));
    return 0;
}

static int open_tap(struct vmm *v, int i)
{
    struct net_cfg *n = &v->cfg->net[i];
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return fail(errno, "--net tap=%s: cannot open /dev/net/tun: %s", n->tap, strerror(errno));
    v->tap_fd[i] = fd;
    struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", n->tap);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0)
        return fail(errno, "--net tap=%s: cannot attach to the tap: %s", n->tap, strerror(errno));
    if (!n->mac_set) {
        /* A locally administered unicast address, random per NIC. */
        n->mac[0] = 0x52, n->mac[1] = 0x54, n->mac[2] = 0x00;
        if (getrandom(n->mac + 3, 3, 0) != 3)
            n->mac[3] = (uint8_t)i, n->mac[4] = (uint8_t)getpid(), n->mac[5] = 0x01;
    }
    return 0;
}

static void on_signal(void *arg, uint32_t events)
{
    struct vmm *v = arg;
    struct signalfd_siginfo si;
    (void)events;
    if (read(v->sigfd, &si, sizeof(si)) != sizeof(si))
        return;
    log_info("stopping on signal %u", si.ssi_signo);
    pthread_mutex_lock(&v->machine_lock);
    if (v->machine)
        machine_request(v->machine, VM_REQ_STOP);
    pthread_mutex_unlock(&v->machine_lock);
}

static int watch_signals(struct vmm *v)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* Blocked in every thread (vCPU threads inherit the mask); the I/O loop
     * reads them from a signalfd. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    v->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (v->sigfd < 0)
        return fail(errno, "signalfd: %s", strerror(errno));
    return evloop_add(v->loop, v->sigfd, EPOLLIN, on_signal, v);
}

int vmm_open(struct vmm *v, struct vmm_config *cfg)
{
    memset(v, 0, sizeof(*v));
    v->cfg = cfg;
    v->kvm.fd = v->sigfd = v->incoming_fd = v->announce_fd = -1;
    /* A migration's first round skips the guest pages never touched
     * (reading them would fault each one in); opened while /proc is near. */
    v->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    for (int i = 0; i < 4; i++)
        v->pty_fd[i] = -1;
    for (int i = 0; i < VMM_MAX_NETS; i++)
        v->tap_fd[i] = -1;
    pthread_mutex_init(&v->machine_lock, NULL);
    int r;
    if (cfg->kernel && (r = read_file(cfg->kernel, cfg->memory, &v->kernel, &v->kernel_len)) < 0)
        return fail(-r, "--kernel: %s", err_msg());
    if (cfg->initrd && (r = read_file(cfg->initrd, cfg->memory, &v->initrd, &v->initrd_len)) < 0)
        return fail(-r, "--initrd: %s", err_msg());
    for (int i = 0; i < cfg->ndisks; i++)
        if ((r = open_disk(v, i)) < 0)
            return r;
    for (int i = 0; i < cfg->nnets; i++)
        if ((r = open_tap(v, i)) < 0)
            return r;
    /* After the disks: a restore puts them back as they were too. */
    if (cfg->restore && (r = snapshot_open(v)) < 0)
        return r;
    if (cfg->migration_key && (r = link_key_load(cfg->migration_key, &v->migration_key)) < 0)
        return r;
    if (cfg->incoming && (r = link_listen(cfg->incoming, &v->incoming_fd)) < 0)
        return r;
    if ((r = evloop_new(&v->loop)) < 0 || (r = watch_signals(v)) < 0)
        return r;
    if ((r = open_console(&cfg->console, "serial console", &v->console, &v->pty_fd[0])) < 0 ||
        (r = open_console(&cfg->vconsole, "virtio console", &v->vconsole, &v->pty_fd[2])) < 0)
        return r;
    /* Named now: inside the jail /dev/pts is out of reach. */
    if (cfg->console.kind == CONSOLE_PTY)
        snprintf(v->serial_pty, sizeof(v->serial_pty), "%s", ptsname(v->pty_fd[0]));
    if (cfg->ready_fd >= 0 && fcntl(cfg->ready_fd, F_SETFD, FD_CLOEXEC) < 0)
        return fail(EBADF, "--ready-fd %d: not an open file descriptor", cfg->ready_fd);
    if ((r = kvm_sys_open(&v->kvm, cfg->kvm_device)) < 0)
        return r;
    if (cfg->cpus > (unsigned)v->kvm.max_vcpus)
        return fail(EINVAL, "--cpus %u: this host's KVM allows at most %d vCPUs", cfg->cpus,
                    v->kvm.max_vcpus);
    if (cfg->api_socket && ((r = api_open(&v->api, cfg->api_socket)) < 0 || (r = api_attach(v->api, v)) < 0))
        return r;
    return 0;
}

void vmm_close(struct vmm *v)
{
    snapshot_close(v);
    if (v->api)
        api_close(v->api);
    for (int i = 0; i < VMM_MAX_DISKS; i++)
        if (v->disk[i] && blk_close(v->disk[i]) < 0)
            log_error("disk %d: %s", i, err_msg());
    for (int i = 0; i < VMM_MAX_NETS; i++)
        if (v->tap_fd[i] >= 0)
            close(v->tap_fd[i]);
    for (int i = 0; i < 4; i++)
        if (v->pty_fd[i] >= 0)
            close(v->pty_fd[i]);
    if (v->sigfd >= 0)
        close(v->sigfd);
    if (v->incoming_fd >= 0)
        close(v->incoming_fd);
    if (v->pagemap_fd >= 0)
        close(v->pagemap_fd);
    evloop_free(v->loop);
    if (v->kvm.fd >= 0)
        kvm_sys_close(&v->kvm);
    free(v->kernel);
    free(v->initrd);
    restore_tty();
    pthread_mutex_destroy(&v->machine_lock);
}

int vmm_isolate(struct vmm *v)
{
    const struct vmm_config *c = v->cfg;
    int r;
    /* glibc reads /etc/localtime on first use of the time functions (the
     * RTC calls gmtime_r); do it while files can still be opened. */
    tzset();
    if (c->jail && (r = isolate_jail(c->jail, c->uid, c->gid, c->uid_set)) < 0)
        return r;
    if ((r = isolate_drop_caps()) < 0)
        return r;
    if (!c->no_seccomp && (r = isolate_seccomp()) < 0)
        return r;
    return 0;
}

/* --ready-fd: the VM runs and the API socket is listening (the loop
 * serves it from the next instant); one line, then the fd is closed. */
static void tell_ready(struct vmm *v)
{
    int fd = v->cfg->ready_fd;
    if (fd < 0)
        return;
    v->cfg->ready_fd = -1;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "ready", json_object_new_boolean(true));
    json_object_object_add(o, "serial", v->serial_pty[0] ? json_object_new_string(v->serial_pty) : NULL);
    char line[128];
    snprintf(line, sizeof(line), "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    if (write_all(fd, line, strlen(line)) < 0)
        log_warn("--ready-fd %d: %s", fd, err_msg());
    close(fd);
}

/* A guest that was restored or migrated here sits behind another tap, on
 * another host maybe: each NIC announces its address at once and then four
 * more times 100 ms apart (as QEMU does), so that switches learn the new path
 * before the guest sends anything itself. */
#define ANNOUNCES 5

static void announce_end(struct vmm *v)
{
    if (v->announce_fd >= 0) {
        evloop_del(v->loop, v->announce_fd);
        close(v->announce_fd);
        v->announce_fd = -1;
    }
}

static void on_announce(void *arg, uint32_t events)
{
    (void)events;
    struct vmm *v = arg;
    uint64_t n = 0;
    if (read(v->announce_fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
        return;
    machine_announce(v->machine);
    if (++v->announced >= ANNOUNCES) {
        log_info("announced the guest's network addresses %u times", v->announced);
        announce_end(v);
    }
}

static void announce_start(struct vmm *v)
{
    struct itimerspec its = { .it_value = { 0, 1 }, .it_interval = { 0, 100 * 1000000L } };
    v->announced = 0;
    v->announce_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (v->announce_fd < 0 || timerfd_settime(v->announce_fd, 0, &its, NULL) < 0 ||
        evloop_add(v->loop, v->announce_fd, EPOLLIN, on_announce, v) < 0) {
        log_warn("cannot announce the guest's network addresses: %s", strerror(errno));
        if (v->announce_fd >= 0)
            close(v->announce_fd);
        v->announce_fd = -1;
    }
}

int vmm_run(struct vmm *v)
{
    for (;;) {
        struct machine *m;
        int r = machine_create(v, &m);
        if (r < 0) {
            log_error("%s", err_msg());
            return v->boots ? VMM_EXIT_ERROR : VMM_EXIT_USAGE;
        }
        if (v->cfg->incoming && v->boots == 0) {
            bool run = true;
            if ((r = migrate_incoming(v, m, &run)) < 0) {
                log_error("%s", err_msg());
                machine_destroy(m);
                return r == -EINVAL ? VMM_EXIT_USAGE : VMM_EXIT_ERROR;
            }
            m->pause_wanted = !run;
        }
        v->boots++;
        pthread_mutex_lock(&v->machine_lock);
        v->machine = m;
        pthread_mutex_unlock(&v->machine_lock);
        if ((r = machine_start(m)) == 0) {
            tell_ready(v);
            if (v->boots == 1 && (v->cfg->incoming || v->cfg->restore) && v->cfg->nnets)
                announce_start(v);
            r = evloop_run(v->loop);
            announce_end(v);
        }
        if (r < 0) {
            log_error("%s", err_msg());
            machine_request(m, VM_REQ_STOP);
        }
        migrate_end(v);
        enum vm_request req = machine_wait(m);
        pthread_mutex_lock(&v->machine_lock);
        v->machine = NULL;
        pthread_mutex_unlock(&v->machine_lock);
        machine_destroy(m);
        if (r < 0)
            return VMM_EXIT_ERROR;
        if (v->migrated) {
            log_info("the VM now runs at its migration's destination; exiting");
            return VMM_EXIT_OK;
        }
        switch (req) {
        case VM_REQ_REBOOT:
            if (__atomic_load_n(&v->stop_wanted, __ATOMIC_SEQ_CST)) {
                log_info("guest rebooted while a stop was asked for; exiting");
                return VMM_EXIT_OK;
            }
            if (v->cfg->no_reboot) {
                log_info("guest rebooted; exiting (--no-reboot)");
                return VMM_EXIT_OK;
            }
            if (!v->kernel) {
                log_info("guest rebooted; it was restored from a snapshot without --kernel, so it cannot boot "
                         "again: exiting");
                return VMM_EXIT_OK;
            }
            log_info("guest rebooted; restarting");
            continue;
        case VM_REQ_CRASH:
            return VMM_EXIT_CRASH;
        case VM_REQ_POWEROFF:
            log_debug("guest powered off");
            return VMM_EXIT_OK;
        default:
            return VMM_EXIT_OK;
        }
    }
}
