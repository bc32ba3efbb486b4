/* Split virtqueues (virtio 1.2 section 2.7).
 *
 * The rings live in guest memory, which a hostile or buggy guest may rewrite
 * at any moment, including while we read it.  So every descriptor is copied
 * once into a local before anything is decided from it, each buffer becomes
 * a host pointer only through gm_ptr() (which checks the whole range), and
 * the chain walk is bounded no matter what the `next` fields say.
 *
 * Ring indices are the only fields shared with a concurrently running
 * driver; they use acquire/release so that a ring entry is read after the
 * index that published it and written before the index that publishes it.
 * The host is x86 (little endian, like virtio 1.x), so le*toh() are
 * no-ops kept for clarity.
 */
#include "virtio_internal.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_ring.h>
#include <string.h>

#define DESC_SIZE 16u

struct desc {               /* struct vring_desc, as read from the guest */
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

/* Ring sizes including the event-index word at each ring's end, which is
 * there (and must be in RAM) whether or not EVENT_IDX is negotiated. */
static uint64_t avail_size(uint16_t num) { return 6 + 2ULL * num; }
static uint64_t used_size(uint16_t num) { return 6 + 8ULL * num; }

bool virtq_check_layout(const struct virtq *q)
{
    const struct virtq_state *s = &q->s;
    if (s->num == 0 || s->num > VIRTQ_MAX_SIZE)
        return false;
    /* The alignments are the spec's and also what our atomic 16-bit
     * accesses to the indices need. */
    if (s->desc_gpa % VRING_DESC_ALIGN_SIZE || s->avail_gpa % VRING_AVAIL_ALIGN_SIZE ||
        s->used_gpa % VRING_USED_ALIGN_SIZE)
        return false;
    return gm_ptr(q->mem, s->desc_gpa, DESC_SIZE * s->num) &&
           gm_ptr(q->mem, s->avail_gpa, avail_size(s->num)) &&
           gm_ptr(q->mem, s->used_gpa, used_size(s->num));
}

/* Host pointers to ring fields.  The layout was checked when the queue was
 * made ready and guest RAM never moves, so these cannot fail afterwards;
 * gm_ptr() is still the one way in. */
static uint16_t *avail_word(const struct virtq *q, unsigned i)
{
    return gm_ptr(q->mem, q->s.avail_gpa + 2ULL * i, 2);
}

static uint8_t *used_base(const struct virtq *q)
{
    return gm_ptr(q->mem, q->s.used_gpa, used_size(q->s.num));
}

static uint16_t load_acquire16(const uint16_t *p)
{
    return le16toh(__atomic_load_n(p, __ATOMIC_ACQUIRE));
}

/* avail ring: flags(0) idx(1) ring[num](2..) used_event(2+num) */
static uint16_t avail_idx(const struct virtq *q) { return load_acquire16(avail_word(q, 1)); }

static void set_avail_event(struct virtq *q, uint16_t v)
{
    uint16_t *p = (uint16_t *)(used_base(q) + 4 + 8ULL * q->s.num);
    __atomic_store_n(p, htole16(v), __ATOMIC_RELAXED);
    gm_mark_dirty(q->mem, p, 2);
}

static bool read_desc(const struct guest_mem *m, uint64_t table, unsigned i, struct desc *d)
{
    const uint8_t *p = gm_ptr(m, table + (uint64_t)i * DESC_SIZE, DESC_SIZE);
    if (!p)
        return false;
    /* One copy: later decisions see this snapshot, never the live entry.
     * The fence is a compiler barrier, so the copy cannot be elided into
     * repeated reads of guest memory. */
    struct vring_desc raw;
    memcpy(&raw, p, sizeof(raw));
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    d->addr = le64toh(raw.addr);
    d->len = le32toh(raw.len);
    d->flags = le16toh(raw.flags);
    d->next = le16toh(raw.next);
    return true;
}

/* One chain walk: where it goes, and whether a writable buffer was seen
 * (empty buffers get no iovec but still count for the ordering rule). */
struct walk {
    struct virtq *q;
    struct virtq_req *req;
    bool writable_seen;
};

/* Appends one buffer to the request, enforcing readable-before-writable. */
static int add_segment(struct walk *w, const struct desc *d)
{
    struct virtq *q = w->q;
    struct virtq_req *req = w->req;
    bool writable = d->flags & VRING_DESC_F_WRITE;
    if (!writable && w->writable_seen)
        return fail(EINVAL, "device-readable buffer after a writable one");
    w->writable_seen |= writable;
    uint64_t *total = writable ? &req->in_len : &req->out_len;
    if (__builtin_add_overflow(*total, d->len, total) || *total > UINT32_MAX)
        return fail(EINVAL, "chain longer than 4 GiB");
    void *p = gm_ptr(q->mem, d->addr, d->len);
    if (!p)
        return fail(EFAULT, "buffer 0x%llx+%u outside guest RAM",
                    (unsigned long long)d->addr, d->len);
    if (d->len == 0)
        return 0; /* nothing to transfer; not worth an iovec */
    if (req->nout + req->nin == VIRTQ_MAX_SEGS)
        return fail(EINVAL, "chain has too many buffers");
    struct iovec *v = writable ? &req->in[req->nin++] : &req->out[req->nout++];
    *v = (struct iovec){ .iov_base = p, .iov_len = d->len };
    return 0;
}

static int walk_table(struct walk *w, uint64_t table, unsigned n, unsigned i, bool top);

/* Checks an indirect descriptor and walks the table it points at. */
static int walk_indirect(struct walk *w, const struct desc *ind)
{
    struct virtq *q = w->q;
    if (!q->indirect)
        return fail(EINVAL, "indirect descriptor without INDIRECT_DESC");
    if (ind->flags & VRING_DESC_F_NEXT)
        return fail(EINVAL, "indirect descriptor with NEXT set");
    if (ind->len == 0 || ind->len % DESC_SIZE || ind->len / DESC_SIZE > VIRTQ_MAX_SIZE)
        return fail(EINVAL, "bad indirect table length %u", ind->len);
    if (!gm_ptr(q->mem, ind->addr, ind->len))
        return fail(EFAULT, "indirect table outside guest RAM");
    return walk_table(w, ind->addr, ind->len / DESC_SIZE, 0, false);
}

/* Follows a chain through the ring's descriptor table (top) or through an
 * indirect table, from entry i of n.  A chain visiting more entries than the
 * table has must loop. */
static int walk_table(struct walk *w, uint64_t table, unsigned n, unsigned i, bool top)
{
    const char *what = top ? "descriptor" : "indirect descriptor";
    for (unsigned steps = 0;; steps++) {
        struct desc d;
        if (steps == n)
            return fail(ELOOP, "%s chain loops", what);
        if (!read_desc(w->q->mem, table, i, &d))
            return fail(EFAULT, "%s table outside guest RAM", what);
        int r;
        if (d.flags & VRING_DESC_F_INDIRECT)
            r = top ? walk_indirect(w, &d) : fail(EINVAL, "nested indirect descriptor");
        else
            r = add_segment(w, &d);
        if (r < 0)
            return r;
        /* An indirect descriptor ends the chain (NEXT was refused above). */
        if (!(d.flags & VRING_DESC_F_NEXT))
            return 0;
        if (d.next >= n)
            return fail(EINVAL, "%s next index %u past table of %u", what, d.next, n);
        i = d.next;
    }
}

int virtq_pop(struct virtq *q, struct virtq_req *req)
{
    if (!q->s.ready)
        return 0;
    uint16_t num = q->s.num;
    uint16_t idx = avail_idx(q);
    if (idx == q->s.last_avail && q->event_idx) {
        /* Going idle: ask for a kick at the next entry, then look again in
         * case the driver added one before it could see our request. */
        set_avail_event(q, q->s.last_avail);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        idx = avail_idx(q);
    }
    uint16_t pending = (uint16_t)(idx - q->s.last_avail);
    if (pending == 0)
        return 0;
    if (pending > num)
        return fail(EINVAL, "avail index %u is %u entries ahead of a queue of %u",
                    idx, pending, num);
    /* The acquire load of idx orders this read after the driver's write. */
    uint16_t head = le16toh(__atomic_load_n(avail_word(q, 2 + q->s.last_avail % num),
                                            __ATOMIC_RELAXED));
    if (head >= num)
        return fail(EINVAL, "head index %u past queue of %u", head, num);
    req->head = head;
    req->nout = req->nin = 0;
    req->out_len = req->in_len = 0;
    struct walk w = { .q = q, .req = req };
    int r = walk_table(&w, q->s.desc_gpa, q->s.num, head, true);
    if (r < 0)
        return r;
    q->s.last_avail++;
    if (q->event_idx)
        set_avail_event(q, q->s.last_avail);
    return 1;
}

void virtq_unpop(struct virtq *q)
{
    q->s.last_avail--;
}

int virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
    if (!q->s.ready || head >= q->s.num)
        return fail(EINVAL, "push to a queue not ready or bad head %u", head);
    uint8_t *used = used_base(q);
    struct vring_used_elem e = { .id = htole32(head), .len = htole32(written) };
    uint8_t *elem = used + 4 + 8ULL * (q->s.used_idx % q->s.num);
    memcpy(elem, &e, sizeof(e));
    q->s.used_idx++;
    /* Release: the element is visible before the index that covers it. */
    __atomic_store_n((uint16_t *)(used + 2), htole16(q->s.used_idx), __ATOMIC_RELEASE);
    gm_mark_dirty(q->mem, elem, sizeof(e));
    gm_mark_dirty(q->mem, used + 2, 2);
    return 0;
}

