/* Helpers every corral-img command shares: error lines, opening images,
 * qemu's size syntax and size strings, -o option lists and JSON printed
 * exactly as qemu-img prints it. */
#include "img/img.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/util.h"

int img_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("corral-img: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int img_block_error(const char *context)
{
    return img_error("%s: %s", context, err_msg());
}

int img_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("corral-img: ", stderr);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'corral-img %s --help' for more information\n", cmd);
    va_end(ap);
    return 1;
}

int img_help(const char *cmd)
{
    for (const struct img_cmd *c = img_cmds; c->name; c++)
        if (!strcmp(c->name, cmd)) {
            printf("Usage: corral-img %s\n\n%s\n", c->usage, c->summary);
            return 0;
        }
    return 1;
}

void img_getopt_reset(void)
{
    optind = 0;   /* 0: glibc re-initialises its scanner */
    opterr = 0;   /* commands report bad options themselves */
}

int img_bad_option(const char *cmd, int c, char **argv)
{
    char opt[3] = { '-', (char)optopt, '\0' };
    const char *name = optopt && optopt < IMG_OPT_OBJECT && c == '?' ? opt : argv[optind - 1];
    switch (c) {
    case IMG_OPT_OBJECT:
        return img_error("--object is not supported: corral-img has no QEMU objects "
                         "(secrets, encryption)");
    case IMG_OPT_IMAGE_OPTS:
        return img_error("--image-opts is not supported: give image file names");
    case ':':
        return img_usage(cmd, "missing argument for option '%s'", argv[optind - 1]);
    default:
        return img_usage(cmd, "unrecognized option '%s'", name);
    }
}

int img_cache_flags(const char *mode, int *flags)
{
    static const struct {
        const char *name;
        int flags;
    } modes[] = {
        { "none", BLK_OPEN_DIRECT }, { "off", BLK_OPEN_DIRECT }, { "writeback", 0 },
        { "writethrough", BLK_OPEN_DSYNC }, { "directsync", BLK_OPEN_DIRECT | BLK_OPEN_DSYNC },
        { "unsafe", BLK_OPEN_NO_FLUSH },
    };
    for (size_t i = 0; i < ARRAY_SIZE(modes); i++)
        if (!strcmp(mode, modes[i].name)) {
            *flags = modes[i].flags;
            return 0;
        }
    return -1;
}

int img_cache_mode(const char *mode, bool src, int *flags)
{
    if (img_cache_flags(mode, flags))
        return img_error("Invalid %scache option: %s", src ? "source " : "", mode);
    return 0;
}

int img_cvtnum(const char *what, const char *s, uint64_t *out)
{
    int r = img_parse_size(s, out);
    if (r == -ERANGE)
        return img_error("Invalid %s specified. Must be between 0 and 9223372036854775807.", what);
    if (r)
        return img_error("Invalid %s specified. You may use k, M, G, T, P or E suffixes for "
                         "kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.", what);
    return 0;
}

