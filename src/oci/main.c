/* corral-oci: runc's command line over the oci library (src/oci/oci.h).
 * Global options come before the command, command options after it, as
 * podman and other engines pass them to runc. */
#include "oci/cli_ext.h"
#include "oci/oci.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <time.h>

#define CORRAL_OCI_VERSION "0.1.0"

static struct {
    const char *log_file;
    bool log_json;
    bool debug;
} g;

/* One error line on stderr, and in --log (text or JSON) if given. */
static void report(const char *level, const char *msg)
{
    fprintf(stderr, "corral-oci: %s%s%s\n", strcmp(level, "error") == 0 ? "" : level,
            strcmp(level, "error") == 0 ? "" : ": ", msg);
    if (!g.log_file)
        return;
    int fd = open(g.log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    char when[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    if (g.log_json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "level", json_object_new_string(level));
        json_object_object_add(o, "msg", json_object_new_string(msg));
        json_object_object_add(o, "time", json_object_new_string(when));
        dprintf(fd, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
    } else {
        dprintf(fd, "time=\"%s\" level=%s msg=\"%s\"\n", when, level, msg);
    }
    close(fd);
}

static int error(int r)
{
    report("error", err_msg());
    return r < 0 ? 1 : r;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    report("error", msg);
    return 1;
}

/* getopt_long with our own one-line messages; returns -2 on a bad option. */
static int next_opt(int argc, char **argv, const char *shorts, const struct option *longs)
{
    opterr = 0;
    int c = getopt_long(argc, argv, shorts, longs, NULL);
    if (c == '?') {
        if (optopt)
            usage_error("unknown option -%c (or it needs a value)", optopt);
        else
            usage_error("unknown option %s (or it needs a value)", argv[optind - 1]);
        return -2;
    }
    return c;
}

/* The one ID argument every container command takes. */
static const char *one_id(int argc, char **argv, const char *cmd)
{
    if (optind >= argc) {
        usage_error("%s: missing container id", cmd);
        return NULL;
    }
    if (optind + 1 < argc) {
        usage_error("%s: unexpected argument \"%s\"", cmd, argv[optind + 1]);
        return NULL;
    }
    return argv[optind];
}

static int print_json(json_object *o)
{
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                        JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return 0;
}

/* create and run share their options. */
static int cmd_create_run(const struct oci_ctx *ctx, int argc, char **argv, bool run)
{
    static const struct option longs[] = {
        { "bundle", required_argument, NULL, 'b' },
        { "console-socket", required_argument, NULL, 'c' },
        { "pid-file", required_argument, NULL, 'p' },
        { "detach", no_argument, NULL, 'd' },
        { "no-pivot", no_argument, NULL, 'P' },
        { "no-new-keyring", no_argument, NULL, 'K' },
        { "no-subreaper", no_argument, NULL, 'S' },
        { "keep", no_argument, NULL, 'k' },
        { "preserve-fds", required_argument, NULL, 'f' },
        { 0 },
    };
    struct oci_create_opts o = { .bundle = "." };
    bool detach = false;
    for (int c; (c = next_opt(argc, argv, run ? "b:d" : "b:", longs)) != -1;) {
        switch (c) {
        case 'b': o.bundle = optarg; break;
        case 'c': o.console_socket = optarg; break;
        case 'p': o.pid_file = optarg; break;
        case 'd':
            if (!run)
                return usage_error("unknown option --detach");
            detach = true;
            break;
        case 'P': case 'K': case 'S': break;   /* accepted, nothing to change */
        case 'k': return usage_error("--keep is not supported yet");
        case 'f':
            if (strcmp(optarg, "0") != 0)
                return usage_error("--preserve-fds is not supported yet");
            break;
        default: return 1;
        }
    }
    const char *id = one_id(argc, argv, run ? "run" : "create");
    if (!id)
        return 1;
    if (!run) {
        int r = oci_create(ctx, id, &o);
        return r < 0 ? error(r) : 0;
    }
    int status = 0;
    int r = oci_run(ctx, id, &o, detach, &status);
    return r < 0 ? error(r) : status;
}

static int cmd_simple(const struct oci_ctx *ctx, int argc, char **argv, const char *cmd)
{
    static const struct option longs[] = {
        { "force", no_argument, NULL, 'f' },
        { "all", no_argument, NULL, 'a' },
        { 0 },
    };
    bool is_delete = strcmp(cmd, "delete") == 0, is_kill = strcmp(cmd, "kill") == 0;
    bool force = false, all = false;
    for (int c; (c = next_opt(argc, argv, is_delete ? "f" : is_kill ? "a" : "", longs)) != -1;) {
        if (c == 'f' && is_delete)
            force = true;
        else if (c == 'a' && is_kill)
            all = true;
        else
            return c == -2 ? 1 : usage_error("%s: unknown option %s", cmd, argv[optind - 1]);
    }
    int sig = SIGTERM;
    if (is_kill && optind + 2 == argc) {
        if ((sig = oci_signal_parse(argv[argc - 1])) < 0)
            return usage_error("kill: unknown signal \"%s\"", argv[argc - 1]);
        argc--;
    }
    const char *id = one_id(argc, argv, cmd);
    if (!id)
        return 1;
    int r;
    if (strcmp(cmd, "start") == 0) {
        r = oci_start(ctx, id);
    } else if (is_kill) {
        r = oci_kill(ctx, id, sig, all);
    } else if (is_delete) {
        r = oci_delete(ctx, id, force);
    } else {
        struct oci_state st;
        if ((r = oci_state(ctx, id, &st)) == 0) {
            print_json(oci_state_json(&st));
            oci_state_free(&st);
        }
    }
    return r < 0 ? error(r) : 0;
}

static int cmd_list(const struct oci_ctx *ctx, int argc, char **argv)
{
    static const struct option longs[] = {
        { "format", required_argument, NULL, 'f' },
        { "quiet", no_argument, NULL, 'q' },
        { 0 },
    };
    bool json = false, quiet = false;
    for (int c; (c = next_opt(argc, argv, "f:q", longs)) != -1;) {
        if (c == 'f' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "table") == 0))
            json = strcmp(optarg, "json") == 0;
        else if (c == 'f')
            return usage_error("list: invalid format \"%s\" (table or json)", optarg);
        else if (c == 'q')
            quiet = true;
        else
            return 1;
    }
    if (optind < argc)
        return usage_error("list: unexpected argument \"%s\"", argv[optind]);
    char **ids;
    int r = oci_list(ctx, &ids);
    if (r < 0)
        return error(r);
    json_object *arr = json_object_new_array();
    if (!json && !quiet)
        printf("%-20s %-8s %-10s %-40s %-30s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED",
               "OWNER");
    for (size_t i = 0; ids[i]; i++) {
        struct oci_state st;
        if (oci_state(ctx, ids[i], &st) < 0)
            continue;   /* deleted meanwhile, or still being created */
        if (json)
            json_object_array_add(arr, oci_state_json(&st));
        else if (quiet)
            printf("%s\n", st.id);
        else
            printf("%-20s %-8d %-10s %-40s %-30s %s\n", st.id,
                   st.status == OCI_STOPPED ? 0 : (int)st.pid, oci_status_name(st.status),
                   st.bundle ? st.bundle : "", st.created ? st.created : "", "root");
        oci_state_free(&st);
    }
    oci_strv_free(ids);
    if (json)
        print_json(arr);
    else
        json_object_put(arr);
    return 0;
}

