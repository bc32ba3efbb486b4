/* block: blk_queue (many requests in flight), the cache-mode open flags,
 * the qcow2 mapping fast path, multi-cluster allocation and the hashed
 * table cache under eviction.  Every run ends in a read-back against a
 * model and, for qcow2, a clean qemu-img check. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#undef fail /* cmocka's fail() would hide util's */

#include "block/qcow2.h"
#include "util/util.h"

#include "block_test_helpers.h"

#define DEPTH 16

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Waits for every outstanding request; each must have succeeded. */
static void reap_all(struct blk_queue *q)
{
    struct blk_done d[DEPTH];
    while (blk_queue_outstanding(q)) {
        int n = blk_queue_reap(q, d, DEPTH, 1);
        if (n < 1)
            print_error("reap: %d (%s)\n", n, n < 0 ? err_msg() : "");
        assert_true(n >= 1);
        for (int i = 0; i < n; i++) {
            if (d[i].ret < 0)
                print_error("request %p: %s\n", d[i].tag, err_msg());
            assert_int_equal(d[i].ret, 0);
        }
    }
}

/* `rounds` writes of random length (up to max_len, some unaligned) at
 * random offsets with DEPTH in flight, each from its own buffer; requests
 * in flight never overlap, so the model stays exact.  Then queued reads of
 * the whole disk in 64 KiB pieces. */
static void queue_roundtrip(struct blk *b, uint8_t *model, int rounds, size_t max_len,
                            bool aligned)
{
    uint64_t size = blk_size(b), seed = 0x1234567;
    struct blk_queue *q;
    assert_int_equal(blk_queue_new(b, DEPTH, &q), 0);
    uint8_t *bufs[DEPTH];
    uint64_t offs[DEPTH], lens[DEPTH];
    for (int i = 0; i < DEPTH; i++)
        assert_int_equal(posix_memalign((void **)&bufs[i], 4096, max_len), 0);
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < DEPTH; i++) {
            uint64_t len, off;
            bool clash;
            do {   /* no overlap with the others in this round */
                len = 1 + rnd(&seed) % max_len;
                if (aligned)
                    len = ALIGN_UP(len, 4096);
                off = rnd(&seed) % (size - len + 1);
                if (aligned)
                    off = ALIGN_DOWN(off, 4096);
                clash = false;
                for (int j = 0; j < i; j++)
                    clash |= off < offs[j] + lens[j] && offs[j] < off + len;
            } while (clash);
            offs[i] = off;
            lens[i] = len;
            pattern(bufs[i], len, off, (uint8_t)round);
            memcpy(model + off, bufs[i], len);
            assert_int_equal(blk_queue_write(q, off, bufs[i], len, bufs[i]), 0);
        }
        reap_all(q);
    }
    uint8_t *back = malloc(size);
    for (uint64_t off = 0; off < size; off += 64 * KiB) {
        if (blk_queue_outstanding(q) == DEPTH)
            reap_all(q);
        assert_int_equal(blk_queue_read(q, off, back + off, MIN(64 * KiB, size - off), NULL), 0);
    }
    reap_all(q);
    assert_memory_equal(back, model, size);
    free(back);
    blk_queue_free(q);
    for (int i = 0; i < DEPTH; i++)
        free(bufs[i]);
    assert_model(b, model, size);
}

static void test_queue_raw(void **state)
{
    (void)state;
    const uint64_t size = 8 * MiB;
    struct blk_create_opts o = { .format = BLK_FMT_RAW, .size = size };
    assert_int_equal(blk_create(path("q.raw"), &o), 0);
    struct blk *b = open_ok(path("q.raw"), 0);
    uint8_t *model = calloc(1, size);
    queue_roundtrip(b, model, 20, 200 * KiB, false);
    assert_int_equal(blk_close(b), 0);
    free(model);
}

/* Half the image allocated beforehand (fast path), the rest allocated by
 * queued writes (slow path), clusters of 4 KiB and 64 KiB, v2 and v3. */