void img_rate_wait(struct img_rate *r, uint64_t bytes)
{
    if (!r->bps)
        return;
    if (!r->start_ns)
        r->start_ns = now_ns();
    r->done += bytes;
    double due = (double)r->done / (double)r->bps * 1e9;
    double elapsed = (double)(now_ns() - r->start_ns);
    if (due > elapsed) {
        uint64_t wait = (uint64_t)(due - elapsed);
        struct timespec ts = { (time_t)(wait / 1000000000), (long)(wait % 1000000000) };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
}

int img_prealloc_mode(const char *mode)
{
    if (strcmp(mode, "off") && strcmp(mode, "metadata") && strcmp(mode, "falloc") &&
        strcmp(mode, "full"))
        return img_error("Invalid preallocation mode '%s'", mode);
    return 0;
}

int img_preallocate_raw(const char *path, uint64_t from, uint64_t to, const char *mode)
{
    if (!mode || !strcmp(mode, "off") || to <= from)
        return 0;
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return img_error("Could not open '%s': %s", path, strerror(errno));
    int r = 0;
    if (!strcmp(mode, "falloc")) {
        r = posix_fallocate(fd, (off_t)from, (off_t)(to - from));
    } else {   /* full: zeros written, as qemu does */
        static const uint8_t zeros[64 * 1024];
        for (uint64_t off = from; off < to && !r; off += sizeof(zeros)) {
            size_t n = (size_t)MIN(sizeof(zeros), to - off);
            if (pwrite(fd, zeros, n, (off_t)off) != (ssize_t)n)
                r = errno ? errno : EIO;
        }
        if (!r && fsync(fd) < 0)
            r = errno;
    }
    if (r)
        return img_error("Could not preallocate '%s': %s", path, strerror(r));
    return 0;
}

int img_preallocate_blk(struct blk *b, uint64_t from, uint64_t to)
{
    static const uint8_t zeros[256 * 1024];
    for (uint64_t off = from; off < to; off += sizeof(zeros))
        if (blk_pwrite(b, off, zeros, (size_t)MIN(sizeof(zeros), to - off)) < 0)
            return img_block_error("Could not preallocate");
    return 0;
}

int img_format(const char *name, enum blk_format *out)
{
    *out = BLK_FMT_PROBE;
    if (!name)
        return 0;
    if (blk_parse_format(name, out) < 0)
        return img_error("Unknown file format '%s'", name);
    return 0;
}

int img_open(const char *path, const char *fmt, int flags, struct blk **out)
{
    enum blk_format f;
    if (img_format(fmt, &f))
        return 1;
    if (blk_open(path, f, flags, out) < 0)
        return img_error("Could not open '%s': %s", path, err_msg());
    return 0;
}

/* QEMU's path_combine(): a relative backing name is relative to the
 * directory of the image that names it. */
char *img_backing_path(const char *image, const char *backing)
{
    const char *slash = strrchr(image, '/');
    char *out = NULL;
    if (backing[0] == '/' || !slash)
        return strdup(backing);
    if (asprintf(&out, "%.*s/%s", (int)(slash - image + 1) - 1, image, backing) < 0)
        return NULL;
    return out;
}

int img_parse_size(const char *s, uint64_t *out)
{
    static const char units[] = "bkmgtpe";
    const char *p = s;
    char *end;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '+')
        p++;
    if (!isdigit((unsigned char)*p))
        return -EINVAL;   /* no sign, no leading dot */
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    bool hex = v == 0 && (*end == 'x' || *end == 'X');
    if (hex)
        v = strtoull(p, &end, 16);
    if (errno)
        return -ERANGE;
    double frac = 0;
    if (!hex && *end == '.') {   /* "1.5G", "1.k"; no exponent */
        const char *f = end++;
        while (isdigit((unsigned char)*end))
            end++;
        frac = strtod(f, NULL);
    }
    uint64_t mul = 1;
    if (*end) {
        const char *u = strchr(units, tolower((unsigned char)*end));
        if (!u || end[1])
            return -EINVAL;
        mul = 1ULL << (10 * (u - units));
    }
    if (mul == 1 && frac > 0)
        return -EINVAL;   /* fractional bytes */
    if (v > INT64_MAX / mul)
        return -ERANGE;
    uint64_t bytes = v * mul + (uint64_t)(frac * (double)mul);
    if (bytes > INT64_MAX)
        return -ERANGE;
    *out = bytes;
    return 0;
}

