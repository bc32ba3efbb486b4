/* corral-vmm's configuration: command-line options and the same settings as
 * a JSON file.  Both feed one struct vmm_config; every value is checked
 * here so that later code can trust it. */
#include "vmm.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "boot/boot.h"

#define DEFAULT_MEMORY (128 * MiB)
#define MAX_MEMORY (1024 * GiB)
#define CONFIG_FILE_MAX (1 * MiB)

void vmm_config_init(struct vmm_config *c)
{
    memset(c, 0, sizeof(*c));
    c->memory = DEFAULT_MEMORY;
    c->cpus = 1;
    c->console.kind = CONSOLE_STDIO;
    c->vconsole.kind = CONSOLE_NONE;
    c->ready_fd = -1;
}

void vmm_config_free(struct vmm_config *c)
{
    free(c->kernel);
    free(c->initrd);
    free(c->cmdline);
    for (int i = 0; i < c->ndisks; i++)
        free(c->disk[i].path);
    for (int i = 0; i < c->nnets; i++)
        free(c->net[i].tap);
    free(c->console.path);
    free(c->vconsole.path);
    free(c->api_socket);
    free(c->restore);
    free(c->incoming);
    free(c->migration_key);
    free(c->jail);
    free(c->kvm_device);
    memset(c, 0, sizeof(*c));
}

static int set_str(char **dst, const char *src)
{
    char *s = strdup(src);
    if (!s)
        return fail(ENOMEM, "out of memory");
    free(*dst);
    *dst = s;
    return 0;
}

static int parse_memory(struct vmm_config *c, const char *s)
{
    uint64_t v;
    int r = parse_size(s, &v);
    if (r < 0)
        return fail(-r, "--memory: %s", err_msg());
    if (v < 2 * MiB || v > MAX_MEMORY || v % (4 * KiB))
        return fail(EINVAL, "--memory %s: must be a multiple of 4K between 2M and 1T", s);
    c->memory = v;
    return 0;
}

static int parse_cpus(struct vmm_config *c, const char *s)
{
    uint64_t v;
    if (parse_uint(s, 1, BOOT_MAX_CPUS, &v) < 0)
        return fail(EINVAL, "--cpus %s: must be a number from 1 to %d", s, BOOT_MAX_CPUS);
    c->cpus = (unsigned)v;
    return 0;
}

/* "PATH[,readonly][,format=raw|qcow2]" (also "ro" and "readonly=on|off") */
static int parse_disk(struct vmm_config *c, const char *spec)
{
    if (c->ndisks == VMM_MAX_DISKS)
        return fail(E2BIG, "--disk: at most %d disks", VMM_MAX_DISKS);
    _cleanup_free_ char *copy = strdup(spec);
    if (!copy)
        return fail(ENOMEM, "out of memory");
    struct disk_cfg d = { 0 };
    char *save = NULL, *path = strtok_r(copy, ",", &save);
    if (!path || !*path)
        return fail(EINVAL, "--disk '%s': missing path", spec);
    for (char *opt; (opt = strtok_r(NULL, ",", &save));) {
        if (!strcmp(opt, "readonly") || !strcmp(opt, "ro") || !strcmp(opt, "readonly=on"))
            d.readonly = true;
        else if (!strcmp(opt, "readonly=off"))
            d.readonly = false;
        else if (!strncmp(opt, "format=", 7)) {
            if (blk_parse_format(opt + 7, &d.format) < 0)
                return fail(EINVAL, "--disk '%s': unknown format '%s' (known: raw, qcow2)", spec, opt + 7);
        } else
            return fail(EINVAL, "--disk '%s': unknown option '%s' (known: readonly, format=raw|qcow2)",
                        spec, opt);
    }
    if (!(d.path = strdup(path)))
        return fail(ENOMEM, "out of memory");
    c->disk[c->ndisks++] = d;
    return 0;
}

