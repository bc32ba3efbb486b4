/* corrald's request pipeline without a server: routing and path checks,
 * names, the envelopes, strict body fields, CSRF and roles; the limits on
 * anonymous connections (connguard.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/server.h"
#include "http/connguard.h"
#include "server/lifecycle.h"
#include "server/usage.h"
#include "server/scrollback.h"
#include "driver/driver.h"
#include "net/net.h"
#include "proc/proc.h"

const char *err_msg(void);    /* util.h's fail() clashes with cmocka's */

static const struct route *match(const char *method, const char *path, struct req *r, enum api_err *err)
{
    memset(r, 0, sizeof(*r));
    r->method = method;
    r->path = path;
    return route_match(routes, routes_count, r, err);
}

static void test_routes(void **state)
{
    (void)state;
    struct req r;
    enum api_err err;
    const struct route *rt = match("GET", "/api/v1/pools/p1/volumes/v-2", &r, &err);
    assert_non_null(rt);
    assert_string_equal(rt->path, "/api/v1/pools/{pool}/volumes/{volume}");
    assert_string_equal(r.param[0], "p1");
    assert_string_equal(r.param[1], "v-2");
    assert_non_null(match("POST", "/api/v1/auth/login", &r, &err));
    rt = match("HEAD", "/api/v1/pools/p1", &r, &err);    /* HEAD is GET without the body */
    assert_non_null(rt);
    assert_string_equal(rt->method, "GET");
    assert_string_equal(r.param[0], "p1");
    assert_null(match("HEAD", "/api/v1/auth/login", &r, &err));
    assert_int_equal(err, E_METHOD_NOT_ALLOWED);
    assert_null(match("PUT", "/api/v1/pools", &r, &err));
    assert_int_equal(err, E_METHOD_NOT_ALLOWED);
    assert_null(match("GET", "/api/v1/nothing", &r, &err));
    assert_int_equal(err, E_NOT_FOUND);
    assert_null(match("GET", "/api/v1/pools/", &r, &err));    /* trailing slash: empty segment */
    assert_int_equal(err, E_BAD_PATH);
    static const char *const tricks[] = {
        "/api/v1/pools/..", "/api/v1/pools/./x", "/api/v1//pools", "/api/v1/pools/a%2fb",
        "/api/v1/pools/%2e%2e", "api/v1/pools", "/api/v1/pools/a b", "/api/v1/pools/a\\b", "",
    };
    for (size_t i = 0; i < sizeof(tricks) / sizeof(tricks[0]); i++) {
        assert_null(match("GET", tricks[i], &r, &err));
        assert_int_equal(err, E_BAD_PATH);
    }
    /* Every route's role is a real role; only login is open. */
    for (size_t i = 0; i < routes_count; i++)
        assert_true(routes[i].role != ROLE_NONE || !strcmp(routes[i].path, "/api/v1/auth/login"));
}

static void test_names(void **state)
{
    (void)state;
    assert_true(name_valid("a"));
    assert_true(name_valid("0-base-image"));
    /* api_word_in: whole words only */
    assert_true(api_word_in("paused", "running paused"));
    assert_true(api_word_in("running", "running or paused"));
    assert_false(api_word_in("run", "running paused"));
    assert_false(api_word_in("unpaused", "running paused"));
    assert_false(api_word_in("used", "running paused"));
    assert_false(api_word_in("", "running paused"));
    assert_false(api_word_in("stop", "stopped"));
    char long63[64], long64[65];
    memset(long63, 'a', 63), long63[63] = 0;
    memset(long64, 'a', 64), long64[64] = 0;
    assert_true(name_valid(long63));
    assert_false(name_valid(long64));
    static const char *const bad[] = { "", "-a", "A", "a_b", "a.b", "a/b", "..", "é", "a b", NULL };
    for (int i = 0; bad[i]; i++)
        assert_false(name_valid(bad[i]));
    assert_false(name_valid(NULL));
}

static struct json_object *member(struct json_object *o, const char *path)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
        o = json_object_object_get(o, k);
    return o;
}

static void test_envelopes(void **state)
{
    (void)state;
    struct resp out = { 0 };
    assert_int_equal(api_error(&out, E_BAD_NAME, "bad %s", "x"), 400);
    assert_string_equal(json_object_get_string(member(out.body, "type")), "error");
    assert_int_equal(json_object_get_int(member(out.body, "status_code")), 400);
    assert_string_equal(json_object_get_string(member(out.body, "error.code")), "bad_name");
    assert_string_equal(json_object_get_string(member(out.body, "error.message")), "bad x");
    assert_int_equal(api_sync(&out, 201, json_object_new_int(5)), 201);
    assert_string_equal(json_object_get_string(member(out.body, "type")), "sync");
    assert_int_equal(json_object_get_int(member(out.body, "metadata")), 5);
    resp_free(&out);
    /* Every error code is distinct and has an HTTP error status. */
    for (int a = E_BAD_JSON; a <= E_UNAVAILABLE; a++) {
        assert_true(api_err_status(a) >= 400);
        for (int b = a + 1; b <= E_UNAVAILABLE; b++)
            assert_string_not_equal(api_err_code(a), api_err_code(b));
    }
    char e1[24], e2[24];
    struct json_object *o = json_tokener_parse("{\"a\":1}"), *p = json_tokener_parse("{\"a\":2}");
    api_etag(o, e1);
    api_etag(p, e2);
    assert_string_not_equal(e1, e2);
    struct req r = { .if_match = e2 };
    assert_int_equal(api_check_if_match(&r, o, &out), 412);
    resp_free(&out);
    r.if_match = e1;
    assert_int_equal(api_check_if_match(&r, o, &out), 0);
    json_object_put(o);
    json_object_put(p);
}

static int fields(const char *body, struct resp *out, const char **name, uint64_t *size, bool *flag)
{
    struct req r = { .json = json_tokener_parse(body) };
    const struct field f[] = {
        { "name", F_STRING, true, name, NULL },
        { "size", F_SIZE, false, size, NULL },
        { "flag", F_BOOL, false, flag, NULL },
    };
    int rc = api_fields(&r, f, 3, out);
    json_object_put(r.json);
    return rc;
}

