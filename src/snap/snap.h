/* snap — the state file of a corral-vmm snapshot (docs/snapshot-format.md):
 * a fixed header, then sections, each a type, an instance index, a payload
 * length and the payload's CRC-32.  Payloads are sequences of little-endian
 * integers and byte strings, written and read in an order each component
 * defines (and the document lists).
 *
 * Writing builds the whole file in memory (it holds registers and device
 * state: kilobytes, never guest RAM) and hands it out at once.  Reading
 * checks everything about the file that does not need to know what a
 * section means — magic, version, lengths, checksums, no duplicate
 * sections — before any of it is used; a component then reads its payload
 * through a cursor that turns every overrun into an error instead of a read
 * past the end.  Nothing here trusts a size found in the file.
 */
#ifndef CORRAL_SNAP_H
#define CORRAL_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC "CRLSNAP1"        /* 8 bytes, no terminator in the file */
#define SNAP_VERSION 1               /* what this build writes and reads */
#define SNAP_HEADER_LEN 32
#define SNAP_SECTION_HEADER_LEN 24
#define SNAP_MAX_FILE (16u << 20)    /* a state file is never bigger */
#define SNAP_MAX_SECTIONS 256

/* Section types (the document describes each payload). */
enum snap_type {
    SNAP_CONFIG = 1,    /* the machine: memory, vCPUs, devices (JSON text) */
    SNAP_CPUID = 2,     /* the CPUID table every vCPU was given */
    SNAP_VCPU = 3,      /* one per vCPU, index = vCPU id */
    SNAP_VM = 4,        /* in-kernel PIC, IOAPIC, PIT, kvmclock, TSC rate */
    SNAP_DEVICE = 5,    /* one per emulated device, index = its place in the config */
    SNAP_MEMORY = 6,    /* where guest RAM is: the memory file's size and layout */
    SNAP_TYPE_MAX = 6,
};

/* ---- writing ---- */

struct snap_writer {
    uint8_t *buf;
    size_t len, cap;
    size_t section;     /* offset of the open section's header, or 0 */
    unsigned nsections;
    bool failed;        /* out of memory or too big: snap_finish says so */
};

void snap_writer_init(struct snap_writer *w);
void snap_writer_free(struct snap_writer *w);
void snap_begin(struct snap_writer *w, enum snap_type type, uint32_t index);
void snap_u8(struct snap_writer *w, uint8_t v);
void snap_u16(struct snap_writer *w, uint16_t v);
void snap_u32(struct snap_writer *w, uint32_t v);
void snap_u64(struct snap_writer *w, uint64_t v);
void snap_bytes(struct snap_writer *w, const void *p, size_t len);
/* A length-prefixed (u32) byte string. */
void snap_blob(struct snap_writer *w, const void *p, size_t len);
void snap_end(struct snap_writer *w);
/* Completes the header; 0 with the file in w->buf/w->len, or -ENOMEM/-EFBIG. */
int snap_finish(struct snap_writer *w);

/* ---- reading ---- */

struct snap_section {
    uint32_t type, index;
    const uint8_t *data;
    uint64_t len;
};

struct snap_file {
    uint32_t version;
    struct snap_section section[SNAP_MAX_SECTIONS];
    unsigned nsections;
};

/* Checks BUF (the whole state file) and lists its sections; 0 or -EINVAL /
 * -EPROTONOSUPPORT (a newer version) with a message naming the problem.
 * The sections point into BUF. */
int snap_parse(const uint8_t *buf, size_t len, struct snap_file *out);
/* The section of TYPE and INDEX, or NULL. */
const struct snap_section *snap_section(const struct snap_file *f, enum snap_type type, uint32_t index);
/* How many sections of TYPE the file has. */
unsigned snap_sections(const struct snap_file *f, enum snap_type type);

struct snap_cursor {
    const uint8_t *p;
    size_t left;
    bool bad;           /* read past the end: every later read gives 0 */
};

void snap_cursor_init(struct snap_cursor *c, const struct snap_section *s);
uint8_t snap_get_u8(struct snap_cursor *c);
uint16_t snap_get_u16(struct snap_cursor *c);
uint32_t snap_get_u32(struct snap_cursor *c);
uint64_t snap_get_u64(struct snap_cursor *c);
/* Exactly LEN bytes into DST (zeroed if the payload is short). */
void snap_get_bytes(struct snap_cursor *c, void *dst, size_t len);
/* A snap_blob() of at most MAX bytes: its length into *LEN, pointer into
 * the payload; NULL (and c->bad) if longer than MAX or past the end. */
const uint8_t *snap_get_blob(struct snap_cursor *c, size_t max, size_t *len);
/* 0 if the payload was read exactly to its end, else -EINVAL naming WHAT. */
int snap_cursor_done(struct snap_cursor *c, const char *what);

/* ---- streams (live migration, docs/migration.md) ----------------------- */

/* A migration stream is the same framing sent one section at a time: a
 * header whose flags say SNAP_F_STREAM (and whose section count and length
 * are 0: not known in advance), then frames, each a section header and its
 * payload padded to 8 bytes.  Frame types are their own range. */
#define SNAP_F_STREAM 1u
enum snap_frame_type {
    SNAP_HELLO = 16,    /* source: the machine's shape (JSON), before anything else */
    SNAP_ANSWER = 17,   /* destination: u32 1 = accepted, 0 = refused; blob: why */
    SNAP_PAGES = 18,    /* source: u32 n; n x u64 gpa|flags; the pages' bytes */
    SNAP_STATE = 19,    /* source: a whole state file (everything but RAM) */
    SNAP_READY = 20,    /* destination: holds the whole state; empty */
    SNAP_GO = 21,       /* source: has stopped for good; u32 1 = run, 0 = stay paused */
    SNAP_DISK = 22,     /* source: u32 disk, u32 flags, u64 offset, u64 length; the bytes */
};
#define SNAP_DISK_ZERO 1u       /* in a DISK frame: the range reads as zeros, no bytes follow */
#define SNAP_PAGE_ZERO 1u       /* in a PAGES entry: the page is all zeros, no bytes follow */
#define SNAP_PAGES_MAX 256u     /* pages per PAGES frame */

void snap_stream_header(uint8_t out[SNAP_HEADER_LEN]);
/* 0 if IN starts a stream this build reads; else -EINVAL/-EPROTONOSUPPORT. */
int snap_stream_check(const uint8_t in[SNAP_HEADER_LEN]);
/* A frame's header: LEN bytes of payload follow, then snap_pad(LEN) zero
 * bytes; CRC is the CRC-32 (snap_crc) of what the frame type says it
 * covers: the whole payload, but only the count and entries of a PAGES
 * frame (docs/migration.md). */
void snap_frame_header(uint8_t out[SNAP_SECTION_HEADER_LEN], uint32_t type, uint32_t index, uint64_t len,
                       uint32_t crc);
static inline size_t snap_pad(uint64_t len) { return (size_t)((8 - len % 8) % 8); }
struct iovec;
uint32_t snap_crc(const struct iovec *iov, int n);
/* Decodes a received frame header; -EINVAL if it is damaged or its length
 * is over MAX_LEN. */
int snap_frame_parse(const uint8_t in[SNAP_SECTION_HEADER_LEN], uint32_t max_len, struct snap_section *out,
                     uint32_t *crc);
/* Whether a received payload matches its header's CRC. */
bool snap_frame_intact(const uint8_t *payload, uint64_t len, uint32_t crc);

#endif