/* "tap=NAME[,mac=MAC]" */
static int parse_net(struct vmm_config *c, const char *spec)
{
    if (c->nnets == VMM_MAX_NETS)
        return fail(E2BIG, "--net: at most %d network interfaces", VMM_MAX_NETS);
    _cleanup_free_ char *copy = strdup(spec);
    if (!copy)
        return fail(ENOMEM, "out of memory");
    struct net_cfg n = { 0 };
    char *save = NULL;
    for (char *opt = strtok_r(copy, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
        if (!strncmp(opt, "tap=", 4) && opt[4]) {
            if (strlen(opt + 4) >= 16) {
                free(n.tap);
                return fail(EINVAL, "--net '%s': tap name is longer than 15 characters", spec);
            }
            free(n.tap);
            n.tap = strdup(opt + 4);
        } else if (!strncmp(opt, "mac=", 4)) {
            if (parse_mac(opt + 4, n.mac) < 0) {
                free(n.tap);
                return fail(EINVAL, "--net: %s", err_msg());
            }
            n.mac_set = true;
        } else {
            free(n.tap);
            return fail(EINVAL, "--net '%s': unknown option '%s' (known: tap=NAME, mac=MAC)", spec, opt);
        }
    }
    if (!n.tap)
        return fail(EINVAL, "--net '%s': missing tap=NAME", spec);
    c->net[c->nnets++] = n;
    return 0;
}

/* "stdio" | "pty" | "file=PATH" | "none" */
static int parse_console(struct console_cfg *con, const char *opt, const char *s)
{
    free(con->path);
    con->path = NULL;
    if (!strcmp(s, "stdio"))
        con->kind = CONSOLE_STDIO;
    else if (!strcmp(s, "pty"))
        con->kind = CONSOLE_PTY;
    else if (!strcmp(s, "none") || !strcmp(s, "off"))
        con->kind = CONSOLE_NONE;
    else if (!strncmp(s, "file=", 5) && s[5]) {
        con->kind = CONSOLE_FILE;
        if (!(con->path = strdup(s + 5)))
            return fail(ENOMEM, "out of memory");
    } else
        return fail(EINVAL, "%s '%s': use stdio, pty, file=PATH or none", opt, s);
    return 0;
}

static int parse_id(const char *opt, const char *s, uint64_t *out, bool *set)
{
    if (parse_uint(s, 0, 0xfffffffe, out) < 0)
        return fail(EINVAL, "%s %s: not a numeric id", opt, s);
    *set = true;
    return 0;
}

/* ---- JSON ------------------------------------------------------------------ */

static int get_json_str(struct json_object *v, const char *key, const char **out)
{
    if (!json_object_is_type(v, json_type_string))
        return fail(EINVAL, "config: \"%s\" must be a string", key);
    *out = json_object_get_string(v);
    return 0;
}

static int get_json_bool(struct json_object *v, const char *key, bool *out)
{
    if (!json_object_is_type(v, json_type_boolean))
        return fail(EINVAL, "config: \"%s\" must be true or false", key);
    *out = json_object_get_boolean(v);
    return 0;
}

/* Array items are either the command-line string form or an object. */
static int json_disk(struct vmm_config *c, struct json_object *it)
{
    if (json_object_is_type(it, json_type_string))
        return parse_disk(c, json_object_get_string(it));
    if (!json_object_is_type(it, json_type_object))
        return fail(EINVAL, "config: \"disks\" items must be strings or objects");
    const char *path = NULL, *format = NULL;
    bool ro = false;
    json_object_object_foreach(it, k, v) {
        int r;
        if (!strcmp(k, "path"))
            r = get_json_str(v, "disks[].path", &path);
        else if (!strcmp(k, "readonly"))
            r = get_json_bool(v, "disks[].readonly", &ro);
        else if (!strcmp(k, "format"))
            r = get_json_str(v, "disks[].format", &format);
        else
            r = fail(EINVAL, "config: unknown key \"disks[].%s\"", k);
        if (r < 0)
            return r;
    }
    if (!path || !*path)
        return fail(EINVAL, "config: a disk has no \"path\"");
    if (c->ndisks == VMM_MAX_DISKS)
        return fail(E2BIG, "config: at most %d disks", VMM_MAX_DISKS);
    enum blk_format fmt = BLK_FMT_PROBE;
    if (format && blk_parse_format(format, &fmt) < 0)
        return fail(EINVAL, "config: unknown disk format \"%s\" (known: raw, qcow2)", format);
    char *copy = strdup(path);
    if (!copy)
        return fail(ENOMEM, "out of memory");
    c->disk[c->ndisks++] = (struct disk_cfg){ .path = copy, .readonly = ro, .format = fmt };
    return 0;
}

static int json_net(struct vmm_config *c, struct json_object *it)
{
    if (json_object_is_type(it, json_type_string))
        return parse_net(c, json_object_get_string(it));
    if (!json_object_is_type(it, json_type_object))
        return fail(EINVAL, "config: \"nets\" items must be strings or objects");
    const char *tap = NULL, *mac = NULL;
    json_object_object_foreach(it, k, v) {
        int r;
        if (!strcmp(k, "tap"))
            r = get_json_str(v, "nets[].tap", &tap);
        else if (!strcmp(k, "mac"))
            r = get_json_str(v, "nets[].mac", &mac);
        else
            r = fail(EINVAL, "config: unknown key \"nets[].%s\"", k);
        if (r < 0)
            return r;
    }
    if (!tap)
        return fail(EINVAL, "config: a net has no \"tap\"");
    char spec[128];
    if (snprintf(spec, sizeof(spec), "tap=%s%s%s", tap, mac ? ",mac=" : "", mac ? mac : "") >= (int)sizeof(spec))
        return fail(EINVAL, "config: net entry too long");
    return parse_net(c, spec);
}

static int json_array(struct vmm_config *c, struct json_object *v, const char *key,
                      int (*item)(struct vmm_config *, struct json_object *))
{
    if (!json_object_is_type(v, json_type_array))
        return fail(EINVAL, "config: \"%s\" must be an array", key);
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        int r = item(c, json_object_array_get_idx(v, i));
        if (r < 0)
            return r;
    }
    return 0;
}

