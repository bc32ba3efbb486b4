/* corral-img check: qemu-img check's messages, JSON and exit codes
 * (0 clean, 1 check not completed, 2 corruptions, 3 leaks only, 63 format
 * without checks). */
#include "img/img.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <string.h>

#include "util/util.h"

static void print_human(const struct blk_check_result *r)
{
    if (r->corruptions_fixed || r->leaks_fixed)
        printf("The following inconsistencies were found and repaired:\n\n"
               "    %" PRIu64 " leaked clusters\n    %" PRIu64 " corruptions\n\n"
               "Double checking the fixed image now...\n", r->leaks_fixed, r->corruptions_fixed);
    if (!r->corruptions && !r->leaks && !r->check_errors)
        printf("No errors were found on the image.\n");
    if (r->corruptions)
        printf("\n%" PRIu64 " errors were found on the image.\n"
               "Data may be corrupted, or further writes to the image may corrupt it.\n", r->corruptions);
    if (r->leaks)
        printf("\n%" PRIu64 " leaked clusters were found on the image.\n"
               "This means waste of disk space, but no harm to data.\n", r->leaks);
    if (r->check_errors)
        printf("\n%" PRIu64 " internal errors have occurred during the check.\n", r->check_errors);
    if (r->total_clusters && r->allocated_clusters)
        printf("%" PRIu64 "/%" PRIu64 " = %0.2f%% allocated, %0.2f%% fragmented, %0.2f%% compressed clusters\n",
               r->allocated_clusters, r->total_clusters,
               (double)r->allocated_clusters * 100.0 / (double)r->total_clusters,
               (double)r->fragmented_clusters * 100.0 / (double)r->allocated_clusters,
               (double)r->compressed_clusters * 100.0 / (double)r->allocated_clusters);
    if (r->image_end_offset)
        printf("Image end offset: %" PRIu64 "\n", r->image_end_offset);
}

static void add_nonzero(struct json_object *o, const char *key, uint64_t v)
{
    if (v)
        json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

static void print_json(const char *file, const char *fmt, const struct blk_check_result *r)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "filename", json_object_new_string(file));
    json_object_object_add(o, "format", json_object_new_string(fmt));
    json_object_object_add(o, "check-errors", json_object_new_int64((int64_t)r->check_errors));
    add_nonzero(o, "image-end-offset", r->image_end_offset);
    add_nonzero(o, "corruptions", r->corruptions);
    add_nonzero(o, "leaks", r->leaks);
    add_nonzero(o, "corruptions-fixed", r->corruptions_fixed);
    add_nonzero(o, "leaks-fixed", r->leaks_fixed);
    add_nonzero(o, "total-clusters", r->total_clusters);
    add_nonzero(o, "allocated-clusters", r->allocated_clusters);
    add_nonzero(o, "fragmented-clusters", r->fragmented_clusters);
    add_nonzero(o, "compressed-clusters", r->compressed_clusters);
    img_json_print(stdout, o);
    json_object_put(o);
}

int cmd_check(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "output", required_argument, NULL, 'O' },
        { "repair", required_argument, NULL, 'r' },
        IMG_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    const char *fmt = NULL;
    int json = 0, fix = 0, cache = 0, c;
    bool quiet = false;
    while ((c = getopt_long(argc, argv, ":f:r:T:qU", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'r':
            if (!strcmp(optarg, "leaks"))
                fix = BLK_FIX_LEAKS;
            else if (!strcmp(optarg, "all"))
                fix = BLK_FIX_LEAKS | BLK_FIX_ERRORS;
            else
                return img_usage("check", "Unknown option value for -r (expecting 'leaks' or 'all'): %s", optarg);
            break;
        case 'O':
            if ((json = img_output_format(optarg)) < 0)
                return 1;
            break;
        case 'q': quiet = true; break;
        case 'T':
            if (img_cache_mode(optarg, true, &cache))
                return 1;
            break;
        case 'U': break;
        default: return img_bad_option("check", c, argv);
        }
    }
    if (optind != argc - 1)
        return img_usage("check", "Expecting one image file name");
    const char *file = argv[optind];
    struct blk *b;
    if (img_open(file, fmt, cache | (fix ? BLK_OPEN_NO_BACKING | BLK_OPEN_CHECK : BLK_OPEN_RDONLY | BLK_OPEN_NO_BACKING), &b))
        return 1;
    if (blk_format_of(b) == BLK_FMT_RAW) {
        blk_close(b);
        img_error("This image format does not support checks");
        return 63;
    }
    struct blk_check_result res;
    int r = blk_check(b, fix, &res);
    if (r == -ENOTSUP) {
        img_error("This image format does not support checks: %s", err_msg());
        blk_close(b);
        return 63;
    }
    if (r >= 0 && fix && (res.corruptions_fixed || res.leaks_fixed)) {
        uint64_t cf = res.corruptions_fixed, lf = res.leaks_fixed;
        r = blk_check(b, 0, &res);   /* double-check the repaired image */
        res.corruptions_fixed = cf;
        res.leaks_fixed = lf;
    }
    const char *fmt_name = blk_format_name(blk_format_of(b));
    if (r < 0) {
        img_error("Check failed: %s", err_msg());
        blk_close(b);
        return 1;
    }
    if (blk_close(b) < 0)
        return img_error("Check failed: %s", err_msg());
    if (json && !quiet)
        print_json(file, fmt_name, &res);
    else if (!quiet)
        print_human(&res);
    if (res.check_errors) {
        img_error("Check failed");
        return 1;
    }
    return res.corruptions ? 2 : res.leaks ? 3 : 0;
}
