/* block: the qcow2 consistency check — clean images, crafted leaks and
 * corruptions and their repair, images made by qemu (internal snapshots,
 * compressed clusters, every refcount width), and damaged images that must
 * not crash it.  qemu-img judges every repaired image where installed. */
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

static void test_check_fix(void **state)
{
    (void)state;
    const uint32_t cs = 4096;
    const char *p = path("ck.qcow2");
    create(p, 1 * MiB, cs, 3, NULL, 0);
    struct blk *b = open_ok(p, 0);
    fill(b, NULL, 0, 8 * cs, 1);
    uint64_t n, host;
    int st, d;
    assert_int_equal(blk_block_status(b, 0, cs, &n, &st, &host, &d), 0);
    blk_close(b);
    struct blk_check_result r = check(p, 0, 0, 0);
    assert_int_equal(r.allocated_clusters, 8);
    assert_int_equal(r.total_clusters, 256);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(r.image_end_offset, (uint64_t)sb.st_size);
    /* A leak: one more cluster at the end with refcount 1. */
    assert_int_equal(truncate(p, sb.st_size + cs), 0);
    set_refcount(p, (uint64_t)sb.st_size / cs, 1);
    check(p, 0, 0, 1);
    r = check(p, BLK_FIX_LEAKS, 0, 1);
    assert_int_equal(r.leaks_fixed, 1);
    check(p, 0, 0, 0);
    qemu_check_clean(p);
    /* A corruption: an in-use data cluster with refcount 0 (its COPIED
     * flag then disagrees too). */
    set_refcount(p, host / cs, 0);
    check(p, 0, (uint64_t)-1, 0);
    check(p, BLK_FIX_LEAKS, (uint64_t)-1, 0);     /* leaks only: left alone */
    r = check(p, BLK_FIX_ERRORS | BLK_FIX_LEAKS, (uint64_t)-1, 0);
    assert_int_equal(r.corruptions_fixed, r.corruptions);
    check(p, 0, 0, 0);
    qemu_check_clean(p);
    /* Refcount 2 on a COPIED entry: a leak, and the flag disagrees; once
     * the leak is fixed first (as qemu-img does) the flag is right. */
    set_refcount(p, host / cs, 2);
    check(p, 0, 1, 1);
    r = check(p, BLK_FIX_ERRORS | BLK_FIX_LEAKS, 0, 1);
    assert_int_equal(r.leaks_fixed, 1);
    check(p, 0, 0, 0);
    qemu_check_clean(p);
}

/* Images made by qemu (snapshots, compressed clusters, odd refcount
 * widths, v2) check clean here as they do in qemu-img. */
static void test_qemu_images(void **state)
{
    (void)state;
    if (!have_qemu) {
        print_message("skipped: qemu-img is not installed\n");
        return;
    }
    static const char *const opts[] = {
        "cluster_size=4k", "compat=0.10", "refcount_bits=2,cluster_size=512",
        "refcount_bits=64", "refcount_bits=8,cluster_size=2M",
    };
    for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
        const char *p = path("q.qcow2"), *c = path("qc.qcow2");
        sh("qemu-img create -q -f qcow2 -o %s %s 8M", opts[i], p);
        sh("qemu-io -c 'write -P 1 0 1M' -c 'write -z 2M 64k' %s >/dev/null", p);
        sh("qemu-img snapshot -c s1 %s && qemu-io -c 'write -P 2 512k 1M' %s >/dev/null", p, p);
        sh("qemu-img snapshot -c s2 %s && qemu-io -c 'discard 0 64k' %s >/dev/null", p, p);
        check(p, 0, 0, 0);
        if (strstr(opts[i], "refcount_bits=") == NULL) {
            /* The snapshot table's refcount lost: repaired here. */
            uint64_t cs = strstr(opts[i], "4k") ? 4096 : 65536;
            set_refcount(p, read_be64(p, 64) / cs, 0);
            check(p, 0, (uint64_t)-1, 0);
            check(p, BLK_FIX_ERRORS, (uint64_t)-1, 0);
            check(p, 0, 0, 0);
            qemu_check_clean(p);
        }
        sh("qemu-img convert -c -O qcow2 -o %s %s %s", opts[i], p, c);
        struct blk_check_result r = check(c, 0, 0, 0);
        assert_true(r.compressed_clusters > 0);
        /* Break the compressed image, repair it here, and let qemu judge. */
        sh("qemu-io -c 'write -P 5 4M 64k' %s >/dev/null", c);
        if (strstr(opts[i], "refcount_bits=") == NULL) {
            struct blk *b = open_ok(c, 0);
            uint64_t n, host;
            int st, d;
            assert_int_equal(blk_block_status(b, 4 * MiB, 1, &n, &st, &host, &d), 0);
            blk_close(b);
            set_refcount(c, host >> (strstr(opts[i], "4k") ? 12 : 16), 0);
            check(c, BLK_FIX_ERRORS | BLK_FIX_LEAKS, (uint64_t)-1, 0);
            check(c, 0, 0, 0);
        }
        qemu_check_clean(c);
    }
}

