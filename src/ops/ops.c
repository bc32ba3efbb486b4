/* Operations: slow work queued to a pool of worker threads, each with an id
 * clients can poll, wait on or cancel.  The database holds every
 * operation's record (so ids stay answerable after it finishes and after a
 * restart); memory holds only those still pending or running, with their
 * resource locks.  A second operation wanting a held lock is refused with
 * 409 "busy" naming the holder: callers wait on it and retry, which keeps
 * the server free of hidden queues that outlive their clients. */
#include "ops/ops.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdlib.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "util/util.h"

static const char *const status_names[] = { "pending", "running", "success", "failure", "cancelled" };

struct op {
    char id[33];
    char kind[32];
    char owner[NAME_MAX_LEN + 16];
    char locks[2][192];
    enum op_status status;
    int progress;
    char error[512];
    atomic_bool cancel;
    op_fn fn;
    op_done_fn done;
    void *arg;
    struct json_object *resources;
    int64_t created, updated;
    int refs;
    struct op *next;            /* the active list */
    struct op *qnext;           /* the queue */
    struct ops *ops;
};

struct ops {
    struct server *owner;        /* run and done functions get it */
    struct db *db;
    struct events *events;
    pthread_mutex_t lock;
    pthread_cond_t work;        /* the queue got an op, or stopping */
    pthread_cond_t changed;     /* an op's status changed */
    struct op *active, *qhead, *qtail;
    pthread_t *threads;
    int nthreads;
    bool stopping;
};

static int64_t now_s(void) { return (int64_t)time(NULL); }
const char *op_id(const struct op *op) { return op->id; }
bool op_cancelled(struct op *op) { return atomic_load(&op->cancel); }

static struct json_object *op_json(const struct op *op)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(op->id));
    json_object_object_add(o, "kind", json_object_new_string(op->kind));
    json_object_object_add(o, "owner", json_object_new_string(op->owner));
    json_object_object_add(o, "status", json_object_new_string(status_names[op->status]));
    json_object_object_add(o, "progress", json_object_new_int(op->progress));
    json_object_object_add(o, "error", json_object_new_string(op->error));
    json_object_object_add(o, "resources", json_object_get(op->resources));
    json_object_object_add(o, "created", json_object_new_int64(op->created));
    json_object_object_add(o, "updated", json_object_new_int64(op->updated));
    return o;
}

/* Announces the op's state, and persists it once it ended; called with
 * ops->lock held.  While it is queued or runs, its status and progress
 * live in memory (ops_get answers from there); the database has its row
 * as queued, which is what a restart needs (ops_recover). */
static void op_publish(struct ops *o, struct op *op)
{
    op->updated = now_s();
    if (op->status > OP_RUNNING)
        db_exec(o->db, "UPDATE operations SET status = ?, progress = ?, error = ?, updated = ? "
                "WHERE id = ?", "sisis", status_names[op->status], (int64_t)op->progress, op->error,
                op->updated, op->id);
    events_emit(o->events, "operation", op_json(op));
    pthread_cond_broadcast(&o->changed);
}

void op_progress(struct op *op, int percent)
{
    struct ops *o = op->ops;
    percent = MAX(0, MIN(100, percent));
    pthread_mutex_lock(&o->lock);
    bool step = percent / 10 != op->progress / 10;
    op->progress = percent;
    if (step)    /* announce every 10 %, not every call */
        op_publish(o, op);
    pthread_mutex_unlock(&o->lock);
}

static void op_unref(struct op *op)
{
    if (--op->refs > 0)
        return;
    json_object_put(op->resources);
    free(op->arg);
    free(op);
}

static bool keys_overlap(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), n = MIN(la, lb);
    return strncmp(a, b, n) == 0 && (la == lb || (la < lb ? b[n] : a[n]) == '/');
}

/* The active op holding a lock that overlaps key; ops->lock held. */
static struct op *lock_holder(struct ops *o, const char *key)
{
    for (struct op *op = o->active; op; op = op->next)
        for (int i = 0; i < 2; i++)
            if (op->locks[i][0] && keys_overlap(op->locks[i], key))
                return op;
    return NULL;
}

bool ops_busy(struct ops *o, const char *key, char *id, size_t len)
{
    pthread_mutex_lock(&o->lock);
    struct op *op = lock_holder(o, key);
    if (op)
        snprintf(id, len, "%s", op->id);
    pthread_mutex_unlock(&o->lock);
    return op != NULL;
}

