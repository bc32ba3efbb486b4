/* util: size/number/MAC parsers, read_file, the error convention and the
 * event loop. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#undef fail /* cmocka's fail() would hide util's */

#include "util/util.h"

/* ---- parse_size ---------------------------------------------------------- */

static void test_parse_size_good(void **state)
{
    (void)state;
    static const struct { const char *s; uint64_t v; } ok[] = {
        { "4096", 4096 }, { "0", 0 }, { "64M", 64 * MiB }, { "2G", 2 * GiB },
        { "1KiB", KiB }, { "1k", KiB }, { "3MB", 3 * MiB }, { "1T", 1024 * GiB },
        { "16777215T", 16777215ULL << 40 },
        { "18446744073709551615", UINT64_MAX },
    };
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        uint64_t v = 1;
        assert_int_equal(parse_size(ok[i].s, &v), 0);
        assert_true(v == ok[i].v);
    }
}

static void test_parse_size_bad(void **state)
{
    (void)state;
    static const char *const inval[] = { "", "12X", "1.5G", "-1", "+1", " 1", "1 G",
                                          "G", "1GiBx", "1iB", "1Gi", "0x10" };
    for (size_t i = 0; i < ARRAY_SIZE(inval); i++) {
        uint64_t v = 7;
        assert_int_equal(parse_size(inval[i], &v), -EINVAL);
        assert_true(v == 7); /* untouched on failure */
        assert_non_null(strstr(err_msg(), "bad size"));
    }
    uint64_t v = 7;
    assert_int_equal(parse_size(NULL, &v), -EINVAL);
    assert_int_equal(parse_size("99999999999T", &v), -ERANGE);
    assert_non_null(strstr(err_msg(), "too large"));
    assert_int_equal(parse_size("16777216T", &v), -ERANGE);
    assert_int_equal(parse_size("18446744073709551616", &v), -ERANGE);
    assert_true(v == 7);
}

/* ---- parse_uint ---------------------------------------------------------- */

