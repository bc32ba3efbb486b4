/* The container's cgroups on cgroup v1, v2 and hybrid hosts.
 *
 * The host's hierarchies are read from /proc/self/mountinfo every time (no
 * cached view to go stale): each v1 mount (one or more controllers, or a
 * name=), and the cgroup2 mount — /sys/fs/cgroup on a v2 host,
 * /sys/fs/cgroup/unified on a hybrid one.  The container gets the same path
 * in every hierarchy.  A resource is written with v1 semantics where a v1
 * hierarchy has its controller, else with v2 semantics where the cgroup2
 * hierarchy offers it (so a hybrid host's hugetlb goes to cgroup2), else it
 * fails naming the field.  v1 values given for a v2 controller are converted
 * as runc does (shares -> weight, blkio weight -> io weight, swap). */
#include "oci/oci_internal.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *const v1_controllers[] = { "cpuset", "cpu", "cpuacct", "blkio", "memory",
                                              "devices", "freezer", "net_cls", "perf_event",
                                              "net_prio", "hugetlb", "pids", "rdma", "misc" };

/* ---- paths ---- */

int cgroup_path(const struct oci_spec *s, const char *id, char *out, size_t len)
{
    if (!s->cgroups_path) {
        if (snprintf(out, len, "/corral-oci/%s", id) >= (int)len)
            return fail(ENAMETOOLONG, "cgroup path too long");
        return 0;
    }
    /* Cleaned: one leading slash, no empty, "." or ".." components (a
     * relative path is taken from the hierarchy's root, as runc's default). */
    size_t n = 0;
    for (const char *p = s->cgroups_path; *p;) {
        while (*p == '/')
            p++;
        size_t c = strcspn(p, "/");
        if (!c)
            break;
        if ((c == 1 && p[0] == '.') || (c == 2 && p[0] == '.' && p[1] == '.'))
            return fail(EINVAL, "linux.cgroupsPath: \"%s\": \".\" and \"..\" are not allowed",
                        s->cgroups_path);
        if (n + c + 2 > len || n + c + 2 > CG_PATH_MAX / 2)
            return fail(ENAMETOOLONG, "linux.cgroupsPath: too long");
        out[n++] = '/';
        memcpy(out + n, p, c);
        n += c;
        p += c;
    }
    out[n] = 0;
    if (!n)
        return fail(EINVAL, "linux.cgroupsPath: \"%s\" is the root cgroup", s->cgroups_path);
    return 0;
}

/* ---- discovery ---- */

static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || !p[n]))
            return true;
    return false;
}

/* In a cgroup namespace, mountinfo shows the host's hierarchies with roots
 * relative to the namespace's ("/../.."): any_root accepts those. */
static int scan(const char *path, struct cgroup *cg, bool any_root)
{
    memset(cg, 0, sizeof(*cg));
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return fail(errno, "/proc/self/mountinfo: %s", strerror(errno));
    char line[4096];
    bool v1 = false;
    while (fgets(line, sizeof(line), f) && cg->n < CG_MAX) {
        char root[1024], mnt[1024], type[32], opts[1024];
        const char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*d %*d %*s %1023s %1023s", root, mnt) != 2 ||
            sscanf(dash + 3, "%31s %*s %1023s", type, opts) != 2 ||
            (strcmp(root, "/") != 0 && !(any_root && strncmp(root, "/..", 3) == 0)))
            continue;
        struct cg_dir *d = &cg->dir[cg->n];
        if (strcmp(type, "cgroup2") == 0) {
            if (cg->unified)
                continue;
            d->unified = true;
            cg->unified = d;
        } else if (strcmp(type, "cgroup") == 0) {
            for (size_t i = 0; i < ARRAY_SIZE(v1_controllers); i++)
                if (has_word(opts, v1_controllers[i]))
                    snprintf(d->ctrl + strlen(d->ctrl), sizeof(d->ctrl) - strlen(d->ctrl),
                             ",%s", v1_controllers[i]);
            const char *name = strstr(opts, "name=");
            if (!d->ctrl[0] && name)
                snprintf(d->ctrl, sizeof(d->ctrl), ",%.*s", (int)strcspn(name, ", \n"), name);
            /* The same hierarchy mounted twice: once is enough. */
            bool dup = !d->ctrl[0];
            for (size_t i = 0; i < cg->n && !dup; i++)
                dup = strcmp(cg->dir[i].ctrl, d->ctrl) == 0;
            if (dup) {
                d->ctrl[0] = 0;
                continue;
            }
            v1 = true;
        } else {
            continue;
        }
        if (snprintf(d->path, sizeof(d->path), "%s%s", mnt, path) >= (int)sizeof(d->path))
            return fclose(f), fail(ENAMETOOLONG, "cgroup path too long");
        d->mnt_len = strlen(mnt);
        cg->n++;
    }
    fclose(f);
    cg->mode = !v1 ? CG_V2 : cg->unified ? CG_HYBRID : CG_V1;
    if (!cg->n)
        return fail(ENOENT, "no cgroup hierarchy is mounted");
    return 0;
}

