/* A container's life: start (through a keeper, ctrun.h), stop and kill as
 * operations locked per container, exec, the console, and what happens
 * after a restart or when a container's init exits by itself.
 *
 * The limits are written into config.json at every start (PATCH applies
 * them live too); a network is a veth on the network's bridge, made once
 * the init exists and before it is released. */
#include "server/containers.h"
#include "server/lifecycle.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oci/oci.h"
#include "server/scrollback.h"
#include "util/util.h"

#define EXEC_OUTPUT_MAX (1024 * 1024)


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

/* The container is gone (or must go): its oci state, veth and handle. */
static void settle_stopped(struct server *s, struct json_object *row)
{
    struct ct_paths p;
    char key[CONSOLE_KEY_MAX], veth[16];
    ct_paths_of(s, row, &p);
    ct_console_key(json_str(row, "name"), key);
    scrollback_stop(key);
    ctrun_stop(&p.w, SIGKILL, 0);
    if (ctrun_remove(&p.w) < 0)
        log_warn("container %s: %s", json_str(row, "name"), err_msg());
    host_if(row, veth);
    oci_net_detach(veth);
    db_exec(s->db, "UPDATE containers SET state = 'stopped', keeper = 0, keeper_start = 0, pid = 0 WHERE id = ?",
            "i", ct_int(row, "id"));
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
    ct_paths_of(s, row, &p);
    ctrun_remove(&p.w);    /* what a previous run left */
    /* After a host reboot the rootfs is no longer mounted: mount it again. */
    struct oci_store st;
    char image[NAME_MAX_LEN + 8];
    images_store(s, &st);
    snprintf(image, sizeof(image), "%s:latest", json_str(row, "image"));
    int r = oci_bundle_mount(&st, image, p.bundle);
    if (r == 0)
        r = write_limits(p.bundle, cfg);
    if (r == 0)
        r = ctrun_create(&p.w, &h, &console);
    if (r == 0 && db_exec(s->db, "UPDATE containers SET keeper = ?, keeper_start = ?, pid = ? WHERE id = ?",
                          "iiii", (int64_t)h.keeper, (int64_t)h.keeper_start, (int64_t)h.pid, ct_int(row, "id")) < 0)
        r = fail(EIO, "cannot record the container: %s", err_msg());
    if (r == 0)
        r = attach_network(s, row, cfg, h.pid);
    if (r == 0) {
        struct oci_ctx ctx = { .root = p.oci_root };
        r = oci_start(&ctx, p.id);
    }
    if (r == 0) {
        char key[CONSOLE_KEY_MAX];
        ct_console_key(json_str(row, "name"), key);
        if (scrollback_hold(key, console) < 0)
            log_warn("container %s: its console's scrollback is off: %s", json_str(row, "name"), err_msg());
        console = -1;
        db_exec(s->db, "UPDATE containers SET state = 'running' WHERE id = ?", "i", ct_int(row, "id"));
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
    struct guest_job *j = arg;
    struct json_object *row;
    if (db_row(s->db, &row, "SELECT " CT_COLS " FROM containers WHERE name = ?", "s", j->name) < 0)
        return fail(ENOENT, "container '%s' is gone", j->name);
    struct ct_paths p;
    ct_paths_of(s, row, &p);
    int r = 0;
    bool end = j->action == GA_STOP || j->action == GA_KILL;
    /* A frozen process takes no signal: a paused container is thawed first. */
    if (end && !strcmp(ctrun_status(&p.w, NULL), "paused"))
        r = ctrun_freeze(&p.w, false);
    switch (j->action) {
    case GA_START: r = ct_start(s, row); break;
    case GA_STOP: r = r ?: ctrun_stop(&p.w, SIGTERM, j->timeout * 1000); break;
    case GA_KILL: r = r ?: ctrun_stop(&p.w, SIGKILL, 0); break;
    case GA_PAUSE: r = ctrun_freeze(&p.w, true); break;
    case GA_RESUME: r = ctrun_freeze(&p.w, false); break;
    default:    /* guest_submit() lets only guest_ct's actions through */
        r = fail(EINVAL, "a container cannot %s", guest_action_name(j->action));
    }
    if (r == 0 && end)
        settle_stopped(s, row);
    json_object_put(row);
    return r;
}

static void action_done(struct server *s, struct op *op, void *arg, int result)
{
    (void)op;
    struct guest_job *j = arg;
    struct json_object *row;
    if (db_row(s->db, &row, "SELECT " CT_COLS " FROM containers WHERE name = ?", "s", j->name) < 0)
        return;
    struct ct_paths p;
    ct_paths_of(s, row, &p);
    const char *status = ctrun_status(&p.w, NULL);
    bool alive = ctrun_live(status);
    if (!alive && strcmp(json_str(row, "state"), "stopped"))
        settle_stopped(s, row);
    else if (alive)
        db_exec(s->db, "UPDATE containers SET state = ? WHERE id = ?", "si", status, ct_int(row, "id"));
    json_object_put(row);
    guest_done(s, &guest_ct, &j->who, j->name, j->action, result, alive ? status : "stopped");
}

static int submit_action(struct server *s, struct req *r, enum guest_action a, int timeout, struct resp *out)
{
    struct json_object *row;
    int rc = ct_load_idle(s, r->param[0], &row, out);
    if (rc)
        return rc;
    struct guest_job *j = guest_job_new(&r->who, a, r->param[0], json_str(row, "state"));
    json_object_put(row);
    if (!j)
        return api_error(out, E_INTERNAL, "out of memory");
    j->timeout = timeout;
    return guest_submit(s, &guest_ct, j, action_run, action_done, out);
}

static int no_body_action(struct server *s, struct req *r, struct resp *out, enum guest_action a)
{
    int rc = api_fields(r, NULL, 0, out);
    return rc ? rc : submit_action(s, r, a, 0, out);
}

int h_container_start(struct server *s, struct req *r, struct resp *out) { return no_body_action(s, r, out, GA_START); }
int h_container_kill(struct server *s, struct req *r, struct resp *out) { return no_body_action(s, r, out, GA_KILL); }
int h_container_pause(struct server *s, struct req *r, struct resp *out) { return no_body_action(s, r, out, GA_PAUSE); }
int h_container_resume(struct server *s, struct req *r, struct resp *out) { return no_body_action(s, r, out, GA_RESUME); }

int h_container_stop(struct server *s, struct req *r, struct resp *out)
{
    int64_t timeout = 10;
    const struct field f[] = { { "timeout", F_INT, false, &timeout, NULL } };
    int rc = api_fields(r, f, 1, out);
    if (rc)
        return rc;
    if (timeout < 0 || timeout > 3600)
        return api_error(out, E_BAD_FIELD, "timeout must be 0..3600 seconds");
    return submit_action(s, r, GA_STOP, (int)timeout, out);
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
    struct ct_paths p;
    ct_paths_of(s, row, &p);
    char state[16];
    snprintf(state, sizeof(state), "%s", json_str(row, "state"));
    json_object_put(row);
    if (!strcmp(state, "paused"))
        return api_error(out, E_CONFLICT, "container '%s' is paused: resume it first", r->param[0]);
    if (strcmp(state, "running") || strcmp(ctrun_status(&p.w, NULL), "running"))
        return api_error(out, E_CONFLICT, "container '%s' is not running: start it first", r->param[0]);
    char **argv = ct_strv_of(cmd), **envv = ct_strv_of(env);
    char *output = NULL;
    int status = 0;
    rc = argv && envv ? ctrun_exec(&p.w, argv, env ? envv : NULL, (int)timeout, &status, &output, EXEC_OUTPUT_MAX)
                      : fail(ENOMEM, "out of memory");
    free(argv);
    free(envv);
    if (rc < 0)
        return api_error(out, rc == -ETIMEDOUT ? E_CONFLICT : E_BAD_FIELD, "exec: %s", err_msg());
    struct json_object *d = json_object_new_object();
    /* The program only: arguments may hold secrets, the audit log must not. */
    json_object_object_add(d, "program", json_object_get(json_object_array_get_idx(cmd, 0)));
    json_object_object_add(d, "exit_code", json_object_new_int(status));
    server_changed(s, &r->who, "container.exec", r->param[0], d);
    json_object_object_del(d, "program");
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
    int rc = ct_load(s, r->param[0], &row, out);
    if (rc)
        return rc;
    struct console_src src;
    ct_handle_of(row, &src.h);
    bool up = ctrun_live(json_str(row, "state"));
    json_object_put(row);
    if (!up || !ctrun_keeper_alive(&src.h))
        return api_error(out, E_CONFLICT, "container '%s' is not running: start it first", r->param[0]);
    char key[CONSOLE_KEY_MAX], what[NAME_MAX_LEN + 16];
    ct_console_key(r->param[0], key);
    snprintf(what, sizeof(what), "container '%s'", r->param[0]);
    return console_upgrade(s, r, out, key, what, open_ct_console, &src, "container.console");
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
            ct_paths_of(s, row, &p);
            if (access(p.bundle, F_OK) == 0)
                oci_bundle_remove(p.bundle);
            rmdir(p.dir);
            db_exec(s->db, "DELETE FROM containers WHERE id = ?", "i", ct_int(row, "id"));
            continue;
        }
        struct ct_paths p;
        struct ct_handle h;
        ct_paths_of(s, row, &p);
        ct_handle_of(row, &h);
        pid_t pid;
        const char *status = ctrun_status(&p.w, &pid);
        if (ctrun_live(status) && pid == h.pid) {
            char key[CONSOLE_KEY_MAX];
            ct_console_key(name, key);
            int fd = ctrun_console(&h);
            if (fd < 0 || scrollback_hold(key, fd) < 0)
                log_warn("container %s: its console's scrollback is off: %s", name, err_msg());
            db_exec(s->db, "UPDATE containers SET state = ? WHERE id = ?", "si", status, ct_int(row, "id"));
            log_info("container %s: re-adopted, %s (pid %d, keeper %d)", name, status, (int)pid, (int)h.keeper);
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
    if (db_rows(s->db, &rows, "SELECT " CT_COLS " FROM containers WHERE state IN ('running', 'paused')", "") < 0)
        return;
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        struct json_object *row = json_object_array_get_idx(rows, i);
        struct ct_paths p;
        ct_paths_of(s, row, &p);
        struct resp tmp = { 0 };
        if (ctrun_live(ctrun_status(&p.w, NULL)) || ct_refuse_busy(s, json_str(row, "name"), &tmp)) {
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
