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
    static const char *const none[] = { NULL };
    json_object *o = json_object_new_object(), *lx = json_object_new_object();
    json_object_object_add(o, "ociVersionMin", json_object_new_string("1.0.0"));
    json_object_object_add(o, "ociVersionMax", json_object_new_string(OCI_VERSION));
    json_object_object_add(o, "hooks", strarr(none));        /* not yet */
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
    json_object_object_add(cg, "v1", json_object_new_boolean(false));
    json_object_object_add(cg, "v2", json_object_new_boolean(false));
    json_object_object_add(cg, "systemd", json_object_new_boolean(false));
    json_object_object_add(lx, "cgroup", cg);
    json_object *sc = json_object_new_object();
    json_object_object_add(sc, "enabled", json_object_new_boolean(false));
    json_object_object_add(lx, "seccomp", sc);
    json_object_object_add(o, "linux", lx);
    return print_json(o);
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
        case 'v': printf("corral-oci version 0.1.0\nspec: %s\n", OCI_VERSION); return 0;
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
    static const char *const later[] = { "exec", "ps", "pause", "resume", "update", "events",
                                         "checkpoint", "restore" };
    for (size_t i = 0; i < ARRAY_SIZE(later); i++)
        if (strcmp(cmd, later[i]) == 0)
            return usage_error("%s: not implemented yet", cmd);
    return usage_error("unknown command \"%s\"", cmd);
}
