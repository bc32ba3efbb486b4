/* `corral ct ...` and `corral image ...`: containers and their images. */
#include "cli/cli.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V "/api/v1"

static const char *const ct_cols[] = { "name", "state", "image", "pid", "memory_mib", "cpus", "pids", "description",
                                       NULL };
static const char *const image_cols[] = { "name", "type", "config", NULL };

static void ct_path(char *p, size_t len, const char *name, const char *verb)
{
    snprintf(p, len, V "/containers/%s%s%s", name, verb ? "/" : "", verb ? verb : "");
}

/* --memory-mib/--cpus/--pids as numbers (the server checks them). */
static void add_int(struct json_object *b, const struct args *a, const char *opt, const char *key)
{
    const char *v = arg_opt(a, opt);
    if (!v)
        return;
    char *end;
    long long n = strtoll(v, &end, 10);
    json_object_object_add(b, key, *end || !*v ? json_object_new_string(v) : json_object_new_int64(n));
}

static void add_limits(struct json_object *b, const struct args *a)
{
    cli_add_str(b, "description", arg_opt(a, "description"));
    add_int(b, a, "memory-mib", "memory_mib");
    add_int(b, a, "cpus", "cpus");
    add_int(b, a, "pids", "pids");
}

/* The positionals after "--" as a JSON array, or NULL if there are none. */
static struct json_object *command_of(const struct args *a)
{
    if (a->dashdash < 0 || a->dashdash >= a->npos)
        return NULL;
    struct json_object *cmd = json_object_new_array();
    for (int i = a->dashdash; i < a->npos; i++)
        json_object_array_add(cmd, json_object_new_string(a->pos[i]));
    return cmd;
}

static int ct_list(struct cli *c, const struct args *a) { (void)a; return cli_get(c, V "/containers", ct_cols); }

static int ct_show(struct cli *c, const struct args *a)
{
    char p[256];
    ct_path(p, sizeof(p), a->pos[0], NULL);
    return cli_get(c, p, NULL);
}

static int ct_create(struct cli *c, const struct args *a)
{
    if (a->dashdash == 0 || (a->dashdash < 0 && a->npos > 1) || !arg_opt(a, "image")) {
        fprintf(stderr, "corral: ct create NAME --image IMAGE [options] [-- COMMAND ARGS...]\n");
        return EXIT_USAGE;
    }
    struct json_object *b = json_object_new_object(), *cmd = command_of(a);
    cli_add_str(b, "name", a->pos[0]);
    cli_add_str(b, "image", arg_opt(a, "image"));
    cli_add_str(b, "network", arg_opt(a, "net"));
    if (cmd)
        json_object_object_add(b, "cmd", cmd);
    if (arg_opt(a, "env")) {    /* K=V,K2=V2 */
        struct json_object *env = json_object_new_array();
        for (const char *p = arg_opt(a, "env"); *p;) {
            size_t n = strcspn(p, ",");
            if (n)
                json_object_array_add(env, json_object_new_string_len(p, (int)n));
            p += n + (p[n] == ',');
        }
        json_object_object_add(b, "env", env);
    }
    add_limits(b, a);
    return cli_change(c, a, "POST", V "/containers", b, false);
}

static int ct_set(struct cli *c, const struct args *a)
{
    char p[256];
    ct_path(p, sizeof(p), a->pos[0], NULL);
    struct json_object *b = json_object_new_object();
    add_limits(b, a);
    return cli_change(c, a, "PATCH", p, b, false);
}

static int ct_delete(struct cli *c, const struct args *a)
{
    char p[256];
    ct_path(p, sizeof(p), a->pos[0], NULL);
    return cli_change(c, a, "DELETE", p, NULL, true);
}

static int ct_action(struct cli *c, const struct args *a, const char *verb)
{
    char p[256];
    ct_path(p, sizeof(p), a->pos[0], verb);
    struct json_object *b = NULL;
    if (arg_opt(a, "timeout")) {
        b = json_object_new_object();
        add_int(b, a, "timeout", "timeout");
    }
    int r = cli_change(c, a, "POST", p, b, true);
    if (r == 0 && !arg_opt(a, "no-wait") && !c->json)
        printf("ct %s: %s done\n", a->pos[0], verb);
    return r;
}

static int ct_start(struct cli *c, const struct args *a) { return ct_action(c, a, "start"); }
static int ct_stop(struct cli *c, const struct args *a) { return ct_action(c, a, "stop"); }
static int ct_kill(struct cli *c, const struct args *a) { return ct_action(c, a, "kill"); }
static int ct_pause(struct cli *c, const struct args *a) { return ct_action(c, a, "pause"); }
static int ct_resume(struct cli *c, const struct args *a) { return ct_action(c, a, "resume"); }

/* Prints the command's output and exits with its exit code (like the
 * command itself); the CLI's own codes only when the request fails. */
static int ct_exec(struct cli *c, const struct args *a)
{
    struct json_object *cmd = command_of(a);
    if (!cmd || a->dashdash != 1) {
        json_object_put(cmd);
        fprintf(stderr, "corral: ct exec NAME [--timeout SECONDS] -- COMMAND ARGS...\n");
        return EXIT_USAGE;
    }
    char p[256];
    ct_path(p, sizeof(p), a->pos[0], "exec");
    struct json_object *b = json_object_new_object(), *m = NULL;
    json_object_object_add(b, "cmd", cmd);
    add_int(b, a, "timeout", "timeout");
    int r = cli_call(c, "POST", p, b, false, &m);
    json_object_put(b);
    if (r)
        return r;
    if (c->json) {
        out_object(c, m);
    } else {
        const char *o = json_object_get_string(json_object_object_get(m, "output"));
        fputs(o ? o : "", stdout);
    }
    r = json_object_get_int(json_object_object_get(m, "exit_code"));
    json_object_put(m);
    return r;
}

