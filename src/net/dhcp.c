/* DHCP for networks: one dnsmasq per bridge, detached from corrald and
 * re-adopted after a restart.  See net.h.
 *
 * Files in NET_RUN_DIR/BRIDGE/: `hosts` (MAC,ADDRESS lines, replaced by
 * rename), `dnsmasq.pid` (written by dnsmasq), `dnsmasq.start` (the pid and
 * its start time, written by corrald once dnsmasq is up), `dnsmasq.log` (its
 * stderr).  A pid counts as our dnsmasq only if its start time matches the
 * record, so a recycled pid is never signalled.
 *
 * dnsmasq reads the hosts file as the user it runs as (2.90 does, at start
 * and on SIGHUP; older ones read it as root at start), so exactly that much
 * is opened to it, whatever corrald's umask: /run/corral and NET_RUN_DIR
 * are 0711 (enter, not list), BRIDGE/ is 0750 and `hosts` 0640, both group
 * DNSMASQ's group; the rest stays root's. */
#include "net/net_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc/proc.h"
#include "util/util.h"

#define DIR_MAX 128

static const char *const run_user = "nobody";

int net_host_new(const char *state_dir, struct net_host **out)
{
    struct net_host *h = calloc(1, sizeof(*h));
    if (!h)
        return fail(ENOMEM, "out of memory");
    pthread_mutex_init(&h->dhcp_lock, NULL);
    pthread_mutex_init(&h->fw_lock, NULL);
    dhcp_init(h);
    firewall_init(h, state_dir);
    *out = h;
    return 0;
}

void net_host_free(struct net_host *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->dhcp_lock);
    pthread_mutex_destroy(&h->fw_lock);
    free(h);
}

void dhcp_init(struct net_host *h)
{
    if (!proc_find("dnsmasq", h->dnsmasq_bin, sizeof(h->dnsmasq_bin))) {
        log_warn("dnsmasq is not installed: networks have no DHCP (guests must set their address "
                 "themselves; apt-get install dnsmasq-base)");
        return;
    }
    struct passwd *pw = getpwnam(run_user);
    struct group *gr = getgrnam("nogroup");
    if (!gr && pw)
        gr = getgrgid(pw->pw_gid);
    if (!pw || !gr || pw->pw_uid == 0 || gr->gr_gid == 0 || strlen(gr->gr_name) >= sizeof(h->run_group)) {
        log_warn("networks have no DHCP: there is no unprivileged user 'nobody' (and group 'nogroup') "
                 "for dnsmasq to run as");
        h->dnsmasq_bin[0] = 0;
        return;
    }
    h->run_uid = pw->pw_uid;
    h->run_gid = gr->gr_gid;
    snprintf(h->run_group, sizeof(h->run_group), "%s", gr->gr_name);
}

struct json_object *dhcp_describe(struct net_host *h)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "available", json_object_new_boolean(h->dnsmasq_bin[0]));
    json_object_object_add(o, "reason", json_object_new_string(h->dnsmasq_bin[0] ? h->dnsmasq_bin :
        "dnsmasq is not installed (apt-get install dnsmasq-base): guests must set their address themselves"));
    return o;
}

static int net_dir(const char *bridge, char out[DIR_MAX])
{
    if (!bridge || !*bridge || strchr(bridge, '/') || bridge[0] == '.')
        return fail(EINVAL, "bad bridge name");
    snprintf(out, DIR_MAX, "%s/%s", NET_RUN_DIR, bridge);
    return 0;
}

/* One directory of the run path: root's own (never a symlink), with exactly
 * this mode and group, whatever the umask made it or an older corrald left. */
static int own_dir(const char *p, mode_t mode, gid_t gid)
{
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        return fail(errno, "cannot create %s: %m", p);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return fail(errno, "cannot open %s: %m", p);
    if (st.st_uid != 0)
        return fail(EPERM, "%s is not owned by root: remove it", p);
    if ((st.st_gid != gid && fchown(fd, 0, gid) < 0) || ((st.st_mode & 07777) != mode && fchmod(fd, mode) < 0))
        return fail(errno, "cannot set the mode of %s: %m", p);
    return 0;
}

/* The run path down to BRIDGE/: see the top of this file. */
static int make_dirs(const struct net_host *h, const char *dir)
{
    char p[DIR_MAX];
    snprintf(p, sizeof(p), "%s", dir);
    for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
        if (s)
            *s = 0;
        /* /run itself is the system's. */
        int r = !s ? own_dir(p, 0750, h->run_gid) : strchr(p + 1, '/') ? own_dir(p, 0711, 0) : 0;
        if (r < 0)
            return r;
        if (!s)
            return 0;
        *s = '/';
    }
}

