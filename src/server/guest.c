/* One path for every kind of guest, VM or container: actions as
 * operations locked per guest ("vms/NAME"), so two actions on one guest
 * never interleave; start, stop and the rest through the driver interface
 * (driver.h); re-adoption after a restart; a watcher for guests that end
 * by themselves; the console and usage counters.  What a kind does
 * differently sits behind the hooks of its struct guest_kind (res_vms.c,
 * res_containers.c).
 *
 * A guest's handle is recorded as soon as its process exists, with the
 * state "starting": a corrald killed before the guest runs then finds it
 * at restart (guest_recover) instead of losing it. */
#include "server/lifecycle.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "driver/driver.h"
#include "server/scrollback.h"
#include "util/util.h"

/* Up to 15 s until a guest runs: QEMU answers in well under a second, but
 * this host may be loaded. */
#define READY_MS 15000

const struct principal principal_corrald = { .kind = AUTH_PEER, .role = ROLE_ADMIN, .name = "corrald" };

/* ---- requests ---------------------------------------------------------------------------- */

int guest_load(struct server *s, const struct guest_kind *k, const char *name, struct json_object **out,
               struct resp *resp)
{
    if (!name_valid(name))
        return api_error(resp, E_BAD_NAME, "'%.64s' is not a valid %s name " NAME_RULE, name, k->noun);
    char sql[256];
    snprintf(sql, sizeof(sql), "%s WHERE name = ?", k->select);
    if (db_row(s->db, out, sql, "s", name) < 0)
        return api_error(resp, E_NOT_FOUND, "no %s '%s'", k->noun, name);
    return 0;
}

int guest_refuse_busy(struct server *s, const struct guest_kind *k, const char *name, struct resp *out)
{
    char key[80], holder[40];
    snprintf(key, sizeof(key), "%s/%s", k->collection, name);
    if (ops_busy(s->ops, key, holder, sizeof(holder)))
        return api_error(out, E_BUSY, "operation %s is working on %s '%s': wait for it "
                         "(GET /api/v1/operations/%s/wait) and retry", holder, k->noun, name, holder);
    return 0;
}

int guest_load_idle(struct server *s, const struct guest_kind *k, const char *name, struct json_object **row,
                    struct resp *out)
{
    int rc = guest_load(s, k, name, row, out);
    if (rc == 0 && (rc = guest_refuse_busy(s, k, name, out)))
        json_object_put(*row);
    return rc;
}

int guest_check_stopped(const struct guest_kind *k, const char *name, const char *state, struct resp *out)
{
    if (state && !strcmp(state, guest_state_name(GS_STOPPED)))
        return 0;
    return api_error(out, E_CONFLICT, "%s '%s' is %s: stop it first", k->noun, name, state ? state : "unknown");
}

void guest_console_key(const struct guest_kind *k, const char *name, char key[CONSOLE_KEY_MAX])
{
    snprintf(key, CONSOLE_KEY_MAX, "%s%s", k->console_prefix, name);
}

/* The guest's row by name, read again by an operation. */
static int reload(struct server *s, const struct guest_kind *k, const char *name, struct json_object **row)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "%s WHERE name = ?", k->select);
    return db_row(s->db, row, sql, "s", name) < 0 ? fail(ENOENT, "%s '%s' is gone", k->noun, name) : 0;
}

static void set_state(struct server *s, const struct guest_kind *k, const char *name, const char *state)
{
    char sql[80];
    snprintf(sql, sizeof(sql), "UPDATE %s SET state = ? WHERE name = ?", k->collection);
    db_exec(s->db, sql, "ss", state, name);
}

/* ---- running ----------------------------------------------------------------------------- */

static void hold_console(struct server *s, const struct guest_kind *k, const char *name,
                         const struct guest_handle *h)
{
    char key[CONSOLE_KEY_MAX];
    guest_console_key(k, name, key);
    int fd = driver_console(s->drivers, h);
    if (fd < 0 || scrollback_hold(s->consoles, key, fd) < 0)
        log_warn("%s %s: its console's scrollback is off: %s", k->noun, name, err_msg());
}

/* The guest is gone or must go: whatever is left of it (H, or the handle
 * in its row), what prepare made on the host, and its handle. */