static void test_fields(void **state)
{
    (void)state;
    struct resp out = { 0 };
    const char *name = NULL;
    uint64_t size = 0;
    bool flag = false;
    assert_int_equal(fields("{\"name\":\"a\",\"size\":\"2G\",\"flag\":true}", &out, &name, &size, &flag), 0);
    assert_int_equal(size, 2ULL << 30);
    assert_true(flag);
    assert_int_equal(fields("{\"name\":\"a\",\"extra\":1}", &out, &name, &size, &flag), 400);
    assert_string_equal(json_object_get_string(member(out.body, "error.code")), "unknown_field");
    assert_int_equal(fields("{\"size\":1}", &out, &name, &size, &flag), 400);
    assert_string_equal(json_object_get_string(member(out.body, "error.code")), "missing_field");
    assert_int_equal(fields("{\"name\":5}", &out, &name, &size, &flag), 400);
    assert_string_equal(json_object_get_string(member(out.body, "error.code")), "bad_field");
    assert_int_equal(fields("{\"name\":\"a\",\"size\":-1}", &out, &name, &size, &flag), 400);
    assert_int_equal(fields("{\"name\":\"a\",\"size\":\"1.5G\"}", &out, &name, &size, &flag), 400);
    assert_int_equal(fields("{\"name\":\"a\",\"flag\":\"yes\"}", &out, &name, &size, &flag), 400);
    resp_free(&out);
}

/* The pipeline's front half, with no server: auth failures and body checks. */
static int handle(const char *method, const char *path, const char *body, enum role role,
                  enum auth_kind kind, const char *csrf, struct resp *out)
{
    struct req r = { .method = method, .path = path, .body = body, .body_len = body ? strlen(body) : 0,
                     .content_type = "application/json", .csrf_token = csrf, .peer_uid = -1 };
    r.who.kind = kind;
    r.who.role = role;
    snprintf(r.who.csrf, sizeof(r.who.csrf), "secret-csrf");
    api_handle(NULL, &r, out);
    json_object_put(r.json);
    return out->status;
}

static void test_pipeline(void **state)
{
    (void)state;
    struct resp out;
    assert_int_equal(handle("GET", "/api/v1/pools", NULL, ROLE_NONE, AUTH_ANON, NULL, &out), 401);
    resp_free(&out);
    assert_int_equal(handle("GET", "/api/v1/nothing", NULL, ROLE_NONE, AUTH_ANON, NULL, &out), 401);
    resp_free(&out);
    assert_int_equal(handle("POST", "/api/v1/pools", "{}", ROLE_AUDITOR, AUTH_TOKEN, NULL, &out), 403);
    resp_free(&out);
    assert_int_equal(handle("DELETE", "/api/v1/pools/p", NULL, ROLE_OPERATOR, AUTH_TOKEN, NULL, &out), 403);
    resp_free(&out);
    assert_int_equal(handle("POST", "/api/v1/pools", "{}", ROLE_ADMIN, AUTH_SESSION, NULL, &out), 403);
    assert_string_equal(json_object_get_string(member(out.body, "error.code")), "csrf_token_required");
    resp_free(&out);
    assert_int_equal(handle("POST", "/api/v1/pools", "{}", ROLE_ADMIN, AUTH_SESSION, "wrong-csrf!", &out), 403);
    resp_free(&out);
    assert_int_equal(handle("POST", "/api/v1/pools", "{}", ROLE_ADMIN, AUTH_SESSION, "secret-csrf", &out), 200);
    resp_free(&out);
    assert_int_equal(handle("POST", "/api/v1/pools", "{}", ROLE_ADMIN, AUTH_TOKEN, NULL, &out), 200);
    resp_free(&out);
    static const char *const bad_json[] = { "{", "[1]", "{\"a\":1} x", "{\"a\":1}{}", "nul", "{'a':1}", NULL };
    for (int i = 0; bad_json[i]; i++) {
        assert_int_equal(handle("POST", "/api/v1/pools", bad_json[i], ROLE_ADMIN, AUTH_TOKEN, NULL, &out), 400);
        assert_string_equal(json_object_get_string(member(out.body, "error.code")), "bad_json");
        resp_free(&out);
    }
    assert_int_equal(handle("GET", "/api/v1/pools", "{}", ROLE_ADMIN, AUTH_TOKEN, NULL, &out), 400);
    resp_free(&out);
    assert_int_equal(handle("GET", "/api/v1/pools/a%2fb", NULL, ROLE_ADMIN, AUTH_TOKEN, NULL, &out), 400);
    assert_string_equal(json_object_get_string(member(out.body, "error.code")), "bad_path");
    resp_free(&out);
}

static void test_firewall_ruleset(void **state)
{
    (void)state;
    const struct net_spec nets[] = {
        { "na", "cbr000001", "10.1.0.0/24", "10.1.0.1", false },
        { "nb", "cbr000002", "10.2.0.0/16", "10.2.0.1", true },
    };
    /* The table is named after the state directory: corral_ and 8 hex digits. */
    struct net_host *h;
    assert_int_equal(net_host_new("/var/lib/corral-unit-test", &h), 0);
    struct json_object *fw = firewall_describe(h);
    char t[64], want[256];
    snprintf(t, sizeof(t), "%s", json_object_get_string(json_object_object_get(fw, "table")));
    json_object_put(fw);
    assert_int_equal(strlen(t), 15);
    assert_int_equal(strncmp(t, "corral_", 7), 0);
    char *r = firewall_ruleset(h, nets, 2);
    assert_non_null(r);
    /* Replaced whole, even on the first load. */
    snprintf(want, sizeof(want), "table inet %s {}\ndelete table inet %s\ntable inet %s {\n", t, t, t);
    assert_non_null(strstr(r, want));
    assert_non_null(strstr(r, "type filter hook input priority filter; policy accept;"));
    /* Per bridge: DHCP and the own gateway pass, in this order, then the rest is dropped. */
    const char *dhcp = strstr(r, "iifname \"cbr000001\" udp dport 67 accept");
    const char *gw = strstr(r, "iifname \"cbr000001\" ip daddr 10.1.0.1 accept");
    const char *drop = strstr(r, "iifname \"cbr000001\" counter drop");
    assert_true(dhcp && gw && drop && dhcp < gw && gw < drop);
    assert_non_null(strstr(r, "iifname \"cbr000002\" ip daddr 10.2.0.1 accept"));
    assert_null(strstr(r, "ip daddr 10.2.0.1 accept\n    iifname \"cbr000001\""));
    /* Routing: na (no NAT) neither in nor out, save within its bridge; nb
     * (NAT) out to anywhere but a network, replies in, masqueraded. */
    const char *fwd = strstr(r, "type filter hook forward priority filter; policy accept;");
    const char *within = strstr(r, "iifname \"cbr000001\" oifname \"cbr000001\" accept");
    const char *in_a = strstr(r, "iifname \"cbr000001\" counter drop\n    oifname \"cbr000001\" counter drop");
    assert_true(fwd && within && in_a && fwd < within && within < in_a && drop < fwd);
    const char *out_b = strstr(r, "iifname \"cbr000002\" ip saddr 10.2.0.0/16 oifname != { \"cbr000001\", \"cbr000002\" } accept");
    const char *reply_b = strstr(r, "oifname \"cbr000002\" ct state established,related accept");
    const char *drop_b = strstr(r, "iifname \"cbr000002\" counter drop\n    oifname \"cbr000002\" counter drop");
    assert_true(out_b && reply_b && drop_b && out_b < reply_b && reply_b < drop_b);
    assert_null(strstr(r, "iifname \"cbr000001\" ip saddr"));
    assert_non_null(strstr(r, "type nat hook postrouting priority srcnat; policy accept;\n"
                              "    ip saddr 10.2.0.0/16 oifname != \"cbr000002\" masquerade"));
    assert_null(strstr(r, "ip saddr 10.1.0.0/24 oifname"));
    free(r);
    r = firewall_ruleset(h, nets, 1);       /* no NAT network: no nat chain */
    assert_non_null(r);
    assert_null(strstr(r, "postrouting"));
    free(r);
    r = firewall_ruleset(h, NULL, 0);       /* no networks: the table goes */
    assert_non_null(r);
    snprintf(want, sizeof(want), "table inet %s {}\ndelete table inet %s\n", t, t);
    assert_string_equal(r, want);
    free(r);
    net_host_free(h);
}

