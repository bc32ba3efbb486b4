/* corral-img create: qemu-img create's options and "Formatting …" line.
 * The -o parser is shared with convert (img_create_opt()). */
#include "img/img.h"

#include <getopt.h>
#include <string.h>

#include "util/util.h"

/* qemu's boolean option values. */
static int parse_bool(const char *key, const char *val, bool *out)
{
    if (!strcmp(val, "on") || !strcmp(val, "yes") || !strcmp(val, "true") || !strcmp(val, "y"))
        *out = true;
    else if (!strcmp(val, "off") || !strcmp(val, "no") || !strcmp(val, "false") || !strcmp(val, "n"))
        *out = false;
    else
        return img_error("Parameter '%s' expects 'on' or 'off'", key);
    return 0;
}

static int qcow2_opt(struct img_create_args *a, const char *key, const char *val)
{
    uint64_t v;
    bool on;
    if (!strcmp(key, "cluster_size")) {
        if (img_parse_size(val, &v) || v > UINT32_MAX)
            return img_error("Parameter 'cluster_size' expects a size, not '%s'", val);
        a->o.cluster_size = (uint32_t)v;
    } else if (!strcmp(key, "compat")) {
        if (!strcmp(val, "0.10") || !strcmp(val, "v2"))
            a->o.compat = 2;
        else if (!strcmp(val, "1.1") || !strcmp(val, "v3"))
            a->o.compat = 3;
        else
            return img_error("Invalid compatibility level: '%s'", val);
        a->compat = val;
    } else if (!strcmp(key, "lazy_refcounts")) {
        return parse_bool(key, val, &a->o.lazy_refcounts);
    } else if (!strcmp(key, "refcount_bits")) {
        if (img_parse_size(val, &v) || v == 0 || v > 64 || (v & (v - 1)))
            return img_error("Refcount width must be a power of two and may not exceed 64 bits");
        if (v != 16)
            return img_error("refcount_bits=%s is not supported: corral writes 16-bit refcounts", val);
    } else if (!strcmp(key, "extended_l2")) {
        if (parse_bool(key, val, &on))
            return 1;
        if (on)
            return img_error("extended_l2=on is not supported: corral has no subclusters");
    } else if (!strcmp(key, "compression_type")) {
        if (!strcmp(val, "zstd"))
            return img_error("compression_type=zstd is not supported: corral compresses with zlib");
        if (strcmp(val, "zlib"))
            return img_error("Invalid parameter value for 'compression_type': '%s'", val);
    } else if (!strcmp(key, "data_file") || !strcmp(key, "data_file_raw")) {
        return img_error("%s is not supported: corral has no external data files", key);
    } else if (!strcmp(key, "encryption") || !strncmp(key, "encrypt.", 8)) {
        return img_error("%s is not supported: corral does not encrypt images", key);
    } else {
        return img_error("Invalid parameter '%s'", key);
    }
    return 0;
}

int img_create_opt(const char *key, const char *val, void *arg)
{
    struct img_create_args *a = arg;
    if (!val) {
        a->help = true;
    } else if (!strcmp(key, "size")) {
        if (img_parse_size(val, &a->o.size))
            return img_error("Parameter 'size' expects a size, not '%s'", val);
        a->size_given = true;
    } else if (!strcmp(key, "preallocation")) {
        if (img_prealloc_mode(val))
            return 1;
        a->prealloc = val;
    } else if (!strcmp(key, "backing_file")) {
        a->o.backing_file = val;
    } else if (!strcmp(key, "backing_fmt")) {
        a->backing_fmt = val;
    } else {
        return qcow2_opt(a, key, val);
    }
    return 0;
}

int img_create_check(const struct img_create_args *a, const char *file)
{
    bool qcow2 = a->o.format == BLK_FMT_QCOW2;
    const char *fmt = blk_format_name(a->o.format);
    if (!qcow2 && (a->o.cluster_size || a->compat || a->o.lazy_refcounts))
        return img_error("%s: Invalid parameter '%s' for format '%s'", file,
                         a->o.cluster_size ? "cluster_size" : a->compat ? "compat" : "lazy_refcounts", fmt);
    if (a->o.backing_file && !qcow2)
        return img_error("%s: Backing file not supported for file format '%s'", file, fmt);
    if (a->prealloc && !strcmp(a->prealloc, "metadata"))
        return img_error("%s: preallocation=%s is not supported for %s images", file, a->prealloc, fmt);
    if (a->o.compat == 2 && a->o.lazy_refcounts)
        return img_error("%s: Lazy refcounts only supported with compatibility level 1.1 and above "
                         "(use version=v3 or greater)", file);
    return 0;
}

void img_create_help(enum blk_format f)
{
    static const char *const qcow2[][2] = {
        { "backing_file=<str>", "the backing file, recorded in the image" },
        { "backing_fmt=<str>", "the backing file's format (raw or qcow2)" },
        { "cluster_size=<size>", "a power of two from 512 to 2M (default 64k)" },
        { "compat=<str>", "0.10 (v2) or 1.1 (v3, the default)" },
        { "compression_type=<str>", "zlib only" },
        { "extended_l2=<bool (on/off)>", "off only" },
        { "lazy_refcounts=<bool (on/off)>", "v3: refcounts updated lazily (dirty bit)" },
        { "preallocation=<str>", "off, falloc or full (zeros written)" },
        { "refcount_bits=<num>", "16 only" },
        { "size=<size>", "the virtual size" },
    };
    static const char *const raw[][2] = {
        { "preallocation=<str>", "off, falloc (allocated) or full (zeros written)" },
        { "size=<size>", "the virtual size" },
    };
    bool q = f == BLK_FMT_QCOW2;
    printf("Supported %s options:\n", blk_format_name(f));
    for (size_t i = 0; i < (q ? ARRAY_SIZE(qcow2) : ARRAY_SIZE(raw)); i++)
        printf("  %-22s - %s\n", q ? qcow2[i][0] : raw[i][0], q ? qcow2[i][1] : raw[i][1]);
}

