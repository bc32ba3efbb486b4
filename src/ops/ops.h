/* ops — operations and events: slow work queued to a pool of worker
 * threads, each with an id clients can poll, wait on or cancel, holding
 * per-resource locks (a second operation wanting a held lock is refused
 * with 409 "busy" naming the holder); and the event bus behind
 * GET /api/v1/events with the audit log every change is recorded in.
 * Thread-safe. */
#ifndef CORRAL_OPS_H
#define CORRAL_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"

struct db;
struct events;
struct json_object;
struct ops;
struct server;

enum op_status { OP_PENDING, OP_RUNNING, OP_SUCCESS, OP_FAILURE, OP_CANCELLED };
struct op;
/* Runs on a worker; returns 0 or a negative errno via fail().  Calls
 * op_progress() now and then and stops early when op_cancelled(). */
typedef int (*op_fn)(struct server *s, struct op *op, void *arg);
/* Called after fn (or instead of it, when cancelled while pending) with the
 * result, to commit or undo; runs on a worker thread. */
typedef void (*op_done_fn)(struct server *s, struct op *op, void *arg, int result);

struct op_spec {
    const char *kind;            /* "volume.create" */
    const char *locks[2];        /* resource keys: "pools/p1/volumes/v1"; NULL = unused */
    op_fn fn;
    op_done_fn done;
    void *arg;                   /* freed with free() after done */
    struct json_object *resources;   /* borrowed: URLs the op concerns */
};

/* OWNER is what run and done functions get as their first argument; the
 * operations' records live in DB, their changes are published on EV. */
int ops_new(struct server *owner, struct db *db, struct events *ev, int workers, struct ops **out);
/* Cancels running and queued work and joins the workers; later submits get
 * 503.  ops_free() then frees (once no request thread can use it). */
void ops_stop(struct ops *o);
void ops_free(struct ops *o);
/* Marks operations left pending/running by a previous process as failed. */
int ops_recover(struct db *db);
/* Queues an operation and answers 202 with it, or 409 when a lock is held
 * by another operation, or 503 when shutting down. */
int ops_submit(struct ops *o, const struct principal *who, const struct op_spec *spec, struct resp *out);
/* ops_submit() of an operation on the one resource KEY ("vms/vm1"): the
 * lock is KEY, the resource its URL (API_PREFIX "/vms/vm1"). */
int ops_submit_on(struct ops *o, const struct principal *who, const char *key, const char *kind, op_fn fn,
                  op_done_fn done, void *arg, struct resp *out);
/* True when an operation holds a lock at or below `key` ("pools/p1"). */
bool ops_busy(struct ops *o, const char *key, char *op_id, size_t len);
void op_progress(struct op *op, int percent);
bool op_cancelled(struct op *op);
const char *op_id(const struct op *op);
/* Blocks until the op finishes or timeout_ms passes, then gives its view
 * as ops_get() would (OUT may be NULL); -ENOENT if unknown to this process
 * (already finished or never existed): ask ops_get(). */
int ops_wait(struct ops *o, const char *id, int timeout_ms, struct json_object **out);
int ops_cancel(struct ops *o, const char *id);
int ops_get(struct ops *o, const char *id, struct json_object **out);

/* ---- events.c: the event bus and the audit log ------------------------ */

/* Changes are audited in DB. */
int events_new(struct db *db, struct events **out);
void events_free(struct events *e);
void events_shutdown(struct events *e);   /* wakes every listener for good */
/* Publishes {"type":type,"time":...,"metadata":metadata}; takes metadata. */
void events_emit(struct events *e, const char *type, struct json_object *metadata);
/* For one listener: copies the next event after *seq into buf as an SSE
 * frame, waiting up to timeout_ms.  Returns its length, 0 on timeout (the
 * caller sends a keep-alive), -EPIPE after shutdown. */
long events_next(struct events *e, uint64_t *seq, char *buf, size_t len, int timeout_ms);
uint64_t events_head(struct events *e);
/* Records a change: one audit row and one lifecycle event.  `detail` is
 * borrowed and must hold no secrets.  Every change goes through here. */
void events_record(struct events *e, const struct principal *who, const char *action, const char *target,
                   struct json_object *detail);

#endif
