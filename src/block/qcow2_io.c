/* qcow2: reading and writing guest data through the L1/L2 tables.  Every
 * change follows the order described at the top of qcow2_refcount.c:
 * contents and refcount, qcow2_barrier(), the reference, qcow2_release()
 * of what it replaced. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <zlib.h>

#include "block/qcow2.h"

struct l2_ref {
    uint8_t *table;     /* NULL: no L2 table, the cluster is unallocated */
    uint64_t table_off;
    uint64_t idx;
};

static int io_fail(struct qcow2 *s, int r, const char *what)
{
    return fail(-r, "%s: %s failed: %s", s->b->path, what, strerror(-r));
}

/* A cluster we are about to overwrite must not be one of the tables we
 * know: a corrupt L1/L2 entry must not turn a guest write into metadata
 * corruption. */
static int check_writable(struct qcow2 *s, uint64_t host, const char *what)
{
    int r = qcow2_check_cluster(s, host, what);
    if (r < 0)
        return r;
    uint64_t end = host + s->cluster_size;
    uint64_t l1_end = s->l1_offset + (uint64_t)s->l1_size * 8;
    uint64_t rt_end = s->reftable_offset + (uint64_t)s->reftable_clusters * s->cluster_size;
    if ((host < l1_end && s->l1_offset < end) || (host < rt_end && s->reftable_offset < end))
        return fail(EIO, "%s: corrupt image: %s at 0x%" PRIx64 " overlaps the L1 or refcount "
                    "table", s->b->path, what, host);
    return 0;
}

static int alloc_l2(struct qcow2 *s, uint64_t l1i, struct l2_ref *ref)
{
    uint64_t off;
    uint8_t e[8];
    int r = qcow2_alloc(s, 1, &off);
    if (!r)
        r = qcow2_cache_get_new(s, &s->l2_cache, off, &ref->table);
    if (!r && (r = blk_pwrite_fd(s->fd, ref->table, s->cluster_size, off)) < 0)
        r = io_fail(s, r, "write");
    /* A lost write of the new table leaves zeros: the same empty table. */
    if (!r)
        r = qcow2_barrier(s);
    put_be64(e, off | QCOW2_COPIED);
    if (!r && (r = blk_pwrite_fd(s->fd, e, 8, s->l1_offset + l1i * 8)) < 0)
        r = io_fail(s, r, "write");
    if (r < 0)
        return r;
    s->l1[l1i] = off | QCOW2_COPIED;
    ref->table_off = off;
    return 0;
}

/* An L2 table shared with a snapshot (L1 entry without COPIED) is copied
 * before it is changed, so the snapshot keeps its view: copy, its
 * refcount, the L1 entry, then the old table's reference is dropped.  The
 * data clusters it maps keep their refcounts: they are still referenced
 * once per L2 table that maps them. */
static int cow_l2(struct qcow2 *s, uint64_t l1i, struct l2_ref *ref)
{
    _cleanup_free_ uint8_t *copy = malloc(s->cluster_size);
    uint8_t *t, e[8];
    uint64_t off;
    if (!copy)
        return fail(ENOMEM, "out of memory");
    int r = qcow2_cache_get(s, &s->l2_cache, ref->table_off, &t);
    if (r < 0)
        return r;
    memcpy(copy, t, s->cluster_size);
    r = qcow2_alloc(s, 1, &off);
    if (!r && (r = blk_pwrite_fd(s->fd, copy, s->cluster_size, off)) < 0)
        r = io_fail(s, r, "write");
    s->data_unsynced = true;
    if (!r)
        r = qcow2_barrier(s);
    put_be64(e, off | QCOW2_COPIED);
    if (!r && (r = blk_pwrite_fd(s->fd, e, 8, s->l1_offset + l1i * 8)) < 0)
        r = io_fail(s, r, "write");
    if (r < 0)
        return r;
    s->l1[l1i] = off | QCOW2_COPIED;
    r = qcow2_release(s, ref->table_off);
    ref->table_off = off;
    if (!r)
        r = qcow2_cache_get_new(s, &s->l2_cache, off, &ref->table);
    if (!r)
        memcpy(ref->table, copy, s->cluster_size);
    return r;
}

