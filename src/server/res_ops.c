/* The operations and events resources: GET /operations (the last 200),
 * GET, wait on and cancel one, and the event stream (http.c streams the
 * frames of events_next()). */
#include "server/server.h"

#include <json-c/json.h>

#include "util/util.h"

int h_ops_list(struct server *s, struct req *r, struct resp *out)
{
    (void)r;
    struct json_object *rows;
    int rc = db_rows(s->db, &rows, "SELECT id FROM operations ORDER BY created DESC, rowid DESC LIMIT 200", "");
    if (rc < 0)
        return api_errno(out, rc);
    struct json_object *list = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        struct json_object *op;
        const char *id = json_object_get_string(json_object_object_get(json_object_array_get_idx(rows, i), "id"));
        if (ops_get(s->ops, id, &op) == 0)
            json_object_array_add(list, op);
    }
    json_object_put(rows);
    return api_sync(out, 200, list);
}

static int op_answer(struct server *s, const char *id, struct resp *out)
{
    if (!name_valid(id))
        return api_error(out, E_BAD_NAME, "'%.64s' is not an operation id", id);
    struct json_object *op;
    int rc = ops_get(s->ops, id, &op);
    return rc < 0 ? api_errno(out, rc) : api_sync(out, 200, op);
}

int h_op_get(struct server *s, struct req *r, struct resp *out)
{
    return op_answer(s, r->param[0], out);
}

int h_op_wait(struct server *s, struct req *r, struct resp *out)
{
    char buf[16];
    uint64_t timeout = 30;
    const char *t;
    int rc = api_query(r, "timeout", buf, sizeof(buf), &t, out);
    if (rc)
        return rc;
    if (t && parse_uint(t, 0, 3600, &timeout) < 0)
        return api_error(out, E_BAD_QUERY, "timeout must be whole seconds, 0..3600");
    struct json_object *op;
    if (name_valid(r->param[0]) && ops_wait(s->ops, r->param[0], (int)timeout * 1000, &op) == 0)
        return api_sync(out, 200, op);
    return op_answer(s, r->param[0], out);
}

int h_op_cancel(struct server *s, struct req *r, struct resp *out)
{
    const char *id = r->param[0];
    if (!name_valid(id))
        return api_error(out, E_BAD_NAME, "'%.64s' is not an operation id", id);
    if (ops_cancel(s->ops, id) < 0) {
        struct json_object *op;
        int rc = ops_get(s->ops, id, &op);
        if (rc < 0)
            return api_errno(out, rc);
        json_object_put(op);
        return api_error(out, E_CONFLICT, "operation %s has already finished", id);
    }
    events_record(s->events, &r->who, "operation.cancel", id, NULL);
    return op_answer(s, id, out);
}

int h_events(struct server *s, struct req *r, struct resp *out)
{
    (void)s, (void)r;
    out->stream_events = true;    /* http.c streams events_next() frames */
    return out->status = 200;
}
