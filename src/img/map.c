/* corral-img map: the allocation map in qemu-img 7.2's human and JSON
 * layouts (7.2 prints no "compressed" key; compressed data has no offset). */
#include "img/img.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "util/util.h"

struct map_entry {
    uint64_t start, length, offset;
    int depth;
    bool present, zero, data, has_offset;
};

struct mapper {
    bool json, first;
    const char *names[BLK_MAX_BACKING_DEPTH + 1];   /* file at each chain depth */
    struct map_entry cur;
    bool have;
};

static int emit(struct mapper *m, const struct map_entry *e)
{
    if (m->json) {
        printf("%s{ \"start\": %" PRIu64 ", \"length\": %" PRIu64 ", \"depth\": %d, \"present\": %s, "
               "\"zero\": %s, \"data\": %s", m->first ? "[" : ",\n", e->start, e->length, e->depth,
               e->present ? "true" : "false", e->zero ? "true" : "false", e->data ? "true" : "false");
        if (e->has_offset)
            printf(", \"offset\": %" PRIu64, e->offset);
        putchar('}');
    } else if (e->data) {
        if (!e->has_offset)
            return img_error("File contains external, encrypted or compressed clusters.");
        if (!e->zero)
            printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n", e->start, e->length, e->offset,
                   e->depth <= BLK_MAX_BACKING_DEPTH && m->names[e->depth] ? m->names[e->depth] : "");
    }
    m->first = false;
    return 0;
}

/* Adds a range, merging it with the previous one when they agree. */
static int add(struct mapper *m, const struct map_entry *e)
{
    struct map_entry *c = &m->cur;
    if (m->have && c->depth == e->depth && c->present == e->present && c->zero == e->zero &&
        c->data == e->data && c->has_offset == e->has_offset && c->start + c->length == e->start &&
        (!c->has_offset || c->offset + c->length == e->offset)) {
        c->length += e->length;
        return 0;
    }
    int r = m->have ? emit(m, c) : 0;
    *c = *e;
    m->have = true;
    return r;
}

static int map_blk(struct mapper *m, struct blk *b, const struct img_raw_fds *raw, uint64_t start, uint64_t end)
{
    for (uint64_t off = start; off < end;) {
        uint64_t pnum, host;
        int status, depth;
        if (img_block_status(b, raw, off, end - off, &pnum, &status, &host, &depth) < 0)
            return img_error("%s", err_msg());
        struct map_entry e = {
            .start = off, .length = pnum, .depth = depth,
            .present = (status & BLK_STATUS_PRESENT) != 0,
            .zero = (status & BLK_STATUS_ZERO) != 0, .data = (status & BLK_STATUS_DATA) != 0,
        };
        e.has_offset = raw->fd[depth] >= 0 || (e.data && !(status & BLK_STATUS_COMPRESSED));
        e.offset = e.has_offset ? host : 0;
        if (add(m, &e))
            return 1;
        off += pnum;
    }
    return 0;
}

int cmd_map(int argc, char **argv)
{
    static const struct option longopts[] = {
        IMG_COMMON_LONGOPTS,
        { "output", required_argument, NULL, 'O' },
        { "start-offset", required_argument, NULL, 's' },
        { "max-length", required_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 },
    };
    const char *fmt = NULL;
    struct mapper m = { .first = true };
    uint64_t start = 0, max_len = UINT64_MAX;
    int c, json;
    while ((c = getopt_long(argc, argv, ":f:U", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'O':
            if ((json = img_output_format(optarg)) < 0)
                return 1;
            m.json = json;
            break;
        case 's':
            if (img_cvtnum("start offset", optarg, &start))
                return 1;
            break;
        case 'l':
            if (img_cvtnum("max length", optarg, &max_len))
                return 1;
            break;
        case 'U': break;
        default: return img_bad_option("map", c, argv);
        }
    }
    if (optind != argc - 1)
        return img_usage("map", "Expecting one image file name");
    const char *file = argv[optind];
    struct blk *b;
    if (img_open(file, fmt, BLK_OPEN_RDONLY, &b))
        return 1;
    uint64_t size = blk_size(b), end = max_len < size - MIN(start, size) ? start + max_len : size;
    /* Names of the files along the chain, for the human "File" column. */
    struct img_chain chain;
    if (img_chain_load(file, blk_format_of(b), &chain)) {
        blk_close(b);
        return 1;
    }
    for (int d = 0; d < chain.n; d++)
        m.names[d] = chain.path[d];
    if (!m.json)
        printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
    struct img_raw_fds raw;
    img_raw_fds_open(&chain, &raw);
    int rc = 0;
    if (start < end)
        rc = map_blk(&m, b, &raw, start, end);
    else   /* an empty range: qemu-img prints one empty entry */
        add(&m, &(struct map_entry){ .start = start });
    if (!rc && m.have)
        rc = emit(&m, &m.cur);
    if (m.json && !m.first)
        printf("]\n");
    else if (m.json)
        printf("[]\n");
    blk_close(b);
    img_raw_fds_close(&raw);
    img_chain_free(&chain);
    return rc;
}