static void settle(struct server *s, const struct guest_kind *k, struct json_object *row,
                   const struct guest_handle *h)
{
    char key[CONSOLE_KEY_MAX];
    guest_console_key(k, json_str(row, "name"), key);
    scrollback_stop(s->consoles, key);
    struct guest_handle stored;
    if (!h) {
        k->handle_of(s, row, &stored);
        h = &stored;
    }
    driver_release(s->drivers, h);
    k->detach(s, row);
    k->record(s, row, guest_state_name(GS_STOPPED), NULL);
}

static void close_spec(struct guest_spec *spec)
{
    if (spec->kernel_fd >= 0)
        close(spec->kernel_fd);
    if (spec->initrd_fd >= 0)
        close(spec->initrd_fd);
    free(spec);
}

static int start(struct server *s, const struct guest_kind *k, struct json_object *row)
{
    struct json_object *cfg = json_tokener_parse(json_str(row, "config"));
    if (!cfg)
        return fail(EIO, "the %s's stored configuration is unreadable", k->noun);
    struct guest_spec *spec = calloc(1, sizeof(*spec));
    if (!spec) {
        json_object_put(cfg);
        return fail(ENOMEM, "out of memory");
    }
    char dir[1200];
    k->dir(s, row, dir, sizeof(dir));
    spec->name = json_str(row, "name");
    spec->dir = dir;
    spec->kernel_fd = spec->initrd_fd = -1;
    struct guest_handle h;
    bool spawned = false;
    int r = 0;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        r = fail(errno, "cannot create %s: %m", dir);
    if (r == 0)
        r = k->prepare(s, row, cfg, spec);
    if (r == 0 && (r = driver_spawn(s->drivers, spec, &h)) == 0) {
        spawned = true;
        if (k->record(s, row, guest_state_name(GS_STARTING), &h) < 0)
            r = fail(EIO, "cannot record the %s's process: %s", k->noun, err_msg());
    }
    if (r == 0 && k->attach)
        r = k->attach(s, row, cfg, &h);
    if (r == 0)
        r = driver_ready(s->drivers, spec, &h, READY_MS);
    if (r == 0 && k->record(s, row, guest_state_name(GS_RUNNING), &h) < 0)
        r = fail(EIO, "cannot record the running %s: %s", k->noun, err_msg());
    if (r == 0)
        hold_console(s, k, spec->name, &h);
    if (r < 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        settle(s, k, row, spawned ? &h : NULL);
        r = fail(-r, "%s", msg);
    }
    close_spec(spec);
    json_object_put(cfg);
    return r;
}

/* Graceful power-off with a deadline, then (force) a hard stop. */
static int powerdown(struct server *s, struct op *op, const struct guest_handle *h, int timeout, bool force)
{
    int r = driver_powerdown(s->drivers, h);
    if (r < 0)
        return r;
    for (int ms = 0; ms < timeout * 1000; ms += 200) {
        if (driver_wait_gone(s->drivers, h, 200))
            return 0;
        if (op && op_cancelled(op))
            return fail(ECANCELED, "cancelled; the guest was asked to power off and may still do so");
        if (op)
            op_progress(op, ms / (timeout * 10));
    }
    if (force)
        return driver_kill(s->drivers, h);
    return fail(ETIMEDOUT, "the guest did not power off within %d s (it may ignore the ACPI power button): "
                "retry with force, or stop it", timeout);
}

/* An action's operation: runs on a worker. */
static int run(struct server *s, struct op *op, void *arg)
{
    struct guest_job *j = arg;
    const struct guest_kind *k = j->kind;
    struct json_object *row;
    int r = reload(s, k, j->name, &row);
    if (r < 0)
        return r;
    struct guest_handle h;
    k->handle_of(s, row, &h);
    switch (j->action) {
    case GA_START: r = start(s, k, row); break;
    case GA_STOP: r = driver_stop(s->drivers, &h, j->timeout * 1000); break;
    case GA_KILL: r = driver_kill(s->drivers, &h); break;
    case GA_SHUTDOWN: r = powerdown(s, op, &h, j->timeout, j->force); break;
    case GA_PAUSE: r = driver_pause(s->drivers, &h, true); break;
    case GA_RESUME: r = driver_pause(s->drivers, &h, false); break;
    case GA_RESTART:
        if ((r = powerdown(s, op, &h, j->timeout, true)) == 0) {
            settle(s, k, row, &h);
            r = start(s, k, row);
        }
        break;
    default:    /* guest_submit() lets only the kind's actions through */
        r = fail(EINVAL, "a %s cannot %s", k->noun, guest_action_name(j->action));
    }
    json_object_put(row);
    return r;
}

