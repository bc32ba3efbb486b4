#include "devices.h"

#include <errno.h>
#include <string.h>

int bus_add(struct bus *b, uint64_t base, uint64_t len, const char *name,
            const struct io_ops *ops, void *opaque)
{
    if (len == 0 || base + len < base)
        return fail(EINVAL, "%s: bad bus range", name);
    if (b->n == BUS_MAX_REGIONS)
        return fail(ENOSPC, "%s: too many devices", name);
    for (int i = 0; i < b->n; i++) {
        const struct bus_region *r = &b->region[i];
        if (base < r->base + r->len && r->base < base + len)
            return fail(EEXIST, "%s overlaps %s at 0x%llx", name, r->name,
                        (unsigned long long)r->base);
    }
    struct bus_region *r = &b->region[b->n++];
    r->base = base;
    r->len = len;
    r->name = name;
    r->ops = ops;
    r->opaque = opaque;
    atomic_init(&r->accesses, 0);
    return 0;
}

bool bus_access(struct bus *b, uint64_t addr, uint8_t *data, unsigned size, bool is_write)
{
    for (int i = 0; i < b->n; i++) {
        struct bus_region *r = &b->region[i];
        if (addr < r->base || addr - r->base >= r->len)
            continue;
        uint64_t off = addr - r->base;
        /* An access straddling the region's end is cut, never passed on. */
        if (size > r->len - off)
            break;
        atomic_fetch_add_explicit(&r->accesses, 1, memory_order_relaxed);
        if (is_write) {
            if (r->ops->write)
                r->ops->write(r->opaque, off, data, size);
        } else {
            memset(data, 0, size);
            if (r->ops->read)
                r->ops->read(r->opaque, off, data, size);
        }
        return true;
    }
    atomic_fetch_add_explicit(&b->unclaimed, 1, memory_order_relaxed);
    if (!is_write)
        memset(data, 0xff, size);
    return false;
}
