/* vmm configuration (command line and JSON) and the control API's request
 * handling with no machine running. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#undef fail /* cmocka's fail() would hide util's */

#include "util/util.h"
#include "vmm/vmm.h"

/* Parses a NULL-terminated list of arguments into a fresh config. */
static int parse_v(struct vmm_config *c, bool *help, va_list ap)
{
    char *argv[64] = { "corral-vmm" };
    int argc = 1;
    for (char *a; (a = va_arg(ap, char *));) {
        assert_true(argc < (int)ARRAY_SIZE(argv) - 1);
        argv[argc++] = a;
    }
    vmm_config_init(c);
    return vmm_config_parse_args(c, argc, argv, help);
}

static int parse(struct vmm_config *c, ...)
{
    bool help;
    va_list ap;
    va_start(ap, c);
    int r = parse_v(c, &help, ap);
    va_end(ap);
    assert_false(help);
    return r;
}

/* Expects the arguments to be refused with a message containing `msg`. */
static void refused(const char *msg, ...)
{
    struct vmm_config c;
    bool help;
    va_list ap;
    va_start(ap, msg);
    int r = parse_v(&c, &help, ap);
    va_end(ap);
    if (r >= 0 || !strstr(err_msg(), msg))
        print_error("expected '%s', got r=%d '%s'\n", msg, r, err_msg());
    assert_true(r < 0);
    assert_non_null(strstr(err_msg(), msg));
    vmm_config_free(&c);
}

static int json(struct vmm_config *c, const char *text)
{
    vmm_config_init(c);
    return vmm_config_parse_json(c, text, strlen(text));
}

static void json_refused(const char *text, const char *msg)
{
    struct vmm_config c;
    int r = json(&c, text);
    if (r >= 0 || !strstr(err_msg(), msg))
        print_error("%s: expected '%s', got r=%d '%s'\n", text, msg, r, err_msg());
    assert_true(r < 0);
    assert_non_null(strstr(err_msg(), msg));
    vmm_config_free(&c);
}

/* ---- command line ----------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    struct vmm_config c;
    assert_int_equal(parse(&c, "--kernel", "bzImage", NULL), 0);
    assert_string_equal(c.kernel, "bzImage");
    assert_null(c.initrd);
    assert_true(c.memory == 128 * MiB);
    assert_int_equal(c.cpus, 1);
    assert_int_equal(c.console.kind, CONSOLE_STDIO);
    assert_int_equal(c.vconsole.kind, CONSOLE_NONE);
    assert_int_equal(c.ndisks + c.nnets, 0);
    assert_false(c.rng || c.no_reboot || c.no_seccomp || c.uid_set || c.gid_set);
    assert_int_equal(c.ready_fd, -1);
    assert_int_equal(vmm_config_check(&c), 0);
    vmm_config_free(&c);
}

static void test_all_options(void **state)
{
    (void)state;
    struct vmm_config c;
    assert_int_equal(parse(&c, "--kernel", "vmlinux", "--initrd", "initrd.img",
                           "--cmdline", "console=ttyS0 quiet", "--memory", "512M", "--cpus", "4",
                           "--disk", "a.img", "--disk", "b.img,readonly", "-d", "c.img,ro,readonly=off",
                           "--net", "tap=tap0,mac=52:54:00:12:34:56", "-N", "tap=tap1",
                           "--console", "pty", "--virtio-console", "file=/tmp/hvc.log", "--rng",
                           "--api-socket", "/run/vm.sock", "--no-reboot", "--no-seccomp",
                           "--jail", "/srv/jail", "--uid", "1000", "--gid", "100",
                           "--kvm-device", "/dev/kvm2", "--ready-fd", "7", "-v", "--verbose", NULL), 0);
    assert_string_equal(c.kernel, "vmlinux");
    assert_string_equal(c.initrd, "initrd.img");
    assert_string_equal(c.cmdline, "console=ttyS0 quiet");
    assert_true(c.memory == 512 * MiB);
    assert_int_equal(c.cpus, 4);
    assert_int_equal(c.ndisks, 3);
    assert_string_equal(c.disk[0].path, "a.img");
    assert_false(c.disk[0].readonly);
    assert_string_equal(c.disk[1].path, "b.img");
    assert_true(c.disk[1].readonly);
    assert_string_equal(c.disk[2].path, "c.img");
    assert_false(c.disk[2].readonly);
    assert_int_equal(c.nnets, 2);
    assert_string_equal(c.net[0].tap, "tap0");
    assert_true(c.net[0].mac_set);
    assert_memory_equal(c.net[0].mac, "\x52\x54\x00\x12\x34\x56", 6);
    assert_string_equal(c.net[1].tap, "tap1");
    assert_false(c.net[1].mac_set);
    assert_int_equal(c.console.kind, CONSOLE_PTY);
    assert_int_equal(c.vconsole.kind, CONSOLE_FILE);
    assert_string_equal(c.vconsole.path, "/tmp/hvc.log");
    assert_true(c.rng && c.no_reboot && c.no_seccomp);
    assert_string_equal(c.api_socket, "/run/vm.sock");
    assert_string_equal(c.jail, "/srv/jail");
    assert_true(c.uid_set && c.gid_set && c.uid == 1000 && c.gid == 100);
    assert_string_equal(c.kvm_device, "/dev/kvm2");
    assert_int_equal(c.ready_fd, 7);
    assert_int_equal(c.verbosity, 2);
    assert_int_equal(vmm_config_check(&c), 0);
    vmm_config_free(&c);

    /* Short options; a later option overrides an earlier one. */
    assert_int_equal(parse(&c, "-k", "k1", "-m", "1G", "-n", "2", "-s", "none", "-r",
                           "-k", "k2", "--console=file=/tmp/ttyS0.log", NULL), 0);
    assert_string_equal(c.kernel, "k2");
    assert_true(c.memory == GiB);
    assert_int_equal(c.cpus, 2);
    assert_true(c.rng);
    assert_int_equal(c.console.kind, CONSOLE_FILE);
    assert_string_equal(c.console.path, "/tmp/ttyS0.log");
    vmm_config_free(&c);
}