static void queue_qcow2(uint32_t cs, int compat)
{
    const uint64_t size = 8 * MiB;
    create(path("q.qcow2"), size, cs, compat, NULL, 0);
    struct blk *b = open_ok(path("q.qcow2"), 0);
    uint8_t *model = calloc(1, size);
    write_both(b, model, 0, size / 2, 9);
    queue_roundtrip(b, model, 20, 150 * KiB, false);
    assert_int_equal(blk_close(b), 0);
    b = open_ok(path("q.qcow2"), BLK_OPEN_RDONLY);
    assert_model(b, model, size);
    blk_close(b);
    qemu_check_clean(path("q.qcow2"));
    free(model);
}

static void test_queue_qcow2(void **state)
{
    (void)state;
    queue_qcow2(4096, 3);
    queue_qcow2(65536, 3);
    queue_qcow2(65536, 2);
}

/* With a backing file, reads of unallocated clusters and the first writes
 * to them (copy-on-write) take the slow path in the middle of fast ones. */
static void test_queue_backing(void **state)
{
    (void)state;
    const uint64_t size = 4 * MiB;
    create(path("base.qcow2"), size, 65536, 3, NULL, 0);
    struct blk *b = open_ok(path("base.qcow2"), 0);
    uint8_t *model = calloc(1, size);
    write_both(b, model, 0, size, 3);
    assert_int_equal(blk_close(b), 0);
    create(path("top.qcow2"), size, 65536, 3, "base.qcow2", BLK_FMT_QCOW2);
    b = open_ok(path("top.qcow2"), 0);
    queue_roundtrip(b, model, 10, 100 * KiB, false);
    assert_int_equal(blk_close(b), 0);
    qemu_check_clean(path("top.qcow2"));
    free(model);
}

static void test_queue_errors(void **state)
{
    (void)state;
    struct blk_create_opts o = { .format = BLK_FMT_RAW, .size = 1 * MiB };
    assert_int_equal(blk_create(path("e.raw"), &o), 0);
    struct blk *b = open_ok(path("e.raw"), BLK_OPEN_RDONLY);
    struct blk_queue *q;
    uint8_t buf[4096] = { 0 };
    struct blk_done d[4];
    assert_int_equal(blk_queue_new(b, 0, &q), -EINVAL);
    assert_int_equal(blk_queue_new(b, 2, &q), 0);
    assert_int_equal(blk_queue_write(q, 0, buf, 512, NULL), -EROFS);
    assert_int_equal(blk_queue_read(q, 1 * MiB - 100, buf, 512, NULL), -EINVAL);
    assert_int_equal(blk_queue_read(q, UINT64_MAX, buf, 2, NULL), -EINVAL);
    assert_int_equal(blk_queue_read(q, 0, buf, 512, (void *)1), 0);
    assert_int_equal(blk_queue_read(q, 512, buf + 512, 0, (void *)2), 0);   /* empty */
    assert_int_equal(blk_queue_read(q, 0, buf, 512, NULL), -EBUSY);
    assert_int_equal(blk_queue_outstanding(q), 2);
    /* min above what is outstanding waits only for those. */
    int n = blk_queue_reap(q, d, 4, 10);
    assert_int_equal(n, 2);
    assert_true((d[0].tag == (void *)1 && d[1].tag == (void *)2) ||
                (d[0].tag == (void *)2 && d[1].tag == (void *)1));
    assert_int_equal(d[0].ret, 0);
    assert_int_equal(d[1].ret, 0);
    assert_int_equal(blk_queue_reap(q, d, 4, 1), 0);
    /* Freed with requests still outstanding: it waits for them. */
    assert_int_equal(blk_queue_read(q, 0, buf, 4096, NULL), 0);
    blk_queue_free(q);
    blk_close(b);
}

/* O_DIRECT where the file system has it: aligned and unaligned transfers
 * (the latter through the page cache) see the same bytes. */
static void test_open_direct(void **state)
{
    (void)state;
    const uint64_t size = 2 * MiB;
    create(path("d.qcow2"), size, 65536, 3, NULL, 0);
    struct blk *b = NULL;
    int r = blk_open(path("d.qcow2"), BLK_FMT_PROBE, BLK_OPEN_DIRECT | BLK_OPEN_DSYNC, &b);
    if (r < 0) {
        print_message("no O_DIRECT here (%s): skipped\n", err_msg());
        skip();
    }
    uint8_t *model = calloc(1, size);
    write_both(b, model, 4096, 8192, 1);       /* allocates: slow path */
    write_both(b, model, 100, 3000, 2);        /* unaligned */
    queue_roundtrip(b, model, 8, 64 * KiB, true);
    assert_int_equal(blk_close(b), 0);
    qemu_check_clean(path("d.qcow2"));
    free(model);
}

