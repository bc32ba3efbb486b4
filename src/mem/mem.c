#include "mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util/util.h"

static void *map_ram(uint64_t size, int fd, uint64_t off)
{
    /* MAP_NORESERVE: guest RAM is touched lazily; overcommit is the point. */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_NORESERVE | (fd < 0 ? MAP_ANONYMOUS : 0), fd, (off_t)off);
    if (p == MAP_FAILED)
        return NULL;
    madvise(p, size, MADV_MERGEABLE);
    return p;
}

static int map_slots(struct guest_mem *m, uint64_t size, int fd)
{
    memset(m, 0, sizeof(*m));
    if (size < 2 * MiB || size % (4 * KiB))
        return fail(EINVAL, "guest memory must be a multiple of 4K and at least 2M");
    uint64_t low = MIN(size, MEM_HOLE_START);
    m->slot[0] = (struct mem_slot){ .gpa = 0, .size = low, .hva = map_ram(low, fd, 0) };
    if (!m->slot[0].hva)
        return fail(ENOMEM, "cannot map %llu MiB of guest memory: %s",
                    (unsigned long long)(low / MiB), strerror(errno));
    m->nslots = 1;
    if (size > low) {
        m->slot[1] = (struct mem_slot){ .gpa = MEM_HIGH_START, .size = size - low,
                                        .hva = map_ram(size - low, fd, low) };
        if (!m->slot[1].hva) {
            gm_free(m);
            return fail(ENOMEM, "cannot map %llu MiB of guest memory: %s",
                        (unsigned long long)(size / MiB), strerror(errno));
        }
        m->nslots = 2;
    }
    m->size = size;
    return 0;
}

int gm_alloc(struct guest_mem *m, uint64_t size) { return map_slots(m, size, -1); }

int gm_map_file(struct guest_mem *m, uint64_t size, int fd)
{
    int r = map_slots(m, size, fd);
    m->from_file = r == 0;
    return r;
}

void gm_free(struct guest_mem *m)
{
    for (int i = 0; i < m->nslots; i++)
        munmap(m->slot[i].hva, m->slot[i].size);
    for (int i = 0; i < 2; i++)
        free(m->log[i]);
    memset(m, 0, sizeof(*m));
}

void gm_wrap(struct guest_mem *m, uint8_t *buf, uint64_t size)
{
    memset(m, 0, sizeof(*m));
    m->slot[0] = (struct mem_slot){ .gpa = 0, .size = size, .hva = buf };
    m->nslots = 1;
    m->size = size;
}

void gm_wrap2(struct guest_mem *m, uint8_t *low, uint64_t low_size, uint8_t *high, uint64_t high_size)
{
    gm_wrap(m, low, low_size);
    m->slot[1] = (struct mem_slot){ .gpa = MEM_HIGH_START, .size = high_size, .hva = high };
    m->nslots = 2;
    m->size = low_size + high_size;
}

bool gm_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len)
{
    const void *src = gm_ptr(m, gpa, len);
    if (!src)
        return false;
    memcpy(dst, src, len);
    return true;
}

bool gm_write(const struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len)
{
    void *dst = gm_ptr(m, gpa, len);
    if (!dst)
        return false;
    memcpy(dst, src, len);
    gm_mark_dirty(m, dst, len);
    return true;
}

uint64_t gm_low_end(const struct guest_mem *m) { return m->slot[0].size; }

static size_t log_words(const struct mem_slot *s) { return (size_t)((s->size / GM_PAGE + 63) / 64); }

int gm_log_start(struct guest_mem *m)
{
    for (int i = 0; i < m->nslots; i++) {
        if (!m->log[i] && !(m->log[i] = calloc(log_words(&m->slot[i]), sizeof(uint64_t))))
            return fail(ENOMEM, "out of memory for the dirty log");
        for (size_t w = 0; w < log_words(&m->slot[i]); w++)
            __atomic_store_n(&m->log[i][w], 0, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&m->logging, true, __ATOMIC_RELEASE);
    return 0;
}

void gm_log_stop(struct guest_mem *m) { __atomic_store_n(&m->logging, false, __ATOMIC_RELEASE); }

void gm_mark_dirty_slow(const struct guest_mem *m, const void *hva, uint64_t len)
{
    const uint8_t *p = hva;
    for (int i = 0; i < m->nslots; i++) {
        const struct mem_slot *s = &m->slot[i];
        if (!m->log[i] || p < s->hva || (uint64_t)(p - s->hva) >= s->size)
            continue;
        uint64_t first = (uint64_t)(p - s->hva) / GM_PAGE;
        uint64_t last = (MIN((uint64_t)(p - s->hva) + len, s->size) - 1) / GM_PAGE;
        for (uint64_t pg = first; pg <= last; pg++)
            __atomic_fetch_or(&m->log[i][pg / 64], 1ULL << (pg % 64), __ATOMIC_RELAXED);
        return;
    }
}

void gm_log_collect(struct guest_mem *m, int s, uint64_t *bitmap)
{
    if (!m->log[s])
        return;
    for (size_t w = 0; w < log_words(&m->slot[s]); w++)
        bitmap[w] |= __atomic_exchange_n(&m->log[s][w], 0, __ATOMIC_ACQ_REL);
}
