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
    bool compress, fresh, has_backing, progress;
    uint8_t *buf, *old;
};

struct out_opts {
    struct blk_create_opts o;
    const char *backing_fmt;
};

static int out_opt(const char *key, const char *val, void *arg)
{
    struct out_opts *a = arg;
    uint64_t v;
    if (!strcmp(key, "cluster_size")) {
        if (img_parse_size(val, &v) || v > UINT32_MAX)
            return img_error("Invalid cluster_size '%s'", val);
        a->o.cluster_size = (uint32_t)v;
    } else if (!strcmp(key, "compat")) {
        a->o.compat = !strcmp(val, "0.10") ? 2 : !strcmp(val, "1.1") ? 3 : -1;
        if (a->o.compat < 0)
            return img_error("Invalid parameter '%s'", val);
    } else if (!strcmp(key, "lazy_refcounts")) {
        a->o.lazy_refcounts = !strcmp(val, "on");
    } else if (!strcmp(key, "backing_file")) {
        a->o.backing_file = val;
    } else if (!strcmp(key, "backing_fmt")) {
        a->backing_fmt = val;
    } else if (strcmp(key, "refcount_bits") && strcmp(key, "compression_type") &&
               strcmp(key, "extended_l2") && strcmp(key, "preallocation")) {
        return img_error("Invalid parameter '%s'", key);
    }
    return 0;
}

/* Writes one grain-aligned piece of `len` bytes at dst offset `off`. */
static int put(struct convert *cv, uint64_t off, const uint8_t *data, size_t len)
{
    if (cv->has_backing) {   /* write only what the backing file does not already say */
        if (blk_pread(cv->dst, off, cv->old, len) < 0)
            return img_block_error("error while reading target");
        if (!memcmp(cv->old, data, len))
            return 0;
    } else if (img_is_zero(data, len)) {
        if (cv->fresh)
            return 0;
        if (blk_write_zeroes(cv->dst, off, len) == 0)
            return 0;
    }
    int r = cv->compress ? blk_write_compressed(cv->dst, off, data, len) : blk_pwrite(cv->dst, off, data, len);
    return r < 0 ? img_block_error("error while writing") : 0;
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
        if (cv->fresh && !cv->has_backing && !((off | dst_off) % cv->grain) &&
            blk_block_status(src, off, len, &pnum, &status, &host, &depth) == 0 &&
            (status & BLK_STATUS_ZERO) && !(status & BLK_STATUS_DATA) && pnum >= cv->grain) {
            pnum = ALIGN_DOWN(pnum, cv->grain);
            off += pnum;
            *done += pnum;
            continue;
        }
        if (blk_pread(src, off, cv->buf, len) < 0)
            return img_block_error("error while reading");
        for (size_t p = 0; p < len;) {
            /* grains are aligned in the target */
            size_t n = (size_t)MIN(cv->grain - (dst_off + off + p) % cv->grain, len - p);
            if (!cv->compress && !cv->has_backing && !img_is_zero(cv->buf + p, n)) {
                /* a run of data grains: one write */
                size_t q = p + n;
                while (q < len && !img_is_zero(cv->buf + q, MIN(cv->grain, len - q)))
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
        img_progress(cv->progress, total ? (double)*done * 100.0 / (double)total : 100.0);
    }
    return 0;
}

int cmd_convert(int argc, char **argv)
{
    struct out_opts oo = { .o = { .format = BLK_FMT_RAW } };
    const char *src_fmt = NULL, *dst_fmt = "raw", *backing = NULL;
    struct convert cv = { .fresh = true };
    bool quiet = false, no_create = false;
    int c;
    while ((c = getopt(argc, argv, ":f:O:co:B:F:pqnt:T:S:m:WUC")) != -1) {
        switch (c) {
        case 'f': src_fmt = optarg; break;
        case 'O': dst_fmt = optarg; break;
        case 'c': cv.compress = true; break;
        case 'o':
            if (img_parse_opts(optarg, out_opt, &oo))
                return 1;
            break;
        case 'B': backing = optarg; break;
        case 'F': oo.backing_fmt = optarg; break;
        case 'p': cv.progress = true; break;
        case 'q': quiet = true; break;
        case 'n': no_create = true; break;
        case 't': case 'T': case 'S': case 'm': case 'W': case 'U': case 'C': break;
        case ':': return img_usage("convert", "option '-%c' requires an argument", optopt);
        default: return img_usage("convert", "invalid option -- '%c'", optopt);
        }
    }
    cv.progress = cv.progress && !quiet;
    if (backing)
        oo.o.backing_file = backing;
    if (argc - optind < 2)
        return img_usage("convert", "Must specify image file name");
    int nsrc = argc - optind - 1;
    const char *dst_path = argv[argc - 1];
    if (img_format(dst_fmt, &oo.o.format) || img_format(oo.backing_fmt, &oo.o.backing_format))
        return 1;
    if (cv.compress && oo.o.format != BLK_FMT_QCOW2)
        return img_error("Compression not supported for this file format");
    if (oo.o.backing_file && oo.o.format != BLK_FMT_QCOW2)
        return img_error("Backing file not supported for file format '%s'", dst_fmt);

    struct blk **src = calloc((size_t)nsrc, sizeof(*src));
    int rc = src ? 0 : img_error("out of memory");
    uint64_t total = 0, done = 0;
    for (int i = 0; i < nsrc && !rc; i++) {
        rc = img_open(argv[optind + i], src_fmt, BLK_OPEN_RDONLY, &src[i]);
        total += rc ? 0 : blk_size(src[i]);
    }
    if (!rc && !no_create) {
        oo.o.size = total;
        if (blk_create(dst_path, &oo.o) < 0)
            rc = img_error("%s: error while converting %s: %s", dst_path, dst_fmt, err_msg());
    }
    cv.fresh = !no_create;
    cv.has_backing = oo.o.backing_file != NULL;
    if (!rc)
        rc = img_open(dst_path, no_create ? NULL : dst_fmt, 0, &cv.dst);
    if (!rc && blk_size(cv.dst) < total)
        rc = img_error("%s: target image is smaller than the source", dst_path);
    if (!rc) {
        uint32_t cs = blk_cluster_size(cv.dst);
        cv.grain = cv.compress || cs ? (cs ? cs : 64 * KiB) : 4 * KiB;
        if (cv.compress && !cs)
            rc = img_error("Compression needs the target's cluster size: %s", err_msg());
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