/* Finds the L2 entry for guest offset `vo`, allocating its table if asked
 * (and then also making it ours alone). */
static int get_l2(struct qcow2 *s, uint64_t vo, bool alloc, struct l2_ref *ref)
{
    uint64_t l1i = vo >> (s->cluster_bits + s->l2_bits);
    ref->idx = (vo >> s->cluster_bits) & ((1ULL << s->l2_bits) - 1);
    ref->table = NULL;
    if (l1i >= s->l1_size)
        return fail(EIO, "%s: offset 0x%" PRIx64 " is beyond the L1 table", s->b->path, vo);
    ref->table_off = s->l1[l1i] & QCOW2_OFFSET_MASK;
    if (!ref->table_off)
        return alloc ? alloc_l2(s, l1i, ref) : 0;
    int r = alloc ? check_writable(s, ref->table_off, "L2 table")
                  : qcow2_check_cluster(s, ref->table_off, "L2 table");
    if (r == 0 && alloc && !(s->l1[l1i] & QCOW2_COPIED))
        return cow_l2(s, l1i, ref);
    return r < 0 ? r : qcow2_cache_get(s, &s->l2_cache, ref->table_off, &ref->table);
}

/* Where a compressed cluster's data is and how long it may be. */
static void compressed_span(const struct qcow2 *s, uint64_t e, uint64_t *off, uint64_t *len)
{
    uint32_t x = 62 - (s->cluster_bits - 8);
    *off = e & ((1ULL << x) - 1);
    uint64_t sectors = ((e >> x) & ((1ULL << (s->cluster_bits - 8)) - 1)) + 1;
    *len = sectors * 512 - (*off & 511);
}

/* Inflates a compressed cluster into s->cbuf (raw deflate, 4 KiB window). */
static int decompress(struct qcow2 *s, uint64_t e)
{
    if (s->cbuf_entry == e && s->cbuf)
        return 0;
    uint64_t coff, clen;
    compressed_span(s, e, &coff, &clen);
    if (coff >= s->file_end)
        return fail(EIO, "%s: corrupt image: compressed cluster at 0x%" PRIx64
                    " is past the end of the file", s->b->path, coff);
    if (!s->zbuf)
        s->zbuf = malloc(2 * s->cluster_size);
    if (!s->cbuf)
        s->cbuf = malloc(s->cluster_size);
    if (!s->zbuf || !s->cbuf)
        return fail(ENOMEM, "out of memory");
    s->cbuf_entry = 0;
    ssize_t n = blk_pread_fd(s->fd, s->zbuf, clen, coff);
    if (n < 0)
        return io_fail(s, (int)n, "read");
    z_stream z = { .next_in = s->zbuf, .avail_in = (uInt)n, .next_out = s->cbuf,
                   .avail_out = (uInt)s->cluster_size };
    if (inflateInit2(&z, -12) != Z_OK)
        return fail(ENOMEM, "%s: cannot set up zlib", s->b->path);
    int zr = inflate(&z, Z_FINISH);
    bool full = z.avail_out == 0;
    inflateEnd(&z);
    if ((zr != Z_STREAM_END && zr != Z_BUF_ERROR) || !full)
        return fail(EIO, "%s: corrupt image: compressed cluster at 0x%" PRIx64
                    " does not decompress to a whole cluster", s->b->path, coff);
    s->cbuf_entry = e;
    return 0;
}

static bool is_zero(const struct qcow2 *s, uint64_t e)
{
    return s->version >= 3 && !(e & QCOW2_COMPRESSED) && (e & QCOW2_ZERO);
}

