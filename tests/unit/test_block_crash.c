/* block: crash safety of qcow2 images — a writer that dies without closing
 * leaves leaks only, the dirty bit (lazy refcounts) is set while writing
 * and cleared at a clean close, a dirty image is repaired when opened
 * read-write and readable when opened read-only, and an image marked
 * corrupt opens read-only only; once a flush has failed, every later flush
 * of that image fails too.  The random kill test is tests/img/crash.sh. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#undef fail /* cmocka's fail() would hide util's */

#include "block/block.h"
#include "util/util.h"

#include "block_test_helpers.h"

#define SIZE (4 * MiB)
#define CS 4096
#define INCOMPAT_OFF 72
#define DIRTY 1ULL
#define CORRUPT 2ULL

/* fdatasync, failing with EIO while fail_syncs > 0 (linked with
 * --wrap=fdatasync: the block layer calls this one). */
static int fail_syncs;
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);
int __wrap_fdatasync(int fd)
{
    if (fail_syncs > 0) {
        fail_syncs--;
        errno = EIO;
        return -1;
    }
    return __real_fdatasync(fd);
}

static void set_incompat(const char *p, uint64_t v)
{
    uint8_t e[8];
    for (int i = 0; i < 8; i++)
        e[i] = (uint8_t)(v >> (56 - 8 * i));
    patch(p, INCOMPAT_OFF, e, 8);
}

/* Opens p read-write with stderr captured; returns the open result and
 * what was printed (at most len-1 bytes) in out. */
static int open_capturing(const char *p, int flags, struct blk **b, char *out, size_t len)
{
    const char *log = path("stderr.txt");
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    int r = blk_open(p, BLK_FMT_PROBE, flags, b);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, out, len - 1, 0);
    out[n > 0 ? n : 0] = 0;
    close(fd);
    return r;
}

/* Runs `work` on p opened read-write in a child that then dies without
 * closing, as a killed process would (nothing is flushed or cleaned up). */
static void crash_after(const char *p, void (*work)(struct blk *b))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct blk *b;
        if (blk_open(p, BLK_FMT_PROBE, 0, &b) < 0)
            _exit(2);
        work(b);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static uint8_t *expected;   /* the model of what crash_writes() left */

/* Writes that allocate data clusters, L2 tables and refcount blocks (the
 * image grows past what its first refcount block covers), copy a shared
 * cluster and free some, with a flush at the end. */
static void crash_writes(struct blk *b)
{
    uint8_t *buf = malloc(SIZE);
    for (uint64_t off = 0; off < SIZE; off += 3 * CS + 512) {
        uint64_t len = MIN(2 * CS + 1024, SIZE - off);
        pattern(buf, len, off, 7);
        if (blk_pwrite(b, off, buf, len) < 0)
            _exit(3);
    }
    if (blk_discard(b, 8 * CS, 16 * CS) < 0 || blk_write_zeroes(b, 40 * CS, 3 * CS) < 0 ||
        blk_flush(b) < 0)
        _exit(4);
    free(buf);
}

static void model_writes(void)
{
    expected = calloc(1, SIZE);
    for (uint64_t off = 0; off < SIZE; off += 3 * CS + 512)
        pattern(expected + off, MIN(2 * CS + 1024, SIZE - off), off, 7);
    memset(expected + 8 * CS, 0, 16 * CS);
    memset(expected + 40 * CS, 0, 3 * CS);
}

static void assert_content(const char *p, int flags)
{
    struct blk *b = open_ok(p, flags);
    assert_model(b, expected, SIZE);
    assert_int_equal(blk_close(b), 0);
}

/* blk_check's findings, whatever they are (opened read-only unless fixing,
 * and then with BLK_OPEN_CHECK, as corral-img check does). */
static struct blk_check_result check_any(const char *p, int fix)
{
    struct blk *b = open_ok(p, fix ? BLK_OPEN_CHECK : BLK_OPEN_RDONLY);
    struct blk_check_result res;
    assert_int_equal(blk_check(b, fix, &res), 0);
    assert_int_equal(res.check_errors, 0);
    assert_int_equal(blk_close(b), 0);
    return res;
}

