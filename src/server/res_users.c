/* Users, API tokens and the audit log.  A token acts for its user with at
 * most the role it was created with (never more than the user's own), so a
 * program can be given less than its owner has. */
#include "server/server.h"

#include <errno.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/util.h"

#define USER_COLS "name, role, created"

static int load_user(struct server *s, const char *name, struct json_object **out, struct resp *resp)
{
    if (!name_valid(name))
        return api_error(resp, E_BAD_NAME, "'%.64s' is not a valid user name (^[a-z0-9][a-z0-9-]{0,62}$)", name);
    if (db_row(s->db, out, "SELECT " USER_COLS " FROM users WHERE name = ?", "s", name) < 0)
        return api_error(resp, E_NOT_FOUND, "no user '%s'", name);
    return 0;
}

int h_users_list(struct server *s, struct req *r, struct resp *out)
{
    (void)r;
    struct json_object *rows;
    int rc = db_rows(s->db, &rows, "SELECT " USER_COLS " FROM users ORDER BY name", "");
    return rc < 0 ? api_errno(out, rc) : api_sync(out, 200, rows);
}

int h_user_get(struct server *s, struct req *r, struct resp *out)
{
    struct json_object *u;
    int rc = load_user(s, r->param[0], &u, out);
    if (rc)
        return rc;
    api_etag(u, out->etag);
    return api_sync(out, 200, u);
}

int h_users_create(struct server *s, struct req *r, struct resp *out)
{
    const char *name = NULL, *role_s = NULL, *password = NULL;
    const struct field f[] = {
        { "name", F_STRING, true, &name, NULL },
        { "role", F_STRING, true, &role_s, NULL },
        { "password", F_STRING, true, &password, NULL },
    };
    enum role role;
    int rc = api_fields(r, f, ARRAY_SIZE(f), out);
    if (rc)
        return rc;
    if (!name_valid(name))
        return api_error(out, E_BAD_NAME, "'%.64s' is not a valid user name (^[a-z0-9][a-z0-9-]{0,62}$)", name);
    if (role_parse(role_s, &role) < 0)
        return api_error(out, E_BAD_FIELD, "%s", err_msg());
    if ((rc = auth_password_ok(password, out)))
        return rc;
    char hash[crypto_pwhash_STRBYTES];
    if ((rc = auth_hash_password(password, hash, sizeof(hash))) < 0)
        return api_errno(out, rc);
    rc = db_exec(s->db, "INSERT INTO users (name, role, pwhash, created) VALUES (?, ?, ?, ?)", "sssi",
                 name, role_s, hash, (int64_t)time(NULL));
    if (rc == -EEXIST)
        return api_error(out, E_EXISTS, "user '%s' already exists", name);
    if (rc < 0)
        return api_errno(out, rc);
    struct json_object *d = json_object_new_object(), *u;
    json_object_object_add(d, "role", json_object_new_string(role_s));
    events_record(s->events, &r->who, "user.create", name, d);
    json_object_put(d);
    if ((rc = load_user(s, name, &u, out)))
        return rc;
    api_etag(u, out->etag);
    return api_sync(out, 201, u);
}

/* True when removing or demoting `name` would leave no admin. */
static bool last_admin(struct server *s, const char *name)
{
    struct json_object *row;
    if (db_row(s->db, &row, "SELECT count(*) AS n FROM users WHERE role = 'admin' AND name != ?", "s", name) < 0)
        return true;
    bool last = json_object_get_int64(json_object_object_get(row, "n")) == 0;
    json_object_put(row);
    return last;
}

