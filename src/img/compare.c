/* corral-img compare: exit 0 identical, 1 different ("Content mismatch at
 * offset N!", N in 512-byte units as qemu-img reports it), 2 error.  The
 * longer image's tail must read as zeros unless -s (strict) is given. */
#include "img/img.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "util/util.h"

#define CHUNK (2 * MiB)

/* Offset of the first differing 512-byte block, or len if equal. */
static size_t first_diff(const uint8_t *a, const uint8_t *b, size_t len)
{
    if (!memcmp(a, b, len))
        return len;
    for (size_t p = 0;; p += 512)
        if (memcmp(a + p, b + p, MIN(512, len - p)))
            return p;
}

static size_t first_nonzero(const uint8_t *a, size_t len)
{
    for (size_t p = 0; p < len; p += 512)
        if (!buf_is_zero(a + p, MIN(512, len - p)))
            return p;
    return len;
}

enum { ST_DATA = 1, ST_ZERO = 2, ST_ALLOCATED = 4, ST_OFFSET_VALID = 8, ST_EOF = 16 };

/* The status of [off, end of image) as QEMU's bdrv_block_status_above()
 * would give it, as far as ours tells: allocated anywhere in the chain,
 * data, zero, offset valid, and whether the range reaches the end. */
static int status_of(struct blk *b, const struct img_raw_fds *raw, uint64_t off, uint64_t *pnum, int *st)
{
    uint64_t len = blk_size(b) - off;
    uint64_t host;
    int s, depth;
    if (img_block_status(b, raw, off, len, pnum, &s, &host, &depth) < 0)
        return -1;
    bool data = s & BLK_STATUS_DATA;
    *st = (data ? ST_DATA : 0) | (s & BLK_STATUS_ZERO ? ST_ZERO : 0) |
          (s & BLK_STATUS_PRESENT ? ST_ALLOCATED : 0) |
          (raw->fd[depth] >= 0 || (data && !(s & BLK_STATUS_COMPRESSED)) ? ST_OFFSET_VALID : 0) |
          (off + *pnum == blk_size(b) ? ST_EOF : 0);
    return 0;
}

int cmd_compare(int argc, char **argv)
{
    static const struct option longopts[] = {
        IMG_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    const char *fmt1 = NULL, *fmt2 = NULL;
    bool strict = false, quiet = false, progress = false;
    int cache = 0, c;
    while ((c = getopt_long(argc, argv, ":f:F:T:spqU", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt1 = optarg; break;
        case 'F': fmt2 = optarg; break;
        case 's': strict = true; break;
        case 'q': quiet = true; break;
        case 'p': progress = true; break;
        case 'T':
            if (img_cache_mode(optarg, true, &cache))
                return 2;
            break;
        case 'U': break;
        default: return img_bad_option("compare", c, argv);   /* 1, as qemu-img */
        }
    }
    if (argc - optind != 2) {
        return img_usage("compare", "Expecting two image file names");
    }
    progress = progress && !quiet;
    const char *f1 = argv[optind], *f2 = argv[optind + 1];
    struct blk *b1 = NULL, *b2 = NULL;
    if (img_open(f1, fmt1, BLK_OPEN_RDONLY | cache, &b1) || img_open(f2, fmt2, BLK_OPEN_RDONLY | cache, &b2)) {
        if (b1)
            blk_close(b1);
        return 2;
    }
    uint64_t s1 = blk_size(b1), s2 = blk_size(b2), common = MIN(s1, s2);
    uint8_t *a = malloc(CHUNK), *b = malloc(CHUNK);
    int rc = (!a || !b) ? (img_error("out of memory"), 2) : -1;   /* -1: not decided yet */
    if (rc < 0 && strict && s1 != s2) {
        if (!quiet)
            printf("Strict mode: Image size mismatch!\n");
        rc = 1;
    }
    struct img_chain c1 = { .n = 0 }, c2 = { .n = 0 };
    struct img_raw_fds fd1, fd2;
    if (rc < 0 && (img_chain_load(f1, blk_format_of(b1), &c1) || img_chain_load(f2, blk_format_of(b2), &c2)))
        rc = 2;
    img_raw_fds_open(&c1, &fd1);
    img_raw_fds_open(&c2, &fd2);
    for (uint64_t off = 0, step; rc < 0 && off < common; off += step) {
        size_t len = (size_t)MIN(CHUNK, common - off), d;
        /* Block status lets ranges that read as zeros in both be skipped;
         * with -s (as qemu-img) it must also agree. */
        int st1 = 0, st2 = 0;
        uint64_t n1, n2;
        bool known = status_of(b1, &fd1, off, &n1, &st1) == 0 && status_of(b2, &fd2, off, &n2, &st2) == 0;
        if (strict && !known) {
            img_error("Error while checking the block status at offset %" PRIu64 ": %s", off, err_msg());
            rc = 2;
            break;
        }
        if (strict && st1 != st2) {
            if (!quiet)
                printf("Strict mode: Offset %" PRIu64 " block status mismatch!\n", off);
            rc = 1;
            break;
        }
        if (known) {
            uint64_t n = MIN(MIN(n1, n2), common - off);
            if ((st1 & ST_ZERO) && (st2 & ST_ZERO) && !(st1 & ST_DATA) && !(st2 & ST_DATA)) {
                step = n;
                continue;
            }
            len = (size_t)MIN(len, n);
        }
        step = len;
        if (blk_pread(b1, off, a, len) < 0 || blk_pread(b2, off, b, len) < 0) {
            rc = 2;
            img_error("Error while reading offset %" PRIu64 ": %s", off, err_msg());
        } else if ((d = first_diff(a, b, len)) < len) {
            if (!quiet)
                printf("Content mismatch at offset %" PRIu64 "!\n", off + d);
            rc = 1;
        }
        img_progress(progress, (double)(off + len) * 100.0 / (double)MAX(s1, s2));
    }
    if (rc < 0 && s1 != s2 && !quiet)
        printf("Warning: Image size mismatch!\n");
    struct blk *longer = s1 > s2 ? b1 : b2;
    const struct img_raw_fds *longer_fds = s1 > s2 ? &fd1 : &fd2;
    for (uint64_t off = common, end = MAX(s1, s2), step; rc < 0 && off < end; off += step) {
        size_t len = (size_t)MIN(CHUNK, end - off), d;
        uint64_t n;
        int st;
        step = len;
        if (status_of(longer, longer_fds, off, &n, &st) == 0 && (st & ST_ZERO) && !(st & ST_DATA)) {
            step = n;
            continue;
        }
        if (blk_pread(longer, off, a, len) < 0) {
            rc = 2;
            img_error("Error while reading offset %" PRIu64 ": %s", off, err_msg());
        } else if ((d = first_nonzero(a, len)) < len) {
            if (!quiet)
                printf("Content mismatch at offset %" PRIu64 "!\n", off + d);
            rc = 1;
        }
    }
    if (progress)
        printf("\n");
    if (rc < 0) {
        rc = 0;
        if (!quiet)
            printf("Images are identical.\n");
    }
    free(a);
    free(b);
    img_raw_fds_close(&fd1);
    img_raw_fds_close(&fd2);
    img_chain_free(&c1);
    img_chain_free(&c2);
    blk_close(b1);
    blk_close(b2);
    return rc;
}
