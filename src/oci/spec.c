/* config.json -> struct oci_spec.  Every value is checked here, once, with
 * the field's path in the message, so the container set-up code can trust
 * the struct.  Unknown fields are ignored as the spec requires. */
#include "oci/oci.h"
#include "oci/oci_internal.h"
#include "util/util.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>

/* ---- small helpers: typed access with the field path in every error ---- */

int spec_type_err(const char *path, const char *want)
{
    return fail(EINVAL, "%s: must be %s", path, want);
}

/* The member `key` of `obj` if present (NULL if absent or JSON null). */
json_object *spec_member(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (!obj || !json_object_object_get_ex(obj, key, &v))
        return NULL;
    return v;
}

int spec_get_str(json_object *v, const char *path, char **out)
{
    if (!json_object_is_type(v, json_type_string))
        return spec_type_err(path, "a string");
    const char *s = json_object_get_string(v);
    if (strlen(s) != (size_t)json_object_get_string_len(v))
        return fail(EINVAL, "%s: contains a NUL byte", path);
    *out = strdup(s);
    return *out ? 0 : fail(ENOMEM, "out of memory");
}

int spec_get_bool(json_object *v, const char *path, bool *out)
{
    if (!json_object_is_type(v, json_type_boolean))
        return spec_type_err(path, "true or false");
    *out = json_object_get_boolean(v);
    return 0;
}

int spec_get_int(json_object *v, const char *path, int64_t min, int64_t max, int64_t *out)
{
    if (!json_object_is_type(v, json_type_int))
        return spec_type_err(path, "an integer");
    errno = 0;
    int64_t x = json_object_get_int64(v);
    /* json-c saturates out-of-range values; uint64 above INT64_MAX too. */
    if (errno == ERANGE || x < min || x > max ||
        (x == INT64_MAX && json_object_get_uint64(v) != (uint64_t)INT64_MAX))
        return fail(ERANGE, "%s: %s is out of range [%lld, %lld]", path,
                    json_object_to_json_string(v), (long long)min, (long long)max);
    *out = x;
    return 0;
}

int spec_get_u32(json_object *v, const char *path, uint32_t *out)
{
    int64_t x;
    int r = spec_get_int(v, path, 0, UINT32_MAX, &x);
    if (r == 0)
        *out = (uint32_t)x;
    return r;
}

/* rlimit values are uint64 (RLIM_INFINITY = 2^64-1 is common). */
int spec_get_u64(json_object *v, const char *path, uint64_t *out)
{
    if (!json_object_is_type(v, json_type_int))
        return spec_type_err(path, "an integer");
    if (json_object_get_int64(v) < 0)
        return fail(ERANGE, "%s: must not be negative", path);
    *out = json_object_get_uint64(v);
    return 0;
}

int spec_get_array(json_object *v, const char *path, size_t max, size_t *n)
{
    if (!json_object_is_type(v, json_type_array))
        return spec_type_err(path, "an array");
    *n = json_object_array_length(v);
    if (*n > max)
        return fail(E2BIG, "%s: more than %zu entries", path, max);
    return 0;
}

/* An array of strings -> NULL-terminated vector. */
int get_strv(json_object *v, const char *path, size_t max, char ***out)
{
    size_t n;
    int r = spec_get_array(v, path, max, &n);
    if (r < 0)
        return r;
    char **vec = calloc(n + 1, sizeof(*vec));
    if (!vec)
        return fail(ENOMEM, "out of memory");
    *out = vec;
    for (size_t i = 0; i < n; i++) {
        char p[256];
        snprintf(p, sizeof(p), "%s[%zu]", path, i);
        if ((r = spec_get_str(json_object_array_get_idx(v, i), p, &vec[i])) < 0)
            return r;
    }
    return 0;
}

int check_abs(const char *path, const char *s)
{
    if (s[0] != '/')
        return fail(EINVAL, "%s: \"%s\" is not an absolute path", path, s);
    if (strlen(s) >= PATH_MAX)
        return fail(ENAMETOOLONG, "%s: path too long", path);
    return 0;
}

int spec_required(json_object *obj, const char *path, const char *key, char *f, size_t flen, json_object **v)
{
    snprintf(f, flen, "%s.%s", path, key);
    if (!(*v = spec_member(obj, key)))
        return fail(EINVAL, "%s: missing", f);
    return 0;
}

int spec_object_path(json_object *o, const char *path, const char *key, char **out)
{
    char f[320];
    json_object *v;
    int r;
    if ((r = spec_required(o, path, key, f, sizeof(f), &v)) < 0 || (r = spec_get_str(v, f, out)) < 0)
        return r;
    return check_abs(f, *out);
}

int spec_get_objects(json_object *arr, const char *path, size_t max, size_t *n, void *vecp,
                     size_t size, spec_object_fn *fn, void *ctx)
{
    int r = spec_get_array(arr, path, max, n);
    if (r < 0)
        return r;
    char *vec = NULL;
    if (vecp) {
        if (!(vec = calloc(*n + 1, size)))
            return fail(ENOMEM, "out of memory");
        memcpy(vecp, &vec, sizeof(vec));
    }
    for (size_t i = 0; i < *n; i++) {
        json_object *o = json_object_array_get_idx(arr, i);
        char p[256];
        snprintf(p, sizeof(p), "%.200s[%zu]", path, i);
        if (!json_object_is_type(o, json_type_object))
            return spec_type_err(p, "an object");
        if ((r = fn(o, p, vec ? vec + i * size : NULL, ctx)) < 0)
            return r;
    }
    return 0;
}