int h_user_patch(struct server *s, struct req *r, struct resp *out)
{
    const char *name = r->param[0], *role_s = NULL, *password = NULL;
    const struct field f[] = {
        { "role", F_STRING, false, &role_s, NULL },
        { "password", F_STRING, false, &password, NULL },
    };
    enum role role;
    int rc = api_fields(r, f, ARRAY_SIZE(f), out);
    if (rc)
        return rc;
    if (role_s && role_parse(role_s, &role) < 0)
        return api_error(out, E_BAD_FIELD, "%s", err_msg());
    if (password && (rc = auth_password_ok(password, out)))
        return rc;
    char hash[crypto_pwhash_STRBYTES] = "";
    if (password && (rc = auth_hash_password(password, hash, sizeof(hash))) < 0)
        return api_errno(out, rc);

    struct json_object *u;
    if ((rc = db_begin(s->db)) < 0)
        return api_errno(out, rc);
    if ((rc = load_user(s, name, &u, out))) {
        db_rollback(s->db);
        return rc;
    }
    rc = api_check_if_match(r, u, out);
    json_object_put(u);
    if (rc) {
        db_rollback(s->db);
        return rc;
    }
    if (role_s && role != ROLE_ADMIN && last_admin(s, name)) {
        db_rollback(s->db);
        return api_error(out, E_CONFLICT, "'%s' is the last admin: make another user admin first", name);
    }
    if (role_s)
        db_exec(s->db, "UPDATE users SET role = ? WHERE name = ?", "ss", role_s, name);
    if (password) {
        db_exec(s->db, "UPDATE users SET pwhash = ? WHERE name = ?", "ss", hash, name);
        /* A new password ends every session of that user. */
        db_exec(s->db, "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?)", "s", name);
    }
    if ((rc = db_commit(s->db)) < 0)
        return api_errno(out, rc);
    struct json_object *d = json_object_new_object();
    if (role_s)
        json_object_object_add(d, "role", json_object_new_string(role_s));
    json_object_object_add(d, "password_changed", json_object_new_boolean(password != NULL));
    events_record(s->events, &r->who, "user.update", name, d);
    json_object_put(d);
    return h_user_get(s, r, out);
}

int h_user_delete(struct server *s, struct req *r, struct resp *out)
{
    const char *name = r->param[0];
    struct json_object *u;
    int rc = load_user(s, name, &u, out);
    if (rc)
        return rc;
    json_object_put(u);
    if (last_admin(s, name))
        return api_error(out, E_CONFLICT, "'%s' is the last admin: make another user admin first", name);
    if ((rc = db_exec(s->db, "DELETE FROM users WHERE name = ?", "s", name)) < 0)
        return api_errno(out, rc);
    events_record(s->events, &r->who, "user.delete", name, NULL);
    return api_sync(out, 200, NULL);
}

/* ---- tokens -------------------------------------------------------------- */

int h_tokens_list(struct server *s, struct req *r, struct resp *out)
{
    struct json_object *rows;
    int rc = db_rows(s->db, &rows, "SELECT t.id, t.name, u.name AS user, t.role, t.created, t.expires, "
                     "t.last_used FROM tokens t JOIN users u ON u.id = t.user_id "
                     "WHERE ? OR t.user_id = ? ORDER BY u.name, t.name", "ii",
                     (int64_t)(r->who.role == ROLE_ADMIN), r->who.user_id);
    return rc < 0 ? api_errno(out, rc) : api_sync(out, 200, rows);
}

