/* Live migration of a running VM to another corral-vmm (docs/migration.md).
 *
 * Source.  The API's migrate command starts a thread that connects to the
 * destination, sends the machine's shape (HELLO) and waits for it to be
 * accepted, so a destination built differently refuses before the guest
 * ever pauses.  Then dirty logging goes on (KVM's for what the vCPUs write,
 * src/mem's for what devices write on their behalf), all of RAM is sent,
 * then the pages dirtied meanwhile, round after round, until what is left
 * would go out within the downtime limit at the bandwidth measured.  A guest
 * that dirties memory faster than the link carries it is slowed down
 * (auto-converge: each vCPU sleeps a growing share of its time), and after
 * MAX_ROUNDS rounds the migration completes whatever the downtime.
 * Stop-and-copy holds the I/O loop (no device runs, no request is served),
 * pauses the vCPUs, sends the last pages, hands the disks over (everything
 * written is on disk; this process writes no more) and sends the state (a
 * snapshot's state file).  Only when the destination answers that it holds
 * all of it (READY) does the source send GO and stop for good; a failure
 * at any earlier point - the link, the destination, a cancel - takes the
 * disks back and the guest runs on as before.
 *
 * Destination (--incoming).  The machine is built without kernel or vCPU
 * state; one connection is accepted; its shape is compared with ours; pages
 * are written straight into guest RAM, each address checked against it;
 * the state is loaded exactly as --restore loads a snapshot's; the disks'
 * metadata is read again (the source wrote on after we opened them); then
 * READY, and the guest runs on GO.
 */
#include "vmm.h"

#include <endian.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "snap/snap.h"

enum phase { PH_NONE, PH_SETUP, PH_PRECOPY, PH_STOPCOPY, PH_COMPLETED, PH_FAILED, PH_CANCELLED };
static const char *const phase_names[] = { "none", "setup", "precopy", "stop-copy", "completed", "failed",
                                           "cancelled" };

#define IO_TIMEOUT_MS LINK_TIMEOUT_MS
#define MAX_ROUNDS 60            /* then stop-and-copy whatever the downtime */
#define THROTTLE_PERIOD_NS 10000000ULL
#define HELLO_MAX (64u << 10)

struct batch {
    uint32_t n, ndata;
    uint64_t entry[SNAP_PAGES_MAX];
    struct iovec data[SNAP_PAGES_MAX];   /* the pages with data, in guest RAM */
};

struct migration {
    struct vmm *v;
    struct machine *m;
    pthread_t thread, throttler;
    bool started, throttler_started;
    char uri[256];
    uint64_t max_downtime_ns;
    uint64_t bandwidth;          /* bytes/s; 0: unlimited */
    atomic_bool cancel, stop_throttle;
    struct link link;
    int hold_fd;                 /* eventfd the I/O loop holds itself on (on_hold) */
    uint64_t *dirty[2];
    struct batch batch;
    bool copy_disks;             /* no shared storage: the writable disks' contents go too */
    uint64_t *disk_dirty[VMM_MAX_DISKS];
    uint8_t *chunk;              /* one BLK_TRACK_CHUNK read from a disk */
    uint64_t pm[512];            /* /proc/self/pagemap entries of 512 pages (maybe_touched) */
    const uint8_t *pm_hva;       /* ...from this slot's mapping */
    uint64_t pm_base;            /* ...and this group of 512 */
    uint64_t t0, pace_t0, pace_bytes;

    pthread_mutex_t lock;        /* everything below */
    pthread_cond_t cond;
    bool want_hold, held, release;
    enum phase phase;
    unsigned round, throttle;    /* throttle: percent of each vCPU's time spent asleep */
    uint64_t pages, zero_pages, remaining, dirty_rate, expected_ns, total_ns, downtime_ns;
    char error[512];
};

/* Disk I's contents go along (no shared storage: copy_disks). */
static bool copied(const struct migration *mg, int i)
{
    return mg->copy_disks && !mg->v->cfg->disk[i].readonly;
}

/* ---- the link ---------------------------------------------------------------- */

static void put_le32(uint8_t *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, sizeof(v));
}

/* A frame of BODY[0..N); its checksum covers the first NCRC pieces. */
static int send_iov(struct link *l, uint32_t type, const struct iovec *body, int n, int ncrc)
{
    static const uint8_t zero[8];
    uint8_t hdr[SNAP_SECTION_HEADER_LEN];
    struct iovec iov[SNAP_PAGES_MAX + 4];
    uint64_t len = 0;
    if (n > (int)SNAP_PAGES_MAX + 2)
        return fail(EINVAL, "a frame of %d pieces", n);
    for (int i = 0; i < n; i++) {
        len += body[i].iov_len;
        iov[1 + i] = body[i];
    }
    snap_frame_header(hdr, type, 0, len, snap_crc(body, ncrc));
    iov[0] = (struct iovec){ hdr, sizeof(hdr) };
    iov[1 + n] = (struct iovec){ (void *)zero, snap_pad(len) };
    int r = link_write(l, iov, n + 2);
    return r < 0 ? link_fail(l, r, "sending") : 0;
}

static int send_frame(struct link *l, uint32_t type, const void *p, size_t len)
{
    struct iovec body = { (void *)p, len };
    return send_iov(l, type, &body, 1, 1);
}

static int recv_header(struct link *l, uint32_t max_len, struct snap_section *s, uint32_t *crc, int timeout_ms)
{
    uint8_t hdr[SNAP_SECTION_HEADER_LEN];
    int r = link_read(l, hdr, sizeof(hdr), timeout_ms);
    return r < 0 ? link_fail(l, r, "receiving") : snap_frame_parse(hdr, max_len, s, crc);
}

/* The payload of the frame S's header announced, into l->rx (one buffer
 * for every frame, valid until the next). */
static int recv_payload(struct link *l, struct snap_section *s, uint32_t crc)
{
    size_t want = s->len + snap_pad(s->len) + 1;
    if (want > l->rx_cap) {
        uint8_t *b = realloc(l->rx, want);
        if (!b)
            return fail(ENOMEM, "out of memory");
        l->rx = b;
        l->rx_cap = want;
    }
    int r = link_read(l, l->rx, want - 1, IO_TIMEOUT_MS);
    if (r < 0)
        return link_fail(l, r, "receiving");
    s->data = l->rx;
    if (!snap_frame_intact(l->rx, s->len, crc))
        return fail(EINVAL, "the migration stream's frame of type %u fails its checksum", s->type);
    return 0;
}

