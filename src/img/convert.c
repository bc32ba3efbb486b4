/* corral-img convert: copies one or more images (concatenated) into a new
 * one, in big chunks, skipping what reads as zeros; -c compresses each
 * cluster (qcow2); -B gives the target a backing file and writes only what
 * differs from it. */
#include "img/img.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "util/util.h"

#define CHUNK (2 * MiB)   /* a multiple of every cluster size */

struct convert {
    struct blk *dst;
    uint32_t grain;       /* unit of zero detection and of compression */
    bool compress, fresh, has_backing, progress, sparse, salvage;
    uint8_t *buf, *old;
    struct img_rate rate;
};

/* Writes one grain-aligned piece of `len` bytes at dst offset `off`. */
static int put(struct convert *cv, uint64_t off, const uint8_t *data, size_t len)
{
    if (cv->has_backing) {   /* write only what the backing file does not already say */
        if (blk_pread(cv->dst, off, cv->old, len) < 0)
            return img_block_error("error while reading target");
        if (!cv->compress)
            return img_write_diff(cv->dst, off, data, cv->old, len, cv->grain);
        if (!memcmp(cv->old, data, len))
            return 0;
    } else if (cv->sparse && buf_is_zero(data, len)) {
        if (cv->fresh)
            return 0;
        if (blk_write_zeroes(cv->dst, off, len) == 0)
            return 0;
    }
    int r = cv->compress ? blk_write_compressed(cv->dst, off, data, len) : blk_pwrite(cv->dst, off, data, len);
    return r < 0 ? img_block_error("error while writing") : 0;
}

/* Reads a chunk of the source; with --salvage, 512-byte sectors that
 * cannot be read are reported and read as zeros, as qemu-img does. */
static int read_source(struct convert *cv, struct blk *src, uint64_t off, size_t len)
{
    if (blk_pread(src, off, cv->buf, len) == 0)
        return 0;
    if (!cv->salvage)
        return img_block_error("error while reading");
    for (size_t p = 0; p < len; p += 512) {
        size_t n = (size_t)MIN(512, len - p);
        if (blk_pread(src, off + p, cv->buf + p, n) < 0) {
            fprintf(stderr, "corral-img: warning: error while reading offset %llu: %s\n",
                    (unsigned long long)(off + p), err_msg());
            memset(cv->buf + p, 0, n);
        }
    }
    return 0;
}

static int copy_image(struct convert *cv, struct blk *src, uint64_t dst_off, uint64_t total, uint64_t *done)
{
    uint64_t size = blk_size(src);
    for (uint64_t off = 0; off < size;) {
        size_t len = (size_t)MIN(CHUNK, size - off);
        uint64_t pnum;
        int status, depth;
        uint64_t host;
        /* Regions that read as zeros need no read at all in a fresh image. */
        if (cv->fresh && cv->sparse && !cv->has_backing && !((off | dst_off) % cv->grain) &&
            blk_block_status(src, off, len, &pnum, &status, &host, &depth) == 0 &&
            (status & BLK_STATUS_ZERO) && !(status & BLK_STATUS_DATA) && pnum >= cv->grain) {
            pnum -= pnum % cv->grain;
            off += pnum;
            *done += pnum;
            continue;
        }
        if (read_source(cv, src, off, len))
            return 1;
        for (size_t p = 0; p < len;) {
            /* grains are aligned in the target */
            size_t n = (size_t)MIN(cv->grain - (dst_off + off + p) % cv->grain, len - p);
            if (!cv->compress && !cv->has_backing && !(cv->sparse && buf_is_zero(cv->buf + p, n))) {
                /* a run of data grains: one write */
                size_t q = p + n;
                while (q < len && !(cv->sparse && buf_is_zero(cv->buf + q, MIN(cv->grain, len - q))))
                    q += MIN(cv->grain, len - q);
                if (blk_pwrite(cv->dst, dst_off + off + p, cv->buf + p, q - p) < 0)
                    return img_block_error("error while writing");
                p = q;
                continue;
            }
            if (put(cv, dst_off + off + p, cv->buf + p, n))
                return 1;
            p += n;
        }
        off += len;
        *done += len;
        img_rate_wait(&cv->rate, len);
        img_progress(cv->progress, total ? (double)*done * 100.0 / (double)total : 100.0);
    }
    return 0;
}

enum { OPT_TARGET_IMAGE_OPTS = IMG_OPT_LOCAL, OPT_TARGET_IS_ZERO, OPT_BITMAPS, OPT_SALVAGE };

static int parse_sparse(const char *s, struct convert *cv)
{
    uint64_t v;
    if (img_parse_size(s, &v) || v % 512 || v > 16 * MiB)
        return img_error("Invalid buffer size for sparse output specified. Valid sizes are "
                         "multiples of 512 up to 16777216. Select 0 to disable sparse detection "
                         "(fully allocates output).");
    cv->sparse = v != 0;
    cv->grain = v ? (uint32_t)MIN(v, CHUNK) : 4 * KiB;
    return 0;
}

