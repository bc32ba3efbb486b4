/* mem — guest physical memory: how it is laid out and the one place where a
 * guest-physical address becomes a host pointer.
 *
 * Guest RAM is one or two anonymous mappings: low RAM from 0 up to the 32-bit
 * device hole (MEM_HOLE_START) and, for big guests, the rest from 4 GiB up.
 * Every access the VMM makes on the guest's behalf goes through gm_ptr(),
 * which returns NULL unless the whole range [gpa, gpa+len) lies inside RAM,
 * so a hostile address or length can never reach host memory outside it.
 */
#ifndef CORRAL_MEM_H
#define CORRAL_MEM_H

#include <stdbool.h>
#include <stdint.h>

#define MEM_HOLE_START 0xC0000000ULL /* 3 GiB: virtio-mmio, IOAPIC, LAPIC live above */
#define MEM_HIGH_START 0x100000000ULL

struct mem_slot {
    uint64_t gpa;
    uint64_t size;
    uint8_t *hva;
};

#define GM_PAGE 4096ULL

struct guest_mem {
    struct mem_slot slot[2];
    int nslots;
    uint64_t size; /* total RAM bytes */
    bool from_file; /* gm_map_file: a page never touched holds the file's bytes, not zeros */
    /* While a migration runs: one bit per page the VMM itself wrote (see
     * gm_log_start), per slot. */
    uint64_t *log[2];
    bool logging;
};

/* Maps `size` bytes of zeroed guest RAM.  Returns 0 or a negative errno. */
int gm_alloc(struct guest_mem *m, uint64_t size);
/* Maps `size` bytes of guest RAM from file FD (a snapshot's memory file:
 * low RAM from offset 0, high RAM right after it), privately: a page is
 * read on the guest's first touch and guest writes never reach the file,
 * so mapping costs the same whatever the size.  FD must hold `size` bytes. */
int gm_map_file(struct guest_mem *m, uint64_t size, int fd);
void gm_free(struct guest_mem *m);
/* Wraps caller-owned buffers (used by tests and fuzzers) without mapping:
 * one slot at 0, or (gm_wrap2) a big guest's layout in small: LOW at 0 and
 * HIGH at MEM_HIGH_START, with the 32-bit hole between them. */
void gm_wrap(struct guest_mem *m, uint8_t *buf, uint64_t size);
void gm_wrap2(struct guest_mem *m, uint8_t *low, uint64_t low_size, uint8_t *high, uint64_t high_size);

/* Host pointer for [gpa, gpa+len) or NULL if any byte is outside RAM. */
static inline void *gm_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
    for (int i = 0; i < m->nslots; i++) {
        const struct mem_slot *s = &m->slot[i];
        if (gpa >= s->gpa && gpa - s->gpa <= s->size && len <= s->size - (gpa - s->gpa))
            return s->hva + (gpa - s->gpa);
    }
    return 0;
}

/* Copies with bounds checks; return false (copying nothing) when out of range. */
bool gm_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len);
bool gm_write(const struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len);
/* Top of low RAM: the end of the first slot. */
uint64_t gm_low_end(const struct guest_mem *m);

/* Dirty logging of the VMM's own writes.  KVM logs the pages the guest's
 * vCPUs write; what devices write on the guest's behalf (request data, used
 * rings, hypercall answers) goes through host pointers KVM never sees, so
 * every such write also calls gm_mark_dirty().  Cheap while not logging. */
int gm_log_start(struct guest_mem *m);
/* Stops marking; the bitmaps stay (a device may be marking right now) and
 * go with gm_free. */
void gm_log_stop(struct guest_mem *m);
void gm_mark_dirty_slow(const struct guest_mem *m, const void *hva, uint64_t len);
static inline void gm_mark_dirty(const struct guest_mem *m, const void *hva, uint64_t len)
{
    if (__atomic_load_n(&m->logging, __ATOMIC_ACQUIRE) && len)
        gm_mark_dirty_slow(m, hva, len);
}
/* Moves slot S's marks into BITMAP (ORed in; one bit per page of the slot). */
void gm_log_collect(struct guest_mem *m, int s, uint64_t *bitmap);

#endif
