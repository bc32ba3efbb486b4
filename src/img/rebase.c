/* corral-img rebase: changes an image's backing file.  Safe mode first
 * copies into the image every range it does not decide itself whose
 * content differs between the old and the new backing file; -u only
 * rewrites the header. */
#include "img/img.h"

#include <getopt.h>
#include <string.h>

#include "util/util.h"

#define CHUNK (2 * MiB)

struct rebase {
    struct blk *img, *nb;      /* the image (old chain attached), the new backing */
    uint32_t grain;
    uint8_t *a, *b;
};

static int rebase_range(struct rebase *r, uint64_t off, size_t len)
{
    uint64_t pnum, host;
    int status, depth;
    if (blk_block_status(r->img, off, len, &pnum, &status, &host, &depth) == 0 && pnum == len &&
        (status & BLK_STATUS_ALLOCATED))
        return 0;   /* the image decides this range itself */
    if (blk_pread(r->img, off, r->a, len) < 0)
        return img_block_error("error while reading the image");
    memset(r->b, 0, len);
    uint64_t nsize = r->nb ? blk_size(r->nb) : 0;
    if (off < nsize && blk_pread(r->nb, off, r->b, (size_t)MIN(len, nsize - off)) < 0)
        return img_block_error("error while reading the new backing file");
    /* Where the new backing file would read differently, the image keeps
     * what it reads now. */
    return img_write_diff(r->img, off, r->a, r->b, len, r->grain);
}

int cmd_rebase(int argc, char **argv)
{
    static const struct option longopts[] = { IMG_COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
    const char *fmt = NULL, *backing = NULL, *bfmt = NULL;
    bool unsafe = false, quiet = false, progress = false;
    int cache = 0, src_cache = 0, c;
    while ((c = getopt_long(argc, argv, ":f:F:b:t:T:upqU", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'F': bfmt = optarg; break;
        case 'b': backing = optarg; break;
        case 'u': unsafe = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 't': case 'T':
            if (img_cache_mode(optarg, c == 'T', c == 'T' ? &src_cache : &cache))
                return 1;
            break;
        case 'U': break;
        default: return img_bad_option("rebase", c, argv);
        }
    }
    if (optind != argc - 1)
        return img_usage("rebase", "Expecting one image file name");
    if (!backing && !unsafe)
        return img_usage("rebase", "Must specify backing file (-b) or use unsafe mode (-u)");
    if (!backing)
        backing = "";   /* -u alone: the image becomes standalone, as in qemu-img */
    if (backing[0] && !bfmt)
        return img_error("Could not change the backing file to '%s': backing format must be "
                         "specified", backing);
    progress = progress && !quiet;
    const char *file = argv[optind];
    enum blk_format bf;
    if (img_format(bfmt, &bf))
        return 1;
    struct rebase r = { 0 };
    if (img_open(file, fmt, cache | (unsafe ? BLK_OPEN_NO_BACKING : 0), &r.img))
        return 1;
    int rc = 0;
    if (backing[0]) {   /* relative names are relative to the image, as in qemu-img */
        _cleanup_free_ char *path = img_backing_path(file, backing);
        if (!path)
            rc = img_error("out of memory");
        else if (blk_open(path, bf, BLK_OPEN_RDONLY | src_cache, &r.nb) < 0) {
            if (!unsafe)
                rc = img_error("Could not open new backing file '%s': %s", path, err_msg());
        }
    }
    if (!rc && !unsafe) {
        uint64_t size = blk_size(r.img);
        r.grain = blk_cluster_size(r.img);
        r.grain = r.grain ? r.grain : 64 * KiB;
        r.a = malloc(CHUNK);
        r.b = malloc(CHUNK);
        if (!r.a || !r.b)
            rc = img_error("out of memory");
        for (uint64_t off = 0; !rc && off < size; off += CHUNK) {
            rc = rebase_range(&r, off, (size_t)MIN(CHUNK, size - off));
            img_progress(progress, (double)MIN(off + CHUNK, size) * 100.0 / (double)size);
        }
        if (progress)
            printf("\n");
        free(r.a);
        free(r.b);
    }
    if (!rc && blk_set_backing(r.img, backing[0] ? backing : NULL, backing[0] ? bf : BLK_FMT_PROBE) < 0)
        rc = img_error("Could not change the backing file to '%s': %s", backing, err_msg());
    if (r.nb)
        blk_close(r.nb);
    if (blk_close(r.img) < 0 && !rc)
        rc = img_block_error(file);
    return rc;
}