static int json_number_or_string(struct json_object *v, const char *key, char *buf, size_t cap)
{
    if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0)
        snprintf(buf, cap, "%lld", (long long)json_object_get_int64(v));
    else if (json_object_is_type(v, json_type_string))
        snprintf(buf, cap, "%s", json_object_get_string(v));
    else
        return fail(EINVAL, "config: \"%s\" must be a number or a string", key);
    return 0;
}

static int json_key(struct vmm_config *c, const char *k, struct json_object *v)
{
    const char *s = NULL;
    char num[64];
    bool b = false;
    int r;
    if (!strcmp(k, "kernel") || !strcmp(k, "initrd") || !strcmp(k, "cmdline") ||
        !strcmp(k, "api_socket") || !strcmp(k, "jail") || !strcmp(k, "kvm_device")) {
        if ((r = get_json_str(v, k, &s)) < 0)
            return r;
        char **dst = !strcmp(k, "kernel") ? &c->kernel : !strcmp(k, "initrd") ? &c->initrd
                   : !strcmp(k, "cmdline") ? &c->cmdline : !strcmp(k, "api_socket") ? &c->api_socket
                   : !strcmp(k, "jail") ? &c->jail : &c->kvm_device;
        return set_str(dst, s);
    }
    if (!strcmp(k, "memory"))
        return (r = json_number_or_string(v, k, num, sizeof(num))) < 0 ? r : parse_memory(c, num);
    if (!strcmp(k, "cpus"))
        return (r = json_number_or_string(v, k, num, sizeof(num))) < 0 ? r : parse_cpus(c, num);
    if (!strcmp(k, "uid") || !strcmp(k, "gid")) {
        if ((r = json_number_or_string(v, k, num, sizeof(num))) < 0)
            return r;
        return !strcmp(k, "uid") ? parse_id("uid", num, &c->uid, &c->uid_set)
                                 : parse_id("gid", num, &c->gid, &c->gid_set);
    }
    if (!strcmp(k, "console") || !strcmp(k, "virtio_console")) {
        if ((r = get_json_str(v, k, &s)) < 0)
            return r;
        return parse_console(!strcmp(k, "console") ? &c->console : &c->vconsole, k, s);
    }
    if (!strcmp(k, "rng") || !strcmp(k, "no_reboot") || !strcmp(k, "no_seccomp")) {
        if ((r = get_json_bool(v, k, &b)) < 0)
            return r;
        *(!strcmp(k, "rng") ? &c->rng : !strcmp(k, "no_reboot") ? &c->no_reboot : &c->no_seccomp) = b;
        return 0;
    }
    if (!strcmp(k, "disks"))
        return json_array(c, v, k, json_disk);
    if (!strcmp(k, "nets"))
        return json_array(c, v, k, json_net);
    return fail(EINVAL, "config: unknown key \"%s\"", k);
}

