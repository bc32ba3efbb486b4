/* qcow2 compressed cluster writes (what `convert -c` uses).
 *
 * Each guest cluster is deflated on its own (raw deflate, 4 KiB window, as
 * QEMU does); one that does not shrink is written normally.  Compressed
 * data is packed: the next cluster's data goes right after the previous
 * one's (on a 512-byte boundary) while it is still at the end of the file,
 * so a host cluster may hold pieces of several compressed clusters; its
 * refcount is the number of L2 entries whose data touches it.
 *
 * Order, for crash safety (see qcow2_refcount.c): the data and refcounts
 * of every cluster of one call, one barrier, then their L2 entries (each
 * releasing what it replaces).  One sync per call, not per cluster. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <zlib.h>

#include "block/qcow2.h"

/* Deflates one whole cluster; *zlen is 0 if it does not get smaller. */
static int deflate_cluster(struct qcow2 *s, const uint8_t *in, uint8_t *out, size_t *zlen)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return fail(ENOMEM, "%s: cannot set up zlib", s->b->path);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)s->cluster_size;
    z.next_out = out;
    z.avail_out = (uInt)s->cluster_size;
    int zr = deflate(&z, Z_FINISH);
    size_t n = s->cluster_size - z.avail_out;
    deflateEnd(&z);
    *zlen = zr == Z_STREAM_END && n < s->cluster_size ? n : 0;
    return 0;
}

/* Host space for `len` bytes of compressed data: after the previous
 * compressed data if that is in the file's last cluster and either the
 * rest of that cluster is enough or the clusters after it can be had. */
static int alloc_bytes(struct qcow2 *s, uint64_t len, uint64_t *host)
{
    uint64_t cs = s->cluster_size, pos = s->comp_next, next = ALIGN_UP(pos, cs), v = 0;
    bool tail = pos % cs && next == s->file_end;
    int r = tail ? qcow2_refcount_get(s, pos, &v) : 0;
    if (r < 0)
        return r;
    if (tail && v > 0) {   /* still holds our data, so it is ours to fill */
        if (len <= next - pos) {
            *host = pos;
            return 0;
        }
        uint64_t got;
        r = qcow2_reserve(s, (len - (next - pos) + cs - 1) / cs, &got);
        if (r < 0 || got == next) {
            *host = pos;
            return r;
        }
        /* Refcount blocks came in between: what we got is not contiguous
         * with pos; it is left unused (refcount 0) and we start afresh. */
    }
    return qcow2_reserve(s, (len + cs - 1) / cs, host);
}

/* Writes zlen compressed bytes (in buf, with room to pad them to a whole
 * sector) and references them; *e is the L2 entry for them. */
static int store(struct qcow2 *s, uint8_t *buf, size_t zlen, uint64_t *e)
{
    uint64_t host, x = 62 - (s->cluster_bits - 8);
    int r = alloc_bytes(s, zlen, &host);
    if (r < 0)
        return r;
    /* Padding to the sector end: readers fetch whole sectors. */
    uint64_t end = ALIGN_UP(host + zlen, 512);
    memset(buf + zlen, 0, end - host - zlen);
    if ((r = blk_pwrite_fd(s->fd, buf, end - host, host)) < 0)
        return fail(-r, "%s: write failed: %s", s->b->path, strerror(-r));
    s->data_unsynced = true;   /* lost, it would not inflate */
    uint64_t nsec = ((host + zlen - 1) >> 9) - (host >> 9);
    *e = QCOW2_COMPRESSED | nsec << x | host;
    s->comp_next = end;
    return qcow2_entry_ref(s, *e, 1);
}

/* Compresses and stores one guest cluster; *e is its new L2 entry, or 0
 * if nothing is left to do (written uncompressed, or already zero). */
static int write_one(struct qcow2 *s, uint64_t vo, const uint8_t *p, size_t n, uint8_t *in,
                     uint8_t *out, uint64_t *e)
{
    /* A short last cluster is compressed as a whole one, zero-padded:
     * readers always inflate whole clusters. */
    memcpy(in, p, n);
    memset(in + n, 0, s->cluster_size - n);
    size_t zlen = 0;
    int r;
    *e = 0;
    if (buf_is_zero(in, s->cluster_size) && !s->b->backing) {
        /* Unallocated reads as zeros already (as qemu-img convert leaves it). */
        uint64_t old;
        if ((r = qcow2_get_entry(s, vo, &old)) < 0 || old == 0)
            return r;
    }
    r = deflate_cluster(s, in, out, &zlen);
    if (r < 0)
        return r;
    return zlen ? store(s, out, zlen, e) : qcow2_write(s->b, vo, p, n);
}

int qcow2_write_compressed(struct blk *b, uint64_t off, const void *buf, size_t len)
{
    struct qcow2 *s = b->priv;
    uint64_t cs = s->cluster_size, n = (len + cs - 1) / cs;
    if (off % cs || (len % cs && off + len != b->size))
        return fail(EINVAL, "%s: compressed writes must cover whole clusters (offset %" PRIu64
                    ", length %zu)", b->path, off, len);
    _cleanup_free_ uint8_t *in = malloc(cs);
    _cleanup_free_ uint8_t *out = malloc(cs + 512);
    _cleanup_free_ uint64_t *entries = calloc(n ? n : 1, sizeof(uint64_t));
    if (!in || !out || !entries)
        return fail(ENOMEM, "out of memory");
    const uint8_t *p = buf;
    int r = 0;
    for (uint64_t i = 0; i < n && r == 0; i++)
        r = write_one(s, off + i * cs, p + i * cs, (size_t)MIN(cs, len - i * cs), in, out,
                      &entries[i]);
    if (r == 0)
        r = qcow2_barrier(s);
    for (uint64_t i = 0; i < n && r == 0; i++)
        if (entries[i])
            r = qcow2_set_entry(s, off + i * cs, entries[i]);
    return r;
}