int h_tokens_create(struct server *s, struct req *r, struct resp *out)
{
    const char *name = NULL, *role_s = NULL;
    int64_t days = 0;
    const struct field f[] = {
        { "name", F_STRING, true, &name, NULL },
        { "role", F_STRING, false, &role_s, NULL },
        { "expires_days", F_INT, false, &days, NULL },
    };
    int rc = api_fields(r, f, ARRAY_SIZE(f), out);
    if (rc)
        return rc;
    if (r->who.user_id == 0)
        return api_error(out, E_FORBIDDEN, "tokens belong to users: log in as one (root on the socket is not a user)");
    if (!name_valid(name))
        return api_error(out, E_BAD_NAME, "'%.64s' is not a valid token name (^[a-z0-9][a-z0-9-]{0,62}$)", name);
    enum role role = r->who.role;
    if (role_s && role_parse(role_s, &role) < 0)
        return api_error(out, E_BAD_FIELD, "%s", err_msg());
    if (role > r->who.role)
        return api_error(out, E_FORBIDDEN, "a token cannot have more than your own role (%s)",
                         role_name(r->who.role));
    if (days < 0 || days > 3650)
        return api_error(out, E_BAD_FIELD, "expires_days must be 0 (never) to 3650");

    char id[17], secret[64], hash[65], token[96];
    uint8_t rnd[8];
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(id, sizeof(id), rnd, sizeof(rnd));
    auth_secret(secret, 32);
    snprintf(token, sizeof(token), "corral_%s", secret);
    auth_hash_secret(token, hash);
    int64_t now = (int64_t)time(NULL);
    /* Counted and inserted in one statement, so parallel requests cannot
     * pass the cap together. */
    rc = db_exec(s->db, "INSERT INTO tokens (id, name, user_id, role, hash, created, expires) "
                 "SELECT ?, ?, ?, ?, ?, ?, ? WHERE (SELECT count(*) FROM tokens WHERE user_id = ? "
                 "AND (expires = 0 OR expires > ?)) < ?", "ssissiiiii", id, name, r->who.user_id,
                 role_name(role), hash, now, days ? now + days * 86400 : 0, r->who.user_id, now,
                 (int64_t)TOKENS_PER_USER);
    if (rc == -EEXIST)
        return api_error(out, E_EXISTS, "you already have a token named '%s'", name);
    if (rc < 0)
        return api_errno(out, rc);
    if (rc == 0)
        return api_error(out, E_CONFLICT, "you already have %d live tokens, the most a user may have: "
                         "revoke one first", TOKENS_PER_USER);
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "name", json_object_new_string(name));
    json_object_object_add(d, "role", json_object_new_string(role_name(role)));
    events_record(s->events, &r->who, "token.create", id, d);
    json_object_put(d);
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "id", json_object_new_string(id));
    json_object_object_add(m, "name", json_object_new_string(name));
    json_object_object_add(m, "role", json_object_new_string(role_name(role)));
    json_object_object_add(m, "token", json_object_new_string(token));
    sodium_memzero(token, sizeof(token));
    sodium_memzero(secret, sizeof(secret));
    return api_sync(out, 201, m);
}

int h_token_delete(struct server *s, struct req *r, struct resp *out)
{
    const char *id = r->param[0];
    if (!name_valid(id))
        return api_error(out, E_BAD_NAME, "'%.64s' is not a token id", id);
    int rc = db_exec(s->db, "DELETE FROM tokens WHERE id = ? AND (? OR user_id = ?)", "sii", id,
                     (int64_t)(r->who.role == ROLE_ADMIN), r->who.user_id);
    if (rc < 0)
        return api_errno(out, rc);
    if (rc == 0)
        return api_error(out, E_NOT_FOUND, "no token '%s' of yours", id);
    events_record(s->events, &r->who, "token.delete", id, NULL);
    return api_sync(out, 200, NULL);
}

/* ---- audit ----------------------------------------------------------------- */

int h_audit(struct server *s, struct req *r, struct resp *out)
{
    char buf[16];
    uint64_t limit = 100;
    const char *l;
    int rc = api_query(r, "limit", buf, sizeof(buf), &l, out);
    if (rc)
        return rc;
    if (l && parse_uint(l, 1, 10000, &limit) < 0)
        return api_error(out, E_BAD_QUERY, "limit must be 1..10000");
    struct json_object *rows;
    rc = db_rows(s->db, &rows, "SELECT id, time, actor, action, target, detail FROM audit "
                     "ORDER BY id DESC LIMIT ?", "i", (int64_t)limit);
    if (rc < 0)
        return api_errno(out, rc);
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        struct json_object *row = json_object_array_get_idx(rows, i);
        struct json_object *d = json_tokener_parse(json_object_get_string(json_object_object_get(row, "detail")));
        json_object_object_add(row, "detail", d);
    }
    return api_sync(out, 200, rows);
}

int h_login(struct server *s, struct req *r, struct resp *out) { return auth_login(s->auth, r, out); }
int h_logout(struct server *s, struct req *r, struct resp *out) { return auth_logout(s->auth, r, out); }

int h_whoami(struct server *s, struct req *r, struct resp *out)
{
    (void)s;
    return auth_whoami(r, out);
}
