/* block: qcow2 internal snapshots and compressed writes, checked against
 * the model in memory and, where qemu-img is installed, against QEMU
 * (qemu-img check / snapshot -l / map / compare / convert, qemu-io). */
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

/* Runs a shell command; returns its exit status (output to out if given). */
static int sh_out(char *out, size_t out_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sh_out(char *out, size_t out_len, const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = 0;
    char tmp[4096];
    size_t got;
    while ((got = fread(tmp, 1, sizeof(tmp), f)) > 0)
        for (size_t i = 0; i < got && out && n + 1 < out_len; i++)
            out[n++] = tmp[i];
    if (out)
        out[n] = 0;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void ok(int r)
{
    if (r < 0)
        print_error("failed: %s\n", err_msg());
    assert_int_equal(r, 0);
}

/* A raw file with the model's content, for qemu-img compare. */
static void write_raw(const char *p, const uint8_t *model, uint64_t size)
{
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, model, size), (ssize_t)size);
    close(fd);
}

static void qemu_compare(const char *img, const uint8_t *model, uint64_t size)
{
    if (!have_qemu)
        return;
    write_raw(path("model.raw"), model, size);
    char out[4096];
    int st = sh_out(out, sizeof(out), "qemu-img compare %s %s 2>&1", img,
                path("model.raw"));
    if (st != 0)
        print_error("qemu-img compare: %d %s\n", st, out);
    assert_int_equal(st, 0);
}

static bool listed(struct blk *b, const char *name, char *id_out)
{
    struct blk_snapshot *v;
    int n;
    ok(blk_snapshot_list(b, &v, &n));
    bool found = false;
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i].name, name)) {
            found = true;
            if (id_out)
                strcpy(id_out, v[i].id);
        }
    free(v);
    return found;
}

static int count_snaps(struct blk *b)
{
    struct blk_snapshot *v;
    int n;
    ok(blk_snapshot_list(b, &v, &n));
    free(v);
    return n;
}

static bool qemu_lists(const char *img, const char *name)
{
    static char out[65536];
    assert_int_equal(sh_out(out, sizeof(out), "qemu-img snapshot -l %s", img), 0);
    char word[300];
    snprintf(word, sizeof(word), " %s ", name);
    return strstr(out, word) != NULL;
}

static void snap_cycle(uint32_t cs, int compat)
{
    char p[128];
    snprintf(p, sizeof(p), "%s", path("s.qcow2"));
    const uint64_t size = MAX(4 * MiB, 8ULL * cs);
    create(p, size, cs, compat, NULL, BLK_FMT_PROBE);
    uint8_t *m0 = calloc(1, size), *m1;
    struct blk *b = open_ok(p, 0);
    write_both(b, m0, 0, 3 * cs + 100, 1);
    write_both(b, m0, size - 5000, 5000, 2);
    ok(blk_snapshot_create(b, "s1"));
    m1 = malloc(size);
    memcpy(m1, m0, size);
    write_both(b, m1, 50, 10, 3);              /* COW of a shared cluster */
    write_both(b, m1, 2 * cs, 2 * cs, 4);      /* whole shared clusters */
    write_both(b, m1, size / 2, 3000, 5);      /* a new cluster */
    assert_model(b, m1, size);
    /* Duplicate names are refused with a clear message. */
    assert_true(blk_snapshot_create(b, "s1") < 0);
    assert_non_null(strstr(err_msg(), "already exists"));
    ok(blk_snapshot_create(b, "s2"));
    char id[32];
    assert_true(listed(b, "s1", id));
    assert_string_equal(id, "1");
    assert_true(listed(b, "s2", id));
    assert_string_equal(id, "2");
    write_both(b, m1, cs + 7, 20, 6);
    ok(blk_snapshot_apply(b, "s1"));
    assert_model(b, m0, size);
    assert_true(blk_snapshot_apply(b, "nope") < 0);
    assert_non_null(strstr(err_msg(), "nope"));
    write_both(b, m0, 0, 4096, 7);
    ok(blk_close(b));
    qemu_check_clean(p);
    if (have_qemu) {
        assert_true(qemu_lists(p, "s1"));
        assert_true(qemu_lists(p, "s2"));
    }
    qemu_compare(p, m0, size);
    b = open_ok(p, 0);
    ok(blk_snapshot_delete(b, "1"));           /* by ID */
    assert_false(listed(b, "s1", NULL));
    assert_int_equal(count_snaps(b), 1);
    assert_model(b, m0, size);
    write_both(b, m0, 3 * cs, 100, 8);
    ok(blk_close(b));
    qemu_check_clean(p);
    if (have_qemu) {
        assert_false(qemu_lists(p, "s1"));
        assert_true(qemu_lists(p, "s2"));
    }
    b = open_ok(p, 0);
    ok(blk_snapshot_delete(b, "s2"));
    assert_int_equal(count_snaps(b), 0);
    assert_model(b, m0, size);
    ok(blk_close(b));
    qemu_check_clean(p);
    qemu_compare(p, m0, size);
    free(m0);
    free(m1);
}

