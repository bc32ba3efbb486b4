/* corral-img commit: writes what the image and the files above the base
 * hold into the base (its backing file, or -b BASE deeper in the chain),
 * then empties the image (unless -d; -b implies -d, as in qemu-img).  Every
 * range the base does not already read the same is written, which gives
 * the base the image's content. */
#include "img/img.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

#define CHUNK (2 * MiB)

/* Copies [off, off+len) from top to the base at chain depth base_depth if
 * a file above the base decides it and it differs. */
static int commit_range(struct blk *top, struct blk *base, int base_depth, uint64_t off, size_t len,
                        uint8_t *a, uint8_t *b)
{
    uint64_t pnum, host;
    int status, depth;
    if (blk_block_status(top, off, len, &pnum, &status, &host, &depth) == 0 && pnum == len &&
        depth >= base_depth)
        return 0;   /* the base or its backing chain decides this range already */
    if (blk_pread(top, off, a, len) < 0 || blk_pread(base, off, b, len) < 0)
        return img_block_error("error while reading");
    uint32_t grain = blk_cluster_size(base);
    return img_write_diff(base, off, a, b, len, grain ? grain : 64 * KiB);
}

/* An empty qcow2 overlay like `info` replaces `file`: it is built under a
 * temporary name next to it (same directory, so a relative backing name
 * means the same file), with the same permissions, and renamed into place
 * whole, so a crash leaves either the old overlay or the new one. */
static int recreate_empty(const char *file, const struct blk_info *info)
{
    _cleanup_free_ char *real = realpath(file, NULL), *tmp = NULL;
    struct stat st;
    if (!real || stat(real, &st) < 0)
        return img_error("Could not empty %s: %s", file, strerror(errno));
    if (asprintf(&tmp, "%s.commit-XXXXXX", real) < 0) {
        tmp = NULL;   /* undefined after a failure */
        return img_error("out of memory");
    }
    int fd = mkstemp(tmp);
    if (fd < 0)
        return img_error("Could not empty %s: %s: %s", file, tmp, strerror(errno));
    /* The owner only where we may set it (as root); the mode always. */
    if (fchown(fd, st.st_uid, st.st_gid) < 0 && errno != EPERM)
        log_warn("%s: cannot keep the owner: %s", tmp, strerror(errno));
    int r = fchmod(fd, st.st_mode & 07777) < 0 ? -errno : 0;
    close(fd);
    struct blk_create_opts o = {
        .format = BLK_FMT_QCOW2, .size = info->virtual_size, .cluster_size = info->cluster_size,
        .compat = info->compat, .lazy_refcounts = info->lazy_refcounts,
        .backing_file = info->backing_file, .backing_format = info->backing_format,
    };
    if (r < 0)
        r = fail(-r, "%s: %s", tmp, strerror(-r));
    if (r == 0)
        r = blk_create(tmp, &o);   /* synced before it returns */
    if (r == 0)
        r = rename_durable(tmp, real);
    if (r < 0) {
        unlink(tmp);
        return img_error("Could not empty %s: %s", file, err_msg());
    }
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
    if (info.format == BLK_FMT_QCOW2 && info.nsnapshots == 0 && recreate_empty(file, &info))
        return 1;
    if (!quiet)
        printf("Image committed.\n");
    return 0;
}

/* The chain depth of -b BASE: the recorded name, or the same file. */
static int find_base(const struct img_chain *c, const char *base, const char *file)
{
    _cleanup_free_ char *want = realpath(base, NULL);
    for (int d = 1; d < c->n; d++) {
        _cleanup_free_ char *have = realpath(c->path[d], NULL);
        if (!strcmp(c->path[d], base) || (want && have && !strcmp(want, have)))
            return d;
    }
    img_error("Did not find '%s' in the backing chain of '%s'", base, file);
    return -1;
}

int cmd_commit(int argc, char **argv)
{
    static const struct option longopts[] = { IMG_COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
    const char *fmt = NULL, *base_name = NULL;
    bool quiet = false, drop = true, progress = false;
    struct img_rate rate = { 0 };
    int cache = 0, c;
    while ((c = getopt_long(argc, argv, ":f:t:b:dpqr:", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'd': drop = false; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 'b': base_name = optarg; drop = false; break;
        case 't':
            if (img_cache_mode(optarg, false, &cache))
                return 1;
            break;
        case 'r':
            if (img_cvtnum("rate limit", optarg, &rate.bps))
                return 1;
            break;
        default: return img_bad_option("commit", c, argv);
        }
    }
    if (optind != argc - 1)
        return img_usage("commit", "Expecting one image file name");
    progress = progress && !quiet;
    const char *file = argv[optind];
    struct blk *top, *base = NULL;
    struct img_chain chain;
    if (img_open(file, fmt, BLK_OPEN_RDONLY, &top))
        return 1;
    int rc = img_chain_load(file, blk_format_of(top), &chain), depth = 1;
    if (!rc && base_name && (depth = find_base(&chain, base_name, file)) < 0)
        rc = 1;
    else if (!rc && chain.n < 2)
        rc = img_error("Image does not have a backing file");
    /* The base keeps its own backing file: ranges it already reads the
     * same as the image are not written. */
    if (!rc && blk_open(chain.path[depth], chain.fmt[depth], cache, &base) < 0)
        rc = img_error("Could not open '%s': %s", chain.path[depth], err_msg());
    uint64_t size = blk_size(top);
    if (!rc && blk_size(base) < size && blk_resize(base, size) < 0)
        rc = img_error("Could not grow the backing file: %s", err_msg());
    uint8_t *a = malloc(CHUNK), *b = malloc(CHUNK);
    if (!rc && (!a || !b))
        rc = img_error("out of memory");
    img_progress(progress && !rc, 0.0);
    for (uint64_t off = 0; !rc && off < size; off += CHUNK) {
        size_t len = (size_t)MIN(CHUNK, size - off);
        rc = commit_range(top, base, depth, off, len, a, b);
        img_rate_wait(&rate, len);
        img_progress(progress, (double)(off + len) * 100.0 / (double)size);
    }
    if (progress)
        printf("\n");
    free(a);
    free(b);
    if (base && blk_close(base) < 0 && !rc)
        rc = img_block_error(chain.path[depth]);
    img_chain_free(&chain);
    if (!rc && drop)
        return make_empty(top, file, quiet);
    if (blk_close(top) < 0 && !rc)
        rc = img_block_error(file);
    if (!rc && !quiet)
        printf("Image committed.\n");
    return rc;
}
