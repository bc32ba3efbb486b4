/* block: what `corral img` needs beyond reading and writing — info, block
 * status, write-zeroes, discard, resize and set_backing — with blk_check
 * and qemu-img (where installed) judging the result. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#undef fail /* cmocka's fail() would hide util's */

#include "block/block.h"
#include "util/util.h"

#include "block_test_helpers.h"

static void test_info(void **state)
{
    (void)state;
    struct blk_create_opts raw = { .format = BLK_FMT_RAW, .size = 1 * MiB };
    assert_int_equal(blk_create(path("base.raw"), &raw), 0);
    struct blk_create_opts o = { .format = BLK_FMT_QCOW2, .size = 2 * MiB, .cluster_size = 4096,
                                 .lazy_refcounts = true, .backing_file = "base.raw",
                                 .backing_format = BLK_FMT_RAW };
    assert_int_equal(blk_create(path("i.qcow2"), &o), 0);
    struct blk *b = open_ok(path("i.qcow2"), BLK_OPEN_RDONLY);
    struct blk_info in;
    assert_int_equal(blk_get_info(b, &in), 0);
    assert_int_equal(in.format, BLK_FMT_QCOW2);
    assert_int_equal(in.virtual_size, 2 * MiB);
    assert_int_equal(in.cluster_size, 4096);
    assert_int_equal(blk_cluster_size(b), 4096);
    assert_int_equal(in.compat, 3);
    assert_int_equal(in.refcount_bits, 16);
    assert_true(in.lazy_refcounts && !in.dirty && !in.corrupt);
    assert_string_equal(in.backing_file, "base.raw");
    assert_int_equal(in.backing_format, BLK_FMT_RAW);
    assert_int_equal(in.nsnapshots, 0);
    blk_close(b);
    create(path("v2.qcow2"), 1 * MiB, 0, 2, "base.raw", BLK_FMT_PROBE);
    b = open_ok(path("v2.qcow2"), BLK_OPEN_RDONLY);
    assert_int_equal(blk_get_info(b, &in), 0);
    assert_int_equal(in.compat, 2);
    assert_int_equal(in.cluster_size, 65536);
    assert_int_equal(in.backing_format, BLK_FMT_PROBE);
    assert_string_equal(in.backing_file, "base.raw");
    blk_close(b);
}

static void expect_status(struct blk *b, uint64_t off, uint64_t len, uint64_t pnum, int status,
                          int depth)
{
    uint64_t n, host;
    int st, d;
    assert_int_equal(blk_block_status(b, off, len, &n, &st, &host, &d), 0);
    assert_int_equal(n, pnum);
    assert_int_equal(st, status);
    assert_int_equal(d, depth);
    if (st & BLK_STATUS_DATA && !(st & BLK_STATUS_COMPRESSED))
        assert_true(host != 0);
}

static void test_block_status(void **state)
{
    (void)state;
    const uint32_t cs = 4096;
    enum { A = BLK_STATUS_ALLOCATED, D = BLK_STATUS_DATA, Z = BLK_STATUS_ZERO, P = BLK_STATUS_PRESENT };
    create(path("sb.qcow2"), 64 * KiB, cs, 3, NULL, 0);
    struct blk *b = open_ok(path("sb.qcow2"), 0);
    fill(b, NULL, 5 * cs, 2 * cs, 7);
    assert_int_equal(blk_write_zeroes(b, 6 * cs, cs), 0); /* backing cluster 6: zero flag */
    blk_close(b);
    create(path("st.qcow2"), 64 * KiB, cs, 3, "sb.qcow2", BLK_FMT_QCOW2);
    b = open_ok(path("st.qcow2"), 0);
    fill(b, NULL, 0, 2 * cs, 1);                          /* clusters 0-1: data */
    assert_int_equal(blk_write_zeroes(b, 2 * cs, cs), 0); /* cluster 2: zero flag */
    expect_status(b, 0, 64 * KiB, 2 * cs, A | D | P, 0);
    expect_status(b, 100, cs, cs, A | D | P, 0);               /* pnum <= len */
    expect_status(b, 2 * cs, 64 * KiB - 2 * cs, cs, A | Z | P, 0);
    expect_status(b, 3 * cs, 2 * cs + 10, 2 * cs, Z, 1);       /* unallocated everywhere */
    expect_status(b, 5 * cs, cs, cs, D | P, 1);                /* from the backing file */
    expect_status(b, 6 * cs, cs, cs, Z | P, 1);                /* zeros the backing file decides */
    blk_close(b);
    if (!have_qemu)
        return;
    sh("qemu-img create -q -f raw %s 64k && qemu-io -f raw -c 'write -P 3 0 8k' %s >/dev/null",
       path("c.raw"), path("c.raw"));
    sh("qemu-img convert -c -f raw -O qcow2 -o cluster_size=4k %s %s", path("c.raw"),
       path("c.qcow2"));
    b = open_ok(path("c.qcow2"), BLK_OPEN_RDONLY);
    expect_status(b, 0, 64 * KiB, 2 * cs, A | D | P | BLK_STATUS_COMPRESSED, 0);
    blk_close(b);
}

