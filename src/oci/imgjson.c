/* The JSON documents of an image: an OCI index (index.json or a nested
 * index), an OCI/docker v2 manifest, the image config, and a docker-archive's
 * manifest.json.  Each becomes a plain struct; anything the import relies
 * on is checked here, with the document and field in the message. */
#include "oci/image_internal.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int parse_json(const char *text, size_t len, const char *what, json_type want,
                      json_object **out)
{
    if (len > IMG_JSON_MAX)
        return fail(EFBIG, "%s: larger than %d bytes", what, IMG_JSON_MAX);
    json_tokener *tok = json_tokener_new_ex(32);
    if (!tok)
        return fail(ENOMEM, "out of memory");
    json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = tok->char_offset;
    json_tokener_free(tok);
    for (; o && jerr == json_tokener_success && end < len; end++)
        if (!strchr(" \t\r\n", text[end]))
            jerr = json_tokener_error_parse_unexpected;
    if (!o || jerr != json_tokener_success) {
        json_object_put(o);
        return fail(EINVAL, "%s: not valid JSON: %s", what, jerr == json_tokener_continue
                    ? "unexpected end of input" : json_tokener_error_desc(jerr));
    }
    if (!json_object_is_type(o, want)) {
        json_object_put(o);
        return fail(EINVAL, "%s: must be a JSON %s", what,
                    want == json_type_array ? "array" : "object");
    }
    *out = o;
    return 0;
}

static json_object *spec_member(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

/* A string member: NULL when absent or null; an error if another type. */
static int opt_str(json_object *o, const char *key, const char *what, char **out)
{
    json_object *v = spec_member(o, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_string) ||
        strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
        return fail(EINVAL, "%s.%s: must be a string", what, key);
    *out = strdup(json_object_get_string(v));
    return *out ? 0 : fail(ENOMEM, "out of memory");
}

/* A string array member -> NULL-terminated vector (NULL if absent/null). */
static int opt_strv(json_object *o, const char *key, const char *what, char ***out, size_t *n)
{
    json_object *v = spec_member(o, key);
    *out = NULL;
    if (n)
        *n = 0;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_array))
        return fail(EINVAL, "%s.%s: must be an array of strings", what, key);
    size_t len = json_object_array_length(v);
    char **strv = calloc(len + 1, sizeof(*strv));
    if (!strv)
        return fail(ENOMEM, "out of memory");
    for (size_t i = 0; i < len; i++) {
        json_object *s = json_object_array_get_idx(v, i);
        if (!json_object_is_type(s, json_type_string) ||
            strlen(json_object_get_string(s)) != (size_t)json_object_get_string_len(s) ||
            !(strv[i] = strdup(json_object_get_string(s)))) {
            oci_strv_free(strv);
            return fail(EINVAL, "%s.%s[%zu]: must be a string", what, key, i);
        }
    }
    *out = strv;
    if (n)
        *n = len;
    return 0;
}

int img_parse_digest(const char *s, char hex[IMG_HEX_LEN + 1])
{
    if (strncmp(s, "sha256:", 7) != 0)
        return fail(EINVAL, "digest \"%.80s\": only sha256 digests are supported", s);
    s += 7;
    if (strlen(s) != IMG_HEX_LEN || strspn(s, "0123456789abcdef") != IMG_HEX_LEN)
        return fail(EINVAL, "digest \"sha256:%.80s\": not 64 lower-case hex digits", s);
    memcpy(hex, s, IMG_HEX_LEN + 1);
    return 0;
}

static void desc_free(struct img_desc *d)
{
    free(d->media_type);
    free(d->ref_name);
    memset(d, 0, sizeof(*d));
}

static int parse_desc(json_object *o, const char *what, struct img_desc *d)
{
    memset(d, 0, sizeof(*d));
    char *digest = NULL;
    json_object *size = spec_member(o, "size"), *platform = spec_member(o, "platform");
    int r = json_object_is_type(o, json_type_object) ? 0
            : fail(EINVAL, "%s: must be an object", what);
    if (r == 0)
        r = opt_str(o, "mediaType", what, &d->media_type);
    if (r == 0)
        r = opt_str(o, "digest", what, &digest);
    if (r == 0 && !digest)
        r = fail(EINVAL, "%s.digest: missing", what);
    if (r == 0 && (r = img_parse_digest(digest, d->hex)) < 0)
        r = fail(-r, "%s.digest: %s", what, err_msg());
    if (r == 0 && (!json_object_is_type(size, json_type_int) ||
                   (d->size = json_object_get_int64(size)) < 0))
        r = fail(EINVAL, "%s.size: must be a non-negative integer", what);
    json_object *ann = spec_member(o, "annotations");
    if (r == 0 && ann)
        r = opt_str(ann, "org.opencontainers.image.ref.name", what, &d->ref_name);
    if (r == 0 && platform) {
        json_object *os = spec_member(platform, "os"), *arch = spec_member(platform, "architecture");
        d->other_platform = (os && strcmp(json_object_get_string(os), "linux") != 0) ||
                            (arch && strcmp(json_object_get_string(arch), "amd64") != 0);
    }
    free(digest);
    if (r < 0)
        desc_free(d);
    return r;
}

