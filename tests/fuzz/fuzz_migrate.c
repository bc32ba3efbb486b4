/* Fuzzes what a migration's destination reads from the network
 * (docs/migration.md): the stream header, frame headers with their
 * checksums, and PAGES payloads written into guest RAM laid out as a big
 * guest's (low RAM at 0, high RAM above the 4 GiB line, the hole between).
 *
 * Input: byte 0 picks the target, the rest is its input.
 *   0   a stream header (snap_stream_check), then frames one after another
 *       (snap_frame_parse, snap_frame_intact) as the receiver reads them
 *   1   one PAGES payload (migrate_apply_pages)
 *   2   one DISK payload (migrate_disk_chunk)
 * Invariants: nothing crashes or touches memory outside guest RAM; a PAGES
 * payload that is accepted leaves each page it names holding exactly the
 * bytes it carried (or zeros); an accepted DISK payload's range is one
 * chunk at most, its bytes inside the payload. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snap/snap.h"
#include "vmm/vmm.h"

#define LOW (64 * 1024)
#define HIGH (16 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void frames(const uint8_t *p, size_t n)
{
    if (n < SNAP_HEADER_LEN || snap_stream_check(p) < 0)
        return;
    p += SNAP_HEADER_LEN, n -= SNAP_HEADER_LEN;
    while (n >= SNAP_SECTION_HEADER_LEN) {
        struct snap_section s;
        uint32_t crc;
        if (snap_frame_parse(p, 1 << 20, &s, &crc) < 0)
            return;
        p += SNAP_SECTION_HEADER_LEN, n -= SNAP_SECTION_HEADER_LEN;
        size_t whole = s.len + (8 - s.len % 8) % 8;
        if (whole > n)
            return;
        (void)snap_frame_intact(p, s.len, crc);
        p += whole, n -= whole;
    }
}

static void pages(const uint8_t *p, size_t n)
{
    static uint8_t *low, *high;
    if (!low && (!(low = aligned_alloc(4096, LOW)) || !(high = aligned_alloc(4096, HIGH))))
        abort();
    memset(low, 0xaa, LOW);
    memset(high, 0xbb, HIGH);
    struct guest_mem mem;
    gm_wrap2(&mem, low, LOW, high, HIGH);
    if (migrate_apply_pages(&mem, p, n) < 0)
        return;
    uint32_t count;
    memcpy(&count, p, 4);
    const uint8_t *entry = p + 4, *bytes = p + 4 + 8ULL * count;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t e;
        memcpy(&e, entry + 8ULL * i, 8);
        const uint8_t *page = gm_ptr(&mem, e & ~(GM_PAGE - 1), GM_PAGE);
        if (!page)
            abort();
        /* A later entry may name the same page again: check the last one's. */
        bool later = false;
        for (uint32_t j = i + 1; j < count; j++) {
            uint64_t f;
            memcpy(&f, entry + 8ULL * j, 8);
            later |= (f & ~(GM_PAGE - 1)) == (e & ~(GM_PAGE - 1));
        }
        if (e & SNAP_PAGE_ZERO) {
            for (size_t b = 0; b < GM_PAGE && !later; b++)
                if (page[b])
                    abort();
        } else {
            if (!later && memcmp(page, bytes, GM_PAGE))
                abort();
            bytes += GM_PAGE;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    log_set_level(LOG_ERROR);
    struct migrate_chunk c;
    switch (data[0] % 3) {
    case 0: frames(data + 1, size - 1); break;
    case 1: pages(data + 1, size - 1); break;
    case 2:
        if (migrate_disk_chunk(data + 1, size - 1, &c) == 0 &&
            (c.len > BLK_TRACK_CHUNK || (!c.zero && c.data + c.len != data + size)))
            abort();
        break;
    }
    return 0;
}