int cmd_convert(int argc, char **argv)
{
    static const struct option longopts[] = {
        IMG_COMMON_LONGOPTS,
        { "target-image-opts", no_argument, NULL, OPT_TARGET_IMAGE_OPTS },
        { "target-is-zero", no_argument, NULL, OPT_TARGET_IS_ZERO },
        { "bitmaps", no_argument, NULL, OPT_BITMAPS },
        { "salvage", no_argument, NULL, OPT_SALVAGE },
        { NULL, 0, NULL, 0 },
    };
    struct img_create_args oo = { .o = { .format = BLK_FMT_RAW } };
    const char *src_fmt = NULL, *dst_fmt = NULL, *backing = NULL;
    struct convert cv = { .fresh = true, .sparse = true, .grain = 4 * KiB };
    bool quiet = false, no_create = false, target_zero = false, opts_given = false, copy_off = false;
    uint64_t v;
    int cache = 0, src_cache = 0, c;
    while ((c = getopt_long(argc, argv, ":f:O:co:B:F:pqnt:T:S:m:WUCl:r:", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': src_fmt = optarg; break;
        case 'O': dst_fmt = optarg; break;
        case 'c': cv.compress = true; break;
        case 'o':
            if (img_parse_opts(optarg, img_create_opt, &oo))
                return 1;
            opts_given = true;
            break;
        case 'B': backing = optarg; break;
        case 'F': oo.backing_fmt = optarg; break;
        case 'p': cv.progress = true; break;
        case 'q': quiet = true; break;
        case 'n': no_create = true; break;
        case 't': case 'T':
            if (img_cache_mode(optarg, c == 'T', c == 'T' ? &src_cache : &cache))
                return 1;
            break;
        case 'S':
            if (parse_sparse(optarg, &cv))
                return 1;
            break;
        case 'm':
            if (parse_uint(optarg, 1, 16, &v) < 0)
                return img_error("Invalid number of coroutines. Allowed number of coroutines is "
                                 "between 1 and 16");
            break;
        case 'r':
            if (img_cvtnum("rate limit", optarg, &cv.rate.bps))
                return 1;
            break;
        case 'C': copy_off = true; break;
        case 'W': case 'U': break;   /* out-of-order writes, no locks: same result */
        case OPT_TARGET_IS_ZERO: target_zero = true; break;
        case OPT_SALVAGE: cv.salvage = true; break;
        case 'l':
            return img_error("-l is not supported: corral cannot read an internal snapshot "
                             "without applying it (use 'snapshot -a' on a copy)");
        case OPT_BITMAPS:
            return img_error("--bitmaps is not supported: corral keeps no persistent bitmaps");
        case OPT_TARGET_IMAGE_OPTS:
            return img_error("--target-image-opts is not supported: give image file names");
        default: return img_bad_option("convert", c, argv);
        }
    }
    cv.progress = cv.progress && !quiet;
    if (img_format(dst_fmt ? dst_fmt : "raw", &oo.o.format) || img_format(oo.backing_fmt, &oo.o.backing_format))
        return 1;
    if (oo.o.format == BLK_FMT_PROBE)
        return img_error("Unknown file format '%s'", dst_fmt);
    if (oo.help) {
        img_create_help(oo.o.format);
        return 0;
    }
    if (backing)
        oo.o.backing_file = backing;
    if (argc - optind < 2)
        return img_usage("convert", "Must specify image file name");
    int nsrc = argc - optind - 1;
    const char *dst_path = argv[argc - 1];
    if (copy_off && cv.compress)
        return img_error("Cannot enable copy offloading when -c is used");
    if (target_zero && !no_create)
        return img_error("--target-is-zero requires use of -n flag");
    if (no_create && opts_given)
        return img_error("-o has no effect when skipping image creation");
    if (!no_create && img_create_check(&oo, dst_path))
        return 1;
    if (oo.o.backing_file && !oo.backing_fmt)
        return img_error("Use of backing file requires explicit backing format");
    if (cv.compress && !(no_create && !dst_fmt) && oo.o.format != BLK_FMT_QCOW2)
        return img_error("Compression not supported for this file format");

    struct blk **src = calloc((size_t)nsrc, sizeof(*src));
    int rc = src ? 0 : img_error("out of memory");
    uint64_t total = 0, done = 0;
    for (int i = 0; i < nsrc && !rc; i++) {
        rc = img_open(argv[optind + i], src_fmt, BLK_OPEN_RDONLY | src_cache, &src[i]);
        if (!rc && blk_size(src[i]) > INT64_MAX - total)
            rc = img_error("The sources add up to more than 2^63 - 1 bytes");
        total += rc ? 0 : blk_size(src[i]);
    }
    if (!rc && !no_create) {
        oo.o.size = total;
        if (img_create_image(dst_path, &oo))
            rc = 1;
    }
    /* A new image (or one the user says reads as zeros) needs no zeros written. */
    cv.fresh = !no_create || target_zero;
    cv.has_backing = oo.o.backing_file != NULL;
    if (!rc)   /* -n without -O: the existing target's own format */
        rc = img_open(dst_path, no_create && !dst_fmt ? NULL : blk_format_name(oo.o.format), cache, &cv.dst);
    if (!rc && blk_size(cv.dst) < total)
        rc = img_error("%s: target image is smaller than the source", dst_path);
    if (!rc) {
        uint32_t cs = blk_cluster_size(cv.dst);
        if (cs)
            cv.grain = cs;   /* zeros are skipped, and data compressed, by cluster */
        if (cv.compress && !cs)
            rc = img_error("Compression not supported for this file format");
        cv.buf = malloc(CHUNK);
        cv.old = malloc(cv.grain);
        if (!cv.buf || !cv.old)
            rc = img_error("out of memory");
    }
    img_progress(cv.progress && !rc, 0.0);
    uint64_t dst_off = 0;
    for (int i = 0; i < nsrc && !rc; i++) {
        rc = copy_image(&cv, src[i], dst_off, total, &done);
        dst_off += blk_size(src[i]);
    }
    img_progress(cv.progress && !rc, 100.0);
    if (cv.progress)
        printf("\n");
    if (cv.dst && blk_close(cv.dst) < 0 && !rc)
        rc = img_block_error(dst_path);
    for (int i = 0; src && i < nsrc; i++)
        if (src[i])
            blk_close(src[i]);
    free(src);
    free(cv.buf);
    free(cv.old);
    return rc;
}