static void test_proc(void **state)
{
    (void)state;
    char cat[256], falsebin[256], sleepbin[256];
    assert_true(proc_find("cat", cat, sizeof(cat)));
    assert_true(proc_find("false", falsebin, sizeof(falsebin)));
    assert_true(proc_find("sleep", sleepbin, sizeof(sleepbin)));
    char none[256];
    assert_false(proc_find("no-such-program-here", none, sizeof(none)));
    assert_string_equal(none, "");
    char *cat_argv[] = { cat, NULL };
    assert_int_equal(proc_run(cat_argv, "input\n"), 0);
    char *false_argv[] = { falsebin, NULL };
    assert_int_equal(proc_run(false_argv, ""), -EIO);
    char *none_argv[] = { "/nonexistent/prog", NULL };
    assert_int_equal(proc_run(none_argv, ""), -ENOENT);

    /* A detached process is recognized by pid and start time, and gone once killed. */
    char log[] = "/tmp/corral-test-proc.XXXXXX";
    int fd = mkstemp(log);
    assert_true(fd >= 0);
    close(fd);
    char *sleep_argv[] = { sleepbin, "30", NULL };
    pid_t pid;
    assert_int_equal(proc_spawn(sleep_argv, log, NULL, 0, &pid), 0);
    uint64_t start = proc_start_time(pid);
    assert_true(start > 0);
    assert_true(proc_alive(pid, start));
    assert_false(proc_alive(pid, start + 1));
    assert_false(proc_wait_gone(pid, start, 0));
    kill(pid, SIGKILL);
    assert_true(proc_wait_gone(pid, start, 5000));
    assert_int_equal(proc_spawn(none_argv, log, NULL, 0, &pid), -ENOENT);

    /* Passed fds arrive as 3, 4, …, whatever their numbers here; no other does. */
    char data[] = "/tmp/corral-test-data.XXXXXX";
    int dfd = mkstemp(data);
    assert_true(dfd >= 0);
    assert_int_equal(write(dfd, "from-fd-3\n", 10), 10);
    int keep = open(data, O_RDONLY | O_CLOEXEC);
    assert_true(keep >= 0);
    char *cat2_argv[] = { cat, "/proc/self/fd/3", NULL };
    assert_int_equal(proc_spawn(cat2_argv, log, &keep, 1, &pid), 0);
    assert_true(proc_wait_gone(pid, proc_start_time(pid), 5000));
    char out[64] = "";
    int lfd = open(log, O_RDONLY);
    for (int i = 0; i < 50 && read(lfd, out, sizeof(out) - 1) <= 0; i++)
        usleep(20000);
    close(lfd);
    assert_string_equal(out, "from-fd-3\n");
    char *cat4_argv[] = { cat, "/proc/self/fd/4", NULL };
    assert_int_equal(proc_spawn(cat4_argv, log, &keep, 1, &pid), 0);    /* only one was passed */
    assert_true(proc_wait_gone(pid, proc_start_time(pid), 5000));
    struct stat st;
    assert_int_equal(stat(log, &st), 0);
    usleep(100000);
    memset(out, 0, sizeof(out));
    lfd = open(log, O_RDONLY);
    assert_true(read(lfd, out, sizeof(out) - 1) >= 0);
    close(lfd);
    assert_null(strstr(out, "from-fd-3"));
    close(keep);
    close(dfd);
    unlink(data);
    unlink(log);
}

static void test_hostpath_rules(void **state)
{
    (void)state;
    assert_true(hostpath_under("/a/b", "/a"));
    assert_true(hostpath_under("/a", "/a"));
    assert_true(hostpath_under("/x", "/"));
    assert_false(hostpath_under("/ab", "/a"));
    assert_false(hostpath_under("/a", "/a/b"));
    char why[512];
    const char *state_dir = "/var/lib/corral";
    static const char *const refused[] = { "/", "/etc", "/etc/x", "/proc", "/sys/fs", "/dev", "/run/x", "/boot",
                                           "/usr", "/usr/lib/x", "/bin", "/lib64", "/root/p", "/var/log/p",
                                           "/var/lib/corral", "/var/lib/corral/tls", "/var/lib", "/var", "/tmp",
                                           "/home", "/srv" };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        why[0] = 0;
        assert_true(hostpath_pool_refused(refused[i], state_dir, why, sizeof(why)));
        assert_true(why[0]);
    }
    assert_true(hostpath_pool_refused("/etc/p", state_dir, why, sizeof(why)));
    assert_string_equal(why, "is under the system directory /etc");
    assert_true(hostpath_pool_refused("/var/lib/corral/tls", state_dir, why, sizeof(why)));
    assert_non_null(strstr(why, "state directory /var/lib/corral"));
    assert_true(hostpath_pool_refused("/var/lib", state_dir, why, sizeof(why)));
    assert_non_null(strstr(why, "shared directory"));
    assert_true(hostpath_pool_refused("/data", "/data/corral", why, sizeof(why)));
    assert_string_equal(why, "holds corrald's state directory /data/corral");
    static const char *const fine[] = { "/srv/pools", "/var/lib/corral-pools", "/tmp/p1", "/home/vm/pool",
                                        "/data/pool", "/var/tmp/x", "/etcetera" };
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++)
        assert_false(hostpath_pool_refused(fine[i], state_dir, why, sizeof(why)));
}

/* A scratch tree: an allowed directory with a file, a directory, links
 * that stay inside and links that lead out; the state directory. */
