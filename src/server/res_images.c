/* Container images: the corral-oci library's content-addressed store
 * (oci.h, docs/oci-images.md) under STATE/images.  The store itself is the
 * record (images.json, under its own flock()), so there is no table: an
 * image's API name NAME is the store's "NAME:latest".  Imports are
 * operations locked per name ("images/NAME"); a refused archive leaves
 * nothing behind (the library stages and checks everything first). */
#include "server/server.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "oci/oci.h"
#include "util/util.h"

#define NAME_RULE "(^[a-z0-9][a-z0-9-]{0,62}$)"

struct import_job {
    char name[NAME_MAX_LEN + 1];
    char path[1100];
    struct principal who;
};

void images_store(struct server *s, struct oci_store *st)
{
    memset(st, 0, sizeof(*st));
    st->path = s->images_dir;
}

/* The store's name of API name NAME. */
static void store_name(const char *name, char out[NAME_MAX_LEN + 8])
{
    snprintf(out, NAME_MAX_LEN + 8, "%s:latest", name);
}

static struct json_object *image_view(const struct oci_image_info *i)
{
    struct json_object *o = json_object_new_object(), *layers = json_object_new_array();
    size_t n = strlen(i->name);
    bool latest = n > 7 && !strcmp(i->name + n - 7, ":latest");
    json_object_object_add(o, "name", json_object_new_string_len(i->name, (int)(latest ? n - 7 : n)));
    json_object_object_add(o, "config", json_object_new_string(i->config));
    for (char **l = i->layers; l && *l; l++)
        json_object_array_add(layers, json_object_new_string(*l));
    json_object_object_add(o, "layers", layers);
    return o;
}

/* The image named NAME (API name), as its view; -ENOENT if absent. */
static int find_image(struct server *s, const char *name, struct json_object **out)
{
    struct oci_store st;
    struct oci_image_info *v;
    size_t n;
    char want[NAME_MAX_LEN + 8];
    images_store(s, &st);
    store_name(name, want);
    int r = oci_image_list(&st, &v, &n);
    if (r < 0)
        return r;
    r = -ENOENT;
    for (size_t i = 0; i < n && r; i++)
        if (!strcmp(v[i].name, want)) {
            *out = image_view(&v[i]);
            r = 0;
        }
    oci_image_info_free(v, n);
    return r;
}

bool images_exists(struct server *s, const char *name)
{
    struct json_object *o;
    if (find_image(s, name, &o) < 0)
        return false;
    json_object_put(o);
    return true;
}

int h_images_list(struct server *s, struct req *r, struct resp *out)
{
    (void)r;
    struct oci_store st;
    struct oci_image_info *v;
    size_t n;
    images_store(s, &st);
    int rc = oci_image_list(&st, &v, &n);
    if (rc < 0)
        return api_errno(out, rc);
    struct json_object *list = json_object_new_array();
    for (size_t i = 0; i < n; i++)
        json_object_array_add(list, image_view(&v[i]));
    oci_image_info_free(v, n);
    return api_sync(out, 200, list);
}

int h_image_get(struct server *s, struct req *r, struct resp *out)
{
    if (!name_valid(r->param[0]))
        return api_error(out, E_BAD_NAME, "'%.64s' is not a valid image name " NAME_RULE, r->param[0]);
    struct json_object *o;
    int rc = find_image(s, r->param[0], &o);
    if (rc == -ENOENT)
        return api_error(out, E_NOT_FOUND, "no image '%s'", r->param[0]);
    if (rc < 0)
        return api_errno(out, rc);
    api_etag(o, out->etag);
    return api_sync(out, 200, o);
}

static int import_run(struct server *s, struct op *op, void *arg)
{
    struct import_job *j = arg;
    struct oci_store st;
    char name[NAME_MAX_LEN + 8];
    images_store(s, &st);
    store_name(j->name, name);
    op_progress(op, 10);
    return oci_image_import(&st, j->path, name, NULL);
}

static void import_done(struct server *s, struct op *op, void *arg, int result)
{
    (void)op;
    struct import_job *j = arg;
    if (result < 0)
        return;
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "path", json_object_new_string(j->path));
    server_changed(s, &j->who, "image.import", j->name, d);
    json_object_put(d);
}

int h_images_import(struct server *s, struct req *r, struct resp *out)
{
    const char *name = NULL, *path = NULL;
    const struct field f[] = { { "name", F_STRING, true, &name, NULL }, { "path", F_STRING, true, &path, NULL } };
    int rc = api_fields(r, f, ARRAY_SIZE(f), out);
    if (rc)
        return rc;
    if (!name_valid(name))
        return api_error(out, E_BAD_NAME, "'%.64s' is not a valid image name " NAME_RULE, name);
    struct stat sb;
    if (!path_valid(path))
        return api_error(out, E_BAD_FIELD, "path must be an absolute path of at most 1024 bytes without '.', "
                         "'..' or empty components");
    if (stat(path, &sb) < 0 || !(S_ISDIR(sb.st_mode) || S_ISREG(sb.st_mode)))
        return api_error(out, E_BAD_FIELD, "path %s is not an OCI layout directory or an archive file on the "
                         "host", path);
    if (images_exists(s, name))
        return api_error(out, E_EXISTS, "image '%s' already exists: delete it first", name);
    struct import_job *j = calloc(1, sizeof(*j));
    if (!j)
        return api_error(out, E_INTERNAL, "out of memory");
    snprintf(j->name, sizeof(j->name), "%s", name);
    snprintf(j->path, sizeof(j->path), "%s", path);
    j->who = r->who;
    char lock[80], url[128];
    snprintf(lock, sizeof(lock), "images/%s", name);
    snprintf(url, sizeof(url), API_PREFIX "/images/%s", name);
    struct json_object *res = json_object_new_array();
    json_object_array_add(res, json_object_new_string(url));
    struct op_spec spec = { .kind = "image.import", .locks = { lock }, .fn = import_run, .done = import_done,
                            .arg = j, .resources = res };
    rc = ops_submit(s, &r->who, &spec, out);
    json_object_put(res);
    return rc;
}

int h_image_delete(struct server *s, struct req *r, struct resp *out)
{
    if (!name_valid(r->param[0]))
        return api_error(out, E_BAD_NAME, "'%.64s' is not a valid image name " NAME_RULE, r->param[0]);
    char key[80], holder[40], user[NAME_MAX_LEN + 1];
    snprintf(key, sizeof(key), "images/%s", r->param[0]);
    if (ops_busy(s, key, holder, sizeof(holder)))
        return api_error(out, E_BUSY, "operation %s is importing image '%s': wait for it and retry", holder,
                         r->param[0]);
    if (!images_exists(s, r->param[0]))
        return api_error(out, E_NOT_FOUND, "no image '%s'", r->param[0]);
    if (containers_using_image(s, r->param[0], user, sizeof(user)))
        return api_error(out, E_CONFLICT, "container '%s' uses image '%s': delete it first", user, r->param[0]);
    struct oci_store st;
    char name[NAME_MAX_LEN + 8];
    images_store(s, &st);
    store_name(r->param[0], name);
    int rc = oci_image_remove(&st, name);
    if (rc < 0)
        return api_errno(out, rc);
    server_changed(s, &r->who, "image.delete", r->param[0], NULL);
    return api_sync(out, 200, NULL);
}