void img_size_str(uint64_t v, char *buf, size_t len)
{
    static const char *suffix[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
    double x = (double)v / (1000.0 / 1024.0);
    int i = 0;
    while (i < 6 && x >= (double)(1ULL << (10 * (i + 1))))
        i++;
    snprintf(buf, len, "%0.3g %sB", (double)v / (double)(1ULL << (10 * i)), suffix[i]);
}

/* Cuts the next element off a QemuOpts list in place: up to a single
 * comma, with ",," standing for a comma.  NULL at the end. */
static char *next_opt(char **p)
{
    char *start = *p, *w = start, *r = start;
    if (!start)
        return NULL;
    for (; *r; r++) {
        if (*r == ',' && r[1] != ',')
            break;
        *w++ = *r;
        r += *r == ',';   /* ",," -> "," */
    }
    *p = *r ? r + 1 : NULL;
    *w = '\0';
    return start;
}

int img_parse_opts(char *opts, img_opt_fn fn, void *arg)
{
    if (!*opts || opts[strlen(opts) - 1] == ',')
        return img_error("Invalid option list: %s", opts);
    for (char *p = opts, *kv; (kv = next_opt(&p));) {
        char *eq = strchr(kv, '=');
        if (!strcmp(kv, "help") || !strcmp(kv, "?")) {
            if (fn("help", NULL, arg))
                return 1;
            continue;
        }
        if (!eq)
            return img_error("Invalid parameter '%s'", kv);
        *eq = '\0';
        if (fn(kv, eq + 1, arg))
            return 1;
    }
    return 0;
}

int img_output_format(const char *s)
{
    if (!strcmp(s, "human"))
        return 0;
    if (!strcmp(s, "json"))
        return 1;
    img_error("--output must be used with human or json as argument.");
    return -1;
}

void img_progress(bool enabled, double percent)
{
    if (enabled) {
        printf("    (%.2f/100%%)\r", percent);
        fflush(stdout);
    }
}

/* ---- JSON in qemu-img's layout ---------------------------------------------
 * QEMU's QDict keeps 512 hash buckets (tdb_hash) and iterates them in
 * order, newest entry first within a bucket; its pretty printer indents by
 * four spaces.  Reproducing both makes our text equal to qemu-img's. */

static unsigned qdict_bucket(const char *name)
{
    unsigned value = 0x238F13AFu * (unsigned)strlen(name);
    for (unsigned i = 0; name[i]; i++)
        value = value + ((unsigned)(unsigned char)name[i] << (i * 5 % 24));
    return (1103515243u * value + 12345u) % 512;
}

struct jkey {
    const char *key;
    struct json_object *val;
    unsigned bucket;
    int index;
};

static int jkey_cmp(const void *a, const void *b)
{
    const struct jkey *x = a, *y = b;
    if (x->bucket != y->bucket)
        return x->bucket < y->bucket ? -1 : 1;
    return y->index - x->index;
}

static void indent(FILE *f, int level)
{
    fprintf(f, "\n%*s", level * 4, "");
}

static void json_print_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void json_print(FILE *f, struct json_object *o, int level)
{
    switch (json_object_get_type(o)) {
    case json_type_object: {
        int n = json_object_object_length(o), i = 0;
        struct jkey *keys = calloc((size_t)n + 1, sizeof(*keys));
        if (!keys)
            return;
        json_object_object_foreach(o, k, v) {
            keys[i] = (struct jkey){ k, v, qdict_bucket(k), i };
            i++;
        }
        qsort(keys, (size_t)n, sizeof(*keys), jkey_cmp);
        fputc('{', f);
        for (i = 0; i < n; i++) {
            fputs(i ? "," : "", f);
            indent(f, level + 1);
            json_print_string(f, keys[i].key);
            fputs(": ", f);
            json_print(f, keys[i].val, level + 1);
        }
        if (n)
            indent(f, level);
        fputc('}', f);
        free(keys);
        break;
    }
    case json_type_array: {
        size_t n = json_object_array_length(o);
        fputc('[', f);
        for (size_t i = 0; i < n; i++) {
            fputs(i ? "," : "", f);
            indent(f, level + 1);
            json_print(f, json_object_array_get_idx(o, i), level + 1);
        }
        if (n)
            indent(f, level);
        fputc(']', f);
        break;
    }
    case json_type_string:
        json_print_string(f, json_object_get_string(o));
        break;
    default:
        fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), f);
    }
}

void img_json_print(FILE *f, struct json_object *o)
{
    json_print(f, o, 0);
    fputc('\n', f);
}

int img_open_backing(struct blk *b, const char *image, int flags, struct blk **out, char **path)
{
    struct blk_info info;
    *out = NULL;
    *path = NULL;
    if (blk_get_info(b, &info) < 0)
        return img_error("%s: %s", image, err_msg());
    if (!info.backing_file[0])
        return 0;
    *path = img_backing_path(image, info.backing_file);
    if (!*path)
        return img_error("out of memory");
    if (blk_open(*path, info.backing_format, flags, out) < 0) {
        img_error("Could not open backing file '%s': %s", *path, err_msg());
        free(*path);
        *path = NULL;
        return 1;
    }
    return 0;
}