int vmm_config_parse_json(struct vmm_config *c, const char *text, size_t len)
{
    if (len > CONFIG_FILE_MAX)
        return fail(EFBIG, "config: larger than 1 MiB");
    struct json_tokener *tok = json_tokener_new_ex(32);
    if (!tok)
        return fail(ENOMEM, "out of memory");
    struct json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!root || jerr != json_tokener_success) {
        json_object_put(root);
        return fail(EINVAL, "config: invalid JSON at byte %zu: %s", used,
                    jerr == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(jerr));
    }
    for (; used < len; used++) {
        if (text[used] != ' ' && text[used] != '\n' && text[used] != '\t' && text[used] != '\r' && text[used]) {
            json_object_put(root);
            return fail(EINVAL, "config: trailing data after the JSON object at byte %zu", used);
        }
    }
    int r = 0;
    if (!json_object_is_type(root, json_type_object))
        r = fail(EINVAL, "config: the top level must be a JSON object");
    else {
        json_object_object_foreach(root, k, v) {
            if ((r = json_key(c, k, v)) < 0)
                break;
        }
    }
    json_object_put(root);
    return r;
}

/* ---- command line ---------------------------------------------------------- */

enum { OPT_API = 256, OPT_JAIL, OPT_UID, OPT_GID, OPT_NO_REBOOT, OPT_NO_SECCOMP,
       OPT_CONFIG, OPT_VCONSOLE, OPT_KVM, OPT_READY, OPT_RESTORE, OPT_INCOMING,
       OPT_MIGRATION_KEY };

static const struct option long_opts[] = {
    { "kernel", required_argument, 0, 'k' },
    { "initrd", required_argument, 0, 'i' },
    { "cmdline", required_argument, 0, 'c' },
    { "memory", required_argument, 0, 'm' },
    { "cpus", required_argument, 0, 'n' },
    { "disk", required_argument, 0, 'd' },
    { "net", required_argument, 0, 'N' },
    { "console", required_argument, 0, 's' },
    { "virtio-console", required_argument, 0, OPT_VCONSOLE },
    { "rng", no_argument, 0, 'r' },
    { "api-socket", required_argument, 0, OPT_API },
    { "config", required_argument, 0, OPT_CONFIG },
    { "no-reboot", no_argument, 0, OPT_NO_REBOOT },
    { "no-seccomp", no_argument, 0, OPT_NO_SECCOMP },
    { "jail", required_argument, 0, OPT_JAIL },
    { "uid", required_argument, 0, OPT_UID },
    { "gid", required_argument, 0, OPT_GID },
    { "kvm-device", required_argument, 0, OPT_KVM },
    { "ready-fd", required_argument, 0, OPT_READY },
    { "restore", required_argument, 0, OPT_RESTORE },
    { "incoming", required_argument, 0, OPT_INCOMING },
    { "migration-key", required_argument, 0, OPT_MIGRATION_KEY },
    { "verbose", no_argument, 0, 'v' },
    { "help", no_argument, 0, 'h' },
    { 0, 0, 0, 0 },
};

void vmm_usage(const char *prog)
{
    printf(
"Usage: %s --kernel FILE [options]\n"
"       %s --restore DIR [options]\n"
"       %s --incoming tcp:ADDR:PORT|unix:PATH [options]\n"
"Runs one virtual machine on Linux KVM.\n"
"\n"
"Boot:\n"
"  --kernel FILE         bzImage, ELF vmlinux or PVH ELF kernel (required)\n"
"  --initrd FILE         initial ramdisk\n"
"  --cmdline STR         kernel command line (virtio devices are appended)\n"
"  --restore DIR         start from the snapshot in DIR (API command snapshot) instead\n"
"                        of booting: the same --memory, --cpus and devices are needed;\n"
"                        without --kernel, a guest reboot ends the VMM (docs/snapshot-format.md)\n"
"  --incoming URI        wait for a VM migrated to here (API command migrate on the\n"
"                        source) on tcp:ADDR:PORT (numeric address) or unix:PATH; the\n"
"                        same --memory, --cpus and devices are needed (docs/migration.md)\n"
"  --migration-key FILE  migrations in and out run over TLS with this pre-shared key\n"
"                        (a line IDENTITY:HEXKEY as psktool writes it, 16..64 bytes)\n"
"Machine:\n"
"  --memory SIZE         guest RAM, e.g. 512M, 2G (default 128M)\n"
"  --cpus N              vCPUs, 1..%d (default 1)\n"
"Devices:\n"
"  --disk PATH[,readonly][,format=raw|qcow2]\n"
"                        a virtio-blk disk (format probed unless given); repeatable\n"
"  --net tap=NAME[,mac=MAC]  a virtio-net NIC on an existing tap; repeatable\n"
"  --console stdio|pty|file=PATH|none\n"
"                        where the serial port (COM1) goes (default stdio)\n"
"  --virtio-console stdio|pty|file=PATH|none\n"
"                        add a virtio-console (hvc0) connected there\n"
"  --rng                 add a virtio-rng device fed by the host's getrandom()\n"
"Control:\n"
"  --api-socket PATH     JSON control API on this Unix socket (docs/vmm-api.md)\n"
"  --config FILE.json    settings as JSON; command-line options override it\n"
"  --no-reboot           exit 0 when the guest reboots instead of restarting it\n"
"  --ready-fd N          once the VM runs and the API socket serves, write one JSON\n"
"                        line {\"ready\":true,\"serial\":PTY|null} to open fd N (3..1023)\n"
"                        and close it (for a supervisor; docs/vmm-api.md)\n"
"Isolation:\n"
"  --jail DIR            chroot into DIR once every file is open\n"
"  --uid N, --gid N      run as this user and group inside the jail\n"
"  --no-seccomp          do not install the system-call filter (debugging)\n"
"  --kvm-device PATH     KVM device node (default /dev/kvm)\n"
"  -v, --verbose         log more; -h, --help  show this text\n"
"\n"
"Config file keys: kernel, initrd, cmdline, memory, cpus, disks ([\"PATH,readonly\"]\n"
"or [{\"path\":..,\"readonly\":..,\"format\":..}]), nets ([{\"tap\":..,\"mac\":..}]), console,\n"
"virtio_console, rng, api_socket, no_reboot, no_seccomp, jail, uid, gid, kvm_device.\n"
"\n"
"Exit status: 0 guest powered off; 1 host error while running; 2 bad configuration\n"
"or a resource that cannot be opened; 3 guest crashed (triple fault, emulation\n"
"failure), with a register dump on stderr.\n",
           prog, prog, prog, BOOT_MAX_CPUS);
}

