/* blk_queue: many reads and writes in flight from one thread (block.h).
 *
 * The fast path asks the driver where the bytes live (blk_ops.map) and
 * hands each contiguous host range to io_uring as one read or write on the
 * image file.  Everything the driver must do itself (allocation, COW, zero
 * or compressed clusters, backing files) first waits for the I/O in flight,
 * then runs synchronously on this thread: the image's metadata only ever
 * changes while no data I/O is outstanding, so no lock is needed and a
 * mapping handed to the kernel stays valid until its I/O completes. */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <string.h>

#include "block/block_internal.h"

#define QUEUE_MAX_DEPTH 4096
#define REQ_MAX_PARTS 8     /* more fragmented requests take the slow path */

struct part {
    struct req *req;
    uint8_t *buf;
    uint64_t host;
    size_t len;
    int fd;
};

struct req {
    void *tag;
    int ret;
    bool write;
    unsigned pending;       /* parts in flight */
    struct part parts[REQ_MAX_PARTS];
    char msg[256];          /* the error of a failed request */
};

struct blk_queue {
    struct blk *b;
    struct io_uring ring;
    bool async;
    unsigned depth;
    unsigned nfree, ndone, done_head;
    unsigned in_flight;     /* parts submitted or queued to the ring */
    struct req *reqs;
    struct req **free_list; /* depth entries */
    struct req **done;      /* a ring of depth entries */
};

int blk_queue_new(struct blk *b, unsigned depth, struct blk_queue **out)
{
    if (depth == 0)
        return fail(EINVAL, "queue depth must be at least 1");
    depth = MIN(depth, QUEUE_MAX_DEPTH);
    struct blk_queue *q = calloc(1, sizeof(*q));
    if (!q)
        return fail(ENOMEM, "out of memory");
    q->b = b;
    q->depth = depth;
    q->reqs = calloc(depth, sizeof(*q->reqs));
    q->free_list = calloc(depth, sizeof(*q->free_list));
    q->done = calloc(depth, sizeof(*q->done));
    if (!q->reqs || !q->free_list || !q->done) {
        blk_queue_free(q);
        return fail(ENOMEM, "out of memory");
    }
    for (unsigned i = 0; i < depth; i++)
        q->free_list[q->nfree++] = &q->reqs[depth - 1 - i];
    /* Without io_uring (ENOSYS, EPERM under seccomp) requests run one by one. */
    q->async = b->ops->map && io_uring_queue_init(depth, &q->ring, 0) == 0;
    *out = q;
    return 0;
}

static void complete(struct blk_queue *q, struct req *r)
{
    q->done[(q->done_head + q->ndone++) % q->depth] = r;
}

static void req_fail(struct req *r, int err, const char *msg)
{
    if (r->ret == 0) {
        r->ret = err;
        snprintf(r->msg, sizeof(r->msg), "%s", msg);
    }
}

/* One finished part: errors the kernel could not handle with O_DIRECT and
 * short transfers are finished synchronously through the page cache. */
static void part_done(struct blk_queue *q, struct part *p, int res)
{
    struct blk *b = q->b;
    struct req *r = p->req;
    size_t got = res > 0 ? (size_t)res : 0;
    if (res == -EINVAL && p->fd != b->fd)
        res = 0;
    if (res >= 0 && got < p->len) {
        int e = 0;
        if (r->write) {
            e = blk_pwrite_fd(b->fd, p->buf + got, p->len - got, p->host + got);
        } else {
            ssize_t n = blk_pread_fd(b->fd, p->buf + got, p->len - got, p->host + got);
            e = n < 0 ? (int)n : 0;
        }
        res = e;
    }
    if (res < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s: %s failed: %s", b->path, r->write ? "write" : "read",
                 strerror(-res));
        req_fail(r, res, msg);
    }
    q->in_flight--;
    if (--r->pending == 0)
        complete(q, r);
}

/* Takes the completions the kernel has; waits for one first if `wait`. */
static int harvest(struct blk_queue *q, bool wait)
{
    int e = wait ? io_uring_submit_and_wait(&q->ring, 1) : io_uring_submit(&q->ring);
    if (e < 0 && e != -EINTR && e != -EAGAIN && e != -EBUSY)
        return fail(-e, "%s: io_uring: %s", q->b->path, strerror(-e));
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&q->ring, head, cqe) {
        part_done(q, io_uring_cqe_get_data(cqe), cqe->res);
        n++;
    }
    io_uring_cq_advance(&q->ring, n);
    return 0;
}