static void test_sizes_and_cpus(void **state)
{
    (void)state;
    struct vmm_config c;
    static const struct { const char *s; uint64_t v; } ok[] = {
        { "2G", 2 * GiB }, { "2M", 2 * MiB }, { "1048576K", GiB }, { "4198400", 4100 * KiB }, { "1T", 1024 * GiB },
    };
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        assert_int_equal(parse(&c, "--memory", ok[i].s, NULL), 0);
        assert_true(c.memory == ok[i].v);
        vmm_config_free(&c);
    }
    refused("--memory: bad size '64Q'", "--memory", "64Q", NULL);
    refused("--memory: bad size '1.5G'", "--memory", "1.5G", NULL);
    refused("--memory: size '99999999999T' is too large", "--memory", "99999999999T", NULL);
    refused("between 2M and 1T", "--memory", "1M", NULL);
    refused("between 2M and 1T", "--memory", "1025G", NULL);
    refused("multiple of 4K", "--memory", "4097K", NULL);

    assert_int_equal(parse(&c, "--cpus", "254", NULL), 0);
    assert_int_equal(c.cpus, 254);
    vmm_config_free(&c);
    refused("--cpus 0: must be a number from 1 to 254", "--cpus", "0", NULL);
    refused("--cpus 255: must be a number from 1 to 254", "--cpus", "255", NULL);
    refused("--cpus abc", "--cpus", "abc", NULL);
    refused("--cpus -1", "--cpus", "-1", NULL);
    refused("--cpus", "--cpus", "", NULL);
}

