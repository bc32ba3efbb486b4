/* The snapshot state file: header and checksummed sections (snap.h). */
#include "snap/snap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <zlib.h>

#include "util/util.h"

/* Header: magic[8] version u32, header_len u32, nsections u32, flags u32,
 * file_len u64.  Section header: type u32, index u32, len u64, crc32 u32,
 * reserved u32 (0).  All little-endian; payloads padded to 8 bytes. */

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint8_t *grow(struct snap_writer *w, size_t n)
{
    if (w->failed)
        return NULL;
    if (n > SNAP_MAX_FILE - w->len) {
        w->failed = true;
        return NULL;
    }
    if (w->len + n > w->cap) {
        size_t cap = MAX(w->cap * 2, w->len + n + 4096);
        uint8_t *b = realloc(w->buf, cap);
        if (!b) {
            w->failed = true;
            return NULL;
        }
        w->buf = b;
        w->cap = cap;
    }
    uint8_t *p = w->buf + w->len;
    memset(p, 0, n);
    w->len += n;
    return p;
}

void snap_writer_init(struct snap_writer *w)
{
    memset(w, 0, sizeof(*w));
    grow(w, SNAP_HEADER_LEN);
}

void snap_writer_free(struct snap_writer *w)
{
    free(w->buf);
    memset(w, 0, sizeof(*w));
}

void snap_begin(struct snap_writer *w, enum snap_type type, uint32_t index)
{
    if (w->section)
        snap_end(w);
    size_t at = w->len;
    uint8_t *h = grow(w, SNAP_SECTION_HEADER_LEN);
    if (!h)
        return;
    put_le(h, type, 4);
    put_le(h + 4, index, 4);
    w->section = at;
}

static void put(struct snap_writer *w, uint64_t v, unsigned n)
{
    uint8_t *p = w->section ? grow(w, n) : NULL;
    if (p)
        put_le(p, v, n);
    else
        w->failed = true;
}

void snap_u8(struct snap_writer *w, uint8_t v) { put(w, v, 1); }
void snap_u16(struct snap_writer *w, uint16_t v) { put(w, v, 2); }
void snap_u32(struct snap_writer *w, uint32_t v) { put(w, v, 4); }
void snap_u64(struct snap_writer *w, uint64_t v) { put(w, v, 8); }

void snap_bytes(struct snap_writer *w, const void *p, size_t len)
{
    uint8_t *d = w->section ? grow(w, len) : NULL;
    if (d)
        memcpy(d, p, len);
    else
        w->failed = true;
}

void snap_blob(struct snap_writer *w, const void *p, size_t len)
{
    if (len > UINT32_MAX) {
        w->failed = true;
        return;
    }
    snap_u32(w, (uint32_t)len);
    snap_bytes(w, p, len);
}

void snap_end(struct snap_writer *w)
{
    if (!w->section || w->failed)
        return;
    size_t start = w->section + SNAP_SECTION_HEADER_LEN, len = w->len - start;
    uint8_t *h = w->buf + w->section;
    put_le(h + 8, len, 8);
    put_le(h + 16, crc32(0, w->buf + start, (uInt)len), 4);
    w->section = 0;
    w->nsections++;
    grow(w, (8 - len % 8) % 8);
}

int snap_finish(struct snap_writer *w)
{
    snap_end(w);
    if (w->nsections > SNAP_MAX_SECTIONS)
        w->failed = true;
    if (w->failed)
        return w->len >= SNAP_MAX_FILE - 4096 ? fail(EFBIG, "the snapshot's state is too big")
                                              : fail(ENOMEM, "out of memory");
    memcpy(w->buf, SNAP_MAGIC, 8);
    put_le(w->buf + 8, SNAP_VERSION, 4);
    put_le(w->buf + 12, SNAP_HEADER_LEN, 4);
    put_le(w->buf + 16, w->nsections, 4);
    put_le(w->buf + 20, 0, 4);
    put_le(w->buf + 24, w->len, 8);
    return 0;
}

