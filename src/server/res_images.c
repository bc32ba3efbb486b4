/* Images, of two types sharing one namespace of names:
 *  - "container": the corral-oci library's content-addressed store (oci.h,
 *    docs/oci-images.md) under STATE/images.  The store itself is the record
 *    (images.json, under its own flock()), so there is no table: an image's
 *    API name NAME is the store's "NAME:latest";
 *  - "vm": boot images (kernel, initrd, command line) in vmimages.c.
 * Imports are operations locked per name ("images/NAME"); a refused import
 * leaves nothing behind (both kinds stage and check everything first). */
#include "server/server.h"
#include "server/usage.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oci/oci.h"
#include "util/util.h"


struct import_job {
    char name[NAME_MAX_LEN + 1];
    char path[1100];             /* a container image's archive or layout; "" for a VM image */
    int path_fd;                 /* ...opened and checked at the request; -1: none */
    struct vmimage_import vm;
    struct principal who;
};

/* The files the request opened: closed once the import is done or refused. */
static void job_close(const struct import_job *j)
{
    const int fds[] = { j->path_fd, j->vm.kernel_fd, j->vm.initrd_fd };
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

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
    json_object_object_add(o, "type", json_object_new_string("container"));
    json_object_object_add(o, "config", json_object_new_string(i->config));
    for (char **l = i->layers; l && *l; l++)
        json_object_array_add(layers, json_object_new_string(*l));
    json_object_object_add(o, "layers", layers);
    return o;
}

/* The container image named NAME (API name), as its view; -ENOENT if absent. */
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

static int by_name(const void *a, const void *b)
{
    return strcmp(json_str(*(struct json_object *const *)a, "name") ?: "",
                  json_str(*(struct json_object *const *)b, "name") ?: "");
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
    vmimages_list(s, list);
    json_object_array_sort(list, by_name);
    return api_sync(out, 200, list);
}

int h_image_get(struct server *s, struct req *r, struct resp *out)
{
    if (!name_valid(r->param[0]))
        return api_error(out, E_BAD_NAME, "'%.64s' is not a valid image name " NAME_RULE, r->param[0]);
    struct json_object *o;
    int rc = find_image(s, r->param[0], &o);
    if (rc == -ENOENT)
        rc = vmimage_find(s, r->param[0], &o);
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
    if (!*j->path)
        return vmimage_import(s, op, &j->vm);
    images_store(s, &st);
    store_name(j->name, name);
    op_progress(op, 10);
    /* The file or directory checked at the request, not whatever the path names now. */
    char src[40];
    snprintf(src, sizeof(src), "/proc/self/fd/%d", j->path_fd);
    int r = oci_image_import(&st, src, name, NULL);
    if (r == 0 && vmimage_find(s, j->name, NULL) == 0) {    /* a VM image took the name meanwhile */
        oci_image_remove(&st, name);
        r = fail(EEXIST, "a VM image named '%s' was imported meanwhile", j->name);
    }
    return r;
}

static void import_done(struct server *s, struct op *op, void *arg, int result)
{
    (void)op;
    struct import_job *j = arg;
    job_close(j);
    if (result < 0)
        return;
    struct json_object *d = json_object_new_object();
    if (*j->path) {
        json_object_object_add(d, "path", json_object_new_string(j->path));
    } else {
        json_object_object_add(d, "type", json_object_new_string("vm"));
        json_object_object_add(d, "kernel", json_object_new_string(j->vm.kernel));
        json_object_object_add(d, "initrd", *j->vm.initrd ? json_object_new_string(j->vm.initrd) : NULL);
    }
    events_record(s->events, &j->who, "image.import", j->name, d);
    json_object_put(d);
}

/* 0 if NAME is free for a new image of either type, else a 4xx. */
static int check_new_name(struct server *s, const char *name, struct resp *out)
{
    if (!name_valid(name))
        return api_error(out, E_BAD_NAME, "'%.64s' is not a valid image name " NAME_RULE, name);
    if (images_exists(s, name) || vmimage_find(s, name, NULL) == 0)
        return api_error(out, E_EXISTS, "image '%s' already exists: delete it first", name);
    return 0;
}