int cgroup_open(const char *path, struct cgroup *cg)
{
    return scan(path, cg, false);
}

int cgroup_mounts(struct cgroup *cg)
{
    return scan("", cg, true);
}

/* The v1 hierarchy with that controller, or NULL. */
static const struct cg_dir *v1_dir(const struct cgroup *cg, const char *ctrl)
{
    for (size_t i = 0; i < cg->n; i++)
        if (!cg->dir[i].unified && has_word(cg->dir[i].ctrl + 1, ctrl))
            return &cg->dir[i];
    return NULL;
}

/* ---- file access ---- */

static int cg_read(const char *dir, const char *file, char *buf, size_t len)
{
    char path[CG_PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read_full(fd, buf, len - 1);
    if (n < 0)
        return -errno;
    buf[n] = 0;
    return 0;
}

/* Writes one value; on failure the message names the config field. */
static int cg_write(const char *dir, const char *file, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int cg_write(const char *dir, const char *file, const char *field, const char *fmt, ...)
{
    char path[CG_PATH_MAX + 64], val[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, val, strlen(val)) < 0) {
        int e = errno;
        return fail(e, "%s: writing \"%s\" to %s: %s", field, val, path,
                    e == ENOENT ? "no such cgroup file on this host" : strerror(e));
    }
    return 0;
}

static bool cg_exists(const char *dir, const char *file)
{
    char path[CG_PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return access(path, F_OK) == 0;
}

/* ---- creation ---- */

/* Makes d->path and the missing directories above it.  A new cpuset
 * directory starts with no CPUs and no memory nodes: copy the parent's. */
static int make_dir(const struct cg_dir *d)
{
    bool cpuset = !d->unified && has_word(d->ctrl + 1, "cpuset");
    char buf[CG_PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", d->path);
    for (char *p = buf + d->mnt_len + 1;; p++) {
        if (*p && *p != '/')
            continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return fail(errno, "cgroup %s: %s", buf, strerror(errno));
        for (int i = 0; cpuset && i < 2; i++) {
            const char *file = i ? "cpuset.mems" : "cpuset.cpus";
            char parent[CG_PATH_MAX], val[4096], cur[4096];
            snprintf(parent, sizeof(parent), "%s", buf);
            *strrchr(parent, '/') = 0;
            int r;
            if (cg_read(buf, file, cur, sizeof(cur)) == 0 && cur[0] == '\n' &&
                cg_read(parent, file, val, sizeof(val)) == 0 &&
                (r = cg_write(buf, file, "cpuset", "%s", val)) < 0)
                return r;
        }
        if (!(*p = c))
            break;
    }
    return 0;
}

/* cgroup2 offers a controller to a child only if every ancestor enables it
 * in cgroup.subtree_control.  Enable what the root offers, down to the
 * parent (failures are left to the writes that need the controller). */
static void enable_controllers(const struct cg_dir *d)
{
    char avail[512], buf[CG_PATH_MAX];
    snprintf(buf, sizeof(buf), "%.*s", (int)d->mnt_len, d->path);
    if (cg_read(buf, "cgroup.controllers", avail, sizeof(avail)) < 0)
        return;
    const char *rest = d->path + d->mnt_len;
    for (;;) {
        for (char *tok = strtok(avail, " \n"); tok; tok = strtok(NULL, " \n")) {
            char path[CG_PATH_MAX + 32];
            snprintf(path, sizeof(path), "%s/cgroup.subtree_control", buf);
            int fd = open(path, O_WRONLY | O_CLOEXEC);
            if (fd >= 0) {
                dprintf(fd, "+%s", tok);
                close(fd);
            }
        }
        rest += strspn(rest, "/");
        size_t c = strcspn(rest, "/");
        if (!rest[c])
            return;   /* buf is now the parent of the leaf */
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "/%.*s", (int)c, rest);
        rest += c;
        if (cg_read(buf, "cgroup.controllers", avail, sizeof(avail)) < 0)
            return;
    }
}

int cgroup_create(const struct cgroup *cg, const struct oci_spec *s)
{
    int r = 0;
    for (size_t i = 0; i < cg->n && r == 0; i++) {
        if (cg->dir[i].unified)
            enable_controllers(&cg->dir[i]);
        r = make_dir(&cg->dir[i]);
    }
    if (r == 0 && s->resources)
        r = cgroup_apply(cg, s->resources, s, "linux.resources");
    if (r < 0) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        cgroup_destroy(cg);
        return fail(-r, "%s", msg);
    }
    return 0;
}

int cgroup_enter(const struct cgroup *cg, pid_t pid)
{
    for (size_t i = 0; i < cg->n; i++) {
        int r = cg_write(cg->dir[i].path, "cgroup.procs", "cgroup", "%d", (int)pid);
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- resources ---- */

struct apply {
    const struct cgroup *cg;
    const char *prefix;         /* "linux.resources" or the update's source */
};

/* The directory for a controller: a v1 hierarchy (*v2 = false) or the
 * cgroup2 one if it offers the controller; fails naming the field. */
static int pick(const struct apply *a, const char *v1, const char *v2, const char *field,
                const char **dir, bool *is_v2)
{
    const struct cg_dir *d = v1 ? v1_dir(a->cg, v1) : NULL;
    if (d) {
        *dir = d->path;
        *is_v2 = false;
        return 0;
    }
    char avail[512];
    if (a->cg->unified && v2 &&
        cg_read(a->cg->unified->path, "cgroup.controllers", avail, sizeof(avail)) == 0) {
        for (char *p = avail; *p; p++)
            *p = *p == ' ' || *p == '\n' ? ',' : *p;
        if (has_word(avail, v2)) {
            *dir = a->cg->unified->path;
            *is_v2 = true;
            return 0;
        }
    }
    return fail(ENOTSUP, "%s.%s: this host has no %s controller", a->prefix, field,
                v1 ? v1 : v2);
}

#define SET(x) ((x) != OCI_UNSET)

/* "-1" -> "max" for cgroup2 limits. */
static void v2_limit(char *buf, size_t len, int64_t v)
{
    if (v < 0)
        snprintf(buf, len, "max");
    else
        snprintf(buf, len, "%" PRId64, v);
}

static int apply_memory(const struct apply *a, const struct oci_resources *res)
{
    const char *dir;
    bool v2;
    char f[128], lim[32], swp[32];
    int r;
    if (!SET(res->mem_limit) && !SET(res->mem_reservation) && !SET(res->mem_swap) &&
        !SET(res->mem_kernel) && !SET(res->mem_kernel_tcp) && !SET(res->mem_swappiness) &&
        res->disable_oom_killer < 0)
        return 0;
    if ((r = pick(a, "memory", "memory", "memory", &dir, &v2)) < 0)
        return r;
#define FIELD(name) (snprintf(f, sizeof(f), "%s.memory.%s", a->prefix, name), f)
    if (SET(res->mem_kernel) || SET(res->mem_kernel_tcp))
        log_warn("%s.memory.kernel and kernelTCP are deprecated and ignored", a->prefix);
    if (!v2) {
        if (SET(res->mem_limit) && SET(res->mem_swap)) {
            /* memsw must stay >= the limit: order the writes so it does. */
            if (cg_write(dir, "memory.limit_in_bytes", FIELD("limit"), "%" PRId64,
                         res->mem_limit) < 0 &&
                (r = cg_write(dir, "memory.memsw.limit_in_bytes", FIELD("swap"), "%" PRId64,
                              res->mem_swap)) < 0)
                return r;
        }
        if (SET(res->mem_limit) && (r = cg_write(dir, "memory.limit_in_bytes", FIELD("limit"),
                                                 "%" PRId64, res->mem_limit)) < 0)
            return r;
        if (SET(res->mem_swap) && (r = cg_write(dir, "memory.memsw.limit_in_bytes",
                                                FIELD("swap"), "%" PRId64, res->mem_swap)) < 0)
            return r;
        if (SET(res->mem_reservation) &&
            (r = cg_write(dir, "memory.soft_limit_in_bytes", FIELD("reservation"), "%" PRId64,
                          res->mem_reservation)) < 0)
            return r;
        if (SET(res->mem_swappiness) &&
            (r = cg_write(dir, "memory.swappiness", FIELD("swappiness"), "%" PRId64,
                          res->mem_swappiness)) < 0)
            return r;
        if (res->disable_oom_killer >= 0 &&
            (r = cg_write(dir, "memory.oom_control", FIELD("disableOOMKiller"), "%d",
                          res->disable_oom_killer)) < 0)
            return r;
        return 0;
    }
    if (SET(res->mem_swappiness))
        return fail(ENOTSUP, "%s: not supported on cgroup v2", FIELD("swappiness"));
    if (res->disable_oom_killer > 0)
        return fail(ENOTSUP, "%s: not supported on cgroup v2", FIELD("disableOOMKiller"));
    if (SET(res->mem_limit)) {
        v2_limit(lim, sizeof(lim), res->mem_limit);
        if ((r = cg_write(dir, "memory.max", FIELD("limit"), "%s", lim)) < 0)
            return r;
    }
    if (SET(res->mem_swap)) {
        /* v1's swap is memory+swap; cgroup2's memory.swap.max is swap alone. */
        if (res->mem_swap < 0)
            snprintf(swp, sizeof(swp), "max");
        else if (!SET(res->mem_limit) || res->mem_limit < 0)
            return fail(EINVAL, "%s: needs memory.limit on cgroup v2", FIELD("swap"));
        else if (res->mem_swap < res->mem_limit)
            return fail(EINVAL, "%s: %" PRId64 " is below memory.limit %" PRId64,
                        FIELD("swap"), res->mem_swap, res->mem_limit);
        else
            snprintf(swp, sizeof(swp), "%" PRId64, res->mem_swap - res->mem_limit);
        /* Without swap accounting (swapaccount=0, no swap support) there is
         * no memory.swap.max: "no swap" and "unlimited" then hold anyway (as
         * runc takes them); any other value fails naming the file. */
        bool moot = (strcmp(swp, "0") == 0 || strcmp(swp, "max") == 0) &&
                    !cg_exists(dir, "memory.swap.max");
        if (!moot && (r = cg_write(dir, "memory.swap.max", FIELD("swap"), "%s", swp)) < 0)
            return r;
    }
    if (SET(res->mem_reservation)) {
        v2_limit(lim, sizeof(lim), res->mem_reservation);
        if ((r = cg_write(dir, "memory.low", FIELD("reservation"), "%s", lim)) < 0)
            return r;
    }
    return 0;
#undef FIELD
}

static int apply_cpu(const struct apply *a, const struct oci_resources *res)
{
    const char *dir;
    bool v2;
    char f[128];
    int r;
#define FIELD(name) (snprintf(f, sizeof(f), "%s.cpu.%s", a->prefix, name), f)
    if (SET(res->cpu_shares) || SET(res->cpu_quota) || SET(res->cpu_period) ||
        SET(res->cpu_burst) || SET(res->cpu_rt_runtime) || SET(res->cpu_rt_period) ||
        SET(res->cpu_idle)) {
        if ((r = pick(a, "cpu", "cpu", "cpu", &dir, &v2)) < 0)
            return r;
        if (!v2) {
            static const char *const files[] = { "cpu.shares", "cpu.cfs_period_us",
                                                 "cpu.cfs_quota_us", "cpu.cfs_burst_us",
                                                 "cpu.rt_period_us", "cpu.rt_runtime_us",
                                                 "cpu.idle" };
            static const char *const names[] = { "shares", "period", "quota", "burst",
                                                 "realtimePeriod", "realtimeRuntime", "idle" };
            const int64_t vals[] = { res->cpu_shares, res->cpu_period, res->cpu_quota,
                                     res->cpu_burst, res->cpu_rt_period, res->cpu_rt_runtime,
                                     res->cpu_idle };
            for (size_t i = 0; i < ARRAY_SIZE(files); i++)
                if (SET(vals[i]) && (r = cg_write(dir, files[i], FIELD(names[i]), "%" PRId64,
                                                  vals[i])) < 0)
                    return r;
        } else {
            if (SET(res->cpu_rt_runtime) || SET(res->cpu_rt_period))
                return fail(ENOTSUP, "%s: not supported on cgroup v2",
                            FIELD(SET(res->cpu_rt_runtime) ? "realtimeRuntime"
                                                           : "realtimePeriod"));
            if (SET(res->cpu_shares) && res->cpu_shares &&
                (r = cg_write(dir, "cpu.weight", FIELD("shares"), "%" PRIu64,
                              oci_shares_to_weight((uint64_t)res->cpu_shares))) < 0)
                return r;
            if (SET(res->cpu_quota) || SET(res->cpu_period)) {
                char quota[32] = "max", cur[64];
                int64_t period = SET(res->cpu_period) && res->cpu_period ? res->cpu_period : 0;
                if (SET(res->cpu_quota) && res->cpu_quota > 0)
                    snprintf(quota, sizeof(quota), "%" PRId64, res->cpu_quota);
                else if (!SET(res->cpu_quota) && cg_read(dir, "cpu.max", cur, sizeof(cur)) == 0)
                    snprintf(quota, sizeof(quota), "%.*s", (int)strcspn(cur, " \n"), cur);
                if (!period)
                    period = 100000;
                if ((r = cg_write(dir, "cpu.max", FIELD(SET(res->cpu_quota) ? "quota" : "period"),
                                  "%s %" PRId64, quota, period)) < 0)
                    return r;
            }
            if (SET(res->cpu_burst) && (r = cg_write(dir, "cpu.max.burst", FIELD("burst"),
                                                     "%" PRId64, res->cpu_burst)) < 0)
                return r;
            if (SET(res->cpu_idle) && (r = cg_write(dir, "cpu.idle", FIELD("idle"), "%" PRId64,
                                                    res->cpu_idle)) < 0)
                return r;
        }
    }
    if (res->cpus || res->mems) {
        if ((r = pick(a, "cpuset", "cpuset", "cpuset", &dir, &v2)) < 0)
            return r;
        if (res->cpus && (r = cg_write(dir, "cpuset.cpus", FIELD("cpus"), "%s", res->cpus)) < 0)
            return r;
        if (res->mems && (r = cg_write(dir, "cpuset.mems", FIELD("mems"), "%s", res->mems)) < 0)
            return r;
    }
    return 0;
#undef FIELD
}

static int apply_blkio(const struct apply *a, const struct oci_resources *res)
{
    static const char *const v1_files[OCI_THROTTLE_N] = {
        "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
        "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device" };
    static const char *const v2_keys[OCI_THROTTLE_N] = { "rbps", "wbps", "riops", "wiops" };
    static const char *const names[OCI_THROTTLE_N] = {
        "throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice",
        "throttleWriteIOPSDevice" };
    size_t nthrottle = 0;
    for (int i = 0; i < OCI_THROTTLE_N; i++)
        nthrottle += res->nthrottle[i];
    if (!SET(res->blkio_weight) && !SET(res->blkio_leaf_weight) && !res->nweight_devs &&
        !nthrottle)
        return 0;
    const char *dir;
    bool v2;
    char f[128];
    int r = pick(a, "blkio", "io", "blockIO", &dir, &v2);
    if (r < 0)
        return r;
#define FIELD(name) (snprintf(f, sizeof(f), "%s.blockIO.%s", a->prefix, name), f)
    /* v1 hosts with BFQ name the weight files blkio.bfq.*. */
    const char *weight = v2 ? "io.weight"
                       : cg_exists(dir, "blkio.weight") ? "blkio.weight" : "blkio.bfq.weight";
    const char *wdev = v2 ? "io.weight"
                     : cg_exists(dir, "blkio.weight_device") ? "blkio.weight_device"
                                                             : "blkio.bfq.weight_device";
    if (SET(res->blkio_weight) && res->blkio_weight) {
        uint64_t w = v2 ? oci_blkio_to_io_weight((uint64_t)res->blkio_weight)
                        : (uint64_t)res->blkio_weight;
        if ((r = cg_write(dir, weight, FIELD("weight"), v2 ? "default %" PRIu64 : "%" PRIu64,
                          w)) < 0)
            return r;
    }
    if (SET(res->blkio_leaf_weight) && res->blkio_leaf_weight) {
        if (v2)
            return fail(ENOTSUP, "%s: not supported on cgroup v2", FIELD("leafWeight"));
        if ((r = cg_write(dir, "blkio.leaf_weight", FIELD("leafWeight"), "%" PRId64,
                          res->blkio_leaf_weight)) < 0)
            return r;
    }
    for (size_t i = 0; i < res->nweight_devs; i++) {
        const struct oci_blkio_dev *d = &res->weight_devs[i];
        if (SET(d->weight) &&
            (r = cg_write(dir, wdev, FIELD("weightDevice"), "%u:%u %" PRIu64, d->major, d->minor,
                          v2 ? oci_blkio_to_io_weight((uint64_t)d->weight)
                             : (uint64_t)d->weight)) < 0)
            return r;
        if (SET(d->leaf_weight) && !v2 &&
            (r = cg_write(dir, "blkio.leaf_weight_device", FIELD("weightDevice"),
                          "%u:%u %" PRId64, d->major, d->minor, d->leaf_weight)) < 0)
            return r;
    }
    for (int t = 0; t < OCI_THROTTLE_N; t++)
        for (size_t i = 0; i < res->nthrottle[t]; i++) {
            const struct oci_blkio_dev *d = &res->throttle[t][i];
            r = v2 ? cg_write(dir, "io.max", FIELD(names[t]), "%u:%u %s=%" PRIu64, d->major,
                              d->minor, v2_keys[t], d->rate)
                   : cg_write(dir, v1_files[t], FIELD(names[t]), "%u:%u %" PRIu64, d->major,
                              d->minor, d->rate);
            if (r < 0)
                return r;
        }
    return 0;
#undef FIELD
}

static int apply_hugetlb(const struct apply *a, const struct oci_resources *res)
{
    for (size_t i = 0; i < res->nhugepages; i++) {
        const struct oci_hugepage *h = &res->hugepages[i];
        const char *dir;
        bool v2;
        char f[128], file[64];
        snprintf(f, sizeof(f), "%s.hugepageLimits[%zu]", a->prefix, i);
        int r = pick(a, "hugetlb", "hugetlb", "hugepageLimits", &dir, &v2);
        if (r < 0)
            return r;
        snprintf(file, sizeof(file), v2 ? "hugetlb.%s.max" : "hugetlb.%s.limit_in_bytes",
                 h->page_size);
        if ((r = cg_write(dir, file, f, "%" PRIu64, h->limit)) < 0)
            return r;
    }
    return 0;
}

/* The devices every container gets (config-linux.md's default devices,
 * plus the pty devices), allowed after the configured rules. */
static const struct oci_dev_rule default_rules[] = {
    { true, 'c', 1, 3, "rwm" },  { true, 'c', 1, 5, "rwm" },  { true, 'c', 1, 7, "rwm" },
    { true, 'c', 1, 8, "rwm" },  { true, 'c', 1, 9, "rwm" },  { true, 'c', 5, 0, "rwm" },
    { true, 'c', 5, 1, "rwm" },  { true, 'c', 5, 2, "rwm" },  { true, 'c', 136, -1, "rwm" },
};

static int write_rule(const char *dir, const struct oci_dev_rule *d, const char *field)
{
    char maj[24] = "*", min[24] = "*";
    if (d->major >= 0)
        snprintf(maj, sizeof(maj), "%" PRId64, d->major);
    if (d->minor >= 0)
        snprintf(min, sizeof(min), "%" PRId64, d->minor);
    if (d->type == 'a')
        return cg_write(dir, d->allow ? "devices.allow" : "devices.deny", field, "a");
    return cg_write(dir, d->allow ? "devices.allow" : "devices.deny", field, "%c %s:%s %s",
                    d->type, maj, min, d->access);
}

/* The device rules in order: the config's, the defaults, then the device
 * nodes the config creates (allowed as runc does).  free() *out. */
static int device_rules(const struct oci_resources *res, const struct oci_spec *s,
                        struct oci_dev_rule **out, size_t *n)
{
    size_t max = res->ndevices + ARRAY_SIZE(default_rules) + (s ? s->ndevices : 0), k = 0;
    struct oci_dev_rule *v = calloc(max ? max : 1, sizeof(*v));
    if (!v)
        return fail(ENOMEM, "out of memory");
    for (size_t i = 0; i < res->ndevices; i++)
        v[k++] = res->devices[i];
    for (size_t i = 0; i < ARRAY_SIZE(default_rules); i++)
        v[k++] = default_rules[i];
    for (size_t i = 0; s && i < s->ndevices; i++) {
        const struct oci_device *dev = &s->devices[i];
        if (dev->type != 'p')
            v[k++] = (struct oci_dev_rule){ true, dev->type == 'b' ? 'b' : 'c', dev->major,
                                            dev->minor, "rwm" };
    }
    *out = v;
    *n = k;
    return 0;
}

/* CORRAL_OCI_DEVICE_FILTER=bpf picks the cgroup2 filter even where a v1
 * devices hierarchy exists (a hybrid host), so it can be tested there. */
static bool force_bpf(void)
{
    const char *e = getenv("CORRAL_OCI_DEVICE_FILTER");
    return e && strcmp(e, "bpf") == 0;
}

static int apply_devices(const struct apply *a, const struct oci_resources *res,
                         const struct oci_spec *s)
{
    char f[128];
    snprintf(f, sizeof(f), "%s.devices", a->prefix);
    const struct cg_dir *d = force_bpf() ? NULL : v1_dir(a->cg, "devices");
    if (!d && !a->cg->unified)
        return fail(ENOTSUP, "%s: this host has no devices controller nor cgroup2", f);
    struct oci_dev_rule *rules = NULL;
    size_t n = 0;
    int r = device_rules(res, s, &rules, &n);
    if (r < 0)
        return r;
    if (!d)
        r = devfilter_attach(a->cg->unified->path, rules, n, f);
    for (size_t i = 0; d && i < n && r == 0; i++)
        r = write_rule(d->path, &rules[i], f);
    free(rules);
    return r;
}

static int apply_unified(const struct apply *a, const struct oci_resources *res)
{
    if (!res->unified_keys || !res->unified_keys[0])
        return 0;
    if (!a->cg->unified)
        return fail(ENOTSUP, "%s.unified: this host has no cgroup2 hierarchy", a->prefix);
    for (size_t i = 0; res->unified_keys[i]; i++) {
        char f[300];
        snprintf(f, sizeof(f), "%s.unified.%s", a->prefix, res->unified_keys[i]);
        int r = cg_write(a->cg->unified->path, res->unified_keys[i], f, "%s",
                         res->unified_values[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

int cgroup_apply(const struct cgroup *cg, const struct oci_resources *res,
                 const struct oci_spec *s, const char *prefix)
{
    const struct apply a = { cg, prefix };
    int r;
    if ((r = apply_memory(&a, res)) < 0 || (r = apply_cpu(&a, res)) < 0 ||
        (r = apply_blkio(&a, res)) < 0 || (r = apply_hugetlb(&a, res)) < 0)
        return r;
    if (SET(res->pids_limit) && res->pids_limit != 0) {
        const char *dir;
        bool v2;
        char f[128];
        snprintf(f, sizeof(f), "%s.pids.limit", prefix);
        if ((r = pick(&a, "pids", "pids", "pids", &dir, &v2)) < 0)
            return r;
        r = res->pids_limit < 0 ? cg_write(dir, "pids.max", f, "max")
                                : cg_write(dir, "pids.max", f, "%" PRId64, res->pids_limit);
        if (r < 0)
            return r;
    }
    if (SET(res->net_class_id)) {
        const struct cg_dir *d = v1_dir(cg, "net_cls");
        if (!d)
            return fail(ENOTSUP, "%s.network.classID: this host has no net_cls controller",
                        prefix);
        if ((r = cg_write(d->path, "net_cls.classid", "network.classID", "%" PRId64,
                          res->net_class_id)) < 0)
            return r;
    }
    if (res->has_devices && (r = apply_devices(&a, res, s)) < 0)
        return r;
    return apply_unified(&a, res);
}

/* ---- processes ---- */

int cgroup_pids(const struct cgroup *cg, pid_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    char path[CG_PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/cgroup.procs", cg->dir[0].path);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : fail(errno, "%s: %s", path, strerror(errno));
    size_t cap = 0;
    int pid, r = 0;
    while (fscanf(f, "%d", &pid) == 1) {
        if (*n == cap) {
            pid_t *nv = realloc(*out, (cap = cap ? cap * 2 : 16) * sizeof(pid_t));
            if (!nv) {
                r = fail(ENOMEM, "out of memory");
                break;
            }
            *out = nv;
        }
        (*out)[(*n)++] = pid;
    }
    fclose(f);
    if (r < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return r;
}

int cgroup_signal(const struct cgroup *cg, int sig)
{
    pid_t *pids;
    size_t n;
    int r = cgroup_pids(cg, &pids, &n);
    for (size_t i = 0; r == 0 && i < n; i++)
        kill(pids[i], sig);
    free(pids);
    return r;
}

/* Counters, read cheaply: v1's cpuacct.usage and memory.usage_in_bytes
 * where those controllers are mounted, else cgroup2's cpu.stat usage_usec
 * and memory.current; -1 for one the host does not keep. */
void cgroup_usage(const struct cgroup *cg, int64_t *cpu_ns, int64_t *mem_bytes)
{
    char buf[1024];
    const struct cg_dir *d;
    const char *u;
    *cpu_ns = *mem_bytes = -1;
    if ((d = v1_dir(cg, "cpuacct")) && cg_read(d->path, "cpuacct.usage", buf, sizeof(buf)) == 0)
        *cpu_ns = strtoll(buf, NULL, 10);
    else if (cg->unified && cg_read(cg->unified->path, "cpu.stat", buf, sizeof(buf)) == 0 &&
             (u = strstr(buf, "usage_usec ")))
        *cpu_ns = strtoll(u + 11, NULL, 10) * 1000;
    if ((d = v1_dir(cg, "memory")) && cg_read(d->path, "memory.usage_in_bytes", buf, sizeof(buf)) == 0)
        *mem_bytes = strtoll(buf, NULL, 10);
    else if (cg->unified && cg_read(cg->unified->path, "memory.current", buf, sizeof(buf)) == 0)
        *mem_bytes = strtoll(buf, NULL, 10);
}

/* The freezer: v1's freezer.state, else cgroup2's cgroup.freeze. */
static const struct cg_dir *freezer(const struct cgroup *cg)
{
    const struct cg_dir *d = v1_dir(cg, "freezer");
    return d ? d : cg->unified;
}

bool cgroup_frozen(const struct cgroup *cg)
{
    const struct cg_dir *d = freezer(cg);
    char buf[64];
    if (!d)
        return false;
    if (d->unified)
        return cg_read(d->path, "cgroup.freeze", buf, sizeof(buf)) == 0 && buf[0] == '1';
    return cg_read(d->path, "freezer.state", buf, sizeof(buf)) == 0 &&
           strncmp(buf, "FROZEN", 6) == 0;
}

int cgroup_freeze(const struct cgroup *cg, bool freeze)
{
    const struct cg_dir *d = freezer(cg);
    if (!d)
        return fail(ENOTSUP, "this host has no cgroup freezer");
    int r = d->unified ? cg_write(d->path, "cgroup.freeze", "freezer", freeze ? "1" : "0")
                       : cg_write(d->path, "freezer.state", "freezer", freeze ? "FROZEN" : "THAWED");
    if (r < 0 || !freeze)
        return r;
    /* Freezing completes asynchronously: wait up to 2 s for it. */
    for (int i = 0; i < 400; i++) {
        char buf[256];
        if (d->unified ? cg_read(d->path, "cgroup.events", buf, sizeof(buf)) == 0 &&
                         strstr(buf, "frozen 1")
                       : cg_read(d->path, "freezer.state", buf, sizeof(buf)) == 0 &&
                         strncmp(buf, "FROZEN", 6) == 0)
            return 0;
        nanosleep(&(struct timespec){ 0, 5000000 }, NULL);
    }
    cgroup_freeze(cg, false);
    return fail(EBUSY, "the container's processes did not freeze within 2 s");
}

/* ---- removal ---- */

int cgroup_destroy(const struct cgroup *cg)
{
    /* Whatever is left (processes outside a pid namespace) dies first; a
     * frozen process cannot act on SIGKILL until it is thawed. */
    pid_t *pids;
    size_t n;
    for (int i = 0; i < 200; i++) {
        if (cgroup_pids(cg, &pids, &n) < 0 || (free(pids), n == 0))
            break;
        cgroup_signal(cg, SIGKILL);
        if (i == 0 && cgroup_frozen(cg))
            cgroup_freeze(cg, false);
        nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
    }
    int r = 0;
    for (size_t i = 0; i < cg->n; i++) {
        /* An exited process may still be leaving the cgroup: EBUSY for a
         * moment. */
        int tries = 0, rc;
        while ((rc = rmdir(cg->dir[i].path)) < 0 && errno == EBUSY && ++tries < 100)
            nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
        if (rc < 0 && errno != ENOENT && r == 0)
            r = fail(errno, "cannot remove cgroup %s: %s", cg->dir[i].path, strerror(errno));
    }
    return r;
}