int img_create_image(const char *file, const struct img_create_args *args)
{
    /* Virtual sizes are whole 512-byte sectors, rounded up as QEMU does. */
    struct img_create_args rounded = *args, *a = &rounded;
    a->o.size = ALIGN_UP(a->o.size, 512);
    if (blk_create(file, &a->o) < 0)
        return img_error("%s: %s", file, err_msg());
    if (a->o.format != BLK_FMT_RAW) {
        struct blk *b;
        if (!a->prealloc || !strcmp(a->prealloc, "off"))
            return 0;
        if (blk_open(file, a->o.format, BLK_OPEN_NO_BACKING, &b) < 0)
            return img_error("Could not open '%s': %s", file, err_msg());
        int rc = img_preallocate_blk(b, 0, a->o.size);
        if (blk_close(b) < 0 && !rc)
            rc = img_block_error(file);
        return rc;
    }
    /* Like QEMU, write the first block of a raw image (up to 4 KiB): the
     * file system then has an allocated block to probe alignment with, and
     * `map` shows what qemu-img's map shows for a new image. */
    return img_preallocate_raw(file, 0, a->o.size, a->prealloc) ||
           img_preallocate_raw(file, 0, MIN(a->o.size, 4096), "full");
}

/* The virtual size of a backing file, for a create without a size. */
static int backing_size(const char *image, const char *backing, enum blk_format fmt, uint64_t *size)
{
    _cleanup_free_ char *path = img_backing_path(image, backing);
    struct blk *b;
    if (!path)
        return img_error("out of memory");
    if (blk_open(path, fmt, BLK_OPEN_RDONLY, &b) < 0)
        return img_error("Could not open backing image: %s", err_msg());
    *size = blk_size(b);
    blk_close(b);
    return 0;
}

static void print_formatting(const char *file, const struct img_create_args *a)
{
    const struct blk_create_opts *o = &a->o;
    printf("Formatting '%s', fmt=%s", file, blk_format_name(o->format));
    if (o->format == BLK_FMT_QCOW2) {
        printf(" cluster_size=%u extended_l2=off", o->cluster_size);
        if (a->prealloc)
            printf(" preallocation=%s", a->prealloc);
        printf(" compression_type=zlib size=%llu", (unsigned long long)o->size);
        if (a->compat)
            printf(" compat=%s", a->compat);
        if (o->backing_file)
            printf(" backing_file=%s backing_fmt=%s", o->backing_file, a->backing_fmt);
        printf(" lazy_refcounts=%s refcount_bits=16", o->lazy_refcounts ? "on" : "off");
    } else {
        printf(" size=%llu", (unsigned long long)o->size);
        if (a->prealloc)
            printf(" preallocation=%s", a->prealloc);
    }
    printf("\n");
    fflush(stdout);
}

int cmd_create(int argc, char **argv)
{
    static const struct option longopts[] = { IMG_COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
    struct img_create_args a = { .o = { .format = BLK_FMT_RAW } };
    const char *fmt = "raw", *backing = NULL;
    bool quiet = false, unsafe = false;
    int c;
    while ((c = getopt_long(argc, argv, ":f:b:F:o:qu", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'b': backing = optarg; break;
        case 'F': a.backing_fmt = optarg; break;
        case 'o':
            if (img_parse_opts(optarg, img_create_opt, &a))
                return 1;
            break;
        case 'q': quiet = true; break;
        case 'u': unsafe = true; break;   /* the backing file is not opened */
        default: return img_bad_option("create", c, argv);
        }
    }
    if (img_format(fmt, &a.o.format))
        return 1;
    if (a.o.format == BLK_FMT_PROBE)
        return img_error("Unknown file format '%s'", fmt);
    if (a.help) {
        img_create_help(a.o.format);
        return 0;
    }
    if (backing)
        a.o.backing_file = backing;
    if (optind >= argc)
        return img_usage("create", "Expecting image file name");
    const char *file = argv[optind++];
    if (optind < argc) {
        if (a.size_given)
            return img_error("%s: The image size must be specified only once", file);
        if (img_cvtnum("image size", argv[optind], &a.o.size))
            return 1;
        a.size_given = true;
        optind++;
    }
    if (optind < argc)
        return img_usage("create", "Unexpected argument: %s", argv[optind]);
    if (img_format(a.backing_fmt, &a.o.backing_format) || img_create_check(&a, file))
        return 1;
    if (a.o.backing_file && !a.backing_fmt)
        return img_error("%s: Backing file specified without backing format", file);
    if (a.backing_fmt && !a.o.backing_file)
        return img_error("%s: Backing format cannot be used without backing file", file);
    if (!a.size_given && (!a.o.backing_file || unsafe))
        return img_error("%s: Image creation needs a size parameter", file);
    if (!a.size_given && backing_size(file, a.o.backing_file, a.o.backing_format, &a.o.size))
        return 1;
    if (a.o.format == BLK_FMT_QCOW2 && a.o.cluster_size == 0)
        a.o.cluster_size = 65536;
    if (!quiet)
        print_formatting(file, &a);
    return img_create_image(file, &a);
}