/* Reads n bytes at `in` inside the guest cluster at `vo` mapped by entry e. */
static int read_chunk(struct qcow2 *s, uint64_t e, uint64_t vo, uint64_t in, uint8_t *buf,
                      size_t n)
{
    uint64_t host = e & QCOW2_OFFSET_MASK;
    if (e & QCOW2_COMPRESSED) {
        int r = decompress(s, e);
        if (r == 0)
            memcpy(buf, s->cbuf + in, n);
        return r;
    }
    if (is_zero(s, e)) {
        memset(buf, 0, n);
        return 0;
    }
    if (!host)
        return blk_read_backing(s->b, vo + in, buf, n);
    int r = qcow2_check_cluster(s, host, "data cluster");
    if (r == 0 && (r = blk_data_pread(s->b, buf, n, host + in)) < 0)
        r = io_fail(s, r, "read");
    return r;
}

static uint64_t l2_entry(const struct l2_ref *ref)
{
    return ref->table ? get_be64(ref->table + ref->idx * 8) : 0;
}

/* Whether entry e maps its guest cluster to a host cluster as is (for a
 * write: one that may be overwritten in place). */
static bool plain_entry(const struct qcow2 *s, uint64_t e, bool write)
{
    if (!(e & QCOW2_OFFSET_MASK) || (e & QCOW2_COMPRESSED) || is_zero(s, e))
        return false;
    return !write || (e & QCOW2_COPIED);
}

/* Straight from the cached L2 table: the run of plain clusters from `off`
 * that are also contiguous in the file.  Any doubt (no table, a table
 * shared with a snapshot, an entry that fails the checks) answers 0 and
 * leaves the request to the slow path, which reports errors properly. */
int qcow2_map(struct blk *b, uint64_t off, uint64_t len, bool write, uint64_t *host,
              uint64_t *n)
{
    struct qcow2 *s = b->priv;
    uint64_t done = 0, entries = 1ULL << s->l2_bits;
    while (done < len) {
        uint64_t vo = off + done, l1i = vo >> (s->cluster_bits + s->l2_bits);
        struct l2_ref ref;
        if (l1i >= s->l1_size || (write && !(s->l1[l1i] & QCOW2_COPIED)) ||
            get_l2(s, vo, false, &ref) < 0 || !ref.table)
            break;
        for (uint64_t i = ref.idx; i < entries && done < len; i++) {
            uint64_t e = get_be64(ref.table + i * 8), h = e & QCOW2_OFFSET_MASK;
            uint64_t in = (off + done) & (s->cluster_size - 1);
            if (!plain_entry(s, e, write) || (done && h + in != *host + done))
                goto out;
            if (write ? check_writable(s, h, "data cluster") < 0
                      : qcow2_check_cluster(s, h, "data cluster") < 0)
                goto out;
            if (!done)
                *host = h + in;
            done += MIN(len - done, s->cluster_size - in);
        }
    }
out:
    *n = done;
    return done > 0;
}

