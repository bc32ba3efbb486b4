/* api — the shape of corrald's REST API, below any resource: requests and
 * responses, the callers' roles, the three JSON envelopes (docs/api.md),
 *
 *   {"type":"sync",  "status_code":200, "metadata":...}
 *   {"type":"async", "status_code":202, "operation":"/api/v1/operations/ID", "metadata":{op}}
 *   {"type":"error", "status_code":4xx, "error":{"code":"bad_name", "message":"..."}}
 *
 * stable error codes, names and paths, strict JSON bodies and fields,
 * query parameters, ETags, and matching a path against a route table.
 * Nothing here knows a resource, the database or the HTTP library. */
#ifndef CORRAL_API_H
#define CORRAL_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct server;

#define API_PREFIX "/api/v1"
#define API_MAX_BODY (64 * 1024)
#define API_MAX_PARAMS 4
#define NAME_MAX_LEN 63
/* The rule of those names, as error messages state it. */
#define NAME_RULE "(^[a-z0-9][a-z0-9-]{0,62}$)"
/* A console's key: a VM's name, or "ct/" + a container's name. */
#define CONSOLE_KEY_MAX (NAME_MAX_LEN + 8)

/* ---- roles and the authenticated caller ------------------------------- */

enum role { ROLE_NONE = 0, ROLE_AUDITOR, ROLE_OPERATOR, ROLE_ADMIN };
const char *role_name(enum role r);
int role_parse(const char *s, enum role *out);   /* 0 or -EINVAL */

enum auth_kind { AUTH_ANON = 0, AUTH_SESSION, AUTH_TOKEN, AUTH_PEER };

struct principal {
    enum auth_kind kind;
    enum role role;
    int64_t user_id;             /* 0 for a root Unix-socket peer */
    char name[NAME_MAX_LEN + 16];
    char session[65];            /* AUTH_SESSION: the session's hash (hex) */
    char csrf[65];               /* AUTH_SESSION: the token writes must echo */
};

/* ---- requests and responses ------------------------------------------ */

struct req {
    const char *method;
    const char *path;            /* raw, not percent-decoded */
    const char *query;           /* raw text after '?', or NULL */
    const char *body;            /* NUL-terminated; NULL if none */
    size_t body_len;
    /* Headers (NULL if absent). */
    const char *content_type, *authorization, *cookie_session, *csrf_token, *if_match;
    const char *if_none_match;   /* static files only */
    const char *upgrade, *ws_key, *ws_version;   /* WebSocket handshake headers */
    const char *origin, *host;   /* a browser's WebSocket must come from this site */
    const char *peer_ip;         /* "unix" for the Unix socket */
    int peer_uid;                /* Unix socket: SO_PEERCRED uid, else -1 */
    /* api_handle() calls it once the caller is known to be logged in,
     * before the handler runs (http.c then trusts the connection). */
    void (*on_auth)(void *arg);
    void *on_auth_arg;

    /* Filled by api_handle(). */
    struct principal who;
    const char *param[API_MAX_PARAMS];  /* the route's {placeholders}, in order */
    char param_buf[256];
    struct json_object *json;    /* the parsed body (an object), or NULL */
};

struct resp {
    int status;
    struct json_object *body;    /* the envelope; owned */
    char *raw;                   /* a non-envelope body (openapi.json); owned */
    size_t raw_len;
    const char *raw_type;        /* its Content-Type */
    char etag[24];               /* "" = none */
    char *set_cookie;            /* owned */
    int retry_after;             /* seconds; 0 = none */
    bool stream_events;          /* answer with the SSE event stream */
    int ws_fd;                   /* > 0: upgrade to a WebSocket relaying this fd (owned) */
    char ws_accept[32];          /* its Sec-WebSocket-Accept */
    char ws_name[CONSOLE_KEY_MAX];    /* whose console this is (console_claim's key) */
    const char *cache_control;   /* static files; NULL = "no-store" */
    bool html;                   /* the web console's answers: add CSP and friends */
};

void resp_free(struct resp *r);