/* ---- name tables ---- */

static const struct { const char *name; int type; } ns_names[] = {
    { "pid", CLONE_NEWPID },     { "network", CLONE_NEWNET }, { "mount", CLONE_NEWNS },
    { "ipc", CLONE_NEWIPC },     { "uts", CLONE_NEWUTS },     { "user", CLONE_NEWUSER },
    { "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
};

const char *oci_ns_name(int type)
{
    for (size_t i = 0; i < ARRAY_SIZE(ns_names); i++)
        if (ns_names[i].type == type)
            return ns_names[i].name;
    return "?";
}

static const struct { const char *name; int res; } rlimit_names[] = {
    { "RLIMIT_AS", RLIMIT_AS },           { "RLIMIT_CORE", RLIMIT_CORE },
    { "RLIMIT_CPU", RLIMIT_CPU },         { "RLIMIT_DATA", RLIMIT_DATA },
    { "RLIMIT_FSIZE", RLIMIT_FSIZE },     { "RLIMIT_LOCKS", RLIMIT_LOCKS },
    { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
    { "RLIMIT_NICE", RLIMIT_NICE },       { "RLIMIT_NOFILE", RLIMIT_NOFILE },
    { "RLIMIT_NPROC", RLIMIT_NPROC },     { "RLIMIT_RSS", RLIMIT_RSS },
    { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },   { "RLIMIT_RTTIME", RLIMIT_RTTIME },
    { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING }, { "RLIMIT_STACK", RLIMIT_STACK },
};

static const struct { const char *name; int sig; } signal_names[] = {
    { "HUP", SIGHUP },   { "INT", SIGINT },   { "QUIT", SIGQUIT }, { "ILL", SIGILL },
    { "TRAP", SIGTRAP }, { "ABRT", SIGABRT }, { "IOT", SIGIOT },   { "BUS", SIGBUS },
    { "FPE", SIGFPE },   { "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV },
    { "USR2", SIGUSR2 }, { "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM },
    { "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP },
    { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU }, { "URG", SIGURG },
    { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },
    { "WINCH", SIGWINCH }, { "IO", SIGIO }, { "POLL", SIGPOLL }, { "PWR", SIGPWR },
    { "SYS", SIGSYS },
};

int oci_signal_parse(const char *s)
{
    uint64_t n;
    if (s[0] >= '0' && s[0] <= '9')
        return parse_uint(s, 1, SIGRTMAX, &n) == 0 ? (int)n : -1;
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < ARRAY_SIZE(signal_names); i++)
        if (strcasecmp(s, signal_names[i].name) == 0)
            return signal_names[i].sig;
    /* RTMIN, RTMIN+3, RTMAX-1 */
    int base = 0, sign = 0;
    if (strncasecmp(s, "RTMIN", 5) == 0)
        base = SIGRTMIN, sign = 1;
    else if (strncasecmp(s, "RTMAX", 5) == 0)
        base = SIGRTMAX, sign = -1;
    if (!base)
        return -1;
    s += 5;
    if (!*s)
        return base;
    if ((sign > 0 && *s != '+') || (sign < 0 && *s != '-'))
        return -1;
    if (parse_uint(s + 1, 0, SIGRTMAX - SIGRTMIN, &n) < 0)
        return -1;
    return base + sign * (int)n;
}

/* Mount options that are flags; everything else is filesystem data. */
static const struct { const char *name; bool clear; unsigned long flag; } mount_flags[] = {
    { "async", true, MS_SYNCHRONOUS },  { "atime", true, MS_NOATIME },
    { "bind", false, MS_BIND },         { "defaults", false, 0 },
    { "dev", true, MS_NODEV },          { "diratime", true, MS_NODIRATIME },
    { "dirsync", false, MS_DIRSYNC },   { "exec", true, MS_NOEXEC },
    { "mand", false, 0 },               { "nomand", false, 0 },
    { "noatime", false, MS_NOATIME },   { "nodev", false, MS_NODEV },
    { "nodiratime", false, MS_NODIRATIME }, { "noexec", false, MS_NOEXEC },
    { "nosuid", false, MS_NOSUID },     { "norelatime", true, MS_RELATIME },
    { "nostrictatime", true, MS_STRICTATIME }, { "rbind", false, MS_BIND | MS_REC },
    { "relatime", false, MS_RELATIME }, { "ro", false, MS_RDONLY },
    { "rw", true, MS_RDONLY },          { "strictatime", false, MS_STRICTATIME },
    { "suid", true, MS_NOSUID },        { "sync", false, MS_SYNCHRONOUS },
    { "silent", false, MS_SILENT },     { "loud", true, MS_SILENT },
    { "lazytime", false, MS_LAZYTIME }, { "nolazytime", true, MS_LAZYTIME },
    { "iversion", false, MS_I_VERSION }, { "noiversion", true, MS_I_VERSION },
};

static const struct { const char *name; unsigned long flag; } propagations[] = {
    { "private", MS_PRIVATE },   { "rprivate", MS_PRIVATE | MS_REC },
    { "slave", MS_SLAVE },       { "rslave", MS_SLAVE | MS_REC },
    { "shared", MS_SHARED },     { "rshared", MS_SHARED | MS_REC },
    { "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
};

static int parse_propagation(const char *s, unsigned long *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(propagations); i++)
        if (strcmp(s, propagations[i].name) == 0) {
            *out = propagations[i].flag;
            return 0;
        }
    return -1;
}

/* ---- sections ---- */

static int parse_mount_options(json_object *opts, const char *path, struct oci_mount *m)
{
    size_t n;
    int r = spec_get_array(opts, path, 256, &n);
    if (r < 0)
        return r;
    size_t cap = 1, used = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(opts, i);
        char p[300];
        snprintf(p, sizeof(p), "%s[%zu]", path, i);
        if (!json_object_is_type(o, json_type_string))
            return spec_type_err(p, "a string");
        cap += (size_t)json_object_get_string_len(o) + 1;
    }
    if (!(m->data = calloc(1, cap)))
        return fail(ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(opts, i));
        /* runc's one runtime-only option: never for mount(2). */
        if (strcmp(s, "tmpcopyup") == 0) {
            m->copyup = true;
            continue;
        }
        bool known = false;
        for (size_t k = 0; k < ARRAY_SIZE(mount_flags) && !known; k++)
            if (strcmp(s, mount_flags[k].name) == 0) {
                known = true;
                if (mount_flags[k].clear) {
                    m->flags &= ~mount_flags[k].flag;
                    m->clear |= mount_flags[k].flag;
                } else {
                    m->flags |= mount_flags[k].flag;
                    m->clear &= ~mount_flags[k].flag;
                }
            }
        unsigned long prop;
        if (!known && parse_propagation(s, &prop) == 0) {
            m->propagation = prop;
            known = true;
        }
        if (known)
            continue;
        if (!*s || strchr(s, ','))
            return fail(EINVAL, "%s[%zu]: invalid option \"%s\"", path, i, s);
        if (used)
            m->data[used++] = ',';
        strcpy(m->data + used, s);
        used += strlen(s);
    }
    if (!used) {
        free(m->data);
        m->data = NULL;
    }
    return 0;
}

static int parse_mount(json_object *o, const char *p, void *elem, void *ctx)
{
    struct oci_mount *m = elem;
    json_object *v;
    char f[96];
    int r;
    (void)ctx;
    if ((r = spec_object_path(o, p, "destination", &m->destination)) < 0)
        return r;
    snprintf(f, sizeof(f), "%s.type", p);
    if ((v = spec_member(o, "type")) && (r = spec_get_str(v, f, &m->type)) < 0)
        return r;
    snprintf(f, sizeof(f), "%s.source", p);
    if ((v = spec_member(o, "source")) && (r = spec_get_str(v, f, &m->source)) < 0)
        return r;
    snprintf(f, sizeof(f), "%s.options", p);
    if ((v = spec_member(o, "options")) && (r = parse_mount_options(v, f, m)) < 0)
        return r;
    if (m->type && strcmp(m->type, "bind") == 0) {
        free(m->type);
        m->type = NULL;
        m->flags |= MS_BIND;
    }
    if (!m->type && !(m->flags & MS_BIND))
        return fail(EINVAL, "%s.type: missing (and no bind option)", p);
    if ((m->flags & MS_BIND) && !m->source)
        return fail(EINVAL, "%s.source: missing for a bind mount", p);
    return 0;
}

static int parse_cap_list(json_object *v, const char *path, uint64_t *set)
{
    size_t n;
    int r = spec_get_array(v, path, 128, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(v, i);
        char p[96];
        snprintf(p, sizeof(p), "%s[%zu]", path, i);
        if (!json_object_is_type(c, json_type_string))
            return spec_type_err(p, "a string");
        const char *name = json_object_get_string(c);
        cap_value_t cap;
        if (strncasecmp(name, "CAP_", 4) != 0 || cap_from_name(name, &cap) < 0 || cap < 0 ||
            cap > 63)
            return fail(EINVAL, "%s: unknown capability \"%s\"", p, name);
        *set |= 1ULL << cap;
    }
    return 0;
}

static int parse_caps(json_object *o, struct oci_caps *c)
{
    static const char *const names[] = { "bounding", "effective", "inheritable",
                                         "permitted", "ambient" };
    uint64_t *sets[] = { &c->bounding, &c->effective, &c->inheritable, &c->permitted,
                         &c->ambient };
    if (!json_object_is_type(o, json_type_object))
        return spec_type_err("process.capabilities", "an object");
    c->present = true;
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        json_object *v = spec_member(o, names[i]);
        char p[64];
        snprintf(p, sizeof(p), "process.capabilities.%s", names[i]);
        int r;
        if (v && (r = parse_cap_list(v, p, sets[i])) < 0)
            return r;
    }
    return 0;
}

static int parse_rlimit(json_object *o, const char *p, void *elem, void *ctx)
{
    struct oci_rlimit *rl = elem;
    const struct oci_process *pr = ctx;
    json_object *v;
    char f[96];
    int r;
    snprintf(f, sizeof(f), "%s.type", p);
    if (!(v = spec_member(o, "type")))
        return fail(EINVAL, "%s: missing", f);
    if (!json_object_is_type(v, json_type_string))
        return spec_type_err(f, "a string");
    const char *name = json_object_get_string(v);
    rl->resource = -1;
    for (size_t k = 0; k < ARRAY_SIZE(rlimit_names); k++)
        if (strcmp(name, rlimit_names[k].name) == 0)
            rl->resource = rlimit_names[k].res;
    if (rl->resource < 0)
        return fail(EINVAL, "%s: unknown rlimit \"%s\"", f, name);
    for (const struct oci_rlimit *k = pr->rlimits; k < rl; k++)
        if (k->resource == rl->resource)
            return fail(EINVAL, "%s: \"%s\" given twice", f, name);
    snprintf(f, sizeof(f), "%s.soft", p);
    if (!(v = spec_member(o, "soft")))
        return fail(EINVAL, "%s: missing", f);
    if ((r = spec_get_u64(v, f, &rl->soft)) < 0)
        return r;
    snprintf(f, sizeof(f), "%s.hard", p);
    if (!(v = spec_member(o, "hard")))
        return fail(EINVAL, "%s: missing", f);
    if ((r = spec_get_u64(v, f, &rl->hard)) < 0)
        return r;
    if (rl->soft > rl->hard)
        return fail(EINVAL, "%s: soft limit %llu is above the hard limit %llu", p,
                    (unsigned long long)rl->soft, (unsigned long long)rl->hard);
    return 0;
}

static int parse_user(json_object *o, struct oci_process *pr)
{
    json_object *v;
    int r;
    if (!json_object_is_type(o, json_type_object))
        return spec_type_err("process.user", "an object");
    if ((v = spec_member(o, "uid")) && (r = spec_get_u32(v, "process.user.uid", &pr->uid)) < 0)
        return r;
    if ((v = spec_member(o, "gid")) && (r = spec_get_u32(v, "process.user.gid", &pr->gid)) < 0)
        return r;
    if ((v = spec_member(o, "umask"))) {
        if ((r = spec_get_u32(v, "process.user.umask", &pr->umask)) < 0)
            return r;
        if (pr->umask > 0777)
            return fail(EINVAL, "process.user.umask: %o is not a file mode mask", pr->umask);
        pr->has_umask = true;
    }
    if ((v = spec_member(o, "additionalGids"))) {
        if ((r = spec_get_array(v, "process.user.additionalGids", 65536, &pr->ngids)) < 0)
            return r;
        if (!(pr->gids = calloc(pr->ngids + 1, sizeof(*pr->gids))))
            return fail(ENOMEM, "out of memory");
        for (size_t i = 0; i < pr->ngids; i++) {
            char p[64];
            snprintf(p, sizeof(p), "process.user.additionalGids[%zu]", i);
            if ((r = spec_get_u32(json_object_array_get_idx(v, i), p, &pr->gids[i])) < 0)
                return r;
        }
    }
    if (spec_member(o, "username"))
        return fail(EINVAL, "process.user.username: only for Windows");
    return 0;
}

static int parse_process(json_object *o, struct oci_process *pr)
{
    json_object *v;
    int r;
    if (!json_object_is_type(o, json_type_object))
        return spec_type_err("process", "an object");
    if ((v = spec_member(o, "terminal")) && (r = spec_get_bool(v, "process.terminal", &pr->terminal)) < 0)
        return r;
    if ((v = spec_member(o, "consoleSize")) && !json_object_is_type(v, json_type_object))
        return spec_type_err("process.consoleSize", "an object");
    if (!(v = spec_member(o, "args")))
        return fail(EINVAL, "process.args: missing");
    if ((r = get_strv(v, "process.args", 4096, &pr->args)) < 0)
        return r;
    if (!pr->args[0] || !pr->args[0][0])
        return fail(EINVAL, "process.args: the program to run is missing");
    if ((v = spec_member(o, "env"))) {
        if ((r = get_strv(v, "process.env", 65536, &pr->env)) < 0)
            return r;
        for (size_t i = 0; pr->env[i]; i++)
            if (!strchr(pr->env[i], '=') || pr->env[i][0] == '=')
                return fail(EINVAL, "process.env[%zu]: \"%s\" is not NAME=VALUE", i,
                            pr->env[i]);
    } else if (!(pr->env = calloc(1, sizeof(char *)))) {
        return fail(ENOMEM, "out of memory");
    }
    if (!(v = spec_member(o, "cwd")))
        return fail(EINVAL, "process.cwd: missing");
    if ((r = spec_get_str(v, "process.cwd", &pr->cwd)) < 0 || (r = check_abs("process.cwd", pr->cwd)) < 0)
        return r;
    if ((v = spec_member(o, "user")) && (r = parse_user(v, pr)) < 0)
        return r;
    if ((v = spec_member(o, "capabilities")) && (r = parse_caps(v, &pr->caps)) < 0)
        return r;
    if ((v = spec_member(o, "rlimits")) &&
        (r = spec_get_objects(v, "process.rlimits", 64, &pr->nrlimits, &pr->rlimits,
                              sizeof(*pr->rlimits), parse_rlimit, pr)) < 0)
        return r;
    if ((v = spec_member(o, "noNewPrivileges")) &&
        (r = spec_get_bool(v, "process.noNewPrivileges", &pr->no_new_privileges)) < 0)
        return r;
    if ((v = spec_member(o, "oomScoreAdj"))) {
        int64_t x;
        if ((r = spec_get_int(v, "process.oomScoreAdj", -1000, 1000, &x)) < 0)
            return r;
        pr->oom_score_adj = (int)x;
        pr->has_oom_score_adj = true;
    }
    /* Security attributes this host cannot enforce are refused, not ignored. */
    if ((v = spec_member(o, "selinuxLabel")) && json_object_get_string_len(v))
        return fail(ENOTSUP, "process.selinuxLabel: SELinux is not supported");
    if ((v = spec_member(o, "apparmorProfile")) && json_object_get_string_len(v))
        return fail(ENOTSUP, "process.apparmorProfile: AppArmor is not supported");
    return 0;
}

static int parse_namespace(json_object *o, const char *p, void *elem, void *ctx)
{
    struct oci_spec *s = ctx;
    json_object *v;
    char f[96];
    int r;
    (void)elem;
    snprintf(f, sizeof(f), "%s.type", p);
    if (!(v = spec_member(o, "type")))
        return fail(EINVAL, "%s: missing", f);
    if (!json_object_is_type(v, json_type_string))
        return spec_type_err(f, "a string");
    const char *name = json_object_get_string(v);
    int type = 0;
    for (size_t k = 0; k < ARRAY_SIZE(ns_names); k++)
        if (strcmp(name, ns_names[k].name) == 0)
            type = ns_names[k].type;
    if (!type)
        return fail(EINVAL, "%s: unknown namespace \"%s\"", f, name);
    if (oci_spec_ns(s, type))
        return fail(EINVAL, "%s: \"%s\" given twice", f, name);
    struct oci_namespace *ns = &s->ns[s->nns++];
    ns->type = type;
    snprintf(f, sizeof(f), "%s.path", p);
    if ((v = spec_member(o, "path"))) {
        if ((r = spec_get_str(v, f, &ns->path)) < 0 || (r = check_abs(f, ns->path)) < 0)
            return r;
    }
    return 0;
}

static int parse_idmap(json_object *o, const char *p, void *elem, void *ctx)
{
    struct oci_idmap *m = elem;
    static const char *const keys[] = { "containerID", "hostID", "size" };
    uint32_t *dst[] = { &m->container_id, &m->host_id, &m->size };
    json_object *v;
    char f[96];
    int r;
    (void)ctx;
    for (size_t k = 0; k < 3; k++) {
        snprintf(f, sizeof(f), "%s.%s", p, keys[k]);
        if (!(v = spec_member(o, keys[k])))
            return fail(EINVAL, "%s: missing", f);
        if ((r = spec_get_u32(v, f, dst[k])) < 0)
            return r;
    }
    if (m->size == 0)
        return fail(EINVAL, "%s.size: must be at least 1", p);
    if ((uint64_t)m->container_id + m->size > UINT32_MAX ||
        (uint64_t)m->host_id + m->size > UINT32_MAX)
        return fail(ERANGE, "%s: range overflows 32 bits", p);
    return 0;
}

static int parse_device(json_object *o, const char *p, void *elem, void *ctx)
{
    struct oci_device *d = elem;
    json_object *v;
    char f[96];
    int r;
    (void)ctx;
    if ((r = spec_object_path(o, p, "path", &d->path)) < 0 ||
        (r = spec_required(o, p, "type", f, sizeof(f), &v)) < 0)
        return r;
    if (!json_object_is_type(v, json_type_string))
        return spec_type_err(f, "a string");
    const char *t = json_object_get_string(v);
    if (strlen(t) != 1 || !strchr("cbup", t[0]))
        return fail(EINVAL, "%s: \"%s\" is not one of c, b, u, p", f, t);
    d->type = t[0];
    d->mode = 0666;
    static const char *const keys[] = { "major", "minor", "fileMode", "uid", "gid" };
    uint32_t *dst[] = { &d->major, &d->minor, &d->mode, &d->uid, &d->gid };
    for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
        snprintf(f, sizeof(f), "%s.%s", p, keys[k]);
        if (!(v = spec_member(o, keys[k]))) {
            if (k < 2 && d->type != 'p')
                return fail(EINVAL, "%s: missing", f);
            continue;
        }
        if ((r = spec_get_u32(v, f, dst[k])) < 0)
            return r;
    }
    if (d->major > 0xfff || d->minor > 0xfffff)
        return fail(ERANGE, "%s: device number %u:%u out of range", p, d->major, d->minor);
    /* podman writes the node's whole st_mode (020666): the type bits may
     * be there, but must say what "type" says. */
    uint32_t ifmt = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
    if ((d->mode & ~(07777u | S_IFMT)) || ((d->mode & S_IFMT) && (d->mode & S_IFMT) != ifmt))
        return fail(EINVAL, "%s.fileMode: %o is not a permission mode of a \"%c\" device",
                    p, d->mode, d->type);
    d->mode &= 07777;
    return 0;
}