static int cmd_spec(int argc, char **argv)
{
    static const struct option longs[] = {
        { "bundle", required_argument, NULL, 'b' },
        { "rootless", no_argument, NULL, 'r' },
        { 0 },
    };
    const char *bundle = ".";
    for (int c; (c = next_opt(argc, argv, "b:", longs)) != -1;) {
        if (c == 'b')
            bundle = optarg;
        else if (c == 'r')
            return usage_error("spec --rootless is not supported yet");
        else
            return 1;
    }
    if (optind < argc)
        return usage_error("spec: unexpected argument \"%s\"", argv[optind]);
    char path[4096];
    snprintf(path, sizeof(path), "%s/config.json", bundle);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return usage_error("%s: %s", path, errno == EEXIST ? "exists already; remove it first"
                                                           : strerror(errno));
    json_object *o = oci_spec_default();
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE);
    int r = write_all(fd, text, strlen(text));
    if (r == 0)
        r = write_all(fd, "\n", 1);
    close(fd);
    json_object_put(o);
    return r < 0 ? usage_error("%s: %s", path, strerror(-r)) : 0;
}

static json_object *strarr(const char *const *v)
{
    json_object *a = json_object_new_array();
    for (; *v; v++)
        json_object_array_add(a, json_object_new_string(*v));
    return a;
}