/* qemu-img check's exit status (0 clean, 3 leaks only); 3 without qemu-img. */
static int qemu_check_status(const char *p)
{
    char cmd[256];
    if (!have_qemu)
        return 3;
    snprintf(cmd, sizeof(cmd), "qemu-img check -q %s >/dev/null 2>&1", p);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static bool header_has(const char *p, uint64_t bits)
{
    return (read_be64(p, INCOMPAT_OFF) & bits) != 0;
}

/* Without lazy refcounts a dead writer leaves leaked clusters only (the
 * unused part of its allocation pool), which a leak fix repairs. */
static void test_kill_leaves_leaks(void **state)
{
    (void)state;
    const char *p = path("kill.qcow2");
    create(p, SIZE, CS, 3, NULL, 0);
    crash_after(p, crash_writes);
    model_writes();
    assert_false(header_has(p, DIRTY));   /* not lazy: never dirty */
    struct blk_check_result r = check_any(p, 0);
    assert_int_equal(r.corruptions, 0);
    assert_true(r.leaks > 0);
    assert_int_equal(qemu_check_status(p), 3);
    assert_content(p, BLK_OPEN_RDONLY);
    r = check_any(p, BLK_FIX_LEAKS);
    assert_int_equal(r.leaks_fixed, r.leaks);
    r = check_any(p, 0);
    assert_true(r.corruptions == 0 && r.leaks == 0);
    qemu_check_clean(p);
    assert_content(p, BLK_OPEN_RDONLY);
    free(expected);
}

/* A clean close leaves nothing behind: no leaks, the file no longer than
 * what is referenced. */
static void test_clean_close(void **state)
{
    (void)state;
    const char *p = path("clean.qcow2");
    create(p, SIZE, CS, 3, NULL, 0);
    struct blk *b = open_ok(p, 0);
    crash_writes(b);
    assert_int_equal(blk_close(b), 0);
    model_writes();
    struct blk_check_result r = check(p, 0, 0, 0);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(r.image_end_offset, (uint64_t)sb.st_size);
    qemu_check_clean(p);
    assert_content(p, BLK_OPEN_RDONLY);
    free(expected);
}

/* lazy_refcounts: v3 only; the dirty bit is set by the first allocating
 * write, stays through flushes, and a clean close clears it. */
static void test_lazy_refcounts(void **state)
{
    (void)state;
    const char *p = path("lazy.qcow2");
    struct blk_create_opts o = { .format = BLK_FMT_QCOW2, .size = SIZE, .cluster_size = CS,
                                 .compat = 2, .lazy_refcounts = true };
    assert_true(blk_create(p, &o) < 0);
    assert_non_null(strstr(err_msg(), "version 3"));
    o.compat = 3;
    assert_int_equal(blk_create(p, &o), 0);
    struct blk *b = open_ok(p, 0);
    struct blk_info in;
    assert_int_equal(blk_get_info(b, &in), 0);
    assert_true(in.lazy_refcounts && !in.dirty);
    uint8_t buf[512];
    memset(buf, 0x5a, sizeof(buf));
    assert_int_equal(blk_pwrite(b, 3 * CS, buf, sizeof(buf)), 0);
    assert_true(header_has(p, DIRTY));
    assert_int_equal(blk_get_info(b, &in), 0);
    assert_true(in.dirty);
    assert_int_equal(blk_flush(b), 0);
    assert_true(header_has(p, DIRTY));
    assert_int_equal(blk_close(b), 0);
    assert_false(header_has(p, DIRTY));
    check(p, 0, 0, 0);
    qemu_check_clean(p);
    if (have_qemu)
        sh("qemu-img info %s | grep -q 'lazy refcounts: true'", p);
}

/* A lazy-refcounts writer that dies leaves the image dirty: it still opens
 * read-only with every flushed write readable, and a read-write open
 * repairs it (saying so in one line) and clears the bit. */
static void test_dirty_repair_on_open(void **state)
{
    (void)state;
    const char *p = path("dirty.qcow2");
    struct blk_create_opts o = { .format = BLK_FMT_QCOW2, .size = SIZE, .cluster_size = CS,
                                 .compat = 3, .lazy_refcounts = true };
    assert_int_equal(blk_create(p, &o), 0);
    crash_after(p, crash_writes);
    model_writes();
    assert_true(header_has(p, DIRTY));
    assert_content(p, BLK_OPEN_RDONLY);
    struct blk_check_result r = check_any(p, 0);
    assert_int_equal(r.corruptions, 0);
    assert_true(r.leaks > 0);
    struct blk *b;
    char msg[512];
    assert_int_equal(open_capturing(p, 0, &b, msg, sizeof(msg)), 0);
    assert_non_null(strstr(msg, "not closed cleanly; refcounts repaired"));
    assert_int_equal(count_lines(msg), 1);
    assert_false(header_has(p, DIRTY));
    assert_model(b, expected, SIZE);
    assert_int_equal(blk_close(b), 0);
    check(p, 0, 0, 0);
    qemu_check_clean(p);
    free(expected);
}

/* Refcounts too low (as lazy refcounts may leave them after a power loss)
 * are rebuilt by a read-write open; a reference past the end of the file
 * cannot be repaired: the open fails with one message and changes nothing. */
static void test_dirty_bad_refcounts(void **state)
{
    (void)state;
    const char *p = path("low.qcow2");
    create(p, SIZE, CS, 3, NULL, 0);
    struct blk *b = open_ok(p, 0);
    uint8_t *model = calloc(1, SIZE);
    write_both(b, model, 0, 4 * CS, 3);
    uint64_t n, host;
    int st, d;
    assert_int_equal(blk_block_status(b, CS, CS, &n, &st, &host, &d), 0);
    assert_int_equal(blk_close(b), 0);
    set_refcount(p, host / CS, 0);
    set_incompat(p, DIRTY);
    check(p, 0, (uint64_t)-1, 0);
    char msg[512];
    assert_int_equal(open_capturing(p, 0, &b, msg, sizeof(msg)), 0);
    assert_non_null(strstr(msg, "errors fixed"));
    assert_model(b, model, SIZE);
    assert_int_equal(blk_close(b), 0);
    check(p, 0, 0, 0);
    qemu_check_clean(p);

    /* An L2 entry pointing far past the end of the file. */
    uint64_t l2 = read_be64(p, (off_t)read_be64(p, 40)) & 0x00fffffffffffe00ULL;
    uint8_t e[8] = { 0x80, 0, 0, 0, 0x10, 0, 0, 0 };
    patch(p, (off_t)l2, e, 8);
    set_incompat(p, DIRTY);
    b = NULL;
    assert_true(blk_open(p, BLK_FMT_PROBE, 0, &b) < 0);
    assert_null(b);
    assert_non_null(strstr(err_msg(), "could not be repaired"));
    assert_true(header_has(p, DIRTY));
    b = open_ok(p, BLK_OPEN_RDONLY);
    blk_close(b);
    free(model);
}

/* An image marked corrupt opens read-only (and reads), not read-write;
 * `check -r` (BLK_OPEN_CHECK) repairs it and clears the mark. */
static void test_corrupt_bit(void **state)
{
    (void)state;
    const char *p = path("corrupt.qcow2");
    create(p, SIZE, CS, 3, NULL, 0);
    struct blk *b = open_ok(p, 0);
    uint8_t *model = calloc(1, SIZE);
    write_both(b, model, 5000, 3 * CS, 9);
    assert_int_equal(blk_close(b), 0);
    set_incompat(p, CORRUPT);
    b = NULL;
    assert_true(blk_open(p, BLK_FMT_PROBE, 0, &b) < 0);
    assert_null(b);
    assert_non_null(strstr(err_msg(), "marked corrupt"));
    assert_non_null(strstr(err_msg(), "read-only"));
    b = open_ok(p, BLK_OPEN_RDONLY);
    struct blk_info in;
    assert_int_equal(blk_get_info(b, &in), 0);
    assert_true(in.corrupt);
    assert_model(b, model, SIZE);
    assert_int_equal(blk_pwrite(b, 0, model, 512) < 0, 1);
    assert_int_equal(blk_close(b), 0);
    struct blk_check_result r = check_any(p, BLK_FIX_ERRORS | BLK_FIX_LEAKS);
    assert_int_equal(r.corruptions, 0);
    assert_false(header_has(p, CORRUPT));
    b = open_ok(p, 0);
    assert_model(b, model, SIZE);
    assert_int_equal(blk_close(b), 0);
    free(model);
}

/* Linux may drop the pages of a failed fdatasync and mark them clean, so
 * a later one that succeeds proves nothing: the image keeps failing its
 * flushes (and snapshots, which flush) until it is opened again. */
static void test_flush_failure_sticks(void **state)
{
    (void)state;
    const char *fmts[] = { "qcow2", "raw" };
    for (int i = 0; i < 2; i++) {
        const char *p = path(i ? "sticky.raw" : "sticky.qcow2");
        if (i) {
            struct blk_create_opts o = { .format = BLK_FMT_RAW, .size = SIZE };
            assert_int_equal(blk_create(p, &o), 0);
        } else {
            create(p, SIZE, CS, 3, NULL, BLK_FMT_RAW);
        }
        struct blk *b = open_ok(p, 0);
        uint8_t buf[CS];
        memset(buf, 0x5a, sizeof(buf));
        assert_int_equal(blk_pwrite(b, 0, buf, sizeof(buf)), 0);
        fail_syncs = 1;
        assert_int_equal(blk_flush(b), -EIO);
        assert_int_equal(fail_syncs, 0);
        assert_int_equal(blk_flush(b), -EIO);           /* fdatasync would succeed now */
        assert_non_null(strstr(err_msg(), "an earlier flush failed"));
        assert_int_equal(blk_pwrite(b, CS, buf, sizeof(buf)), 0);
        assert_int_equal(blk_flush(b), -EIO);
        if (!i)
            assert_true(blk_snapshot_create(b, "s") < 0);
        blk_close(b);                                     /* its flush fails too */
        b = open_ok(p, 0);
        assert_int_equal(blk_flush(b), 0);
        assert_int_equal(blk_close(b), 0);
        print_message("%s: flushes fail after one failed\n", fmts[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_leaves_leaks),
        cmocka_unit_test(test_clean_close),
        cmocka_unit_test(test_lazy_refcounts),
        cmocka_unit_test(test_dirty_repair_on_open),
        cmocka_unit_test(test_dirty_bad_refcounts),
        cmocka_unit_test(test_corrupt_bit),
        cmocka_unit_test(test_flush_failure_sticks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
