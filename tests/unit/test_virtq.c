/* Split virtqueue parsing: good chains, indirect tables, interrupt
 * suppression, and every way a guest can lie in a descriptor. */
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <string.h>
#include <sys/mman.h>

#include "virtio/virtio.h"
#include "virtio/virtio_internal.h"

/* After the project headers: cmocka defines a fail() macro of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define RAM_SIZE (1u << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define TABLE 0x4000
#define BUF 0x10000
#define QSIZE 16

struct fx {
    uint8_t *ram;
    struct guest_mem mem;
    struct virtq q;
    struct virtq_req req;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->ram = aligned_alloc(4096, RAM_SIZE);
    memset(f->ram, 0, RAM_SIZE);
    gm_wrap(&f->mem, f->ram, RAM_SIZE);
    f->q.mem = &f->mem;
    f->q.s = (struct virtq_state){ .num = QSIZE, .ready = true, .desc_gpa = DESC,
                                   .avail_gpa = AVAIL, .used_gpa = USED };
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    free(f->ram);
    free(f);
    return 0;
}

static void set_desc(struct fx *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    struct vring_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };
    memcpy(f->ram + table + 16 * i, &d, sizeof(d));
}

static uint16_t *avail16(struct fx *f, unsigned i) { return (uint16_t *)(f->ram + AVAIL + 2 * i); }
static uint16_t *used16(struct fx *f, unsigned off) { return (uint16_t *)(f->ram + USED + off); }

static void avail_add(struct fx *f, uint16_t head)
{
    uint16_t idx = *avail16(f, 1);
    *avail16(f, 2 + idx % QSIZE) = head;
    *avail16(f, 1) = (uint16_t)(idx + 1);
}

static void used_elem(struct fx *f, unsigned i, uint32_t *id, uint32_t *len)
{
    struct vring_used_elem e;
    memcpy(&e, f->ram + USED + 4 + 8 * (i % QSIZE), sizeof(e));
    *id = e.id;
    *len = e.len;
}

static void test_layout(void **state)
{
    struct fx *f = *state;
    assert_true(virtq_check_layout(&f->q));
    struct virtq q = f->q;
    q.s.num = 0;
    assert_false(virtq_check_layout(&q));
    q.s.num = VIRTQ_MAX_SIZE + 1;
    assert_false(virtq_check_layout(&q));
    q = f->q;
    q.s.desc_gpa = DESC + 8;
    assert_false(virtq_check_layout(&q));
    q = f->q;
    q.s.avail_gpa = AVAIL + 1;
    assert_false(virtq_check_layout(&q));
    q = f->q;
    q.s.used_gpa = USED + 2;
    assert_false(virtq_check_layout(&q));
    q = f->q;
    q.s.used_gpa = RAM_SIZE - 8 * QSIZE; /* the used ring runs off the end */
    assert_false(virtq_check_layout(&q));
    q = f->q;
    q.s.desc_gpa = 0xfffffffffffffff0ULL;
    assert_false(virtq_check_layout(&q));
}

static void test_good_chain(void **state)
{
    struct fx *f = *state;
    set_desc(f, DESC, 3, BUF, 16, VRING_DESC_F_NEXT, 7);
    set_desc(f, DESC, 7, BUF + 0x100, 100, VRING_DESC_F_NEXT, 2);
    set_desc(f, DESC, 2, BUF + 0x200, 1, VRING_DESC_F_WRITE, 0);
    avail_add(f, 3);
    assert_int_equal(virtq_pop(&f->q, &f->req), 1);
    assert_int_equal(f->req.head, 3);
    assert_int_equal(f->req.nout, 2);
    assert_int_equal(f->req.nin, 1);
    assert_int_equal(f->req.out_len, 116);
    assert_int_equal(f->req.in_len, 1);
    assert_ptr_equal(f->req.out[0].iov_base, f->ram + BUF);
    assert_ptr_equal(f->req.out[1].iov_base, f->ram + BUF + 0x100);
    assert_ptr_equal(f->req.in[0].iov_base, f->ram + BUF + 0x200);
    assert_int_equal(virtq_pop(&f->q, &f->req), 0);

    assert_int_equal(virtq_push(&f->q, 3, 1), 0);
    assert_int_equal(*used16(f, 2), 1);
    uint32_t id, len;
    used_elem(f, 0, &id, &len);
    assert_int_equal(id, 3);
    assert_int_equal(len, 1);
    assert_true(virtq_push(&f->q, QSIZE, 0) < 0);
}