static void test_snapshot_cycle(void **state)
{
    (void)state;
    snap_cycle(65536, 3);
    snap_cycle(4096, 2);
    snap_cycle(512, 3);
}

static void fill_qemu(uint8_t *m, uint64_t off, uint64_t len, uint8_t v)
{
    memset(m + off, v, len);
}

/* Snapshots QEMU made, read and changed by corral, checked by QEMU. */
static void test_snapshot_qemu_made(void **state)
{
    (void)state;
    if (!have_qemu) {
        print_message("qemu-img missing: skipping test_snapshot_qemu_made\n");
        return;
    }
    char p[128];
    snprintf(p, sizeof(p), "%s", path("q.qcow2"));
    const uint64_t size = 4 * MiB;
    uint8_t *m0 = calloc(1, size), *m1 = malloc(size);
    assert_int_equal(sh_out(NULL, 0, "qemu-img create -q -f qcow2 %s 4M", p), 0);
    assert_int_equal(sh_out(NULL, 0, "qemu-io -c 'write -P 0x11 0 1M' %s >/dev/null", p), 0);
    fill_qemu(m0, 0, MiB, 0x11);
    assert_int_equal(sh_out(NULL, 0, "qemu-img snapshot -c qs1 %s", p), 0);
    memcpy(m1, m0, size);
    assert_int_equal(sh_out(NULL, 0, "qemu-io -c 'write -P 0x22 512k 1M' %s >/dev/null", p), 0);
    fill_qemu(m1, 512 * KiB, MiB, 0x22);
    struct blk *b = open_ok(p, BLK_OPEN_RDONLY);
    assert_true(listed(b, "qs1", NULL));
    assert_model(b, m1, size);
    blk_close(b);
    b = open_ok(p, 0);
    ok(blk_snapshot_create(b, "c2"));
    ok(blk_snapshot_apply(b, "qs1"));
    assert_model(b, m0, size);
    write_both(b, m0, 100 * KiB, 300 * KiB, 9);
    ok(blk_close(b));
    qemu_check_clean(p);
    assert_true(qemu_lists(p, "c2"));
    qemu_compare(p, m0, size);
    /* QEMU sees corral's snapshot content. */
    write_raw(path("m1.raw"), m1, size);
    assert_int_equal(sh_out(NULL, 0, "qemu-img convert -f qcow2 -l snapshot.name=c2 -O raw %s %s && "
                        "cmp -s %s %s", p, path("c2.raw"), path("c2.raw"), path("m1.raw")), 0);
    /* A v2 image whose snapshot table ends the file (the last entry's
     * padding is not there). */
    char p2[128];
    snprintf(p2, sizeof(p2), "%s", path("v2.qcow2"));
    assert_int_equal(sh_out(NULL, 0, "qemu-img create -q -f qcow2 -o compat=0.10,cluster_size=4096 "
                        "%s 64M && qemu-io -c 'write -P 0x33 0 64k' %s >/dev/null && "
                        "qemu-img snapshot -c abc %s", p2, p2, p2), 0);
    b = open_ok(p2, 0);
    assert_true(listed(b, "abc", NULL));
    ok(blk_snapshot_create(b, "d"));
    ok(blk_close(b));
    qemu_check_clean(p2);
    assert_true(qemu_lists(p2, "d"));
    b = open_ok(p, 0);
    ok(blk_snapshot_delete(b, "qs1"));
    ok(blk_close(b));
    qemu_check_clean(p);
    assert_false(qemu_lists(p, "qs1"));
    assert_int_equal(sh_out(NULL, 0, "qemu-img snapshot -a c2 %s", p), 0);
    qemu_check_clean(p);
    b = open_ok(p, BLK_OPEN_RDONLY);
    assert_model(b, m1, size);
    blk_close(b);
    free(m0);
    free(m1);
}