/* virtio 1.2 2.7.10: notify iff event is in the window (old, new]. */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

bool virtq_should_notify(struct virtq *q)
{
    if (!q->s.ready)
        return false;
    /* Our used idx store must be visible before we read the driver's
     * suppression state, or both sides can decide the other will act. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!q->event_idx)
        return !(load_acquire16(avail_word(q, 0)) & VRING_AVAIL_F_NO_INTERRUPT);
    uint16_t old = q->signalled_used, new_idx = q->s.used_idx;
    bool valid = q->signalled_valid;
    q->signalled_used = new_idx;
    q->signalled_valid = true;
    if (!valid)
        return true;
    return need_event(load_acquire16(avail_word(q, 2 + q->s.num)), new_idx, old);
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        size_t c = MIN(iov[i].iov_len - skip, len - done);
        memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + skip, c);
        done += c;
        skip = 0;
    }
    return done;
}

size_t buf_to_iov(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        size_t c = MIN(iov[i].iov_len - skip, len - done);
        memcpy((uint8_t *)iov[i].iov_base + skip, (const uint8_t *)buf + done, c);
        done += c;
        skip = 0;
    }
    return done;
}

unsigned iov_slice(const struct iovec *src, unsigned n, size_t skip, size_t len,
                   struct iovec *dst, unsigned max)
{
    unsigned k = 0;
    for (unsigned i = 0; i < n && len && k < max; i++) {
        if (skip >= src[i].iov_len) {
            skip -= src[i].iov_len;
            continue;
        }
        size_t c = MIN(src[i].iov_len - skip, len);
        dst[k++] = (struct iovec){ (uint8_t *)src[i].iov_base + skip, c };
        len -= c;
        skip = 0;
    }
    return k;
}