static void test_parse_uint(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(parse_uint("5", 1, 10, &v), 0);
    assert_true(v == 5);
    assert_int_equal(parse_uint("1", 1, 10, &v), 0);
    assert_int_equal(parse_uint("10", 1, 10, &v), 0);
    assert_true(v == 10);
    assert_int_equal(parse_uint("18446744073709551615", 0, UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);

    v = 42;
    assert_int_equal(parse_uint("0", 1, 10, &v), -ERANGE);
    assert_non_null(strstr(err_msg(), "out of range (1..10)"));
    assert_int_equal(parse_uint("11", 1, 10, &v), -ERANGE);
    assert_int_equal(parse_uint("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
    assert_int_equal(parse_uint("", 0, 10, &v), -EINVAL);
    assert_int_equal(parse_uint(NULL, 0, 10, &v), -EINVAL);
    assert_int_equal(parse_uint("-1", 0, 10, &v), -EINVAL);
    assert_int_equal(parse_uint("+1", 0, 10, &v), -EINVAL);
    assert_int_equal(parse_uint("3a", 0, 10, &v), -EINVAL);
    assert_non_null(strstr(err_msg(), "'3a' is not a number"));
    assert_int_equal(parse_uint("3 ", 0, 10, &v), -EINVAL);
    assert_true(v == 42);
}

/* ---- parse_mac ----------------------------------------------------------- */

static void test_utf8(void **state)
{
    (void)state;
    static const char *const good[] = {
        "", "plain", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x90\x84", "\xef\xbf\xbd",
        "\xed\x9f\xbf",           /* U+D7FF, just below the surrogates */
        "\xee\x80\x80",           /* U+E000, just above them */
        "\xf4\x8f\xbf\xbf",       /* U+10FFFF, the last code point */
        "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80",   /* the smallest of each length */
    };
    static const char *const bad[] = {
        "\x80", "\xbf", "\xc0\xaf", "\xc1\xbf",   /* stray continuation, overlong 2-byte */
        "\xe0\x80\xaf", "\xe0\x9f\xbf",         /* overlong 3-byte */
        "\xf0\x80\x80\xaf", "\xf0\x8f\xbf\xbf", /* overlong 4-byte */
        "\xed\xa0\x80", "\xed\xbf\xbf",         /* surrogates */
        "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\xfe", /* beyond U+10FFFF */
        "\xe2\x82", "\xc3", "\xf0\x9f\x90",       /* cut short */
        "\xe2\x28\xa1", "a\xc3(",                 /* a continuation missing */
    };
    for (size_t i = 0; i < ARRAY_SIZE(good); i++)
        assert_true(utf8_valid(good[i], strlen(good[i])));
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_false(utf8_valid(bad[i], strlen(bad[i])));
    /* Scrubbing keeps whole characters and drops the rest. */
    char cut[] = "ab\xc3\xa9\xe2\x82";
    utf8_scrub(cut);
    assert_string_equal(cut, "ab\xc3\xa9");
    char mixed[] = "\xc0x\xed\xa0\x80y\xf0\x9f\x90\x84z\x80";
    utf8_scrub(mixed);
    assert_string_equal(mixed, "xy\xf0\x9f\x90\x84z");
}

static void test_parse_mac(void **state)
{
    (void)state;
    uint8_t mac[6];
    assert_int_equal(parse_mac("52:54:00:12:34:56", mac), 0);
    assert_memory_equal(mac, ((uint8_t[]){ 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }), 6);
    assert_int_equal(parse_mac("02:AB:cd:EF:0a:F0", mac), 0);
    assert_memory_equal(mac, ((uint8_t[]){ 0x02, 0xab, 0xcd, 0xef, 0x0a, 0xf0 }), 6);

    static const char *const bad[] = {
        "", "52:54:00:12:34", "52:54:00:12:34:5", "52:54:00:12:34:567",
        "52:54:00:12:34:56:", "52-54-00-12-34-56", "52:54:00:12:34:zz",
        "52:54:0g:12:34:56", " 2:54:00:12:34:56", "52:54:00:12:34: 6",
        "+2:54:00:12:34:56", "5254:00:12:34:56:", "52:54:00:12:34:5\n",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        assert_int_equal(parse_mac(bad[i], mac), -EINVAL);
        assert_non_null(strstr(err_msg(), "bad MAC address"));
    }
    assert_int_equal(parse_mac(NULL, mac), -EINVAL);
    /* Group bit set: multicast/broadcast addresses cannot be a NIC's. */
    assert_int_equal(parse_mac("01:00:5e:00:00:01", mac), -EINVAL);
    assert_non_null(strstr(err_msg(), "multicast"));
    assert_int_equal(parse_mac("ff:ff:ff:ff:ff:ff", mac), -EINVAL);
    assert_int_equal(parse_mac("53:54:00:12:34:56", mac), -EINVAL);
}

/* ---- read_file ----------------------------------------------------------- */

static char tmpdir[64];

static int setup_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/corral-test-util.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmpdir(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof(path), "%s/f", tmpdir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/empty", tmpdir);
    unlink(path);
    return rmdir(tmpdir);
}

static void write_tmp(const char *name, const void *data, size_t len, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", tmpdir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write_all(fd, data, len), 0);
    close(fd);
}

static void test_read_file(void **state)
{
    (void)state;
    char path[128];
    uint8_t *data = NULL;
    size_t len = 0;

    write_tmp("f", "hello, world", 12, path, sizeof(path));
    assert_int_equal(read_file(path, 12, &data, &len), 0);
    assert_int_equal(len, 12);
    assert_memory_equal(data, "hello, world", 12);
    free(data);
    data = NULL;

    /* One byte over the limit is refused, with the sizes in the message. */
    assert_int_equal(read_file(path, 11, &data, &len), -EFBIG);
    assert_non_null(strstr(err_msg(), "too large (12 bytes, limit 11)"));
    assert_null(data);

    write_tmp("empty", "", 0, path, sizeof(path));
    assert_int_equal(read_file(path, 0, &data, &len), 0);
    assert_int_equal(len, 0);
    assert_non_null(data);
    free(data);
    data = NULL;

    assert_int_equal(read_file(tmpdir, 1 << 20, &data, &len), -EINVAL);
    assert_non_null(strstr(err_msg(), "is not a regular file"));
    assert_int_equal(read_file("/dev/null", 1 << 20, &data, &len), -EINVAL);
    assert_non_null(strstr(err_msg(), "/dev/null is not a regular file"));

    snprintf(path, sizeof(path), "%s/missing", tmpdir);
    assert_int_equal(read_file(path, 1 << 20, &data, &len), -ENOENT);
    assert_non_null(strstr(err_msg(), "cannot open"));
    assert_non_null(strstr(err_msg(), "missing"));
    assert_null(data);
}

/* ---- fail() / err_msg() -------------------------------------------------- */

static void *thread_err(void *arg)
{
    const char **seen = arg;
    seen[0] = strdup(err_msg());
    fail(EIO, "from the thread");
    seen[1] = strdup(err_msg());
    return NULL;
}

static void test_fail(void **state)
{
    (void)state;
    assert_int_equal(fail(ENOENT, "no %s %d", "thing", 42), -ENOENT);
    assert_string_equal(err_msg(), "no thing 42");
    /* A non-positive errnum still yields a negative error. */
    assert_int_equal(fail(0, "zero"), -EINVAL);
    assert_int_equal(fail(-5, "negative"), -EINVAL);

    /* Context is added by failing again with the old message embedded. */
    fail(ENOSPC, "inner");
    assert_int_equal(fail(ENOSPC, "outer: %s", err_msg()), -ENOSPC);
    assert_string_equal(err_msg(), "outer: inner");

    char big[2048];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    fail(E2BIG, "%s", big);
    size_t n = strlen(err_msg());
    assert_true(n > 100 && n < sizeof(big) - 1); /* truncated, still terminated */

    /* The buffer is per thread. */
    fail(EPERM, "main thread");
    const char *seen[2] = { 0 };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, thread_err, seen), 0);
    pthread_join(t, NULL);
    assert_string_equal(seen[0], "");
    assert_string_equal(seen[1], "from the thread");
    assert_string_equal(err_msg(), "main thread");
    free((void *)seen[0]);
    free((void *)seen[1]);
}

/* ---- evloop -------------------------------------------------------------- */

struct ev_ctx {
    struct evloop *loop;
    int fd;
    int calls;
    int stop_after;
    uint32_t last_events;
    char got[16];
};

static void on_readable(void *arg, uint32_t events)
{
    struct ev_ctx *c = arg;
    char b;
    c->last_events = events;
    if (read(c->fd, &b, 1) == 1 && (size_t)c->calls < sizeof(c->got) - 1)
        c->got[c->calls] = b;
    if (++c->calls >= c->stop_after)
        evloop_stop(c->loop);
}

static void *stop_later(void *arg)
{
    usleep(20000);
    evloop_stop(arg);
    return NULL;
}

static void test_evloop(void **state)
{
    (void)state;
    struct evloop *l;
    int p[2];
    assert_int_equal(evloop_new(&l), 0);
    assert_int_equal(pipe(p), 0);
    struct ev_ctx c = { .loop = l, .fd = p[0], .stop_after = 1 };

    assert_true(evloop_add(l, -1, EPOLLIN, on_readable, &c) < 0);
    assert_int_equal(evloop_add(l, p[0], EPOLLIN, on_readable, &c), 0);
    assert_int_equal(evloop_add(l, p[0], EPOLLIN, on_readable, &c), -EEXIST);

    /* The handler stops the loop; run returns 0. */
    assert_int_equal(write(p[1], "a", 1), 1);
    assert_int_equal(evloop_run(l), 0);
    assert_int_equal(c.calls, 1);
    assert_true(c.last_events & EPOLLIN);

    /* The loop runs again after a stop: two bytes, two calls. */
    c.stop_after = 3;
    assert_int_equal(write(p[1], "bc", 2), 2);
    assert_int_equal(evloop_run(l), 0);
    assert_int_equal(c.calls, 3);
    assert_string_equal(c.got, "abc");

    /* A stop requested before run makes the next run return at once. */
    evloop_stop(l);
    assert_int_equal(evloop_run(l), 0);

    /* Events 0 pauses the fd; a stop from another thread ends the run. */
    assert_int_equal(evloop_set_events(l, p[0], 0), 0);
    assert_int_equal(write(p[1], "d", 1), 1);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stop_later, l), 0);
    assert_int_equal(evloop_run(l), 0);
    pthread_join(t, NULL);
    assert_int_equal(c.calls, 3);

    /* Re-enabled, the pending byte is delivered. */
    c.stop_after = 4;
    assert_int_equal(evloop_set_events(l, p[0], EPOLLIN), 0);
    assert_int_equal(evloop_run(l), 0);
    assert_int_equal(c.calls, 4);
    assert_string_equal(c.got, "abcd");

    /* After evloop_del the handler is never called again. */
    evloop_del(l, p[0]);
    assert_int_equal(write(p[1], "e", 1), 1);
    assert_int_equal(pthread_create(&t, NULL, stop_later, l), 0);
    assert_int_equal(evloop_run(l), 0);
    pthread_join(t, NULL);
    assert_int_equal(c.calls, 4);

    /* A hang-up is reported to the handler. */
    assert_int_equal(evloop_add(l, p[0], EPOLLIN, on_readable, &c), 0);
    close(p[1]);
    c.stop_after = 6;
    assert_int_equal(evloop_run(l), 0);
    assert_true(c.last_events & EPOLLHUP);
    assert_int_equal(c.got[4], 'e');

    close(p[0]);
    evloop_free(l);
    evloop_free(NULL);
}