static int ct_console(struct cli *c, const struct args *a)
{
    char p[256];
    ct_path(p, sizeof(p), a->pos[0], "console");
    return cli_console(c, p);
}

static int image_list(struct cli *c, const struct args *a) { (void)a; return cli_get(c, V "/images", image_cols); }

static int image_show(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/images/%s", a->pos[0]);
    return cli_get(c, p, NULL);
}

/* A path on corrald's host: relative ones are made absolute here. */
static int host_path(const char *opt, const char *in, struct json_object *body, const char *key)
{
    char path[4096];
    if (!in)
        return 0;
    if (in[0] == '/')
        snprintf(path, sizeof(path), "%s", in);
    else if (!realpath(in, path)) {
        fprintf(stderr, "corral: %s%s: no such file or directory\n", opt, in);
        return EXIT_USAGE;
    }
    cli_add_str(body, key, path);
    return 0;
}

static int image_import(struct cli *c, const struct args *a)
{
    bool vm = arg_opt(a, "kernel") != NULL;
    if (vm == (a->npos == 2) || (!vm && (arg_opt(a, "initrd") || arg_opt(a, "cmdline")))) {
        fprintf(stderr, "corral: image import NAME PATH (a container image) or NAME --kernel FILE [--initrd FILE] "
                "[--cmdline TEXT] (a VM boot image)\n");
        return EXIT_USAGE;
    }
    struct json_object *b = json_object_new_object();
    cli_add_str(b, "name", a->pos[0]);
    int r;
    if (vm) {
        cli_add_str(b, "type", "vm");
        cli_add_str(b, "cmdline", arg_opt(a, "cmdline"));
        if (!(r = host_path("--kernel ", arg_opt(a, "kernel"), b, "kernel")))
            r = host_path("--initrd ", arg_opt(a, "initrd"), b, "initrd");
    } else {
        r = host_path("", a->pos[1], b, "path");
    }
    if (r) {
        json_object_put(b);
        return r;
    }
    r = cli_change(c, a, "POST", V "/images", b, true);
    if (r == 0 && !arg_opt(a, "no-wait") && !c->json)
        printf("image %s imported\n", a->pos[0]);
    return r;
}

static int image_delete(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/images/%s", a->pos[0]);
    return cli_change(c, a, "DELETE", p, NULL, true);
}

#define NW "no-wait"
#define LIMITS "[--memory-mib N] [--cpus N] [--pids N] [--description TEXT]"
const struct verb ct_verbs[] = {
    { "list", "", "list containers", 0, 0, "", "", ct_list },
    { "show", "NAME", "show a container: configuration, limits, state, pid", 1, 1, "", "", ct_show },
    { "create", "NAME --image IMAGE [--env K=V,...] [--net NETWORK] " LIMITS " [-- COMMAND ARGS...]",
      "create a container from an image (stopped); the command replaces the image's", 1, ARGS_MAX,
      "image,env,net,memory-mib,cpus,pids,description", "", ct_create },
    { "set", "NAME " LIMITS, "change limits (applied at once to a running container) or the description", 1, 1,
      "memory-mib,cpus,pids,description", "", ct_set },
    { "delete", "NAME", "delete a stopped container and its writable layer", 1, 1, "", "", ct_delete },
    { "start", "NAME [--no-wait]", "start a container", 1, 1, "", NW, ct_start },
    { "stop", "NAME [--timeout SECONDS] [--no-wait]", "SIGTERM, then SIGKILL after the timeout (default 10)", 1, 1,
      "timeout", NW, ct_stop },
    { "kill", "NAME [--no-wait]", "SIGKILL a container", 1, 1, "", NW, ct_kill },
    { "pause", "NAME [--no-wait]", "freeze every process of a running container", 1, 1, "", NW, ct_pause },
    { "resume", "NAME [--no-wait]", "thaw a paused container", 1, 1, "", NW, ct_resume },
    { "exec", "NAME [--timeout SECONDS] -- COMMAND ARGS...",
      "run a command in a running container; prints its output, exits with its code", 2, ARGS_MAX, "timeout", "",
      ct_exec },
    { "console", "NAME", "attach to the container's terminal (Ctrl-] quits)", 1, 1, "", "", ct_console },
    { 0 } };
const struct verb image_verbs[] = {
    { "list", "", "list images", 0, 0, "", "", image_list },
    { "show", "NAME", "show an image: a container image's config digest and layers, a VM image's files", 1, 1, "",
      "", image_show },
    { "import", "NAME PATH | NAME --kernel FILE [--initrd FILE] [--cmdline TEXT] [--no-wait]",
      "import a container image (an OCI layout, dir or tar, or a docker-archive) or a VM boot image (copies "
      "of the files) from corrald's host, under a directory it allows (--host-path-allow)", 1, 2,
      "kernel,initrd,cmdline", NW, image_import },
    { "delete", "NAME", "delete an image no container or VM uses", 1, 1, "", "", image_delete },
    { 0 } };
