/* corral-img bench: qemu-img bench's options and summary lines.
 *
 * `-d` requests are in flight at once through a blk_queue (io_uring; see
 * block.h).  Offsets follow qemu-img: the first request at -o, each next
 * one step (-S, default the buffer size) further, wrapping modulo the image
 * size as qemu-img 7.2 does; where that would leave too little room for a
 * request, the walk restarts at 0 (newer qemu-img wraps modulo size -
 * bufsize instead; 7.2 fails the request).  --random (a corral extension)
 * draws offsets aligned to the buffer size from [-o, end).  Like qemu-img,
 * every request uses the same buffer and the summary is printed even with
 * -q; a flush (--flush-interval) waits for the requests in flight unless
 * --no-drain. */
#include "img/img.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "util/util.h"

struct bench {
    const char *file, *fmt;
    uint64_t count, depth, offset, bufsize, step, pattern, flush_every;
    bool write, random, drain, force_share;
    int flags;                  /* BLK_OPEN_* from -t */
    bool native;                /* -n or -i native */
};

static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;   /* xorshift64: cheap, and the same sequence every run */
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* qemu_strtoul(): decimal, 0x hex or 0 octal; no sign, nothing after. */
static int parse_num(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s[0] || s[0] == '-' || s[0] == '+' || s[0] == ' ')
        return -1;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Every engine name qemu-img knows runs on corral's one, io_uring. */
static int parse_aio(const char *mode, bool *native)
{
    if (strcmp(mode, "threads") && strcmp(mode, "native") && strcmp(mode, "io_uring"))
        return -1;
    *native = !strcmp(mode, "native");
    return 0;
}

