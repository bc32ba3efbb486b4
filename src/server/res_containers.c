/* Containers: a row per container (configuration as JSON, the running
 * container's keeper handle), a bundle made from an imported image at
 * create (STATE/containers/ID/bundle: an overlay rootfs and config.json),
 * and the lifecycle through the corral-oci library (ctrun.h).
 *
 * Like VMs: actions are operations locked per container
 * ("containers/NAME"), the handle is recorded as soon as the container
 * exists, containers_recover() re-adopts live ones after a restart (the
 * console comes back from the keeper) and settles the others, and the VM
 * watcher also notices containers whose init exited.  Limits are written
 * into config.json at every start and applied live with oci_update().
 *
 * Consoles are keyed "ct/NAME" in console.c and scrollback.c (a name cannot
 * hold '/', so they never meet a VM's). */
#include "server/server.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "oci/oci.h"
#include "server/ctrun.h"
#include "server/scrollback.h"
#include "util/util.h"

#define CT_COLS "id, name, tag, image, config, description, state, keeper, keeper_start, pid, created"
#define NAME_RULE "(^[a-z0-9][a-z0-9-]{0,62}$)"
#define EXEC_OUTPUT_MAX (1024 * 1024)

enum ct_action { C_START, C_STOP, C_KILL };
static const char *const action_names[] = { "start", "stop", "kill" };

struct ct_job {
    struct principal who;
    enum ct_action action;
    char name[NAME_MAX_LEN + 1];
    char prev_state[16];
    int timeout;
};

/* Where a row's container lives. */
struct ct_paths {
    char dir[1100], bundle[1200], oci_root[1100], id[32];
    struct ct_where w;
};

static int64_t jint(struct json_object *o, const char *key)
{
    return json_object_get_int64(json_object_object_get(o, key));
}

static void paths_of(struct server *s, struct json_object *row, struct ct_paths *p)
{
    snprintf(p->dir, sizeof(p->dir), "%s/%lld", s->cts_dir, (long long)jint(row, "id"));
    snprintf(p->bundle, sizeof(p->bundle), "%s/bundle", p->dir);
    snprintf(p->oci_root, sizeof(p->oci_root), "%s/oci", s->cts_dir);
    snprintf(p->id, sizeof(p->id), "corrald-%s", json_str(row, "tag"));
    p->w = (struct ct_where){ .oci_root = p->oci_root, .id = p->id, .bundle = p->bundle, .run_dir = p->dir };
}

static void handle_of(struct json_object *row, struct ct_handle *h)
{
    h->keeper = (pid_t)jint(row, "keeper");
    h->keeper_start = (uint64_t)jint(row, "keeper_start");
    h->pid = (pid_t)jint(row, "pid");
}

static void console_key(const char *name, char key[CONSOLE_KEY_MAX])
{
    snprintf(key, CONSOLE_KEY_MAX, "ct/%s", name);
}

static int load_ct(struct server *s, const char *name, struct json_object **out, struct resp *resp)
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
    json_object_object_add(o, "pid", jint(row, "pid") ? json_object_new_int64(jint(row, "pid")) : NULL);
    json_object_object_add(o, "created", json_object_new_int64(jint(row, "created")));
    return o;
}

int h_containers_list(struct server *s, struct req *r, struct resp *out)
{
    (void)r;
    struct json_object *rows;
    int rc = db_rows(s->db, &rows, "SELECT " CT_COLS " FROM containers ORDER BY name", "");
    if (rc < 0)
        return api_errno(out, rc);
    struct json_object *list = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(rows); i++)
        json_object_array_add(list, ct_view(json_object_array_get_idx(rows, i), NULL));
    json_object_put(rows);
    return api_sync(out, 200, list);
}

int h_container_get(struct server *s, struct req *r, struct resp *out)
{
    struct json_object *row;
    int rc = load_ct(s, r->param[0], &row, out);
    if (rc)
        return rc;
    struct json_object *v = ct_view(row, out->etag);
    json_object_put(row);
    return api_sync(out, 200, v);
}

