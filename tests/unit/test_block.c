/* block: raw and qcow2 images — create, open, read, write, reopen, backing
 * chains with copy-on-write, zero clusters, and rejection of bad images. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#undef fail /* cmocka's fail() would hide util's */

#include "block/block.h"
#include "util/util.h"

#include "block_test_helpers.h"

static void assert_reads(struct blk *b, const uint8_t *model, uint64_t size)
{
    uint8_t *buf = malloc(size);
    assert_int_equal(blk_pread(b, 0, buf, size), 0);
    assert_memory_equal(buf, model, size);
    /* Odd-sized, unaligned reads too. */
    assert_int_equal(blk_pread(b, 777, buf, 5000), 0);
    assert_memory_equal(buf, model + 777, 5000);
    free(buf);
}

static void test_raw(void **state)
{
    (void)state;
    const uint64_t size = 1 * MiB;
    struct blk_create_opts o = { .format = BLK_FMT_RAW, .size = size };
    assert_int_equal(blk_create(path("r.raw"), &o), 0);
    struct blk *b = open_ok(path("r.raw"), 0);
    assert_int_equal(blk_format_of(b), BLK_FMT_RAW);
    assert_true(blk_size(b) == size);
    uint8_t *model = calloc(1, size);
    write_both(b, model, 1000, 70000, 1);
    assert_int_equal(blk_flush(b), 0);
    assert_reads(b, model, size);
    uint8_t x = 0;
    assert_true(blk_pread(b, size, &x, 1) < 0);
    assert_int_equal(blk_close(b), 0);
    b = open_ok(path("r.raw"), BLK_OPEN_RDONLY);
    assert_reads(b, model, size);
    assert_true(blk_pwrite(b, 0, &x, 1) < 0);
    blk_close(b);
    free(model);
}

static void qcow2_roundtrip(uint32_t cs, int compat)
{
    const uint64_t size = MAX(8 * MiB, 4ULL * cs);
    create(path("q.qcow2"), size, cs, compat, NULL, 0);
    struct blk *b = open_ok(path("q.qcow2"), 0);
    assert_int_equal(blk_format_of(b), BLK_FMT_QCOW2);
    assert_true(blk_size(b) == size);
    uint8_t *model = calloc(1, size);
    write_both(b, model, 100, 10, 1);                  /* partial cluster */
    write_both(b, model, cs - 5, 2 * cs + 17, 2);      /* spans clusters */
    write_both(b, model, size - 3000, 3000, 3);        /* at the end */
    write_both(b, model, 120, 7, 4);                   /* in place */
    assert_int_equal(blk_flush(b), 0);
    assert_reads(b, model, size);
    assert_int_equal(blk_close(b), 0);
    b = open_ok(path("q.qcow2"), BLK_OPEN_RDONLY);
    assert_reads(b, model, size);
    blk_close(b);
    free(model);
}

static void test_qcow2_clusters(void **state)
{
    (void)state;
    static const uint32_t sizes[] = { 512, 4096, 65536, 2 * 1024 * 1024 };
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        qcow2_roundtrip(sizes[i], 2);
        qcow2_roundtrip(sizes[i], 3);
    }
}

/* Many small clusters force new refcount blocks and a larger refcount table. */
static void test_qcow2_refcount_growth(void **state)
{
    (void)state;
    const uint64_t size = 64 * MiB;
    create(path("g.qcow2"), size, 512, 3, NULL, 0);
    struct blk *b = open_ok(path("g.qcow2"), 0);
    uint8_t *model = calloc(1, size);
    write_both(b, model, 0, 12 * MiB, 5);
    assert_reads(b, model, size);
    assert_int_equal(blk_close(b), 0);
    b = open_ok(path("g.qcow2"), 0);
    write_both(b, model, 40 * MiB, 1 * MiB, 6);
    assert_reads(b, model, size);
    blk_close(b);
    free(model);
}

