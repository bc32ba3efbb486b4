/* corral: global options, then `NOUN VERB ARGS`, each level with --help. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void usage_top(FILE *f)
{
    fprintf(f,
        "usage: corral [--remote URL --token TOKEN [--ca-cert FILE | --insecure]] [--socket PATH]\n"
        "              [--output table|json] NOUN VERB [ARGS] [--help]\n"
        "Locally corral talks to corrald's Unix socket (root only; default /run/corral/corrald.sock,\n"
        "or $CORRAL_SOCKET); remotely over HTTPS with an API token ($CORRAL_REMOTE, $CORRAL_TOKEN).\n"
        "Exit codes: 0 ok, 1 the server refused or the operation failed, 2 usage, 3 cannot connect.\n\n"
        "nouns:\n");
    for (const struct noun *n = nouns; n->name; n++)
        fprintf(f, "  %-8s %s\n", n->name, n->help);
}

static void usage_noun(FILE *f, const struct noun *n)
{
    fprintf(f, "usage: corral %s VERB ...   (%s)\n", n->name, n->help);
    for (const struct verb *v = n->verbs; v->name; v++)
        fprintf(f, "  corral %s %s %s\n      %s\n", n->name, v->name, v->usage, v->help);
}

const char *arg_opt(const struct args *a, const char *key)
{
    for (int i = 0; i < a->nopt; i++)
        if (!strcmp(a->key[i], key))
            return a->val[i];
    return NULL;
}

/* Whether name is in a comma-separated list. */
static bool listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && !strncmp(p, name, n))
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

static int parse_args(const struct verb *v, int argc, char **argv, struct args *a)
{
    a->dashdash = -1;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (a->dashdash < 0 && !strcmp(s, "--")) {
            a->dashdash = a->npos;    /* the rest is a command line, taken as it is */
            continue;
        }
        if (a->dashdash >= 0 || strncmp(s, "--", 2) || !s[2]) {
            if (a->npos == ARGS_MAX)
                return -1;
            a->pos[a->npos++] = s;
            continue;
        }
        if (a->nopt == ARGS_MAX)
            return -1;
        if (listed(v->flags, s + 2)) {
            a->key[a->nopt] = s + 2;
            a->val[a->nopt++] = "";
        } else if (listed(v->opts, s + 2) && i + 1 < argc) {
            a->key[a->nopt] = s + 2;
            a->val[a->nopt++] = argv[++i];
        } else {
            fprintf(stderr, "corral: %s: unknown option or missing value\n", s);
            return -1;
        }
    }
    if (a->npos < v->min_pos || a->npos > v->max_pos) {
        fprintf(stderr, "corral: wrong number of arguments\n");
        return -1;
    }
    return 0;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    return false;
}

int main(int argc, char **argv)
{
    struct cli c = {
        .socket = getenv("CORRAL_SOCKET") ? getenv("CORRAL_SOCKET") : "/run/corral/corrald.sock",
        .remote = getenv("CORRAL_REMOTE"),
        .token = getenv("CORRAL_TOKEN"),
    };
    int i = 1;
    for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
        const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--help")) {
            usage_top(stdout);
            return EXIT_OK;
        } else if (!strcmp(o, "--insecure")) {
            c.insecure = true;
            continue;
        }
        if (!val) {
            fprintf(stderr, "corral: %s needs a value\n", o);
            return EXIT_USAGE;
        }
        i++;
        if (!strcmp(o, "--remote"))
            c.remote = val;
        else if (!strcmp(o, "--token"))
            c.token = val;
        else if (!strcmp(o, "--socket"))
            c.socket = val;
        else if (!strcmp(o, "--ca-cert"))
            c.ca_cert = val;
        else if (!strcmp(o, "--output") && (!strcmp(val, "json") || !strcmp(val, "table")))
            c.json = !strcmp(val, "json");
        else {
            fprintf(stderr, "corral: unknown option %s %s\n", o, val);
            usage_top(stderr);
            return EXIT_USAGE;
        }
    }
    if (c.remote && strncmp(c.remote, "https://", 8)) {
        fprintf(stderr, "corral: --remote must be an https:// URL\n");
        return EXIT_USAGE;
    }
    if (i >= argc) {
        usage_top(stderr);
        return EXIT_USAGE;
    }
    const struct noun *n = nouns;
    while (n->name && strcmp(n->name, argv[i]))
        n++;
    if (!n->name) {
        fprintf(stderr, "corral: unknown noun '%s'\n", argv[i]);
        usage_top(stderr);
        return EXIT_USAGE;
    }
    i++;
    if (i >= argc || !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
        usage_noun(i >= argc ? stderr : stdout, n);
        return i >= argc ? EXIT_USAGE : EXIT_OK;
    }
    const struct verb *v = n->verbs;
    while (v->name && strcmp(v->name, argv[i]))
        v++;
    if (!v->name) {
        fprintf(stderr, "corral: %s has no verb '%s'\n", n->name, argv[i]);
        usage_noun(stderr, n);
        return EXIT_USAGE;
    }
    i++;
    if (wants_help(argc - i, argv + i)) {
        printf("usage: corral %s %s %s\n  %s\n", n->name, v->name, v->usage, v->help);
        return EXIT_OK;
    }
    struct args a = { 0 };
    if (parse_args(v, argc - i, argv + i, &a) < 0) {
        fprintf(stderr, "usage: corral %s %s %s\n", n->name, v->name, v->usage);
        return EXIT_USAGE;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int r = v->fn(&c, &a);
    curl_global_cleanup();
    return r;
}
