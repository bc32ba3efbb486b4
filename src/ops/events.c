/* The event bus behind GET /api/v1/events: a ring of the last EVENTS_RING
 * events, each numbered.  Every listener keeps its own position; one that
 * falls more than a ring behind is told so ("overflow") and skips ahead, so
 * a slow client never holds memory or blocks publishers. */
#include "ops/ops.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "util/util.h"

#define EVENTS_RING 512

struct events {
    struct db *db;               /* the audit log */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char *ring[EVENTS_RING];    /* SSE frames; slot = seq % EVENTS_RING */
    uint64_t next;              /* the seq the next event gets (first is 1) */
    bool shutdown;
};

int events_new(struct db *db, struct events **out)
{
    struct events *e = calloc(1, sizeof(*e));
    if (!e)
        return fail(ENOMEM, "out of memory");
    e->db = db;
    pthread_mutex_init(&e->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cond, &ca);
    pthread_condattr_destroy(&ca);
    e->next = 1;
    *out = e;
    return 0;
}

void events_free(struct events *e)
{
    if (!e)
        return;
    for (int i = 0; i < EVENTS_RING; i++)
        free(e->ring[i]);
    pthread_cond_destroy(&e->cond);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

void events_shutdown(struct events *e)
{
    pthread_mutex_lock(&e->lock);
    e->shutdown = true;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

void events_emit(struct events *e, const char *type, struct json_object *metadata)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string(type));
    json_object_object_add(o, "time", json_object_new_int64(ts.tv_sec));
    json_object_object_add(o, "metadata", metadata);

    pthread_mutex_lock(&e->lock);
    uint64_t seq = e->next++;
    char *frame = NULL;
    if (asprintf(&frame, "id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)seq, type,
                 json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
        frame = NULL;
    free(e->ring[seq % EVENTS_RING]);
    e->ring[seq % EVENTS_RING] = frame;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
    json_object_put(o);
}

uint64_t events_head(struct events *e)
{
    pthread_mutex_lock(&e->lock);
    uint64_t h = e->next - 1;
    pthread_mutex_unlock(&e->lock);
    return h;
}

long events_next(struct events *e, uint64_t *seq, char *buf, size_t len, int timeout_ms)
{
    struct timespec dl = deadline_after(CLOCK_MONOTONIC, timeout_ms);
    long n = 0;
    pthread_mutex_lock(&e->lock);
    while (!e->shutdown && *seq + 1 >= e->next)
        if (pthread_cond_timedwait(&e->cond, &e->lock, &dl) == ETIMEDOUT)
            break;
    if (e->shutdown) {
        n = -EPIPE;
    } else if (*seq + 1 < e->next) {
        if (e->next - (*seq + 1) > EVENTS_RING - 1) {
            *seq = e->next - 1;
            n = snprintf(buf, len, "event: overflow\ndata: {\"message\":\"you fell behind; "
                                   "events were skipped\"}\n\n");
        } else {
            const char *f = e->ring[(*seq + 1) % EVENTS_RING];
            (*seq)++;
            n = f && strlen(f) < len ? snprintf(buf, len, "%s", f) : 0;
        }
    }
    pthread_mutex_unlock(&e->lock);
    return n;
}

/* The one place a change is recorded: its audit row, then its event. */
void events_record(struct events *e, const struct principal *who, const char *action, const char *target,
                   struct json_object *detail)
{
    const char *d = detail ? json_object_to_json_string_ext(detail, JSON_C_TO_STRING_PLAIN) : "{}";
    if (db_exec(e->db, "INSERT INTO audit (time, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                "issss", (int64_t)time(NULL), who->name, action, target, d) < 0)
        log_error("audit log: %s", err_msg());
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "action", json_object_new_string(action));
    json_object_object_add(m, "target", json_object_new_string(target));
    json_object_object_add(m, "actor", json_object_new_string(who->name));
    json_object_object_add(m, "detail", detail ? json_object_get(detail) : json_object_new_object());
    events_emit(e, "lifecycle", m);
}