static void test_hostpath_open(void **state)
{
    (void)state;
    char root[] = "/tmp/corral-test-hostpath.XXXXXX", p[256], st[128], allow[128];
    assert_non_null(mkdtemp(root));
    snprintf(st, sizeof(st), "%s/state", root);
    snprintf(allow, sizeof(allow), "%s/ok", root);
    assert_int_equal(mkdir(st, 0700), 0);
    assert_int_equal(mkdir(allow, 0700), 0);
    snprintf(p, sizeof(p), "%s/secret", st);
    FILE *f = fopen(p, "w");
    fputs("secret", f);
    fclose(f);
    snprintf(p, sizeof(p), "%s/k", allow);
    f = fopen(p, "w");
    fputs("kernel", f);
    fclose(f);
    snprintf(p, sizeof(p), "%s/d", allow);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof(p), "%s/in", allow);
    assert_int_equal(symlink("k", p), 0);
    snprintf(p, sizeof(p), "%s/etc", allow);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    snprintf(p, sizeof(p), "%s/up", allow);
    assert_int_equal(symlink("../state/secret", p), 0);

    struct hostpaths h;
    const char *allows[] = { allow }, *bad[] = { "/etc" }, *slash[] = { "/" }, *in_state[] = { st };
    assert_int_equal(hostpaths_init(&h, st, bad, 1, NULL, 0), -EINVAL);
    assert_int_equal(hostpaths_init(&h, st, slash, 1, NULL, 0), -EINVAL);
    assert_int_equal(hostpaths_init(&h, st, in_state, 1, NULL, 0), -EINVAL);
    assert_int_equal(hostpaths_init(&h, st, allows, 1, NULL, 0), 0);
    assert_string_equal(hostpath_allowed(&h, p), allow);
    assert_null(hostpath_allowed(&h, "/etc/passwd"));
    assert_string_equal(hostpath_never(&h, "/etc/passwd"), "/etc");
    assert_string_equal(hostpath_never(&h, "/proc/1/environ"), "/proc");
    assert_null(hostpath_never(&h, allow));
    char text[64];
    hostpath_allow_text(&h, text, sizeof(text));
    assert_string_equal(text, allow);

    /* answered 400 (EINVAL) or 403 (EACCES) by api_field_errno() */
    struct { const char *rel; bool dir_ok; int rc, status; } cases[] = {
        { "/ok/k", false, 0, 0 }, { "/ok/in", false, 0, 0 }, { "/ok/d", true, 0, 0 }, { "/ok", true, 0, 0 },
        { "/ok/d", false, -EINVAL, 400 }, { "/ok/nope", false, -EINVAL, 400 }, { "/ok/etc", false, -EINVAL, 400 },
        { "/ok/up", false, -EINVAL, 400 }, { "/state/secret", false, -EACCES, 403 },
        { "/elsewhere", false, -EACCES, 403 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct resp out = { 0 };
        int fd = -1;
        snprintf(p, sizeof(p), "%s%s", root, cases[i].rel);
        int rc = hostpath_open(&h, "f", p, cases[i].dir_ok, &fd);
        assert_int_equal(rc, cases[i].rc);
        assert_true(rc ? fd == -1 : fd >= 0);
        if (fd >= 0)
            close(fd);
        if (rc) {
            assert_int_equal(api_field_errno(&out, rc), cases[i].status);
            struct json_object *e = json_object_object_get(out.body, "error");
            assert_non_null(strstr(json_object_get_string(json_object_object_get(e, "message")), p));
        }
        resp_free(&out);
    }
    /* Outside the allowed directory: one message, whether the file exists or not. */
    int fd;
    assert_int_equal(hostpath_open(&h, "f", "/etc/passwd", false, &fd), -EACCES);
    assert_non_null(strstr(err_msg(), "which requests may never read from"));
    assert_int_equal(hostpath_open(&h, "f", "/etc/no-such-file", false, &fd), -EACCES);
    assert_non_null(strstr(err_msg(), "which requests may never read from"));
    hostpaths_free(&h);
    /* An allowed directory holding the state directory does not open it up. */
    const char *above[] = { root };
    assert_int_equal(hostpaths_init(&h, st, above, 1, NULL, 0), 0);
    snprintf(p, sizeof(p), "%s/state/secret", root);
    assert_int_equal(hostpath_open(&h, "f", p, false, &fd), -EACCES);
    snprintf(p, sizeof(p), "%s/ok/up", root);         /* nor a symlink into it */
    assert_int_equal(hostpath_open(&h, "f", p, false, &fd), -EINVAL);
    hostpaths_free(&h);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

static void test_subnets(void **state)
{
    (void)state;
    assert_true(subnet_overlaps(0x0a000000, 8, 0x0a010200, 24));      /* 10/8 holds 10.1.2/24 */
    assert_true(subnet_overlaps(0x0a010200, 24, 0x0a000000, 8));
    assert_false(subnet_overlaps(0x0a010200, 24, 0x0a010300, 24));
    assert_true(subnet_overlaps(0x0a010200, 24, 0x0a010205, 32));     /* an address in it */
    assert_non_null(strstr(subnet_reserved(0x7f000000, 8), "loopback"));
    assert_non_null(strstr(subnet_reserved(0xe0000000, 24), "multicast"));
    assert_non_null(strstr(subnet_reserved(0xef000000, 8), "multicast"));
    assert_non_null(strstr(subnet_reserved(0x00000000, 8), "unspecified"));
    assert_non_null(strstr(subnet_reserved(0xa9fe0000, 16), "link-local"));
    assert_non_null(strstr(subnet_reserved(0xa9fe0100, 24), "link-local"));
    assert_non_null(strstr(subnet_reserved(0xf0000000, 24), "reserved"));
    assert_non_null(strstr(subnet_reserved(0xffffff00, 24), "reserved"));
    assert_null(subnet_reserved(0x0a000000, 8));
    assert_null(subnet_reserved(0xc0a80000, 16));
    assert_null(subnet_reserved(0xac100000, 12));
    assert_null(subnet_reserved(0xa9fd0000, 16));                       /* beside link-local */

    const struct nl_prefix host[] = {
        { 0xc0a84d05, 24, 2, false },     /* the LAN address 192.168.77.5/24 on if 2 */
        { 0x0a4d0000, 16, 2, true },      /* a route 10.77.0.0/16 via if 2 */
        { 0x0a630101, 24, 7, false },     /* 10.99.1.1/24 on corral's bridge, if 7 */
    };
    const int ours[] = { 7 };
    assert_ptr_equal(subnet_host_overlap(0xc0a84d00, 24, host, 3, ours, 1), &host[0]);
    assert_ptr_equal(subnet_host_overlap(0xc0a80000, 16, host, 3, ours, 1), &host[0]);
    assert_ptr_equal(subnet_host_overlap(0x0a4d0500, 24, host, 3, ours, 1), &host[1]);
    assert_null(subnet_host_overlap(0x0a630100, 24, host, 3, ours, 1));     /* corral's own: skipped */
    assert_ptr_equal(subnet_host_overlap(0x0a630100, 24, host, 3, NULL, 0), &host[2]);
    assert_null(subnet_host_overlap(0x0a630200, 24, host, 3, ours, 1));
}

/* The guest state machine: every state x action against a table written
 * out here, what each kind of guest may do, and the state after. */
static void test_lifecycle(void **state)
{
    (void)state;
    /* Rows: actions in enum order; columns: stopped starting running paused stopping. */
    static const char *const allowed[GA_COUNT] = {
        [GA_START] = "10000", [GA_STOP] = "00110", [GA_SHUTDOWN] = "00110", [GA_KILL] = "00110",
        [GA_PAUSE] = "00100", [GA_RESUME] = "00010", [GA_RESTART] = "00110",
    };
    for (int a = 0; a < GA_COUNT; a++)
        for (int st = 0; st < GS_COUNT; st++)
            assert_int_equal(guest_action_allowed((enum guest_action)a, (enum guest_state)st),
                             allowed[a][st] == '1');
    for (int st = 0; st < GS_COUNT; st++) {
        enum guest_state back;
        assert_int_equal(guest_state_parse(guest_state_name((enum guest_state)st), &back), 0);
        assert_int_equal(back, st);
    }
    enum guest_state dummy;
    assert_int_equal(guest_state_parse("frozen", &dummy), -EINVAL);
    assert_int_equal(guest_state_parse(NULL, &dummy), -EINVAL);
    assert_string_equal(guest_action_transit(GA_START), "starting");
    assert_string_equal(guest_action_transit(GA_SHUTDOWN), "stopping");
    assert_null(guest_action_transit(GA_PAUSE));

    /* After an action: gone is stopped; success goes where the action leads
     * (a stop that left the process alive: still running); a failed pause or
     * resume stays where it was, any other failure leaves it running. */
    assert_int_equal(guest_state_after(GA_START, GS_STOPPED, 0, true), GS_RUNNING);
    assert_int_equal(guest_state_after(GA_START, GS_STOPPED, -EIO, false), GS_STOPPED);
    assert_int_equal(guest_state_after(GA_STOP, GS_RUNNING, 0, false), GS_STOPPED);
    assert_int_equal(guest_state_after(GA_STOP, GS_PAUSED, -ETIMEDOUT, true), GS_RUNNING);
    assert_int_equal(guest_state_after(GA_SHUTDOWN, GS_RUNNING, 0, true), GS_RUNNING);
    assert_int_equal(guest_state_after(GA_PAUSE, GS_RUNNING, 0, true), GS_PAUSED);
    assert_int_equal(guest_state_after(GA_PAUSE, GS_RUNNING, -EIO, true), GS_RUNNING);
    assert_int_equal(guest_state_after(GA_RESUME, GS_PAUSED, 0, true), GS_RUNNING);
    assert_int_equal(guest_state_after(GA_RESUME, GS_PAUSED, -EIO, true), GS_PAUSED);
    assert_int_equal(guest_state_after(GA_RESTART, GS_PAUSED, 0, true), GS_RUNNING);
    for (int a = 0; a < GA_COUNT; a++)
        assert_int_equal(guest_state_after((enum guest_action)a, GS_RUNNING, 0, false), GS_STOPPED);

    /* Refusals need no server: the 409 names what the action needs, the job
     * is freed (ASan would see a leak), and a kind without the action is
     * refused in every state. */
    struct resp out = { 0 };
    const struct principal who = { .kind = AUTH_PEER, .role = ROLE_ADMIN, .name = "t" };
    assert_int_equal(guest_submit(NULL, guest_job_new(&guest_vm, &who, GA_START, "v1", "running"), &out), 409);
    assert_string_equal(json_object_get_string(json_object_object_get(json_object_object_get(out.body, "error"),
                                                                      "message")),
                        "VM 'v1' is running: start needs it stopped");
    resp_free(&out);
    struct guest_job *j = guest_job_new(&guest_ct, &who, GA_RESUME, "c1", "weird");
    assert_string_equal(j->state, "weird");
    assert_int_equal(guest_submit(NULL, j, &out), 409);
    resp_free(&out);
    static const struct { const struct guest_kind *k; enum guest_action a; } missing[] = {
        { &guest_vm, GA_KILL }, { &guest_ct, GA_SHUTDOWN }, { &guest_ct, GA_RESTART },
    };
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++)
        for (int st = 0; st < GS_COUNT; st++) {
            j = guest_job_new(missing[i].k, &who, missing[i].a, "g", guest_state_name((enum guest_state)st));
            assert_int_equal(guest_submit(NULL, j, &out), 409);
            resp_free(&out);
        }
    assert_int_equal(guest_check_stopped(&guest_ct, "c1", "stopped", &out), 0);
    assert_int_equal(guest_check_stopped(&guest_ct, "c1", "paused", &out), 409);
    assert_string_equal(json_object_get_string(json_object_object_get(json_object_object_get(out.body, "error"),
                                                                      "message")),
                        "container 'c1' is paused: stop it first");
    resp_free(&out);
}