/* After run (or instead of it, when cancelled while queued): the state
 * the guest is in now, and the change recorded. */
static void done(struct server *s, struct op *op, void *arg, int result)
{
    (void)op;
    struct guest_job *j = arg;
    const struct guest_kind *k = j->kind;
    struct json_object *row;
    if (reload(s, k, j->name, &row) < 0)
        return;
    struct guest_handle h;
    k->handle_of(s, row, &h);
    bool alive = driver_alive(s->drivers, &h);
    enum guest_state before = GS_STOPPED;
    guest_state_parse(j->state, &before);
    enum guest_state state = guest_state_after(j->action, before, result, alive);
    if (!alive && (h.pid > 0 || strcmp(json_str(row, "state"), guest_state_name(GS_STOPPED))))
        settle(s, k, row, &h);    /* not yet settled (as a failed start is) */
    else if (alive && strcmp(json_str(row, "state"), guest_state_name(state)))    /* a start recorded it */
        set_state(s, k, j->name, guest_state_name(state));
    json_object_put(row);
    if (result != 0)
        return;
    char action[48];
    snprintf(action, sizeof(action), "%s.%s", k->event, guest_action_name(j->action));
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "state", json_object_new_string(guest_state_name(state)));
    events_record(s->events, &j->who, action, j->name, d);
    json_object_put(d);
}

struct guest_job *guest_job_new(const struct guest_kind *k, const struct principal *who, enum guest_action a,
                                const char *name, const char *state)
{
    struct guest_job *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->kind = k;
    j->who = *who;
    j->action = a;
    snprintf(j->name, sizeof(j->name), "%s", name);
    snprintf(j->state, sizeof(j->state), "%s", state ? state : "");
    return j;
}

int guest_submit(struct server *s, struct guest_job *j, struct resp *out)
{
    const struct guest_kind *k = j->kind;
    enum guest_state st;
    if (!(k->actions & (1u << j->action)) || guest_state_parse(j->state, &st) < 0 ||
        !guest_action_allowed(j->action, st)) {
        int rc = api_error(out, E_CONFLICT, "%s '%s' is %s: %s needs it %s", k->noun, j->name, j->state,
                           guest_action_name(j->action), guest_action_needs(j->action));
        free(j);
        return rc;
    }
    /* Copies: a refused operation frees J before its state is put back. */
    char key[80], kind[48], name[sizeof(j->name)], state[sizeof(j->state)];
    struct principal who = j->who;
    const char *transit = guest_action_transit(j->action);
    memcpy(name, j->name, sizeof(name));
    memcpy(state, j->state, sizeof(state));
    snprintf(key, sizeof(key), "%s/%s", k->collection, name);
    snprintf(kind, sizeof(kind), "%s.%s", k->event, guest_action_name(j->action));
    if (transit)
        set_state(s, k, name, transit);
    int rc = ops_submit_on(s->ops, &who, key, kind, run, done, j, out);
    if (rc != 202 && transit)
        set_state(s, k, name, state);
    return rc;
}

int guest_request(struct server *s, const struct guest_kind *k, const struct req *r, enum guest_action a,
                  int timeout, bool force, struct resp *out)
{
    struct json_object *row;
    int rc = guest_load_idle(s, k, r->param[0], &row, out);
    if (rc)
        return rc;
    struct guest_job *j = guest_job_new(k, &r->who, a, r->param[0], json_str(row, "state"));
    json_object_put(row);
    if (!j)
        return api_error(out, E_INTERNAL, "out of memory");
    j->timeout = timeout;
    j->force = force;
    return guest_submit(s, j, out);
}

/* ---- usage and console ------------------------------------------------------------------- */

