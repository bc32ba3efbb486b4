/* corral-img snapshot: list, create, apply and delete internal snapshots. */
#include "img/img.h"

#include <getopt.h>

#include "util/util.h"

int cmd_snapshot(int argc, char **argv)
{
    static const struct option longopts[] = { IMG_COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
    const char *fmt = NULL, *name = NULL;
    int action = 0, c;
    bool quiet = false;
    while ((c = getopt_long(argc, argv, ":f:c:a:d:lqU", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'c': case 'a': case 'd': case 'l':
            if (action)
                return img_usage("snapshot", "Cannot mix '-l', '-a', '-c', '-d'");
            action = c;
            name = optarg;
            break;
        case 'q': quiet = true; break;
        case 'U': break;
        default: return img_bad_option("snapshot", c, argv);
        }
    }
    if (optind != argc - 1)
        return img_usage("snapshot", "Expecting one image file name");
    if (!action)
        return 0;   /* qemu-img does nothing either */
    const char *file = argv[optind];
    struct blk *b;
    if (img_open(file, fmt, action == 'l' ? BLK_OPEN_RDONLY | BLK_OPEN_NO_BACKING : BLK_OPEN_NO_BACKING, &b))
        return 1;
    int r = 0, rc = 0;
    switch (action) {
    case 'l': {
        struct blk_snapshot *s;
        int n;
        r = blk_snapshot_list(b, &s, &n);
        if (r < 0) {
            rc = img_error("Could not list snapshots: %s", err_msg());
            break;
        }
        if (n > 0 && !quiet) {
            img_snapshot_header(stdout);
            for (int i = 0; i < n; i++)
                img_snapshot_row(stdout, &s[i]);
        }
        free(s);
        break;
    }
    case 'c':
        if (blk_snapshot_create(b, name) < 0)
            rc = img_error("Could not create snapshot '%s': %s", name, err_msg());
        break;
    case 'a':
        if (blk_snapshot_apply(b, name) < 0)
            rc = img_error("Could not apply snapshot '%s': %s", name, err_msg());
        break;
    case 'd':
        if (blk_snapshot_delete(b, name) < 0)
            rc = img_error("Could not delete snapshot '%s': %s", name, err_msg());
        break;
    }
    if (blk_close(b) < 0 && !rc)
        rc = img_block_error(file);
    return rc;
}