/* Stable error codes: clients match on the code, people read the message. */
enum api_err {
    E_BAD_JSON, E_UNKNOWN_FIELD, E_BAD_FIELD, E_MISSING_FIELD, E_BAD_NAME, E_BAD_PATH,
    E_BAD_QUERY, E_UNAUTHENTICATED, E_FORBIDDEN, E_CSRF, E_NOT_FOUND,
    E_METHOD_NOT_ALLOWED, E_EXISTS, E_BUSY, E_CONFLICT, E_PRECONDITION, E_TOO_LARGE,
    E_MEDIA_TYPE, E_TOO_MANY, E_INTERNAL, E_UNAVAILABLE,
};
const char *api_err_code(enum api_err e);
int api_err_status(enum api_err e);

/* Envelope builders.  Each returns the HTTP status it set. */
int api_sync(struct resp *out, int status, struct json_object *metadata);
int api_error(struct resp *out, enum api_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An error from a negative errno with err_msg(): ENOENT 404, EEXIST 409,
 * EBUSY 409, EINVAL/ERANGE 400, else 500 (the message is logged, the
 * client gets a generic one). */
int api_errno(struct resp *out, int neg_errno);
/* The same for a failed check of a request field, with fail()'s message:
 * 403 forbidden for EACCES, 409 busy for EBUSY, 400 bad_field for what the
 * caller sent (EINVAL, ENOENT, ENAMETOOLONG, ENOEXEC), else as api_errno. */
int api_field_errno(struct resp *out, int neg_errno);
/* The ETag of a representation: a hash of its JSON text. */
void api_etag(struct json_object *o, char out[24]);
/* 412 unless If-Match is absent, "*" or equals the current representation's ETag. */
int api_check_if_match(const struct req *r, struct json_object *current, struct resp *out);

/* Names of pools, volumes, users and tokens: ^[a-z0-9][a-z0-9-]{0,62}$ */
bool name_valid(const char *s);
/* An absolute path of at most 1024 bytes without ".", ".." or empty
 * components or control characters. */
bool path_valid(const char *p);
/* Whether WORD is one of the space-separated WORDS ("running paused"). */
bool api_word_in(const char *word, const char *words);
/* 400 bad_field unless desc is NULL (not given) or at most 1024 bytes. */
int api_check_description(const char *desc, struct resp *out);
/* A member's string value, or NULL. */
const char *json_str(struct json_object *o, const char *key);

/* Strict body parsing: every member of the body must be listed, with its
 * type; required members must be present.  Sizes accept bytes or "10G". */
enum field_type { F_STRING, F_INT, F_BOOL, F_SIZE, F_OBJECT, F_ARRAY };
struct field {
    const char *name;
    enum field_type type;
    bool required;
    void *out;                   /* const char **, int64_t *, bool *, uint64_t *,
                                    struct json_object ** (borrowed from the body) */
    bool *present;               /* optional */
};
int api_fields(const struct req *r, const struct field *f, size_t n, struct resp *out);
/* A query parameter's raw value into buf (*val = buf), or *val = NULL if
 * absent.  0, or 400 bad_query if it is empty, longer than len - 1 or has
 * anything but letters, digits and ,-_. (never silently ignored). */
int api_query(const struct req *r, const char *key, char *buf, size_t len, const char **val,
              struct resp *out);

/* ---- the route table -------------------------------------------------- */

typedef int (*route_fn)(struct server *s, struct req *r, struct resp *out);
struct route {
    const char *method;
    const char *path;            /* "/api/v1/pools/{pool}/volumes/{volume}" */
    enum role role;              /* ROLE_NONE = anyone (only login) */
    route_fn fn;
    const char *summary;
};

/* Splits and checks the path, then finds its route in TABLE (N routes).
 * Returns the route or NULL with *err set (E_BAD_PATH, E_NOT_FOUND,
 * E_METHOD_NOT_ALLOWED and a message via fail()); fills r->param. */
const struct route *route_match(const struct route *table, size_t n, struct req *r, enum api_err *err);
/* Parses r->body (if any) into r->json: one JSON object in UTF-8 with
 * Content-Type application/json, at most API_MAX_BODY bytes, strictly
 * (single quotes, escapes of no character and trailing data are refused).
 * 0 or a 4xx in out. */
int api_parse_body(struct req *r, struct resp *out);

#endif