/* A corrupt snapshot table gets a clear error, not a crash. */
static void expect_bad_table(off_t rel, const void *data, size_t len, const char *want)
{
    char p[128];
    snprintf(p, sizeof(p), "%s", path("bt.qcow2"));
    create(p, MiB, 65536, 3, NULL, BLK_FMT_PROBE);
    struct blk *b = open_ok(p, 0);
    uint8_t m[4096];
    write_both(b, (uint8_t[8192]){ 0 }, 0, 4096, 1);
    ok(blk_snapshot_create(b, "x"));
    ok(blk_close(b));
    (void)m;
    off_t table = (off_t)read_be64(p, 64);
    patch(p, table + rel, data, len);
    int r = blk_open(p, BLK_FMT_PROBE, 0, &b);
    if (r == 0 || !strstr(err_msg(), want))
        print_error("expected '%s', got %d '%s'\n", want, r, err_msg());
    assert_true(r < 0);
    assert_non_null(strstr(err_msg(), want));
    /* Read-only still opens (the data is fine); listing reports it. */
    b = open_ok(p, BLK_OPEN_RDONLY);
    struct blk_snapshot *v;
    int n;
    assert_true(blk_snapshot_list(b, &v, &n) < 0);
    blk_close(b);
}

static void test_snapshot_bad_table(void **state)
{
    (void)state;
    expect_bad_table(0, "\0\0\0\0\0\0\x10\x01", 8, "cluster-aligned");
    expect_bad_table(0, "\0\0\x10\0\0\0\0\0", 8, "past the end");
    expect_bad_table(8, "\x01\0\0\0", 4, "32 MiB");
    expect_bad_table(36, "\0\0\x10\0", 4, "extra data");
    expect_bad_table(36, "\0\0\0\x08", 4, "disk size");
    expect_bad_table(12, "\xff\xff", 2, "past the end");
    expect_bad_table(12, "\0\0", 2, "empty snapshot ID");
    /* A snapshot L1 entry pointing past the end: apply and delete refuse
     * it, and the active data stays as it was. */
    char q[128];
    snprintf(q, sizeof(q), "%s", path("bl1.qcow2"));
    create(q, MiB, 65536, 3, NULL, BLK_FMT_PROBE);
    uint8_t *m = calloc(1, MiB);
    struct blk *b = open_ok(q, 0);
    write_both(b, m, 0, 4096, 1);
    ok(blk_snapshot_create(b, "x"));
    ok(blk_close(b));
    uint8_t e[8] = { 0, 0, 0, 0x10, 0, 0, 0, 0 };
    patch(q, (off_t)read_be64(q, (off_t)read_be64(q, 64)), e, 8);
    b = open_ok(q, 0);
    assert_true(blk_snapshot_apply(b, "x") < 0);
    assert_non_null(strstr(err_msg(), "L2 table"));
    assert_true(blk_snapshot_delete(b, "x") < 0);
    assert_int_equal(count_snaps(b), 1);
    assert_model(b, m, MiB);
    blk_close(b);
    free(m);
    /* Too many snapshots. */
    char p[128];
    snprintf(p, sizeof(p), "%s", path("bt.qcow2"));
    create(p, MiB, 65536, 3, NULL, BLK_FMT_PROBE);
    patch(p, 60, "\0\x02\0\0", 4);
    assert_true(blk_open(p, BLK_FMT_PROBE, BLK_OPEN_RDONLY, &b) < 0);
    assert_non_null(strstr(err_msg(), "snapshots"));
}

/* Compressible, incompressible and zero clusters, and a short last one. */
static void make_content(uint8_t *m, uint64_t size, uint32_t cs)
{
    memset(m, 0, size);
    for (uint64_t c = 0; c * cs < size; c++) {
        uint8_t *p = m + c * cs;
        size_t n = (size_t)MIN((uint64_t)cs, size - c * cs);
        if (c % 4 == 1)
            continue;                                  /* zeros */
        if (c % 4 == 2) {                              /* incompressible */
            uint64_t x = 0x9e3779b97f4a7c15ULL * (c + 1);
            for (size_t i = 0; i < n; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                p[i] = (uint8_t)x;
            }
        } else {
            for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t)("corral qcow2 compressed "[i % 24] + (c & 3));
        }
    }
}

