/* The request pipeline: authenticate, route, authorize, CSRF, parse the
 * body, call the handler; and what handlers of database rows share (a
 * list of rows, PATCH of a description). */
#include "server/server.h"

#include <json-c/json.h>
#include <sodium.h>
#include <string.h>

#include "util/util.h"

static bool is_write(const char *method)
{
    return strcmp(method, "GET") && strcmp(method, "HEAD");
}

/* json-c accepts 'single-quoted' strings even when strict; JSON does not. */
void api_handle(struct server *s, struct req *r, struct resp *out)
{
    memset(out, 0, sizeof(*out));
    enum api_err err;
    const struct route *rt = route_match(routes, routes_count, r, &err);
    bool is_login = rt && rt->role == ROLE_NONE;

    /* Anonymous callers learn nothing but the login route's existence. */
    if (s && auth_identify(s->auth, r) < 0) {
        if (!is_login) {
            api_error(out, E_UNAUTHENTICATED, "%s", err_msg());
            return;
        }
        /* A browser keeps sending the cookie of a session the server ended
         * (password change): that must not stop it from logging in again. */
        memset(&r->who, 0, sizeof(r->who));
    }
    if (r->who.kind == AUTH_ANON && !is_login) {
        api_error(out, E_UNAUTHENTICATED, "log in first (POST /api/v1/auth/login) or send "
                                          "'Authorization: Bearer TOKEN'");
        return;
    }
    if (!rt) {
        api_error(out, err, "%s", err_msg());
        return;
    }
    if (r->who.role < rt->role) {
        api_error(out, E_FORBIDDEN, "%s %s needs the %s role; you are %s", rt->method, rt->path,
                  role_name(rt->role), role_name(r->who.role));
        return;
    }
    if (r->who.kind == AUTH_SESSION && is_write(r->method) &&
        (!r->csrf_token || strlen(r->csrf_token) != strlen(r->who.csrf) ||
         sodium_memcmp(r->csrf_token, r->who.csrf, strlen(r->who.csrf)))) {
        api_error(out, E_CSRF, "writes with a session cookie need the 'X-CSRF-Token' header "
                               "with the csrf_token the login returned");
        return;
    }
    if (!is_write(r->method) && r->body_len) {
        api_error(out, E_BAD_JSON, "%s requests take no body", r->method);
        return;
    }
    if (api_parse_body(r, out))
        return;
    if (!s) {
        api_sync(out, 200, NULL);
        return;
    }
    if (r->who.kind != AUTH_ANON && r->on_auth)
        r->on_auth(r->on_auth_arg);
    rt->fn(s, r, out);
    if (!out->body && !out->raw && !out->stream_events && out->ws_fd <= 0)
        api_error(out, E_INTERNAL, "the handler gave no answer");
}

int api_list(struct server *s, struct resp *out, const char *sql,
             struct json_object *(*view)(struct json_object *row, char etag[24]))
{
    struct json_object *rows;
    int rc = db_rows(s->db, &rows, sql, "");
    if (rc < 0)
        return api_errno(out, rc);
    struct json_object *list = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(rows); i++)
        json_object_array_add(list, view(json_object_array_get_idx(rows, i), NULL));
    json_object_put(rows);
    return api_sync(out, 200, list);
}

int api_patch_description(struct server *s, struct req *r, struct resp *out, api_load_fn load,
                          const char *update_sql, const char *event, route_fn get)
{
    const char *desc = NULL;
    const struct field f[] = { { "description", F_STRING, true, &desc, NULL } };
    int rc = api_fields(r, f, ARRAY_SIZE(f), out);
    if (rc)
        return rc;
    if ((rc = api_check_description(desc, out)))
        return rc;
    struct json_object *cur;
    if ((rc = db_begin(s->db)) < 0)
        return api_errno(out, rc);
    if ((rc = load(s, r->param[0], &cur, out)) == 0) {
        rc = api_check_if_match(r, cur, out);
        json_object_put(cur);
    }
    if (rc == 0) {
        int e = db_exec(s->db, update_sql, "ss", desc, r->param[0]);
        rc = e < 0 ? api_errno(out, e) : 0;
    }
    if (rc) {
        db_rollback(s->db);
        return rc;
    }
    if ((rc = db_commit(s->db)) < 0)
        return api_errno(out, rc);
    events_record(s->events, &r->who, event, r->param[0], NULL);
    return get(s, r, out);
}