static void test_devices_options(void **state)
{
    (void)state;
    refused("--disk 'a.img,rw': unknown option 'rw'", "--disk", "a.img,rw", NULL);
    refused("missing path", "--disk", ",", NULL);
    refused("at most 8 disks", "-d", "1", "-d", "2", "-d", "3", "-d", "4", "-d", "5",
            "-d", "6", "-d", "7", "-d", "8", "-d", "9", NULL);

    refused("--net: bad MAC address '52:54:00:12:34'", "--net", "tap=t0,mac=52:54:00:12:34", NULL);
    refused("multicast", "--net", "tap=t0,mac=01:54:00:12:34:56", NULL);
    refused("missing tap=NAME", "--net", "mac=52:54:00:12:34:56", NULL);
    refused("unknown option 'tap='", "--net", "tap=", NULL);
    refused("unknown option 'vhost=on'", "--net", "tap=t0,vhost=on", NULL);
    refused("longer than 15 characters", "--net", "tap=0123456789abcdef", NULL);
    refused("at most 4 network interfaces", "-N", "tap=a", "-N", "tap=b", "-N", "tap=c",
            "-N", "tap=d", "-N", "tap=e", NULL);

    refused("--console 'bogus': use stdio, pty, file=PATH or none", "--console", "bogus", NULL);
    refused("--console 'file='", "--console", "file=", NULL);
    refused("--virtio-console 'tty'", "--virtio-console", "tty", NULL);
    refused("--uid x: not a numeric id", "--uid", "x", NULL);
    refused("--gid 4294967295", "--gid", "4294967295", NULL);
    refused("--ready-fd '2': an open file descriptor 3..1023", "--ready-fd", "2", NULL);
    refused("--ready-fd '1024'", "--ready-fd", "1024", NULL);
    refused("--ready-fd 'x'", "--ready-fd", "x", NULL);

    refused("unknown option '--bogus'", "--kernel", "k", "--bogus", NULL);
    refused("unknown option '-x'", "-x", NULL);
    refused("option --kernel needs a value", "--kernel", NULL);
    refused("option -m needs a value", "-k", "k", "-m", NULL);
    refused("option --config needs a value", "--config", NULL);
    refused("unexpected argument 'stray'", "--kernel", "k", "stray", NULL);
}

static void test_help(void **state)
{
    (void)state;
    struct vmm_config c;
    bool help = false;
    char *argv[] = { "corral-vmm", "--kernel", "k", "--help", "--bogus", NULL };
    vmm_config_init(&c);
    assert_int_equal(vmm_config_parse_args(&c, 5, argv, &help), 0);
    assert_true(help);
    vmm_config_free(&c);
    char *argv2[] = { "corral-vmm", "-vh", NULL };
    vmm_config_init(&c);
    assert_int_equal(vmm_config_parse_args(&c, 2, argv2, &help), 0);
    assert_true(help);
    assert_int_equal(c.verbosity, 1);
    vmm_config_free(&c);
    /* A fresh parse after an early return starts from scratch. */
    char *argv3[] = { "corral-vmm", "-hv", NULL };
    vmm_config_init(&c);
    assert_int_equal(vmm_config_parse_args(&c, 2, argv3, &help), 0);
    assert_true(help);
    vmm_config_free(&c);
    assert_int_equal(parse(&c, "-k", "k", NULL), 0);
    assert_int_equal(c.verbosity, 0);
    vmm_config_free(&c);
}

static char cfg_path[64];

static void write_config(const char *text)
{
    snprintf(cfg_path, sizeof(cfg_path), "/tmp/corral-test-config.XXXXXX");
    int fd = mkstemp(cfg_path);
    assert_true(fd >= 0);
    assert_int_equal(write_all(fd, text, strlen(text)), 0);
    close(fd);
}

static void test_config_file(void **state)
{
    (void)state;
    struct vmm_config c;
    write_config("{ \"kernel\": \"from-json\", \"memory\": \"256M\", \"cpus\": 2,\n"
                 "  \"disks\": [\"j1.img\", {\"path\": \"j2.img\", \"readonly\": true}],\n"
                 "  \"nets\": [{\"tap\": \"jtap\"}], \"rng\": true }\n");
    /* Command-line options win wherever --config appears. */
    assert_int_equal(parse(&c, "--cpus", "3", "--config", cfg_path, "--disk", "cli.img", NULL), 0);
    assert_string_equal(c.kernel, "from-json");
    assert_true(c.memory == 256 * MiB);
    assert_int_equal(c.cpus, 3);
    assert_int_equal(c.ndisks, 1);          /* the CLI list replaces the JSON one */
    assert_string_equal(c.disk[0].path, "cli.img");
    assert_int_equal(c.nnets, 1);           /* no --net: the JSON list stays */
    assert_string_equal(c.net[0].tap, "jtap");
    assert_true(c.rng);
    vmm_config_free(&c);

    assert_int_equal(parse(&c, "--config", cfg_path, NULL), 0);
    assert_int_equal(c.ndisks, 2);
    assert_true(c.disk[1].readonly);
    assert_int_equal(c.cpus, 2);
    vmm_config_free(&c);
    unlink(cfg_path);

    write_config("{ \"kernel\": \"k\", \"colour\": \"blue\" }");
    refused("config: unknown key \"colour\"", "--config", cfg_path, NULL);
    refused(cfg_path, "--config", cfg_path, NULL);
    unlink(cfg_path);
    refused("--config: cannot open", "--config", cfg_path, NULL);
    refused("--config: /dev/null is not a regular file", "--config", "/dev/null", NULL);
}

