/* Containers: a row per container (configuration as JSON, the running
 * container's keeper handle), a bundle made from an imported image at
 * create (STATE/containers/ID/bundle: an overlay rootfs and config.json),
 * and what a container does differently in the one guest lifecycle
 * (guest.c), run by the oci driver (driver.h): the limits are written into
 * config.json at every start (PATCH applies them live too); a network is
 * a veth on the network's bridge, made once the init exists and before it
 * is released; exec.
 *
 * Consoles are keyed "ct/NAME" in console.c and scrollback.c (a name cannot
 * hold '/', so they never meet a VM's). */
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

#include "driver/driver.h"
#include "oci/oci.h"
#include "server/scrollback.h"
#include "util/util.h"

#define CT_COLS "id, name, tag, image, config, description, state, keeper, keeper_start, pid, created"
#define EXEC_OUTPUT_MAX (1024 * 1024)

static int64_t ct_int(struct json_object *o, const char *key)
{
    return json_object_get_int64(json_object_object_get(o, key));
}

/* Where a row's container lives: its directory, bundle and runtime id. */
struct ct_paths {
    char dir[1100], bundle[1200], id[32];
};

static void ct_paths_of(struct server *s, struct json_object *row, struct ct_paths *p)
{
    snprintf(p->dir, sizeof(p->dir), "%s/%lld", s->cts_dir, (long long)ct_int(row, "id"));
    snprintf(p->bundle, sizeof(p->bundle), "%s/bundle", p->dir);
    snprintf(p->id, sizeof(p->id), "corrald-%s", json_str(row, "tag"));
}

static int ct_load(struct server *s, const char *name, struct json_object **out, struct resp *resp)
{
    return guest_load(s, &guest_ct, name, out, resp);
}

static void ct_handle_of(struct server *s, struct json_object *row, struct guest_handle *h)
{
    (void)s;
    memset(h, 0, sizeof(*h));
    h->driver = DRIVER_OCI;
    h->pid = (pid_t)ct_int(row, "keeper");
    h->start_time = (uint64_t)ct_int(row, "keeper_start");
    h->init = (pid_t)ct_int(row, "pid");
    snprintf(h->control, sizeof(h->control), "corrald-%s", json_str(row, "tag"));
}

static bool live(const char *state) { return !strcmp(state, "running") || !strcmp(state, "paused"); }

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
    return guest_list(s, &guest_ct, out);
}

int h_container_get(struct server *s, struct req *r, struct resp *out) { return guest_get(s, &guest_ct, r, out); }

/* ---- configuration -------------------------------------------------------------------- */

static int ct_check_strings(struct json_object *a, const char *what, bool kv, size_t max, struct resp *out)
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
        events_record(s->events, &r->who, "container.create", name, d);
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
    if (rc || (rc = guest_refuse_busy(s, &guest_ct, r->param[0], out)))
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
    if (rc == 0 && live(json_str(row, "state"))) {
        /* Live: the container's cgroups now; config.json at the next start. */
        struct ct_paths p;
        ct_paths_of(s, row, &p);
        struct oci_ctx ctx = { .root = s->oci_root };
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
        events_record(s->events, &r->who, "container.update", r->param[0], r->json);
    json_object_put(cfg);
    return rc ? rc : h_container_get(s, r, out);
}

/* Its bundle (the rootfs's overlay: refused while it is busy) and the
 * keeper's log; the run directory goes with the row. */
static int ct_remove(struct server *s, struct json_object *row, struct resp *out)
{
    struct ct_paths p;
    ct_paths_of(s, row, &p);
    if (access(p.bundle, F_OK) == 0 && oci_bundle_remove(p.bundle) < 0)
        return api_error(out, E_CONFLICT, "cannot remove the container's bundle: %s", err_msg());
    char log[sizeof(p.dir) + 16];
    snprintf(log, sizeof(log), "%s/keeper.log", p.dir);
    unlink(log);
    return 0;
}

int h_container_delete(struct server *s, struct req *r, struct resp *out)
{
    return guest_delete(s, &guest_ct, r, out);
}

static char **ct_strv_of(struct json_object *a)
{
    size_t n = a ? json_object_array_length(a) : 0;
    char **v = calloc(n + 1, sizeof(*v));
    for (size_t i = 0; v && i < n; i++)
        v[i] = (char *)json_object_get_string(json_object_array_get_idx(a, i));
    return v;
}

/* ---- running ---------------------------------------------------------------------------- */

/* One member of linux.resources: {key: {k1: v1, k2: v2}} if v1, else none. */
static void set_resource(struct json_object *res, const char *key, const char *k1, int64_t v1, const char *k2,
                         int64_t v2)
{
    json_object_object_del(res, key);
    if (!v1)
        return;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, k1, json_object_new_int64(v1));
    if (k2)
        json_object_object_add(o, k2, json_object_new_int64(v2));
    json_object_object_add(res, key, o);
}

