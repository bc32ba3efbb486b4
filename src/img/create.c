/* corral-img create: qemu-img create's options and "Formatting …" line. */
#include "img/img.h"

#include <getopt.h>
#include <string.h>

#include "util/util.h"

struct create_args {
    struct blk_create_opts o;
    const char *backing_fmt;
    bool compat_given;
};

static int create_opt(const char *key, const char *val, void *arg)
{
    struct create_args *a = arg;
    uint64_t v;
    if (!strcmp(key, "cluster_size")) {
        if (img_parse_size(val, &v) || v > UINT32_MAX)
            return img_error("Invalid cluster_size '%s'", val);
        a->o.cluster_size = (uint32_t)v;
    } else if (!strcmp(key, "compat")) {
        if (!strcmp(val, "0.10") || !strcmp(val, "v2"))
            a->o.compat = 2;
        else if (!strcmp(val, "1.1") || !strcmp(val, "v3"))
            a->o.compat = 3;
        else
            return img_error("Invalid parameter '%s'", val);
        a->compat_given = true;
    } else if (!strcmp(key, "lazy_refcounts")) {
        if (strcmp(val, "on") && strcmp(val, "off"))
            return img_error("Parameter 'lazy_refcounts' expects 'on' or 'off'");
        a->o.lazy_refcounts = !strcmp(val, "on");
    } else if (!strcmp(key, "backing_file")) {
        a->o.backing_file = val;
    } else if (!strcmp(key, "backing_fmt")) {
        a->backing_fmt = val;
    } else if (!strcmp(key, "size")) {
        if (img_parse_size(val, &v))
            return img_error("Invalid size '%s'", val);
        a->o.size = v;
    } else if (!strcmp(key, "refcount_bits")) {
        if (strcmp(val, "16"))
            return img_error("refcount_bits=%s is not supported (only 16)", val);
    } else if (!strcmp(key, "extended_l2") || !strcmp(key, "compression_type") ||
               !strcmp(key, "preallocation")) {
        if (strcmp(val, "off") && strcmp(val, "zlib"))
            return img_error("%s=%s is not supported", key, val);
    } else {
        return img_error("Invalid parameter '%s'", key);
    }
    return 0;
}

/* The virtual size of a backing file, for a create without a size. */
static int backing_size(const char *image, const char *backing, enum blk_format fmt, uint64_t *size)
{
    _cleanup_free_ char *path = NULL;
    if (backing[0] != '/' && strchr(image, '/')) {
        const char *slash = strrchr(image, '/');
        if (asprintf(&path, "%.*s/%s", (int)(slash - image), image, backing) < 0)
            return img_error("out of memory");
    }
    struct blk *b;
    if (blk_open(path ? path : backing, fmt, BLK_OPEN_RDONLY, &b) < 0)
        return img_error("Could not open backing image: %s", err_msg());
    *size = blk_size(b);
    blk_close(b);
    return 0;
}

int cmd_create(int argc, char **argv)
{
    struct create_args a = { .o = { .format = BLK_FMT_RAW } };
    const char *fmt = "raw", *backing = NULL;
    bool quiet = false;
    int c;
    while ((c = getopt(argc, argv, ":f:b:F:o:qu")) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'b': backing = optarg; break;
        case 'F': a.backing_fmt = optarg; break;
        case 'o':
            if (img_parse_opts(optarg, create_opt, &a))
                return 1;
            break;
        case 'q': quiet = true; break;
        case 'u': break;   /* unsafe: we never open the backing file unless we need its size */
        case ':': return img_usage("create", "option '-%c' requires an argument", optopt);
        default: return img_usage("create", "invalid option -- '%c'", optopt);
        }
    }
    if (backing)
        a.o.backing_file = backing;
    if (optind >= argc)
        return img_usage("create", "Expecting image file name");
    const char *file = argv[optind++];
    if (optind < argc) {
        if (img_parse_size(argv[optind], &a.o.size))
            return img_error("Invalid image size specified. You may use k, M, G, T, P or E "
                             "suffixes for kilobytes, megabytes, gigabytes, terabytes, petabytes "
                             "and exabytes.");
        optind++;
    }
    if (optind < argc)
        return img_usage("create", "Unexpected argument: %s", argv[optind]);
    if (img_format(fmt, &a.o.format) || img_format(a.backing_fmt, &a.o.backing_format))
        return 1;
    if (a.o.format == BLK_FMT_PROBE)
        return img_error("Unknown file format '%s'", fmt);
    if (a.o.backing_file && a.o.format != BLK_FMT_QCOW2)
        return img_error("%s: Backing file not supported for file format '%s'", file, fmt);
    if (a.o.backing_file && !a.backing_fmt)
        return img_error("%s: Backing file specified without backing format", file);
    if (a.o.size == 0 && !a.o.backing_file)
        return img_error("%s: Image creation needs a size parameter", file);
    if (a.o.size == 0 && backing_size(file, a.o.backing_file, a.o.backing_format, &a.o.size))
        return 1;
    if (a.o.format == BLK_FMT_QCOW2 && a.o.cluster_size == 0)
        a.o.cluster_size = 65536;

    if (!quiet) {
        printf("Formatting '%s', fmt=%s", file, blk_format_name(a.o.format));
        if (a.o.format == BLK_FMT_QCOW2) {
            printf(" cluster_size=%u extended_l2=off compression_type=zlib size=%llu",
                   a.o.cluster_size, (unsigned long long)a.o.size);
            if (a.compat_given)
                printf(" compat=%s", a.o.compat == 2 ? "0.10" : "1.1");
            if (a.o.backing_file)
                printf(" backing_file=%s backing_fmt=%s", a.o.backing_file, a.backing_fmt);
            printf(" lazy_refcounts=%s refcount_bits=16", a.o.lazy_refcounts ? "on" : "off");
        } else {
            printf(" size=%llu", (unsigned long long)a.o.size);
        }
        printf("\n");
        fflush(stdout);
    }
    if (blk_create(file, &a.o) < 0)
        return img_error("%s: %s", file, err_msg());
    return 0;
}
