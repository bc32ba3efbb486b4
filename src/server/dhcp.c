/* DHCP for networks: one dnsmasq per bridge, detached from corrald and
 * re-adopted after a restart.  See netsvc.h.
 *
 * Files in NETSVC_RUN_DIR/BRIDGE/: `hosts` (MAC,ADDRESS lines, replaced by
 * rename), `dnsmasq.pid` (written by dnsmasq), `dnsmasq.start` (the pid and
 * its start time, written by corrald once dnsmasq is up), `dnsmasq.log` (its
 * stderr).  A pid counts as our dnsmasq only if its start time matches the
 * record, so a recycled pid is never signalled. */
#include "server/netsvc.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/proc.h"
#include "util/util.h"

#define DIR_MAX 128

static char dnsmasq_bin[256];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void dhcp_setup(void)
{
    if (!proc_find("dnsmasq", dnsmasq_bin, sizeof(dnsmasq_bin)))
        log_warn("dnsmasq is not installed: networks have no DHCP (guests must set their address "
                 "themselves; apt-get install dnsmasq-base)");
}

struct json_object *dhcp_describe(void)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "available", json_object_new_boolean(dnsmasq_bin[0]));
    json_object_object_add(o, "reason", json_object_new_string(dnsmasq_bin[0] ? dnsmasq_bin :
        "dnsmasq is not installed (apt-get install dnsmasq-base): guests must set their address themselves"));
    return o;
}

static int net_dir(const char *bridge, char out[DIR_MAX])
{
    if (!bridge || !*bridge || strchr(bridge, '/') || bridge[0] == '.')
        return fail(EINVAL, "bad bridge name");
    snprintf(out, DIR_MAX, "%s/%s", NETSVC_RUN_DIR, bridge);
    return 0;
}

/* mkdir -p of the run directory; 0755 so dnsmasq, as nobody, can read. */
static int make_dirs(const char *dir)
{
    char p[DIR_MAX];
    snprintf(p, sizeof(p), "%s", dir);
    for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
        if (s)
            *s = 0;
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return fail(errno, "cannot create %s: %m", p);
        if (!s)
            return 0;
        *s = '/';
    }
}

static int write_atomic(const char *dir, const char *name, const char *text)
{
    char tmp[DIR_MAX + 32], path[DIR_MAX + 32];
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write_all(fd, text, strlen(text)) < 0 || fchmod(fd, 0644) < 0 || rename(tmp, path) < 0) {
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

/* The last line of dnsmasq's log, for error messages. */
static void last_words(const char *dir, char *out, size_t len)
{
    char buf[2048];
    read_small(dir, "dnsmasq.log", buf, sizeof(buf));
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '\n')
        buf[--n] = 0;
    char *line = strrchr(buf, '\n');
    snprintf(out, len, "%s", line ? line + 1 : buf[0] ? buf : "(no output)");
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

static int spawn(const struct netsvc_net *n, const char *dir)
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
    char *argv[] = {
        dnsmasq_bin, "--keep-in-foreground", "--conf-file=/dev/null", a[0], "--bind-interfaces",
        "--except-interface=lo", "--port=0", "--no-resolv", "--no-hosts", a[1], a[2], a[3],
        "--dhcp-authoritative", "--leasefile-ro", a[4], "--user=nobody", "--group=nogroup",
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
            return write_atomic(dir, "dnsmasq.start", rec);
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

int dhcp_start(const struct netsvc_net *n, const char *hosts)
{
    char dir[DIR_MAX];
    int r = net_dir(n->bridge, dir);
    if (r < 0 || !dnsmasq_bin[0])
        return r;
    pthread_mutex_lock(&lock);
    pid_t pid;
    uint64_t start;
    if ((r = make_dirs(dir)) == 0 && (r = write_atomic(dir, "hosts", hosts)) == 0) {
        if (running(dir, &pid, &start)) {
            kill(pid, SIGHUP);
            log_info("network %s: adopted dnsmasq %d on %s", n->name, (int)pid, n->bridge);
        } else if ((r = spawn(n, dir)) == 0) {
            log_info("network %s: dnsmasq serves DHCP on %s", n->name, n->bridge);
        }
    }
    pthread_mutex_unlock(&lock);
    return r;
}

int dhcp_update(const char *bridge, const char *hosts)
{
    static char old[65536];          /* under the lock */
    char dir[DIR_MAX];
    int r = net_dir(bridge, dir);
    if (r < 0 || !dnsmasq_bin[0])
        return r;
    pthread_mutex_lock(&lock);
    read_small(dir, "hosts", old, sizeof(old));
    pid_t pid;
    uint64_t start;
    if (strcmp(old, hosts) && (r = write_atomic(dir, "hosts", hosts)) == 0 && running(dir, &pid, &start))
        kill(pid, SIGHUP);
    pthread_mutex_unlock(&lock);
    return r;
}

int dhcp_stop(const char *bridge)
{
    char dir[DIR_MAX];
    int r = net_dir(bridge, dir);
    if (r < 0)
        return r;
    pthread_mutex_lock(&lock);
    pid_t pid;
    uint64_t start;
    if (running(dir, &pid, &start))
        stop_pid(pid, start);
    static const char *const files[] = { "hosts", "dnsmasq.pid", "dnsmasq.start", "dnsmasq.log" };
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        char path[DIR_MAX + 32];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    if (rmdir(dir) < 0 && errno != ENOENT)
        r = fail(errno, "cannot remove %s: %m", dir);
    pthread_mutex_unlock(&lock);
    return r;
}

struct json_object *dhcp_status(const char *bridge)
{
    struct json_object *o = json_object_new_object();
    char dir[DIR_MAX], why[400];
    pid_t pid = 0;
    uint64_t start;
    bool up = net_dir(bridge, dir) == 0 && dnsmasq_bin[0] && running(dir, &pid, &start);
    json_object_object_add(o, "available", json_object_new_boolean(dnsmasq_bin[0]));
    json_object_object_add(o, "running", json_object_new_boolean(up));
    if (up) {
        json_object_object_add(o, "pid", json_object_new_int(pid));
        return o;
    }
    if (!dnsmasq_bin[0]) {
        snprintf(why, sizeof(why), "dnsmasq is not installed (apt-get install dnsmasq-base)");
    } else {
        char last[300];
        last_words(dir, last, sizeof(last));
        snprintf(why, sizeof(why), "dnsmasq is not running: %s", last);
    }
    json_object_object_add(o, "reason", json_object_new_string(why));
    return o;
}