int qcow2_read(struct blk *b, uint64_t off, void *buf, size_t len)
{
    struct qcow2 *s = b->priv;
    uint8_t *p = buf;
    while (len) {
        uint64_t in = off & (s->cluster_size - 1), host, n = 0;
        int r = 0;
        if (qcow2_map(b, off, len, false, &host, &n)) {
            if ((r = blk_data_pread(b, p, (size_t)n, host)) < 0)
                r = io_fail(s, r, "read");
        } else {
            struct l2_ref ref;
            n = MIN((uint64_t)len, s->cluster_size - in);
            r = get_l2(s, off, false, &ref);
            if (!r)
                r = read_chunk(s, l2_entry(&ref), off - in, in, p, (size_t)n);
        }
        if (r < 0)
            return r;
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Whether everything but [in, in+n) of a cluster buffer is zero. */
static bool all_zero_outside(const uint8_t *p, size_t size, uint64_t in, size_t n)
{
    return buf_is_zero(p, (size_t)in) && buf_is_zero(p + in + n, size - in - n);
}

/* The old content of a cluster that is about to be rewritten as a whole. */
static int read_base(struct qcow2 *s, uint64_t e, uint64_t vo, uint8_t *tmp)
{
    uint64_t end = MIN(s->cluster_size, s->b->size - vo);
    memset(tmp + end, 0, s->cluster_size - end);
    return read_chunk(s, e, vo, 0, tmp, (size_t)end);
}

/* How many clusters from the one at `vo` (entry `e`, index ref->idx) a
 * write of `len` bytes from `in` can give new host clusters at once: the
 * following ones in the same L2 table that also need one, within wbuf. */
static uint64_t new_run(struct qcow2 *s, const struct l2_ref *ref, uint64_t in, uint64_t len)
{
    uint64_t max = MAX(QCOW2_WBUF_BYTES >> s->cluster_bits, 1);
    uint64_t want = (in + len + s->cluster_size - 1) >> s->cluster_bits;
    uint64_t k = 1, left = (1ULL << s->l2_bits) - ref->idx;
    while (k < MIN(MIN(want, max), left)) {
        uint64_t e = get_be64(ref->table + (ref->idx + k) * 8);
        if (plain_entry(s, e, true) || (is_zero(s, e) && (e & QCOW2_OFFSET_MASK)))
            break;
        k++;
    }
    return k;
}

/* Writes into k clusters that need new (or first) host clusters: the data
 * (old content around the edges of the request) into clusters whose
 * refcounts are already 1, qcow2_barrier(), the L2 entries pointing at
 * them, then the old entries' references are released.  A preallocated
 * zero cluster we own (k = 1) is reused in place. */
static int write_new_clusters(struct qcow2 *s, struct l2_ref *ref, uint64_t k, uint64_t vo,
                              uint64_t in, const uint8_t *buf, size_t n)
{
    uint64_t cs = s->cluster_size, total = k * cs, host, e0 = l2_entry(ref);
    uint64_t data_bytes = MAX(QCOW2_WBUF_BYTES, cs);
    /* One buffer, allocated once: the clusters, then old and new entries. */
    if (!s->wbuf && posix_memalign((void **)&s->wbuf, BLK_DIRECT_ALIGN,
                                   data_bytes + 16 * (data_bytes >> s->cluster_bits)))
        return fail(ENOMEM, "out of memory");
    uint8_t *old = s->wbuf + data_bytes, *ne = old + 8 * k;
    int r = in ? read_base(s, e0, vo, s->wbuf) : 0;
    uint64_t last = (k - 1) * cs;
    if (!r && in + n < total && (k > 1 || !in))
        r = read_base(s, get_be64(ref->table + (ref->idx + k - 1) * 8), vo + last,
                      s->wbuf + last);
    if (r < 0)
        return r;
    memcpy(s->wbuf + in, buf, n);
    bool reuse = k == 1 && is_zero(s, e0) && (e0 & QCOW2_OFFSET_MASK) && (e0 & QCOW2_COPIED);
    host = e0 & QCOW2_OFFSET_MASK;
    r = reuse ? check_writable(s, host, "data cluster") : qcow2_alloc(s, k, &host);
    if (!r && (r = blk_data_pwrite(s->b, s->wbuf, total, host)) < 0)
        r = io_fail(s, r, "write");
    /* A fresh cluster whose write is lost reads as zeros: harmless unless
     * it holds copied old contents (or reuses a cluster with stale ones). */
    if (reuse || !all_zero_outside(s->wbuf, total, in, n))
        s->data_unsynced = true;
    if (!r)
        r = qcow2_barrier(s);
    if (r < 0)
        return r;
    memcpy(old, ref->table + ref->idx * 8, 8 * k);
    for (uint64_t i = 0; i < k; i++)
        put_be64(ne + i * 8, (host + i * cs) | QCOW2_COPIED);
    if ((r = blk_pwrite_fd(s->fd, ne, 8 * k, ref->table_off + ref->idx * 8)) < 0)
        return io_fail(s, r, "write");
    memcpy(ref->table + ref->idx * 8, ne, 8 * k);
    /* The old clusters may be shared with a snapshot (no COPIED): drop our
     * references once the new entries are durable. */
    for (uint64_t i = 0; i < k && !r && !reuse; i++)
        r = qcow2_release(s, get_be64(old + i * 8));
    return r;
}

/* Writes up to *n bytes at in-cluster offset `in` of the cluster at vo;
 * *n becomes what was written (new clusters may be allocated several at a
 * time). */
static int write_chunk(struct qcow2 *s, uint64_t vo, uint64_t in, const uint8_t *buf,
                       uint64_t *n)
{
    struct l2_ref ref;
    int r = get_l2(s, vo, true, &ref);
    if (r < 0)
        return r;
    uint64_t e = l2_entry(&ref), host = e & QCOW2_OFFSET_MASK;
    if (!plain_entry(s, e, true)) {
        uint64_t k = new_run(s, &ref, in, *n);
        *n = MIN(*n, k * s->cluster_size - in);
        return write_new_clusters(s, &ref, k, vo, in, buf, (size_t)*n);
    }
    *n = MIN(*n, s->cluster_size - in);
    r = check_writable(s, host, "data cluster");
    if (!r && (r = blk_data_pwrite(s->b, buf, (size_t)*n, host + in)) < 0)
        r = io_fail(s, r, "write");
    return r;
}

int qcow2_write(struct blk *b, uint64_t off, const void *buf, size_t len)
{
    struct qcow2 *s = b->priv;
    const uint8_t *p = buf;
    while (len) {
        uint64_t in = off & (s->cluster_size - 1), host, n = len;
        int r;
        if (qcow2_map(b, off, len, true, &host, &n)) {
            if ((r = blk_data_pwrite(b, p, (size_t)n, host)) < 0)
                r = io_fail(s, r, "write");
        } else {
            n = len;
            r = write_chunk(s, off - in, in, p, &n);
        }
        if (r < 0)
            return r;
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Entry points for qcow2_meta.c and qcow2_check.c. */
int qcow2_get_l2(struct qcow2 *s, uint64_t vo, bool alloc, struct qcow2_l2ref *out)
{
    struct l2_ref ref;
    int r = get_l2(s, vo, alloc, &ref);
    *out = (struct qcow2_l2ref){ .table = ref.table, .table_off = ref.table_off, .idx = ref.idx };
    return r;
}

void qcow2_compressed_span(const struct qcow2 *s, uint64_t e, uint64_t *off, uint64_t *len)
{
    compressed_span(s, e, off, len);
}

/* Adds `addend` to the refcount of every host cluster entry e uses. */
int qcow2_entry_ref(struct qcow2 *s, uint64_t e, int addend)
{
    uint64_t coff, clen, host = e & QCOW2_OFFSET_MASK;
    if (!(e & QCOW2_COMPRESSED))
        return host ? qcow2_refcount_add(s, host, addend) : 0;
    compressed_span(s, e, &coff, &clen);
    for (uint64_t c = ALIGN_DOWN(coff, s->cluster_size); c < coff + clen; c += s->cluster_size) {
        int r = qcow2_refcount_add(s, c, addend);
        if (r < 0)
            return r;
    }
    return 0;
}

int qcow2_get_entry(struct qcow2 *s, uint64_t vo, uint64_t *e)
{
    struct l2_ref ref;
    int r = get_l2(s, vo, false, &ref);
    *e = r == 0 ? l2_entry(&ref) : 0;
    return r;
}

int qcow2_set_entry(struct qcow2 *s, uint64_t vo, uint64_t e)
{
    struct l2_ref ref;
    uint8_t ne[8];
    int r = get_l2(s, vo, true, &ref);
    if (r < 0)
        return r;
    uint64_t old = l2_entry(&ref);
    put_be64(ne, e);
    if ((e & QCOW2_OFFSET_MASK) && (r = qcow2_barrier(s)) < 0)
        return r;
    if ((r = blk_pwrite_fd(s->fd, ne, 8, ref.table_off + ref.idx * 8)) < 0)
        return io_fail(s, r, "write");
    memcpy(ref.table + ref.idx * 8, ne, 8);
    s->cbuf_entry = 0;
    return qcow2_release(s, old);
}
