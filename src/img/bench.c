/* corral-img bench: qemu-img bench's options and summary.  Requests run one
 * at a time on this thread (the queue depth is reported, not used); offsets
 * are sequential with the step size, or random (--random, a corral
 * extension) aligned to the buffer size. */
#include "img/img.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "util/util.h"

static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;   /* xorshift64: cheap, and the same sequence every run */
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

int cmd_bench(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "pattern", required_argument, NULL, 'P' },
        { "flush-interval", required_argument, NULL, 'F' },
        { "no-drain", no_argument, NULL, 'D' },
        { "random", no_argument, NULL, 'R' },
        { "nocache", no_argument, NULL, 'n' },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 },
    };
    const char *fmt = NULL;
    uint64_t count = 75000, depth = 64, offset = 0, bufsize = 4096, step = 0, pattern = 0, flush_every = 0;
    bool write = false, quiet = false, random = false, step_given = false;
    int c;
    while ((c = getopt_long(argc, argv, ":c:d:f:ni:o:qs:S:t:wU", longopts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'c': bad = parse_uint(optarg, 1, INT32_MAX, &count); break;
        case 'd': bad = parse_uint(optarg, 1, INT32_MAX, &depth); break;
        case 'f': fmt = optarg; break;
        case 'o': bad = img_parse_size(optarg, &offset); break;
        case 's': bad = img_parse_size(optarg, &bufsize) || !bufsize || bufsize > 256 * MiB; break;
        case 'S': bad = img_parse_size(optarg, &step); step_given = true; break;
        case 'w': write = true; break;
        case 'q': quiet = true; break;
        case 'P': bad = parse_uint(optarg, 0, 255, &pattern); break;
        case 'F': bad = parse_uint(optarg, 0, INT32_MAX, &flush_every); break;
        case 'R': random = true; break;
        case 'n': case 'i': case 't': case 'D': case 'U': break;
        case ':': return img_usage("bench", "option '%s' requires an argument", argv[optind - 1]);
        default: return img_usage("bench", "invalid option '%s'", argv[optind - 1]);
        }
        if (bad)
            return img_error("Invalid value '%s'", optarg);
    }
    if (optind != argc - 1)
        return img_usage("bench", "Expecting one image file name");
    if (!step_given)
        step = bufsize;
    const char *file = argv[optind];
    struct blk *b;
    if (img_open(file, fmt, write ? 0 : BLK_OPEN_RDONLY, &b))
        return 1;
    uint64_t size = blk_size(b);
    int rc = 0;
    uint8_t *buf = NULL;
    if (bufsize > size || offset > size - bufsize)
        rc = img_error("Offset and buffer size must fit inside the image (%" PRIu64 " bytes)", size);
    else if (posix_memalign((void **)&buf, 4096, bufsize))
        rc = img_error("out of memory");
    if (!rc) {
        memset(buf, (int)pattern, bufsize);
        if (!quiet) {
            printf("Sending %" PRIu64 " %s requests, %" PRIu64 " bytes each, %" PRIu64 " in parallel ",
                   count, write ? "write" : "read", bufsize, depth);
            if (random)
                printf("(random offsets from %" PRIu64 ")\n", offset);
            else
                printf("(starting at offset %" PRIu64 ", step size %" PRIu64 ")\n", offset, step);
            if (write && flush_every)
                printf("Sending flush every %" PRIu64 " requests\n", flush_every);
        }
        uint64_t seed = 0x9E3779B97F4A7C15ULL, slots = (size - offset) / bufsize, off = offset;
        uint64_t t0 = now_ns();
        for (uint64_t i = 0; i < count && !rc; i++) {
            if (random)
                off = offset + next_random(&seed) % slots * bufsize;
            int r = write ? blk_pwrite(b, off, buf, bufsize) : blk_pread(b, off, buf, bufsize);
            if (r < 0)
                rc = img_error("Failed request: %s", err_msg());
            else if (write && flush_every && (i + 1) % flush_every == 0 && blk_flush(b) < 0)
                rc = img_error("Failed flush request: %s", err_msg());
            if (!random) {
                off += step;
                if (off + bufsize > size)
                    off = offset;
            }
        }
        if (!rc && write && blk_flush(b) < 0)
            rc = img_error("Failed flush request: %s", err_msg());
        if (!rc && !quiet)
            printf("Run completed in %3.3f seconds.\n", (double)(now_ns() - t0) / 1e9);
    }
    free(buf);
    if (blk_close(b) < 0 && !rc)
        rc = img_block_error(file);
    return rc;
}