int img_write_diff(struct blk *dst, uint64_t off, const uint8_t *want, const uint8_t *have,
                   size_t len, uint32_t grain)
{
    for (size_t p = 0, n; p < len; p += n) {
        n = (size_t)MIN(grain - (off + p) % grain, len - p);
        if (!memcmp(want + p, have + p, n))
            continue;
        if (buf_is_zero(want + p, n) && blk_write_zeroes(dst, off + p, n) == 0)
            continue;
        if (blk_pwrite(dst, off + p, want + p, n) < 0)
            return img_block_error("error while writing");
    }
    return 0;
}

int img_chain_load(const char *file, enum blk_format fmt, struct img_chain *c)
{
    memset(c, 0, sizeof(*c));
    c->path[0] = strdup(file);
    c->fmt[0] = fmt;
    if (!c->path[0])
        return img_error("out of memory");
    for (c->n = 1; c->n <= BLK_MAX_BACKING_DEPTH; c->n++) {
        struct blk *lvl;
        struct blk_info info;
        int d = c->n - 1;
        if (blk_open(c->path[d], c->fmt[d], BLK_OPEN_RDONLY | BLK_OPEN_NO_BACKING, &lvl) < 0)
            break;
        int r = blk_get_info(lvl, &info);
        c->fmt[d] = blk_format_of(lvl);
        blk_close(lvl);
        if (r < 0 || !info.backing_file[0])
            break;
        if (!(c->path[d + 1] = img_backing_path(c->path[d], info.backing_file)))
            return img_error("out of memory");
        c->fmt[d + 1] = info.backing_format;
    }
    return 0;
}

void img_chain_free(struct img_chain *c)
{
    for (int d = 0; d <= BLK_MAX_BACKING_DEPTH; d++)
        free(c->path[d]);
}

void img_raw_fds_open(const struct img_chain *c, struct img_raw_fds *r)
{
    for (int d = 0; d <= BLK_MAX_BACKING_DEPTH; d++)
        r->fd[d] = d < c->n && c->fmt[d] == BLK_FMT_RAW ? open(c->path[d], O_RDONLY | O_CLOEXEC) : -1;
}

void img_raw_fds_close(struct img_raw_fds *r)
{
    for (int d = 0; d <= BLK_MAX_BACKING_DEPTH; d++)
        if (r->fd[d] >= 0)
            close(r->fd[d]);
}

/* The status of [off, off + len) of a raw file from its holes. */
static void raw_status(int fd, uint64_t off, uint64_t len, uint64_t *pnum, int *status)
{
    uint64_t end = off + len;
    off_t d = lseek(fd, (off_t)off, SEEK_DATA);
    uint64_t data = d < 0 ? end : MIN((uint64_t)d, end);
    if (data > off) {
        *pnum = data - off;
        *status = BLK_STATUS_ZERO | BLK_STATUS_ALLOCATED | BLK_STATUS_PRESENT;
    } else {
        off_t h = lseek(fd, (off_t)off, SEEK_HOLE);
        uint64_t hole = h < 0 ? end : MIN((uint64_t)h, end);
        *pnum = (hole > off ? hole : end) - off;
        *status = BLK_STATUS_DATA | BLK_STATUS_ALLOCATED | BLK_STATUS_PRESENT;
    }
}

int img_block_status(struct blk *b, const struct img_raw_fds *raw, uint64_t off, uint64_t len,
                     uint64_t *pnum, int *status, uint64_t *host_off, int *depth)
{
    if (raw->fd[0] >= 0) {
        *depth = 0;
        *host_off = off;
        raw_status(raw->fd[0], off, len, pnum, status);
        return 0;
    }
    int r = blk_block_status(b, off, len, pnum, status, host_off, depth);
    /* Data from a raw backing file: its holes read as zeros (at the same
     * offset: raw files map one to one). */
    if (r == 0 && *depth > 0 && *depth <= BLK_MAX_BACKING_DEPTH && raw->fd[*depth] >= 0 &&
        (*status & BLK_STATUS_DATA))
        raw_status(raw->fd[*depth], *host_off, *pnum, pnum, status);
    return r;
}