static int drain(struct blk_queue *q)
{
    while (q->in_flight) {
        int r = harvest(q, true);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Splits the request into host ranges; false if some part is not plain
 * (or the request is too fragmented). */
static bool map_parts(struct blk_queue *q, struct req *r, uint64_t off, uint8_t *buf,
                      size_t len, unsigned *nparts)
{
    struct blk *b = q->b;
    size_t done = 0;
    unsigned n = 0;
    while (done < len) {
        uint64_t host, got;
        if (n == REQ_MAX_PARTS || b->ops->map(b, off + done, len - done, r->write, &host, &got) != 1)
            return false;
        r->parts[n++] = (struct part){ .req = r, .buf = buf + done, .host = host,
                                       .len = (size_t)got,
                                       .fd = blk_data_fd(b, buf + done, (size_t)got, host) };
        done += (size_t)got;
    }
    *nparts = n;
    return true;
}

static int submit(struct blk_queue *q, bool write, uint64_t off, void *buf, size_t len,
                  void *tag)
{
    struct blk *b = q->b;
    if (write && b->readonly)
        return fail(EROFS, "%s is open read-only", b->path);
    int e = blk_check_range(b, off, len);
    if (e < 0)
        return e;
    if (!q->nfree)
        return fail(EBUSY, "%s: %u requests are outstanding already", b->path, q->depth);
    struct req *r = q->free_list[--q->nfree];
    *r = (struct req){ .tag = tag, .write = write };
    unsigned n = 0;
    if (q->async && map_parts(q, r, off, buf, len, &n) && n) {
        /* Counted first: a full ring submits (and may complete) parts early. */
        r->pending = n;
        q->in_flight += n;
        for (unsigned i = 0; i < n; i++) {
            struct part *p = &r->parts[i];
            struct io_uring_sqe *sqe;
            while (!(sqe = io_uring_get_sqe(&q->ring)) && (e = harvest(q, false)) == 0)
                ;
            if (!sqe) {   /* the ring failed: the parts not sent fail */
                for (unsigned j = i; j < n; j++)
                    part_done(q, &r->parts[j], e);
                return 0;
            }
            if (write)
                io_uring_prep_write(sqe, p->fd, p->buf, (unsigned)p->len, p->host);
            else
                io_uring_prep_read(sqe, p->fd, p->buf, (unsigned)p->len, p->host);
            io_uring_sqe_set_data(sqe, p);
        }
        return 0;
    }
    /* The slow path: nothing in flight while the driver works. */
    e = q->async ? drain(q) : 0;
    if (e == 0)
        e = write ? blk_pwrite(b, off, buf, len) : blk_pread(b, off, buf, len);
    if (e < 0)
        req_fail(r, e, err_msg());
    complete(q, r);
    return 0;
}

int blk_queue_read(struct blk_queue *q, uint64_t off, void *buf, size_t len, void *tag)
{
    return submit(q, false, off, buf, len, tag);
}

int blk_queue_write(struct blk_queue *q, uint64_t off, const void *buf, size_t len, void *tag)
{
    /* The buffer is only read from; io_uring's prep helpers take void *. */
    return submit(q, true, off, (void *)buf, len, tag);
}

int blk_queue_reap(struct blk_queue *q, struct blk_done *done, unsigned max, unsigned min)
{
    min = MIN(min, blk_queue_outstanding(q));
    if (q->async) {
        int e = harvest(q, false);
        while (!e && q->ndone < min && q->in_flight)
            e = harvest(q, true);
        if (e < 0)
            return e;
    }
    unsigned n = 0;
    for (; n < max && q->ndone; n++) {
        struct req *r = q->done[q->done_head];
        q->done_head = (q->done_head + 1) % q->depth;
        q->ndone--;
        done[n] = (struct blk_done){ .tag = r->tag, .ret = r->ret };
        if (r->ret < 0)
            fail(-r->ret, "%s", r->msg);
        q->free_list[q->nfree++] = r;
    }
    return (int)n;
}

unsigned blk_queue_outstanding(const struct blk_queue *q)
{
    return q->depth - q->nfree;
}

bool blk_queue_is_async(const struct blk_queue *q)
{
    return q->async;
}

void blk_queue_free(struct blk_queue *q)
{
    if (!q)
        return;
    if (q->async) {
        drain(q);
        io_uring_queue_exit(&q->ring);
    }
    free(q->reqs);
    free(q->free_list);
    free(q->done);
    free(q);
}