static int parse_descs(json_object *arr, const char *what, size_t max, struct img_desc **out,
                       size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!json_object_is_type(arr, json_type_array))
        return fail(EINVAL, "%s: must be an array", what);
    size_t len = json_object_array_length(arr);
    if (len > max)
        return fail(EFBIG, "%s: more than %zu entries", what, max);
    struct img_desc *v = calloc(len ? len : 1, sizeof(*v));
    if (!v)
        return fail(ENOMEM, "out of memory");
    for (size_t i = 0; i < len; i++) {
        char where[128];
        snprintf(where, sizeof(where), "%s[%zu]", what, i);
        int r = parse_desc(json_object_array_get_idx(arr, i), where, &v[i]);
        if (r < 0) {
            while (i--)
                desc_free(&v[i]);
            free(v);
            return r;
        }
    }
    *out = v;
    *n = len;
    return 0;
}

int img_parse_index(const char *text, size_t len, const char *what, struct img_index *out)
{
    json_object *o;
    memset(out, 0, sizeof(*out));
    int r = parse_json(text, len, what, json_type_object, &o);
    if (r < 0)
        return r;
    char where[128];
    snprintf(where, sizeof(where), "%s: manifests", what);
    json_object *m = spec_member(o, "manifests");
    r = m ? parse_descs(m, where, 1024, &out->v, &out->n) : fail(EINVAL, "%s: missing", where);
    json_object_put(o);
    return r;
}

void img_index_free(struct img_index *x)
{
    for (size_t i = 0; i < x->n; i++)
        desc_free(&x->v[i]);
    free(x->v);
    memset(x, 0, sizeof(*x));
}

bool img_layer_type_ok(const char *t)
{
    static const char *const ok[] = {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    };
    for (size_t i = 0; t && i < ARRAY_SIZE(ok); i++)
        if (strcmp(t, ok[i]) == 0)
            return true;
    return false;
}

int img_parse_manifest(const char *text, size_t len, const char *what, struct img_manifest *out)
{
    json_object *o;
    memset(out, 0, sizeof(*out));
    int r = parse_json(text, len, what, json_type_object, &o);
    if (r < 0)
        return r;
    char where[160];
    json_object *cfg = spec_member(o, "config"), *layers = spec_member(o, "layers");
    snprintf(where, sizeof(where), "%s: config", what);
    r = cfg ? parse_desc(cfg, where, &out->config) : fail(EINVAL, "%s: missing", where);
    snprintf(where, sizeof(where), "%s: layers", what);
    if (r == 0)
        r = layers ? parse_descs(layers, where, IMG_LAYERS_MAX, &out->layers, &out->nlayers)
                   : fail(EINVAL, "%s: missing", where);
    for (size_t i = 0; r == 0 && i < out->nlayers; i++)
        if (!img_layer_type_ok(out->layers[i].media_type))
            r = fail(ENOTSUP, "%s[%zu].mediaType: \"%s\" is not a layer type corral-oci "
                     "can unpack", where, i, out->layers[i].media_type ?
                     out->layers[i].media_type : "(none)");
    json_object_put(o);
    if (r < 0)
        img_manifest_free(out);
    return r;
}

void img_manifest_free(struct img_manifest *m)
{
    desc_free(&m->config);
    for (size_t i = 0; i < m->nlayers; i++)
        desc_free(&m->layers[i]);
    free(m->layers);
    memset(m, 0, sizeof(*m));
}