/* Writes the limits into the bundle's config.json (other resources, such
 * as the default device rules, stay). */
static int write_limits(const char *bundle, struct json_object *cfg)
{
    char path[1300];
    snprintf(path, sizeof(path), "%s/config.json", bundle);
    struct json_object *c = json_object_from_file(path), *linux_o, *res;
    if (!c)
        return fail(EIO, "%s is unreadable", path);
    if (!json_object_object_get_ex(c, "linux", &linux_o))
        json_object_object_add(c, "linux", linux_o = json_object_new_object());
    if (!json_object_object_get_ex(linux_o, "resources", &res))
        json_object_object_add(linux_o, "resources", res = json_object_new_object());
    set_resource(res, "memory", "limit", ct_int(cfg, "memory_mib") * (int64_t)MiB, NULL, 0);
    set_resource(res, "cpu", "quota", ct_int(cfg, "cpus") * 100000, "period", 100000);
    set_resource(res, "pids", "limit", ct_int(cfg, "pids"), NULL, 0);
    int r = json_object_to_file_ext(path, c, JSON_C_TO_STRING_PLAIN) < 0 ? fail(EIO, "cannot write %s", path) : 0;
    json_object_put(c);
    return r;
}

static void host_if(struct json_object *row, char out[16])
{
    snprintf(out, 16, "cve%.6s", json_str(row, "tag"));
}

static void ct_detach(struct server *s, struct json_object *row)
{
    (void)s;
    char veth[16];
    host_if(row, veth);
    oci_net_detach(veth);
}

static int ct_record(struct server *s, struct json_object *row, const char *state, const struct guest_handle *h)
{
    const struct guest_handle none = { 0 };
    h = h ?: &none;
    return db_exec(s->db, "UPDATE containers SET state = ?, keeper = ?, keeper_start = ?, pid = ? WHERE id = ?",
                   "siiii", state, (int64_t)h->pid, (int64_t)h->start_time, (int64_t)h->init, ct_int(row, "id"));
}

/* Between create and start: the veth on the network's bridge. */
static int ct_attach(struct server *s, struct json_object *row, struct json_object *cfg, const struct guest_handle *h)
{
    const char *network = json_str(cfg, "network");
    if (!network)
        return 0;
    struct json_object *net;
    if (db_row(s->db, &net, "SELECT bridge, subnet, gateway FROM networks WHERE name = ?", "s", network) < 0)
        return fail(ENOENT, "network '%s' is gone", network);
    char addr[40], veth[16];
    snprintf(addr, sizeof(addr), "%s/%s", json_str(cfg, "address"), strchr(json_str(net, "subnet"), '/') + 1);
    host_if(row, veth);
    struct oci_net_opts o = { .pid = h->init, .host_if = veth, .bridge = json_str(net, "bridge"), .address = addr,
                              .gateway = json_str(net, "gateway") };
    int r = oci_net_attach(&o);
    json_object_put(net);
    return r;
}

static void ct_dir(struct server *s, struct json_object *row, char *out, size_t len)
{
    snprintf(out, len, "%s/%lld", s->cts_dir, (long long)ct_int(row, "id"));
}

static int ct_prepare(struct server *s, struct json_object *row, struct json_object *cfg, struct guest_spec *spec)
{
    struct ct_paths p;
    ct_paths_of(s, row, &p);
    spec->driver = DRIVER_OCI;
    snprintf(spec->id, sizeof(spec->id), "%s", p.id);
    snprintf(spec->bundle, sizeof(spec->bundle), "%s", p.bundle);
    /* After a host reboot the rootfs is no longer mounted: mount it again. */
    struct oci_store st;
    char image[NAME_MAX_LEN + 8];
    images_store(s, &st);
    snprintf(image, sizeof(image), "%s:latest", json_str(row, "image"));
    int r = oci_bundle_mount(&st, image, p.bundle);
    return r ? r : write_limits(p.bundle, cfg);
}

static int no_body_action(struct server *s, struct req *r, struct resp *out, enum guest_action a)
{
    int rc = api_fields(r, NULL, 0, out);
    return rc ? rc : guest_request(s, &guest_ct, r, a, 0, false, out);
}

int h_container_start(struct server *s, struct req *r, struct resp *out) { return no_body_action(s, r, out, GA_START); }
int h_container_kill(struct server *s, struct req *r, struct resp *out) { return no_body_action(s, r, out, GA_KILL); }
int h_container_pause(struct server *s, struct req *r, struct resp *out) { return no_body_action(s, r, out, GA_PAUSE); }
int h_container_resume(struct server *s, struct req *r, struct resp *out) { return no_body_action(s, r, out, GA_RESUME); }
int h_container_console(struct server *s, struct req *r, struct resp *out) { return guest_console(s, &guest_ct, r, out); }