/* Who uses what, answered from the guests' rows of a real database. */
/* The database's kept statements: the same text gives the same results
 * whatever ran before it, more distinct statements than the cache holds
 * push older ones out, a failed statement leaves nothing behind for the
 * next run of it, and a schema change reaches a kept statement. */
static void test_db_statements(void **state)
{
    (void)state;
    char dir[] = "/tmp/corral-db.XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/corral.db", dir);
    struct db *db;
    assert_int_equal(db_open(path, &db), 0);
    assert_true(db_exec(db, "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)", "") >= 0);
    const char *ins = "INSERT INTO t (k, v) VALUES (?, ?)", *sel = "SELECT v FROM t WHERE k = ?";
    struct json_object *row, *rows;
    for (int round = 0; round < 3; round++) {
        /* 100 distinct statements between two runs of the same ones */
        for (int i = 0; i < 100; i++) {
            char k[16], sql[64];
            snprintf(k, sizeof(k), "k%d.%d", round, i);
            assert_int_equal(db_exec(db, ins, "si", k, (int64_t)(round * 1000 + i)), 1);
            snprintf(sql, sizeof(sql), "SELECT %d AS n, count(*) AS c FROM t", i);
            assert_int_equal(db_row(db, &row, sql, ""), 0);
            assert_int_equal(json_object_get_int(json_object_object_get(row, "n")), i);
            json_object_put(row);
        }
        char k[16];
        snprintf(k, sizeof(k), "k%d.7", round);
        assert_int_equal(db_row(db, &row, sel, "s", k), 0);
        assert_int_equal(json_object_get_int(json_object_object_get(row, "v")), round * 1000 + 7);
        json_object_put(row);
        assert_int_equal(db_exec(db, ins, "si", k, (int64_t)1), -EEXIST);    /* fails, then works again */
        assert_int_equal(db_row(db, &row, sel, "s", "nothing"), -ENOENT);
    }
    /* a transaction of kept statements, rolled back */
    assert_int_equal(db_begin(db), 0);
    assert_int_equal(db_exec(db, "DELETE FROM t", ""), 300);
    db_rollback(db);
    assert_int_equal(db_rows(db, &rows, "SELECT k FROM t", ""), 0);
    assert_int_equal(json_object_array_length(rows), 300);
    json_object_put(rows);
    /* a first-row query stopped early must not hold the table */
    assert_int_equal(db_row(db, &row, "SELECT k FROM t ORDER BY k", ""), 0);
    json_object_put(row);
    assert_int_equal(db_begin(db), 0);
    assert_int_equal(db_exec(db, "UPDATE t SET v = v + 1 WHERE k = 'k0.0'", ""), 1);
    assert_int_equal(db_commit(db), 0);
    /* schema change under a kept statement */
    const char *all = "SELECT * FROM t WHERE k = 'k0.0'";
    assert_int_equal(db_row(db, &row, all, ""), 0);
    assert_null(json_object_object_get(row, "w"));
    json_object_put(row);
    assert_true(db_exec(db, "ALTER TABLE t ADD COLUMN w INTEGER NOT NULL DEFAULT 5", "") >= 0);
    assert_int_equal(db_row(db, &row, all, ""), 0);
    assert_int_equal(json_object_get_int(json_object_object_get(row, "w")), 5);
    assert_int_equal(json_object_get_int(json_object_object_get(row, "v")), 1);
    json_object_put(row);
    db_close(db);
    unlink(path);
    char wal[80];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", path);
    unlink(wal);
    rmdir(dir);
}

