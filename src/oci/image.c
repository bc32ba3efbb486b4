/* The image store: import, list, remove (see oci.h's "images" block).
 *
 * An import stages everything under STORE/tmp and only then moves layers
 * into STORE/layers/DIFF_ID, writes the config blob and replaces
 * images.json, so a rejected archive leaves nothing behind.  An archive
 * given as a file is first unpacked (as an archive: regular files, dirs and
 * symlinks only) into the staging directory; from then on OCI layouts and
 * docker archives are read from a directory, every path inside it opened
 * with RESOLVE_IN_ROOT, so neither a symlink in the archive nor a name in
 * its JSON can reach outside it.  OCI blobs are checked against their
 * descriptors' size and sha256 before use; every layer's uncompressed
 * stream is checked against the config's diff_id while it is unpacked. */
#include "oci/image_internal.h"
#include "oci/oci_internal.h"
#include "util/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#define DEFAULT_MAX_SIZE (16 * GiB)
#define DEFAULT_MAX_ENTRIES 1000000
#define MAX_NESTING 3

/* ---- the store directory ---- */

static int mkdir_p(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return fail(ENAMETOOLONG, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p && *p != '/')
            continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return fail(errno, "%s: %s", buf, strerror(errno));
        if (!(*p = c))
            return 0;
    }
}

int store_open(const struct oci_store *st, int op)
{
    const char *p = st->path ? st->path : OCI_DEFAULT_STORE;
    if (p[0] != '/')
        return fail(EINVAL, "image store %s: must be an absolute path", p);
    if (strpbrk(p, ",:\\"))
        return fail(EINVAL, "image store %s: ',', ':' and '\\' cannot appear in overlay "
                    "mount options", p);
    int r = mkdir_p(p);
    if (r < 0)
        return fail(-r, "image store: %s", err_msg());
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || flock(fd, op) < 0) {
        r = fail(errno, "image store %s: %s", p, strerror(errno));
        if (fd >= 0)
            close(fd);
        return r;
    }
    static const char *const dirs[] = { "blobs", "blobs/sha256", "layers", "tmp" };
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
        if (mkdirat(fd, dirs[i], 0700) < 0 && errno != EEXIST) {
            r = fail(errno, "image store %s/%s: %s", p, dirs[i], strerror(errno));
            close(fd);
            return r;
        }
    return fd;
}