int snap_parse(const uint8_t *buf, size_t len, struct snap_file *out)
{
    memset(out, 0, sizeof(*out));
    if (len < SNAP_HEADER_LEN || memcmp(buf, SNAP_MAGIC, 8))
        return fail(EINVAL, "not a corral-vmm snapshot state file (no %s header)", SNAP_MAGIC);
    uint32_t version = (uint32_t)get_le(buf + 8, 4), hlen = (uint32_t)get_le(buf + 12, 4);
    uint32_t n = (uint32_t)get_le(buf + 16, 4), flags = (uint32_t)get_le(buf + 20, 4);
    uint64_t flen = get_le(buf + 24, 8);
    if (version > SNAP_VERSION)
        return fail(EPROTONOSUPPORT, "the snapshot has format version %u; this corral-vmm reads up to %u",
                    version, SNAP_VERSION);
    if (version == 0 || hlen != SNAP_HEADER_LEN || flags)
        return fail(EINVAL, "the snapshot's header is damaged");
    if (flen != len)
        return fail(EINVAL, "the snapshot's state file is %s: %zu bytes, its header says %llu",
                    len < flen ? "truncated" : "longer than written", len, (unsigned long long)flen);
    if (n > SNAP_MAX_SECTIONS)
        return fail(EINVAL, "the snapshot claims %u sections (at most %d)", n, SNAP_MAX_SECTIONS);
    out->version = version;
    size_t at = SNAP_HEADER_LEN;
    for (uint32_t i = 0; i < n; i++) {
        if (len - at < SNAP_SECTION_HEADER_LEN)
            return fail(EINVAL, "the snapshot's state file ends inside section %u's header", i);
        const uint8_t *h = buf + at;
        struct snap_section s = { .type = (uint32_t)get_le(h, 4), .index = (uint32_t)get_le(h + 4, 4),
                                  .len = get_le(h + 8, 8) };
        uint32_t crc = (uint32_t)get_le(h + 16, 4);
        at += SNAP_SECTION_HEADER_LEN;
        if (get_le(h + 20, 4) || s.type == 0 || s.type > SNAP_TYPE_MAX)
            return fail(EINVAL, "the snapshot's section %u has an unknown type %u", i, s.type);
        if (s.len > len - at)
            return fail(EINVAL, "the snapshot's section %u (type %u) runs past the end of the file", i, s.type);
        s.data = buf + at;
        if ((uint32_t)crc32(0, s.data, (uInt)s.len) != crc)
            return fail(EINVAL, "the snapshot's section %u (type %u, index %u) fails its checksum", i, s.type,
                        s.index);
        if (snap_section(out, s.type, s.index))
            return fail(EINVAL, "the snapshot has section type %u index %u twice", s.type, s.index);
        size_t pad = (8 - s.len % 8) % 8;
        if (pad > len - at - s.len)
            return fail(EINVAL, "the snapshot's section %u (type %u) runs past the end of the file", i, s.type);
        at += s.len + pad;
        out->section[out->nsections++] = s;
    }
    if (at != len)
        return fail(EINVAL, "the snapshot's state file has %zu bytes after its last section", len - at);
    return 0;
}

const struct snap_section *snap_section(const struct snap_file *f, enum snap_type type, uint32_t index)
{
    for (unsigned i = 0; i < f->nsections; i++)
        if (f->section[i].type == (uint32_t)type && f->section[i].index == index)
            return &f->section[i];
    return NULL;
}

unsigned snap_sections(const struct snap_file *f, enum snap_type type)
{
    unsigned n = 0;
    for (unsigned i = 0; i < f->nsections; i++)
        n += f->section[i].type == (uint32_t)type;
    return n;
}

void snap_cursor_init(struct snap_cursor *c, const struct snap_section *s)
{
    *c = (struct snap_cursor){ .p = s ? s->data : NULL, .left = s ? (size_t)s->len : 0, .bad = !s };
}

static const uint8_t *take(struct snap_cursor *c, size_t n)
{
    if (c->bad || n > c->left) {
        c->bad = true;
        return NULL;
    }
    const uint8_t *p = c->p;
    c->p += n;
    c->left -= n;
    return p;
}

static uint64_t get(struct snap_cursor *c, unsigned n)
{
    const uint8_t *p = take(c, n);
    return p ? get_le(p, n) : 0;
}

