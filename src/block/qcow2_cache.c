/* qcow2: the L2-table and refcount-block caches.  Write-through, so a slot
 * is always identical to the disk and can be dropped at any time. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "block/qcow2.h"

int qcow2_cache_init(struct qcow2_cache *c, size_t n)
{
    c->slots = calloc(n, sizeof(*c->slots));
    c->n = n;
    c->tick = 0;
    return c->slots ? 0 : fail(ENOMEM, "out of memory");
}

void qcow2_cache_free(struct qcow2_cache *c)
{
    for (size_t i = 0; c->slots && i < c->n; i++)
        free(c->slots[i].data);
    free(c->slots);
    c->slots = NULL;
}

int qcow2_check_cluster(struct qcow2 *s, uint64_t off, const char *what)
{
    if (off == 0 || off % s->cluster_size || off >= s->file_end)
        return fail(EIO, "%s: corrupt image: %s at offset 0x%" PRIx64
                    " is not a valid cluster in the file", s->b->path, what, off);
    return 0;
}

/* The slot holding `off`, or the least recently used one (emptied). */
static struct qcow2_slot *find_slot(struct qcow2 *s, struct qcow2_cache *c, uint64_t off,
                                    bool *hit)
{
    struct qcow2_slot *victim = &c->slots[0];
    for (size_t i = 0; i < c->n; i++) {
        struct qcow2_slot *sl = &c->slots[i];
        if (sl->off == off && sl->data) {
            *hit = true;
            sl->used = ++c->tick;
            return sl;
        }
        if (sl->used < victim->used)
            victim = sl;
    }
    *hit = false;
    if (!victim->data)
        victim->data = malloc(s->cluster_size);
    victim->off = 0;
    victim->used = ++c->tick;
    return victim->data ? victim : NULL;
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
        sl->off = off;
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
    sl->off = off;
    *data = sl->data;
    return 0;
}