static int recv_frame(struct link *l, uint32_t max_len, struct snap_section *s, int timeout_ms)
{
    uint32_t crc;
    int r = recv_header(l, max_len, s, &crc, timeout_ms);
    return r < 0 ? r : recv_payload(l, s, crc);
}

/* An ANSWER frame's verdict: 0 if accepted, else the other side's reason. */
static int read_answer(const struct snap_section *s, const char *what)
{
    struct snap_cursor c;
    snap_cursor_init(&c, s);
    uint32_t ok = snap_get_u32(&c);
    size_t n = 0;
    const uint8_t *why = snap_get_blob(&c, 1024, &n);
    if (snap_cursor_done(&c, "answer") < 0)
        return fail(EINVAL, "%s: a damaged answer", what);
    return ok == 1 ? 0 : fail(EINVAL, "%s: the destination refused: %.*s", what, (int)n, why ? (const char *)why : "");
}

static int send_answer(struct link *l, bool ok, const char *why)
{
    uint8_t buf[1100];
    size_t n = MIN(strlen(why), 1024);
    put_le32(buf, ok);
    put_le32(buf + 4, (uint32_t)n);
    memcpy(buf + 8, why, n);
    return send_frame(l, SNAP_ANSWER, buf, 8 + n);
}

/* ---- source: pages ----------------------------------------------------------- */