static int read_at(int dirfd, const char *rel, bool in_root, const char *what, char **text,
                   size_t *len)
{
    _cleanup_close_ int fd = in_root ? openat2_in_root(dirfd, rel, O_RDONLY)
                                     : openat(dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return fail(errno, "%s: %s", what,
                    errno == ENOENT ? "missing from the archive" : strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return fail(EINVAL, "%s: not a regular file", what);
    if (st.st_size > IMG_JSON_MAX)
        return fail(EFBIG, "%s: larger than %d bytes", what, IMG_JSON_MAX);
    *text = malloc((size_t)st.st_size + 1);
    if (!*text)
        return fail(ENOMEM, "out of memory");
    ssize_t n = read_full(fd, *text, (size_t)st.st_size);
    if (n != st.st_size) {
        free(*text);
        return fail(EIO, "%s: short read", what);
    }
    (*text)[n] = 0;
    *len = (size_t)n;
    return 0;
}

/* images.json: {"images": [{"name", "config", "layers": [...]}]} */
int store_load(int sfd, struct oci_image_info **out, size_t *n)
{
    char *text;
    size_t len;
    *out = NULL;
    *n = 0;
    if (faccessat(sfd, "images.json", F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
        return 0;
    int r = read_at(sfd, "images.json", false, "images.json", &text, &len);
    if (r < 0)
        return r;
    json_object *o = json_tokener_parse(text), *arr = NULL;
    free(text);
    size_t count = 0;
    if (!json_object_object_get_ex(o, "images", &arr) ||
        !json_object_is_type(arr, json_type_array))
        r = fail(EINVAL, "images.json: corrupt (no images array)");
    else
        count = json_object_array_length(arr);
    struct oci_image_info *v = calloc(count + 1, sizeof(*v));
    if (r == 0 && !v)
        r = fail(ENOMEM, "out of memory");
    for (size_t i = 0; r == 0 && i < count; i++) {
        json_object *e = json_object_array_get_idx(arr, i), *name, *cfg, *layers;
        char hex[IMG_HEX_LEN + 1];
        if (!json_object_object_get_ex(e, "name", &name) ||
            !json_object_object_get_ex(e, "config", &cfg) ||
            !json_object_object_get_ex(e, "layers", &layers) ||
            !json_object_is_type(layers, json_type_array) ||
            img_parse_digest(json_object_get_string(cfg), hex) < 0) {
            r = fail(EINVAL, "images.json: corrupt entry %zu", i);
            break;
        }
        size_t nl = json_object_array_length(layers);
        v[i].name = strdup(json_object_get_string(name));
        v[i].config = strdup(json_object_get_string(cfg));
        v[i].layers = calloc(nl + 1, sizeof(char *));
        if (!v[i].name || !v[i].config || !v[i].layers)
            r = fail(ENOMEM, "out of memory");
        for (size_t j = 0; r == 0 && j < nl; j++) {
            const char *d = json_object_get_string(json_object_array_get_idx(layers, j));
            if (!d || img_parse_digest(d, hex) < 0)
                r = fail(EINVAL, "images.json: corrupt entry %zu", i);
            else if (!(v[i].layers[j] = strdup(d)))
                r = fail(ENOMEM, "out of memory");
        }
    }
    json_object_put(o);
    if (r < 0) {
        oci_image_info_free(v, count);
        return r;
    }
    *out = v;
    *n = count;
    return 0;
}

static int store_save(int sfd, const struct oci_image_info *v, size_t n)
{
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    json_object_object_add(o, "images", arr);
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_new_object(), *l = json_object_new_array();
        json_object_object_add(e, "name", json_object_new_string(v[i].name));
        json_object_object_add(e, "config", json_object_new_string(v[i].config));
        for (char **d = v[i].layers; *d; d++)
            json_object_array_add(l, json_object_new_string(*d));
        json_object_object_add(e, "layers", l);
        json_object_array_add(arr, e);
    }
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
    int r = 0, fd = openat(sfd, "images.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                           0600);
    if (fd < 0 || write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0 ||
        renameat(sfd, "images.json.tmp", sfd, "images.json") < 0)
        r = fail(errno, "images.json: %s", strerror(errno));
    if (fd >= 0)
        close(fd);
    json_object_put(o);
    return r;
}

int store_lookup(int sfd, const char *name, struct oci_image_info *out)
{
    struct oci_image_info *v;
    size_t n;
    int r = store_load(sfd, &v, &n);
    if (r < 0)
        return r;
    r = fail(ENOENT, "image \"%s\" is not in the store", name);
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0) {
            *out = v[i];
            memset(&v[i], 0, sizeof(v[i]));
            r = 0;
            break;
        }
    oci_image_info_free(v, n);
    return r;
}

void oci_image_info_free(struct oci_image_info *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].name);
        free(v[i].config);
        oci_strv_free(v[i].layers);
    }
    free(v);
}

/* "busybox" -> "busybox:latest"; printable, no quotes, at most 255 bytes. */
int img_norm_name(const char *in, char *out, size_t len)
{
    size_t l = strlen(in);
    if (l == 0 || l > 255)
        return fail(EINVAL, "image name \"%.80s\": must be 1 to 255 characters", in);
    for (const char *p = in; *p; p++)
        if (!isgraph((unsigned char)*p) || *p == '"' || *p == '\\')
            return fail(EINVAL, "image name \"%.80s\": invalid character", in);
    const char *last = strrchr(in, '/') ? strrchr(in, '/') + 1 : in;
    snprintf(out, len, "%s%s", in, strchr(last, ':') || strchr(in, '@') ? "" : ":latest");
    return 0;
}

/* ---- reading an OCI layout or a docker archive ---- */

struct pending {
    char **names;               /* NULL-terminated, normalised */
    char config_hex[IMG_HEX_LEN + 1];
    char *config_text;
    size_t config_len;
    struct img_config cfg;
    char **layer_paths;         /* inside the source directory */
    bool docker;                /* no blob digests: layers checked by diff_id only */
};