static int parse_args(int argc, char **argv, struct bench *o)
{
    enum { OPT_PATTERN = 256, OPT_FLUSH, OPT_NO_DRAIN, OPT_RANDOM, OPT_IMAGE_OPTS };
    static const struct option longopts[] = {
        { "pattern", required_argument, NULL, OPT_PATTERN },
        { "flush-interval", required_argument, NULL, OPT_FLUSH },
        { "no-drain", no_argument, NULL, OPT_NO_DRAIN },
        { "random", no_argument, NULL, OPT_RANDOM },
        { "image-opts", no_argument, NULL, OPT_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    *o = (struct bench){ .count = 75000, .depth = 64, .bufsize = 4096, .drain = true };
    while ((c = getopt_long(argc, argv, ":c:d:f:ni:o:qs:S:t:wU", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (parse_num(optarg, INT32_MAX, &o->count))
                return img_error("Invalid request count specified");
            break;
        case 'd':
            if (parse_num(optarg, INT32_MAX, &o->depth) || !o->depth)
                return img_error("Invalid queue depth specified");
            break;
        case 'f': o->fmt = optarg; break;
        case 'n': o->native = true; break;
        case 'i':
            if (parse_aio(optarg, &o->native))
                return img_error("Invalid aio option: %s", optarg);
            break;
        case 'o':
            if (img_parse_size(optarg, &o->offset) || o->offset > INT64_MAX)
                return img_error("Invalid offset specified");
            break;
        case 's':
            if (img_parse_size(optarg, &o->bufsize) || o->bufsize > INT32_MAX)
                return img_error("Invalid buffer size specified");
            break;
        case 'S':
            if (img_parse_size(optarg, &o->step) || o->step > INT32_MAX)
                return img_error("Invalid step size specified");
            break;
        case 't':
            if (img_cache_flags(optarg, &o->flags))
                return img_error("Invalid cache mode");
            break;
        case 'w': o->write = true; break;
        case 'U': o->force_share = true; break;
        case 'q': break;
        case OPT_PATTERN:
            if (parse_num(optarg, 255, &o->pattern))
                return img_error("Invalid pattern byte specified");
            break;
        case OPT_FLUSH:
            if (parse_num(optarg, INT32_MAX, &o->flush_every))
                return img_error("Invalid flush interval specified");
            break;
        case OPT_NO_DRAIN: o->drain = false; break;
        case OPT_RANDOM: o->random = true; break;
        case OPT_IMAGE_OPTS:
            return img_error("--image-opts is not supported: give a file name (and -f fmt)");
        case ':': return img_usage("bench", "option '%s' requires an argument", argv[optind - 1]);
        default: return img_usage("bench", "invalid option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return img_usage("bench", "Expecting one image file name");
    o->file = argv[optind];
    if (!o->step)
        o->step = o->bufsize;
    if (!o->write && o->flush_every)
        return img_error("--flush-interval is only available in write tests");
    if (o->flush_every && o->flush_every < o->depth)
        return img_error("Flush interval can't be smaller than depth");
    if (o->force_share && o->write)
        return img_error("Could not open '%s': force-share=on can only be used with "
                         "read-only images", o->file);
    if (o->native && !(o->flags & BLK_OPEN_DIRECT))
        return img_error("Could not open '%s': aio=native was specified, but it requires "
                         "cache.direct=on, which was not specified.", o->file);
    return 0;
}

struct run {
    const struct bench *o;
    struct blk *b;
    struct blk_queue *q;
    uint8_t *buf;
    uint64_t size, off, seed, issued, completed;
};

static uint64_t next_offset(struct run *r)
{
    const struct bench *o = r->o;
    if (o->random) {
        uint64_t slots = o->bufsize ? (r->size - o->offset) / o->bufsize : 1;
        return o->offset + next_random(&r->seed) % MAX(slots, 1) * o->bufsize;
    }
    uint64_t off = r->off;
    r->off = r->size ? (r->off + o->step) % r->size : 0;
    if (r->size - r->off < o->bufsize)
        r->off = 0;
    return off;
}

/* Keeps -d requests in flight until -c have completed. */
static int run_requests(struct run *r)
{
    const struct bench *o = r->o;
    uint64_t next_flush = o->flush_every ? o->flush_every : UINT64_MAX;
    struct blk_done done[64];
    while (r->completed < o->count) {
        uint64_t limit = o->drain ? MIN(o->count, next_flush) : o->count;
        while (r->issued < limit && blk_queue_outstanding(r->q) < o->depth) {
            uint64_t off = next_offset(r);
            int e = o->write ? blk_queue_write(r->q, off, r->buf, o->bufsize, NULL)
                             : blk_queue_read(r->q, off, r->buf, o->bufsize, NULL);
            if (e == -EBUSY)
                break;    /* the queue holds fewer than -d (its maximum) */
            if (e < 0)
                return img_error("Failed request: %s", err_msg());
            r->issued++;
        }
        int n = blk_queue_reap(r->q, done, ARRAY_SIZE(done), 1);
        if (n < 0)
            return img_error("Failed request: %s", err_msg());
        for (int i = 0; i < n; i++)
            if (done[i].ret < 0)
                return img_error("Failed request: %s", err_msg());
        r->completed += (uint64_t)n;
        if (r->completed >= next_flush) {
            if (blk_flush(r->b) < 0)
                return img_error("Failed flush request: %s", err_msg());
            next_flush += o->flush_every;
        }
    }
    return 0;
}

static int bench(const struct bench *o, struct blk *b)
{
    struct run r = { .o = o, .b = b, .size = blk_size(b), .off = o->offset,
                     .seed = 0x9E3779B97F4A7C15ULL };
    if (o->random && (o->bufsize > r.size || o->offset > r.size - o->bufsize))
        return img_error("--random: offset and buffer size must fit inside the image "
                         "(%" PRIu64 " bytes)", r.size);
    printf("Sending %" PRIu64 " %s requests, %" PRIu64 " bytes each, %" PRIu64 " in parallel ",
           o->count, o->write ? "write" : "read", o->bufsize, o->depth);
    if (o->random)
        printf("(random offsets from %" PRIu64 ")\n", o->offset);
    else
        printf("(starting at offset %" PRIu64 ", step size %" PRIu64 ")\n", o->offset, o->step);
    if (o->flush_every)
        printf("Sending flush every %" PRIu64 " requests\n", o->flush_every);
    fflush(stdout);
    if (posix_memalign((void **)&r.buf, BLK_DIRECT_ALIGN, MAX(o->bufsize, 1)))
        return img_error("out of memory");
    memset(r.buf, (int)o->pattern, o->bufsize);
    int rc = blk_queue_new(b, (unsigned)MIN(o->depth, MAX(o->count, 1)), &r.q) < 0
                 ? img_error("%s", err_msg()) : 0;
    uint64_t t0 = now_ns();
    if (!rc)
        rc = run_requests(&r);
    if (!rc)
        printf("Run completed in %3.3f seconds.\n", (double)(now_ns() - t0) / 1e9);
    blk_queue_free(r.q);
    free(r.buf);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    struct bench o;
    if (parse_args(argc, argv, &o))
        return 1;
    struct blk *b;
    if (img_open(o.file, o.fmt, (o.write ? 0 : BLK_OPEN_RDONLY) | o.flags, &b))
        return 1;
    int rc = bench(&o, b);
    if (blk_close(b) < 0 && !rc)
        rc = img_block_error(o.file);
    return rc;
}
