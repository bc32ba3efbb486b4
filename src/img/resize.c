/* corral-img resize: absolute or relative (+/-) sizes; shrinking needs
 * --shrink, as with qemu-img. */
#include "img/img.h"

#include <getopt.h>
#include <string.h>

#include "util/util.h"

int cmd_resize(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "shrink", no_argument, NULL, 'S' },
        { "preallocation", required_argument, NULL, 'P' },
        IMG_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    const char *fmt = NULL, *prealloc = NULL;
    bool quiet = false, shrink = false;
    int c;
    /* The size is always last and "-1G" is not an option: take it out first,
     * as qemu-img does. */
    if (argc < 3)
        return img_usage("resize", "Expecting image file name and size");
    const char *arg = argv[--argc];
    while ((c = getopt_long(argc, argv, ":f:qU", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'q': quiet = true; break;
        case 'S': shrink = true; break;
        case 'U': break;
        case 'P':
            if (img_prealloc_mode(optarg))
                return 1;
            prealloc = optarg;
            break;
        default: return img_bad_option("resize", c, argv);
        }
    }
    if (argc - optind != 1)
        return img_usage("resize", "Expecting image file name and size");
    const char *file = argv[optind];
    int sign = arg[0] == '+' ? 1 : arg[0] == '-' ? -1 : 0;
    uint64_t n;
    if (img_cvtnum("image size", arg + (sign != 0), &n))
        return 1;
    struct blk *b;
    if (img_open(file, fmt, BLK_OPEN_NO_BACKING, &b))
        return 1;
    uint64_t cur = blk_size(b), size = sign > 0 ? cur + n : sign < 0 ? cur - n : n;
    int rc = 0;
    if (size == 0 || (sign < 0 && n >= cur))
        rc = img_error("New image size must be positive");
    else if (size < cur && !shrink)
        rc = img_error("Use the --shrink option to perform a shrink operation.");
    else if (size % 512 && blk_format_of(b) == BLK_FMT_QCOW2)
        rc = img_error("The new size must be a multiple of 512");
    else if (prealloc && !strcmp(prealloc, "metadata"))
        rc = img_error("preallocation=metadata is not supported");
    else if (size != cur && blk_resize(b, size) < 0)
        rc = img_error("%s", err_msg());
    /* The new space as --preallocation asks: qcow2 through the block layer,
     * raw (fallocate or zeros) once the file is closed. */
    bool raw = blk_format_of(b) == BLK_FMT_RAW, pre = prealloc && strcmp(prealloc, "off");
    if (!rc && pre && !raw && size > cur)
        rc = img_preallocate_blk(b, cur, size);
    if (blk_close(b) < 0 && !rc)
        rc = img_block_error(file);
    if (!rc && pre && raw && size > cur)
        rc = img_preallocate_raw(file, cur, size, prealloc);
    if (!rc && !quiet)
        printf("Image resized.\n");
    return rc;
}