/* ---- JSON ------------------------------------------------------------------- */

static void test_json_full(void **state)
{
    (void)state;
    struct vmm_config c;
    assert_int_equal(json(&c,
        "{\"kernel\":\"vmlinux\",\"initrd\":\"ird\",\"cmdline\":\"quiet\",\"memory\":1073741824,"
        "\"cpus\":\"8\",\"disks\":[\"a.img,ro\",{\"path\":\"b.img\"},{\"path\":\"c.img\",\"readonly\":false}],"
        "\"nets\":[\"tap=t0\",{\"tap\":\"t1\",\"mac\":\"52:54:00:00:00:01\"}],"
        "\"console\":\"none\",\"virtio_console\":\"stdio\",\"rng\":true,\"api_socket\":\"/s\","
        "\"no_reboot\":true,\"no_seccomp\":false,\"jail\":\"/j\",\"uid\":0,\"gid\":\"0\","
        "\"kvm_device\":\"/dev/kvm\"}"), 0);
    assert_string_equal(c.kernel, "vmlinux");
    assert_string_equal(c.initrd, "ird");
    assert_string_equal(c.cmdline, "quiet");
    assert_true(c.memory == GiB);
    assert_int_equal(c.cpus, 8);
    assert_int_equal(c.ndisks, 3);
    assert_true(c.disk[0].readonly);
    assert_string_equal(c.disk[1].path, "b.img");
    assert_false(c.disk[1].readonly);
    assert_string_equal(c.disk[2].path, "c.img");
    assert_int_equal(c.nnets, 2);
    assert_string_equal(c.net[1].tap, "t1");
    assert_int_equal(c.net[1].mac[5], 1);
    assert_int_equal(c.console.kind, CONSOLE_NONE);
    assert_int_equal(c.vconsole.kind, CONSOLE_STDIO);
    assert_true(c.rng && c.no_reboot && !c.no_seccomp);
    assert_string_equal(c.api_socket, "/s");
    assert_true(c.uid_set && c.gid_set && c.uid == 0 && c.gid == 0);
    assert_string_equal(c.kvm_device, "/dev/kvm");
    assert_int_equal(vmm_config_check(&c), 0);

    /* What vmm_config_to_json() prints reads back as the same settings. */
    struct json_object *o = vmm_config_to_json(&c);
    const char *text = json_object_to_json_string(o);
    struct vmm_config c2;
    assert_int_equal(json(&c2, text), 0);
    assert_string_equal(c2.kernel, c.kernel);
    assert_string_equal(c2.cmdline, c.cmdline);
    assert_true(c2.memory == c.memory && c2.cpus == c.cpus && c2.rng == c.rng);
    assert_int_equal(c2.ndisks, 3);
    assert_true(c2.disk[0].readonly && !c2.disk[2].readonly);
    assert_memory_equal(c2.net[1].mac, c.net[1].mac, 6);
    assert_int_equal(c2.vconsole.kind, CONSOLE_STDIO);
    json_object_put(o);
    vmm_config_free(&c2);
    vmm_config_free(&c);

    assert_int_equal(json(&c, " {}\n\n\t "), 0);
    assert_true(c.memory == 128 * MiB);
    vmm_config_free(&c);
}