static int parse_paths(json_object *v, const char *path, char ***out)
{
    int r = get_strv(v, path, 4096, out);
    for (size_t i = 0; r == 0 && (*out)[i]; i++) {
        char p[96];
        snprintf(p, sizeof(p), "%s[%zu]", path, i);
        r = check_abs(p, (*out)[i]);
    }
    return r;
}

/* The namespace a sysctl key belongs to (CLONE_NEWNET, ...), or 0 if the
 * kernel does not namespace it. */
static int sysctl_ns(const char *key)
{
    static const char *const ipc[] = { "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni",
                                       "kernel.sem", "kernel.shmall", "kernel.shmmax",
                                       "kernel.shmmni", "kernel.shm_rmid_forced" };
    for (size_t i = 0; i < ARRAY_SIZE(ipc); i++)
        if (strcmp(key, ipc[i]) == 0)
            return CLONE_NEWIPC;
    if (strncmp(key, "fs.mqueue.", 10) == 0)
        return CLONE_NEWIPC;
    if (strncmp(key, "net.", 4) == 0)
        return CLONE_NEWNET;
    if (strcmp(key, "kernel.hostname") == 0 || strcmp(key, "kernel.domainname") == 0)
        return CLONE_NEWUTS;
    return 0;
}

/* Only namespaced sysctls may be set, and only in a namespace of the
 * container's own: a new one, or one joined by path that is not the host's
 * (spec_check_host_ns() compares that at create time, as runc does). */