static void test_empty_and_not_ready(void **state)
{
    struct fx *f = *state;
    assert_int_equal(virtq_pop(&f->q, &f->req), 0);
    set_desc(f, DESC, 0, BUF, 4, 0, 0);
    avail_add(f, 0);
    f->q.s.ready = false;
    assert_int_equal(virtq_pop(&f->q, &f->req), 0);
    f->q.s.ready = true;
    assert_int_equal(virtq_pop(&f->q, &f->req), 1);
}

static void test_max_chain_and_zero_len(void **state)
{
    struct fx *f = *state;
    for (unsigned i = 0; i < QSIZE; i++)
        set_desc(f, DESC, i, BUF + 16 * i, i % 2 ? 0 : 8,
                 i + 1 < QSIZE ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    avail_add(f, 0);
    assert_int_equal(virtq_pop(&f->q, &f->req), 1);
    assert_int_equal(f->req.nout, QSIZE / 2); /* empty buffers get no iovec */
    assert_int_equal(f->req.out_len, 8 * QSIZE / 2);
}

static void test_wraparound(void **state)
{
    struct fx *f = *state;
    f->q.s.last_avail = 0xfffe;
    *avail16(f, 1) = 0xfffe;
    set_desc(f, DESC, 0, BUF, 4, 0, 0);
    set_desc(f, DESC, 1, BUF, 4, 0, 0);
    avail_add(f, 0);
    avail_add(f, 1);
    assert_int_equal(*avail16(f, 1), 0);
    assert_int_equal(virtq_pop(&f->q, &f->req), 1);
    assert_int_equal(f->req.head, 0);
    assert_int_equal(virtq_pop(&f->q, &f->req), 1);
    assert_int_equal(f->req.head, 1);
    assert_int_equal(virtq_pop(&f->q, &f->req), 0);
    assert_int_equal(f->q.s.last_avail, 0);
}

static void test_unpop(void **state)
{
    struct fx *f = *state;
    set_desc(f, DESC, 5, BUF, 4, VRING_DESC_F_WRITE, 0);
    avail_add(f, 5);
    assert_int_equal(virtq_pop(&f->q, &f->req), 1);
    virtq_unpop(&f->q);
    assert_int_equal(virtq_pop(&f->q, &f->req), 1);
    assert_int_equal(f->req.head, 5);
}

static void test_indirect(void **state)
{
    struct fx *f = *state;
    set_desc(f, TABLE, 0, BUF, 16, VRING_DESC_F_NEXT, 2);
    set_desc(f, TABLE, 2, BUF + 0x100, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
    set_desc(f, TABLE, 1, BUF + 0x400, 1, VRING_DESC_F_WRITE, 0);
    set_desc(f, DESC, 4, TABLE, 48, VRING_DESC_F_INDIRECT, 0);
    avail_add(f, 4);
    f->q.indirect = true;
    assert_int_equal(virtq_pop(&f->q, &f->req), 1);
    assert_int_equal(f->req.head, 4);
    assert_int_equal(f->req.nout, 1);
    assert_int_equal(f->req.nin, 2);
    assert_int_equal(f->req.in_len, 513);
    assert_ptr_equal(f->req.in[1].iov_base, f->ram + BUF + 0x400);
}

static void test_direct_then_indirect(void **state)
{
    struct fx *f = *state;
    set_desc(f, TABLE, 0, BUF + 0x100, 8, VRING_DESC_F_WRITE, 0);
    set_desc(f, DESC, 0, BUF, 16, VRING_DESC_F_NEXT, 1);
    set_desc(f, DESC, 1, TABLE, 16, VRING_DESC_F_INDIRECT, 0);
    avail_add(f, 0);
    f->q.indirect = true;
    assert_int_equal(virtq_pop(&f->q, &f->req), 1);
    assert_int_equal(f->req.nout, 1);
    assert_int_equal(f->req.nin, 1);
}

/* Sets up head 0 as an indirect descriptor and expects the pop to fail. */
static void expect_bad_indirect(struct fx *f, uint64_t addr, uint32_t len, uint16_t flags)
{
    set_desc(f, DESC, 0, addr, len, VRING_DESC_F_INDIRECT | flags, 1);
    set_desc(f, DESC, 1, BUF, 4, 0, 0);
    avail_add(f, 0);
    assert_true(virtq_pop(&f->q, &f->req) < 0);
    f->q.s.last_avail = *avail16(f, 1); /* skip the bad entry */
}

static void test_indirect_bad(void **state)
{
    struct fx *f = *state;
    set_desc(f, TABLE, 0, BUF, 16, 0, 0);
    f->q.indirect = false;
    expect_bad_indirect(f, TABLE, 16, 0); /* not negotiated */
    f->q.indirect = true;
    expect_bad_indirect(f, TABLE, 40, 0); /* not a multiple of 16 */
    expect_bad_indirect(f, TABLE, 0, 0);
    expect_bad_indirect(f, TABLE, 16 * (VIRTQ_MAX_SIZE + 1), 0);
    expect_bad_indirect(f, TABLE, 16, VRING_DESC_F_NEXT);
    expect_bad_indirect(f, RAM_SIZE - 8, 16, 0);
    expect_bad_indirect(f, 0xfffffffffffffff0ULL, 32, 0);
    set_desc(f, TABLE, 0, TABLE, 16, VRING_DESC_F_INDIRECT, 0); /* nested */
    expect_bad_indirect(f, TABLE, 16, 0);
    set_desc(f, TABLE, 0, BUF, 16, VRING_DESC_F_NEXT, 1); /* loop inside */
    set_desc(f, TABLE, 1, BUF, 16, VRING_DESC_F_NEXT, 0);
    expect_bad_indirect(f, TABLE, 32, 0);
    set_desc(f, TABLE, 1, BUF, 16, VRING_DESC_F_NEXT, 2); /* next past table */
    expect_bad_indirect(f, TABLE, 32, 0);
    /* A good one still works after all that. */
    set_desc(f, TABLE, 1, BUF, 16, 0, 0);
    set_desc(f, DESC, 0, TABLE, 32, VRING_DESC_F_INDIRECT, 0);
    avail_add(f, 0);
    assert_int_equal(virtq_pop(&f->q, &f->req), 1);
    assert_int_equal(f->req.nout, 2);
}

static void test_loops(void **state)
{
    struct fx *f = *state;
    set_desc(f, DESC, 0, BUF, 4, VRING_DESC_F_NEXT, 1);
    set_desc(f, DESC, 1, BUF, 4, VRING_DESC_F_NEXT, 0);
    avail_add(f, 0);
    assert_true(virtq_pop(&f->q, &f->req) < 0);
    f->q.s.last_avail++;
    set_desc(f, DESC, 3, BUF, 4, VRING_DESC_F_NEXT, 3); /* self loop */
    avail_add(f, 3);
    assert_true(virtq_pop(&f->q, &f->req) < 0);
}

static void test_bad_indices(void **state)
{
    struct fx *f = *state;
    avail_add(f, QSIZE); /* head past the table */
    assert_true(virtq_pop(&f->q, &f->req) < 0);
    f->q.s.last_avail++;
    set_desc(f, DESC, 0, BUF, 4, VRING_DESC_F_NEXT, QSIZE); /* next past the table */
    avail_add(f, 0);
    assert_true(virtq_pop(&f->q, &f->req) < 0);
    f->q.s.last_avail++;
    /* The driver claims more entries than the ring holds. */
    *avail16(f, 1) = (uint16_t)(f->q.s.last_avail + QSIZE + 1);
    assert_true(virtq_pop(&f->q, &f->req) < 0);
    *avail16(f, 1) = (uint16_t)(f->q.s.last_avail - 1); /* or goes backwards */
    assert_true(virtq_pop(&f->q, &f->req) < 0);
}

static void test_out_of_ram(void **state)
{
    struct fx *f = *state;
    set_desc(f, DESC, 0, RAM_SIZE - 10, 20, 0, 0);
    avail_add(f, 0);
    assert_true(virtq_pop(&f->q, &f->req) < 0);
    f->q.s.last_avail++;
    set_desc(f, DESC, 0, 0xfffffffffffff000ULL, 0x2000, 0, 0); /* wraps */
    avail_add(f, 0);
    assert_true(virtq_pop(&f->q, &f->req) < 0);
    f->q.s.last_avail++;
    set_desc(f, DESC, 0, RAM_SIZE, 1, 0, 0);
    avail_add(f, 0);
    assert_true(virtq_pop(&f->q, &f->req) < 0);
}

/* A big guest's layout: RAM below the 32-bit hole and again from 4 GiB.
 * Buffers in either slot are fine; one that runs off low RAM into the
 * hole, spans the hole or runs off the high slot is refused. */
static void test_two_slots(void **state)
{
    struct fx *f = *state;
    enum { HIGH = 0x2000 };
    uint8_t *high = calloc(1, HIGH);
    gm_wrap2(&f->mem, f->ram, RAM_SIZE, high, HIGH);
    assert_ptr_equal(gm_ptr(&f->mem, MEM_HIGH_START + 16, 16), high + 16);
    assert_null(gm_ptr(&f->mem, RAM_SIZE, 1));
    set_desc(f, DESC, 0, MEM_HIGH_START + 0x100, 64, VRING_DESC_F_WRITE, 0);
    avail_add(f, 0);
    assert_int_equal(virtq_pop(&f->q, &f->req), 1);
    assert_int_equal(f->req.nin, 1);
    assert_ptr_equal(f->req.in[0].iov_base, high + 0x100);
    static const struct { uint64_t addr; uint32_t len; } bad[] = {
        { RAM_SIZE - 8, 16 },                      /* off low RAM */
        { MEM_HIGH_START - 8, 16 },                /* across the hole's top */
        { MEM_HIGH_START + HIGH - 4, 8 },          /* off the high slot */
        { MEM_HIGH_START + HIGH, 1 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        set_desc(f, DESC, 0, bad[i].addr, bad[i].len, VRING_DESC_F_WRITE, 0);
        avail_add(f, 0);
        assert_true(virtq_pop(&f->q, &f->req) < 0);
        f->q.s.last_avail++;
    }
    free(high);
}

static void test_readable_after_writable(void **state)
{
    struct fx *f = *state;
    set_desc(f, DESC, 0, BUF, 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    set_desc(f, DESC, 1, BUF, 4, 0, 0);
    avail_add(f, 0);
    assert_true(virtq_pop(&f->q, &f->req) < 0);
    f->q.s.last_avail++;
    /* An empty writable buffer still counts. */
    set_desc(f, DESC, 0, BUF, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    avail_add(f, 0);
    assert_true(virtq_pop(&f->q, &f->req) < 0);
}

/* Buffers whose lengths add up past 4 GiB need RAM that big: reserve it
 * without touching it. */
static void test_length_overflow(void **state)
{
    (void)state;
    uint64_t size = 5 * GiB;
    uint8_t *ram = mmap(NULL, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    assert_true(ram != MAP_FAILED);
    struct guest_mem mem;
    gm_wrap(&mem, ram, size);
    struct virtq q = { .mem = &mem, .s = { .num = QSIZE, .ready = true, .desc_gpa = DESC,
                                          .avail_gpa = AVAIL, .used_gpa = USED } };
    struct vring_desc d[2] = {
        { .addr = BUF, .len = 0xffffffff, .flags = VRING_DESC_F_NEXT, .next = 1 },
        { .addr = BUF, .len = 1, .flags = 0 },
    };
    memcpy(ram + DESC, d, sizeof(d));
    uint16_t *avail = (uint16_t *)(ram + AVAIL);
    avail[1] = 1;
    static struct virtq_req req;
    assert_true(virtq_pop(&q, &req) < 0);
    d[1].flags = VRING_DESC_F_WRITE; /* separate sums: fine */
    memcpy(ram + DESC, d, sizeof(d));
    assert_int_equal(virtq_pop(&q, &req), 1);
    assert_int_equal(req.out_len, 0xffffffffULL);
    munmap(ram, size);
}

static void test_event_idx(void **state)
{
    struct fx *f = *state;
    uint16_t *used_event = avail16(f, 2 + QSIZE);
    uint16_t *avail_event = used16(f, 4 + 8 * QSIZE);
    f->q.event_idx = true;
    *avail_event = 0x55;
    assert_int_equal(virtq_pop(&f->q, &f->req), 0);
    assert_int_equal(*avail_event, 0); /* going idle asks for a kick at 0 */
    for (unsigned i = 0; i < 8; i++) {
        set_desc(f, DESC, i, BUF, 4, VRING_DESC_F_WRITE, 0);
        avail_add(f, (uint16_t)i);
    }
    assert_int_equal(virtq_pop(&f->q, &f->req), 1);
    assert_int_equal(*avail_event, 1);
    virtq_push(&f->q, f->req.head, 4);
    assert_true(virtq_should_notify(&f->q)); /* first one always */
    *used_event = 4;
    for (unsigned i = 1; i < 4; i++) {
        virtq_pop(&f->q, &f->req);
        virtq_push(&f->q, f->req.head, 4);
        assert_false(virtq_should_notify(&f->q)); /* used idx 2..4: not past 4 yet */
    }
    virtq_pop(&f->q, &f->req);
    virtq_push(&f->q, f->req.head, 4); /* used idx 5: entry 4 is used now */
    assert_true(virtq_should_notify(&f->q));
    assert_false(virtq_should_notify(&f->q)); /* nothing new */
    /* Batch across the event: notify once. */
    *used_event = 6;
    for (unsigned i = 0; i < 3; i++) {
        virtq_pop(&f->q, &f->req);
        virtq_push(&f->q, f->req.head, 4);
    }
    assert_true(virtq_should_notify(&f->q));
    /* The avail flags are ignored with EVENT_IDX. */
    *avail16(f, 0) = VRING_AVAIL_F_NO_INTERRUPT;
    *used_event = f->q.s.used_idx;
    set_desc(f, DESC, 9, BUF, 4, VRING_DESC_F_WRITE, 0);
    avail_add(f, 9);
    virtq_pop(&f->q, &f->req);
    virtq_push(&f->q, f->req.head, 4);
    assert_true(virtq_should_notify(&f->q));
}

static void test_no_interrupt_flag(void **state)
{
    struct fx *f = *state;
    set_desc(f, DESC, 0, BUF, 4, VRING_DESC_F_WRITE, 0);
    avail_add(f, 0);
    virtq_pop(&f->q, &f->req);
    virtq_push(&f->q, 0, 4);
    *avail16(f, 0) = VRING_AVAIL_F_NO_INTERRUPT;
    assert_false(virtq_should_notify(&f->q));
    *avail16(f, 0) = 0;
    assert_true(virtq_should_notify(&f->q));
    assert_int_equal(*used16(f, 4 + 8 * QSIZE), 0); /* no avail_event without EVENT_IDX */
}

static void test_iov_copy(void **state)
{
    (void)state;
    char a[3] = "abc", b[2] = "de", c[4] = "fghi";
    struct iovec v[3] = { { a, 3 }, { b, 2 }, { c, 4 } };
    char out[16] = { 0 };
    assert_int_equal(iov_to_buf(v, 3, 2, out, sizeof(out)), 7);
    assert_memory_equal(out, "cdefghi", 7);
    assert_int_equal(iov_to_buf(v, 3, 0, out, 4), 4);
    assert_memory_equal(out, "abcd", 4);
    assert_int_equal(iov_to_buf(v, 3, 9, out, 4), 0);
    assert_int_equal(buf_to_iov(v, 3, 4, "XYZ", 3), 3);
    assert_memory_equal(b, "dX", 2);
    assert_memory_equal(c, "YZhi", 4);
    assert_int_equal(buf_to_iov(v, 3, 8, "12345", 5), 1);
    assert_int_equal(c[3], '1');

    struct iovec s[3];
    unsigned k = iov_slice(v, 3, 2, 4, s, 3);
    assert_int_equal(k, 3);
    assert_ptr_equal(s[0].iov_base, a + 2);
    assert_int_equal(s[0].iov_len, 1);
    assert_int_equal(s[1].iov_len, 2);
    assert_int_equal(s[2].iov_len, 1);
    assert_int_equal(iov_slice(v, 3, 9, 4, s, 3), 0);
    assert_int_equal(iov_slice(v, 3, 0, 100, s, 2), 2);
}

/* A migration's log of what the VMM writes into guest RAM: a served
 * request marks its writable buffers and the used ring's pages, never its
 * readable ones; collecting clears the marks; nothing is marked while the
 * log is off. */
static long fill(struct virtio_dev *d, struct virtq_req *req)
{
    (void)d;
    return (long)buf_to_iov(req->in, req->nin, 0, "x", 1);
}

static void no_irq(struct dev_host *h, unsigned gsi, int level) { (void)h, (void)gsi, (void)level; }

static bool marked(const uint64_t *bm, uint64_t gpa) { return bm[gpa / 4096 / 64] >> (gpa / 4096 % 64) & 1; }

static void test_dirty_log(void **state)
{
    struct fx *f = *state;
    static const struct virtio_dev_ops ops = { .num_queues = 1 };
    struct dev_host host = { .mem = &f->mem, .set_irq = no_irq };
    struct virtio_dev d = { .ops = &ops, .host = &host, .irq_fd = -1, .kick_fd = { -1, -1 } };
    d.s.status = VIRTIO_CONFIG_S_DRIVER_OK;
    d.vq[0] = f->q;
    uint64_t bm[RAM_SIZE / 4096 / 64];
    set_desc(f, DESC, 0, BUF, 64, VRING_DESC_F_NEXT, 1);
    set_desc(f, DESC, 1, BUF + 0x3000, 0x1800, VRING_DESC_F_WRITE, 0);   /* two pages */

    avail_add(f, 0);
    assert_int_equal(virtio_drain_queue(&d, 0, fill, 8), 1);    /* log off */
    memset(bm, 0, sizeof(bm));
    gm_log_collect(&f->mem, 0, bm);
    for (size_t w = 0; w < sizeof(bm) / 8; w++)
        assert_int_equal(bm[w], 0);

    assert_int_equal(gm_log_start(&f->mem), 0);
    avail_add(f, 0);
    assert_int_equal(virtio_drain_queue(&d, 0, fill, 8), 1);
    gm_log_collect(&f->mem, 0, bm);
    assert_true(marked(bm, BUF + 0x3000) && marked(bm, BUF + 0x4000));
    assert_true(marked(bm, USED));
    assert_false(marked(bm, BUF) || marked(bm, BUF + 0x5000) || marked(bm, DESC) || marked(bm, AVAIL));
    memset(bm, 0, sizeof(bm));
    gm_log_collect(&f->mem, 0, bm);    /* taken: nothing left */
    assert_false(marked(bm, BUF + 0x3000) || marked(bm, USED));
    assert_true(gm_write(&f->mem, 0x7ff0, "0123456789abcdefgh", 18));    /* across a page line */
    gm_log_collect(&f->mem, 0, bm);
    assert_true(marked(bm, 0x7000) && marked(bm, 0x8000) && !marked(bm, 0x9000));
    gm_log_stop(&f->mem);
    memset(bm, 0, sizeof(bm));
    assert_true(gm_write(&f->mem, 0x7ff0, "x", 1));
    gm_log_collect(&f->mem, 0, bm);
    assert_false(marked(bm, 0x7000));
    free(f->mem.log[0]);
    f->mem.log[0] = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dirty_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_slots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_good_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_and_not_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_chain_and_zero_len, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wraparound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unpop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_then_indirect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_indices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_ram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readable_after_writable, setup, teardown),
        cmocka_unit_test(test_length_overflow),
        cmocka_unit_test_setup_teardown(test_event_idx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_interrupt_flag, setup, teardown),
        cmocka_unit_test(test_iov_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
