/* Containers: a row per container (configuration as JSON, the running
 * container's keeper handle), a bundle made from an imported image at
 * create (STATE/containers/ID/bundle: an overlay rootfs and config.json),
 * and the lifecycle through the corral-oci library (ctrun.h).
 *
 * This file is the configuration (list, get, create, PATCH, delete);
 * ct_lifecycle.c runs them.  Like VMs: actions are operations locked per
 * container ("containers/NAME"), the handle is recorded as soon as the
 * container exists, containers_recover() re-adopts live ones after a
 * restart (the console comes back from the keeper) and settles the others,
 * and the VM watcher also notices containers whose init exited.
 *
 * Consoles are keyed "ct/NAME" in console.c and scrollback.c (a name cannot
 * hold '/', so they never meet a VM's). */
#include "server/containers.h"
#include "server/lifecycle.h"

#include <errno.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "oci/oci.h"
#include "util/util.h"

int64_t ct_int(struct json_object *o, const char *key)
{
    return json_object_get_int64(json_object_object_get(o, key));
}

void ct_paths_of(struct server *s, struct json_object *row, struct ct_paths *p)
{
    snprintf(p->dir, sizeof(p->dir), "%s/%lld", s->cts_dir, (long long)ct_int(row, "id"));
    snprintf(p->bundle, sizeof(p->bundle), "%s/bundle", p->dir);
    snprintf(p->oci_root, sizeof(p->oci_root), "%s/oci", s->cts_dir);
    snprintf(p->id, sizeof(p->id), "corrald-%s", json_str(row, "tag"));
    p->w = (struct ct_where){ .oci_root = p->oci_root, .id = p->id, .bundle = p->bundle, .run_dir = p->dir };
}

void ct_handle_of(struct json_object *row, struct ct_handle *h)
{
    h->keeper = (pid_t)ct_int(row, "keeper");
    h->keeper_start = (uint64_t)ct_int(row, "keeper_start");
    h->pid = (pid_t)ct_int(row, "pid");
}

void ct_console_key(const char *name, char key[CONSOLE_KEY_MAX])
{
    snprintf(key, CONSOLE_KEY_MAX, "ct/%s", name);
}

int ct_load(struct server *s, const char *name, struct json_object **out, struct resp *resp)
{
    if (!name_valid(name))
        return api_error(resp, E_BAD_NAME, "'%.64s' is not a valid container name " NAME_RULE, name);
    if (db_row(s->db, out, "SELECT " CT_COLS " FROM containers WHERE name = ?", "s", name) < 0)
        return api_error(resp, E_NOT_FOUND, "no container '%s'", name);
    return 0;
}

/* The configuration the ETag covers: the stored config, name, description. */
static struct json_object *ct_config_view(struct json_object *row)
{
    struct json_object *o = json_tokener_parse(json_str(row, "config"));
    if (!o)
        o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(json_str(row, "name")));
    json_object_object_add(o, "image", json_object_new_string(json_str(row, "image")));
    json_object_object_add(o, "description", json_object_new_string(json_str(row, "description")));
    return o;
}

static struct json_object *ct_view(struct json_object *row, char etag[24])
{
    struct json_object *o = ct_config_view(row);
    if (etag)
        api_etag(o, etag);
    json_object_object_add(o, "state", json_object_new_string(json_str(row, "state")));
    json_object_object_add(o, "pid", ct_int(row, "pid") ? json_object_new_int64(ct_int(row, "pid")) : NULL);
    json_object_object_add(o, "created", json_object_new_int64(ct_int(row, "created")));
    return o;
}

int h_containers_list(struct server *s, struct req *r, struct resp *out)
{
    (void)r;
    return api_list(s, out, "SELECT " CT_COLS " FROM containers ORDER BY name", ct_view);
}

/* A running container's cgroup counters (as a VM's usage: a client graphs
 * their change between reads); nothing when they cannot be read. */
static void add_usage(struct server *s, struct json_object *row, struct json_object *v)
{
    if (!ctrun_live(json_str(row, "state")))
        return;
    struct ct_paths p;
    ct_paths_of(s, row, &p);
    struct oci_ctx ctx = { .root = p.oci_root };
    int64_t cpu_ns, mem;
    if (oci_usage(&ctx, p.id, &cpu_ns, &mem) < 0)
        return;
    struct json_object *u = json_object_new_object();
    json_object_object_add(u, "cpu_seconds", cpu_ns < 0 ? NULL : json_object_new_double((double)cpu_ns / 1e9));
    json_object_object_add(u, "memory_bytes", mem < 0 ? NULL : json_object_new_int64(mem));
    json_object_object_add(v, "usage", u);
}