static void op_finish(struct ops *o, struct op *op, int result)
{
    char msg[sizeof(op->error)];
    snprintf(msg, sizeof(msg), "%s", result < 0 ? err_msg() : "");
    op->done(o->owner, op, op->arg, result);
    pthread_mutex_lock(&o->lock);
    op->status = result == 0 ? OP_SUCCESS : result == -ECANCELED ? OP_CANCELLED : OP_FAILURE;
    snprintf(op->error, sizeof(op->error), "%s", result == -ECANCELED && !msg[0] ? "cancelled" : msg);
    if (op->status == OP_SUCCESS)
        op->progress = 100;
    for (struct op **p = &o->active; *p; p = &(*p)->next)
        if (*p == op) {
            *p = op->next;
            break;
        }
    op_publish(o, op);
    pthread_mutex_unlock(&o->lock);
}

static void *worker(void *arg)
{
    struct ops *o = arg;
    pthread_mutex_lock(&o->lock);
    for (;;) {
        while (!o->qhead && !o->stopping)
            pthread_cond_wait(&o->work, &o->lock);
        struct op *op = o->qhead;
        if (!op)
            break;
        o->qhead = op->qnext;
        if (!o->qhead)
            o->qtail = NULL;
        int r;
        if (op_cancelled(op)) {
            pthread_mutex_unlock(&o->lock);
            r = fail(ECANCELED, "%s", o->stopping ? "corrald shut down before it ran" : "cancelled");
        } else {
            op->status = OP_RUNNING;
            op_publish(o, op);
            pthread_mutex_unlock(&o->lock);
            r = op->fn(o->owner, op, op->arg);
            if (r < 0 && op_cancelled(op) && r != -ECANCELED)
                r = fail(ECANCELED, "cancelled");
        }
        op_finish(o, op, r);
        pthread_mutex_lock(&o->lock);
        op_unref(op);
    }
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

int ops_new(struct server *owner, struct db *db, struct events *ev, int workers, struct ops **out)
{
    struct ops *o = calloc(1, sizeof(*o));
    if (!o)
        return fail(ENOMEM, "out of memory");
    o->owner = owner;
    o->db = db;
    o->events = ev;
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->work, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&o->changed, &ca);
    pthread_condattr_destroy(&ca);
    o->threads = calloc((size_t)workers, sizeof(pthread_t));
    for (int i = 0; o->threads && i < workers; i++) {
        if (pthread_create(&o->threads[i], NULL, worker, o))
            break;
        o->nthreads++;
    }
    if (o->nthreads == 0) {
        ops_free(o);
        return fail(EAGAIN, "cannot start operation workers");
    }
    *out = o;
    return 0;
}

void ops_stop(struct ops *o)
{
    pthread_mutex_lock(&o->lock);
    o->stopping = true;
    for (struct op *op = o->active; op; op = op->next)
        atomic_store(&op->cancel, true);
    pthread_cond_broadcast(&o->work);
    pthread_cond_broadcast(&o->changed);
    pthread_mutex_unlock(&o->lock);
    for (int i = 0; i < o->nthreads; i++)
        pthread_join(o->threads[i], NULL);
    o->nthreads = 0;
}

void ops_free(struct ops *o)
{
    if (!o)
        return;
    ops_stop(o);
    free(o->threads);
    pthread_cond_destroy(&o->work);
    pthread_cond_destroy(&o->changed);
    pthread_mutex_destroy(&o->lock);
    free(o);
}

int ops_recover(struct db *db)
{
    int n = db_exec(db, "UPDATE operations SET status = 'failure', updated = ?, "
                    "error = 'corrald stopped while this operation was running' "
                    "WHERE status IN ('pending', 'running')", "i", now_s());
    if (n > 0)
        log_warn("%d operation(s) were interrupted by a restart and are marked failed", n);
    /* Keep a bounded history: finished operations older than a week go. */
    db_exec(db, "DELETE FROM operations WHERE updated < ? AND status NOT IN ('pending','running')",
            "i", now_s() - 7 * 86400);
    return n < 0 ? n : 0;
}