static void test_usage(void **state)
{
    (void)state;
    char dir[] = "/tmp/corral-usage.XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/corral.db", dir);
    struct server s = { 0 };
    assert_int_equal(db_open(path, &s.db), 0);
    assert_true(db_exec(s.db, "INSERT INTO vms (name, tag, config, state, created) VALUES "
                        "('b-vm', 't1', '{\"disks\":[\"p/boot\",\"p/data\"],\"boot\":{\"volume\":\"p/boot\"},"
                        "\"nics\":[{\"network\":\"n1\",\"address\":\"10.0.0.2\",\"mac\":\"52:54:00:00:00:02\"},"
                        "{\"network\":\"n1\",\"address\":\"10.0.0.3\",\"mac\":\"52:54:00:00:00:03\"}]}', 'stopped', 0), "
                        "('a-vm', 't2', '{\"boot\":{\"image\":\"linux\"},\"disks\":[\"p/data\"],"
                        "\"nics\":[{\"network\":\"n2\",\"address\":\"10.0.1.2\",\"mac\":\"52:54:00:00:01:02\"}]}', "
                        "'stopped', 0)", "") >= 0);
    assert_true(db_exec(s.db, "INSERT INTO containers (name, tag, image, config, state, created) VALUES "
                        "('c1', 't3', 'busybox', '{\"network\":\"n1\",\"address\":\"10.0.0.9\"}', 'stopped', 0)",
                        "") >= 0);
    char who[64];
    assert_true(usage_volume(&s, "p/data", "", who, sizeof(who)));
    assert_string_equal(who, "a-vm");                           /* the first by name */
    assert_true(usage_volume(&s, "p/data", "a-vm", who, sizeof(who)));
    assert_string_equal(who, "b-vm");                           /* but itself */
    assert_true(usage_volume(&s, "p/boot", "", who, sizeof(who)));
    assert_false(usage_volume(&s, "p/boot", "b-vm", who, sizeof(who)));
    assert_false(usage_volume(&s, "p/other", "", who, sizeof(who)));
    assert_true(usage_vm_image(&s, "linux", who, sizeof(who)));
    assert_string_equal(who, "a-vm");
    assert_false(usage_vm_image(&s, "busybox", who, sizeof(who)));
    assert_true(usage_ct_image(&s, "busybox", who, sizeof(who)));
    assert_string_equal(who, "c1");
    assert_false(usage_ct_image(&s, "linux", who, sizeof(who)));

    struct json_object *nics, *cts, *addrs;
    assert_int_equal(usage_network(&s, "n1", &nics, &cts), 0);
    assert_string_equal(json_object_to_json_string_ext(nics, JSON_C_TO_STRING_PLAIN),
                        "[{\"vm\":\"b-vm\",\"address\":\"10.0.0.2\",\"mac\":\"52:54:00:00:00:02\"},"
                        "{\"vm\":\"b-vm\",\"address\":\"10.0.0.3\",\"mac\":\"52:54:00:00:00:03\"}]");
    assert_string_equal(json_object_to_json_string_ext(cts, JSON_C_TO_STRING_PLAIN),
                        "[{\"container\":\"c1\",\"address\":\"10.0.0.9\"}]");
    json_object_put(nics);
    json_object_put(cts);
    assert_int_equal(usage_network_addresses(&s, "n1", "b-vm", &addrs), 0);
    assert_string_equal(json_object_to_json_string_ext(addrs, JSON_C_TO_STRING_PLAIN), "[\"10.0.0.9\"]");
    json_object_put(addrs);
    assert_int_equal(usage_network_addresses(&s, "n1", "", &addrs), 0);
    assert_int_equal(json_object_array_length(addrs), 3);
    json_object_put(addrs);
    assert_int_equal(usage_network(&s, "n3", &nics, NULL), 0);
    assert_int_equal(json_object_array_length(nics), 0);
    json_object_put(nics);

    db_close(s.db);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- the one guest path, run with a fake driver ---------------------------------------- */

/* What the fake driver was asked, and the state of its one pretend guest. */
static struct {
    bool alive, paused, fail_ready;
    int spawned, readied, released, detached, stop_ms;
    int console_peer;
} fake;

static int fake_spawn(const struct drivers *d, const struct guest_spec *spec, struct guest_handle *h)
{
    (void)d;
    memset(h, 0, sizeof(*h));
    h->driver = spec->driver;
    h->pid = getpid();
    h->start_time = proc_start_time(getpid());
    h->init = 4242;
    snprintf(h->control, sizeof(h->control), "%s", spec->id);
    fake.spawned++;
    return 0;
}