static int cmd_features(void)
{
    static const char *const ns[] = { "cgroup", "ipc", "mount", "network", "pid", "user", "uts",
                                      "time", NULL };
    static const char *const opts[] = {
        "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "iversion",
        "lazytime", "loud", "mand", "noatime", "nodev", "nodiratime", "noexec", "noiversion",
        "nolazytime", "nomand", "norelatime", "nostrictatime", "nosuid", "private", "rbind",
        "relatime", "rprivate", "rshared", "rslave", "runbindable", "ro", "rw", "shared",
        "silent", "slave", "strictatime", "suid", "sync", "unbindable", NULL };
    json_object *o = json_object_new_object(), *lx = json_object_new_object();
    json_object_object_add(o, "ociVersionMin", json_object_new_string("1.0.0"));
    json_object_object_add(o, "ociVersionMax", json_object_new_string(OCI_VERSION));
    static const char *const hooks[] = { "prestart", "createRuntime", "createContainer",
                                         "startContainer", "poststart", "poststop", NULL };
    json_object_object_add(o, "hooks", strarr(hooks));
    json_object_object_add(o, "mountOptions", strarr(opts));
    json_object_object_add(lx, "namespaces", strarr(ns));
    json_object *caps = json_object_new_array();
    for (int c = 0; c <= CAP_LAST_CAP; c++) {
        char *name = cap_to_name(c);
        if (name) {
            for (char *p = name; *p; p++)
                *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
            json_object_array_add(caps, json_object_new_string(name));
            cap_free(name);
        }
    }
    json_object_object_add(lx, "capabilities", caps);
    json_object *cg = json_object_new_object();
    json_object_object_add(cg, "v1", json_object_new_boolean(true));
    json_object_object_add(cg, "v2", json_object_new_boolean(true));
    json_object_object_add(cg, "systemd", json_object_new_boolean(false));
    json_object_object_add(lx, "cgroup", cg);
    json_object *sc = json_object_new_object();
    static const char *const actions[] = { "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                                           "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                                           "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP",
                                           NULL };
    json_object_object_add(sc, "enabled", json_object_new_boolean(true));
    json_object_object_add(sc, "actions", strarr(actions));
    json_object_object_add(lx, "seccomp", sc);
    json_object_object_add(o, "linux", lx);
    /* What corral-oci does beyond runc's CLI, for tools that probe it. */
    static const char *const ann[][2] = {
        { "org.corral.oci.version", CORRAL_OCI_VERSION },
        { "org.corral.oci.image", "import,list,rm,bundle,unbundle" },
        { "org.corral.oci.image.formats", "oci-layout,oci-archive,docker-archive" },
        { "org.corral.oci.image.rootfs", "overlay" },
        { "org.corral.oci.net", "attach,detach,rm-bridge" },
        { "org.corral.oci.net.link", "veth,bridge" },
        { "org.corral.oci.net.families", "ipv4,ipv6" },
        { "org.corral.oci.terminal", "console-socket,relay" },
        { "org.corral.oci.cgroup.devices", "v1,bpf" },
    };
    json_object *an = json_object_new_object();
    for (size_t i = 0; i < ARRAY_SIZE(ann); i++)
        json_object_object_add(an, ann[i][0], json_object_new_string(ann[i][1]));
    json_object_object_add(o, "annotations", an);
    return print_json(o);
}

/* ---- exec, ps, pause, resume, update ---- */

/* A NULL-terminated vector grown one entry at a time (argv strings, not copied). */
static int strv_push(char ***v, size_t *n, char *s)
{
    char **nv = realloc(*v, (*n + 2) * sizeof(char *));
    if (!nv)
        return usage_error("out of memory");
    nv[(*n)++] = s;
    nv[*n] = NULL;
    *v = nv;
    return 0;
}