int ops_submit(struct ops *o, const struct principal *who, const struct op_spec *spec, struct resp *out)
{
    struct op *op = calloc(1, sizeof(*op));
    if (!op)
        return api_error(out, E_INTERNAL, "out of memory");
    uint8_t rnd[16];
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(op->id, sizeof(op->id), rnd, sizeof(rnd));
    snprintf(op->kind, sizeof(op->kind), "%s", spec->kind);
    snprintf(op->owner, sizeof(op->owner), "%s", who->name);
    for (int i = 0; i < 2; i++)
        snprintf(op->locks[i], sizeof(op->locks[i]), "%s", spec->locks[i] ? spec->locks[i] : "");
    op->fn = spec->fn;
    op->done = spec->done;
    op->arg = spec->arg;
    op->resources = spec->resources ? json_object_get(spec->resources) : json_object_new_array();
    op->created = op->updated = now_s();
    op->refs = 1;
    op->ops = o;

    pthread_mutex_lock(&o->lock);
    struct op *holder = NULL;
    for (int i = 0; i < 2 && !holder; i++)
        if (op->locks[i][0])
            holder = lock_holder(o, op->locks[i]);
    int status;
    if (o->stopping) {
        status = api_error(out, E_UNAVAILABLE, "corrald is shutting down; retry when it is back");
    } else if (holder) {
        status = api_error(out, E_BUSY, "operation %s (%s) is still working on this; wait for it "
                           "(GET /api/v1/operations/%s/wait) and retry", holder->id, holder->kind, holder->id);
    } else if (db_exec(o->db, "INSERT INTO operations (id, kind, owner, status, progress, resources, "
                       "created, updated) VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)", "ssssii", op->id,
                       op->kind, op->owner, json_object_to_json_string_ext(op->resources,
                       JSON_C_TO_STRING_PLAIN), op->created, op->updated) < 0) {
        status = api_errno(out, -EIO);
    } else {
        op->next = o->active;
        o->active = op;
        op->refs++;    /* the queue's reference, dropped by the worker */
        if (o->qtail)
            o->qtail->qnext = op;
        else
            o->qhead = op;
        o->qtail = op;
        struct json_object *env = json_object_new_object();
        char url[64];
        snprintf(url, sizeof(url), API_PREFIX "/operations/%s", op->id);
        json_object_object_add(env, "type", json_object_new_string("async"));
        json_object_object_add(env, "status_code", json_object_new_int(202));
        json_object_object_add(env, "operation", json_object_new_string(url));
        json_object_object_add(env, "metadata", op_json(op));
        json_object_put(out->body);
        out->body = env;
        status = out->status = 202;
        events_emit(o->events, "operation", op_json(op));
        pthread_cond_signal(&o->work);
    }
    if (status != 202)
        op->arg = NULL;    /* the caller still owns arg when we refuse */
    op_unref(op);
    pthread_mutex_unlock(&o->lock);
    if (status != 202)
        free(spec->arg);
    return status;
}

int ops_submit_on(struct ops *o, const struct principal *who, const char *key, const char *kind, op_fn fn,
                  op_done_fn done, void *arg, struct resp *out)
{
    char url[256];
    snprintf(url, sizeof(url), API_PREFIX "/%s", key);
    struct json_object *res = json_object_new_array();
    json_object_array_add(res, json_object_new_string(url));
    struct op_spec spec = { .kind = kind, .locks = { key }, .fn = fn, .done = done, .arg = arg, .resources = res };
    int rc = ops_submit(o, who, &spec, out);
    json_object_put(res);
    return rc;
}

static struct op *find_active(struct ops *o, const char *id)
{
    for (struct op *op = o->active; op; op = op->next)
        if (!strcmp(op->id, id))
            return op;
    return NULL;
}

int ops_wait(struct ops *o, const char *id, int timeout_ms, struct json_object **out)
{
    struct timespec dl = deadline_after(CLOCK_MONOTONIC, timeout_ms);
    pthread_mutex_lock(&o->lock);
    struct op *op = find_active(o, id);
    if (op) {
        op->refs++;
        while (!o->stopping && op->status <= OP_RUNNING)
            if (pthread_cond_timedwait(&o->changed, &o->lock, &dl) == ETIMEDOUT)
                break;
        if (out)    /* from memory: an op that ended is in the database too */
            *out = op_json(op);
        op_unref(op);
    }
    pthread_mutex_unlock(&o->lock);
    return op ? 0 : -ENOENT;
}

int ops_cancel(struct ops *o, const char *id)
{
    pthread_mutex_lock(&o->lock);
    struct op *op = find_active(o, id);
    if (op)
        atomic_store(&op->cancel, true);
    pthread_mutex_unlock(&o->lock);
    return op ? 0 : -ENOENT;
}

int ops_get(struct ops *o, const char *id, struct json_object **out)
{
    pthread_mutex_lock(&o->lock);
    struct op *op = find_active(o, id);
    if (op) {
        *out = op_json(op);
        pthread_mutex_unlock(&o->lock);
        return 0;
    }
    pthread_mutex_unlock(&o->lock);
    struct json_object *row;
    int r = db_row(o->db, &row, "SELECT id, kind, owner, status, progress, error, resources, created, "
                   "updated FROM operations WHERE id = ?", "s", id);
    if (r < 0)
        return r == -ENOENT ? fail(ENOENT, "no operation %s", id) : r;
    struct json_object *res = json_tokener_parse(json_object_get_string(json_object_object_get(row, "resources")));
    json_object_object_add(row, "resources", res ? res : json_object_new_array());
    *out = row;
    return 0;
}
