/* The config.json parser of corral-oci: accepted configs become the right
 * struct, each kind of wrong value is refused with the field's path. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <cmocka.h>
#undef fail /* cmocka's fail() would hide util's */

#include "oci/oci.h"
#include "oci/oci_internal.h"
#include "util/util.h"

/* A minimal valid config with `extra` spliced into the top-level object and
 * `lx` into "linux". */
static int parse_with(struct oci_spec *s, const char *extra, const char *lx)
{
    char buf[8192];
    snprintf(buf, sizeof(buf),
             "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"rootfs\"},"
             " \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\"}%s%s,"
             " \"linux\": {\"namespaces\": [{\"type\": \"mount\"}]%s%s}}",
             *extra ? ", " : "", extra, *lx ? ", " : "", lx);
    return oci_spec_parse(buf, strlen(buf), s);
}

static void refused(const char *extra, const char *lx, const char *msg)
{
    struct oci_spec s;
    int r = parse_with(&s, extra, lx);
    if (r >= 0 || strcmp(err_msg(), msg) != 0)
        print_error("expected '%s', got r=%d '%s'\n", msg, r, err_msg());
    assert_true(r < 0);
    assert_string_equal(err_msg(), msg);
    oci_spec_free(&s);
}

static void test_minimal(void **state)
{
    (void)state;
    struct oci_spec s;
    assert_int_equal(parse_with(&s, "", ""), 0);
    assert_string_equal(s.root_path, "rootfs");
    assert_true(s.has_process);
    assert_string_equal(s.process.args[0], "sh");
    assert_null(s.process.args[1]);
    assert_null(s.process.env[0]);
    assert_false(s.process.caps.present);
    assert_non_null(oci_spec_ns(&s, CLONE_NEWNS));
    assert_null(oci_spec_ns(&s, CLONE_NEWPID));
    oci_spec_free(&s);
}

