/* The snapshot state file (src/snap): what the writer produces reads back
 * field for field; every kind of damage (magic, newer version, truncation,
 * a flipped payload byte, a length past the end, a duplicate or unknown
 * section, trailing bytes) is refused with a message saying which; cursors
 * never read past a payload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "snap/snap.h"

const char *err_msg(void);    /* util.h's fail() clashes with cmocka's */

static void build(struct snap_writer *w)
{
    snap_writer_init(w);
    snap_begin(w, SNAP_CONFIG, 0);
    snap_blob(w, "{\"memory\":1}", 12);
    snap_begin(w, SNAP_VCPU, 3);
    snap_u8(w, 0xab);
    snap_u16(w, 0xbeef);
    snap_u32(w, 0xdeadbeef);
    snap_u64(w, 0x0123456789abcdefull);
    snap_bytes(w, "xyz", 3);
    snap_end(w);
    snap_begin(w, SNAP_DEVICE, 7);    /* empty */
    assert_int_equal(snap_finish(w), 0);
}

static void test_roundtrip(void **state)
{
    (void)state;
    struct snap_writer w;
    build(&w);
    assert_int_equal(w.len % 8, 0);
    struct snap_file f;
    assert_int_equal(snap_parse(w.buf, w.len, &f), 0);
    assert_int_equal(f.version, SNAP_VERSION);
    assert_int_equal(f.nsections, 3);
    assert_int_equal(snap_sections(&f, SNAP_VCPU), 1);
    assert_null(snap_section(&f, SNAP_VCPU, 0));
    struct snap_cursor c;
    snap_cursor_init(&c, snap_section(&f, SNAP_VCPU, 3));
    assert_int_equal(snap_get_u8(&c), 0xab);
    assert_int_equal(snap_get_u16(&c), 0xbeef);
    assert_int_equal(snap_get_u32(&c), 0xdeadbeef);
    assert_true(snap_get_u64(&c) == 0x0123456789abcdefull);
    char b[3];
    snap_get_bytes(&c, b, 3);
    assert_memory_equal(b, "xyz", 3);
    assert_int_equal(snap_cursor_done(&c, "vcpu"), 0);
    /* blobs: within the limit, and refused past it */
    snap_cursor_init(&c, snap_section(&f, SNAP_CONFIG, 0));
    size_t len;
    const uint8_t *p = snap_get_blob(&c, 12, &len);
    assert_non_null(p);
    assert_int_equal(len, 12);
    assert_int_equal(snap_cursor_done(&c, "config"), 0);
    snap_cursor_init(&c, snap_section(&f, SNAP_CONFIG, 0));
    assert_null(snap_get_blob(&c, 11, &len));
    assert_int_equal(snap_cursor_done(&c, "config"), -EINVAL);
    /* reading past the end gives zeros and an error, never bytes beyond */
    snap_cursor_init(&c, snap_section(&f, SNAP_DEVICE, 7));
    assert_int_equal(snap_get_u32(&c), 0);
    assert_true(c.bad);
    assert_int_equal(snap_cursor_done(&c, "dev"), -EINVAL);
    assert_non_null(strstr(err_msg(), "dev state is cut short"));
    /* unread bytes are an error too */
    snap_cursor_init(&c, snap_section(&f, SNAP_VCPU, 3));
    snap_get_u8(&c);
    assert_int_equal(snap_cursor_done(&c, "vcpu"), -EINVAL);
    assert_non_null(strstr(err_msg(), "bytes more than"));
    /* a missing section: a cursor that is bad from the start */
    snap_cursor_init(&c, NULL);
    assert_int_equal(snap_cursor_done(&c, "gone"), -EINVAL);
    snap_writer_free(&w);
}

static int parse_damaged(const uint8_t *buf, size_t len, void (*damage)(uint8_t *, size_t *), const char *want)
{
    uint8_t *copy = malloc(len + 64);
    memcpy(copy, buf, len);
    memset(copy + len, 0, 64);
    size_t n = len;
    damage(copy, &n);
    struct snap_file f;
    int r = snap_parse(copy, n, &f);
    free(copy);
    if (r == 0)
        fail_msg("damage accepted (wanted: %s)", want);
    if (!strstr(err_msg(), want))
        fail_msg("message '%s' does not say '%s'", err_msg(), want);
    return r;
}

static void d_magic(uint8_t *b, size_t *n) { (void)n; b[0] ^= 1; }
static void d_version(uint8_t *b, size_t *n) { (void)n; b[8] = SNAP_VERSION + 1; }
static void d_truncate(uint8_t *b, size_t *n) { (void)b; *n -= 9; }
static void d_trailing(uint8_t *b, size_t *n) { (void)b; *n += 8; }
static void d_payload(uint8_t *b, size_t *n) { (void)n; b[SNAP_HEADER_LEN + SNAP_SECTION_HEADER_LEN + 5] ^= 0x40; }
static void d_type(uint8_t *b, size_t *n) { (void)n; b[SNAP_HEADER_LEN] = 99; }
static void d_seclen(uint8_t *b, size_t *n) { (void)n; b[SNAP_HEADER_LEN + 8 + 6] = 1; }
static void d_count(uint8_t *b, size_t *n) { (void)n; b[16] = 0xff; b[17] = 0xff; }
static void d_flags(uint8_t *b, size_t *n) { (void)n; b[20] = 1; }

