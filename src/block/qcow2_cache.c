/* qcow2: the L2-table and refcount-block caches.  Write-through, so a slot
 * is always identical to the disk and can be dropped at any time. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "block/qcow2.h"

int qcow2_cache_init(struct qcow2_cache *c, size_t n)
{
    c->n = n;
    c->nheads = 1;
    while (c->nheads < 2 * n)
        c->nheads <<= 1;
    c->tick = 0;
    c->slots = calloc(n, sizeof(*c->slots));
    c->heads = malloc(c->nheads * sizeof(*c->heads));
    if (!c->slots || !c->heads)
        return fail(ENOMEM, "out of memory");
    memset(c->heads, 0xff, c->nheads * sizeof(*c->heads));
    return 0;
}

void qcow2_cache_free(struct qcow2_cache *c)
{
    for (size_t i = 0; c->slots && i < c->n; i++)
        free(c->slots[i].data);
    free(c->slots);
    free(c->heads);
    c->slots = NULL;
    c->heads = NULL;
}

int qcow2_check_cluster(struct qcow2 *s, uint64_t off, const char *what)
{
    if (off == 0 || off % s->cluster_size || off >= s->file_end)
        return fail(EIO, "%s: corrupt image: %s at offset 0x%" PRIx64
                    " is not a valid cluster in the file", s->b->path, what, off);
    return 0;
}

static int32_t *chain_of(struct qcow2_cache *c, uint64_t off)
{
    uint64_t h = (off >> BLK_MIN_CLUSTER_BITS) * 0x9E3779B97F4A7C15ULL;
    return &c->heads[(h >> 32) & (c->nheads - 1)];
}

static void unlink_slot(struct qcow2_cache *c, struct qcow2_slot *sl)
{
    int32_t me = (int32_t)(sl - c->slots);
    for (int32_t *p = chain_of(c, sl->off); *p >= 0; p = &c->slots[*p].next)
        if (*p == me) {
            *p = sl->next;
            break;
        }
    sl->off = 0;
}

/* The slot holding `off`, or the least recently used one, emptied (the
 * caller fills it and calls link_slot). */
static struct qcow2_slot *find_slot(struct qcow2 *s, struct qcow2_cache *c, uint64_t off,
                                    bool *hit)
{
    for (int32_t i = *chain_of(c, off); i >= 0; i = c->slots[i].next)
        if (c->slots[i].off == off) {
            *hit = true;
            c->slots[i].used = ++c->tick;
            return &c->slots[i];
        }
    *hit = false;
    struct qcow2_slot *victim = &c->slots[0];
    for (size_t i = 1; i < c->n && victim->used; i++)
        if (c->slots[i].used < victim->used)
            victim = &c->slots[i];
    if (victim->off)
        unlink_slot(c, victim);
    if (!victim->data)
        victim->data = malloc(s->cluster_size);
    victim->used = ++c->tick;
    return victim->data ? victim : NULL;
}

static void link_slot(struct qcow2_cache *c, struct qcow2_slot *sl, uint64_t off)
{
    int32_t *head = chain_of(c, off);
    sl->off = off;
    sl->next = *head;
    *head = (int32_t)(sl - c->slots);
}

int qcow2_cache_get(struct qcow2 *s, struct qcow2_cache *c, uint64_t off, uint8_t **data)
{
    bool hit;
    struct qcow2_slot *sl = find_slot(s, c, off, &hit);
    if (!sl)
        return fail(ENOMEM, "out of memory");
    if (!hit) {
        ssize_t n = blk_pread_fd(s->fd, sl->data, s->cluster_size, off);
        if (n < 0)
            return fail((int)-n, "%s: read failed: %s", s->b->path, strerror((int)-n));
        link_slot(c, sl, off);
    }
    *data = sl->data;
    return 0;
}

int qcow2_cache_get_new(struct qcow2 *s, struct qcow2_cache *c, uint64_t off, uint8_t **data)
{
    bool hit;
    struct qcow2_slot *sl = find_slot(s, c, off, &hit);
    if (!sl)
        return fail(ENOMEM, "out of memory");
    memset(sl->data, 0, s->cluster_size);
    if (!hit)
        link_slot(c, sl, off);
    *data = sl->data;
    return 0;
}