/* Zeroes and discards ranges (aligned and not), checks reads and refcounts. */
static void zero_discard(int compat, bool backing)
{
    const uint32_t cs = 4096;
    const uint64_t size = 256 * KiB;
    const char *p = path("zd.qcow2");
    uint8_t *model = calloc(1, size);
    if (backing) {
        create(path("zdb.qcow2"), size, cs, compat, NULL, 0);
        struct blk *bb = open_ok(path("zdb.qcow2"), 0);
        fill(bb, model, 0, size, 9);
        blk_close(bb);
    }
    create(p, size, cs, compat, backing ? "zdb.qcow2" : NULL, BLK_FMT_QCOW2);
    struct blk *b = open_ok(p, 0);
    fill(b, model, 0, 40 * cs, 1);
    assert_int_equal(blk_write_zeroes(b, 3 * cs + 100, 5 * cs), 0);
    memset(model + 3 * cs + 100, 0, 5 * cs);
    assert_int_equal(blk_write_zeroes(b, 50 * cs, 4 * cs), 0);   /* unallocated here */
    memset(model + 50 * cs, 0, 4 * cs);
    assert_int_equal(blk_write_zeroes(b, size - 10, 10), 0);     /* the very end */
    memset(model + size - 10, 0, 10);
    assert_model(b, model, size);
    /* Discard: whole clusters only; with a backing file v3 keeps zeros. */
    assert_int_equal(blk_discard(b, 20 * cs + 1, 10 * cs), 0);
    uint8_t *exp = backing && compat == 2 ? NULL : calloc(1, 9 * cs);
    assert_int_equal(blk_pread(b, 21 * cs, model + 21 * cs, 9 * cs), 0);
    if (exp)
        assert_memory_equal(model + 21 * cs, exp, 9 * cs);
    free(exp);
    assert_model(b, model, size);
    assert_int_equal(blk_close(b), 0);
    b = open_ok(p, BLK_OPEN_RDONLY);
    assert_model(b, model, size);
    blk_close(b);
    check(p, 0, 0, 0);
    qemu_check_clean(p);
    free(model);
}

static void test_zero_discard(void **state)
{
    (void)state;
    zero_discard(3, false);
    zero_discard(3, true);
    zero_discard(2, false);
    zero_discard(2, true);
}

static void test_raw_ops(void **state)
{
    (void)state;
    struct blk_create_opts o = { .format = BLK_FMT_RAW, .size = 64 * KiB };
    assert_int_equal(blk_create(path("o.raw"), &o), 0);
    struct blk *b = open_ok(path("o.raw"), 0);
    uint8_t *model = calloc(1, 128 * KiB);
    fill(b, model, 0, 64 * KiB, 5);
    assert_int_equal(blk_write_zeroes(b, 100, 5000), 0);
    memset(model + 100, 0, 5000);
    assert_int_equal(blk_discard(b, 8192, 8192), 0);
    memset(model + 8192, 0, 8192);   /* a hole, where punching works */
    assert_int_equal(blk_resize(b, 128 * KiB), 0);
    assert_int_equal(blk_size(b), 128 * KiB);
    assert_model(b, model, 128 * KiB);
    blk_close(b);
    free(model);
}

static void test_resize(void **state)
{
    (void)state;
    const uint32_t cs = 4096;   /* one L1 cluster maps 1 GiB: growing to 3 GiB moves it */
    const char *p = path("rs.qcow2");
    create(p, 1 * MiB, cs, 3, NULL, 0);
    struct blk *b = open_ok(p, 0);
    fill(b, NULL, 0, cs, 1);
    assert_int_equal(blk_resize(b, 3 * GiB + 1000), 0);
    assert_int_equal(blk_size(b), 3 * GiB + 1000);
    fill(b, NULL, 3 * GiB, 1000, 2);
    blk_close(b);
    check(p, 0, 0, 0);
    qemu_check_clean(p);
    b = open_ok(p, 0);
    assert_int_equal(blk_size(b), 3 * GiB + 1000);
    uint8_t buf[1000], exp[1000];
    memset(exp, 2, sizeof(exp));
    assert_int_equal(blk_pread(b, 3 * GiB, buf, sizeof(buf)), 0);
    assert_memory_equal(buf, exp, sizeof(buf));
    expect_status(b, 2 * MiB, 3 * GiB - 2 * MiB, 3 * GiB - 2 * MiB, BLK_STATUS_ZERO, 0);
    assert_true(blk_resize(b, 1 * MiB) < 0);            /* data past the new end */
    assert_non_null(strstr(err_msg(), "allocated"));
    assert_int_equal(blk_discard(b, 3 * GiB, 1000), 0);
    assert_int_equal(blk_resize(b, 100), 0);            /* cluster 0 partly kept */
    assert_int_equal(blk_resize(b, 1 * MiB), 0);
    assert_int_equal(blk_pread(b, 0, buf, sizeof(buf)), 0);
    memset(exp, 1, 100);
    memset(exp + 100, 0, sizeof(exp) - 100);          /* the cut tail reads zeros */
    assert_memory_equal(buf, exp, sizeof(buf));
    blk_close(b);
    check(p, 0, 0, 0);
    qemu_check_clean(p);
}

