/* The `image` and `net` commands of corral-oci (see cli_ext.h and the
 * usage text below): argument parsing only, the work is in oci.h. */
#include "oci/cli_ext.h"
#include "oci/oci.h"
#include "util/util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char image_usage[] =
    "usage: corral-oci image [--store DIR] import [--name NAME[:TAG]] [--max-size SIZE] PATH\n"
    "       corral-oci image [--store DIR] list [--format table|json]\n"
    "       corral-oci image [--store DIR] rm NAME...\n"
    "       corral-oci image [--store DIR] bundle [--tty] NAME DIR [-- ARGS...]\n"
    "       corral-oci image unbundle DIR\n";

static const char net_usage[] =
    "usage: corral-oci net attach (--pid PID | --netns PATH) --host-if NAME [--if NAME]\n"
    "                  [--bridge NAME [--create-bridge]] [--address A.B.C.D/N] [--gateway A.B.C.D]\n"
    "                  [--address6 X:X::X/N] [--gateway6 X:X::X]\n"
    "       corral-oci net detach HOST_IF\n"
    "       corral-oci net rm-bridge NAME\n";

/* getopt_long with one-line errors; -2 on a bad option (message set). */
static int next_opt(int argc, char **argv, const char *shorts, const struct option *longs)
{
    opterr = 0;
    int c = getopt_long(argc, argv, shorts, longs, NULL);
    if (c == '?')
        return fail(EINVAL, "unknown option %s (or it needs a value)", argv[optind - 1]), -2;
    return c;
}

static int args_count(int argc, const char *cmd, int min, int max)
{
    int n = argc - optind;
    if (n < min)
        return fail(EINVAL, "%s: missing argument (see corral-oci image --help)", cmd);
    if (max >= 0 && n > max)
        return fail(EINVAL, "%s: unexpected argument", cmd);
    return 0;
}

static int image_import(struct oci_store *st, int argc, char **argv, const char *name)
{
    char **names = NULL;
    int r = args_count(argc, "image import", 1, 1);
    if (r == 0)
        r = oci_image_import(st, argv[optind], name, &names);
    for (char **s = names; s && *s; s++)
        printf("%s\n", *s);
    oci_strv_free(names);
    return r;
}

static int image_list(struct oci_store *st, bool json)
{
    struct oci_image_info *v;
    size_t n;
    int r = oci_image_list(st, &v, &n);
    if (r < 0)
        return r;
    json_object *arr = json_object_new_array();
    if (!json)
        printf("%-40s %-19s %s\n", "NAME", "CONFIG", "LAYERS");
    for (size_t i = 0; i < n; i++) {
        size_t nl = 0;
        while (v[i].layers[nl])
            nl++;
        if (!json) {
            printf("%-40s %-19.19s %zu\n", v[i].name, v[i].config, nl);
            continue;
        }
        json_object *o = json_object_new_object(), *l = json_object_new_array();
        json_object_object_add(o, "name", json_object_new_string(v[i].name));
        json_object_object_add(o, "config", json_object_new_string(v[i].config));
        for (size_t j = 0; j < nl; j++)
            json_object_array_add(l, json_object_new_string(v[i].layers[j]));
        json_object_object_add(o, "layers", l);
        json_object_array_add(arr, o);
    }
    if (json)
        printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(arr);
    oci_image_info_free(v, n);
    return 0;
}