static int cmd_exec(const struct oci_ctx *ctx, int argc, char **argv)
{
    static const struct option longs[] = {
        { "process", required_argument, NULL, 'p' }, { "tty", no_argument, NULL, 't' },
        { "env", required_argument, NULL, 'e' },     { "cwd", required_argument, NULL, 'w' },
        { "user", required_argument, NULL, 'u' },    { "detach", no_argument, NULL, 'd' },
        { "pid-file", required_argument, NULL, 'P' },
        { "console-socket", required_argument, NULL, 'c' },
        { "cap", required_argument, NULL, 'C' },
        { "no-new-privs", no_argument, NULL, 'N' },
        { "process-label", required_argument, NULL, 'L' },
        { "apparmor", required_argument, NULL, 'A' },
        { "preserve-fds", required_argument, NULL, 'f' },
        { "additional-gids", required_argument, NULL, 'g' },
        { "ignore-paused", no_argument, NULL, 'I' },
        { 0 },
    };
    struct oci_exec_opts o = { .no_new_privs = -1 };
    size_t nenv = 0, ncaps = 0;
    int r = 0;
    /* "+": options stop at the container id; the command's own follow it. */
    for (int c; r == 0 && (c = next_opt(argc, argv, "+p:te:u:d", longs)) != -1;) {
        uint64_t uid, gid;
        char *colon;
        switch (c) {
        case 'p': o.process_json = optarg; break;
        case 't': o.tty = true; break;
        case 'e': r = strv_push(&o.env, &nenv, optarg); break;
        case 'w': o.cwd = optarg; break;
        case 'u':
            colon = strchr(optarg, ':');
            if (colon)
                *colon = 0;
            if (parse_uint(optarg, 0, UINT32_MAX, &uid) < 0 ||
                (colon && parse_uint(colon + 1, 0, UINT32_MAX, &gid) < 0))
                r = usage_error("exec --user: \"%s\" is not UID[:GID]", optarg);
            o.has_user = true;
            o.uid = (uint32_t)uid;
            o.gid = colon ? (uint32_t)gid : 0;
            break;
        case 'd': o.detach = true; break;
        case 'P': o.pid_file = optarg; break;
        case 'c': o.console_socket = optarg; break;
        case 'C': r = strv_push(&o.caps, &ncaps, optarg); break;
        case 'N': o.no_new_privs = 1; break;
        case 'L': case 'A': case 'I': break;   /* no SELinux/AppArmor here */
        case 'f':
            if (strcmp(optarg, "0") != 0)
                r = usage_error("--preserve-fds is not supported yet");
            break;
        case 'g': r = usage_error("--additional-gids is not supported yet"); break;
        default: r = 1; break;
        }
    }
    if (r == 0 && optind >= argc)
        r = usage_error("exec: missing container id");
    if (r == 0 && !o.process_json && optind + 1 >= argc)
        r = usage_error("exec: missing the command to run (or -p process.json)");
    if (r == 0 && o.process_json && optind + 1 < argc)
        r = usage_error("exec: a command and -p cannot both be given");
    int status = 0;
    if (r == 0) {
        o.args = argv + optind + 1;
        r = oci_exec(ctx, argv[optind], &o, &status);
        r = r < 0 ? error(r) : status;
    }
    free(o.env);
    free(o.caps);
    return r;
}

static int ps_filtered(int argc, char **argv, const pid_t *pids, size_t n);

static int cmd_ps(const struct oci_ctx *ctx, int argc, char **argv)
{
    static const struct option longs[] = { { "format", required_argument, NULL, 'f' }, { 0 } };
    bool json = false;
    for (int c; (c = next_opt(argc, argv, "+f:", longs)) != -1;) {
        if (c == 'f' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "table") == 0))
            json = strcmp(optarg, "json") == 0;
        else if (c == 'f')
            return usage_error("ps: invalid format \"%s\" (table or json)", optarg);
        else
            return 1;
    }
    if (optind >= argc)
        return usage_error("ps: missing container id");
    if (json && optind + 1 < argc)
        return usage_error("ps: ps options cannot be used with --format json");
    pid_t *pids;
    size_t n;
    int r = oci_pids(ctx, argv[optind], &pids, &n);
    if (r < 0)
        return error(r);
    if (json) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < n; i++)
            json_object_array_add(a, json_object_new_int(pids[i]));
        free(pids);
        return print_json(a);
    }
    r = ps_filtered(argc - optind - 1, argv + optind + 1, pids, n);
    free(pids);
    return r;
}