static int fake_ready(const struct drivers *d, const struct guest_spec *spec, struct guest_handle *h, int ms)
{
    (void)d, (void)spec, (void)h, (void)ms;
    fake.readied++;
    if (fake.fail_ready)
        return -EIO;
    fake.alive = true;
    return 0;
}

static bool fake_alive(const struct drivers *d, const struct guest_handle *h)
{
    (void)d, (void)h;
    return fake.alive;
}

static int fake_status(const struct drivers *d, const struct guest_handle *h, char *buf, size_t len)
{
    (void)d, (void)h;
    snprintf(buf, len, "%s", fake.paused ? "paused" : "running");
    return fake.alive ? 0 : -ESRCH;
}

static int fake_stop(const struct drivers *d, const struct guest_handle *h, int ms)
{
    (void)d, (void)h;
    fake.stop_ms = ms;
    fake.alive = false;
    return 0;
}

static int fake_kill(const struct drivers *d, const struct guest_handle *h) { return fake_stop(d, h, 0); }

static int fake_pause(const struct drivers *d, const struct guest_handle *h, bool paused)
{
    (void)d, (void)h;
    fake.paused = paused;
    return 0;
}

static int fake_console(const struct drivers *d, const struct guest_handle *h)
{
    (void)d, (void)h;
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
        return -errno;
    if (fake.console_peer >= 0)
        close(fake.console_peer);
    fake.console_peer = sp[1];
    return sp[0];
}

static int fake_usage(const struct drivers *d, const struct guest_handle *h, double *cpu, int64_t *mem)
{
    (void)d, (void)h;
    *cpu = 1.5;
    *mem = -1;    /* unreadable: shown as null */
    return 0;
}

static void fake_release(const struct drivers *d, const struct guest_handle *h)
{
    (void)d, (void)h;
    fake.released++;
    fake.alive = false;
}

static const struct driver_ops fake_ops = {
    .spawn = fake_spawn, .ready = fake_ready, .alive = fake_alive, .status = fake_status, .stop = fake_stop,
    .kill = fake_kill, .pause = fake_pause, .console = fake_console, .usage = fake_usage, .release = fake_release,
};

static int fake_prepare(struct server *s, struct json_object *row, struct json_object *cfg, struct guest_spec *spec)
{
    (void)s, (void)cfg;
    spec->driver = DRIVER_OCI;
    snprintf(spec->id, sizeof(spec->id), "fake-%s", json_str(row, "tag"));
    return 0;
}

static void fake_detach(struct server *s, struct json_object *row)
{
    (void)s, (void)row;
    fake.detached++;
}

/* Submits ACTION on c1 through the request path and waits for its
 * operation: the operation's row. */
static struct json_object *fake_action(struct server *s, const struct guest_kind *k, enum guest_action a, int timeout)
{
    struct req r = { .who = { .kind = AUTH_PEER, .role = ROLE_ADMIN, .name = "t" } };
    r.param[0] = "c1";
    struct resp out = { 0 };
    assert_int_equal(guest_request(s, k, &r, a, timeout, false, &out), 202);
    const char *url = json_object_get_string(json_object_object_get(out.body, "operation"));
    assert_non_null(url);
    const char *id = strrchr(url, '/') + 1;
    struct json_object *op = NULL, *stored;
    int w = ops_wait(s->ops, id, 10000, &op);
    assert_true(w == 0 || w == -ENOENT);
    assert_int_equal(ops_get(s->ops, id, &stored), 0);
    if (op) {    /* the view from memory is the stored one */
        assert_string_equal(json_object_to_json_string(op), json_object_to_json_string(stored));
        json_object_put(op);
    }
    op = stored;
    resp_free(&out);
    return op;
}

static void assert_row(struct server *s, const char *state, int64_t keeper, int64_t pid)
{
    struct json_object *row;
    assert_int_equal(db_row(s->db, &row, "SELECT state, keeper, pid FROM containers WHERE name = 'c1'", ""), 0);
    assert_string_equal(json_str(row, "state"), state);
    assert_int_equal(json_object_get_int64(json_object_object_get(row, "keeper")), keeper);
    assert_int_equal(json_object_get_int64(json_object_object_get(row, "pid")), pid);
    json_object_put(row);
}

/* Start, pause, resume, stop and a failed start of one guest, through
 * guest.c's one path and the operations' workers, with the driver faked:
 * what the driver is asked, what the row records, and what a failure
 * leaves. */