static void test_json_errors(void **state)
{
    (void)state;
    json_refused("{\"kernel\":\"k\",\"ram\":\"1G\"}", "config: unknown key \"ram\"");
    json_refused("{\"kernel\":1}", "\"kernel\" must be a string");
    json_refused("{\"rng\":\"yes\"}", "\"rng\" must be true or false");
    json_refused("{\"memory\":true}", "\"memory\" must be a number or a string");
    json_refused("{\"memory\":-4096}", "\"memory\" must be a number or a string");
    json_refused("{\"memory\":1.5e9}", "\"memory\" must be a number or a string");
    json_refused("{\"memory\":\"12X\"}", "--memory: bad size '12X'");
    json_refused("{\"cpus\":0}", "must be a number from 1 to 254");
    json_refused("{\"cpus\":255}", "must be a number from 1 to 254");
    json_refused("{\"uid\":-1}", "\"uid\" must be a number or a string");
    json_refused("{\"console\":\"serial\"}", "console 'serial'");
    json_refused("{\"disks\":\"a.img\"}", "\"disks\" must be an array");
    json_refused("{\"disks\":[1]}", "\"disks\" items must be strings or objects");
    json_refused("{\"disks\":[{\"readonly\":true}]}", "a disk has no \"path\"");
    json_refused("{\"disks\":[{\"path\":\"\"}]}", "a disk has no \"path\"");
    json_refused("{\"disks\":[{\"path\":\"a\",\"cache\":\"none\"}]}", "unknown key \"disks[].cache\"");
    json_refused("{\"disks\":[{\"path\":\"a\",\"readonly\":1}]}", "\"disks[].readonly\" must be true or false");
    json_refused("{\"nets\":[{\"mac\":\"52:54:00:00:00:01\"}]}", "a net has no \"tap\"");
    json_refused("{\"nets\":[{\"tap\":\"t\",\"mac\":\"zz\"}]}", "bad MAC address 'zz'");
    json_refused("{\"nets\":[{\"tap\":\"t\",\"queues\":2}]}", "unknown key \"nets[].queues\"");
    json_refused("{\"nets\":[[]]}", "\"nets\" items must be strings or objects");

    json_refused("", "invalid JSON at byte 0: unexpected end");
    json_refused("{", "unexpected end");
    json_refused("{\"kernel\":}", "invalid JSON");
    json_refused("{} x", "trailing data after the JSON object at byte 3");
    json_refused("{}{}", "trailing data");
    json_refused("[]", "the top level must be a JSON object");
    json_refused("\"kernel\"", "the top level must be a JSON object");
    char deep[200] = "{\"disks\":";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    json_refused(deep, "invalid JSON");

    size_t big = MiB + 1;
    char *text = malloc(big);
    assert_non_null(text);
    memset(text, ' ', big);
    text[0] = '{', text[1] = '}';
    struct vmm_config c;
    vmm_config_init(&c);
    assert_int_equal(vmm_config_parse_json(&c, text, big), -EFBIG);
    assert_int_equal(vmm_config_parse_json(&c, text, MiB), 0);
    free(text);
    vmm_config_free(&c);
}

static void test_check(void **state)
{
    (void)state;
    struct vmm_config c;
    vmm_config_init(&c);
    assert_int_equal(vmm_config_check(&c), -EINVAL);
    assert_non_null(strstr(err_msg(), "no kernel given"));
    vmm_config_free(&c);

    assert_int_equal(parse(&c, "-k", "k", "--uid", "1", "--gid", "1", NULL), 0);
    assert_int_equal(vmm_config_check(&c), -EINVAL);
    assert_string_equal(err_msg(), "--uid and --gid need --jail DIR");
    vmm_config_free(&c);
    assert_int_equal(parse(&c, "-k", "k", "--jail", "/j", "--uid", "1", NULL), 0);
    assert_int_equal(vmm_config_check(&c), -EINVAL);
    assert_string_equal(err_msg(), "--uid and --gid go together");
    vmm_config_free(&c);
    assert_int_equal(parse(&c, "-k", "k", "--virtio-console", "stdio", NULL), 0);
    assert_int_equal(vmm_config_check(&c), -EINVAL);
    assert_non_null(strstr(err_msg(), "cannot both use stdio"));
    vmm_config_free(&c);
    assert_int_equal(parse(&c, "-k", "k", "--virtio-console", "stdio", "--console", "none", NULL), 0);
    assert_int_equal(vmm_config_check(&c), 0);
    vmm_config_free(&c);
}

/* ---- control API ------------------------------------------------------------ */

/* Sends one request line and returns the response, checked to be one JSON
 * object on one line whose "ok" is `ok`; error responses' text goes to *error. */