/* Runs ps (with ARGS, default -ef) and prints its header and the lines whose
 * PID column is one of pids, as runc does. */
static int ps_filtered(int argc, char **argv, const pid_t *pids, size_t n)
{
    char cmd[4096] = "ps";
    size_t len = 2;
    if (argc == 0)
        len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, " -ef");
    for (int i = 0; i < argc && len < sizeof(cmd); i++) {
        /* Quoted for the shell popen() uses. */
        len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, " '");
        for (const char *p = argv[i]; *p && len < sizeof(cmd) - 8; p++)
            len += (size_t)(*p == '\'' ? snprintf(cmd + len, sizeof(cmd) - len, "'\\''")
                                       : snprintf(cmd + len, sizeof(cmd) - len, "%c", *p));
        len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, "'");
    }
    if (len >= sizeof(cmd))
        return usage_error("ps: arguments too long");
    FILE *f = popen(cmd, "re");
    if (!f)
        return usage_error("ps: %s", strerror(errno));
    char line[8192];
    int col = -1;
    while (fgets(line, sizeof(line), f)) {
        char copy[8192], *save, *tok;
        snprintf(copy, sizeof(copy), "%s", line);
        tok = strtok_r(copy, " \t\n", &save);
        if (col < 0) {
            for (int i = 0; tok; i++, tok = strtok_r(NULL, " \t\n", &save))
                if (strcmp(tok, "PID") == 0)
                    col = i;
            if (col < 0) {
                pclose(f);
                return usage_error("ps: no PID column in the output of \"%s\"", cmd);
            }
            fputs(line, stdout);
            continue;
        }
        for (int i = 0; tok && i < col; i++)
            tok = strtok_r(NULL, " \t\n", &save);
        for (size_t i = 0; tok && i < n; i++)
            if (atoi(tok) == pids[i]) {
                fputs(line, stdout);
                break;
            }
    }
    int st = pclose(f);
    return st == 0 ? 0 : usage_error("ps: \"%s\" failed", cmd);
}

static int cmd_pause_resume(const struct oci_ctx *ctx, int argc, char **argv, bool pause)
{
    static const struct option longs[] = { { 0 } };
    if (next_opt(argc, argv, "", longs) != -1)
        return 1;
    const char *id = one_id(argc, argv, pause ? "pause" : "resume");
    if (!id)
        return 1;
    int r = pause ? oci_pause(ctx, id) : oci_resume(ctx, id);
    return r < 0 ? error(r) : 0;
}

/* update's flags, each into its field of *res; sizes take k/m/g suffixes. */
static int update_flag(int c, const char *arg, struct oci_resources *res)
{
    static const struct { int c; const char *name; bool size; } flags[] = {
        { 'm', "memory", true }, { 'R', "memory-reservation", true },
        { 's', "memory-swap", true }, { 'k', "kernel-memory", true },
        { 'T', "kernel-memory-tcp", true }, { 'S', "cpu-shares", false },
        { 'q', "cpu-quota", false }, { 'p', "cpu-period", false },
        { 'a', "cpu-rt-period", false }, { 'b', "cpu-rt-runtime", false },
        { 'P', "pids-limit", false }, { 'w', "blkio-weight", false },
    };
    int64_t *dst[] = { &res->mem_limit, &res->mem_reservation, &res->mem_swap,
                       &res->mem_kernel, &res->mem_kernel_tcp, &res->cpu_shares,
                       &res->cpu_quota, &res->cpu_period, &res->cpu_rt_period,
                       &res->cpu_rt_runtime, &res->pids_limit, &res->blkio_weight };
    if (c == 'c' || c == 'M') {
        char **out = c == 'c' ? &res->cpus : &res->mems;
        free(*out);
        if (!(*out = strdup(arg)))
            return usage_error("out of memory");
        if (arg[strspn(arg, "0123456789,-")])
            return usage_error("update --cpuset-%s: \"%s\" is not a list like \"0-3,7\"",
                               c == 'c' ? "cpus" : "mems", arg);
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
        if (flags[i].c != c)
            continue;
        uint64_t v;
        bool neg = strcmp(arg, "-1") == 0;
        if (!neg && (flags[i].size ? parse_size(arg, &v) : parse_uint(arg, 0, INT64_MAX, &v)) < 0)
            return usage_error("update --%s: \"%s\" is not a%s number", flags[i].name, arg,
                               flags[i].size ? " size or -1" : "n unsigned");
        if (!neg && v > INT64_MAX)
            return usage_error("update --%s: %s is too large", flags[i].name, arg);
        *dst[i] = neg ? -1 : (int64_t)v;
        return 0;
    }
    return 1;
}