void guest_usage(struct server *s, const struct guest_kind *k, struct json_object *row, struct json_object *v)
{
    struct guest_handle h;
    k->handle_of(s, row, &h);
    double cpu;
    int64_t mem;
    if (h.pid <= 0 || driver_usage(s->drivers, &h, &cpu, &mem) < 0)
        return;
    struct json_object *u = json_object_new_object();
    json_object_object_add(u, "cpu_seconds", cpu < 0 ? NULL : json_object_new_double(cpu));
    json_object_object_add(u, "memory_bytes", mem < 0 ? NULL : json_object_new_int64(mem));
    json_object_object_add(v, "usage", u);
}

int guest_list(struct server *s, const struct guest_kind *k, struct resp *out)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "%s ORDER BY name", k->select);
    return api_list(s, out, sql, k->view);
}

int guest_get(struct server *s, const struct guest_kind *k, const struct req *r, struct resp *out)
{
    struct json_object *row;
    int rc = guest_load(s, k, r->param[0], &row, out);
    if (rc)
        return rc;
    struct json_object *v = k->view(row, out->etag);
    guest_usage(s, k, row, v);
    json_object_put(row);
    return api_sync(out, 200, v);
}

int guest_delete(struct server *s, const struct guest_kind *k, const struct req *r, struct resp *out)
{
    struct json_object *row;
    int rc = guest_load_idle(s, k, r->param[0], &row, out);
    if (rc)
        return rc;
    if ((rc = guest_check_stopped(k, r->param[0], json_str(row, "state"), out))) {
        json_object_put(row);
        return rc;
    }
    struct guest_handle h;
    char dir[1200], sql[80], event[48];
    k->handle_of(s, row, &h);
    k->dir(s, row, dir, sizeof(dir));
    driver_release(s->drivers, &h);
    rc = k->remove(s, row, out);
    json_object_put(row);
    if (rc)
        return rc;
    rmdir(dir);
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE name = ? AND state = 'stopped'", k->collection);
    if ((rc = db_exec(s->db, sql, "s", r->param[0])) < 0)
        return api_errno(out, rc);
    snprintf(event, sizeof(event), "%s.delete", k->event);
    events_record(s->events, &r->who, event, r->param[0], NULL);
    if (k->removed)
        k->removed(s);
    return api_sync(out, 200, NULL);
}

/* The rest of a console route once the guest is known to run (server.h). */
int console_upgrade(struct server *s, struct req *r, struct resp *out, const char *key, const char *what,
                    int (*open_console)(const void *arg), const void *arg, const char *action)
{
    int rc = ws_handshake(r, out);
    if (rc)
        return rc;
    if (!http_console_claim(s->http, key))
        return api_error(out, E_BUSY, "another client is attached to %s's console", what);
    int fd = scrollback_join(s->consoles, key, open_console, arg);
    if (fd < 0) {
        http_console_release(s->http, key);
        return api_errno(out, fd);
    }
    out->ws_fd = fd;
    snprintf(out->ws_name, sizeof(out->ws_name), "%s", key);
    events_record(s->events, &r->who, action, r->param[0], NULL);
    return out->status = 101;
}

struct console_src {
    const struct drivers *d;
    struct guest_handle h;
};

static int open_console(const void *arg)
{
    const struct console_src *c = arg;
    return driver_console(c->d, &c->h);
}

int guest_console(struct server *s, const struct guest_kind *k, struct req *r, struct resp *out)
{
    struct json_object *row;
    int rc = guest_load(s, k, r->param[0], &row, out);
    if (rc)
        return rc;
    struct console_src src = { .d = s->drivers };
    k->handle_of(s, row, &src.h);
    enum guest_state st = GS_STOPPED;
    guest_state_parse(json_str(row, "state"), &st);
    json_object_put(row);
    if ((st != GS_RUNNING && st != GS_PAUSED) || !driver_alive(s->drivers, &src.h))
        return api_error(out, E_CONFLICT, "%s '%s' is not running: start it first", k->noun, r->param[0]);
    char key[CONSOLE_KEY_MAX], what[NAME_MAX_LEN + 16], action[48];
    guest_console_key(k, r->param[0], key);
    snprintf(what, sizeof(what), "%s '%s'", k->noun, r->param[0]);
    snprintf(action, sizeof(action), "%s.console", k->event);
    return console_upgrade(s, r, out, key, what, open_console, &src, action);
}

/* ---- after a restart, and guests that end by themselves -------------------------------------- */