static int check_sysctl(const struct oci_spec *s, const char *key)
{
    if (!*key || strstr(key, "..") || key[0] == '.' || strchr(key, '/') == key)
        return fail(EINVAL, "linux.sysctl: invalid key \"%s\"", key);
    int need = sysctl_ns(key);
    if (!need)
        return fail(EINVAL, "linux.sysctl: \"%s\" is not namespaced and cannot be set", key);
    if (!oci_spec_ns(s, need))
        return fail(EINVAL, "linux.sysctl: \"%s\" needs a %s namespace of the container's own",
                    key, oci_ns_name(need));
    return 0;
}

/* A namespace joined by path is the host's if it is the runtime's own. */
static int is_host_ns(const struct oci_namespace *ns, bool *host)
{
    static const struct { int type; const char *file; } files[] = {
        { CLONE_NEWNET, "/proc/self/ns/net" }, { CLONE_NEWIPC, "/proc/self/ns/ipc" },
        { CLONE_NEWUTS, "/proc/self/ns/uts" },
    };
    struct stat mine, theirs;
    *host = false;
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        if (files[i].type != ns->type)
            continue;
        if (stat(ns->path, &theirs) < 0)
            return fail(errno, "linux.namespaces: %s namespace %s: %s", oci_ns_name(ns->type),
                        ns->path, strerror(errno));
        if (stat(files[i].file, &mine) < 0)
            return fail(errno, "%s: %s", files[i].file, strerror(errno));
        *host = mine.st_dev == theirs.st_dev && mine.st_ino == theirs.st_ino;
    }
    return 0;
}