int cli_image(int argc, char **argv)
{
    static const struct option longs[] = {
        { "store", required_argument, NULL, 's' },
        { "name", required_argument, NULL, 'n' },
        { "max-size", required_argument, NULL, 'm' },
        { "format", required_argument, NULL, 'f' },
        { "tty", no_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    struct oci_store st = { .path = OCI_DEFAULT_STORE };
    struct oci_bundle_opts bo = { 0 };
    const char *name = NULL, *cmd = NULL;
    bool json = false;
    int r;
    /* Options may come before or after the sub-command; "--" ends them. */
    for (int c; (c = next_opt(argc, argv, "+ht", longs)) != -1 || (!cmd && optind < argc);) {
        if (c == -1) {
            cmd = argv[optind++];
            continue;
        }
        switch (c) {
        case 's': st.path = optarg; break;
        case 'n': name = optarg; break;
        case 'm':
            if ((r = parse_size(optarg, &st.max_size)) < 0)
                return fail(-r, "--max-size: %s", err_msg());
            break;
        case 'f':
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "table") != 0)
                return fail(EINVAL, "--format: \"%s\" is not table or json", optarg);
            json = strcmp(optarg, "json") == 0;
            break;
        case 't': bo.terminal = true; break;
        case 'h': fputs(image_usage, stdout); return 0;
        default: return -EINVAL;
        }
    }
    if (!cmd)
        return fail(EINVAL, "image: missing sub-command (import, list, rm, bundle, unbundle)");
    if (strcmp(cmd, "import") == 0)
        return image_import(&st, argc, argv, name);
    if (strcmp(cmd, "list") == 0)
        return (r = args_count(argc, "image list", 0, 0)) < 0 ? r : image_list(&st, json);
    if (strcmp(cmd, "rm") == 0) {
        if ((r = args_count(argc, "image rm", 1, -1)) < 0)
            return r;
        for (int i = optind; i < argc && r == 0; i++)
            r = oci_image_remove(&st, argv[i]);
        return r;
    }
    if (strcmp(cmd, "bundle") == 0) {
        if ((r = args_count(argc, "image bundle", 2, -1)) < 0)
            return r;
        /* NAME DIR [--] ARGS...: the "--" lets ARGS start with '-'. */
        int first = optind + 2;
        if (first < argc && strcmp(argv[first], "--") == 0)
            first++;
        if (first < argc)
            bo.args = argv + first;
        return oci_image_bundle(&st, argv[optind], argv[optind + 1], &bo);
    }
    if (strcmp(cmd, "unbundle") == 0)
        return (r = args_count(argc, "image unbundle", 1, 1)) < 0 ? r
               : oci_bundle_remove(argv[optind]);
    return fail(EINVAL, "image: unknown sub-command \"%s\"", cmd);
}

int cli_net(int argc, char **argv)
{
    static const struct option longs[] = {
        { "pid", required_argument, NULL, 'p' },
        { "netns", required_argument, NULL, 'n' },
        { "host-if", required_argument, NULL, 'H' },
        { "if", required_argument, NULL, 'i' },
        { "bridge", required_argument, NULL, 'b' },
        { "create-bridge", no_argument, NULL, 'c' },
        { "address", required_argument, NULL, 'a' },
        { "gateway", required_argument, NULL, 'g' },
        { "address6", required_argument, NULL, '6' },
        { "gateway6", required_argument, NULL, 'G' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    struct oci_net_opts o = { 0 };
    const char *cmd = NULL;
    uint64_t pid;
    int r;
    for (int c; (c = next_opt(argc, argv, "+h", longs)) != -1 || (!cmd && optind < argc);) {
        switch (c) {
        case -1: cmd = argv[optind++]; break;
        case 'p':
            if ((r = parse_uint(optarg, 1, INT32_MAX, &pid)) < 0)
                return fail(-r, "--pid: %s", err_msg());
            o.pid = (pid_t)pid;
            break;
        case 'n': o.netns = optarg; break;
        case 'H': o.host_if = optarg; break;
        case 'i': o.ifname = optarg; break;
        case 'b': o.bridge = optarg; break;
        case 'c': o.create_bridge = true; break;
        case 'a': o.address = optarg; break;
        case 'g': o.gateway = optarg; break;
        case '6': o.address6 = optarg; break;
        case 'G': o.gateway6 = optarg; break;
        case 'h': fputs(net_usage, stdout); return 0;
        default: return -EINVAL;
        }
    }
    if (!cmd)
        return fail(EINVAL, "net: missing sub-command (attach, detach, rm-bridge)");
    if (strcmp(cmd, "attach") == 0) {
        if ((r = args_count(argc, "net attach", 0, 0)) < 0)
            return r;
        if (!o.host_if)
            return fail(EINVAL, "net attach: --host-if is required");
        return oci_net_attach(&o);
    }
    if (strcmp(cmd, "detach") == 0 || strcmp(cmd, "rm-bridge") == 0) {
        if ((r = args_count(argc, strcmp(cmd, "detach") == 0 ? "net detach" : "net rm-bridge",
                            1, 1)) < 0)
            return r;
        return cmd[0] == 'd' ? oci_net_detach(argv[optind]) : oci_net_bridge_delete(argv[optind]);
    }
    return fail(EINVAL, "net: unknown sub-command \"%s\"", cmd);
}