static void test_default_spec_parses(void **state)
{
    (void)state;
    json_object *o = oci_spec_default();
    assert_non_null(o);
    const char *text = json_object_to_json_string(o);
    struct oci_spec s;
    assert_int_equal(oci_spec_parse(text, strlen(text), &s), 0);
    assert_true(s.root_readonly);
    assert_string_equal(s.hostname, "corral");
    assert_int_equal(s.nns, 6);
    assert_true(s.process.no_new_privileges);
    assert_int_equal(s.process.caps.bounding, (1ULL << 29) | (1ULL << 5) | (1ULL << 10));
    assert_int_equal(s.nmounts, 7);
    /* /dev/pts: flags out of the options, the rest is filesystem data. */
    assert_string_equal(s.mounts[2].destination, "/dev/pts");
    assert_int_equal(s.mounts[2].flags, MS_NOSUID | MS_NOEXEC);
    assert_string_equal(s.mounts[2].data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
    assert_int_equal(s.mounts[5].flags, MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY);
    assert_null(s.mounts[5].data);
    oci_spec_free(&s);
    json_object_put(o);
}

static void test_process_fields(void **state)
{
    (void)state;
    struct oci_spec s;
    struct oci_spec *p = &s;
    /* Later "process" keys override the minimal one: json-c keeps the last. */
    assert_int_equal(parse_with(p,
        "\"process\": {\"args\": [\"/bin/x\", \"a b\"], \"cwd\": \"/tmp\", \"env\": [\"A=1\"],"
        " \"user\": {\"uid\": 1000, \"gid\": 1001, \"additionalGids\": [5, 6], \"umask\": 18},"
        " \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"soft\": 10, \"hard\": 18446744073709551615}],"
        " \"capabilities\": {\"bounding\": [\"CAP_KILL\", \"cap_chown\"], \"ambient\": []},"
        " \"noNewPrivileges\": true, \"oomScoreAdj\": -1000, \"unknownField\": {\"x\": 1}}", ""), 0);
    assert_string_equal(s.process.args[1], "a b");
    assert_string_equal(s.process.cwd, "/tmp");
    assert_string_equal(s.process.env[0], "A=1");
    assert_int_equal(s.process.uid, 1000);
    assert_int_equal(s.process.gid, 1001);
    assert_int_equal(s.process.ngids, 2);
    assert_int_equal(s.process.gids[1], 6);
    assert_true(s.process.has_umask);
    assert_int_equal(s.process.umask, 022);
    assert_int_equal(s.process.nrlimits, 1);
    assert_int_equal(s.process.rlimits[0].resource, RLIMIT_NOFILE);
    assert_true(s.process.rlimits[0].hard == UINT64_MAX);
    assert_true(s.process.caps.present);
    assert_int_equal(s.process.caps.bounding, (1ULL << 5) | 1ULL);
    assert_int_equal(s.process.caps.effective, 0);
    assert_true(s.process.no_new_privileges);
    assert_int_equal(s.process.oom_score_adj, -1000);
    oci_spec_free(&s);
}

static void test_linux_fields(void **state)
{
    (void)state;
    struct oci_spec s;
    assert_int_equal(parse_with(&s, "\"hostname\": \"h\"",
        "\"namespaces\": [{\"type\": \"mount\"}, {\"type\": \"uts\"}, {\"type\": \"user\"},"
        "  {\"type\": \"network\", \"path\": \"/run/netns/x\"}],"
        " \"uidMappings\": [{\"containerID\": 0, \"hostID\": 1000, \"size\": 10}],"
        " \"gidMappings\": [{\"containerID\": 0, \"hostID\": 1000, \"size\": 10}],"
        " \"devices\": [{\"path\": \"/dev/fuse\", \"type\": \"c\", \"major\": 10, \"minor\": 229}],"
        " \"maskedPaths\": [\"/proc/kcore\"], \"readonlyPaths\": [\"/proc/sys\"],"
        " \"sysctl\": {\"kernel.domainname\": \"d\"}, \"rootfsPropagation\": \"rprivate\","
        " \"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\"}"), 0);
    /* The "mount" given twice above: the later array replaces the first. */
    assert_int_equal(s.nns, 4);
    assert_string_equal(oci_spec_ns(&s, CLONE_NEWNET)->path, "/run/netns/x");
    assert_int_equal(s.uid_maps[0].host_id, 1000);
    assert_int_equal(s.devices[0].minor, 229);
    assert_int_equal(s.devices[0].mode, 0666);
    assert_string_equal(s.masked_paths[0], "/proc/kcore");
    assert_string_equal(s.sysctl_keys[0], "kernel.domainname");
    assert_string_equal(s.sysctl_values[0], "d");
    assert_int_equal(s.rootfs_propagation, MS_PRIVATE | MS_REC);
    assert_non_null(s.seccomp);
    oci_spec_free(&s);
}

static void test_refused(void **state)
{
    (void)state;
    refused("\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", \"rlimits\": ["
            "{\"type\": \"RLIMIT_CORE\", \"soft\": 1, \"hard\": 1},"
            "{\"type\": \"RLIMIT_FOO\", \"soft\": 1, \"hard\": 1}]}", "",
            "process.rlimits[1].type: unknown rlimit \"RLIMIT_FOO\"");
    refused("\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", \"rlimits\": ["
            "{\"type\": \"RLIMIT_CORE\", \"soft\": 2, \"hard\": 1}]}", "",
            "process.rlimits[0]: soft limit 2 is above the hard limit 1");
    refused("\"process\": {\"args\": [], \"cwd\": \"/\"}", "",
            "process.args: the program to run is missing");
    refused("\"process\": {\"args\": [\"sh\"], \"cwd\": \"tmp\"}", "",
            "process.cwd: \"tmp\" is not an absolute path");
    refused("\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", \"user\": {\"uid\": -1}}", "",
            "process.user.uid: -1 is out of range [0, 4294967295]");
    refused("\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", \"user\": {\"uid\": \"0\"}}", "",
            "process.user.uid: must be an integer");
    refused("\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", \"env\": [\"NOEQUALS\"]}", "",
            "process.env[0]: \"NOEQUALS\" is not NAME=VALUE");
    refused("\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", \"capabilities\": "
            "{\"effective\": [\"CAP_FLY\"]}}", "",
            "process.capabilities.effective[0]: unknown capability \"CAP_FLY\"");
    refused("\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", \"oomScoreAdj\": 1001}", "",
            "process.oomScoreAdj: 1001 is out of range [-1000, 1000]");
    refused("\"mounts\": [{\"destination\": \"/x\", \"source\": \"/y\"}]", "",
            "mounts[0].type: missing (and no bind option)");
    refused("\"mounts\": [{\"destination\": \"x\", \"type\": \"tmpfs\"}]", "",
            "mounts[0].destination: \"x\" is not an absolute path");
    refused("\"mounts\": [{\"destination\": \"/x\", \"type\": \"bind\"}]", "",
            "mounts[0].source: missing for a bind mount");
    refused("", "\"namespaces\": [{\"type\": \"mount\"}, {\"type\": \"pid\"}, {\"type\": \"pid\"}]",
            "linux.namespaces[2].type: \"pid\" given twice");
    refused("", "\"namespaces\": [{\"type\": \"pid\"}]",
            "linux.namespaces: a mount namespace is required");
    refused("\"hostname\": \"h\"", "", "hostname: setting it needs a uts namespace of the container's own");
    refused("", "\"namespaces\": [{\"type\": \"mount\"}, {\"type\": \"user\"}]",
            "linux.uidMappings: a new user namespace needs uidMappings and gidMappings");
    refused("", "\"sysctl\": {\"kernel.panic\": \"1\"}",
            "linux.sysctl: \"kernel.panic\" is not namespaced and cannot be set");
    refused("", "\"sysctl\": {\"net.ipv4.ip_forward\": \"1\"}",
            "linux.sysctl: \"net.ipv4.ip_forward\" needs a network namespace of the container's own");
    refused("", "\"devices\": [{\"path\": \"/dev/x\", \"type\": \"z\", \"major\": 1, \"minor\": 1}]",
            "linux.devices[0].type: \"z\" is not one of c, b, u, p");
    refused("", "\"rootfsPropagation\": \"sideways\"",
            "linux.rootfsPropagation: unknown propagation \"sideways\"");
    refused("", "\"uidMappings\": [{\"containerID\": 0, \"hostID\": 1, \"size\": 0}]",
            "linux.uidMappings[0].size: must be at least 1");
    refused("", "\"seccomp\": {\"defaultAction\": \"SCMP_ACT_NOPE\"}",
            "linux.seccomp.defaultAction: unknown action \"SCMP_ACT_NOPE\"");
    refused("", "\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": "
            "[\"read\"], \"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 9, \"value\": 1, "
            "\"op\": \"SCMP_CMP_EQ\"}]}]}",
            "linux.seccomp.syscalls[0].args[0].index: must be 0 to 5");
}

static void test_bad_documents(void **state)
{
    (void)state;
    static const char *const docs[][2] = {
        { "", "not valid JSON: unexpected end of input" },
        { "{\"ociVersion\": \"1.0.0\",", "not valid JSON: unexpected end of input" },
        { "[]", "config: must be a JSON object" },
        { "{} {}", "not valid JSON: text after the end of the object" },
        { "{}", "ociVersion: missing" },
        { "{\"ociVersion\": \"2.0.0\"}", "ociVersion: \"2.0.0\" is not supported (1.x is)" },
        { "{\"ociVersion\": \"1.0.0\"}", "root: missing or not an object" },
        { "{\"ociVersion\": \"1.0.0\", \"root\": {\"path\": 5}}", "root.path: must be a string" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(docs); i++) {
        struct oci_spec s;
        int r = oci_spec_parse(docs[i][0], strlen(docs[i][0]), &s);
        if (r >= 0 || strcmp(err_msg(), docs[i][1]) != 0)
            print_error("doc %zu: expected '%s', got r=%d '%s'\n", i, docs[i][1], r, err_msg());
        assert_true(r < 0);
        assert_string_equal(err_msg(), docs[i][1]);
        oci_spec_free(&s);
    }
}

static void test_signals_and_ids(void **state)
{
    (void)state;
    assert_int_equal(oci_signal_parse("KILL"), 9);
    assert_int_equal(oci_signal_parse("SIGKILL"), 9);
    assert_int_equal(oci_signal_parse("sigterm"), 15);
    assert_int_equal(oci_signal_parse("9"), 9);
    assert_int_equal(oci_signal_parse("RTMIN+2"), SIGRTMIN + 2);
    assert_int_equal(oci_signal_parse("0"), -1);
    assert_int_equal(oci_signal_parse("SIGFOO"), -1);
    assert_int_equal(oci_signal_parse("99"), -1);
    assert_int_equal(oci_validate_id("abc-1.2_3+4"), 0);
    assert_true(oci_validate_id("") < 0);
    assert_true(oci_validate_id("..") < 0);
    assert_true(oci_validate_id("a/b") < 0);
    char longid[300];
    memset(longid, 'a', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = 0;
    assert_true(oci_validate_id(longid) < 0);
}

/* ---- linux.resources, hooks, exec's process (step 2) ---- */

static void test_resources(void **state)
{
    (void)state;
    struct oci_spec s;
    assert_int_equal(parse_with(&s, "",
        "\"cgroupsPath\": \"/a/b\", \"resources\": {"
        " \"memory\": {\"limit\": 1048576, \"swap\": -1, \"swappiness\": 10,"
        "   \"disableOOMKiller\": true},"
        " \"cpu\": {\"shares\": 512, \"quota\": 20000, \"period\": 100000, \"cpus\": \"0-1\"},"
        " \"pids\": {\"limit\": 10},"
        " \"blockIO\": {\"weight\": 500, \"throttleReadBpsDevice\": [{\"major\": 8, \"minor\": 0,"
        "   \"rate\": 1000}]},"
        " \"hugepageLimits\": [{\"pageSize\": \"2MB\", \"limit\": 4194304}],"
        " \"devices\": [{\"allow\": false, \"access\": \"rwm\"},"
        "   {\"allow\": true, \"type\": \"c\", \"major\": 1, \"minor\": 3, \"access\": \"rw\"}],"
        " \"unified\": {\"memory.high\": \"max\"}}"), 0);
    const struct oci_resources *r = s.resources;
    assert_non_null(r);
    assert_string_equal(s.cgroups_path, "/a/b");
    assert_int_equal(r->mem_limit, 1048576);
    assert_int_equal(r->mem_swap, -1);
    assert_int_equal(r->mem_reservation, OCI_UNSET);
    assert_int_equal(r->mem_swappiness, 10);
    assert_int_equal(r->disable_oom_killer, 1);
    assert_int_equal(r->cpu_shares, 512);
    assert_int_equal(r->cpu_quota, 20000);
    assert_string_equal(r->cpus, "0-1");
    assert_null(r->mems);
    assert_int_equal(r->pids_limit, 10);
    assert_int_equal(r->blkio_weight, 500);
    assert_int_equal(r->nthrottle[OCI_THROTTLE_READ_BPS], 1);
    assert_int_equal(r->throttle[OCI_THROTTLE_READ_BPS][0].major, 8);
    assert_int_equal(r->throttle[OCI_THROTTLE_READ_BPS][0].rate, 1000);
    assert_string_equal(r->hugepages[0].page_size, "2MB");
    assert_true(r->has_devices);
    assert_int_equal(r->ndevices, 2);
    assert_false(r->devices[0].allow);
    assert_int_equal(r->devices[0].type, 'a');
    assert_int_equal(r->devices[0].major, -1);
    assert_string_equal(r->devices[1].access, "rw");
    assert_string_equal(r->unified_keys[0], "memory.high");
    assert_string_equal(r->unified_values[0], "max");
    oci_spec_free(&s);

    refused("", "\"resources\": {\"memory\": {\"limit\": \"1g\"}}",
            "linux.resources.memory.limit: must be an integer");
    refused("", "\"resources\": {\"memory\": {\"swappiness\": 101}}",
            "linux.resources.memory.swappiness: 101 is out of range [0, 100]");
    refused("", "\"resources\": {\"cpu\": {\"cpus\": \"0\\n1\"}}",
            "linux.resources.cpu.cpus: \"0\n1\" is not a list like \"0-3,7\"");
    refused("", "\"resources\": {\"hugepageLimits\": [{\"pageSize\": \"../x\", \"limit\": 1}]}",
            "linux.resources.hugepageLimits[0].pageSize: \"../x\" is not a size like \"2MB\"");
    refused("", "\"resources\": {\"devices\": [{\"access\": \"r\"}]}",
            "linux.resources.devices[0].allow: missing");
    refused("", "\"resources\": {\"devices\": [{\"allow\": true, \"access\": \"rx\"}]}",
            "linux.resources.devices[0].access: must be letters of \"rwm\"");
    refused("", "\"resources\": {\"unified\": {\"../memory.max\": \"1\"}}",
            "linux.resources.unified.../memory.max: not a cgroup file name");
    refused("", "\"resources\": {\"blockIO\": {\"weightDevice\": [{\"major\": 8}]}}",
            "linux.resources.blockIO.weightDevice[0].minor: missing");
    refused("", "\"resources\": {\"rdma\": {\"mlx\": {}}}",
            "linux.resources.rdma: not supported");

    /* The same parser reads `update -r`, with its own prefix. */
    struct oci_resources u;
    json_object *o = json_tokener_parse("{\"pids\": {\"limit\": \"x\"}}");
    assert_true(oci_resources_parse(o, "res.json", &u) < 0);
    assert_string_equal(err_msg(), "res.json.pids.limit: must be an integer");
    json_object_put(o);
}

static void test_v1_to_v2(void **state)
{
    (void)state;
    assert_int_equal(oci_shares_to_weight(0), 0);
    assert_int_equal(oci_shares_to_weight(2), 1);
    assert_int_equal(oci_shares_to_weight(1024), 39);
    assert_int_equal(oci_shares_to_weight(262144), 10000);
    assert_int_equal(oci_blkio_to_io_weight(0), 0);
    assert_int_equal(oci_blkio_to_io_weight(10), 1);
    assert_int_equal(oci_blkio_to_io_weight(500), 4950);
    assert_int_equal(oci_blkio_to_io_weight(1000), 10000);
}

static void test_hooks(void **state)
{
    (void)state;
    struct oci_spec s;
    assert_int_equal(parse_with(&s, "\"hooks\": {\"createRuntime\": [{\"path\": \"/bin/h\","
                                    " \"args\": [\"h\", \"x\"], \"env\": [\"A=1\"], \"timeout\": 5}],"
                                    " \"poststop\": [{\"path\": \"/bin/p\"}]}", ""), 0);
    assert_int_equal(s.hooks.n[OCI_HOOK_CREATE_RUNTIME], 1);
    const struct oci_hook *h = &s.hooks.list[OCI_HOOK_CREATE_RUNTIME][0];
    assert_string_equal(h->path, "/bin/h");
    assert_string_equal(h->args[1], "x");
    assert_string_equal(h->env[0], "A=1");
    assert_int_equal(h->timeout, 5);
    assert_int_equal(s.hooks.n[OCI_HOOK_POSTSTOP], 1);
    assert_null(s.hooks.list[OCI_HOOK_POSTSTOP][0].args);
    assert_int_equal(s.hooks.n[OCI_HOOK_PRESTART], 0);
    assert_string_equal(oci_hook_name(OCI_HOOK_START_CONTAINER), "startContainer");
    oci_spec_free(&s);
    refused("\"hooks\": {\"poststart\": [{\"path\": \"rel\"}]}", "",
            "hooks.poststart[0].path: \"rel\" is not an absolute path");
    refused("\"hooks\": {\"poststart\": [{\"path\": \"/x\", \"timeout\": 0}]}", "",
            "hooks.poststart[0].timeout: 0 is out of range [1, 86400]");
    refused("\"hooks\": {\"createContainer\": {}}", "",
            "hooks.createContainer: must be an array");
}

static void test_process_json(void **state)
{
    (void)state;
    struct oci_process p;
    const char *ok = "{\"args\": [\"sh\"], \"cwd\": \"/tmp\", \"user\": {\"uid\": 5}}";
    assert_int_equal(oci_process_parse(ok, strlen(ok), &p), 0);
    assert_string_equal(p.args[0], "sh");
    assert_string_equal(p.cwd, "/tmp");
    assert_int_equal(p.uid, 5);
    oci_process_free(&p);
    const char *bad = "{\"args\": [], \"cwd\": \"/\"}";
    assert_true(oci_process_parse(bad, strlen(bad), &p) < 0);
    assert_string_equal(err_msg(), "process.args: the program to run is missing");
    assert_true(oci_process_parse("{", 1, &p) < 0);
}

/* What podman writes: type bits in fileMode, "tmpcopyup", net.* sysctls in
 * a network namespace joined by path. */
static void test_podman_fields(void **state)
{
    (void)state;
    struct oci_spec s;
    assert_int_equal(parse_with(&s,
        "\"mounts\": [{\"destination\": \"/scratch\", \"type\": \"tmpfs\", \"source\": \"tmpfs\","
        "  \"options\": [\"rw\", \"tmpcopyup\", \"size=1m\", \"nosuid\"]}]",
        "\"namespaces\": [{\"type\": \"mount\"}, {\"type\": \"network\", \"path\": \"/run/netns/x\"}],"
        " \"sysctl\": {\"net.ipv4.ping_group_range\": \"0 0\"},"
        " \"devices\": [{\"path\": \"/dev/z\", \"type\": \"c\", \"major\": 1, \"minor\": 5,"
        "   \"fileMode\": 8630}, {\"path\": \"/dev/b\", \"type\": \"b\", \"major\": 7, \"minor\": 0,"
        "   \"fileMode\": 25008}, {\"path\": \"/dev/p\", \"type\": \"p\", \"fileMode\": 4516}]"), 0);
    assert_true(s.mounts[0].copyup);
    assert_string_equal(s.mounts[0].data, "size=1m");   /* tmpcopyup is not for mount(2) */
    assert_int_equal(s.mounts[0].flags, MS_NOSUID);
    assert_int_equal(s.devices[0].mode, 0666);          /* 020666 */
    assert_int_equal(s.devices[1].mode, 0660);          /* 060660 */
    assert_int_equal(s.devices[2].mode, 0644);          /* 010644 */
    assert_string_equal(s.sysctl_keys[0], "net.ipv4.ping_group_range");
    oci_spec_free(&s);

    /* At create time: a joined namespace that is the host's is refused. */
    assert_int_equal(parse_with(&s, "",
        "\"namespaces\": [{\"type\": \"mount\"}, {\"type\": \"network\", \"path\": \"/proc/self/ns/net\"}],"
        " \"sysctl\": {\"net.ipv4.ip_forward\": \"1\"}"), 0);
    assert_true(spec_check_host_ns(&s) < 0);
    assert_string_equal(err_msg(), "linux.sysctl: \"net.ipv4.ip_forward\" is not allowed in the "
                                   "host's network namespace (/proc/self/ns/net)");
    oci_spec_free(&s);
    assert_int_equal(parse_with(&s, "\"hostname\": \"h\"",
        "\"namespaces\": [{\"type\": \"mount\"}, {\"type\": \"uts\", \"path\": \"/proc/self/ns/uts\"}]"), 0);
    assert_true(spec_check_host_ns(&s) < 0);
    assert_string_equal(err_msg(), "hostname: not allowed in the host's uts namespace "
                                   "(/proc/self/ns/uts)");
    oci_spec_free(&s);
    assert_int_equal(parse_with(&s, "",
        "\"namespaces\": [{\"type\": \"mount\"}, {\"type\": \"ipc\", \"path\": \"/nonexistent/ipc\"}],"
        " \"sysctl\": {\"kernel.shmmax\": \"1\"}"), 0);
    assert_int_equal(spec_check_host_ns(&s), -ENOENT);
    oci_spec_free(&s);
    assert_int_equal(parse_with(&s, "",
        "\"namespaces\": [{\"type\": \"mount\"}, {\"type\": \"network\"}],"
        " \"sysctl\": {\"net.ipv4.ip_forward\": \"1\"}"), 0);
    assert_int_equal(spec_check_host_ns(&s), 0);
    oci_spec_free(&s);

    refused("", "\"devices\": [{\"path\": \"/dev/x\", \"type\": \"c\", \"major\": 1, \"minor\": 3,"
            " \"fileMode\": 25014}]",   /* 060666: a block device's type bits */
            "linux.devices[0].fileMode: 60666 is not a permission mode of a \"c\" device");
    refused("", "\"devices\": [{\"path\": \"/dev/x\", \"type\": \"c\", \"major\": 1, \"minor\": 3,"
            " \"fileMode\": 65974}]",   /* 0200666: beyond S_IFMT */
            "linux.devices[0].fileMode: 200666 is not a permission mode of a \"c\" device");
    refused("", "\"devices\": [{\"path\": \"/dev/x\", \"type\": \"p\", \"fileMode\": 33206}]",
            "linux.devices[0].fileMode: 100666 is not a permission mode of a \"p\" device");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal),
        cmocka_unit_test(test_default_spec_parses),
        cmocka_unit_test(test_process_fields),
        cmocka_unit_test(test_linux_fields),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_bad_documents),
        cmocka_unit_test(test_signals_and_ids),
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_v1_to_v2),
        cmocka_unit_test(test_hooks),
        cmocka_unit_test(test_process_json),
        cmocka_unit_test(test_podman_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