static int load_config_file(struct vmm_config *c, const char *path)
{
    _cleanup_free_ uint8_t *data = NULL;
    size_t len;
    int r = read_file(path, CONFIG_FILE_MAX, &data, &len);
    if (r < 0)
        return fail(-r, "--config: %s", err_msg());
    r = vmm_config_parse_json(c, (const char *)data, len);
    if (r < 0)
        return fail(-r, "%s: %s", path, err_msg());
    return 0;
}

int vmm_config_parse_args(struct vmm_config *c, int argc, char **argv, bool *help)
{
    const char *shortopts = ":k:i:c:m:n:d:N:s:rvh"; /* ":": missing values give ':' */
    *help = false;
    /* Pass 1: the config file, so explicit options win over it.  optind 0
     * starts getopt afresh (glibc), whatever an earlier scan left. */
    opterr = 0;
    optind = 0;
    for (int o; (o = getopt_long(argc, argv, shortopts, long_opts, NULL)) != -1;) {
        if (o == OPT_CONFIG) {
            int r = load_config_file(c, optarg);
            if (r < 0)
                return r;
        }
    }
    /* JSON lists are replaced, not extended, by command-line ones. */
    bool disks_reset = false, nets_reset = false;
    optind = 0;
    for (int o; (o = getopt_long(argc, argv, shortopts, long_opts, NULL)) != -1;) {
        int r = 0;
        switch (o) {
        case 'k': r = set_str(&c->kernel, optarg); break;
        case 'i': r = set_str(&c->initrd, optarg); break;
        case 'c': r = set_str(&c->cmdline, optarg); break;
        case 'm': r = parse_memory(c, optarg); break;
        case 'n': r = parse_cpus(c, optarg); break;
        case 'd':
            if (!disks_reset) {
                for (int i = 0; i < c->ndisks; i++)
                    free(c->disk[i].path);
                c->ndisks = 0;
                disks_reset = true;
            }
            r = parse_disk(c, optarg);
            break;
        case 'N':
            if (!nets_reset) {
                for (int i = 0; i < c->nnets; i++)
                    free(c->net[i].tap);
                c->nnets = 0;
                nets_reset = true;
            }
            r = parse_net(c, optarg);
            break;
        case 's': r = parse_console(&c->console, "--console", optarg); break;
        case OPT_VCONSOLE: r = parse_console(&c->vconsole, "--virtio-console", optarg); break;
        case 'r': c->rng = true; break;
        case OPT_API: r = set_str(&c->api_socket, optarg); break;
        case OPT_CONFIG: break;
        case OPT_NO_REBOOT: c->no_reboot = true; break;
        case OPT_NO_SECCOMP: c->no_seccomp = true; break;
        case OPT_JAIL: r = set_str(&c->jail, optarg); break;
        case OPT_UID: r = parse_id("--uid", optarg, &c->uid, &c->uid_set); break;
        case OPT_GID: r = parse_id("--gid", optarg, &c->gid, &c->gid_set); break;
        case OPT_KVM: r = set_str(&c->kvm_device, optarg); break;
        case OPT_RESTORE: r = set_str(&c->restore, optarg); break;
        case OPT_INCOMING: r = set_str(&c->incoming, optarg); break;
        case OPT_MIGRATION_KEY: r = set_str(&c->migration_key, optarg); break;
        case OPT_READY: {
            uint64_t fd;
            if (parse_uint(optarg, 3, 1023, &fd) < 0)
                return fail(EINVAL, "--ready-fd '%.32s': an open file descriptor 3..1023", optarg);
            c->ready_fd = (int)fd;
            break;
        }
        case 'v': c->verbosity++; break;
        case 'h': *help = true; return 0;
        case ':': return fail(EINVAL, "option %s needs a value", argv[optind - 1]);
        default: return fail(EINVAL, "unknown option '%s' (see --help)", argv[optind - 1]);
        }
        if (r < 0)
            return r;
    }
    if (optind < argc)
        return fail(EINVAL, "unexpected argument '%s' (see --help)", argv[optind]);
    return 0;
}

