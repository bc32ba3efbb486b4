/* corral-img commit: writes what the image itself holds into its backing
 * file, then empties the image (unless -d).  Where block status is not
 * available, every range whose content differs from the backing file is
 * written, which gives the backing file the same content. */
#include "img/img.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "util/util.h"

#define CHUNK (2 * MiB)

/* Copies [off, off+len) from top to base if top decides it and it differs. */
static int commit_range(struct blk *top, struct blk *base, uint64_t off, size_t len, uint8_t *a, uint8_t *b)
{
    uint64_t pnum, host;
    int status, depth;
    if (blk_block_status(top, off, len, &pnum, &status, &host, &depth) == 0 && pnum == len &&
        !(status & BLK_STATUS_ALLOCATED))
        return 0;   /* the backing chain decides this range already */
    if (blk_pread(top, off, a, len) < 0 || blk_pread(base, off, b, len) < 0)
        return img_block_error("error while reading");
    if (!memcmp(a, b, len))
        return 0;
    if (blk_pwrite(base, off, a, len) < 0)
        return img_block_error("error while writing the backing file");
    return 0;
}

/* Empties the committed image: its data now lives in the backing file.
 * The block layer's discard keeps backing data hidden (zero clusters), so
 * a qcow2 overlay is recreated empty over the same backing file instead;
 * one with internal snapshots keeps its data, which reads the same. */
static int make_empty(struct blk *top, const char *file, bool quiet)
{
    struct blk_info info;
    if (blk_get_info(top, &info) < 0) {
        blk_close(top);
        return img_error("%s: %s", file, err_msg());
    }
    if (blk_close(top) < 0)
        return img_block_error(file);
    if (info.format == BLK_FMT_QCOW2 && info.nsnapshots == 0) {
        struct blk_create_opts o = {
            .format = BLK_FMT_QCOW2, .size = info.virtual_size, .cluster_size = info.cluster_size,
            .compat = info.compat, .lazy_refcounts = info.lazy_refcounts,
            .backing_file = info.backing_file, .backing_format = info.backing_format,
        };
        if (blk_create(file, &o) < 0)
            return img_error("Could not empty %s: %s", file, err_msg());
    }
    if (!quiet)
        printf("Image committed.\n");
    return 0;
}

int cmd_commit(int argc, char **argv)
{
    const char *fmt = NULL;
    bool quiet = false, drop = true, progress = false;
    int c;
    while ((c = getopt(argc, argv, ":f:t:b:dpqr:")) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'd': drop = false; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 'b': return img_error("-b (commit into a deeper base) is not supported; commit one level at a time");
        case 't': case 'r': break;
        case ':': return img_usage("commit", "option '-%c' requires an argument", optopt);
        default: return img_usage("commit", "invalid option -- '%c'", optopt);
        }
    }
    if (optind != argc - 1)
        return img_usage("commit", "Expecting one image file name");
    progress = progress && !quiet;
    const char *file = argv[optind];
    struct blk *top, *base = NULL;
    _cleanup_free_ char *base_path = NULL;
    if (img_open(file, fmt, BLK_OPEN_RDONLY, &top))
        return 1;
    int rc = img_open_backing(top, file, BLK_OPEN_NO_BACKING, &base, &base_path);
    if (!rc && !base)
        rc = img_error("Image does not have a backing file");
    uint64_t size = blk_size(top);
    if (!rc && blk_size(base) < size && blk_resize(base, size) < 0)
        rc = img_error("Could not grow the backing file: %s", err_msg());
    uint8_t *a = malloc(CHUNK), *b = malloc(CHUNK);
    if (!rc && (!a || !b))
        rc = img_error("out of memory");
    for (uint64_t off = 0; !rc && off < size; off += CHUNK) {
        rc = commit_range(top, base, off, (size_t)MIN(CHUNK, size - off), a, b);
        img_progress(progress, (double)MIN(off + CHUNK, size) * 100.0 / (double)size);
    }
    if (progress)
        printf("\n");
    free(a);
    free(b);
    if (base && blk_close(base) < 0 && !rc)
        rc = img_block_error(base_path);
    if (!rc && drop)
        return make_empty(top, file, quiet);
    if (blk_close(top) < 0 && !rc)
        rc = img_block_error(file);
    if (!rc && !quiet)
        printf("Image committed.\n");
    return rc;
}