int h_container_get(struct server *s, struct req *r, struct resp *out)
{
    struct json_object *row;
    int rc = ct_load(s, r->param[0], &row, out);
    if (rc)
        return rc;
    struct json_object *v = ct_view(row, out->etag);
    add_usage(s, row, v);
    json_object_put(row);
    return api_sync(out, 200, v);
}

/* ---- configuration -------------------------------------------------------------------- */

int ct_check_strings(struct json_object *a, const char *what, bool kv, size_t max, struct resp *out)
{
    size_t n = json_object_array_length(a);
    if (n > max)
        return api_error(out, E_BAD_FIELD, "%s has more than %zu entries", what, max);
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(a, i);
        const char *v = json_object_get_string(e);
        if (!json_object_is_type(e, json_type_string) || !*v || strlen(v) > 4096)
            return api_error(out, E_BAD_FIELD, "%s holds strings of 1..4096 bytes", what);
        if (kv && (!strchr(v, '=') || *v == '='))
            return api_error(out, E_BAD_FIELD, "each %s entry is \"NAME=VALUE\", not '%.64s'", what, v);
    }
    return 0;
}

/* The limits (0 = none), checked; present ones are copied onto cfg. */
static int check_limits(const struct req *r, struct json_object *cfg, struct resp *out)
{
    static const struct { const char *key; int64_t max; } lim[] = {
        { "memory_mib", 1024 * 1024 }, { "cpus", 1024 }, { "pids", 4194304 },
    };
    for (size_t i = 0; i < ARRAY_SIZE(lim); i++) {
        struct json_object *v = json_object_object_get(r->json, lim[i].key);
        if (!v)
            continue;
        int64_t n = json_object_get_int64(v);
        if (n < 0 || n > lim[i].max || (!strcmp(lim[i].key, "memory_mib") && n && n < 4))
            return api_error(out, E_BAD_FIELD, "%s must be 0 (no limit) or up to %lld%s", lim[i].key,
                             (long long)lim[i].max, !strcmp(lim[i].key, "memory_mib") ? ", at least 4" : "");
        json_object_object_add(cfg, lim[i].key, json_object_new_int64(n));
    }
    return 0;
}

/* At create: cmd replaces the image's whole command (Entrypoint and Cmd),
 * env is added to the image's. */
static int customize(const char *bundle, struct json_object *cmd, struct json_object *env)
{
    char path[1300];
    snprintf(path, sizeof(path), "%s/config.json", bundle);
    struct json_object *c = json_object_from_file(path), *proc, *penv;
    if (!c || !json_object_object_get_ex(c, "process", &proc)) {
        json_object_put(c);
        return fail(EIO, "%s is unreadable", path);
    }
    if (cmd)
        json_object_object_add(proc, "args", json_object_get(cmd));
    if (!json_object_object_get_ex(proc, "env", &penv))
        json_object_object_add(proc, "env", penv = json_object_new_array());
    for (size_t i = 0; env && i < json_object_array_length(env); i++)
        json_object_array_add(penv, json_object_get(json_object_array_get_idx(env, i)));
    int r = json_object_to_file_ext(path, c, JSON_C_TO_STRING_PLAIN) < 0 ? fail(EIO, "cannot write %s", path) : 0;
    json_object_put(c);
    return r;
}

static int make_bundle(struct server *s, struct json_object *row, struct json_object *cfg)
{
    struct ct_paths p;
    ct_paths_of(s, row, &p);
    if (mkdir(p.dir, 0700) < 0 && errno != EEXIST)
        return fail(errno, "cannot create %s: %m", p.dir);
    struct oci_store st;
    images_store(s, &st);
    char image[NAME_MAX_LEN + 8];
    snprintf(image, sizeof(image), "%s:latest", json_str(row, "image"));
    struct oci_bundle_opts o = { .terminal = true };
    int r = oci_image_bundle(&st, image, p.bundle, &o);
    if (r == 0 && (r = customize(p.bundle, json_object_object_get(cfg, "cmd"), json_object_object_get(cfg, "env"))) < 0)
        oci_bundle_remove(p.bundle);
    if (r < 0)
        rmdir(p.dir);
    return r;
}