static void test_damage(void **state)
{
    (void)state;
    struct snap_writer w;
    build(&w);
    assert_int_equal(parse_damaged(w.buf, w.len, d_magic, "not a corral-vmm snapshot"), -EINVAL);
    assert_int_equal(parse_damaged(w.buf, w.len, d_version, "format version 2"), -EPROTONOSUPPORT);
    assert_int_equal(parse_damaged(w.buf, w.len, d_truncate, "truncated"), -EINVAL);
    assert_int_equal(parse_damaged(w.buf, w.len, d_trailing, "longer than written"), -EINVAL);
    assert_int_equal(parse_damaged(w.buf, w.len, d_payload, "fails its checksum"), -EINVAL);
    assert_int_equal(parse_damaged(w.buf, w.len, d_type, "unknown type 99"), -EINVAL);
    assert_int_equal(parse_damaged(w.buf, w.len, d_seclen, "runs past the end"), -EINVAL);
    assert_int_equal(parse_damaged(w.buf, w.len, d_count, "claims 65535 sections"), -EINVAL);
    assert_int_equal(parse_damaged(w.buf, w.len, d_flags, "header is damaged"), -EINVAL);
    struct snap_file f;
    assert_int_equal(snap_parse(w.buf, 7, &f), -EINVAL);
    snap_writer_free(&w);

    /* the same section twice */
    snap_writer_init(&w);
    snap_begin(&w, SNAP_VM, 0);
    snap_u32(&w, 1);
    snap_begin(&w, SNAP_VM, 0);
    snap_u32(&w, 2);
    assert_int_equal(snap_finish(&w), 0);
    assert_int_equal(snap_parse(w.buf, w.len, &f), -EINVAL);
    assert_non_null(strstr(err_msg(), "twice"));
    snap_writer_free(&w);

    /* writing outside a section is an error at the end, not a crash */
    snap_writer_init(&w);
    snap_u32(&w, 5);
    assert_int_equal(snap_finish(&w), -ENOMEM);
    snap_writer_free(&w);
}

/* Migration streams: the header says "stream" and is checked as such; a
 * frame's header carries its payload's length and checksum over several
 * pieces; damaged frame headers are refused. */
static void test_stream(void **state)
{
    (void)state;
    uint8_t h[SNAP_HEADER_LEN];
    snap_stream_header(h);
    assert_int_equal(snap_stream_check(h), 0);
    h[8] = 9;
    assert_int_equal(snap_stream_check(h), -EPROTONOSUPPORT);
    snap_stream_header(h);
    h[20] = 0;    /* a state file's header, not a stream's */
    assert_int_equal(snap_stream_check(h), -EINVAL);
    snap_stream_header(h);
    h[0] = 'X';
    assert_int_equal(snap_stream_check(h), -EINVAL);

    uint8_t f[SNAP_SECTION_HEADER_LEN], payload[] = "hello, stream";
    struct iovec iov[2] = { { payload, 5 }, { payload + 5, 8 } };
    assert_int_equal(snap_crc(iov, 2), snap_crc(&(struct iovec){ payload, 13 }, 1));
    snap_frame_header(f, SNAP_PAGES, 3, 13, snap_crc(iov, 2));
    assert_int_equal(snap_pad(13), 3);
    struct snap_section s;
    uint32_t crc;
    assert_int_equal(snap_frame_parse(f, 64, &s, &crc), 0);
    assert_int_equal(s.type, SNAP_PAGES);
    assert_int_equal(s.index, 3);
    assert_int_equal(s.len, 13);
    assert_true(snap_frame_intact(payload, 13, crc));
    payload[4] ^= 1;
    assert_false(snap_frame_intact(payload, 13, crc));
    assert_int_equal(snap_frame_parse(f, 12, &s, &crc), -EINVAL);    /* over the limit */
    assert_non_null(strstr(err_msg(), "claims 13 bytes"));
    f[0] = SNAP_CONFIG;    /* a file's section type is no frame */
    assert_int_equal(snap_frame_parse(f, 64, &s, &crc), -EINVAL);
    snap_frame_header(f, SNAP_GO, 0, 0, snap_crc(iov, 0));
    assert_int_equal(snap_pad(0), 0);
    f[20] = 1;    /* reserved */
    assert_int_equal(snap_frame_parse(f, 64, &s, &crc), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_damage),
        cmocka_unit_test(test_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