bool containers_using_image(struct server *s, const char *image, char *ct, size_t len)
{
    struct json_object *row = NULL;
    bool used = db_row(s->db, &row, "SELECT name FROM containers WHERE image = ? LIMIT 1", "s", image) == 0;
    if (used)
        snprintf(ct, len, "%s", json_str(row, "name"));
    json_object_put(row);
    return used;
}

/* ---- configuration -------------------------------------------------------------------- */

static int check_strings(struct json_object *a, const char *what, bool kv, size_t max, struct resp *out)
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

/* Writes the limits into the bundle's config.json. */
static int write_limits(const char *bundle, struct json_object *cfg)
{
    char path[1300];
    snprintf(path, sizeof(path), "%s/config.json", bundle);
    struct json_object *c = json_object_from_file(path), *linux_o;
    if (!c)
        return fail(EIO, "%s is unreadable", path);
    if (!json_object_object_get_ex(c, "linux", &linux_o))
        json_object_object_add(c, "linux", linux_o = json_object_new_object());
    struct json_object *res = json_object_new_object();
    int64_t mem = jint(cfg, "memory_mib"), cpus = jint(cfg, "cpus"), pids = jint(cfg, "pids");
    if (mem) {
        struct json_object *m = json_object_new_object();
        json_object_object_add(m, "limit", json_object_new_int64(mem * (int64_t)MiB));
        json_object_object_add(res, "memory", m);
    }
    if (cpus) {
        struct json_object *c2 = json_object_new_object();
        json_object_object_add(c2, "quota", json_object_new_int64(cpus * 100000));
        json_object_object_add(c2, "period", json_object_new_int64(100000));
        json_object_object_add(res, "cpu", c2);
    }
    if (pids) {
        struct json_object *p = json_object_new_object();
        json_object_object_add(p, "limit", json_object_new_int64(pids));
        json_object_object_add(res, "pids", p);
    }
    json_object_object_add(linux_o, "resources", res);
    int r = json_object_to_file_ext(path, c, JSON_C_TO_STRING_PLAIN) < 0 ? fail(EIO, "cannot write %s", path) : 0;
    json_object_put(c);
    return r;
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

static char **strv_of(struct json_object *a)
{
    size_t n = a ? json_object_array_length(a) : 0;
    char **v = calloc(n + 1, sizeof(*v));
    for (size_t i = 0; v && i < n; i++)
        v[i] = (char *)json_object_get_string(json_object_array_get_idx(a, i));
    return v;
}

static int make_bundle(struct server *s, struct json_object *row, struct json_object *cfg)
{
    struct ct_paths p;
    paths_of(s, row, &p);
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
    if (strlen(desc) > 1024)
        return api_error(out, E_BAD_FIELD, "description is longer than 1024 bytes");
    if (cmd && (rc = check_strings(cmd, "cmd", false, 256, out)))
        return rc;
    if (cmd && !json_object_array_length(cmd))
        return api_error(out, E_BAD_FIELD, "cmd needs at least the program");
    if (env && (rc = check_strings(env, "env", true, 256, out)))
        return rc;
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
    if (rc == 0 && (rc = load_ct(s, name, &row, out)) == 0) {
        int e = make_bundle(s, row, cfg);
        if (e < 0) {
            rc = api_error(out, e == -ENOENT ? E_BAD_FIELD : E_INTERNAL, "cannot make the container's bundle: %s",
                           err_msg());
            db_exec(s->db, "DELETE FROM containers WHERE name = ?", "s", name);
        } else {
            db_exec(s->db, "UPDATE containers SET state = 'stopped' WHERE name = ?", "s", name);
        }
    }
    if (rc == 0)
        server_changed(s, &r->who, "container.create", name, cfg);
    json_object_put(cfg);
    json_object_put(row);
    if (rc)
        return rc;
    if ((rc = load_ct(s, name, &row, out)))
        return rc;
    struct json_object *v = ct_view(row, out->etag);
    json_object_put(row);
    return api_sync(out, 201, v);
}

static int refuse_busy(struct server *s, const char *name, struct resp *out)
{
    char key[80], holder[40];
    snprintf(key, sizeof(key), "containers/%s", name);
    if (ops_busy(s, key, holder, sizeof(holder)))
        return api_error(out, E_BUSY, "operation %s is working on container '%s': wait for it "
                         "(GET /api/v1/operations/%s/wait) and retry", holder, name, holder);
    return 0;
}

static struct oci_resources limits_of(struct json_object *cfg)
{
    struct oci_resources res;
    oci_resources_init(&res);
    if (jint(cfg, "memory_mib"))
        res.mem_limit = jint(cfg, "memory_mib") * (int64_t)MiB;
    if (jint(cfg, "cpus")) {
        res.cpu_quota = jint(cfg, "cpus") * 100000;
        res.cpu_period = 100000;
    }
    if (jint(cfg, "pids"))
        res.pids_limit = jint(cfg, "pids");
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
    if (rc || (rc = refuse_busy(s, r->param[0], out)))
        return rc;
    if (!r->json || !json_object_object_length(r->json))
        return api_error(out, E_MISSING_FIELD, "give the fields to change (description, memory_mib, cpus, pids)");
    if (desc && strlen(desc) > 1024)
        return api_error(out, E_BAD_FIELD, "description is longer than 1024 bytes");
    struct json_object *row = NULL, *cfg = NULL;
    if ((rc = db_begin(s->db)) < 0)
        return api_errno(out, rc);
    if ((rc = load_ct(s, r->param[0], &row, out)) == 0) {
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
    if (rc == 0 && !strcmp(json_str(row, "state"), "running")) {
        /* Live: the container's cgroups now; config.json at the next start. */
        struct ct_paths p;
        paths_of(s, row, &p);
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
    int rc = load_ct(s, r->param[0], &row, out);
    if (rc || (rc = refuse_busy(s, r->param[0], out))) {
        if (!rc)
            json_object_put(row);
        return rc;
    }
    if (strcmp(json_str(row, "state"), "stopped")) {
        api_error(out, E_CONFLICT, "container '%s' is %s: stop it first", r->param[0], json_str(row, "state"));
        json_object_put(row);
        return out->status;
    }
    struct ct_paths p;
    paths_of(s, row, &p);
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

/* ---- running --------------------------------------------------------------------------- */

static void host_if(struct json_object *row, char out[16])
{
    snprintf(out, 16, "cve%.6s", json_str(row, "tag"));
}

/* The container is gone (or must go): its oci state, veth and handle. */
static void settle_stopped(struct server *s, struct json_object *row)
{
    struct ct_paths p;
    char key[CONSOLE_KEY_MAX], veth[16];
    paths_of(s, row, &p);
    console_key(json_str(row, "name"), key);
    scrollback_stop(key);
    ctrun_stop(&p.w, SIGKILL, 0);
    if (ctrun_remove(&p.w) < 0)
        log_warn("container %s: %s", json_str(row, "name"), err_msg());
    host_if(row, veth);
    oci_net_detach(veth);
    db_exec(s->db, "UPDATE containers SET state = 'stopped', keeper = 0, keeper_start = 0, pid = 0 WHERE id = ?",
            "i", jint(row, "id"));
}

static int attach_network(struct server *s, struct json_object *row, struct json_object *cfg, pid_t pid)
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
    struct oci_net_opts o = { .pid = pid, .host_if = veth, .bridge = json_str(net, "bridge"), .address = addr,
                              .gateway = json_str(net, "gateway") };
    int r = oci_net_attach(&o);
    json_object_put(net);
    return r;
}

static int ct_start(struct server *s, struct json_object *row)
{
    struct json_object *cfg = json_tokener_parse(json_str(row, "config"));
    if (!cfg)
        return fail(EIO, "the container's stored configuration is unreadable");
    struct ct_paths p;
    struct ct_handle h;
    int console = -1;
    paths_of(s, row, &p);
    ctrun_remove(&p.w);    /* what a previous run left */
    int r = write_limits(p.bundle, cfg);
    if (r == 0)
        r = ctrun_create(&p.w, &h, &console);
    if (r == 0 && db_exec(s->db, "UPDATE containers SET keeper = ?, keeper_start = ?, pid = ? WHERE id = ?",
                          "iiii", (int64_t)h.keeper, (int64_t)h.keeper_start, (int64_t)h.pid, jint(row, "id")) < 0)
        r = fail(EIO, "cannot record the container: %s", err_msg());
    if (r == 0)
        r = attach_network(s, row, cfg, h.pid);
    if (r == 0) {
        struct oci_ctx ctx = { .root = p.oci_root };
        r = oci_start(&ctx, p.id);
    }
    if (r == 0) {
        char key[CONSOLE_KEY_MAX];
        console_key(json_str(row, "name"), key);
        if (scrollback_hold(key, console) < 0)
            log_warn("container %s: its console's scrollback is off: %s", json_str(row, "name"), err_msg());
        console = -1;
        db_exec(s->db, "UPDATE containers SET state = 'running' WHERE id = ?", "i", jint(row, "id"));
    }
    if (console >= 0)
        close(console);
    if (r < 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        settle_stopped(s, row);
        r = fail(-r, "%s", msg);
    }
    json_object_put(cfg);
    return r;
}

static int action_run(struct server *s, struct op *op, void *arg)
{
    (void)op;
    struct ct_job *j = arg;
    struct json_object *row;
    if (db_row(s->db, &row, "SELECT " CT_COLS " FROM containers WHERE name = ?", "s", j->name) < 0)
        return fail(ENOENT, "container '%s' is gone", j->name);
    struct ct_paths p;
    paths_of(s, row, &p);
    int r = 0;
    switch (j->action) {
    case C_START: r = ct_start(s, row); break;
    case C_STOP: r = ctrun_stop(&p.w, SIGTERM, j->timeout * 1000); break;
    case C_KILL: r = ctrun_stop(&p.w, SIGKILL, 0); break;
    }
    if (r == 0 && j->action != C_START)
        settle_stopped(s, row);
    json_object_put(row);
    return r;
}

static void action_done(struct server *s, struct op *op, void *arg, int result)
{
    (void)op;
    struct ct_job *j = arg;
    struct json_object *row;
    if (db_row(s->db, &row, "SELECT " CT_COLS " FROM containers WHERE name = ?", "s", j->name) < 0)
        return;
    struct ct_paths p;
    paths_of(s, row, &p);
    bool alive = !strcmp(ctrun_status(&p.w, NULL), "running");
    if (!alive && strcmp(json_str(row, "state"), "stopped"))
        settle_stopped(s, row);
    else if (alive)
        db_exec(s->db, "UPDATE containers SET state = 'running' WHERE id = ?", "i", jint(row, "id"));
    json_object_put(row);
    if (result == 0) {
        char action[32];
        snprintf(action, sizeof(action), "container.%s", action_names[j->action]);
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "state", json_object_new_string(alive ? "running" : "stopped"));
        server_changed(s, &j->who, action, j->name, d);
        json_object_put(d);
    }
}

static int submit_action(struct server *s, struct req *r, enum ct_action a, int timeout, struct resp *out)
{
    struct json_object *row;
    int rc = load_ct(s, r->param[0], &row, out);
    if (rc || (rc = refuse_busy(s, r->param[0], out))) {
        if (!rc)
            json_object_put(row);
        return rc;
    }
    char state[16];
    snprintf(state, sizeof(state), "%s", json_str(row, "state"));
    json_object_put(row);
    bool ok = a == C_START ? !strcmp(state, "stopped") : !strcmp(state, "running");
    if (!ok)
        return api_error(out, E_CONFLICT, "container '%s' is %s: %s needs it %s", r->param[0], state,
                         action_names[a], a == C_START ? "stopped" : "running");
    struct ct_job *j = calloc(1, sizeof(*j));
    if (!j)
        return api_error(out, E_INTERNAL, "out of memory");
    j->who = r->who;
    j->action = a;
    j->timeout = timeout;
    snprintf(j->name, sizeof(j->name), "%s", r->param[0]);
    snprintf(j->prev_state, sizeof(j->prev_state), "%s", state);
    char lock[80], kind[32], url[128];
    snprintf(lock, sizeof(lock), "containers/%s", j->name);
    snprintf(kind, sizeof(kind), "container.%s", action_names[a]);
    snprintf(url, sizeof(url), API_PREFIX "/containers/%s", j->name);
    struct json_object *res = json_object_new_array();
    json_object_array_add(res, json_object_new_string(url));
    struct op_spec spec = { .kind = kind, .locks = { lock }, .fn = action_run, .done = action_done,
                            .arg = j, .resources = res };
    const char *transit = a == C_START ? "starting" : "stopping";
    db_exec(s->db, "UPDATE containers SET state = ? WHERE name = ?", "ss", transit, r->param[0]);
    rc = ops_submit(s, &r->who, &spec, out);
    json_object_put(res);
    if (rc != 202)
        db_exec(s->db, "UPDATE containers SET state = ? WHERE name = ?", "ss", state, r->param[0]);
    return rc;
}

int h_container_start(struct server *s, struct req *r, struct resp *out)
{
    int rc = api_fields(r, NULL, 0, out);
    return rc ? rc : submit_action(s, r, C_START, 0, out);
}

int h_container_kill(struct server *s, struct req *r, struct resp *out)
{
    int rc = api_fields(r, NULL, 0, out);
    return rc ? rc : submit_action(s, r, C_KILL, 0, out);
}

int h_container_stop(struct server *s, struct req *r, struct resp *out)
{
    int64_t timeout = 10;
    const struct field f[] = { { "timeout", F_INT, false, &timeout, NULL } };
    int rc = api_fields(r, f, 1, out);
    if (rc)
        return rc;
    if (timeout < 0 || timeout > 3600)
        return api_error(out, E_BAD_FIELD, "timeout must be 0..3600 seconds");
    return submit_action(s, r, C_STOP, (int)timeout, out);
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
    if (rc || (rc = check_strings(cmd, "cmd", false, 256, out)) ||
        (env && (rc = check_strings(env, "env", true, 256, out))))
        return rc;
    if (!json_object_array_length(cmd))
        return api_error(out, E_BAD_FIELD, "cmd needs at least the program");
    if (timeout < 1 || timeout > 600)
        return api_error(out, E_BAD_FIELD, "timeout must be 1..600 seconds");
    struct json_object *row;
    if ((rc = load_ct(s, r->param[0], &row, out)))
        return rc;
    struct ct_paths p;
    paths_of(s, row, &p);
    bool running = !strcmp(json_str(row, "state"), "running");
    json_object_put(row);
    if (!running || strcmp(ctrun_status(&p.w, NULL), "running"))
        return api_error(out, E_CONFLICT, "container '%s' is not running: start it first", r->param[0]);
    char **argv = strv_of(cmd), **envv = strv_of(env);
    char *output = NULL;
    int status = 0;
    rc = argv && envv ? ctrun_exec(&p.w, argv, env ? envv : NULL, (int)timeout, &status, &output, EXEC_OUTPUT_MAX)
                      : fail(ENOMEM, "out of memory");
    free(argv);
    free(envv);
    if (rc < 0)
        return api_error(out, rc == -ETIMEDOUT ? E_CONFLICT : E_BAD_FIELD, "exec: %s", err_msg());
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "cmd", json_object_get(cmd));
    json_object_object_add(d, "exit_code", json_object_new_int(status));
    server_changed(s, &r->who, "container.exec", r->param[0], d);
    json_object_object_del(d, "cmd");
    json_object_object_add(d, "output", json_object_new_string(output));
    free(output);
    return api_sync(out, 200, d);
}

struct console_src { struct ct_handle h; };

static int open_ct_console(const void *arg)
{
    return ctrun_console(&((const struct console_src *)arg)->h);
}

int h_container_console(struct server *s, struct req *r, struct resp *out)
{
    struct json_object *row;
    int rc = load_ct(s, r->param[0], &row, out);
    if (rc)
        return rc;
    struct console_src src;
    handle_of(row, &src.h);
    bool up = !strcmp(json_str(row, "state"), "running");
    json_object_put(row);
    if (!up || !ctrun_keeper_alive(&src.h))
        return api_error(out, E_CONFLICT, "container '%s' is not running: start it first", r->param[0]);
    if ((rc = ws_handshake(r, out)))
        return rc;
    char key[CONSOLE_KEY_MAX];
    console_key(r->param[0], key);
    if (!console_claim(key))
        return api_error(out, E_BUSY, "another client is attached to container '%s''s console", r->param[0]);
    int fd = scrollback_join(key, open_ct_console, &src);
    if (fd < 0) {
        console_release(key);
        return api_errno(out, fd);
    }
    out->ws_fd = fd;
    snprintf(out->ws_name, sizeof(out->ws_name), "%s", key);
    server_changed(s, &r->who, "container.console", r->param[0], NULL);
    return out->status = 101;
}

/* ---- after a restart, and containers whose init exits ------------------------------------ */

int containers_recover(struct server *s)
{
    struct json_object *rows;
    int rc = db_rows(s->db, &rows, "SELECT " CT_COLS " FROM containers WHERE state != 'stopped' OR keeper != 0", "");
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        struct json_object *row = json_object_array_get_idx(rows, i);
        const char *name = json_str(row, "name");
        if (!strcmp(json_str(row, "state"), "creating")) {    /* killed during create */
            struct ct_paths p;
            paths_of(s, row, &p);
            if (access(p.bundle, F_OK) == 0)
                oci_bundle_remove(p.bundle);
            rmdir(p.dir);
            db_exec(s->db, "DELETE FROM containers WHERE id = ?", "i", jint(row, "id"));
            continue;
        }
        struct ct_paths p;
        struct ct_handle h;
        paths_of(s, row, &p);
        handle_of(row, &h);
        pid_t pid;
        if (!strcmp(ctrun_status(&p.w, &pid), "running") && pid == h.pid) {
            char key[CONSOLE_KEY_MAX];
            console_key(name, key);
            int fd = ctrun_console(&h);
            if (fd < 0 || scrollback_hold(key, fd) < 0)
                log_warn("container %s: its console's scrollback is off: %s", name, err_msg());
            db_exec(s->db, "UPDATE containers SET state = 'running' WHERE id = ?", "i", jint(row, "id"));
            log_info("container %s: re-adopted (pid %d, keeper %d)", name, (int)pid, (int)h.keeper);
            continue;
        }
        settle_stopped(s, row);
        log_warn("container %s was %s but it is gone: now stopped", name, json_str(row, "state"));
    }
    json_object_put(rows);
    return 0;
}

void containers_watch(struct server *s)
{
    struct json_object *rows;
    if (db_rows(s->db, &rows, "SELECT " CT_COLS " FROM containers WHERE state = 'running'", "") < 0)
        return;
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        struct json_object *row = json_object_array_get_idx(rows, i);
        struct ct_paths p;
        paths_of(s, row, &p);
        struct resp tmp = { 0 };
        if (!strcmp(ctrun_status(&p.w, NULL), "running") || refuse_busy(s, json_str(row, "name"), &tmp)) {
            resp_free(&tmp);
            continue;
        }
        settle_stopped(s, row);
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "reason", json_object_new_string("the container's init exited"));
        server_changed(s, &principal_corrald, "container.stopped", json_str(row, "name"), d);
        json_object_put(d);
    }
    json_object_put(rows);
}