int h_containers_create(struct server *s, struct req *r, struct resp *out)
{
    const char *name = NULL, *image = NULL, *desc = "", *network = NULL;
    struct json_object *cmd = NULL, *env = NULL;
    int64_t i;
    const struct field f[] = {
        { "name", F_STRING, true, &name, NULL }, { "image", F_STRING, true, &image, NULL },
        { "description", F_STRING, false, &desc, NULL }, { "cmd", F_ARRAY, false, &cmd, NULL },
        { "env", F_ARRAY, false, &env, NULL }, { "memory_mib", F_INT, false, &i, NULL },
        { "cpus", F_INT, false, &i, NULL }, { "pids", F_INT, false, &i, NULL },
        { "network", F_STRING, false, &network, NULL },
    };
    int rc = api_fields(r, f, ARRAY_SIZE(f), out);
    if (rc)
        return rc;
    if (!name_valid(name))
        return api_error(out, E_BAD_NAME, "'%.64s' is not a valid container name " NAME_RULE, name);
    if (!name_valid(image))
        return api_error(out, E_BAD_FIELD, "'%.64s' is not a valid image name " NAME_RULE, image);
    if ((rc = api_check_description(desc, out)))
        return rc;
    if (cmd && (rc = ct_check_strings(cmd, "cmd", false, 256, out)))
        return rc;
    if (cmd && !json_object_array_length(cmd))
        return api_error(out, E_BAD_FIELD, "cmd needs at least the program");
    if (env && (rc = ct_check_strings(env, "env", true, 256, out)))
        return rc;
    if (!images_exists(s, image) && vmimage_find(s, image, NULL) == 0)
        return api_error(out, E_BAD_FIELD, "image '%s' is a VM boot image: a container needs a container image",
                         image);
    if (!images_exists(s, image))
        return api_error(out, E_BAD_FIELD, "no image '%s': import it first (POST /api/v1/images)", image);
    struct json_object *cfg = json_object_new_object();
    json_object_object_add(cfg, "cmd", cmd ? json_object_get(cmd) : NULL);
    json_object_object_add(cfg, "env", env ? json_object_get(env) : json_object_new_array());
    json_object_object_add(cfg, "memory_mib", json_object_new_int64(0));
    json_object_object_add(cfg, "cpus", json_object_new_int64(0));
    json_object_object_add(cfg, "pids", json_object_new_int64(0));
    json_object_object_add(cfg, "network", network ? json_object_new_string(network) : NULL);
    json_object_object_add(cfg, "address", NULL);
    if ((rc = check_limits(r, cfg, out))) {
        json_object_put(cfg);
        return rc;
    }
    uint8_t rnd[3];
    char tag[8];
    randombytes_buf(rnd, sizeof(rnd));
    snprintf(tag, sizeof(tag), "%02x%02x%02x", rnd[0], rnd[1], rnd[2]);
    if ((rc = db_begin(s->db)) < 0) {
        json_object_put(cfg);
        return api_errno(out, rc);
    }
    if (network) {
        char addr[16] = "", bridge[16];
        if ((rc = network_assign(s, network, NULL, name, addr, bridge, out)) == 0)
            json_object_object_add(cfg, "address", json_object_new_string(addr));
    }
    if (rc == 0) {
        int e = db_exec(s->db, "INSERT INTO containers (name, tag, image, config, description, state, created) "
                        "VALUES (?, ?, ?, ?, ?, 'creating', ?)", "sssssi", name, tag, image,
                        json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PLAIN), desc, (int64_t)time(NULL));
        if (e == -EEXIST)
            rc = api_error(out, E_EXISTS, "container '%s' already exists", name);
        else if (e < 0)
            rc = api_errno(out, e);
    }
    if (rc == 0 && (rc = db_commit(s->db)) < 0)
        rc = api_errno(out, rc);
    else if (rc)
        db_rollback(s->db);
    struct json_object *row = NULL;
    if (rc == 0 && (rc = ct_load(s, name, &row, out)) == 0) {
        int e = make_bundle(s, row, cfg);
        if (e < 0) {
            rc = api_error(out, e == -ENOENT ? E_BAD_FIELD : E_INTERNAL, "cannot make the container's bundle: %s",
                           err_msg());
            db_exec(s->db, "DELETE FROM containers WHERE name = ?", "s", name);
        } else {
            db_exec(s->db, "UPDATE containers SET state = 'stopped' WHERE name = ?", "s", name);
        }
    }
    if (rc == 0) {
        /* env values and arguments may hold secrets: the audit log gets names. */
        struct json_object *d = json_object_new_object(), *names = json_object_new_array();
        for (size_t k = 0; env && k < json_object_array_length(env); k++) {
            const char *kv = json_object_get_string(json_object_array_get_idx(env, k));
            json_object_array_add(names, json_object_new_string_len(kv, (int)strcspn(kv, "=")));
        }
        json_object_object_add(d, "image", json_object_new_string(image));
        json_object_object_add(d, "env_names", names);
        json_object_object_add(d, "network", network ? json_object_new_string(network) : NULL);
        server_changed(s, &r->who, "container.create", name, d);
        json_object_put(d);
    }
    json_object_put(cfg);
    json_object_put(row);
    if (rc)
        return rc;
    if ((rc = ct_load(s, name, &row, out)))
        return rc;
    struct json_object *v = ct_view(row, out->etag);
    json_object_put(row);
    return api_sync(out, 201, v);
}