int img_parse_config(const char *text, size_t len, const char *what, struct img_config *out)
{
    json_object *o;
    memset(out, 0, sizeof(*out));
    int r = parse_json(text, len, what, json_type_object, &o);
    if (r < 0)
        return r;
    char where[160];
    snprintf(where, sizeof(where), "%s: config", what);
    json_object *c = spec_member(o, "config"), *os = spec_member(o, "os");
    if (os && (!json_object_is_type(os, json_type_string) ||
               strcmp(json_object_get_string(os), "linux") != 0))
        r = fail(ENOTSUP, "%s: os: \"%s\" images cannot run here", what,
                 json_object_get_string(os));
    if (r == 0 && c && !json_object_is_type(c, json_type_object))
        r = fail(EINVAL, "%s: must be an object", where);
    if (r == 0 && c) {
        if ((r = opt_strv(c, "Env", where, &out->env, NULL)) == 0 &&
            (r = opt_strv(c, "Entrypoint", where, &out->entrypoint, NULL)) == 0 &&
            (r = opt_strv(c, "Cmd", where, &out->cmd, NULL)) == 0 &&
            (r = opt_str(c, "WorkingDir", where, &out->workdir)) == 0)
            r = opt_str(c, "User", where, &out->user);
    }
    for (char **s = out->env; r == 0 && s && *s; s++)
        if (!strchr(*s, '=') || **s == '=')
            r = fail(EINVAL, "%s.Env: \"%.80s\" is not NAME=VALUE", where, *s);
    if (r == 0 && out->workdir && out->workdir[0] != '/' && out->workdir[0])
        r = fail(EINVAL, "%s.WorkingDir: \"%.80s\" is not absolute", where, out->workdir);
    json_object *rootfs = spec_member(o, "rootfs");
    char **ids = NULL;
    snprintf(where, sizeof(where), "%s: rootfs", what);
    if (r == 0 && (r = opt_strv(rootfs, "diff_ids", where, &ids, &out->ndiff_ids)) == 0 && !ids)
        r = fail(EINVAL, "%s.diff_ids: missing", where);
    if (r == 0 && out->ndiff_ids > IMG_LAYERS_MAX)
        r = fail(EFBIG, "%s.diff_ids: more than %d layers", where, IMG_LAYERS_MAX);
    if (r == 0 && !(out->diff_ids = calloc(out->ndiff_ids + 1, sizeof(*out->diff_ids))))
        r = fail(ENOMEM, "out of memory");
    for (size_t i = 0; r == 0 && i < out->ndiff_ids; i++)
        if ((r = img_parse_digest(ids[i], out->diff_ids[i])) < 0)
            r = fail(-r, "%s.diff_ids[%zu]: %s", where, i, err_msg());
    oci_strv_free(ids);
    json_object_put(o);
    if (r < 0)
        img_config_free(out);
    return r;
}

void img_config_free(struct img_config *c)
{
    oci_strv_free(c->env);
    oci_strv_free(c->entrypoint);
    oci_strv_free(c->cmd);
    free(c->workdir);
    free(c->user);
    free(c->diff_ids);
    memset(c, 0, sizeof(*c));
}

int img_parse_docker(const char *text, size_t len, struct img_docker **out, size_t *n)
{
    json_object *o;
    *out = NULL;
    *n = 0;
    int r = parse_json(text, len, "manifest.json", json_type_array, &o);
    if (r < 0)
        return r;
    size_t count = json_object_array_length(o);
    struct img_docker *v = count > 256 ? NULL : calloc(count ? count : 1, sizeof(*v));
    if (!v)
        r = fail(count > 256 ? EFBIG : ENOMEM, "manifest.json: %s",
                 count > 256 ? "more than 256 images" : "out of memory");
    for (size_t i = 0; r == 0 && i < count; i++) {
        char where[64];
        snprintf(where, sizeof(where), "manifest.json[%zu]", i);
        json_object *e = json_object_array_get_idx(o, i);
        if (!json_object_is_type(e, json_type_object))
            r = fail(EINVAL, "%s: must be an object", where);
        if (r == 0 && (r = opt_str(e, "Config", where, &v[i].config)) == 0 && !v[i].config)
            r = fail(EINVAL, "%s.Config: missing", where);
        if (r == 0)
            r = opt_strv(e, "RepoTags", where, &v[i].tags, NULL);
        if (r == 0 && !v[i].tags && !(v[i].tags = calloc(1, sizeof(char *))))
            r = fail(ENOMEM, "out of memory");
        if (r == 0 && (r = opt_strv(e, "Layers", where, &v[i].layers, &v[i].nlayers)) == 0 &&
            !v[i].layers)
            r = fail(EINVAL, "%s.Layers: missing", where);
        if (r == 0 && v[i].nlayers > IMG_LAYERS_MAX)
            r = fail(EFBIG, "%s.Layers: more than %d layers", where, IMG_LAYERS_MAX);
    }
    json_object_put(o);
    if (r < 0) {
        img_docker_free(v, count);
        return r;
    }
    *out = v;
    *n = count;
    return 0;
}

void img_docker_free(struct img_docker *d, size_t n)
{
    for (size_t i = 0; d && i < n; i++) {
        free(d[i].config);
        oci_strv_free(d[i].tags);
        oci_strv_free(d[i].layers);
    }
    free(d);
}