static void test_cache_flags(void **state)
{
    (void)state;
    struct blk_create_opts o = { .format = BLK_FMT_RAW, .size = 64 * KiB };
    assert_int_equal(blk_create(path("f.raw"), &o), 0);
    struct blk *b = open_ok(path("f.raw"), BLK_OPEN_NO_FLUSH);
    uint8_t *model = calloc(1, 64 * KiB);
    write_both(b, model, 10, 1000, 4);
    assert_int_equal(blk_flush(b), 0);
    assert_int_equal(blk_close(b), 0);
    b = open_ok(path("f.raw"), BLK_OPEN_DSYNC);
    write_both(b, model, 5000, 1000, 5);
    assert_int_equal(blk_close(b), 0);
    b = open_ok(path("f.raw"), BLK_OPEN_RDONLY);
    assert_model(b, model, 64 * KiB);
    blk_close(b);
    free(model);
}

/* A 1 MiB write into empty space takes 16 contiguous clusters at once, so
 * the guest range maps to one host range. */
static void test_multi_cluster_alloc(void **state)
{
    (void)state;
    create(path("m.qcow2"), 8 * MiB, 65536, 3, NULL, 0);
    struct blk *b = open_ok(path("m.qcow2"), 0);
    uint8_t *model = calloc(1, 8 * MiB);
    write_both(b, model, 1 * MiB + 1000, 1 * MiB, 6);   /* 17 clusters, both edges partial */
    uint64_t pnum, host;
    int st, depth;
    assert_int_equal(blk_block_status(b, 1 * MiB, 2 * MiB, &pnum, &st, &host, &depth), 0);
    assert_true(st & BLK_STATUS_DATA);
    assert_true(pnum == 17 * 65536);
    write_both(b, model, 1 * MiB + 20000, 65536 * 3, 7);   /* allocated now: rewritten in place */
    assert_model(b, model, 8 * MiB);
    assert_int_equal(blk_close(b), 0);
    qemu_check_clean(path("m.qcow2"));
    free(model);
}

/* The L2 cache shrunk to 3 slots over 16 L2 tables: hash chains, eviction
 * and re-reading keep working. */
static void test_cache_eviction(void **state)
{
    (void)state;
    const uint64_t size = 8 * GiB, cs = 65536, span = cs << 13;   /* one L2 table */
    create(path("c.qcow2"), size, (uint32_t)cs, 3, NULL, 0);
    struct blk *b = open_ok(path("c.qcow2"), 0);
    struct qcow2 *s = b->priv;
    qcow2_cache_free(&s->l2_cache);
    assert_int_equal(qcow2_cache_init(&s->l2_cache, 3), 0);
    uint8_t buf[512], got[512];
    uint64_t seed = 99;
    for (int i = 0; i < 200; i++) {
        uint64_t t = rnd(&seed) % 16, off = t * span + (t * 4096 % span);
        pattern(buf, sizeof(buf), off, (uint8_t)t);
        assert_int_equal(blk_pwrite(b, off, buf, sizeof(buf)), 0);
        uint64_t u = rnd(&seed) % 16, uoff = u * span + (u * 4096 % span);
        assert_int_equal(blk_pread(b, uoff, got, sizeof(got)), 0);
    }
    for (uint64_t t = 0; t < 16; t++) {
        uint64_t off = t * span + (t * 4096 % span);
        pattern(buf, sizeof(buf), off, (uint8_t)t);
        assert_int_equal(blk_pread(b, off, got, sizeof(got)), 0);
        assert_memory_equal(got, buf, sizeof(buf));
    }
    assert_int_equal(blk_close(b), 0);
    qemu_check_clean(path("c.qcow2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_raw),
        cmocka_unit_test(test_queue_qcow2),
        cmocka_unit_test(test_queue_backing),
        cmocka_unit_test(test_queue_errors),
        cmocka_unit_test(test_open_direct),
        cmocka_unit_test(test_cache_flags),
        cmocka_unit_test(test_multi_cluster_alloc),
        cmocka_unit_test(test_cache_eviction),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