/* Messages a guest can cause: a burst gets through, the rest is counted and
 * said on the next line let through; past the byte cap, one notice, then
 * nothing.  stderr goes to a file meanwhile. */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/corral-log.XXXXXX";
    int fd = mkstemp(path), saved = dup(STDERR_FILENO);
    assert_true(fd >= 0 && saved >= 0);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    uint8_t *data;
    size_t len;
    assert_int_equal(read_file(path, 1 << 20, &data, &len), 0);
    close(fd);
    unlink(path);
    char *text = calloc(1, len + 1);
    memcpy(text, data, len);
    free(data);
    return text;
}

static unsigned count(const char *text, const char *what)
{
    unsigned n = 0;
    for (const char *p = text; (p = strstr(p, what)); p++)
        n++;
    return n;
}

static void flood(void)
{
    log_guest_limits(2, 10, 0);    /* slow: the loop below cannot earn a token */
    for (int i = 0; i < 200; i++)
        log_guest(LOG_INFO, "guest: line %d", i);
    usleep(600 * 1000);    /* one token */
    log_guest(LOG_INFO, "guest: after the pause");
}

static void overflow(void)
{
    log_guest_limits(1000000, 1000000, 100);
    for (int i = 0; i < 50; i++)
        log_guest(LOG_INFO, "guest: thirty bytes or so, #%02d", i);
}

static void test_log_guest(void **state)
{
    (void)state;
    char *t = capture_stderr(flood);
    assert_int_equal(count(t, "guest: line "), 10);
    assert_non_null(strstr(t, "guest: after the pause (and 190 guest messages dropped: more than 2 a second)"));
    free(t);
    t = capture_stderr(overflow);
    assert_int_equal(count(t, "thirty bytes"), 3);
    assert_int_equal(count(t, "the rest are dropped"), 1);
    free(t);
    log_guest_limits(0, 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_size_good),
        cmocka_unit_test(test_parse_size_bad),
        cmocka_unit_test(test_parse_uint),
        cmocka_unit_test(test_parse_mac),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test_setup_teardown(test_read_file, setup_tmpdir, teardown_tmpdir),
        cmocka_unit_test(test_fail),
        cmocka_unit_test(test_evloop),
        cmocka_unit_test(test_log_guest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