/* What the parser cannot know: a joined namespace that sysctls or the
 * hostname would change must not be the host's. */
int spec_check_host_ns(const struct oci_spec *s)
{
    const struct oci_namespace *uts = oci_spec_ns(s, CLONE_NEWUTS);
    bool host;
    int r;
    if ((s->hostname || s->domainname) && uts && uts->path) {
        if ((r = is_host_ns(uts, &host)) < 0)
            return r;
        if (host)
            return fail(EINVAL, "%s: not allowed in the host's uts namespace (%s)",
                        s->hostname ? "hostname" : "domainname", uts->path);
    }
    for (size_t i = 0; s->sysctl_keys && s->sysctl_keys[i]; i++) {
        const struct oci_namespace *ns = oci_spec_ns(s, sysctl_ns(s->sysctl_keys[i]));
        if (!ns || !ns->path)
            continue;
        if ((r = is_host_ns(ns, &host)) < 0)
            return r;
        if (host)
            return fail(EINVAL, "linux.sysctl: \"%s\" is not allowed in the host's %s "
                        "namespace (%s)", s->sysctl_keys[i], oci_ns_name(ns->type), ns->path);
    }
    return 0;
}

static int parse_sysctl(json_object *o, struct oci_spec *s)
{
    if (!json_object_is_type(o, json_type_object))
        return spec_type_err("linux.sysctl", "an object");
    size_t n = (size_t)json_object_object_length(o), i = 0;
    if (n > 1024)
        return fail(E2BIG, "linux.sysctl: more than 1024 entries");
    s->sysctl_keys = calloc(n + 1, sizeof(char *));
    s->sysctl_values = calloc(n + 1, sizeof(char *));
    if (!s->sysctl_keys || !s->sysctl_values)
        return fail(ENOMEM, "out of memory");
    json_object_object_foreach(o, key, val) {
        char p[300];
        snprintf(p, sizeof(p), "linux.sysctl.%.200s", key);
        int r;
        if ((r = check_sysctl(s, key)) < 0 || (r = spec_get_str(val, p, &s->sysctl_values[i])) < 0)
            return r;
        if (!(s->sysctl_keys[i++] = strdup(key)))
            return fail(ENOMEM, "out of memory");
    }
    return 0;
}