uint8_t snap_get_u8(struct snap_cursor *c) { return (uint8_t)get(c, 1); }
uint16_t snap_get_u16(struct snap_cursor *c) { return (uint16_t)get(c, 2); }
uint32_t snap_get_u32(struct snap_cursor *c) { return (uint32_t)get(c, 4); }
uint64_t snap_get_u64(struct snap_cursor *c) { return get(c, 8); }

void snap_get_bytes(struct snap_cursor *c, void *dst, size_t len)
{
    const uint8_t *p = take(c, len);
    if (p)
        memcpy(dst, p, len);
    else
        memset(dst, 0, len);
}

const uint8_t *snap_get_blob(struct snap_cursor *c, size_t max, size_t *len)
{
    uint32_t n = snap_get_u32(c);
    if (n > max) {
        c->bad = true;
        return NULL;
    }
    *len = n;
    return take(c, n);
}

int snap_cursor_done(struct snap_cursor *c, const char *what)
{
    if (c->bad)
        return fail(EINVAL, "the snapshot's %s state is cut short or out of range", what);
    if (c->left)
        return fail(EINVAL, "the snapshot's %s state has %zu bytes more than this corral-vmm reads", what, c->left);
    return 0;
}

/* ---- streams ---- */

void snap_stream_header(uint8_t out[SNAP_HEADER_LEN])
{
    memset(out, 0, SNAP_HEADER_LEN);
    memcpy(out, SNAP_MAGIC, 8);
    put_le(out + 8, SNAP_VERSION, 4);
    put_le(out + 12, SNAP_HEADER_LEN, 4);
    put_le(out + 20, SNAP_F_STREAM, 4);
}

int snap_stream_check(const uint8_t in[SNAP_HEADER_LEN])
{
    if (memcmp(in, SNAP_MAGIC, 8))
        return fail(EINVAL, "not a corral-vmm migration stream (no %s header)", SNAP_MAGIC);
    uint32_t version = (uint32_t)get_le(in + 8, 4);
    if (version > SNAP_VERSION)
        return fail(EPROTONOSUPPORT, "the migration stream has format version %u; this corral-vmm reads up to %u",
                    version, SNAP_VERSION);
    if (version == 0 || get_le(in + 12, 4) != SNAP_HEADER_LEN || get_le(in + 16, 4) ||
        get_le(in + 20, 4) != SNAP_F_STREAM || get_le(in + 24, 8))
        return fail(EINVAL, "the migration stream's header is damaged");
    return 0;
}

void snap_frame_header(uint8_t out[SNAP_SECTION_HEADER_LEN], uint32_t type, uint32_t index, uint64_t len,
                       uint32_t crc)
{
    put_le(out, type, 4);
    put_le(out + 4, index, 4);
    put_le(out + 8, len, 8);
    put_le(out + 16, crc, 4);
    put_le(out + 20, 0, 4);
}

uint32_t snap_crc(const struct iovec *iov, int n)
{
    uLong crc = crc32(0, NULL, 0);
    for (int i = 0; i < n; i++)
        crc = crc32(crc, iov[i].iov_base, (uInt)iov[i].iov_len);
    return (uint32_t)crc;
}

int snap_frame_parse(const uint8_t in[SNAP_SECTION_HEADER_LEN], uint32_t max_len, struct snap_section *out,
                     uint32_t *crc)
{
    *out = (struct snap_section){ .type = (uint32_t)get_le(in, 4), .index = (uint32_t)get_le(in + 4, 4),
                                  .len = get_le(in + 8, 8) };
    *crc = (uint32_t)get_le(in + 16, 4);
    if (get_le(in + 20, 4) || out->type < SNAP_HELLO || out->type > SNAP_DISK)
        return fail(EINVAL, "the migration stream has a frame of unknown type %u", out->type);
    if (out->len > max_len)
        return fail(EINVAL, "the migration stream's frame of type %u claims %llu bytes (at most %u)", out->type,
                    (unsigned long long)out->len, max_len);
    return 0;
}

bool snap_frame_intact(const uint8_t *payload, uint64_t len, uint32_t crc)
{
    return (uint32_t)crc32(0, payload, (uInt)len) == crc;
}