static int cmd_update(const struct oci_ctx *ctx, int argc, char **argv)
{
    static const struct option longs[] = {
        { "resources", required_argument, NULL, 'r' },
        { "memory", required_argument, NULL, 'm' },
        { "memory-reservation", required_argument, NULL, 'R' },
        { "memory-swap", required_argument, NULL, 's' },
        { "kernel-memory", required_argument, NULL, 'k' },
        { "kernel-memory-tcp", required_argument, NULL, 'T' },
        { "cpu-shares", required_argument, NULL, 'S' },
        { "cpu-quota", required_argument, NULL, 'q' },
        { "cpu-period", required_argument, NULL, 'p' },
        { "cpu-rt-period", required_argument, NULL, 'a' },
        { "cpu-rt-runtime", required_argument, NULL, 'b' },
        { "cpuset-cpus", required_argument, NULL, 'c' },
        { "cpuset-mems", required_argument, NULL, 'M' },
        { "pids-limit", required_argument, NULL, 'P' },
        { "blkio-weight", required_argument, NULL, 'w' },
        { 0 },
    };
    struct oci_resources res;
    const char *file = NULL;
    bool flags = false;
    int r = 0;
    oci_resources_init(&res);
    for (int c; r == 0 && (c = next_opt(argc, argv, "r:", longs)) != -1;) {
        if (c == 'r')
            file = optarg;
        else if (c == -2 || (r = update_flag(c, optarg, &res)) != 0)
            r = 1;
        flags = true;
    }
    const char *id = r == 0 ? one_id(argc, argv, "update") : NULL;
    if (r == 0 && id && !flags)
        r = usage_error("update: nothing to change (give -r FILE or a resource flag)");
    if (r == 0 && id && file) {
        /* -r replaces the flags, as with runc; "-" reads stdin. */
        uint8_t *data = NULL;
        size_t len = 0;
        int rr = read_file(strcmp(file, "-") == 0 ? "/dev/stdin" : file, OCI_CONFIG_MAX,
                           &data, &len);
        json_object *o = NULL;
        if (rr == 0 && !(o = json_tokener_parse((const char *)data)))
            rr = fail(EINVAL, "%s: not valid JSON", file);
        oci_resources_free(&res);
        if (rr == 0)
            rr = oci_resources_parse(o, file, &res);
        json_object_put(o);
        free(data);
        if (rr < 0)
            r = error(rr);
    }
    if (r == 0 && id) {
        int rr = oci_update(ctx, id, &res, file ? file : "update");
        r = rr < 0 ? error(rr) : 0;
    } else if (!id && r == 0) {
        r = 1;
    }
    oci_resources_free(&res);
    return r;
}

