/* corral-img info: qemu-img info's human text and JSON, --backing-chain. */
#include "img/img.h"

#include <getopt.h>
#include <json-c/json.h>
#include <string.h>
#include <time.h>

#include "util/util.h"

struct img_desc {
    char *filename, *full_backing;
    struct blk_info info;
    struct blk_snapshot *snaps;
    int nsnaps;
};

static void desc_free(struct img_desc *d)
{
    free(d->filename);
    free(d->full_backing);
    free(d->snaps);
}

static int describe(const char *path, const char *fmt, int flags, struct img_desc *d)
{
    struct blk *b;
    memset(d, 0, sizeof(*d));
    if (img_open(path, fmt, BLK_OPEN_RDONLY | flags, &b))
        return 1;
    int r = blk_get_info(b, &d->info);
    if (r >= 0)
        r = blk_snapshot_list(b, &d->snaps, &d->nsnaps);
    blk_close(b);
    if (r < 0)
        return img_error("%s: %s", path, err_msg());
    d->filename = strdup(path);
    if (d->info.backing_file[0])
        d->full_backing = img_backing_path(path, d->info.backing_file);
    return 0;
}

void img_snapshot_row(FILE *f, const struct blk_snapshot *s)
{
    char size[32], date[32], clock[64];
    struct tm tm;
    time_t t = (time_t)s->date_sec;
    localtime_r(&t, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
    uint64_t secs = s->vm_clock_nsec / 1000000000;
    snprintf(clock, sizeof(clock), "%02d:%02d:%02d.%03d", (int)(secs / 3600), (int)((secs / 60) % 60),
             (int)(secs % 60), (int)((s->vm_clock_nsec / 1000000) % 1000));
    img_size_str(s->vm_state_size, size, sizeof(size));
    fprintf(f, "%-9s %-16s %8s%20s%13s%11s\n", s->id, s->name, size, date, clock, "0");
}

void img_snapshot_header(FILE *f)
{
    fprintf(f, "Snapshot list:\n%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE",
            "VM CLOCK", "ICOUNT");
}

static void print_human(const struct img_desc *d)
{
    const struct blk_info *i = &d->info;
    char vs[32], ds[32];
    img_size_str(i->virtual_size, vs, sizeof(vs));
    img_size_str(i->actual_size, ds, sizeof(ds));
    printf("image: %s\nfile format: %s\nvirtual size: %s (%llu bytes)\ndisk size: %s\n",
           d->filename, blk_format_name(i->format), vs, (unsigned long long)i->virtual_size, ds);
    if (i->cluster_size)
        printf("cluster_size: %u\n", i->cluster_size);
    if (i->backing_file[0]) {
        printf("backing file: %s", i->backing_file);
        if (d->full_backing && strcmp(d->full_backing, i->backing_file))
            printf(" (actual path: %s)", d->full_backing);
        printf("\n");
        if (i->backing_format != BLK_FMT_PROBE)
            printf("backing file format: %s\n", blk_format_name(i->backing_format));
    }
    if (i->dirty)
        printf("cleanly shut down: no\n");   /* qemu-img 7.x words it so */
    if (d->nsnaps) {
        img_snapshot_header(stdout);
        for (int k = 0; k < d->nsnaps; k++)
            img_snapshot_row(stdout, &d->snaps[k]);
    }
    if (i->format == BLK_FMT_QCOW2) {
        printf("Format specific information:\n    compat: %s\n    compression type: zlib\n",
               i->compat == 2 ? "0.10" : "1.1");
        if (i->compat != 2)
            printf("    lazy refcounts: %s\n", i->lazy_refcounts ? "true" : "false");
        printf("    refcount bits: %u\n", i->refcount_bits);
        if (i->compat != 2)
            printf("    corrupt: %s\n    extended l2: false\n", i->corrupt ? "true" : "false");
    }
}

#define J_ADD(o, k, v) json_object_object_add(o, k, v)

static struct json_object *json_desc(const struct img_desc *d)
{
    const struct blk_info *i = &d->info;
    struct json_object *o = json_object_new_object();
    /* Inserted in QAPI's ImageInfo field order (it decides ties in QDict order). */
    J_ADD(o, "filename", json_object_new_string(d->filename));
    J_ADD(o, "format", json_object_new_string(blk_format_name(i->format)));
    J_ADD(o, "dirty-flag", json_object_new_boolean(i->dirty));
    J_ADD(o, "actual-size", json_object_new_int64((int64_t)i->actual_size));
    J_ADD(o, "virtual-size", json_object_new_int64((int64_t)i->virtual_size));
    if (i->cluster_size)
        J_ADD(o, "cluster-size", json_object_new_int64(i->cluster_size));
    if (i->backing_file[0]) {
        J_ADD(o, "backing-filename", json_object_new_string(i->backing_file));
        J_ADD(o, "full-backing-filename", json_object_new_string(d->full_backing ? d->full_backing : ""));
        if (i->backing_format != BLK_FMT_PROBE)
            J_ADD(o, "backing-filename-format", json_object_new_string(blk_format_name(i->backing_format)));
    }
    if (d->nsnaps) {
        struct json_object *a = json_object_new_array();
        for (int k = 0; k < d->nsnaps; k++) {
            const struct blk_snapshot *s = &d->snaps[k];
            struct json_object *so = json_object_new_object();
            J_ADD(so, "id", json_object_new_string(s->id));
            J_ADD(so, "name", json_object_new_string(s->name));
            J_ADD(so, "vm-state-size", json_object_new_int64((int64_t)s->vm_state_size));
            J_ADD(so, "date-sec", json_object_new_int64((int64_t)s->date_sec));
            J_ADD(so, "date-nsec", json_object_new_int64(s->date_nsec));
            J_ADD(so, "vm-clock-sec", json_object_new_int64((int64_t)(s->vm_clock_nsec / 1000000000)));
            J_ADD(so, "vm-clock-nsec", json_object_new_int64((int64_t)(s->vm_clock_nsec % 1000000000)));
            J_ADD(so, "icount", json_object_new_int64(0));
            json_object_array_add(a, so);
        }
        J_ADD(o, "snapshots", a);
    }
    if (i->format == BLK_FMT_QCOW2) {
        struct json_object *fs = json_object_new_object(), *data = json_object_new_object();
        J_ADD(data, "compat", json_object_new_string(i->compat == 2 ? "0.10" : "1.1"));
        if (i->compat != 2)
            J_ADD(data, "lazy-refcounts", json_object_new_boolean(i->lazy_refcounts));
        J_ADD(data, "refcount-bits", json_object_new_int64(i->refcount_bits));
        if (i->compat != 2) {
            J_ADD(data, "corrupt", json_object_new_boolean(i->corrupt));
            J_ADD(data, "extended-l2", json_object_new_boolean(false));
        }
        J_ADD(data, "compression-type", json_object_new_string("zlib"));
        J_ADD(fs, "type", json_object_new_string("qcow2"));
        J_ADD(fs, "data", data);
        J_ADD(o, "format-specific", fs);
    }
    return o;
}

int cmd_info(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "output", required_argument, NULL, 'O' },
        { "backing-chain", no_argument, NULL, 'B' },
        { "force-share", no_argument, NULL, 'U' },
        { "image-opts", no_argument, NULL, 'I' },
        { NULL, 0, NULL, 0 },
    };
    const char *fmt = NULL;
    int json = 0, c;
    bool chain = false;
    while ((c = getopt_long(argc, argv, ":f:hU", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'O':
            if ((json = img_output_format(optarg)) < 0)
                return 1;
            break;
        case 'B': chain = true; break;
        case 'U': break;
        case 'I': return img_error("--image-opts is not supported");
        case ':': return img_usage("info", "option '%s' requires an argument", argv[optind - 1]);
        default: return img_usage("info", "invalid option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return img_usage("info", optind >= argc ? "Expecting one image file name" : "Unexpected argument: %s",
                         argv[argc - 1]);

    struct img_desc descs[BLK_MAX_BACKING_DEPTH + 1];
    int n = 0, rc = 0;
    const char *path = argv[optind];
    for (;;) {
        if (describe(path, fmt, chain && n ? BLK_OPEN_NO_BACKING : 0, &descs[n])) {
            rc = 1;
            break;
        }
        const struct img_desc *d = &descs[n++];
        if (!chain || !d->full_backing)
            break;
        if (n > BLK_MAX_BACKING_DEPTH) {
            rc = img_error("%s: backing chain too deep", argv[optind]);
            break;
        }
        path = d->full_backing;
        fmt = d->info.backing_format == BLK_FMT_PROBE ? NULL : blk_format_name(d->info.backing_format);
    }
    if (!rc) {
        if (json) {
            struct json_object *o = chain ? json_object_new_array() : json_desc(&descs[0]);
            for (int k = 0; chain && k < n; k++)
                json_object_array_add(o, json_desc(&descs[k]));
            img_json_print(stdout, o);
            json_object_put(o);
        } else {
            for (int k = 0; k < n; k++) {
                if (k)
                    printf("\n");
                print_human(&descs[k]);
            }
        }
    }
    for (int k = 0; k < n; k++)
        desc_free(&descs[k]);
    return rc;
}