static void test_guest_driver(void **state)
{
    (void)state;
    char dir[] = "/tmp/corral-guest.XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/corral.db", dir);
    struct server s = { .cts_dir = dir };
    assert_int_equal(db_open(path, &s.db), 0);
    assert_int_equal(events_new(s.db, &s.events), 0);
    assert_int_equal(drivers_new(NULL, dir, &s.drivers), 0);
    assert_int_equal(scrollback_new(&s.consoles), 0);
    drivers_replace(s.drivers, DRIVER_OCI, &fake_ops);
    assert_int_equal(ops_new(&s, s.db, s.events, 1, &s.ops), 0);
    memset(&fake, 0, sizeof(fake));
    fake.console_peer = -1;
    struct guest_kind k = guest_ct;
    k.prepare = fake_prepare;
    k.attach = NULL;
    k.detach = fake_detach;
    assert_true(db_exec(s.db, "INSERT INTO containers (name, tag, image, config, state, created) VALUES "
                        "('c1', 'abc123', 'busybox', '{}', 'stopped', 0)", "") >= 0);

    struct json_object *op = fake_action(&s, &k, GA_START, 0);
    assert_string_equal(json_str(op, "status"), "success");
    json_object_put(op);
    assert_int_equal(fake.spawned, 1);
    assert_int_equal(fake.readied, 1);
    assert_row(&s, "running", getpid(), 4242);
    struct json_object *row, *v = json_object_new_object();
    assert_int_equal(db_row(s.db, &row, "SELECT * FROM containers WHERE name = 'c1'", ""), 0);
    guest_usage(&s, &k, row, v);
    json_object_put(row);
    assert_string_equal(json_object_to_json_string_ext(json_object_object_get(v, "usage"), JSON_C_TO_STRING_PLAIN),
                        "{\"cpu_seconds\":1.5,\"memory_bytes\":null}");
    json_object_put(v);

    json_object_put(fake_action(&s, &k, GA_PAUSE, 0));
    assert_true(fake.paused);
    assert_row(&s, "paused", getpid(), 4242);
    json_object_put(fake_action(&s, &k, GA_RESUME, 0));
    assert_false(fake.paused);
    assert_row(&s, "running", getpid(), 4242);

    /* A second start is refused by the table before any operation. */
    struct req r = { .who = { .kind = AUTH_PEER, .role = ROLE_ADMIN, .name = "t" } };
    struct resp out = { 0 };
    r.param[0] = "c1";
    assert_int_equal(guest_request(&s, &k, &r, GA_START, 0, false, &out), 409);
    resp_free(&out);

    op = fake_action(&s, &k, GA_STOP, 7);
    assert_string_equal(json_str(op, "status"), "success");
    json_object_put(op);
    assert_int_equal(fake.stop_ms, 7000);
    assert_row(&s, "stopped", 0, 0);
    assert_int_equal(fake.released, 1);
    assert_int_equal(fake.detached, 1);

    /* A guest that never gets ready: the operation fails with the driver's
     * reason, and what was spawned is released again. */
    fake.fail_ready = true;
    op = fake_action(&s, &k, GA_START, 0);
    assert_string_equal(json_str(op, "status"), "failure");
    json_object_put(op);
    assert_int_equal(fake.spawned, 2);
    assert_int_equal(fake.released, 2);
    assert_int_equal(fake.detached, 2);
    assert_row(&s, "stopped", 0, 0);

    /* Delete: the row goes; a second delete finds nothing. */
    assert_int_equal(guest_delete(&s, &k, &r, &out), 200);
    resp_free(&out);
    assert_int_equal(guest_delete(&s, &k, &r, &out), 404);
    resp_free(&out);
    struct json_object *gone;
    assert_int_equal(db_row(s.db, &gone, "SELECT id FROM containers WHERE name = 'c1'", ""), -ENOENT);

    /* Audit: start, pause, resume, stop, delete; the failed start is not a change. */
    struct json_object *audit;
    assert_int_equal(db_rows(s.db, &audit, "SELECT action FROM audit ORDER BY id", ""), 0);
    assert_int_equal(json_object_array_length(audit), 5);
    assert_string_equal(json_str(json_object_array_get_idx(audit, 3), "action"), "container.stop");
    assert_string_equal(json_str(json_object_array_get_idx(audit, 4), "action"), "container.delete");
    json_object_put(audit);

    ops_stop(s.ops);
    ops_free(s.ops);
    scrollback_free(s.consoles);
    if (fake.console_peer >= 0)
        close(fake.console_peer);
    drivers_free(s.drivers);
    events_free(s.events);
    db_close(s.db);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* One guarded connection: a socketpair whose far end tells whether the
 * guard shut the near one down. */
struct gc {
    int fd[2];
    struct guard_conn *c;
};

static void gc_open(struct connguard *g, struct gc *x, const char *ip)
{
    struct sockaddr_storage ss = { 0 };
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
    }
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, x->fd), 0);
    x->c = connguard_add(g, x->fd[0], (struct sockaddr *)&ss);
    assert_non_null(x->c);
}

static bool gc_cut(const struct gc *x)
{
    char b;
    return recv(x->fd[1], &b, 1, MSG_DONTWAIT) == 0;
}

static void gc_close(struct gc *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        connguard_remove(x[i].c);
        close(x[i].fd[0]);
        close(x[i].fd[1]);
    }
}

static void test_connguard(void **state)
{
    (void)state;
    struct connguard *g;
    assert_int_equal(connguard_new(&g), 0);
    enum { N = GUARD_ANON_PER_CLIENT };
    struct gc a[N + 2], v6[N + 2], wide[GUARD_ANON_MAX + 1];

    /* One client at its limit: a newcomer closes its oldest anonymous
     * connection; one serving a logged-in caller is neither counted nor closed. */
    gc_open(g, &a[0], "10.0.0.1");
    connguard_request(a[0].c);
    connguard_trusted(a[0].c);
    for (int i = 1; i <= N; i++)
        gc_open(g, &a[i], i % 2 ? "10.0.0.1" : "::ffff:10.0.0.1");    /* mapped: the same client */
    for (int i = 0; i <= N; i++)
        assert_false(gc_cut(&a[i]));
    gc_open(g, &a[N + 1], "10.0.0.1");
    assert_false(gc_cut(&a[0]));
    assert_true(gc_cut(&a[1]));
    for (int i = 2; i <= N + 1; i++)
        assert_false(gc_cut(&a[i]));

    /* IPv6: a /64 is one client; another /64 is another. */
    for (int i = 0; i < N; i++) {
        char ip[64];
        snprintf(ip, sizeof(ip), "2001:db8::%x", i + 1);
        gc_open(g, &v6[i], ip);
    }
    gc_open(g, &v6[N], "2001:db8:0:1::1");
    assert_false(gc_cut(&v6[0]));
    gc_open(g, &v6[N + 1], "2001:db8::ffff:1");
    assert_true(gc_cut(&v6[0]));
    assert_false(gc_cut(&v6[1]));
    gc_close(v6, N + 2);
    gc_close(a, N + 2);

    /* A connection whose request is being served is never cut (its answer
     * would be lost): the oldest waiting one goes, or, if none waits, the
     * newcomer. */
    for (int i = 0; i < N; i++) {
        gc_open(g, &a[i], "10.0.0.2");
        if (i != N - 1)
            connguard_request(a[i].c);
    }
    gc_open(g, &a[N], "10.0.0.2");
    assert_true(gc_cut(&a[N - 1]));
    for (int i = 0; i < N - 1; i++)
        assert_false(gc_cut(&a[i]));
    connguard_request(a[N].c);
    gc_open(g, &a[N + 1], "10.0.0.2");
    assert_true(gc_cut(&a[N + 1]));
    for (int i = 0; i <= N; i++)
        assert_true(i == N - 1 || !gc_cut(&a[i]));
    gc_close(a, N + 2);

    /* All clients together: past GUARD_ANON_MAX the oldest anonymous one
     * goes, whoever's it is. */
    for (int i = 0; i <= GUARD_ANON_MAX; i++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 200, i % 200 + 1);
        gc_open(g, &wide[i], ip);
    }
    assert_true(gc_cut(&wide[0]));
    assert_false(gc_cut(&wide[1]));
    assert_false(gc_cut(&wide[GUARD_ANON_MAX]));
    gc_close(wide, GUARD_ANON_MAX + 1);
    connguard_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_envelopes),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_firewall_ruleset),
        cmocka_unit_test(test_proc),
        cmocka_unit_test(test_hostpath_rules),
        cmocka_unit_test(test_hostpath_open),
        cmocka_unit_test(test_subnets),
        cmocka_unit_test(test_connguard),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_db_statements),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_guest_driver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