static void usage(void)
{
    printf("usage: corral-oci [--root DIR] [--log FILE] [--log-format text|json] [--debug]\n"
           "                  COMMAND [OPTIONS] [ID]\n"
           "commands (as runc's):\n"
           "  create [-b BUNDLE] [--console-socket PATH] [--pid-file PATH] ID\n"
           "  start ID            state ID            delete [-f] ID\n"
           "  kill [-a] ID [SIGNAL]   (default SIGTERM)\n"
           "  run [-b BUNDLE] [-d] [--console-socket PATH] [--pid-file PATH] ID\n"
           "  list [-f table|json] [-q]   spec [-b BUNDLE]   features\n"
           "  exec [-p PROCESS.json] [-t] [-d] [-e K=V] [--cwd DIR] [-u UID[:GID]]\n"
           "       [--pid-file PATH] [--console-socket PATH] [--cap CAP] ID [COMMAND ARGS]\n"
           "  ps [--format table|json] ID [PS-OPTIONS]   pause ID   resume ID\n"
           "  update [-r RESOURCES.json] [--memory N] [--memory-swap N] [--cpu-shares N]\n"
           "         [--cpu-quota N] [--cpu-period N] [--cpuset-cpus L] [--cpuset-mems L]\n"
           "         [--pids-limit N] [--blkio-weight N] ID\n\n"
           "corral extensions (see `corral-oci image --help`, `corral-oci net --help`):\n"
           "  image import|list|rm|bundle|unbundle    net attach|detach|rm-bridge\n");
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {
        { "root", required_argument, NULL, 'r' },
        { "log", required_argument, NULL, 'l' },
        { "log-format", required_argument, NULL, 'F' },
        { "debug", no_argument, NULL, 'D' },
        { "systemd-cgroup", no_argument, NULL, 'S' },
        { "rootless", required_argument, NULL, 'R' },
        { "criu", required_argument, NULL, 'C' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'v' },
        { 0 },
    };
    struct oci_ctx ctx = { .root = OCI_DEFAULT_ROOT };
    bool systemd = false;
    log_set_prefix("corral-oci");
    log_set_level(LOG_WARN);
    for (int c; (c = next_opt(argc, argv, "+hv", longs)) != -1;) {
        switch (c) {
        case 'r': ctx.root = optarg; break;
        case 'l': g.log_file = optarg; break;
        case 'F':
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0)
                return usage_error("--log-format: \"%s\" is not text or json", optarg);
            g.log_json = strcmp(optarg, "json") == 0;
            break;
        case 'D': g.debug = true; log_set_level(LOG_DEBUG); break;
        case 'S': systemd = true; break;
        case 'R':
            if (strcmp(optarg, "false") != 0 && strcmp(optarg, "auto") != 0)
                return usage_error("--rootless %s is not supported", optarg);
            break;
        case 'C': break;
        case 'h': usage(); return 0;
        case 'v': printf("corral-oci version %s\nspec: %s\n", CORRAL_OCI_VERSION, OCI_VERSION); return 0;
        default: return 1;
        }
    }
    if (optind >= argc) {
        usage();
        return 1;
    }
    if (ctx.root[0] != '/')
        return usage_error("--root must be an absolute path");
    const char *cmd = argv[optind];
    /* Command options: getopt restarts on the command's own argv. */
    argc -= optind;
    argv += optind;
    optind = 1;
    bool creates = strcmp(cmd, "create") == 0 || strcmp(cmd, "run") == 0;
    if (systemd && creates)
        report("warning", "--systemd-cgroup is not supported: cgroups are managed directly");
    if (creates)
        return cmd_create_run(&ctx, argc, argv, strcmp(cmd, "run") == 0);
    if (strcmp(cmd, "start") == 0 || strcmp(cmd, "state") == 0 || strcmp(cmd, "kill") == 0 ||
        strcmp(cmd, "delete") == 0)
        return cmd_simple(&ctx, argc, argv, cmd);
    if (strcmp(cmd, "list") == 0)
        return cmd_list(&ctx, argc, argv);
    if (strcmp(cmd, "spec") == 0)
        return cmd_spec(argc, argv);
    if (strcmp(cmd, "features") == 0)
        return argc > 1 ? usage_error("features: unexpected argument \"%s\"", argv[1])
                        : cmd_features();
    /* corral extensions (cli_ext.c) */
    if (strcmp(cmd, "image") == 0 || strcmp(cmd, "net") == 0) {
        int r = cmd[0] == 'i' ? cli_image(argc, argv) : cli_net(argc, argv);
        return r < 0 ? error(r) : 0;
    }
    if (strcmp(cmd, "help") == 0) {
        usage();
        return 0;
    }
    if (strcmp(cmd, "exec") == 0)
        return cmd_exec(&ctx, argc, argv);
    if (strcmp(cmd, "ps") == 0)
        return cmd_ps(&ctx, argc, argv);
    if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0)
        return cmd_pause_resume(&ctx, argc, argv, strcmp(cmd, "pause") == 0);
    if (strcmp(cmd, "update") == 0)
        return cmd_update(&ctx, argc, argv);
    static const char *const later[] = { "events", "checkpoint", "restore" };
    for (size_t i = 0; i < ARRAY_SIZE(later); i++)
        if (strcmp(cmd, later[i]) == 0)
            return usage_error("%s: not implemented yet", cmd);
    return usage_error("unknown command \"%s\"", cmd);
}