/* Writes a file by rename; `shared` ones are readable by dnsmasq's group. */
static int write_atomic(const struct net_host *h, const char *dir, const char *name, const char *text, bool shared)
{
    char tmp[DIR_MAX + 32], path[DIR_MAX + 32];
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(tmp);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write_all(fd, text, strlen(text)) < 0 || (shared && fchown(fd, 0, h->run_gid) < 0) ||
        fchmod(fd, shared ? 0640 : 0600) < 0 || rename(tmp, path) < 0) {
        int e = errno ? errno : EIO;
        unlink(tmp);
        return fail(e, "cannot write %s: %s", path, strerror(e));
    }
    return 0;
}

/* A small file's text ("" if absent). */
static void read_small(const char *dir, const char *name, char *buf, size_t len)
{
    char path[DIR_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read_full(fd, buf, len - 1);
    buf[n > 0 ? n : 0] = 0;
}

/* The running dnsmasq of this directory: the pid file's pid, if its start
 * time is the one recorded for it. */
static bool running(const char *dir, pid_t *pid, uint64_t *start)
{
    char pf[32], rec[64];
    read_small(dir, "dnsmasq.pid", pf, sizeof(pf));
    read_small(dir, "dnsmasq.start", rec, sizeof(rec));
    long p = atol(pf), rp = 0;
    unsigned long long st = 0;
    if (p <= 0 || sscanf(rec, "%ld %llu", &rp, &st) != 2 || rp != p || !proc_alive((pid_t)p, st))
        return false;
    *pid = (pid_t)p;
    *start = st;
    return true;
}

/* The end of dnsmasq's log (it grows with every DHCP exchange), from the
 * start of a line, without trailing newlines. */
static void log_tail(const char *dir, char *buf, size_t len)
{
    char path[DIR_MAX + 32];
    snprintf(path, sizeof(path), "%s/dnsmasq.log", dir);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    off_t end = fd < 0 ? -1 : lseek(fd, 0, SEEK_END);
    off_t from = end > (off_t)len - 1 ? end - (off_t)len + 1 : 0;
    ssize_t n = end < 0 ? -1 : pread(fd, buf, len - 1, from);
    buf[n > 0 ? n : 0] = 0;
    char *nl = from > 0 ? strchr(buf, '\n') : NULL;
    if (nl)
        memmove(buf, nl + 1, strlen(nl + 1) + 1);
    for (n = (ssize_t)strlen(buf); n && buf[n - 1] == '\n';)
        buf[--n] = 0;
}

/* The last line of dnsmasq's log, for error messages. */
static void last_words(const char *dir, char *out, size_t len)
{
    char buf[2048];
    log_tail(dir, buf, sizeof(buf));
    char *line = strrchr(buf, '\n');
    snprintf(out, len, "%.200s", line ? line + 1 : buf[0] ? buf : "(no output)");
}

/* What dnsmasq said last about reading the hosts file: false with its
 * complaint if that was "cannot read …" (it then hands out nothing). */
static bool hosts_read_ok(const char *dir, char *why, size_t len)
{
    char buf[16384], needle[DIR_MAX + 32];
    log_tail(dir, buf, sizeof(buf));
    snprintf(needle, sizeof(needle), "read %s/hosts", dir);
    char *last = NULL;
    for (char *p = strstr(buf, needle); p; p = strstr(p + 1, needle))
        last = p;
    if (!last || last - buf < 7 || strncmp(last - 7, "cannot ", 7))
        return true;
    char *eol = strchr(last, '\n');
    snprintf(why, len, "dnsmasq cannot %.*s", (int)(eol ? eol - last : (ptrdiff_t)strlen(last)), last);
    return false;
}

/* Whether dnsmasq, as the user it runs as, can open the hosts file: the
 * same test its read makes, whichever version is installed.  The child
 * makes raw system calls only: it is forked from a threaded process. */
static int reader_can_open(const struct net_host *h, const char *dir)
{
    char path[DIR_MAX + 32];
    snprintf(path, sizeof(path), "%s/hosts", dir);
    pid_t pid = fork();
    if (pid < 0)
        return fail(errno, "fork: %m");
    uid_t uid = h->run_uid;
    gid_t gid = h->run_gid;
    if (pid == 0) {
        if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, gid, gid, gid) < 0 ||
            syscall(SYS_setresuid, uid, uid, uid) < 0)
            _exit(255);
        long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
        _exit(fd < 0 ? (errno > 0 && errno < 254 ? errno : 254) : 0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 254;
    if (code == 0)
        return 0;
    return fail(EACCES, "dnsmasq (as %s:%s) cannot read %s: %s", run_user, h->run_group, path,
                code < 254 ? strerror(code) : "cannot become that user");
}

static void stop_pid(pid_t pid, uint64_t start)
{
    kill(pid, SIGTERM);
    if (!proc_wait_gone(pid, start, 2000)) {
        kill(pid, SIGKILL);
        proc_wait_gone(pid, start, 2000);
    }
}

/* A dnsmasq started for this directory whose start was never recorded
 * (corrald was killed in between): its command line names our pid file.
 * Stopped before a new one starts, so a bridge never has two. */
static void stop_unrecorded(const char *dir)
{
    char pf[32], path[64], cmd[4096], want[DIR_MAX + 32];
    read_small(dir, "dnsmasq.pid", pf, sizeof(pf));
    pid_t pid = (pid_t)atol(pf);
    if (pid <= 0)
        return;
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t len = fd < 0 ? -1 : read_full(fd, cmd, sizeof(cmd) - 1);
    if (len <= 0)
        return;
    for (ssize_t i = 0; i < len; i++)
        cmd[i] = cmd[i] ? cmd[i] : '\n';
    cmd[len] = 0;
    snprintf(want, sizeof(want), "\n--pid-file=%s/dnsmasq.pid\n", dir);
    uint64_t start = proc_start_time(pid);
    if (strstr(cmd, want) && start) {
        log_warn("stopping dnsmasq %d of %s: its start was never recorded", (int)pid, dir);
        stop_pid(pid, start);
    }
}

static int spawn(struct net_host *h, const struct net_spec *n, const char *dir)
{
    const char *slash = strchr(n->subnet, '/');
    int prefix = slash ? atoi(slash + 1) : 24;
    uint32_t m = prefix > 0 ? ~0u << (32 - prefix) : 0;
    char mask[16];
    snprintf(mask, sizeof(mask), "%u.%u.%u.%u", m >> 24, (m >> 16) & 255, (m >> 8) & 255, m & 255);
    char a[10][DIR_MAX + 64];
    snprintf(a[0], sizeof(a[0]), "--interface=%s", n->bridge);
    snprintf(a[1], sizeof(a[1]), "--dhcp-range=%s,static,%s", n->gateway, mask);
    snprintf(a[2], sizeof(a[2]), "--dhcp-hostsfile=%s/hosts", dir);
    snprintf(a[3], sizeof(a[3]), "--dhcp-option=option:router,%s", n->gateway);
    snprintf(a[4], sizeof(a[4]), "--pid-file=%s/dnsmasq.pid", dir);
    snprintf(a[5], sizeof(a[5]), "--user=%s", run_user);
    snprintf(a[6], sizeof(a[6]), "--group=%s", h->run_group);
    char *argv[] = {
        h->dnsmasq_bin, "--keep-in-foreground", "--conf-file=/dev/null", a[0], "--bind-interfaces",
        "--except-interface=lo", "--port=0", "--no-resolv", "--no-hosts", a[1], a[2], a[3],
        "--dhcp-authoritative", "--leasefile-ro", a[4], a[5], a[6],
        "--log-facility=-", NULL,
    };
    char log[DIR_MAX + 32], pidfile[DIR_MAX + 32];
    snprintf(log, sizeof(log), "%s/dnsmasq.log", dir);
    snprintf(pidfile, sizeof(pidfile), "%s/dnsmasq.pid", dir);
    stop_unrecorded(dir);
    unlink(pidfile);
    pid_t pid;
    int r = proc_spawn(argv, log, NULL, 0, &pid);
    if (r < 0)
        return r;
    uint64_t start = proc_start_time(pid);
    /* Up once its pid file names it (it writes it after binding). */
    for (int waited = 0; waited < 3000; waited += 20) {
        char pf[32], why[300];
        read_small(dir, "dnsmasq.pid", pf, sizeof(pf));
        if (atol(pf) == pid) {
            char rec[64];
            snprintf(rec, sizeof(rec), "%d %llu\n", (int)pid, (unsigned long long)start);
            return write_atomic(h, dir, "dnsmasq.start", rec, false);
        }
        if (!proc_alive(pid, start)) {
            usleep(50 * 1000);
            last_words(dir, why, sizeof(why));
            return fail(EIO, "dnsmasq exited at once: %s", why);
        }
        usleep(20 * 1000);
    }
    stop_pid(pid, start);
    return fail(ETIMEDOUT, "dnsmasq did not start within 3 s");
}

/* Keeps the last failure to serve this directory's hosts in its `error`
 * file, which dhcp_status() reports until a later try succeeds. */
static int record(const struct net_host *h, const char *dir, int r)
{
    char path[DIR_MAX + 32];
    snprintf(path, sizeof(path), "%s/error", dir);
    if (r == 0) {
        unlink(path);
        return 0;
    }
    char msg[512];
    snprintf(msg, sizeof(msg), "%s\n", err_msg());
    write_atomic(h, dir, "error", msg, false);
    return fail(-r, "%.*s", (int)strlen(msg) - 1, msg);
}

int dhcp_start(struct net_host *h, const struct net_spec *n, const char *hosts)
{
    char dir[DIR_MAX];
    int r = net_dir(n->bridge, dir);
    if (r < 0 || !h->dnsmasq_bin[0])
        return r;
    pthread_mutex_lock(&h->dhcp_lock);
    pid_t pid;
    uint64_t start;
    if ((r = make_dirs(h, dir)) == 0 && (r = write_atomic(h, dir, "hosts", hosts, true)) == 0 &&
        (r = reader_can_open(h, dir)) == 0) {
        if (running(dir, &pid, &start)) {
            kill(pid, SIGHUP);
            log_info("network %s: adopted dnsmasq %d on %s", n->name, (int)pid, n->bridge);
        } else if ((r = spawn(h, n, dir)) == 0) {
            log_info("network %s: dnsmasq serves DHCP on %s", n->name, n->bridge);
        }
    }
    r = record(h, dir, r);
    pthread_mutex_unlock(&h->dhcp_lock);
    return r;
}

int dhcp_update(struct net_host *h, const char *bridge, const char *hosts)
{
    char dir[DIR_MAX];
    int r = net_dir(bridge, dir);
    if (r < 0 || !h->dnsmasq_bin[0])
        return r;
    pthread_mutex_lock(&h->dhcp_lock);
    read_small(dir, "hosts", h->hosts_old, sizeof(h->hosts_old));
    pid_t pid;
    uint64_t start;
    if (strcmp(h->hosts_old, hosts) && (r = write_atomic(h, dir, "hosts", hosts, true)) == 0) {
        if (running(dir, &pid, &start))
            kill(pid, SIGHUP);
        r = record(h, dir, reader_can_open(h, dir));
    }
    pthread_mutex_unlock(&h->dhcp_lock);
    return r;
}

int dhcp_stop(struct net_host *h, const char *bridge)
{
    char dir[DIR_MAX];
    int r = net_dir(bridge, dir);
    if (r < 0)
        return r;
    pthread_mutex_lock(&h->dhcp_lock);
    pid_t pid;
    uint64_t start;
    if (running(dir, &pid, &start))
        stop_pid(pid, start);
    static const char *const files[] = { "hosts", "dnsmasq.pid", "dnsmasq.start", "dnsmasq.log", "error" };
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        char path[DIR_MAX + 32];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    if (rmdir(dir) < 0 && errno != ENOENT)
        r = fail(errno, "cannot remove %s: %m", dir);
    pthread_mutex_unlock(&h->dhcp_lock);
    return r;
}

struct json_object *dhcp_status(struct net_host *h, const char *bridge)
{
    struct json_object *o = json_object_new_object();
    char dir[DIR_MAX], why[400];
    pid_t pid = 0;
    uint64_t start;
    json_object_object_add(o, "available", json_object_new_boolean(h->dnsmasq_bin[0]));
    if (net_dir(bridge, dir) < 0) {
        json_object_object_add(o, "running", json_object_new_boolean(false));
        json_object_object_add(o, "reason", json_object_new_string(err_msg()));
        return o;
    }
    bool up = h->dnsmasq_bin[0] && running(dir, &pid, &start);
    json_object_object_add(o, "running", json_object_new_boolean(up));
    char error[300];
    read_small(dir, "error", error, sizeof(error));
    error[strcspn(error, "\n")] = 0;
    if (up) {
        json_object_object_add(o, "pid", json_object_new_int(pid));
        if (*error || !hosts_read_ok(dir, error, sizeof(error)))
            json_object_object_add(o, "error", json_object_new_string(error));
        return o;
    }
    if (!h->dnsmasq_bin[0]) {
        snprintf(why, sizeof(why), "dnsmasq is not installed (apt-get install dnsmasq-base)");
    } else if (*error) {
        snprintf(why, sizeof(why), "%s", error);
    } else {
        char last[300];
        last_words(dir, last, sizeof(last));
        snprintf(why, sizeof(why), "dnsmasq is not running: %s", last);
    }
    json_object_object_add(o, "reason", json_object_new_string(why));
    return o;
}