int h_container_stop(struct server *s, struct req *r, struct resp *out)
{
    int64_t timeout = 10;
    const struct field f[] = { { "timeout", F_INT, false, &timeout, NULL } };
    int rc = api_fields(r, f, 1, out);
    if (rc)
        return rc;
    if (timeout < 0 || timeout > 3600)
        return api_error(out, E_BAD_FIELD, "timeout must be 0..3600 seconds");
    return guest_request(s, &guest_ct, r, GA_STOP, (int)timeout, false, out);
}

int h_container_exec(struct server *s, struct req *r, struct resp *out)
{
    struct json_object *cmd = NULL, *env = NULL;
    int64_t timeout = 60;
    const struct field f[] = {
        { "cmd", F_ARRAY, true, &cmd, NULL }, { "env", F_ARRAY, false, &env, NULL },
        { "timeout", F_INT, false, &timeout, NULL },
    };
    int rc = api_fields(r, f, ARRAY_SIZE(f), out);
    if (rc || (rc = ct_check_strings(cmd, "cmd", false, 256, out)) ||
        (env && (rc = ct_check_strings(env, "env", true, 256, out))))
        return rc;
    if (!json_object_array_length(cmd))
        return api_error(out, E_BAD_FIELD, "cmd needs at least the program");
    if (timeout < 1 || timeout > 600)
        return api_error(out, E_BAD_FIELD, "timeout must be 1..600 seconds");
    struct json_object *row;
    if ((rc = ct_load(s, r->param[0], &row, out)))
        return rc;
    struct guest_handle h;
    char state[16], now[16] = "", dir[1200];
    ct_handle_of(s, row, &h);
    ct_dir(s, row, dir, sizeof(dir));
    snprintf(state, sizeof(state), "%s", json_str(row, "state"));
    json_object_put(row);
    if (!strcmp(state, "paused"))
        return api_error(out, E_CONFLICT, "container '%s' is paused: resume it first", r->param[0]);
    if (strcmp(state, "running") || driver_status(s->drivers, &h, now, sizeof(now)) < 0 || strcmp(now, "running"))
        return api_error(out, E_CONFLICT, "container '%s' is not running: start it first", r->param[0]);
    char **argv = ct_strv_of(cmd), **envv = ct_strv_of(env);
    char *output = NULL;
    int status = 0;
    struct guest_exec x = { .argv = argv, .env = env ? envv : NULL, .timeout_s = (int)timeout,
                            .cap = EXEC_OUTPUT_MAX, .dir = dir };
    rc = argv && envv ? driver_exec(s->drivers, &h, &x, &status, &output) : fail(ENOMEM, "out of memory");
    free(argv);
    free(envv);
    if (rc < 0)
        return api_error(out, rc == -ETIMEDOUT ? E_CONFLICT : E_BAD_FIELD, "exec: %s", err_msg());
    struct json_object *d = json_object_new_object();
    /* The program only: arguments may hold secrets, the audit log must not. */
    json_object_object_add(d, "program", json_object_get(json_object_array_get_idx(cmd, 0)));
    json_object_object_add(d, "exit_code", json_object_new_int(status));
    events_record(s->events, &r->who, "container.exec", r->param[0], d);
    json_object_object_del(d, "program");
    json_object_object_add(d, "output", json_object_new_string(output));
    free(output);
    return api_sync(out, 200, d);
}

int containers_recover_creating(struct server *s)
{
    struct json_object *rows;
    int rc = db_rows(s->db, &rows, "SELECT " CT_COLS " FROM containers WHERE state = 'creating'", "");
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        struct json_object *row = json_object_array_get_idx(rows, i);
        struct ct_paths p;
        ct_paths_of(s, row, &p);
        if (access(p.bundle, F_OK) == 0)
            oci_bundle_remove(p.bundle);
        rmdir(p.dir);
        db_exec(s->db, "DELETE FROM containers WHERE id = ?", "i", ct_int(row, "id"));
    }
    json_object_put(rows);
    return 0;
}

const struct guest_kind guest_ct = {
    .noun = "container", .collection = "containers", .event = "container", .console_prefix = "ct/",
    .select = "SELECT " CT_COLS " FROM containers",
    .actions = 1u << GA_START | 1u << GA_STOP | 1u << GA_KILL | 1u << GA_PAUSE | 1u << GA_RESUME,
    .gone = "the container's init exited",
    .view = ct_view, .dir = ct_dir, .handle_of = ct_handle_of, .record = ct_record, .prepare = ct_prepare, .attach = ct_attach,
    .detach = ct_detach, .remove = ct_remove,
};