static int parse_linux(json_object *o, struct oci_spec *s)
{
    json_object *v;
    int r;
    if (!json_object_is_type(o, json_type_object))
        return spec_type_err("linux", "an object");
    size_t nns;
    if ((v = spec_member(o, "namespaces")) &&
        (r = spec_get_objects(v, "linux.namespaces", OCI_MAX_NS, &nns, NULL, 0,
                              parse_namespace, s)) < 0)
        return r;
    /* 340: the kernel's limit per map */
    if ((v = spec_member(o, "uidMappings")) &&
        (r = spec_get_objects(v, "linux.uidMappings", 340, &s->nuid_maps, &s->uid_maps,
                              sizeof(*s->uid_maps), parse_idmap, NULL)) < 0)
        return r;
    if ((v = spec_member(o, "gidMappings")) &&
        (r = spec_get_objects(v, "linux.gidMappings", 340, &s->ngid_maps, &s->gid_maps,
                              sizeof(*s->gid_maps), parse_idmap, NULL)) < 0)
        return r;
    if ((v = spec_member(o, "devices")) &&
        (r = spec_get_objects(v, "linux.devices", 4096, &s->ndevices, &s->devices,
                              sizeof(*s->devices), parse_device, NULL)) < 0)
        return r;
    if ((v = spec_member(o, "maskedPaths")) &&
        (r = parse_paths(v, "linux.maskedPaths", &s->masked_paths)) < 0)
        return r;
    if ((v = spec_member(o, "readonlyPaths")) &&
        (r = parse_paths(v, "linux.readonlyPaths", &s->readonly_paths)) < 0)
        return r;
    if ((v = spec_member(o, "sysctl")) && (r = parse_sysctl(v, s)) < 0)
        return r;
    if ((v = spec_member(o, "rootfsPropagation"))) {
        if (!json_object_is_type(v, json_type_string))
            return spec_type_err("linux.rootfsPropagation", "a string");
        if (parse_propagation(json_object_get_string(v), &s->rootfs_propagation) < 0)
            return fail(EINVAL, "linux.rootfsPropagation: unknown propagation \"%s\"",
                        json_object_get_string(v));
    }
    if ((v = spec_member(o, "seccomp"))) {
        if (!json_object_is_type(v, json_type_object))
            return spec_type_err("linux.seccomp", "an object");
        void *ctx;
        if ((r = seccomp_build(v, &ctx)) < 0)
            return r;
        seccomp_free(ctx);
        s->seccomp = json_object_get(v);
    }
    if ((v = spec_member(o, "resources"))) {
        if (!(s->resources = malloc(sizeof(*s->resources))))
            return fail(ENOMEM, "out of memory");
        if ((r = oci_resources_parse(v, "linux.resources", s->resources)) < 0) {
            free(s->resources);
            s->resources = NULL;
            return r;
        }
    }
    if ((v = spec_member(o, "cgroupsPath")) &&
        (r = spec_get_str(v, "linux.cgroupsPath", &s->cgroups_path)) < 0)
        return r;
    if ((v = spec_member(o, "mountLabel")) && json_object_get_string_len(v))
        return fail(ENOTSUP, "linux.mountLabel: SELinux is not supported");
    return 0;
}