/* Growing over a longer backing file: the new space reads zeros, not the
 * backing file's data. */
static void test_resize_backing(void **state)
{
    (void)state;
    for (int compat = 2; compat <= 3; compat++) {
        create(path("rb.qcow2"), 1 * MiB, 4096, compat, NULL, 0);
        struct blk *b = open_ok(path("rb.qcow2"), 0);
        fill(b, NULL, 0, 1 * MiB, 9);
        blk_close(b);
        const char *p = path("rt.qcow2");
        create(p, 256 * KiB + 100, 4096, compat, "rb.qcow2", BLK_FMT_QCOW2);
        b = open_ok(p, 0);
        assert_int_equal(blk_resize(b, 2 * MiB), 0);
        uint8_t *buf = malloc(2 * MiB), *exp = malloc(2 * MiB);
        memset(exp, 9, 256 * KiB + 100);
        memset(exp + 256 * KiB + 100, 0, 2 * MiB - 256 * KiB - 100);
        assert_int_equal(blk_pread(b, 0, buf, 2 * MiB), 0);
        assert_memory_equal(buf, exp, 2 * MiB);
        blk_close(b);
        free(buf);
        free(exp);
        check(p, 0, 0, 0);
        qemu_check_clean(p);
    }
}

static void test_set_backing(void **state)
{
    (void)state;
    struct blk_create_opts raw = { .format = BLK_FMT_RAW, .size = 64 * KiB };
    assert_int_equal(blk_create(path("ba.raw"), &raw), 0);
    create(path("bb.qcow2"), 64 * KiB, 4096, 3, NULL, 0);
    struct blk *b = open_ok(path("bb.qcow2"), 0);
    fill(b, NULL, 0, 64 * KiB, 4);
    blk_close(b);
    const char *p = path("bt.qcow2");
    create(p, 64 * KiB, 4096, 3, "ba.raw", BLK_FMT_RAW);
    b = open_ok(p, 0);
    assert_int_equal(blk_set_backing(b, "bb.qcow2", BLK_FMT_QCOW2), 0);
    blk_close(b);
    b = open_ok(p, 0);
    struct blk_info in;
    assert_int_equal(blk_get_info(b, &in), 0);
    assert_string_equal(in.backing_file, "bb.qcow2");
    assert_int_equal(in.backing_format, BLK_FMT_QCOW2);
    uint8_t x;
    assert_int_equal(blk_pread(b, 1000, &x, 1), 0);
    assert_int_equal(x, 4);
    char longname[3000];
    memset(longname, 'a', 1000);
    longname[1000] = 0;
    assert_int_equal(blk_set_backing(b, longname, BLK_FMT_RAW), 0);   /* fits in 4 KiB */
    assert_int_equal(blk_set_backing(b, NULL, BLK_FMT_PROBE), 0);
    blk_close(b);
    b = open_ok(p, 0);
    assert_int_equal(blk_get_info(b, &in), 0);
    assert_string_equal(in.backing_file, "");
    assert_int_equal(in.backing_format, BLK_FMT_PROBE);
    assert_int_equal(blk_pread(b, 1000, &x, 1), 0);
    assert_int_equal(x, 0);
    blk_close(b);
    qemu_check_clean(p);
}

/* Zeroes, discard and resize on an image with a qemu-made internal
 * snapshot: the snapshot keeps its data and the refcounts stay right. */
static void test_snapshot_shared(void **state)
{
    (void)state;
    if (!have_qemu) {
        print_message("skipped: qemu-img is not installed\n");
        return;
    }
    const char *p = path("sn.qcow2"), *raw = path("sn.raw"), *exp = path("sn-exp.raw");
    sh("qemu-img create -q -f qcow2 -o cluster_size=4k %s 1M", p);
    sh("qemu-io -c 'write -P 7 0 512k' %s >/dev/null", p);
    sh("qemu-img snapshot -c s1 %s", p);
    sh("qemu-img convert -O raw %s %s", p, exp);
    struct blk *b = open_ok(p, 0);
    assert_int_equal(blk_write_zeroes(b, 10000, 100000), 0);
    assert_int_equal(blk_discard(b, 200 * KiB, 100 * KiB), 0);
    assert_int_equal(blk_resize(b, 2 * GiB), 0);
    fill(b, NULL, 2 * GiB - 4096, 4096, 3);
    assert_int_equal(blk_close(b), 0);
    check(p, 0, 0, 0);
    qemu_check_clean(p);
    sh("qemu-img convert -O raw -l snapshot.name=s1 %s %s", p, raw);
    /* The export has the current size; the snapshot covers the first 1M. */
    sh("cmp -s -n 1048576 %s %s", raw, exp);
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_block_status),
        cmocka_unit_test(test_zero_discard),
        cmocka_unit_test(test_raw_ops),
        cmocka_unit_test(test_resize),
        cmocka_unit_test(test_resize_backing),
        cmocka_unit_test(test_set_backing),
        cmocka_unit_test(test_snapshot_shared),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