int ct_refuse_busy(struct server *s, const char *name, struct resp *out)
{
    return ops_refuse_busy(s, "containers", "container", name, out);
}

int ct_load_idle(struct server *s, const char *name, struct json_object **row, struct resp *out)
{
    int rc = ct_load(s, name, row, out);
    if (rc == 0 && (rc = ct_refuse_busy(s, name, out)))
        json_object_put(*row);
    return rc;
}

static struct oci_resources limits_of(struct json_object *cfg)
{
    struct oci_resources res;
    oci_resources_init(&res);
    if (ct_int(cfg, "memory_mib"))
        res.mem_limit = ct_int(cfg, "memory_mib") * (int64_t)MiB;
    if (ct_int(cfg, "cpus")) {
        res.cpu_quota = ct_int(cfg, "cpus") * 100000;
        res.cpu_period = 100000;
    }
    if (ct_int(cfg, "pids"))
        res.pids_limit = ct_int(cfg, "pids");
    return res;
}

int h_container_patch(struct server *s, struct req *r, struct resp *out)
{
    const char *desc = NULL;
    int64_t i;
    const struct field f[] = {
        { "description", F_STRING, false, &desc, NULL }, { "memory_mib", F_INT, false, &i, NULL },
        { "cpus", F_INT, false, &i, NULL }, { "pids", F_INT, false, &i, NULL },
    };
    int rc = api_fields(r, f, ARRAY_SIZE(f), out);
    if (rc || (rc = ct_refuse_busy(s, r->param[0], out)))
        return rc;
    if (!r->json || !json_object_object_length(r->json))
        return api_error(out, E_MISSING_FIELD, "give the fields to change (description, memory_mib, cpus, pids)");
    if ((rc = api_check_description(desc, out)))
        return rc;
    struct json_object *row = NULL, *cfg = NULL;
    if ((rc = db_begin(s->db)) < 0)
        return api_errno(out, rc);
    if ((rc = ct_load(s, r->param[0], &row, out)) == 0) {
        struct json_object *view = ct_config_view(row);
        rc = api_check_if_match(r, view, out);
        json_object_put(view);
    }
    if (rc == 0) {
        cfg = json_tokener_parse(json_str(row, "config"));
        rc = check_limits(r, cfg, out);
    }
    if (rc == 0) {
        int e = db_exec(s->db, "UPDATE containers SET config = ?, description = COALESCE(?, description) "
                        "WHERE name = ?", "sss", json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PLAIN),
                        desc, r->param[0]);
        rc = e < 0 ? api_errno(out, e) : 0;
    }
    if (rc == 0 && ctrun_live(json_str(row, "state"))) {
        /* Live: the container's cgroups now; config.json at the next start. */
        struct ct_paths p;
        ct_paths_of(s, row, &p);
        struct oci_ctx ctx = { .root = p.oci_root };
        struct oci_resources res = limits_of(cfg);
        if (oci_update(&ctx, p.id, &res, "limits") < 0)
            rc = api_error(out, E_BAD_FIELD, "cannot apply the limits: %s", err_msg());
        oci_resources_free(&res);
    }
    json_object_put(row);
    if (rc == 0 && (rc = db_commit(s->db)) < 0)
        rc = api_errno(out, rc);
    else if (rc)
        db_rollback(s->db);
    if (rc == 0)
        server_changed(s, &r->who, "container.update", r->param[0], r->json);
    json_object_put(cfg);
    return rc ? rc : h_container_get(s, r, out);
}

int h_container_delete(struct server *s, struct req *r, struct resp *out)
{
    struct json_object *row;
    int rc = ct_load_idle(s, r->param[0], &row, out);
    if (rc)
        return rc;
    if ((rc = guest_check_stopped(&guest_ct, r->param[0], json_str(row, "state"), out))) {
        json_object_put(row);
        return rc;
    }
    struct ct_paths p;
    ct_paths_of(s, row, &p);
    json_object_put(row);
    ctrun_remove(&p.w);
    if (access(p.bundle, F_OK) == 0 && oci_bundle_remove(p.bundle) < 0)
        return api_error(out, E_CONFLICT, "cannot remove the container's bundle: %s", err_msg());
    rmdir(p.dir);
    if ((rc = db_exec(s->db, "DELETE FROM containers WHERE name = ? AND state = 'stopped'", "s", r->param[0])) < 0)
        return api_errno(out, rc);
    server_changed(s, &r->who, "container.delete", r->param[0], NULL);
    return api_sync(out, 200, NULL);
}

char **ct_strv_of(struct json_object *a)
{
    size_t n = a ? json_object_array_length(a) : 0;
    char **v = calloc(n + 1, sizeof(*v));
    for (size_t i = 0; v && i < n; i++)
        v[i] = (char *)json_object_get_string(json_object_array_get_idx(a, i));
    return v;
}