/* Damages `rounds` copies of image p at random bytes in [0, span) and runs
 * check (read-only, then repairing) on each. */
static void fuzz_check(const char *p, uint64_t span, int rounds)
{
    const char *f = path("h.qcow2");
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    size_t size = (size_t)st.st_size;
    uint8_t *img = malloc(size), *d = malloc(size);
    int fd = open(p, O_RDONLY);
    assert_int_equal(read(fd, img, size), (ssize_t)size);
    close(fd);
    uint32_t seed = 12345;
    for (int i = 0; i < rounds; i++) {
        memcpy(d, img, size);
        for (int k = 0; k < 1 + i % 16; k++) {
            seed = seed * 1103515245 + 12345;
            d[(seed >> 8) % MIN(size, span)] = (uint8_t)(seed >> 3);
        }
        fd = open(f, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_int_equal(write(fd, d, size), (ssize_t)size);
        close(fd);
        struct blk_check_result res;
        struct blk *b;
        for (int fix = 0; fix <= (BLK_FIX_LEAKS | BLK_FIX_ERRORS); fix += 3) {
            if (blk_open(f, BLK_FMT_QCOW2, fix ? 0 : BLK_OPEN_RDONLY, &b) < 0)
                continue;
            (void)blk_check(b, fix, &res);
            blk_close(b);
        }
    }
    free(img);
    free(d);
}

/* Randomly damaged metadata: check (and repair) must never crash, hang or
 * allocate wildly; under ASan and UBSan here. */
static void test_check_hostile(void **state)
{
    (void)state;
    const char *p = path("h0.qcow2");
    create(p, 4 * MiB, 4096, 3, NULL, 0);
    struct blk *b = open_ok(p, 0);
    fill(b, NULL, 0, 64 * KiB, 1);
    fill(b, NULL, 3 * MiB, 8 * KiB, 2);
    blk_close(b);
    fuzz_check(p, 8 * 4096, 200);   /* the metadata: the first clusters */
    if (!have_qemu)
        return;
    /* Snapshots and compressed clusters, damaged anywhere. */
    sh("qemu-img create -q -f qcow2 -o cluster_size=4k %s 1M", p);
    sh("qemu-io -c 'write -P 1 0 64k' %s >/dev/null && qemu-img snapshot -c s1 %s", p, p);
    sh("qemu-io -c 'write -P 2 16k 64k' %s >/dev/null && qemu-img snapshot -c s2 %s", p, p);
    sh("qemu-img convert -c -O qcow2 %s %s && qemu-img snapshot -c s1 %s", p, path("hc.qcow2"),
       path("hc.qcow2"));
    fuzz_check(p, UINT64_MAX, 150);
    fuzz_check(path("hc.qcow2"), UINT64_MAX, 150);
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_fix),
        cmocka_unit_test(test_qemu_images),
        cmocka_unit_test(test_check_hostile),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