/* A VM image's files (opened) and command line, checked, into j->vm. */
static int vm_import_args(struct server *s, struct req *r, struct import_job *j, struct resp *out)
{
    const char *kernel = NULL, *initrd = NULL, *cmdline = "", *read_by_caller;    /* name, type */
    const struct field f[] = {
        { "name", F_STRING, true, &read_by_caller, NULL }, { "type", F_STRING, true, &read_by_caller, NULL },
        { "kernel", F_STRING, true, &kernel, NULL }, { "initrd", F_STRING, false, &initrd, NULL },
        { "cmdline", F_STRING, false, &cmdline, NULL },
    };
    int rc = api_fields(r, f, ARRAY_SIZE(f), out);
    if (rc)
        return rc;
    if ((rc = boot_file_open(s, "kernel", kernel, &j->vm.kernel_fd)) < 0 ||
        (initrd && (rc = boot_file_open(s, "initrd", initrd, &j->vm.initrd_fd)) < 0))
        return api_field_errno(out, rc);
    if ((rc = vmimage_check_kernel(j->vm.kernel_fd, kernel, out)) ||
        (rc = boot_cmdline_check("cmdline", cmdline, out)))
        return rc;
    snprintf(j->vm.kernel, sizeof(j->vm.kernel), "%s", kernel);
    snprintf(j->vm.initrd, sizeof(j->vm.initrd), "%s", initrd ?: "");
    snprintf(j->vm.cmdline, sizeof(j->vm.cmdline), "%s", cmdline);
    return 0;
}

/* A container image's archive or layout, opened and checked, into j->path. */
static int ct_import_args(struct server *s, struct req *r, struct import_job *j, struct resp *out)
{
    const char *path = NULL, *read_by_caller;    /* name, type */
    const struct field f[] = { { "name", F_STRING, true, &read_by_caller, NULL },
                               { "type", F_STRING, false, &read_by_caller, NULL },
                               { "path", F_STRING, true, &path, NULL } };
    int rc = api_fields(r, f, ARRAY_SIZE(f), out);
    if (rc)
        return rc;
    if ((rc = hostpath_open(&s->paths, "path", path, true, &j->path_fd)) < 0)
        return api_field_errno(out, rc);
    snprintf(j->path, sizeof(j->path), "%s", path);
    return 0;
}

int h_images_import(struct server *s, struct req *r, struct resp *out)
{
    const char *name = json_str(r->json, "name"), *type = json_str(r->json, "type") ?: "container";
    if (strcmp(type, "container") && strcmp(type, "vm"))
        return api_error(out, E_BAD_FIELD, "type is \"container\" (an OCI image: give path) or \"vm\" (a boot "
                         "image: give kernel, and optionally initrd and cmdline)");
    struct import_job *j = calloc(1, sizeof(*j));
    if (!j)
        return api_error(out, E_INTERNAL, "out of memory");
    j->path_fd = j->vm.kernel_fd = j->vm.initrd_fd = -1;
    int rc = strcmp(type, "vm") ? ct_import_args(s, r, j, out) : vm_import_args(s, r, j, out);
    if (rc || (rc = check_new_name(s, name, out))) {
        job_close(j);
        free(j);
        return rc;
    }
    snprintf(j->name, sizeof(j->name), "%s", name);
    snprintf(j->vm.name, sizeof(j->vm.name), "%s", name);
    j->who = r->who;
    char key[80];
    snprintf(key, sizeof(key), "images/%s", name);
    /* A refused submit frees j without calling import_done. */
    struct import_job files = { .path_fd = j->path_fd, .vm = { .kernel_fd = j->vm.kernel_fd,
                                                               .initrd_fd = j->vm.initrd_fd } };
    rc = ops_submit_on(s->ops, &r->who, key, "image.import", import_run, import_done, j, out);
    if (rc != 202)
        job_close(&files);
    return rc;
}

int h_image_delete(struct server *s, struct req *r, struct resp *out)
{
    if (!name_valid(r->param[0]))
        return api_error(out, E_BAD_NAME, "'%.64s' is not a valid image name " NAME_RULE, r->param[0]);
    char key[80], holder[40], user[NAME_MAX_LEN + 1];
    snprintf(key, sizeof(key), "images/%s", r->param[0]);
    if (ops_busy(s->ops, key, holder, sizeof(holder)))
        return api_error(out, E_BUSY, "operation %s is importing image '%s': wait for it and retry", holder,
                         r->param[0]);
    if (vmimage_find(s, r->param[0], NULL) == 0) {
        if (usage_vm_image(s, r->param[0], user, sizeof(user)))
            return api_error(out, E_CONFLICT, "VM '%s' boots image '%s': change its boot or delete it first", user,
                             r->param[0]);
        int rc = vmimage_remove(s, r->param[0]);
        if (rc < 0)
            return api_errno(out, rc);
        events_record(s->events, &r->who, "image.delete", r->param[0], NULL);
        return api_sync(out, 200, NULL);
    }
    if (!images_exists(s, r->param[0]))
        return api_error(out, E_NOT_FOUND, "no image '%s'", r->param[0]);
    if (usage_ct_image(s, r->param[0], user, sizeof(user)))
        return api_error(out, E_CONFLICT, "container '%s' uses image '%s': delete it first", user, r->param[0]);
    struct oci_store st;
    char name[NAME_MAX_LEN + 8];
    images_store(s, &st);
    store_name(r->param[0], name);
    int rc = oci_image_remove(&st, name);
    if (rc < 0)
        return api_errno(out, rc);
    events_record(s->events, &r->who, "image.delete", r->param[0], NULL);
    return api_sync(out, 200, NULL);
}