int vmm_config_check(const struct vmm_config *c)
{
    if (!c->kernel && !c->restore && !c->incoming)
        return fail(EINVAL, "no kernel given (use --kernel FILE, --restore DIR or --incoming URI; see --help)");
    if (c->restore && c->incoming)
        return fail(EINVAL, "--restore and --incoming exclude each other");
    if ((c->uid_set || c->gid_set) && !c->jail)
        return fail(EINVAL, "--uid and --gid need --jail DIR");
    if (c->uid_set != c->gid_set)
        return fail(EINVAL, "--uid and --gid go together");
    if (c->console.kind == CONSOLE_STDIO && c->vconsole.kind == CONSOLE_STDIO)
        return fail(EINVAL, "the serial console and the virtio-console cannot both use stdio");
    return 0;
}

static const char *console_name(const struct console_cfg *con, char *buf, size_t cap)
{
    switch (con->kind) {
    case CONSOLE_NONE: return "none";
    case CONSOLE_STDIO: return "stdio";
    case CONSOLE_PTY: return "pty";
    case CONSOLE_FILE: snprintf(buf, cap, "file=%s", con->path); return buf;
    }
    return "?";
}

struct json_object *vmm_config_to_json(const struct vmm_config *c)
{
    struct json_object *o = json_object_new_object();
    char buf[4200];
    json_object_object_add(o, "kernel", json_object_new_string(c->kernel ? c->kernel : ""));
    if (c->initrd)
        json_object_object_add(o, "initrd", json_object_new_string(c->initrd));
    json_object_object_add(o, "cmdline", json_object_new_string(c->cmdline ? c->cmdline : ""));
    json_object_object_add(o, "memory", json_object_new_int64((int64_t)c->memory));
    json_object_object_add(o, "cpus", json_object_new_int((int)c->cpus));
    struct json_object *disks = json_object_new_array();
    for (int i = 0; i < c->ndisks; i++) {
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "path", json_object_new_string(c->disk[i].path));
        json_object_object_add(d, "readonly", json_object_new_boolean(c->disk[i].readonly));
        if (c->disk[i].format != BLK_FMT_PROBE)
            json_object_object_add(d, "format", json_object_new_string(blk_format_name(c->disk[i].format)));
        json_object_array_add(disks, d);
    }
    json_object_object_add(o, "disks", disks);
    struct json_object *nets = json_object_new_array();
    for (int i = 0; i < c->nnets; i++) {
        struct json_object *n = json_object_new_object();
        json_object_object_add(n, "tap", json_object_new_string(c->net[i].tap));
        format_mac(c->net[i].mac, buf);
        json_object_object_add(n, "mac", json_object_new_string(buf));
        json_object_array_add(nets, n);
    }
    json_object_object_add(o, "nets", nets);
    json_object_object_add(o, "console", json_object_new_string(console_name(&c->console, buf, sizeof(buf))));
    json_object_object_add(o, "virtio_console",
                           json_object_new_string(console_name(&c->vconsole, buf, sizeof(buf))));
    json_object_object_add(o, "rng", json_object_new_boolean(c->rng));
    json_object_object_add(o, "no_reboot", json_object_new_boolean(c->no_reboot));
    return o;
}