/* Rules that tie several fields together. */
static int check_spec(const struct oci_spec *s)
{
    const struct oci_namespace *user = oci_spec_ns(s, CLONE_NEWUSER);
    if (user && !user->path && (!s->nuid_maps || !s->ngid_maps))
        return fail(EINVAL, "linux.uidMappings: a new user namespace needs uidMappings and "
                            "gidMappings");
    if ((s->nuid_maps || s->ngid_maps) && (!user || user->path))
        return fail(EINVAL, "linux.uidMappings: mappings need a new user namespace");
    const struct oci_namespace *uts = oci_spec_ns(s, CLONE_NEWUTS);
    if ((s->hostname || s->domainname) && !uts)
        return fail(EINVAL, "%s: setting it needs a uts namespace of the container's own",
                    s->hostname ? "hostname" : "domainname");
    if (!oci_spec_ns(s, CLONE_NEWNS))
        return fail(EINVAL, "linux.namespaces: a mount namespace is required");
    return 0;
}

int oci_spec_parse(const char *text, size_t len, struct oci_spec *s)
{
    memset(s, 0, sizeof(*s));
    if (len > OCI_CONFIG_MAX)
        return fail(EFBIG, "larger than %d bytes", OCI_CONFIG_MAX);
    json_tokener *tok = json_tokener_new_ex(64);
    if (!tok)
        return fail(ENOMEM, "out of memory");
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = tok->char_offset;
    json_tokener_free(tok);
    if (!root || jerr != json_tokener_success) {
        json_object_put(root);
        return fail(EINVAL, "not valid JSON: %s", jerr == json_tokener_continue
                    ? "unexpected end of input" : json_tokener_error_desc(jerr));
    }
    for (; end < len; end++)
        if (!strchr(" \t\r\n", text[end])) {
            json_object_put(root);
            return fail(EINVAL, "not valid JSON: text after the end of the object");
        }
    int r = 0;
    json_object *v;
    if (!json_object_is_type(root, json_type_object)) {
        r = spec_type_err("config", "a JSON object");
        goto out;
    }
    if (!(v = spec_member(root, "ociVersion"))) {
        r = fail(EINVAL, "ociVersion: missing");
        goto out;
    }
    if ((r = spec_get_str(v, "ociVersion", &s->oci_version)) < 0)
        goto out;
    if (strncmp(s->oci_version, "1.", 2) != 0) {
        r = fail(EINVAL, "ociVersion: \"%s\" is not supported (1.x is)", s->oci_version);
        goto out;
    }
    json_object *rootfs = spec_member(root, "root");
    if (!rootfs || !json_object_is_type(rootfs, json_type_object)) {
        r = fail(EINVAL, "root: missing or not an object");
        goto out;
    }
    if (!(v = spec_member(rootfs, "path"))) {
        r = fail(EINVAL, "root.path: missing");
        goto out;
    }
    if ((r = spec_get_str(v, "root.path", &s->root_path)) < 0)
        goto out;
    if (!s->root_path[0]) {
        r = fail(EINVAL, "root.path: empty");
        goto out;
    }
    if ((v = spec_member(rootfs, "readonly")) && (r = spec_get_bool(v, "root.readonly", &s->root_readonly)) < 0)
        goto out;
    if ((v = spec_member(root, "process"))) {
        s->has_process = true;
        if ((r = parse_process(v, &s->process)) < 0)
            goto out;
    }
    if ((v = spec_member(root, "hostname")) && (r = spec_get_str(v, "hostname", &s->hostname)) < 0)
        goto out;
    if ((v = spec_member(root, "domainname")) && (r = spec_get_str(v, "domainname", &s->domainname)) < 0)
        goto out;
    if ((s->hostname && strlen(s->hostname) > 64) || (s->domainname && strlen(s->domainname) > 64)) {
        r = fail(EINVAL, "%s: longer than 64 bytes", s->hostname && strlen(s->hostname) > 64
                 ? "hostname" : "domainname");
        goto out;
    }
    if ((v = spec_member(root, "mounts")) &&
        (r = spec_get_objects(v, "mounts", 1024, &s->nmounts, &s->mounts, sizeof(*s->mounts),
                              parse_mount, NULL)) < 0)
        goto out;
    if ((v = spec_member(root, "linux")) && (r = parse_linux(v, s)) < 0)
        goto out;
    if ((v = spec_member(root, "hooks")) && (r = hooks_parse(v, &s->hooks)) < 0)
        goto out;
    if ((v = spec_member(root, "annotations"))) {
        if (!json_object_is_type(v, json_type_object)) {
            r = spec_type_err("annotations", "an object");
            goto out;
        }
        json_object_object_foreach(v, key, val) {
            if (!json_object_is_type(val, json_type_string)) {
                r = fail(EINVAL, "annotations.%.200s: must be a string", key);
                goto out;
            }
        }
        s->annotations = json_object_get(v);
    }
    r = check_spec(s);
out:
    json_object_put(root);
    if (r < 0)
        oci_spec_free(s);   /* callers get nothing to free on failure */
    return r;
}