static void compress_roundtrip(uint32_t cs, int compat, uint64_t size)
{
    char p[128];
    snprintf(p, sizeof(p), "%s", path("c.qcow2"));
    create(p, size, cs, compat, NULL, BLK_FMT_PROBE);
    uint8_t *m = malloc(size);
    make_content(m, size, cs);
    struct blk *b = open_ok(p, 0);
    ok(blk_write_compressed(b, 0, m, size));
    assert_model(b, m, size);
    assert_true(blk_write_compressed(b, 1, m, cs) < 0);
    ok(blk_close(b));
    b = open_ok(p, BLK_OPEN_RDONLY);
    assert_model(b, m, size);
    blk_close(b);
    qemu_check_clean(p);
    qemu_compare(p, m, size);
    if (have_qemu) {
        static char out[1 << 20];
        assert_int_equal(sh_out(out, sizeof(out), "qemu-img map --output=json %s", p), 0);
        /* QEMU before 8.0 has no "compressed" key: compressed data is data
         * without a host offset there. */
        assert_true(strstr(out, "\"compressed\": true") || strstr(out, "\"data\": true}"));
        assert_int_equal(sh_out(out, sizeof(out), "qemu-img check %s", p), 0);
        assert_non_null(strstr(out, "compressed clusters"));
        assert_null(strstr(out, " 0.00% compressed clusters"));
        write_raw(path("m.raw"), m, size);
        assert_int_equal(sh_out(NULL, 0, "qemu-img convert -O raw %s %s && cmp -s %s %s", p,
                            path("conv.raw"), path("conv.raw"), path("m.raw")), 0);
    }
    /* Overwriting compressed clusters (normally, and compressed again)
     * releases their space correctly. */
    b = open_ok(p, 0);
    write_both(b, m, 10, 100, 3);
    pattern(m + cs * 3, cs, 0, 4);
    ok(blk_write_compressed(b, cs * 3, m + cs * 3, cs));
    ok(blk_snapshot_create(b, "z"));
    write_both(b, m, cs * 4 + 1, 10, 5);
    ok(blk_write_compressed(b, 0, m, cs));
    assert_model(b, m, size);
    ok(blk_close(b));
    qemu_check_clean(p);
    qemu_compare(p, m, size);
    free(m);
}

static void test_compressed(void **state)
{
    (void)state;
    compress_roundtrip(65536, 3, 2 * MiB + 16384);
    compress_roundtrip(4096, 2, 1 * MiB);
    compress_roundtrip(512, 3, 256 * KiB + 512);
    compress_roundtrip(2 * MiB, 3, 10 * MiB + 4096);
}

/* A snapshot that fails half-way (here: cluster 0's refcount went up, then
 * cluster 1's would pass the 3 that refcount_bits=2 holds) leaves refcounts and COPIED flags consistent, no
 * new snapshot, the dirty bit clear and the data as it was. */
static void test_snapshot_fails_clean(void **state)
{
    (void)state;
    if (!have_qemu) {
        print_message("qemu-img missing: skipping test_snapshot_fails_clean\n");
        return;
    }
    const char *p = path("rc2.qcow2");
    const uint64_t size = 1 * MiB;
    uint8_t *m = calloc(1, size);
    sh("qemu-img create -q -f qcow2 -o refcount_bits=2,cluster_size=4096 %s 1M", p);
    struct blk *b = open_ok(p, 0);
    write_both(b, m, 0, 64 * KiB, 1);
    ok(blk_snapshot_create(b, "s1"));
    ok(blk_snapshot_create(b, "s2"));
    write_both(b, m, 0, 100, 3);         /* cluster 0 copied: refcount 1, the rest 3 */
    assert_int_equal(blk_snapshot_create(b, "s3"), -ERANGE);
    assert_int_equal(count_snaps(b), 2);
    write_both(b, m, 4096, 100, 2);      /* the active tables still work */
    assert_model(b, m, size);
    ok(blk_close(b));
    assert_int_equal(read_be64(p, 72) & 1, 0);
    check(p, 0, 0, 0);
    qemu_check_clean(p);
    qemu_compare(p, m, size);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_cycle),
        cmocka_unit_test(test_snapshot_qemu_made),
        cmocka_unit_test(test_snapshot_bad_table),
        cmocka_unit_test(test_compressed),
        cmocka_unit_test(test_snapshot_fails_clean),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
