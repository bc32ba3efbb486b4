/* Fuzzes the split-virtqueue parser: the input is a queue set-up followed by
 * the guest RAM the rings and buffers live in.  Every chain popped is read
 * and written in full, so a bad host pointer shows up under ASan.  Flag 4
 * lays the RAM out as a big guest's is, in two slots: its first half at 0,
 * its second at 4 GiB (each its own heap block, so a range running off
 * either end is an ASan report). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "virtio/virtio.h"

#define RAM_SIZE (16 * 1024)

struct params {
    uint16_t num, desc, avail, used, last_avail, used_idx;
    uint8_t flags;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Offset OFF of the input's RAM as a guest address of the layout. */
static uint64_t gpa_of(uint64_t off, bool split)
{
    return split && off >= RAM_SIZE / 2 ? MEM_HIGH_START + off - RAM_SIZE / 2 : off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct params p;
    if (size < sizeof(p))
        return 0;
    memcpy(&p, data, sizeof(p));
    data += sizeof(p);
    size -= sizeof(p);

    /* Heap, exactly RAM_SIZE: one byte past it is an ASan report. */
    bool split = p.flags & 4;
    uint8_t *ram = malloc(RAM_SIZE), *high = split ? malloc(RAM_SIZE / 2) : NULL;
    memset(ram, 0, RAM_SIZE);
    memcpy(ram, data, MIN(size, (size_t)RAM_SIZE));
    struct guest_mem mem;
    if (split) {
        memcpy(high, ram + RAM_SIZE / 2, RAM_SIZE / 2);
        gm_wrap2(&mem, ram, RAM_SIZE / 2, high, RAM_SIZE / 2);
    } else {
        gm_wrap(&mem, ram, RAM_SIZE);
    }

    struct virtq q = {
        .mem = &mem,
        .event_idx = p.flags & 1,
        .indirect = p.flags & 2,
        .s = {
            .num = (uint16_t)(p.num % (VIRTQ_MAX_SIZE + 1)),
            .desc_gpa = gpa_of(p.desc % RAM_SIZE, split),
            .avail_gpa = gpa_of(p.avail % RAM_SIZE, split),
            .used_gpa = gpa_of(p.used % RAM_SIZE, split),
            .last_avail = p.last_avail,
            .used_idx = p.used_idx,
        },
    };
    static struct virtq_req req;
    if (virtq_check_layout(&q)) {
        q.s.ready = true;
        for (unsigned i = 0; i < 2u * VIRTQ_MAX_SIZE + 2; i++) {
            if (virtq_pop(&q, &req) <= 0)
                break;
            volatile uint8_t sink = 0;
            for (unsigned k = 0; k < req.nout; k++)
                for (size_t b = 0; b < req.out[k].iov_len; b++)
                    sink ^= ((uint8_t *)req.out[k].iov_base)[b];
            for (unsigned k = 0; k < req.nin; k++)
                memset(req.in[k].iov_base, 0xa5, req.in[k].iov_len);
            (void)sink;
            uint8_t hdr[16];
            iov_to_buf(req.out, req.nout, 1, hdr, sizeof(hdr));
            buf_to_iov(req.in, req.nin, 1, hdr, sizeof(hdr));
            virtq_push(&q, req.head, (uint32_t)req.in_len);
            virtq_should_notify(&q);
        }
    }
    free(ram);
    free(high);
    return 0;
}