int spec_load_text(const char *bundle, struct oci_spec *out, uint8_t **text, size_t *len)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/config.json", bundle) >= (int)sizeof(path))
        return fail(ENAMETOOLONG, "bundle path too long");
    memset(out, 0, sizeof(*out));
    int r = read_file(path, OCI_CONFIG_MAX, text, len);
    if (r < 0)
        return r;
    r = oci_spec_parse((const char *)*text, *len, out);
    if (r < 0) {
        free(*text);
        *text = NULL;
        return fail(-r, "config.json: %s", err_msg());
    }
    return 0;
}

int oci_spec_load(const char *bundle, struct oci_spec *out)
{
    _cleanup_free_ uint8_t *data = NULL;
    size_t len;
    return spec_load_text(bundle, out, &data, &len);
}

const struct oci_namespace *oci_spec_ns(const struct oci_spec *s, int type)
{
    for (size_t i = 0; i < s->nns; i++)
        if (s->ns[i].type == type)
            return &s->ns[i];
    return NULL;
}

void oci_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

void oci_process_free(struct oci_process *p)
{
    oci_strv_free(p->args);
    oci_strv_free(p->env);
    free(p->cwd);
    free(p->gids);
    free(p->rlimits);
    memset(p, 0, sizeof(*p));
}

int oci_process_parse(const char *text, size_t len, struct oci_process *out)
{
    memset(out, 0, sizeof(*out));
    json_tokener *tok = json_tokener_new_ex(64);
    if (!tok)
        return fail(ENOMEM, "out of memory");
    json_object *o = len <= OCI_CONFIG_MAX ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    json_tokener_free(tok);
    int r = !o || jerr != json_tokener_success
        ? fail(EINVAL, "not valid JSON: %s", len > OCI_CONFIG_MAX ? "too large"
               : jerr == json_tokener_continue ? "unexpected end of input"
               : json_tokener_error_desc(jerr))
        : parse_process(o, out);
    json_object_put(o);
    if (r < 0)
        oci_process_free(out);
    return r;
}

void oci_spec_free(struct oci_spec *s)
{
    free(s->oci_version);
    free(s->root_path);
    free(s->hostname);
    free(s->domainname);
    oci_process_free(&s->process);
    for (size_t i = 0; s->mounts && i < s->nmounts; i++) {
        free(s->mounts[i].destination);
        free(s->mounts[i].type);
        free(s->mounts[i].source);
        free(s->mounts[i].data);
    }
    free(s->mounts);
    for (size_t i = 0; i < s->nns; i++)
        free(s->ns[i].path);
    free(s->uid_maps);
    free(s->gid_maps);
    for (size_t i = 0; s->devices && i < s->ndevices; i++)
        free(s->devices[i].path);
    free(s->devices);
    oci_strv_free(s->masked_paths);
    oci_strv_free(s->readonly_paths);
    oci_strv_free(s->sysctl_keys);
    oci_strv_free(s->sysctl_values);
    json_object_put(s->annotations);
    json_object_put(s->seccomp);
    free(s->cgroups_path);
    if (s->resources)
        oci_resources_free(s->resources);
    free(s->resources);
    hooks_free(&s->hooks);
    memset(s, 0, sizeof(*s));
}