static struct json_object *api(const char *line, size_t len, bool ok, const char **error)
{
    static struct vmm v; /* no machine: between boots */
    char *out = vmm_api_handle(&v, line, len);
    assert_non_null(out);
    size_t n = strlen(out);
    assert_true(n > 2 && out[n - 1] == '\n');
    assert_null(memchr(out, '\n', n - 1));
    struct json_object *o = json_tokener_parse(out);
    free(out);
    assert_non_null(o);
    struct json_object *okv, *err;
    assert_true(json_object_object_get_ex(o, "ok", &okv));
    assert_true(json_object_is_type(okv, json_type_boolean));
    assert_int_equal(json_object_get_boolean(okv), ok);
    if (!ok) {
        assert_true(json_object_object_get_ex(o, "error", &err));
        *error = json_object_get_string(err);
    }
    return o;
}

static void api_error(const char *line, const char *msg)
{
    const char *e = NULL;
    struct json_object *o = api(line, strlen(line), false, &e);
    if (!strstr(e, msg))
        print_error("%s: expected '%s', got '%s'\n", line, msg, e);
    assert_non_null(strstr(e, msg));
    json_object_put(o);
}

static void test_api(void **state)
{
    (void)state;
    struct json_object *o = api("{\"cmd\":\"ping\"}", 14, true, NULL), *res;
    assert_true(json_object_object_get_ex(o, "result", &res));
    assert_true(json_object_is_type(res, json_type_object));
    json_object_put(o);
    /* Only `len` bytes count. */
    json_object_put(api("{\"cmd\":\"ping\"} and then garbage", 14, true, NULL));

    api_error("{\"cmd\":\"describe\"}", "the VM is not running");
    api_error("{\"cmd\":\"counters\"}", "not running");
    api_error("{\"cmd\":\"pause\"}", "not running");
    api_error("{\"cmd\":\"stop\"}", "not running");
    api_error("", "request is not valid JSON");
    api_error("{\"cmd\":", "request is not valid JSON");
    api_error("ping", "request is not valid JSON");
    api_error("{}", "request must be an object with a string \"cmd\"");
    api_error("{\"command\":\"ping\"}", "with a string \"cmd\"");
    api_error("{\"cmd\":42}", "with a string \"cmd\"");
    api_error("[\"ping\"]", "with a string \"cmd\"");
    api_error("\"ping\"", "with a string \"cmd\"");
    api_error("{\"cmd\":\"reboot\"}", "unknown command \"reboot\" (known: ping,");
    api_error("{\"cmd\":\"a\\nb\\\"c\"}", "unknown command");

    /* A long command name is cut in the message; the response stays one line. */
    char line[2100] = "{\"cmd\":\"";
    memset(line + 8, 'x', 2000);
    strcpy(line + 2008, "\"}");
    const char *e;
    o = api(line, strlen(line), false, &e);
    assert_true(strlen(e) < 200);
    json_object_put(o);
}

/* --migration-key: psktool's IDENTITY:HEXKEY, or a bare hex key. */
static void test_migration_key(void **state)
{
    (void)state;
    char path[] = "/tmp/corral-test-key.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    static const struct { const char *text; int ok; const char *identity; unsigned len; } cases[] = {
        { "corral:00112233445566778899aabbccddeeff\n", 1, "corral", 16 },
        { "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff", 1, "corral-migration", 32 },
        { "id:0011", 0, NULL, 0 },                                   /* too short */
        { "id:00112233445566778899aabbccddeefg", 0, NULL, 0 },       /* not hex */
        { "id:00112233445566778899aabbccddeef", 0, NULL, 0 },        /* odd length */
        { "", 0, NULL, 0 },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(cases[i].text, f);
        fclose(f);
        struct link_key k;
        int r = link_key_load(path, &k);
        if (!cases[i].ok) {    /* refused, and nothing of the key is left in K */
            assert_int_equal(r, -EINVAL);
            assert_int_equal(k.len, 0);
            assert_int_equal(k.identity[0], 0);
            assert_int_equal(k.key[1], 0);
            continue;
        }
        assert_int_equal(r, 0);
        assert_string_equal(k.identity, cases[i].identity);
        assert_int_equal(k.len, cases[i].len);
        assert_int_equal(k.key[0], 0x00);
        assert_int_equal(k.key[15], 0xff);
    }
    unlink(path);
    struct link_key k;
    assert_int_equal(link_key_load(path, &k), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_all_options),
        cmocka_unit_test(test_sizes_and_cpus),
        cmocka_unit_test(test_devices_options),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_config_file),
        cmocka_unit_test(test_json_full),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_migration_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