static void pending_clear(struct pending *p)
{
    oci_strv_free(p->names);
    free(p->config_text);
    img_config_free(&p->cfg);
    oci_strv_free(p->layer_paths);
    memset(p, 0, sizeof(*p));
}

static void pending_free(struct pending *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++)
        pending_clear(&p[i]);
    free(p);
}

static int add_pending(struct pending **v, size_t *n, struct pending *p)
{
    if (*n >= 256)
        return fail(EFBIG, "more than 256 images in one archive");
    struct pending *nv = realloc(*v, (*n + 1) * sizeof(*nv));
    if (!nv)
        return fail(ENOMEM, "out of memory");
    nv[(*n)++] = *p;
    *v = nv;
    return 0;
}

static char **strv_new(size_t n)
{
    return calloc(n + 1, sizeof(char *));
}

/* Checks a blob's size and digest against its descriptor. */
static int verify_blob(int srcfd, const struct img_desc *d, const char *what)
{
    char path[100], hex[IMG_HEX_LEN + 1];
    snprintf(path, sizeof(path), "blobs/sha256/%s", d->hex);
    _cleanup_close_ int fd = openat2_in_root(srcfd, path, O_RDONLY);
    struct stat st;
    uint64_t size;
    if (fd < 0)
        return fail(errno, "%s: blob sha256:%s: %s", what, d->hex,
                    errno == ENOENT ? "missing from the archive" : strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return fail(EINVAL, "%s: blob sha256:%s: not a regular file", what, d->hex);
    if (st.st_size != d->size)
        return fail(EINVAL, "%s: blob sha256:%s: size is %lld bytes, the descriptor says %lld",
                    what, d->hex, (long long)st.st_size, (long long)d->size);
    int r = sha256_fd(fd, hex, &size);
    if (r < 0)
        return fail(-r, "%s: blob sha256:%s: %s", what, d->hex, err_msg());
    if (strcmp(hex, d->hex) != 0)
        return fail(EINVAL, "%s: blob sha256:%s: digest mismatch (the content is sha256:%s)",
                    what, d->hex, hex);
    return 0;
}

static int read_blob(int srcfd, const struct img_desc *d, const char *what, char **text,
                     size_t *len)
{
    char path[100];
    int r = verify_blob(srcfd, d, what);
    snprintf(path, sizeof(path), "blobs/sha256/%s", d->hex);
    return r < 0 ? r : read_at(srcfd, path, true, what, text, len);
}

static int config_layers_match(const struct pending *p, size_t nlayers, const char *what)
{
    if (p->cfg.ndiff_ids != nlayers)
        return fail(EINVAL, "%s: the config lists %zu diff_ids for %zu layers", what,
                    p->cfg.ndiff_ids, nlayers);
    return 0;
}

static int oci_manifest(int srcfd, const struct img_desc *d, struct pending **v, size_t *n)
{
    char what[120], *text = NULL;
    size_t len;
    struct img_manifest m;
    struct pending p = { 0 };
    snprintf(what, sizeof(what), "manifest sha256:%.12s", d->hex);
    int r = read_blob(srcfd, d, what, &text, &len);
    if (r < 0)
        return r;
    r = img_parse_manifest(text, len, what, &m);
    free(text);
    if (r < 0)
        return r;
    memcpy(p.config_hex, m.config.hex, sizeof(p.config_hex));
    if ((r = read_blob(srcfd, &m.config, what, &p.config_text, &p.config_len)) == 0 &&
        (r = img_parse_config(p.config_text, p.config_len, "image config", &p.cfg)) == 0)
        r = config_layers_match(&p, m.nlayers, what);
    if (r == 0 && (!(p.names = strv_new(1)) || !(p.layer_paths = strv_new(m.nlayers))))
        r = fail(ENOMEM, "out of memory");
    if (r == 0 && d->ref_name && !(p.names[0] = strdup(d->ref_name)))
        r = fail(ENOMEM, "out of memory");
    for (size_t i = 0; r == 0 && i < m.nlayers; i++) {
        char lwhat[160];
        snprintf(lwhat, sizeof(lwhat), "%s: layer %zu", what, i);
        if ((r = verify_blob(srcfd, &m.layers[i], lwhat)) == 0 &&
            asprintf(&p.layer_paths[i], "blobs/sha256/%s", m.layers[i].hex) < 0)
            r = fail(ENOMEM, "out of memory");
    }
    img_manifest_free(&m);
    if (r == 0)
        r = add_pending(v, n, &p);
    if (r < 0)
        pending_clear(&p);
    return r;
}

static bool is_index_type(const char *t)
{
    return t && (strcmp(t, "application/vnd.oci.image.index.v1+json") == 0 ||
                 strcmp(t, "application/vnd.docker.distribution.manifest.list.v2+json") == 0);
}

static int oci_index(int srcfd, const char *text, size_t len, const char *what, int depth,
                     struct pending **v, size_t *n)
{
    struct img_index x;
    int r = img_parse_index(text, len, what, &x);
    for (size_t i = 0; r == 0 && i < x.n; i++) {
        const struct img_desc *d = &x.v[i];
        if (d->other_platform)
            continue;
        if (is_index_type(d->media_type)) {
            char *sub, swhat[100];
            size_t slen;
            snprintf(swhat, sizeof(swhat), "index sha256:%.12s", d->hex);
            if (depth >= MAX_NESTING)
                r = fail(EINVAL, "%s: indexes nested more than %d deep", swhat, MAX_NESTING);
            else if ((r = read_blob(srcfd, d, swhat, &sub, &slen)) == 0) {
                r = oci_index(srcfd, sub, slen, swhat, depth + 1, v, n);
                free(sub);
            }
        } else {
            r = oci_manifest(srcfd, d, v, n);
        }
    }
    img_index_free(&x);
    return r;
}

static int docker_archive(int srcfd, struct pending **v, size_t *n)
{
    char *text;
    size_t len, count;
    struct img_docker *d;
    int r = read_at(srcfd, "manifest.json", true, "manifest.json", &text, &len);
    if (r < 0)
        return r;
    r = img_parse_docker(text, len, &d, &count);
    free(text);
    for (size_t i = 0; r == 0 && i < count; i++) {
        struct pending p = { 0 };
        char what[64];
        snprintf(what, sizeof(what), "manifest.json[%zu]", i);
        _cleanup_close_ int fd = openat2_in_root(srcfd, d[i].config, O_RDONLY);
        if (fd < 0)
            r = fail(errno, "%s: config %s: %s", what, d[i].config,
                     errno == ENOENT ? "missing from the archive" : strerror(errno));
        if (r == 0 && (r = sha256_fd(fd, p.config_hex, NULL)) < 0)
            r = fail(-r, "%s: config %s: %s", what, d[i].config, err_msg());
        /* docker names the config after its digest: hold it to that. */
        const char *base = strrchr(d[i].config, '/') ? strrchr(d[i].config, '/') + 1
                                                     : d[i].config;
        if (r == 0 && strlen(base) == IMG_HEX_LEN + 5 && strcmp(base + IMG_HEX_LEN, ".json") == 0 &&
            strspn(base, "0123456789abcdef") == IMG_HEX_LEN &&
            strncmp(base, p.config_hex, IMG_HEX_LEN) != 0)
            r = fail(EINVAL, "%s: config %s: digest mismatch (the content is sha256:%s)", what,
                     d[i].config, p.config_hex);
        if (r == 0 && (r = read_at(srcfd, d[i].config, true, what, &p.config_text,
                                   &p.config_len)) == 0 &&
            (r = img_parse_config(p.config_text, p.config_len, "image config", &p.cfg)) == 0)
            r = config_layers_match(&p, d[i].nlayers, what);
        if (r == 0) {
            p.names = d[i].tags;
            p.layer_paths = d[i].layers;
            p.docker = true;
            d[i].tags = d[i].layers = NULL;
            r = add_pending(v, n, &p);
        }
        if (r < 0)
            pending_clear(&p);
    }
    img_docker_free(d, count);
    return r;
}

/* Fills *v from an OCI layout or a docker archive in srcfd and settles the
 * names (override, normalised, at least one each). */
static int collect(int srcfd, const char *override, struct pending **v, size_t *n)
{
    int r;
    if (faccessat(srcfd, "index.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
        char *text;
        size_t len;
        if ((r = read_at(srcfd, "index.json", true, "index.json", &text, &len)) < 0)
            return r;
        r = oci_index(srcfd, text, len, "index.json", 0, v, n);
        free(text);
    } else if (faccessat(srcfd, "manifest.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
        r = docker_archive(srcfd, v, n);
    } else {
        return fail(EINVAL, "neither an OCI image layout (index.json) nor a docker archive "
                    "(manifest.json)");
    }
    if (r == 0 && *n == 0)
        r = fail(ENOENT, "the archive holds no image for linux/amd64");
    if (r == 0 && override && *n != 1)
        r = fail(EINVAL, "--name: the archive holds %zu images; name them in the archive", *n);
    for (size_t i = 0; r == 0 && i < *n; i++) {
        struct pending *p = &(*v)[i];
        if (override) {
            oci_strv_free(p->names);
            if (!(p->names = strv_new(1)) || !(p->names[0] = strdup(override)))
                return fail(ENOMEM, "out of memory");
        }
        if (!p->names[0])
            return fail(EINVAL, "image %zu of the archive has no name: give one with --name", i);
        for (char **s = p->names; *s; s++) {
            char norm[300];
            if ((r = img_norm_name(*s, norm, sizeof(norm))) < 0)
                return r;
            free(*s);
            if (!(*s = strdup(norm)))
                return fail(ENOMEM, "out of memory");
        }
    }
    return r;
}

/* ---- import ---- */

static int ensure_layer(int sfd, int srcfd, const char *rel, const char *diff_id, bool verify,
                        const struct oci_store *st, uint64_t *budget)
{
    char dst[100], tmp[100];
    snprintf(dst, sizeof(dst), "layers/%s", diff_id);
    snprintf(tmp, sizeof(tmp), "tmp/layer-%s", diff_id);
    _cleanup_close_ int src = openat2_in_root(srcfd, rel, O_RDONLY);
    if (src < 0)
        return fail(errno, "layer %s: %s", rel,
                    errno == ENOENT ? "missing from the archive" : strerror(errno));
    struct layer_opts o = { .max_bytes = *budget, .whiteouts = true, .diff_id = diff_id,
                            .max_entries = st->max_entries ? st->max_entries
                                                           : DEFAULT_MAX_ENTRIES };
    uint64_t used = 0;
    int r;
    if (faccessat(sfd, dst, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
        /* Shared with an image imported before.  Without a blob digest
         * (docker archives) the bytes are still held to the diff_id. */
        if (verify && (r = layer_unpack(src, -1, &o, &used)) < 0)
            return fail(-r, "layer sha256:%.12s (%s): %s", diff_id, rel, err_msg());
        return 0;
    }
    if (mkdirat(sfd, tmp, 0755) < 0)
        return fail(errno, "%s: %s", tmp, strerror(errno));
    _cleanup_close_ int root = openat(sfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    r = root < 0 ? fail(errno, "%s: %s", tmp, strerror(errno))
                     : layer_unpack(src, root, &o, &used);
    if (r == 0 && renameat(sfd, tmp, sfd, dst) < 0)
        r = fail(errno, "%s: %s", dst, strerror(errno));
    if (r < 0) {
        r = fail(-r, "layer sha256:%.12s (%s): %s", diff_id, rel, err_msg());
        rm_tree_at(sfd, tmp);
        return r;
    }
    *budget -= used;
    return 0;
}

static int write_blob(int sfd, const char *hex, const char *text, size_t len)
{
    char path[100], tmp[100];
    snprintf(path, sizeof(path), "blobs/sha256/%s", hex);
    snprintf(tmp, sizeof(tmp), "tmp/blob-%s", hex);
    int r = 0, fd = openat(sfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write_all(fd, text, len) < 0 || renameat(sfd, tmp, sfd, path) < 0)
        r = fail(errno, "%s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return r;
}

/* Adds (or re-points) the pending images' names in images.json. */
static int record(int sfd, const struct pending *p, size_t np)
{
    struct oci_image_info *v;
    size_t n;
    int r = store_load(sfd, &v, &n);
    for (size_t i = 0; r == 0 && i < np; i++)
        for (char **name = p[i].names; r == 0 && *name; name++) {
            size_t j = 0;
            while (j < n && strcmp(v[j].name, *name) != 0)
                j++;
            if (j == n) {
                struct oci_image_info *nv = realloc(v, (n + 2) * sizeof(*v));
                if (!nv) {
                    r = fail(ENOMEM, "out of memory");
                    break;
                }
                v = nv;
                memset(&v[n++], 0, sizeof(*v));
            }
            free(v[j].name);
            free(v[j].config);
            oci_strv_free(v[j].layers);
            v[j].name = strdup(*name);
            v[j].layers = strv_new(p[i].cfg.ndiff_ids);
            if (asprintf(&v[j].config, "sha256:%s", p[i].config_hex) < 0)
                v[j].config = NULL;
            if (!v[j].name || !v[j].layers || !v[j].config)
                r = fail(ENOMEM, "out of memory");
            for (size_t k = 0; r == 0 && k < p[i].cfg.ndiff_ids; k++)
                if (asprintf(&v[j].layers[k], "sha256:%s", p[i].cfg.diff_ids[k]) < 0)
                    r = fail(ENOMEM, "out of memory");
        }
    if (r == 0)
        r = store_save(sfd, v, n);
    oci_image_info_free(v, n);
    return r;
}

static int open_source(int sfd, const char *path, const char *work, const struct layer_opts *o,
                       uint64_t *budget)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return fail(errno, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? fail(errno, "%s: %s", path, strerror(errno)) : fd;
    }
    _cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return fail(errno, "%s: %s", path, strerror(errno));
    int fd = openat(sfd, work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    uint64_t used = 0;
    int r = fd < 0 ? fail(errno, "%s: %s", work, strerror(errno)) : layer_unpack(in, fd, o, &used);
    if (r < 0) {
        if (fd >= 0)
            close(fd);
        return fail(-r, "%s: %s", path, err_msg());
    }
    *budget -= used;
    return fd;
}

int oci_image_import(const struct oci_store *st, const char *path, const char *name,
                     char ***names)
{
    char work[64];
    struct pending *p = NULL;
    size_t np = 0;
    uint64_t budget = st->max_size ? st->max_size : DEFAULT_MAX_SIZE;
    struct layer_opts archive = { .max_bytes = budget, .whiteouts = false,
                                  .max_entries = st->max_entries ? st->max_entries
                                                                 : DEFAULT_MAX_ENTRIES };
    int sfd = store_open(st, LOCK_EX), srcfd = -1, r = 0;
    if (sfd < 0)
        return sfd;
    /* Under the exclusive lock anything in tmp/ is a crashed import's. */
    snprintf(work, sizeof(work), "tmp/import-%d", (int)getpid());
    if ((r = rm_tree_at(sfd, "tmp")) == 0 && mkdirat(sfd, "tmp", 0700) < 0)
        r = fail(errno, "tmp: %s", strerror(errno));
    if (r == 0 && mkdirat(sfd, work, 0700) < 0)
        r = fail(errno, "%s: %s", work, strerror(errno));
    if (r == 0 && (srcfd = open_source(sfd, path, work, &archive, &budget)) < 0)
        r = srcfd;
    if (r == 0 && (r = collect(srcfd, name, &p, &np)) < 0)
        r = fail(-r, "%s: %s", path, err_msg());
    for (size_t i = 0; r == 0 && i < np; i++)
        for (size_t j = 0; r == 0 && j < p[i].cfg.ndiff_ids; j++)
            if ((r = ensure_layer(sfd, srcfd, p[i].layer_paths[j], p[i].cfg.diff_ids[j],
                                  p[i].docker, st, &budget)) < 0)
                r = fail(-r, "%s: %s", path, err_msg());
    for (size_t i = 0; r == 0 && i < np; i++)
        r = write_blob(sfd, p[i].config_hex, p[i].config_text, p[i].config_len);
    if (r == 0)
        r = record(sfd, p, np);
    if (r == 0 && names) {
        size_t total = 0, k = 0;
        for (size_t i = 0; i < np; i++)
            for (char **s = p[i].names; *s; s++)
                total++;
        if (!(*names = strv_new(total)))
            r = fail(ENOMEM, "out of memory");
        for (size_t i = 0; r == 0 && i < np; i++)
            for (char **s = p[i].names; *s; s++)
                (*names)[k++] = strdup(*s);
    }
    if (srcfd >= 0)
        close(srcfd);
    pending_free(p, np);
    rm_tree_at(sfd, work);
    /* A failed import may have left layers no image names: drop them. */
    if (r < 0) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        store_gc(sfd);
        r = fail(-r, "%s", msg);
    }
    close(sfd);
    return r;
}

/* ---- list, remove, garbage collection ---- */

int oci_image_list(const struct oci_store *st, struct oci_image_info **out, size_t *n)
{
    int sfd = store_open(st, LOCK_SH);
    if (sfd < 0)
        return sfd;
    int r = store_load(sfd, out, n);
    close(sfd);
    return r;
}

static bool referenced(const struct oci_image_info *v, size_t n, const char *hex, bool layer)
{
    for (size_t i = 0; i < n; i++) {
        if (!layer && strcmp(v[i].config + 7, hex) == 0)
            return true;
        for (char **l = v[i].layers; layer && *l; l++)
            if (strcmp(*l + 7, hex) == 0)
                return true;
    }
    return false;
}

/* Deletes the layers and configs no image names, except layers a mounted
 * overlay still uses (their paths appear in mountinfo). */
int store_path(int sfd, char *out, size_t len)
{
    char link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", sfd);
    ssize_t n = readlink(link, out, len - 1);
    if (n < 0)
        return fail(errno, "cannot resolve the image store's path: %s", strerror(errno));
    if ((size_t)n >= len - 1)
        return fail(ENAMETOOLONG, "the image store's path is too long");
    out[n] = 0;
    return 0;
}

int store_gc(int sfd)
{
    struct oci_image_info *v;
    size_t n;
    uint8_t *mounts = NULL;
    size_t mlen = 0;
    char real[PATH_MAX];
    int r = store_path(sfd, real, sizeof(real));
    if (r < 0 || (r = store_load(sfd, &v, &n)) < 0)
        return r;
    _cleanup_close_ int mfd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (mfd >= 0) {
        mounts = malloc(16 * MiB + 1);
        ssize_t got = mounts ? read_full(mfd, mounts, 16 * MiB) : -1;
        mlen = got > 0 ? (size_t)got : 0;
        if (mounts)
            mounts[mlen] = 0;
    }
    static const char *const dirs[] = { "layers", "blobs/sha256" };
    for (size_t k = 0; k < ARRAY_SIZE(dirs); k++) {
        int dfd = openat(sfd, dirs[k], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d) {
            if (dfd >= 0)
                close(dfd);
            continue;
        }
        for (struct dirent *e; (e = readdir(d));) {
            char needle[PATH_MAX + 300];
            if (e->d_name[0] == '.' || referenced(v, n, e->d_name, k == 0))
                continue;
            /* This store's layer: another store may hold the same digest. */
            snprintf(needle, sizeof(needle), "%s/layers/%s", real, e->d_name);
            if (k == 0 && mounts && strstr((char *)mounts, needle))
                continue;
            int r2 = rm_tree_at(dirfd(d), e->d_name);
            if (r2 < 0 && r == 0)
                r = r2;
        }
        closedir(d);
    }
    free(mounts);
    oci_image_info_free(v, n);
    return r;
}

int oci_image_remove(const struct oci_store *st, const char *name)
{
    char norm[300];
    int r = img_norm_name(name, norm, sizeof(norm));
    if (r < 0)
        return r;
    int sfd = store_open(st, LOCK_EX);
    if (sfd < 0)
        return sfd;
    struct oci_image_info *v;
    size_t n, j = 0;
    if ((r = store_load(sfd, &v, &n)) == 0) {
        while (j < n && strcmp(v[j].name, norm) != 0)
            j++;
        if (j == n) {
            r = fail(ENOENT, "image \"%s\" is not in the store", norm);
        } else {
            struct oci_image_info gone = v[j];
            memmove(&v[j], &v[j + 1], (n - j - 1) * sizeof(*v));
            r = store_save(sfd, v, n - 1);
            v[n - 1] = gone;
        }
        oci_image_info_free(v, n);
    }
    if (r == 0)
        r = store_gc(sfd);
    close(sfd);
    return r;
}