/* At start: re-adopts guests whose process still runs, settles the others
 * as stopped. */
static int guest_recover(struct server *s, const struct guest_kind *k)
{
    struct json_object *rows;
    int rc = db_rows(s->db, &rows, k->select, "");
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        struct json_object *row = json_object_array_get_idx(rows, i);
        const char *name = json_str(row, "name"), *was = json_str(row, "state");
        struct guest_handle h;
        k->handle_of(s, row, &h);
        enum guest_state st;
        if (guest_state_parse(was, &st) < 0 || (st == GS_STOPPED && h.pid <= 0))
            continue;
        bool alive = driver_alive(s->drivers, &h);
        char state[16] = "running", dir[1200];
        if (alive && (st == GS_STOPPED || st == GS_STARTING)) {
            /* corrald was killed between spawning the guest and its
             * running: wait for it as the start would have. */
            k->dir(s, row, dir, sizeof(dir));
            struct guest_spec spec = { .driver = h.driver, .name = name, .dir = dir, .kernel_fd = -1,
                                       .initrd_fd = -1 };
            alive = driver_ready(s->drivers, &spec, &h, READY_MS) == 0 &&
                    k->record(s, row, guest_state_name(GS_RUNNING), &h) >= 0;
            if (!alive)
                log_warn("%s %s: its %s process (pid %d) did not become ready: %s", k->noun, name,
                         driver_name(h.driver), (int)h.pid, err_msg());
        }
        if (alive && driver_status(s->drivers, &h, state, sizeof(state)) == 0) {
            set_state(s, k, name, state);
            log_info("%s %s: re-adopted its %s engine (pid %d, %s)", k->noun, name, driver_name(h.driver),
                     (int)h.pid, state);
            hold_console(s, k, name, &h);
            continue;
        }
        settle(s, k, row, &h);    /* alive but not answering: not left half-known */
        log_warn("%s %s was %s but its %s process is gone: now stopped", k->noun, name, was, driver_name(h.driver));
    }
    json_object_put(rows);
    return 0;
}

/* Settles guests whose process is gone (a guest that powered off, a
 * container whose init exited) and records why. */
static void watch(struct server *s, const struct guest_kind *k)
{
    struct json_object *rows;
    char sql[256], event[48];
    snprintf(sql, sizeof(sql), "%s WHERE state IN ('running', 'paused')", k->select);
    snprintf(event, sizeof(event), "%s.stopped", k->event);
    if (db_rows(s->db, &rows, sql, "") < 0)
        return;
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        struct json_object *row = json_object_array_get_idx(rows, i);
        struct guest_handle h;
        k->handle_of(s, row, &h);
        struct resp tmp = { 0 };
        if (driver_alive(s->drivers, &h) || guest_refuse_busy(s, k, json_str(row, "name"), &tmp)) {
            resp_free(&tmp);
            continue;
        }
        settle(s, k, row, &h);
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "reason", json_object_new_string(k->gone));
        events_record(s->events, &principal_corrald, event, json_str(row, "name"), d);
        json_object_put(d);
    }
    json_object_put(rows);
}

static const struct guest_kind *const kinds[] = { &guest_vm, &guest_ct };

int guests_recover(struct server *s)
{
    int r = containers_recover_creating(s);
    for (size_t i = 0; r == 0 && i < ARRAY_SIZE(kinds); i++)
        r = guest_recover(s, kinds[i]);
    return r;
}

struct guest_watch {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
};

static void *watch_main(void *arg)
{
    struct server *s = arg;
    struct guest_watch *w = s->guest_watch;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 1;
        pthread_cond_timedwait(&w->cond, &w->lock, &dl);
        if (w->stop)
            break;
        pthread_mutex_unlock(&w->lock);
        for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
            watch(s, kinds[i]);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int guests_watch_start(struct server *s)
{
    struct guest_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return fail(ENOMEM, "out of memory");
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    s->guest_watch = w;
    if (pthread_create(&w->thread, NULL, watch_main, s)) {
        free(w);
        s->guest_watch = NULL;
        return fail(EAGAIN, "cannot start the guest watcher");
    }
    return 0;
}

void guests_watch_stop(struct server *s)
{
    struct guest_watch *w = s->guest_watch;
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
    s->guest_watch = NULL;
}