static int batch_flush(struct migration *mg)
{
    struct batch *b = &mg->batch;
    if (!b->n)
        return 0;
    uint8_t n[4];
    uint64_t zero = 0;
    put_le32(n, b->n);
    for (uint32_t i = 0; i < b->n; i++) {
        zero += b->entry[i] & SNAP_PAGE_ZERO;
        b->entry[i] = htole64(b->entry[i]);
    }
    struct iovec body[SNAP_PAGES_MAX + 2] = { { n, 4 }, { b->entry, b->n * 8ULL } };
    memcpy(body + 2, b->data, b->ndata * sizeof(b->data[0]));
    int r = send_iov(&mg->link, SNAP_PAGES, body, 2 + (int)b->ndata, 2);
    pthread_mutex_lock(&mg->lock);
    mg->pages += b->n;
    mg->zero_pages += zero;
    pthread_mutex_unlock(&mg->lock);
    b->n = b->ndata = 0;
    if (r < 0 || !mg->bandwidth)
        return r;
    /* Paced to the limit: sleep until the bytes sent are due. */
    uint64_t due = mg->pace_t0 + (mg->link.bytes - mg->pace_bytes) * 1000000000ULL / mg->bandwidth, now = now_ns();
    if (due > now) {
        struct timespec ts = { .tv_sec = (time_t)((due - now) / 1000000000ULL),
                               .tv_nsec = (long)((due - now) % 1000000000ULL) };
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* Sent from where it is: the guest may change the page meanwhile, and then
 * it is dirty again and goes out in a later round (which is why a PAGES
 * frame's checksum covers its entries, not the pages' bytes). */
static int batch_add(struct migration *mg, uint64_t gpa, uint8_t *hva, bool skip_zero)
{
    struct batch *b = &mg->batch;
    if (buf_is_zero(hva, GM_PAGE)) {
        if (skip_zero)
            return 0;
        b->entry[b->n++] = gpa | SNAP_PAGE_ZERO;
    } else {
        b->data[b->ndata++] = (struct iovec){ hva, GM_PAGE };
        b->entry[b->n++] = gpa;
    }
    return b->n == SNAP_PAGES_MAX ? batch_flush(mg) : 0;
}

/* Pagemap entries: the page is in RAM, or in swap. */
#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)

/* Whether page P of slot SL may hold data: not if it was never touched
 * (neither in RAM nor in swap), which /proc/self/pagemap tells for 512
 * pages at a time without faulting any in.  Unknown means yes, and so does
 * RAM mapped from a snapshot's file (a restored guest's): a page it never
 * touched holds the file's bytes. */
static bool maybe_touched(struct migration *mg, const struct mem_slot *sl, uint64_t p)
{
    int fd = mg->v->pagemap_fd;
    if (fd < 0 || mg->m->mem.from_file)
        return true;
    if (mg->pm_hva != sl->hva || p / 512 != mg->pm_base) {
        uint64_t first = ((uintptr_t)sl->hva / GM_PAGE + p / 512 * 512) * sizeof(uint64_t);
        if (pread(fd, mg->pm, sizeof(mg->pm), (off_t)first) != (ssize_t)sizeof(mg->pm))
            memset(mg->pm, 0xff, sizeof(mg->pm));
        mg->pm_hva = sl->hva;
        mg->pm_base = p / 512;
    }
    return mg->pm[p % 512] & (PM_PRESENT | PM_SWAPPED);
}

/* Slot S's pages in BITMAP (all of them if NULL: the first round, where
 * pages of zeros need not go: the destination's RAM starts zeroed). */
static int send_slot(struct migration *mg, int s, const uint64_t *bitmap)
{
    const struct mem_slot *sl = &mg->m->mem.slot[s];
    uint64_t npages = sl->size / GM_PAGE;
    for (uint64_t p = 0; p < npages; p++) {
        if (!bitmap && !maybe_touched(mg, sl, p))
            continue;
        if (bitmap) {
            uint64_t word = bitmap[p / 64] >> (p % 64);
            if (!word) {
                p |= 63;
                continue;
            }
            if (!(word & 1))
                continue;
        }
        if (atomic_load(&mg->cancel))
            return fail(ECANCELED, "cancelled");
        int r = batch_add(mg, sl->gpa + p * GM_PAGE, sl->hva + p * GM_PAGE, !bitmap);
        if (r < 0)
            return r;
    }
    return 0;
}

static size_t slot_words(const struct mem_slot *s) { return (size_t)((s->size / GM_PAGE + 63) / 64); }

/* The pages written since the last call, into mg->dirty (added to what is
 * there unless FRESH); returns how many are marked. */
static int collect_dirty(struct migration *mg, bool fresh, uint64_t *count)
{
    struct machine *m = mg->m;
    *count = 0;
    for (int s = 0; s < m->mem.nslots; s++) {
        size_t words = slot_words(&m->mem.slot[s]);
        if (fresh)
            memset(mg->dirty[s], 0, words * sizeof(uint64_t));
        int r = kvm_vm_get_dirty(&m->vm, &m->mem, s, mg->dirty[s]);
        if (r < 0)
            return r;
        gm_log_collect(&m->mem, s, mg->dirty[s]);
        for (size_t w = 0; w < words; w++)
            *count += (uint64_t)__builtin_popcountll(mg->dirty[s][w]);
    }
    return 0;
}

static int send_dirty(struct migration *mg)
{
    int r = 0;
    for (int s = 0; s < mg->m->mem.nslots && r == 0; s++)
        r = send_slot(mg, s, mg->dirty[s]);
    return r ? r : batch_flush(mg);
}

/* ---- source: auto-converge ----------------------------------------------------- */

static void *throttler(void *arg)
{
    struct migration *mg = arg;
    pthread_setname_np(pthread_self(), "throttle");
    while (!atomic_load(&mg->stop_throttle)) {
        pthread_mutex_lock(&mg->lock);
        unsigned pct = mg->throttle;
        pthread_mutex_unlock(&mg->lock);
        uint64_t sleep_ns = pct ? THROTTLE_PERIOD_NS * pct / (100 - pct) : 0;
        if (sleep_ns)
            machine_throttle(mg->m, sleep_ns);
        uint64_t wait = THROTTLE_PERIOD_NS + sleep_ns;
        struct timespec ts = { .tv_sec = (time_t)(wait / 1000000000ULL), .tv_nsec = (long)(wait % 1000000000ULL) };
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* The guest dirtied more than half of what the last round carried: slow it
 * down (20% of its time asleep, then 10 points more each round, at most 99). */
static void converge(struct migration *mg, uint64_t dirty_bytes, uint64_t sent_bytes)
{
    if (mg->round < 2 || dirty_bytes * 2 < sent_bytes)
        return;
    pthread_mutex_lock(&mg->lock);
    mg->throttle = mg->throttle ? MIN(mg->throttle + 10, 99u) : 20;
    pthread_mutex_unlock(&mg->lock);
    if (!mg->throttler_started && pthread_create(&mg->throttler, NULL, throttler, mg) == 0)
        mg->throttler_started = true;
}

/* The throttle stays in the figures: how far the guest was slowed down. */
static void stop_throttle(struct migration *mg)
{
    if (mg->throttler_started) {
        atomic_store(&mg->stop_throttle, true);
        pthread_join(mg->throttler, NULL);
        mg->throttler_started = false;
    }
}

/* ---- source: holding the I/O loop ------------------------------------------------ */

/* On the I/O loop: stays here until the migration thread releases it. */
static void on_hold(void *arg, uint32_t events)
{
    struct migration *mg = arg;
    uint64_t n;
    (void)events;
    if (read(mg->hold_fd, &n, sizeof(n)) != sizeof(n))
        return;
    pthread_mutex_lock(&mg->lock);
    if (mg->want_hold) {
        mg->held = true;
        pthread_cond_broadcast(&mg->cond);
        while (!mg->release)
            pthread_cond_wait(&mg->cond, &mg->lock);
        mg->held = mg->release = mg->want_hold = false;
    }
    pthread_mutex_unlock(&mg->lock);
}

static int hold_loop(struct migration *mg)
{
    uint64_t one = 1;
    pthread_mutex_lock(&mg->lock);
    mg->want_hold = true;
    pthread_mutex_unlock(&mg->lock);
    if (write(mg->hold_fd, &one, sizeof(one)) != sizeof(one))
        return fail(errno, "cannot stop the I/O loop: %m");
    pthread_mutex_lock(&mg->lock);
    while (!mg->held && !atomic_load(&mg->cancel))
        pthread_cond_wait(&mg->cond, &mg->lock);
    bool held = mg->held;
    if (!held)
        mg->want_hold = false;
    pthread_mutex_unlock(&mg->lock);
    return held ? 0 : fail(ECANCELED, "cancelled");
}

static void release_loop(struct migration *mg)
{
    pthread_mutex_lock(&mg->lock);
    mg->release = true;
    pthread_cond_broadcast(&mg->cond);
    pthread_mutex_unlock(&mg->lock);
}

/* ---- source: the migration ------------------------------------------------------- */

static int handshake(struct migration *mg)
{
    uint8_t hdr[SNAP_HEADER_LEN];
    snap_stream_header(hdr);
    struct iovec iov = { hdr, sizeof(hdr) };
    int r = link_write(&mg->link, &iov, 1);
    if (r == 0)
        r = link_read(&mg->link, hdr, sizeof(hdr), IO_TIMEOUT_MS);
    if (r < 0)
        return link_fail(&mg->link, r, mg->uri);
    if ((r = snap_stream_check(hdr)) < 0)
        return fail(-r, "%s: %s", mg->uri, err_msg());
    struct json_object *shape = machine_shape(mg->m);
    if (mg->copy_disks) {    /* each disk's size, or null for one that stays */
        struct json_object *sizes = json_object_new_array();
        for (int i = 0; i < mg->v->cfg->ndisks; i++)
            json_object_array_add(sizes, copied(mg, i) ? json_object_new_int64((int64_t)blk_size(mg->v->disk[i]))
                                                       : NULL);
        json_object_object_add(shape, "copy_disks", sizes);
    }
    const char *text = json_object_to_json_string_ext(shape, JSON_C_TO_STRING_PLAIN);
    r = send_frame(&mg->link, SNAP_HELLO, text, strlen(text));
    json_object_put(shape);
    struct snap_section s = { 0 };
    if (r == 0 && (r = recv_frame(&mg->link, 4096, &s, IO_TIMEOUT_MS)) == 0)
        r = s.type == SNAP_ANSWER ? read_answer(&s, mg->uri) : fail(EINVAL, "%s: no answer to HELLO", mg->uri);
    return r;
}

/* ---- source: disks without shared storage ---------------------------------------- */

static void put_le64(uint8_t *p, uint64_t v)
{
    v = htole64(v);
    memcpy(p, &v, sizeof(v));
}

/* Chunk C of disk I, read under its device's lock (the I/O loop writes the
 * same image; the block layer is not thread-safe). */
static int send_chunk(struct migration *mg, int i, uint64_t c)
{
    struct blk *b = mg->v->disk[i];
    uint64_t off = c * BLK_TRACK_CHUNK, len = MIN((uint64_t)BLK_TRACK_CHUNK, blk_size(b) - off);
    struct virtio_dev *d = mg->m->vdev[i];
    pthread_mutex_lock(&d->lock);
    int r = blk_pread(b, off, mg->chunk, len);
    pthread_mutex_unlock(&d->lock);
    if (r < 0)
        return fail(-r, "disk %d (%s): %s", i, mg->v->cfg->disk[i].path, err_msg());
    bool zero = buf_is_zero(mg->chunk, len);
    uint8_t h[24];
    put_le32(h, (uint32_t)i);
    put_le32(h + 4, zero ? SNAP_DISK_ZERO : 0);
    put_le64(h + 8, off);
    put_le64(h + 16, len);
    struct iovec body[2] = { { h, sizeof(h) }, { mg->chunk, zero ? 0 : len } };
    return send_iov(&mg->link, SNAP_DISK, body, 2, 2);
}

/* The chunks marked in mg->disk_dirty (every chunk if ALL). */
static int send_disks(struct migration *mg, bool all)
{
    for (int i = 0; i < mg->v->cfg->ndisks; i++) {
        if (!copied(mg, i))
            continue;
        uint64_t n = blk_track_chunks(mg->v->disk[i]);
        for (uint64_t c = 0; c < n; c++) {
            if (!all && !(mg->disk_dirty[i][c / 64] >> (c % 64) & 1))
                continue;
            if (atomic_load(&mg->cancel))
                return fail(ECANCELED, "cancelled");
            int r = send_chunk(mg, i, c);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

/* The chunks written since the last call (added to the marks unless
 * FRESH); their count into *COUNT. */
static void collect_disks(struct migration *mg, bool fresh, uint64_t *count)
{
    *count = 0;
    for (int i = 0; i < mg->v->cfg->ndisks; i++) {
        if (!copied(mg, i))
            continue;
        size_t words = (size_t)((blk_track_chunks(mg->v->disk[i]) + 63) / 64);
        if (fresh)
            memset(mg->disk_dirty[i], 0, words * sizeof(uint64_t));
        blk_track_collect(mg->v->disk[i], mg->disk_dirty[i]);
        for (size_t w = 0; w < words; w++)
            *count += (uint64_t)__builtin_popcountll(mg->disk_dirty[i][w]);
    }
}

static int track_disks(struct migration *mg)
{
    if (mg->copy_disks && !(mg->chunk = malloc(BLK_TRACK_CHUNK)))
        return fail(ENOMEM, "out of memory");
    for (int i = 0; i < mg->v->cfg->ndisks; i++) {
        if (!copied(mg, i))
            continue;
        struct blk *b = mg->v->disk[i];
        if (!(mg->disk_dirty[i] = calloc((size_t)((blk_track_chunks(b) + 63) / 64) + 1, sizeof(uint64_t))))
            return fail(ENOMEM, "out of memory");
        int r = blk_track_start(b);
        if (r < 0)
            return r;
    }
    return 0;
}

static void untrack_disks(struct migration *mg)
{
    for (int i = 0; i < mg->v->cfg->ndisks; i++) {
        if (copied(mg, i))
            blk_track_stop(mg->v->disk[i]);
        free(mg->disk_dirty[i]);
        mg->disk_dirty[i] = NULL;
    }
    free(mg->chunk);
    mg->chunk = NULL;
}

/* ---- source: the rounds ---------------------------------------------------------- */

static int precopy(struct migration *mg)
{
    struct machine *m = mg->m;
    int r;
    for (int s = 0; s < m->mem.nslots; s++)
        if (!(mg->dirty[s] = calloc(slot_words(&m->mem.slot[s]), sizeof(uint64_t))))
            return fail(ENOMEM, "out of memory");
    if ((r = track_disks(mg)) < 0 || (r = gm_log_start(&m->mem)) < 0 ||
        (r = kvm_vm_log_dirty(&m->vm, &m->mem, true)) < 0)
        return r;
    pthread_mutex_lock(&mg->lock);
    mg->phase = PH_PRECOPY;
    pthread_mutex_unlock(&mg->lock);
    mg->pace_t0 = now_ns();
    mg->pace_bytes = mg->link.bytes;
    uint64_t t = now_ns(), sent = mg->link.bytes, chunks;
    r = send_disks(mg, true);
    for (int s = 0; s < m->mem.nslots && r == 0; s++)
        r = send_slot(mg, s, NULL);
    if (r == 0)
        r = batch_flush(mg);
    for (;;) {
        if (r < 0)
            return r;
        uint64_t now = now_ns(), took = MAX(now - t, 1000ULL), round_bytes = mg->link.bytes - sent, dirty;
        if ((r = collect_dirty(mg, true, &dirty)) < 0)
            return r;
        collect_disks(mg, true, &chunks);
        uint64_t left = dirty * GM_PAGE + chunks * BLK_TRACK_CHUNK;
        /* What the link carried this round, per second (at most the limit). */
        uint64_t rate = round_bytes * 1000000000ULL / took;
        if (mg->bandwidth)
            rate = MIN(rate, mg->bandwidth);
        uint64_t expected = rate ? left * 1000000000ULL / MAX(rate, 1ULL) : UINT64_MAX;
        log_debug("migration round %u: %llu bytes in %llu ms; %llu pages and %llu disk chunks dirty", mg->round,
                  (unsigned long long)round_bytes, (unsigned long long)(took / 1000000), (unsigned long long)dirty,
                  (unsigned long long)chunks);
        pthread_mutex_lock(&mg->lock);
        mg->remaining = left;
        mg->dirty_rate = dirty * 1000000000ULL / took;
        mg->expected_ns = expected;
        pthread_mutex_unlock(&mg->lock);
        if (expected <= mg->max_downtime_ns || mg->round >= MAX_ROUNDS)
            return 0;
        converge(mg, left, round_bytes);
        pthread_mutex_lock(&mg->lock);
        mg->round++;
        pthread_mutex_unlock(&mg->lock);
        t = now_ns();
        sent = mg->link.bytes;
        if ((r = send_disks(mg, false)) == 0)
            r = send_dirty(mg);
    }
}

/* Disks: everything written made durable and left to the destination. */
static int hand_over_disks(struct vmm *v, int *done)
{
    for (*done = 0; *done < v->cfg->ndisks; (*done)++) {
        int r = blk_hand_over(v->disk[*done]);
        if (r < 0)
            return fail(-r, "disk %d (%s): %s", *done, v->cfg->disk[*done].path, err_msg());
    }
    return 0;
}

static int stop_and_copy(struct migration *mg)
{
    struct machine *m = mg->m;
    struct vmm *v = mg->v;
    int r = hold_loop(mg);
    if (r < 0)
        return r;
    bool was_paused = machine_state(m) == MACHINE_PAUSED;
    uint64_t t = now_ns(), dirty;
    pthread_mutex_lock(&mg->lock);
    mg->phase = PH_STOPCOPY;
    pthread_mutex_unlock(&mg->lock);
    machine_pause(m);
    stop_throttle(mg);
    int disks = 0;
    struct json_object *list = json_object_new_array();
    struct snap_writer w;
    snap_writer_init(&w);
    uint64_t chunks;
    collect_disks(mg, false, &chunks);
    if ((r = collect_dirty(mg, false, &dirty)) == 0 && (r = send_disks(mg, false)) == 0 &&
        (r = send_dirty(mg)) == 0 && (mg->copy_disks || (r = hand_over_disks(v, &disks)) == 0) &&
        (r = snapshot_disks(m, NULL, list)) == 0 &&
        (r = machine_save_state(m, list, &w)) == 0)
        r = send_frame(&mg->link, SNAP_STATE, w.buf, w.len);
    snap_writer_free(&w);
    json_object_put(list);
    struct snap_section s = { 0 };
    /* Loading the state takes the destination a moment: a longer wait. */
    if (r == 0 && (r = recv_frame(&mg->link, 4096, &s, 2 * IO_TIMEOUT_MS)) == 0 && s.type != SNAP_READY)
        r = s.type == SNAP_ANSWER ? read_answer(&s, mg->uri) ?: fail(EINVAL, "%s: a confused answer", mg->uri)
                                  : fail(EINVAL, "%s: no READY after the state", mg->uri);
    if (r == 0) {
        uint8_t go[4];
        put_le32(go, was_paused ? 0 : 1);
        r = send_frame(&mg->link, SNAP_GO, go, sizeof(go));
    }
    if (r == 0) {
        /* From here the guest belongs to the destination. */
        v->migrated = true;
        machine_request(m, VM_REQ_STOP);
    } else {
        for (int i = 0; i < disks; i++)
            blk_take_back(v->disk[i]);
        if (!was_paused)
            machine_resume(m);
    }
    pthread_mutex_lock(&mg->lock);
    mg->downtime_ns = now_ns() - t;
    pthread_mutex_unlock(&mg->lock);
    release_loop(mg);
    return r;
}

static void *migrate_thread(void *arg)
{
    struct migration *mg = arg;
    pthread_setname_np(pthread_self(), "migrate");
    int r = link_dial(&mg->link, mg->uri);
    if (r == 0 && mg->v->migration_key.len)
        r = link_secure(&mg->link, &mg->v->migration_key, false, mg->uri);
    if (r == 0)
        r = handshake(mg);
    if (r == 0)
        r = precopy(mg);
    if (r == 0)
        r = stop_and_copy(mg);
    char msg[512];
    snprintf(msg, sizeof(msg), "%s", r < 0 ? err_msg() : "");
    stop_throttle(mg);
    untrack_disks(mg);
    if (r < 0 && mg->m->mem.logging) {
        gm_log_stop(&mg->m->mem);
        kvm_vm_log_dirty(&mg->m->vm, &mg->m->mem, false);
    }
    link_close(&mg->link);
    pthread_mutex_lock(&mg->lock);
    mg->total_ns = now_ns() - mg->t0;
    mg->phase = r == 0 ? PH_COMPLETED : r == -ECANCELED ? PH_CANCELLED : PH_FAILED;
    snprintf(mg->error, sizeof(mg->error), "%s", msg);
    pthread_mutex_unlock(&mg->lock);
    if (r == 0)
        log_info("migrated to %s in %llu ms (downtime %llu ms, %u rounds, %llu pages, vCPUs throttled to %u%%)",
                 mg->uri, (unsigned long long)(mg->total_ns / 1000000),
                 (unsigned long long)(mg->downtime_ns / 1000000), mg->round + 1, (unsigned long long)mg->pages,
                 mg->throttle);
    else if (r == -ECANCELED)
        log_info("migration to %s cancelled; the VM runs on here", mg->uri);
    else
        log_error("migration to %s failed: %s; the VM runs on here", mg->uri, msg);
    return NULL;
}

static bool running(const struct migration *mg)
{
    return mg && mg->phase >= PH_SETUP && mg->phase <= PH_STOPCOPY;
}

static int get_uint(struct json_object *req, const char *key, uint64_t max, uint64_t dflt, uint64_t *out)
{
    struct json_object *o;
    *out = dflt;
    if (!json_object_object_get_ex(req, key, &o))
        return 0;
    int64_t n = json_object_get_int64(o);
    if (!json_object_is_type(o, json_type_int) || n < 0 || (uint64_t)n > max)
        return fail(EINVAL, "\"%s\" must be a whole number from 0 to %llu", key, (unsigned long long)max);
    *out = (uint64_t)n;
    return 0;
}

int migrate_start(struct vmm *v, struct json_object *req)
{
    struct migration *mg = v->migration;
    if (running(mg))
        return fail(EBUSY, "a migration is already running (migrate-status, migrate-cancel)");
    struct json_object *uri;
    if (!json_object_object_get_ex(req, "uri", &uri) || !json_object_is_type(uri, json_type_string))
        return fail(EINVAL, "migrate needs \"uri\": tcp:ADDR:PORT or unix:PATH");
    struct sockaddr_storage sa;
    socklen_t len;
    uint64_t downtime, mib;
    int r;
    if ((r = link_parse_uri(json_object_get_string(uri), &sa, &len)) < 0 ||
        (r = get_uint(req, "downtime_ms", 60000, 300, &downtime)) < 0 ||
        (r = get_uint(req, "bandwidth_mib", 1 << 20, 0, &mib)) < 0)
        return r;
    if (downtime == 0)
        return fail(EINVAL, "\"downtime_ms\" must be at least 1");
    struct json_object *copy = NULL;
    if (json_object_object_get_ex(req, "copy_disks", &copy) && !json_object_is_type(copy, json_type_boolean))
        return fail(EINVAL, "\"copy_disks\" must be true or false");
    if (!mg) {
        if (!(mg = calloc(1, sizeof(*mg))))
            return fail(ENOMEM, "out of memory");
        pthread_mutex_init(&mg->lock, NULL);
        pthread_cond_init(&mg->cond, NULL);
        mg->hold_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (mg->hold_fd < 0 || (r = evloop_add(v->loop, mg->hold_fd, EPOLLIN, on_hold, mg)) < 0) {
            r = fail(errno ? errno : EMFILE, "cannot set up a migration: %m");
            if (mg->hold_fd >= 0)
                close(mg->hold_fd);
            free(mg);
            return r;
        }
        v->migration = mg;
    } else if (mg->started) {
        pthread_join(mg->thread, NULL);
        mg->started = false;
    }
    for (int s = 0; s < 2; s++) {
        free(mg->dirty[s]);
        mg->dirty[s] = NULL;
    }
    mg->batch.n = mg->batch.ndata = 0;
    mg->pm_hva = NULL;    /* nothing cached from pagemap yet */
    mg->v = v;
    mg->m = v->machine;
    snprintf(mg->uri, sizeof(mg->uri), "%s", json_object_get_string(uri));
    mg->max_downtime_ns = downtime * 1000000ULL;
    mg->bandwidth = mib << 20;
    mg->copy_disks = copy && json_object_get_boolean(copy);
    atomic_store(&mg->cancel, false);
    atomic_store(&mg->stop_throttle, false);
    mg->link = (struct link){ .fd = -1, .cancel = &mg->cancel, .abort_fd = -1 };
    mg->t0 = now_ns();
    pthread_mutex_lock(&mg->lock);
    mg->phase = PH_SETUP;
    mg->round = mg->throttle = 0;
    mg->pages = mg->zero_pages = mg->remaining = mg->dirty_rate = mg->expected_ns = 0;
    mg->total_ns = mg->downtime_ns = 0;
    mg->error[0] = 0;
    pthread_mutex_unlock(&mg->lock);
    if ((r = pthread_create(&mg->thread, NULL, migrate_thread, mg))) {
        mg->phase = PH_FAILED;
        return fail(r, "cannot start the migration thread: %s", strerror(r));
    }
    mg->started = true;
    log_info("migrating to %s (downtime limit %llu ms, bandwidth %s)", mg->uri, (unsigned long long)downtime,
             mib ? "limited" : "unlimited");
    return 0;
}

struct json_object *migrate_status(struct vmm *v)
{
    struct migration *mg = v->migration;
    struct json_object *o = json_object_new_object();
    if (!mg) {
        json_object_object_add(o, "phase", json_object_new_string("none"));
        return o;
    }
    pthread_mutex_lock(&mg->lock);
    json_object_object_add(o, "phase", json_object_new_string(phase_names[mg->phase]));
    json_object_object_add(o, "uri", json_object_new_string(mg->uri));
    json_object_object_add(o, "round", json_object_new_int((int)mg->round));
    json_object_object_add(o, "bytes_sent", json_object_new_int64((int64_t)mg->link.bytes));
    json_object_object_add(o, "pages_sent", json_object_new_int64((int64_t)mg->pages));
    json_object_object_add(o, "zero_pages_sent", json_object_new_int64((int64_t)mg->zero_pages));
    json_object_object_add(o, "remaining_bytes", json_object_new_int64((int64_t)mg->remaining));
    json_object_object_add(o, "dirty_pages_per_s", json_object_new_int64((int64_t)mg->dirty_rate));
    json_object_object_add(o, "expected_downtime_ms",
                           json_object_new_int64(mg->expected_ns == UINT64_MAX ? -1 : (int64_t)(mg->expected_ns / 1000000)));
    json_object_object_add(o, "throttle_pct", json_object_new_int((int)mg->throttle));
    uint64_t total = running(mg) ? now_ns() - mg->t0 : mg->total_ns;
    json_object_object_add(o, "total_ms", json_object_new_int64((int64_t)(total / 1000000)));
    if (mg->phase == PH_COMPLETED)
        json_object_object_add(o, "downtime_ms", json_object_new_int64((int64_t)(mg->downtime_ns / 1000000)));
    if (mg->error[0])
        json_object_object_add(o, "error", json_object_new_string(mg->error));
    pthread_mutex_unlock(&mg->lock);
    return o;
}

int migrate_cancel(struct vmm *v)
{
    if (!running(v->migration))
        return fail(EINVAL, "no migration is running");
    atomic_store(&v->migration->cancel, true);
    return 0;
}

void migrate_end(struct vmm *v)
{
    struct migration *mg = v->migration;
    if (!mg)
        return;
    atomic_store(&mg->cancel, true);
    pthread_mutex_lock(&mg->lock);
    pthread_cond_broadcast(&mg->cond);
    pthread_mutex_unlock(&mg->lock);
    if (mg->started)
        pthread_join(mg->thread, NULL);
    evloop_del(v->loop, mg->hold_fd);
    close(mg->hold_fd);
    for (int s = 0; s < 2; s++)
        free(mg->dirty[s]);
    pthread_mutex_destroy(&mg->lock);
    pthread_cond_destroy(&mg->cond);
    free(mg);
    v->migration = NULL;
}

/* ---- destination ----------------------------------------------------------------- */

/* A PAGES frame's count and entries (HEAD, 4 + 8n bytes, n checked by the
 * caller) against guest RAM: where each page goes into DST (NULL: zeros),
 * and how many bytes of page data follow them into *DATA.  Addresses must
 * go up, so no page is named twice. */
static int pages_head(struct guest_mem *mem, const uint8_t *head, uint32_t n, uint8_t **dst, uint64_t *data)
{
    *data = 0;
    uint64_t prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t e;
        memcpy(&e, head + 4 + 8ULL * i, sizeof(e));
        e = le64toh(e);
        if (e & (GM_PAGE - 1) & ~(uint64_t)SNAP_PAGE_ZERO)
            return fail(EINVAL, "a PAGES frame's entry %u has unknown flags 0x%llx", i,
                        (unsigned long long)(e & (GM_PAGE - 1)));
        if (i && (e & ~(GM_PAGE - 1)) <= prev)
            return fail(EINVAL, "a PAGES frame's entries are not in ascending order (entry %u)", i);
        prev = e & ~(GM_PAGE - 1);
        if (!(dst[i] = gm_ptr(mem, e & ~(GM_PAGE - 1), GM_PAGE)))
            return fail(EINVAL, "a PAGES frame names page 0x%llx, outside guest RAM",
                        (unsigned long long)(e & ~(GM_PAGE - 1)));
        if (e & SNAP_PAGE_ZERO)
            dst[i] = NULL;
        else
            *data += GM_PAGE;
    }
    return 0;
}

static uint32_t pages_count(const uint8_t *head)
{
    uint32_t n;
    memcpy(&n, head, sizeof(n));
    return le32toh(n);
}

static int check_count(uint32_t n, uint64_t len)
{
    if (n > SNAP_PAGES_MAX || len < 4 + 8ULL * n)
        return fail(EINVAL, "a PAGES frame of %llu bytes claims %u pages (at most %u)", (unsigned long long)len, n,
                    SNAP_PAGES_MAX);
    return 0;
}

/* Pages the guest has zeroed since they were last sent. */
static void zero_pages(struct guest_mem *mem, const uint8_t *head, uint32_t n, uint8_t **dst)
{
    for (uint32_t i = 0; i < n; i++) {
        uint64_t e;
        memcpy(&e, head + 4 + 8ULL * i, sizeof(e));
        if (!dst[i])
            memset(gm_ptr(mem, le64toh(e) & ~(GM_PAGE - 1), GM_PAGE), 0, GM_PAGE);
    }
}

int migrate_apply_pages(struct guest_mem *mem, const uint8_t *p, size_t len)
{
    uint8_t *dst[SNAP_PAGES_MAX];
    uint64_t data;
    uint32_t n = len >= 4 ? pages_count(p) : UINT32_MAX;
    int r = check_count(n, len);
    if (r == 0)
        r = pages_head(mem, p, n, dst, &data);
    if (r < 0)
        return r;
    if (len != 4 + 8ULL * n + data)
        return fail(EINVAL, "a PAGES frame of %zu bytes for %u pages with %llu bytes of data", len, n,
                    (unsigned long long)data);
    zero_pages(mem, p, n, dst);
    const uint8_t *src = p + 4 + 8ULL * n;
    for (uint32_t i = 0; i < n; i++)
        if (dst[i]) {
            memcpy(dst[i], src, GM_PAGE);
            src += GM_PAGE;
        }
    return 0;
}

/* A PAGES frame straight from the socket into guest RAM: the entries
 * first (their checksum, then each address), then the pages' bytes read
 * into their places. */
static int recv_pages(struct link *l, struct guest_mem *mem, const struct snap_section *s, uint32_t crc)
{
    uint8_t head[4 + 8 * SNAP_PAGES_MAX];
    uint8_t *dst[SNAP_PAGES_MAX];
    struct iovec iov[SNAP_PAGES_MAX + 1];
    static uint8_t pad[8];
    uint64_t data;
    int r = s->len < 4 ? fail(EINVAL, "a PAGES frame of %llu bytes", (unsigned long long)s->len)
                       : link_read(l, head, 4, IO_TIMEOUT_MS);
    if (r < 0)
        return r == -EINVAL ? r : link_fail(l, r, "receiving");
    uint32_t n = pages_count(head);
    if ((r = check_count(n, s->len)) < 0)
        return r;
    if ((r = link_read(l, head + 4, 8ULL * n, IO_TIMEOUT_MS)) < 0)
        return link_fail(l, r, "receiving");
    if (!snap_frame_intact(head, 4 + 8ULL * n, crc))
        return fail(EINVAL, "the migration stream's PAGES frame fails its checksum");
    if ((r = pages_head(mem, head, n, dst, &data)) < 0)
        return r;
    if (s->len != 4 + 8ULL * n + data)
        return fail(EINVAL, "a PAGES frame of %llu bytes for %u pages with %llu bytes of data",
                    (unsigned long long)s->len, n, (unsigned long long)data);
    zero_pages(mem, head, n, dst);
    int k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (dst[i])
            iov[k++] = (struct iovec){ dst[i], GM_PAGE };
    iov[k++] = (struct iovec){ pad, snap_pad(s->len) };
    if ((r = link_xfer(l, iov, k, false, IO_TIMEOUT_MS)) < 0)
        return link_fail(l, r, "receiving");
    return 0;
}

/* Removes KEY from object O and returns its value (a reference the caller
 * puts), or NULL. */
static struct json_object *take_key(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
        return NULL;
    json_object_get(v);
    json_object_object_del(o, key);
    return v;
}

/* HELLO: the source's shape must be ours; with copy_disks, each disk the
 * source sends must be writable here and of the same size.  *COPY says
 * whether disks are copied. */
static int check_hello(struct vmm *v, struct machine *m, const struct snap_section *s, bool *copy)
{
    struct json_object *have = machine_shape(m);
    struct json_tokener *tok = json_tokener_new();
    struct json_object *theirs = tok ? json_tokener_parse_ex(tok, (const char *)s->data, (int)s->len) : NULL;
    if (tok)
        json_tokener_free(tok);
    int r = 0;
    struct json_object *sizes = take_key(theirs, "copy_disks");
    *copy = sizes != NULL;
    /* The NICs' addresses may differ where this side was given none: the
     * guest's are adopted below. */
    struct json_object *macs = take_key(theirs, "macs");
    json_object_put(take_key(have, "macs"));
    const char *ours = json_object_to_json_string_ext(have, JSON_C_TO_STRING_PLAIN);
    if (!json_object_is_type(theirs, json_type_object))
        r = fail(EINVAL, "the source's HELLO is not a machine description");
    else if (strcmp(json_object_to_json_string_ext(theirs, JSON_C_TO_STRING_PLAIN), ours))
        r = fail(EINVAL, "the source's VM is %s; this one is %s (give the same --memory, --cpus, --disk, --net, "
                 "--virtio-console and --rng)", json_object_to_json_string_ext(theirs, JSON_C_TO_STRING_PLAIN), ours);
    else if (sizes && (!json_object_is_type(sizes, json_type_array) ||
                       json_object_array_length(sizes) != (size_t)v->cfg->ndisks))
        r = fail(EINVAL, "the source's HELLO lists its disks wrongly");
    for (int i = 0; r == 0 && sizes && i < v->cfg->ndisks; i++) {
        struct json_object *n = json_object_array_get_idx(sizes, (size_t)i);
        if (!n)
            continue;    /* read-only at the source: the same image here */
        if (v->cfg->disk[i].readonly)
            r = fail(EINVAL, "disk %d (%s) is read-only here; the source sends its contents", i,
                     v->cfg->disk[i].path);
        else if (json_object_get_int64(n) != (int64_t)blk_size(v->disk[i]))
            r = fail(EINVAL, "disk %d (%s) has %llu bytes here, %lld at the source", i, v->cfg->disk[i].path,
                     (unsigned long long)blk_size(v->disk[i]), (long long)json_object_get_int64(n));
    }
    if (r == 0)
        r = machine_adopt_macs(m, macs);
    json_object_put(macs);
    /* Copied disks are this side's alone: readable and writable now. */
    for (int i = 0; r == 0 && sizes && i < v->cfg->ndisks; i++)
        if (json_object_array_get_idx(sizes, (size_t)i) && (r = blk_reload(v->disk[i])) < 0)
            r = fail(-r, "disk %d (%s): %s", i, v->cfg->disk[i].path, err_msg());
    json_object_put(sizes);
    json_object_put(theirs);
    json_object_put(have);
    return r;
}

int migrate_disk_chunk(const uint8_t *p, size_t len, struct migrate_chunk *c)
{
    if (len < 24)
        return fail(EINVAL, "a DISK frame of %zu bytes", len);
    uint32_t flags;
    memcpy(&c->disk, p, 4);
    memcpy(&flags, p + 4, 4);
    memcpy(&c->offset, p + 8, 8);
    memcpy(&c->len, p + 16, 8);
    c->disk = le32toh(c->disk);
    flags = le32toh(flags);
    c->offset = le64toh(c->offset);
    c->len = le64toh(c->len);
    c->zero = flags & SNAP_DISK_ZERO;
    c->data = p + 24;
    if (flags & ~SNAP_DISK_ZERO || c->len == 0 || c->len > BLK_TRACK_CHUNK || c->offset % 512 ||
        len - 24 != (c->zero ? 0 : c->len))
        return fail(EINVAL, "a damaged DISK frame (disk %u, %llu bytes at %llu, flags 0x%x, %zu bytes)", c->disk,
                    (unsigned long long)c->len, (unsigned long long)c->offset, flags, len);
    return 0;
}

/* A chunk of a copied disk, written where it belongs. */
static int write_chunk(struct vmm *v, const struct snap_section *s, bool copy)
{
    struct migrate_chunk c;
    int r = migrate_disk_chunk(s->data, s->len, &c);
    if (r < 0)
        return r;
    if (!copy || c.disk >= (uint32_t)v->cfg->ndisks || v->cfg->disk[c.disk].readonly)
        return fail(EINVAL, "the source sends contents for disk %u, which this migration does not copy", c.disk);
    struct blk *b = v->disk[c.disk];
    r = c.zero ? blk_write_zeroes(b, c.offset, c.len) : blk_pwrite(b, c.offset, c.data, c.len);
    return r < 0 ? fail(-r, "disk %u (%s): %s", c.disk, v->cfg->disk[c.disk].path, err_msg()) : 0;
}

/* The state (the frame in l->rx, taken over) as --restore would load it,
 * then the disks: copied ones made durable, shared ones read again. */
static int take_state(struct vmm *v, struct machine *m, struct link *l, uint64_t len, bool copy)
{
    int r = snapshot_take_state(v, l->rx, len, "migration");
    l->rx = NULL;
    l->rx_cap = 0;
    if (r == 0)
        r = machine_restore(m);
    snapshot_close(v);
    for (int i = 0; r == 0 && i < v->cfg->ndisks; i++)
        if ((r = copy ? blk_flush(v->disk[i]) : blk_reload(v->disk[i])) < 0)
            r = fail(-r, "disk %d (%s): %s: %s", i, v->cfg->disk[i].path,
                     copy ? "cannot make its copy durable" : "cannot read it again after the source's writes",
                     err_msg());
    return r;
}

static int receive(struct vmm *v, struct machine *m, struct link *l, bool *run)
{
    uint8_t hdr[SNAP_HEADER_LEN];
    snap_stream_header(hdr);
    struct iovec iov = { hdr, sizeof(hdr) };
    int r = link_write(l, &iov, 1);
    if (r == 0)
        r = link_read(l, hdr, sizeof(hdr), IO_TIMEOUT_MS);
    if (r < 0)
        return link_fail(l, r, "migration");
    if ((r = snap_stream_check(hdr)) < 0)
        return r;
    struct snap_section s = { 0 };
    if ((r = recv_frame(l, HELLO_MAX, &s, IO_TIMEOUT_MS)) < 0)
        return r;
    bool copy = false;
    r = s.type == SNAP_HELLO ? check_hello(v, m, &s, &copy)
                             : fail(EINVAL, "the migration stream does not begin with HELLO");
    if (r < 0) {
        char why[512];
        snprintf(why, sizeof(why), "%s", err_msg());
        send_answer(l, false, why);
        return fail(EINVAL, "%s", why);
    }
    if ((r = send_answer(l, true, "")) < 0)
        return r;
    for (;;) {
        uint32_t crc;
        s = (struct snap_section){ 0 };
        if ((r = recv_header(l, SNAP_MAX_FILE, &s, &crc, IO_TIMEOUT_MS)) < 0)
            return r;
        if (s.type == SNAP_PAGES) {
            if ((r = recv_pages(l, &m->mem, &s, crc)) < 0)
                return r;
            continue;
        }
        if ((r = recv_payload(l, &s, crc)) < 0)
            return r;
        if (s.type == SNAP_DISK) {
            if ((r = write_chunk(v, &s, copy)) < 0)
                return r;
            continue;
        }
        if (s.type != SNAP_STATE)
            return fail(EINVAL, "the migration stream has a frame of type %u where pages or the state belong",
                        s.type);
        r = take_state(v, m, l, s.len, copy);
        if (r < 0) {
            char why[512];
            snprintf(why, sizeof(why), "%s", err_msg());
            send_answer(l, false, why);
            return fail(-r, "%s", why);
        }
        break;
    }
    if ((r = send_frame(l, SNAP_READY, NULL, 0)) < 0 || (r = recv_frame(l, 64, &s, IO_TIMEOUT_MS)) < 0)
        return r;
    struct snap_cursor c;
    snap_cursor_init(&c, &s);
    uint32_t go = snap_get_u32(&c);
    r = s.type == SNAP_GO && snap_cursor_done(&c, "GO") == 0 && go <= 1
            ? 0 : fail(EINVAL, "the migration stream has no GO after READY");
    *run = go == 1;
    return r;
}

int migrate_incoming(struct vmm *v, struct machine *m, bool *run)
{
    struct link l = { .fd = -1, .abort_fd = v->sigfd };
    log_info("waiting for a migration on %s%s", v->cfg->incoming, v->migration_key.len ? " (TLS)" : "");
    int r = link_accept(&l, v->incoming_fd);
    close(v->incoming_fd);
    v->incoming_fd = -1;
    if (r == 0 && v->migration_key.len)
        r = link_secure(&l, &v->migration_key, true, "the migration's source");
    if (r < 0) {
        link_close(&l);
        return fail(-r, "incoming migration: %s", err_msg());
    }
    uint64_t t0 = now_ns();
    r = receive(v, m, &l, run);
    link_close(&l);
    if (r < 0)
        return fail(-r, "incoming migration: %s", err_msg());
    log_info("migration received in %llu ms; the VM %s", (unsigned long long)((now_ns() - t0) / 1000000),
             *run ? "runs" : "stays paused, as it was");
    return 0;
}