static void test_backing_chain(void **state)
{
    (void)state;
    const uint64_t size = 4 * MiB;
    uint8_t *model = malloc(size);
    pattern(model, size, 0, 9);
    struct blk_create_opts o = { .format = BLK_FMT_RAW, .size = size };
    assert_int_equal(blk_create(path("base.raw"), &o), 0);
    struct blk *b = open_ok(path("base.raw"), 0);
    assert_int_equal(blk_pwrite(b, 0, model, size), 0);
    blk_close(b);
    create(path("mid.qcow2"), 0, 65536, 3, "base.raw", BLK_FMT_RAW);
    create(path("top.qcow2"), 0, 4096, 2, "mid.qcow2", BLK_FMT_PROBE);
    b = open_ok(path("mid.qcow2"), 0);
    assert_true(blk_size(b) == size);
    write_both(b, model, 70000, 100, 10);   /* COW from the raw base */
    blk_close(b);
    b = open_ok(path("top.qcow2"), 0);
    assert_reads(b, model, size);
    write_both(b, model, 69990, 30, 11);    /* COW from mid over base */
    write_both(b, model, 3 * MiB + 1, 9000, 12);
    assert_reads(b, model, size);
    assert_int_equal(blk_close(b), 0);
    b = open_ok(path("top.qcow2"), BLK_OPEN_RDONLY);
    assert_reads(b, model, size);
    blk_close(b);
    /* Without its backing file, the unallocated clusters read as zeros. */
    b = open_ok(path("top.qcow2"), BLK_OPEN_RDONLY | BLK_OPEN_NO_BACKING);
    uint8_t buf[16];
    assert_int_equal(blk_pread(b, 0, buf, sizeof(buf)), 0);
    assert_true(buf[0] == 0 && buf[15] == 0);
    blk_close(b);
    free(model);
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* Sets the zero flag on the (allocated) first cluster's L2 entry. */
static void test_zero_flag(void **state)
{
    (void)state;
    const char *p = path("z.qcow2");
    create(p, 1 * MiB, 4096, 3, NULL, 0);
    struct blk *b = open_ok(p, 0);
    uint8_t *model = calloc(1, 1 * MiB);
    write_both(b, model, 0, 8192, 1);
    blk_close(b);
    uint64_t l2 = read_be64(p, (off_t)read_be64(p, 40)) & 0x00fffffffffffe00ULL;
    uint8_t e[8];
    put64(e, read_be64(p, (off_t)l2) | 1);
    patch(p, (off_t)l2, e, 8);
    memset(model, 0, 4096);
    b = open_ok(p, 0);
    assert_reads(b, model, 1 * MiB);
    write_both(b, model, 100, 50, 2);       /* reuses the cluster, rest zero */
    assert_reads(b, model, 1 * MiB);
    blk_close(b);
    b = open_ok(p, BLK_OPEN_RDONLY);
    assert_reads(b, model, 1 * MiB);
    blk_close(b);
    free(model);
}

/* A fresh 64 KiB-cluster v3 image, patched at `off`; open must fail with a
 * message containing `want` (RW open when rw). */
static void expect_bad(off_t off, const void *data, size_t len, int flags, const char *want)
{
    const char *p = path("bad.qcow2");
    create(p, 16 * MiB, 65536, 3, NULL, 0);
    if (data)
        patch(p, off, data, len);
    else
        assert_int_equal(truncate(p, off), 0);
    struct blk *b = NULL;
    int r = blk_open(p, BLK_FMT_QCOW2, flags, &b);
    if (r == 0 || !strstr(err_msg(), want))
        print_error("expected '%s', got r=%d '%s'\n", want, r, err_msg());
    assert_true(r < 0);
    assert_non_null(strstr(err_msg(), want));
    assert_null(b);
}

static void test_bad_images(void **state)
{
    (void)state;
    uint8_t v[8];
    expect_bad(50, NULL, 0, BLK_OPEN_RDONLY, "truncated header");
    expect_bad(0, "QFI\xfc", 4, BLK_OPEN_RDONLY, "bad magic");
    expect_bad(4, "\0\0\0\x04", 4, BLK_OPEN_RDONLY, "version 4");
    expect_bad(20, "\0\0\0\x1e", 4, BLK_OPEN_RDONLY, "cluster_bits 30");
    put64(v, 1ULL << 40);
    expect_bad(40, v, 8, BLK_OPEN_RDONLY, "L1 table");
    put64(v, 65536 + 1);
    expect_bad(40, v, 8, BLK_OPEN_RDONLY, "cluster-aligned");
    put64(v, 1ULL << 40);
    expect_bad(48, v, 8, BLK_OPEN_RDONLY, "refcount table");
    put64(v, 1ULL << 62);
    expect_bad(24, v, 8, BLK_OPEN_RDONLY, "too large");
    put64(v, 1ULL << 30);
    expect_bad(24, v, 8, BLK_OPEN_RDONLY, "L1 table is too small");
    put64(v, 1ULL << 10);
    expect_bad(72, v, 8, BLK_OPEN_RDONLY, "incompatible");
    put64(v, 2);
    expect_bad(72, v, 8, 0, "marked corrupt");
    /* (A dirty image opens read-write after a repair: test_block_crash.c.) */
    expect_bad(96, "\0\0\0\x07", 4, BLK_OPEN_RDONLY, "refcount_order");
    expect_bad(100, "\0\0\0\x10", 4, BLK_OPEN_RDONLY, "header_length");
    expect_bad(32, "\0\0\0\x01", 4, BLK_OPEN_RDONLY, "encrypted");
    /* backing name at 200, 1024 bytes long */
    expect_bad(8, "\0\0\0\0\0\0\0\xc8\0\0\x04\0", 12, BLK_OPEN_RDONLY, "backing file name");
    /* backing name running past the header cluster */
    expect_bad(8, "\0\0\0\0\0\0\xff\xf0\0\0\0\x20", 12, BLK_OPEN_RDONLY,
               "backing file name");

    /* A corrupt or dirty image still opens read-only. */
    create(path("bad.qcow2"), 16 * MiB, 65536, 3, NULL, 0);
    put64(v, 3);
    patch(path("bad.qcow2"), 72, v, 8);
    struct blk *b = open_ok(path("bad.qcow2"), BLK_OPEN_RDONLY);
    blk_close(b);
}

static void test_backing_loop(void **state)
{
    (void)state;
    create(path("la.qcow2"), 1 * MiB, 0, 3, NULL, 0);
    create(path("lb.qcow2"), 0, 0, 3, "la.qcow2", BLK_FMT_QCOW2);
    create(path("la.qcow2"), 1 * MiB, 0, 3, "lb.qcow2", BLK_FMT_QCOW2);
    struct blk *b = NULL;
    assert_true(blk_open(path("la.qcow2"), BLK_FMT_PROBE, BLK_OPEN_RDONLY, &b) < 0);
    assert_non_null(strstr(err_msg(), "loop"));
    /* A self-reference too. */
    create(path("self.qcow2"), 1 * MiB, 0, 3, "self.qcow2", BLK_FMT_QCOW2);
    assert_true(blk_open(path("self.qcow2"), BLK_FMT_PROBE, 0, &b) < 0);
    assert_non_null(strstr(err_msg(), "loop"));
    /* Missing backing file: a clear error naming it. */
    create(path("orphan.qcow2"), 1 * MiB, 0, 3, "nonexistent.img", BLK_FMT_RAW);
    assert_true(blk_open(path("orphan.qcow2"), BLK_FMT_PROBE, 0, &b) < 0);
    assert_non_null(strstr(err_msg(), "nonexistent.img"));
}

static void test_create_bad_opts(void **state)
{
    (void)state;
    struct blk_create_opts o = { .format = BLK_FMT_QCOW2, .size = MiB, .cluster_size = 1000 };
    assert_true(blk_create(path("x.qcow2"), &o) < 0);
    o.cluster_size = 4096;
    o.compat = 4;
    assert_true(blk_create(path("x.qcow2"), &o) < 0);
    o.compat = 3;
    o.size = 1ULL << 62;
    assert_true(blk_create(path("x.qcow2"), &o) < 0);
    enum blk_format f;
    assert_int_equal(blk_parse_format("qcow2", &f), 0);
    assert_int_equal(f, BLK_FMT_QCOW2);
    assert_true(blk_parse_format("vmdk", &f) < 0);
}

/* Live migration with shared storage: the source hands a qcow2 image over
 * (and writes nothing more, not even at close); the destination, which
 * opened it before the source's last writes, reads them after a reload -
 * and without one would not see the newly allocated cluster. */
static void test_hand_over(void **state)
{
    (void)state;
    const char *p = path("shared.qcow2");
    struct blk_create_opts o = { .format = BLK_FMT_QCOW2, .size = 4 << 20, .cluster_size = 65536, .compat = 3,
                                 .lazy_refcounts = true };
    assert_int_equal(blk_create(p, &o), 0);
    struct blk *src = open_ok(p, 0);
    uint8_t buf[4096], got[4096];
    memset(buf, 0x5a, sizeof(buf));
    assert_int_equal(blk_pwrite(src, 1 << 20, buf, sizeof(buf)), 0);    /* lazy: the dirty bit is set */
    struct stat before, after;
    assert_int_equal(stat(p, &before), 0);
    struct blk *dst = open_ok(p, BLK_OPEN_SHARED);    /* no repair under the writer's feet */
    assert_int_equal(stat(p, &after), 0);
    assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
    assert_int_equal(blk_pwrite(dst, 0, buf, 512), -EBUSY);    /* not its own yet */
    assert_int_equal(blk_pread(dst, 3 << 20, got, sizeof(got)), 0);    /* its L2 table cached */
    assert_int_equal(blk_pwrite(src, 3 << 20, buf, sizeof(buf)), 0);
    assert_int_equal(blk_pread(dst, 3 << 20, got, sizeof(got)), 0);
    assert_int_equal(got[0], 0);    /* stale tables: what reload is for */
    assert_int_equal(blk_hand_over(src), 0);
    assert_int_equal(blk_reload(dst), 0);
    assert_int_equal(blk_pread(dst, 3 << 20, got, sizeof(got)), 0);
    assert_memory_equal(got, buf, sizeof(buf));
    memset(buf, 0xa5, sizeof(buf));
    assert_int_equal(blk_pwrite(dst, 2 << 20, buf, sizeof(buf)), 0);
    assert_int_equal(blk_flush(dst), 0);
    assert_int_equal(stat(p, &before), 0);
    assert_int_equal(blk_close(src), 0);    /* handed over: no last words */
    assert_int_equal(stat(p, &after), 0);
    assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
    assert_int_equal(blk_close(dst), 0);
    qemu_check_clean(p);
    struct blk *b = open_ok(p, 0);
    assert_int_equal(blk_pread(b, 1 << 20, got, sizeof(got)), 0);
    assert_int_equal(got[0], 0x5a);
    assert_int_equal(blk_pread(b, 2 << 20, got, sizeof(got)), 0);
    assert_int_equal(got[0], 0xa5);
    /* Taken back after a failed hand-over: writable as before. */
    assert_int_equal(blk_hand_over(b), 0);
    blk_take_back(b);
    assert_int_equal(blk_pwrite(b, 0, buf, sizeof(buf)), 0);
    assert_int_equal(blk_close(b), 0);
    qemu_check_clean(p);
}

/* Dirty tracking for a migration without shared storage: writes, zeroes and
 * discards mark the 64 KiB chunks they touch, after the write; collecting
 * moves the marks out; nothing is marked while tracking is off. */
static void test_track(void **state)
{
    (void)state;
    const char *p = path("track.qcow2");
    create(p, 1 << 20, 65536, 3, NULL, BLK_FMT_PROBE);
    struct blk *b = open_ok(p, 0);
    uint8_t buf[512] = { 1 };
    uint64_t bm[1] = { 0 };
    assert_int_equal(blk_track_chunks(b), 16);
    assert_int_equal(blk_pwrite(b, 0, buf, sizeof(buf)), 0);
    assert_int_equal(blk_track_start(b), 0);
    blk_track_collect(b, bm);
    assert_int_equal(bm[0], 0);    /* before tracking: not marked */
    assert_int_equal(blk_pwrite(b, 65536 - 256, buf, sizeof(buf)), 0);    /* chunks 0 and 1 */
    assert_int_equal(blk_write_zeroes(b, 5 * 65536, 65536), 0);
    assert_int_equal(blk_discard(b, 15 * 65536, 65536), 0);
    assert_true(blk_pwrite(b, 1 << 20, buf, sizeof(buf)) < 0);    /* past the end: nothing */
    blk_track_collect(b, bm);
    assert_int_equal(bm[0], (1u << 0) | (1u << 1) | (1u << 5) | (1u << 15));
    bm[0] = 0;
    blk_track_collect(b, bm);
    assert_int_equal(bm[0], 0);
    blk_track_stop(b);
    assert_int_equal(blk_pwrite(b, 3 * 65536, buf, sizeof(buf)), 0);
    blk_track_collect(b, bm);
    assert_int_equal(bm[0], 0);
    assert_int_equal(blk_close(b), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw),
        cmocka_unit_test(test_hand_over),
        cmocka_unit_test(test_track),
        cmocka_unit_test(test_qcow2_clusters),
        cmocka_unit_test(test_qcow2_refcount_growth),
        cmocka_unit_test(test_backing_chain),
        cmocka_unit_test(test_zero_flag),
        cmocka_unit_test(test_bad_images),
        cmocka_unit_test(test_backing_loop),
        cmocka_unit_test(test_create_bad_opts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
