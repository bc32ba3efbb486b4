/* What every handler shares: the JSON envelopes, stable error codes,
 * roles, names, strict bodies and fields, query parameters, ETags, route
 * matching.  See api.h. */
#include "api/api.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"

static const struct {
    const char *code;
    int status;
} errs[] = {
    [E_BAD_JSON] = { "bad_json", 400 },
    [E_UNKNOWN_FIELD] = { "unknown_field", 400 },
    [E_BAD_FIELD] = { "bad_field", 400 },
    [E_MISSING_FIELD] = { "missing_field", 400 },
    [E_BAD_NAME] = { "bad_name", 400 },
    [E_BAD_PATH] = { "bad_path", 400 },
    [E_BAD_QUERY] = { "bad_query", 400 },
    [E_UNAUTHENTICATED] = { "unauthenticated", 401 },
    [E_FORBIDDEN] = { "forbidden", 403 },
    [E_CSRF] = { "csrf_token_required", 403 },
    [E_NOT_FOUND] = { "not_found", 404 },
    [E_METHOD_NOT_ALLOWED] = { "method_not_allowed", 405 },
    [E_EXISTS] = { "already_exists", 409 },
    [E_BUSY] = { "busy", 409 },
    [E_CONFLICT] = { "conflict", 409 },
    [E_PRECONDITION] = { "precondition_failed", 412 },
    [E_TOO_LARGE] = { "body_too_large", 413 },
    [E_MEDIA_TYPE] = { "unsupported_media_type", 415 },
    [E_TOO_MANY] = { "too_many_requests", 429 },
    [E_INTERNAL] = { "internal_error", 500 },
    [E_UNAVAILABLE] = { "unavailable", 503 },
};

const char *api_err_code(enum api_err e) { return errs[e].code; }
int api_err_status(enum api_err e) { return errs[e].status; }

static const char *const role_names[] = { "none", "auditor", "operator", "admin" };
const char *role_name(enum role r) { return role_names[r]; }

int role_parse(const char *s, enum role *out)
{
    for (int r = ROLE_AUDITOR; r <= ROLE_ADMIN; r++)
        if (s && !strcmp(s, role_names[r])) {
            *out = r;
            return 0;
        }
    return fail(EINVAL, "unknown role '%s' (use admin, operator or auditor)", s ? s : "");
}

void resp_free(struct resp *r)
{
    json_object_put(r->body);
    free(r->raw);
    free(r->set_cookie);
    memset(r, 0, sizeof(*r));
}

int api_sync(struct resp *out, int status, struct json_object *metadata)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string("sync"));
    json_object_object_add(o, "status_code", json_object_new_int(status));
    json_object_object_add(o, "metadata", metadata);
    json_object_put(out->body);
    out->body = o;
    out->status = status;
    return status;
}

int api_error(struct resp *out, enum api_err e, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    utf8_scrub(msg);    /* an echoed value cut by %.64s keeps whole characters */
    struct json_object *o = json_object_new_object(), *er = json_object_new_object();
    json_object_object_add(er, "code", json_object_new_string(errs[e].code));
    json_object_object_add(er, "message", json_object_new_string(msg));
    json_object_object_add(o, "type", json_object_new_string("error"));
    json_object_object_add(o, "status_code", json_object_new_int(errs[e].status));
    json_object_object_add(o, "error", er);
    json_object_put(out->body);
    out->body = o;
    out->status = errs[e].status;
    out->etag[0] = 0;
    return out->status;
}

int api_errno(struct resp *out, int neg)
{
    switch (-neg) {
    case ENOENT: return api_error(out, E_NOT_FOUND, "%s", err_msg());
    case EEXIST: return api_error(out, E_EXISTS, "%s", err_msg());
    case EBUSY: return api_error(out, E_BUSY, "%s", err_msg());
    case ENOTEMPTY: return api_error(out, E_CONFLICT, "%s", err_msg());
    case EINVAL: case ERANGE: case ENOTSUP: case ENOTDIR:
        return api_error(out, E_BAD_FIELD, "%s", err_msg());
    case ENOSPC: return api_error(out, E_CONFLICT, "no space left on the pool's file system");
    default:
        log_error("internal error: %s", err_msg());
        return api_error(out, E_INTERNAL, "internal error (see corrald's log)");
    }
}

int api_field_errno(struct resp *out, int neg)
{
    switch (-neg) {
    case EACCES: return api_error(out, E_FORBIDDEN, "%s", err_msg());
    case EBUSY: return api_error(out, E_BUSY, "%s", err_msg());
    case EINVAL: case ENOENT: case ENAMETOOLONG: case ENOEXEC:
        return api_error(out, E_BAD_FIELD, "%s", err_msg());
    default: return api_errno(out, neg);
    }
}

void api_etag(struct json_object *o, char out[24])
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    uint8_t h[8];
    crypto_generichash(h, sizeof(h), (const uint8_t *)s, strlen(s), NULL, 0);
    snprintf(out, 24, "\"%016" PRIx64 "\"", (uint64_t)h[0] << 56 | (uint64_t)h[1] << 48 |
             (uint64_t)h[2] << 40 | (uint64_t)h[3] << 32 | (uint64_t)h[4] << 24 |
             (uint64_t)h[5] << 16 | (uint64_t)h[6] << 8 | h[7]);
}

int api_check_if_match(const struct req *r, struct json_object *current, struct resp *out)
{
    if (!r->if_match || !strcmp(r->if_match, "*"))
        return 0;
    char etag[24];
    api_etag(current, etag);
    if (strcmp(etag, r->if_match))
        return api_error(out, E_PRECONDITION,
                         "the resource changed since you read it (ETag is now %s): read it again and retry",
                         etag);
    return 0;
}

bool name_valid(const char *s)
{
    if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
        return false;
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '-'))
            return false;
    return n <= NAME_MAX_LEN;
}

int api_check_description(const char *desc, struct resp *out)
{
    if (desc && strlen(desc) > 1024)
        return api_error(out, E_BAD_FIELD, "description is longer than 1024 bytes");
    return 0;
}

/* An absolute path without ".", ".." or empty components. */
bool api_word_in(const char *word, const char *words)
{
    size_t n = strlen(word);
    for (const char *p = words; n && (p = strstr(p, word)); p += n)
        if ((p == words || p[-1] == ' ') && (p[n] == 0 || p[n] == ' '))
            return true;
    return false;
}

bool path_valid(const char *p)
{
    if (p[0] != '/' || strlen(p) > 1024)
        return false;
    for (const char *q = p; *q;) {
        q++;
        size_t n = strcspn(q, "/");
        if ((n == 0 && q[0]) || (n == 1 && q[0] == '.') || (n == 2 && !strncmp(q, "..", 2)))
            return false;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)q[i] < ' ')
                return false;
        q += n;
    }
    return true;
}

const char *json_str(struct json_object *o, const char *key)
{
    return json_object_get_string(json_object_object_get(o, key));
}

static const char *const type_names[] = { "a string", "an integer", "true or false",
                                          "a size (bytes, or a string like \"10G\")", "an object",
                                          "an array" };

static int field_value(const struct field *f, struct json_object *v, struct resp *out)
{
    switch (f->type) {
    case F_STRING:
        if (!json_object_is_type(v, json_type_string))
            break;
        if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
            return api_error(out, E_BAD_FIELD, "field '%s' must not contain NUL characters", f->name);
        *(const char **)f->out = json_object_get_string(v);
        return 0;
    case F_INT:
        if (!json_object_is_type(v, json_type_int))
            break;
        *(int64_t *)f->out = json_object_get_int64(v);
        return 0;
    case F_BOOL:
        if (!json_object_is_type(v, json_type_boolean))
            break;
        *(bool *)f->out = json_object_get_boolean(v);
        return 0;
    case F_OBJECT:
    case F_ARRAY:
        if (!json_object_is_type(v, f->type == F_OBJECT ? json_type_object : json_type_array))
            break;
        *(struct json_object **)f->out = v;
        return 0;
    case F_SIZE:
        if (json_object_is_type(v, json_type_int)) {
            int64_t n = json_object_get_int64(v);
            if (n <= 0 || n == INT64_MAX)
                return api_error(out, E_BAD_FIELD, "field '%s' must be a positive size", f->name);
            *(uint64_t *)f->out = (uint64_t)n;
            return 0;
        }
        if (json_object_is_type(v, json_type_string)) {
            if (parse_size(json_object_get_string(v), f->out) < 0)
                return api_error(out, E_BAD_FIELD, "field '%s': %s", f->name, err_msg());
            return 0;
        }
        break;
    }
    return api_error(out, E_BAD_FIELD, "field '%s' must be %s", f->name, type_names[f->type]);
}

int api_fields(const struct req *r, const struct field *f, size_t n, struct resp *out)
{
    for (size_t i = 0; i < n; i++)
        if (f[i].present)
            *f[i].present = false;
    if (r->json) {
        json_object_object_foreach(r->json, key, val) {
            size_t i = 0;
            while (i < n && strcmp(key, f[i].name))
                i++;
            if (i == n) {
                char allowed[256] = "";
                for (size_t j = 0; j < n; j++)
                    snprintf(allowed + strlen(allowed), sizeof(allowed) - strlen(allowed), "%s%s",
                             j ? ", " : "", f[j].name);
                return api_error(out, E_UNKNOWN_FIELD, "unknown field '%.64s' (allowed: %s)", key,
                                 n ? allowed : "none");
            }
            int rc = field_value(&f[i], val, out);
            if (rc)
                return rc;
            if (f[i].present)
                *f[i].present = true;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (f[i].required && !(r->json && json_object_object_get_ex(r->json, f[i].name, NULL)))
            return api_error(out, E_MISSING_FIELD, "field '%s' is required", f[i].name);
    return 0;
}

int api_query(const struct req *r, const char *key, char *buf, size_t len, const char **val,
              struct resp *out)
{
    size_t klen = strlen(key);
    *val = NULL;
    for (const char *p = r->query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n >= klen && !strncmp(p, key, klen) && (n == klen || p[klen] == '=')) {
            size_t vlen = n > klen ? n - klen - 1 : 0;
            bool good = vlen > 0 && vlen < len;
            for (size_t i = 0; good && i < vlen; i++)
                good = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,-_.",
                              p[klen + 1 + i]) != NULL;
            if (!good)
                return api_error(out, E_BAD_QUERY, "query parameter '%s' must be 1 to %zu letters, digits "
                                 "or ,-_.", key, len - 1);
            memcpy(buf, p + klen + 1, vlen);
            buf[vlen] = 0;
            *val = buf;
            return 0;
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

/* ---- routing ----------------------------------------------------------- */

/* Compares one pattern segment with one path segment, capturing {params}. */
static bool segment_match(const char *pat, size_t plen, const char *seg, size_t slen)
{
    if (plen && pat[0] == '{')
        return true;
    return plen == slen && !memcmp(pat, seg, slen);
}

static bool path_match(const char *pattern, const char *path, struct req *r, bool capture)
{
    size_t nparam = 0, used = 0;
    const char *p = pattern, *q = path;
    while (*p && *q) {
        p++, q++;    /* both start with '/' */
        size_t plen = strcspn(p, "/"), qlen = strcspn(q, "/");
        if (!segment_match(p, plen, q, qlen))
            return false;
        if (capture && p[0] == '{') {
            if (nparam == API_MAX_PARAMS || used + qlen + 1 > sizeof(r->param_buf))
                return false;
            memcpy(r->param_buf + used, q, qlen);
            r->param_buf[used + qlen] = 0;
            r->param[nparam++] = r->param_buf + used;
            used += qlen + 1;
        }
        p += plen, q += qlen;
    }
    return !*p && !*q;
}

const struct route *route_match(const struct route *table, size_t n, struct req *r, enum api_err *err)
{
    const char *path = r->path;
    if (!path || path[0] != '/' || strlen(path) > 512) {
        *err = E_BAD_PATH;
        fail(EINVAL, "the path must start with '/' and be at most 512 bytes");
        return NULL;
    }
    /* Reject what could address something other than what it says: empty,
     * "." and ".." segments, and any escape (a %2f would be a '/' in a name). */
    for (const char *q = path; *q;) {
        q++;
        size_t n = strcspn(q, "/");
        if (n == 0 || (n == 1 && q[0] == '.') || (n == 2 && q[0] == '.' && q[1] == '.')) {
            *err = E_BAD_PATH;
            fail(EINVAL, "the path has an empty, '.' or '..' segment: remove it");
            return NULL;
        }
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)q[i] <= ' ' || q[i] == '%' || q[i] == '\\' || (unsigned char)q[i] >= 0x7f) {
                *err = E_BAD_PATH;
                fail(EINVAL, "the path has a character that is not allowed in it ('%%', '\\', "
                             "controls, spaces or non-ASCII): names are [a-z0-9-]");
                return NULL;
            }
        q += n;
    }
    bool path_known = false;
    for (size_t i = 0; i < n; i++) {
        if (!path_match(table[i].path, path, r, false))
            continue;
        path_known = true;
        /* HEAD is GET without the body (MHD leaves it out, keeping Content-Length). */
        if (!strcmp(table[i].method, r->method) ||
            (!strcmp(r->method, "HEAD") && !strcmp(table[i].method, "GET"))) {
            path_match(table[i].path, path, r, true);
            return &table[i];
        }
    }
    if (path_known) {
        *err = E_METHOD_NOT_ALLOWED;
        fail(EINVAL, "%s is not allowed on %s", r->method, path);
    } else {
        *err = E_NOT_FOUND;
        fail(ENOENT, "no such API path: %s (see /api/v1/openapi.json)", path);
    }
    return NULL;
}

static bool single_quote_outside_strings(const char *s, size_t len)
{
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        if (in_string && s[i] == '\\')
            i++;
        else if (s[i] == '"')
            in_string = !in_string;
        else if (!in_string && s[i] == '\'')
            return true;
    }
    return false;
}

/* application/json, with no parameter but charset=utf-8 (JSON is UTF-8). */
static bool json_media_type(const char *ct)
{
    if (!ct || strncasecmp(ct, "application/json", 16))
        return false;
    for (const char *p = ct + 16; *p;) {
        p += strspn(p, " \t");
        if (*p != ';')
            return !*p;
        p += 1 + strspn(p + 1, " \t");
        size_t n = strcspn(p, ";");
        while (n && strchr(" \t", p[n - 1]))
            n--;
        if (!((n == 13 && !strncasecmp(p, "charset=utf-8", 13)) || (n == 15 && !strncasecmp(p, "charset=\"utf-8\"", 15))))
            return false;
        p += n;
    }
    return true;
}

/* The first \u escape in s's strings that names no character: a lone
 * surrogate (json-c would store U+FFFD in its place) or U+0000 (C strings
 * end there); NULL if none. */
static const char *bad_escape(const char *s, size_t len)
{
    bool in_string = false;
    unsigned prev = 0;                 /* a high surrogate awaiting its pair */
    for (size_t i = 0; i < len; i++) {
        unsigned u = 0;
        if (!in_string) {
            in_string = s[i] == '"';
            continue;
        }
        if (s[i] == '"') {
            in_string = false;
        } else if (s[i] == '\\' && i + 5 < len && s[i + 1] == 'u' && sscanf(s + i + 2, "%4x", &u) == 1) {
            if (u == 0 || (u >= 0xdc00 && u <= 0xdfff && !prev) || (prev && !(u >= 0xdc00 && u <= 0xdfff)))
                return s + i;
            prev = u >= 0xd800 && u <= 0xdbff ? u : 0;
            i += 5;
            continue;
        } else if (s[i] == '\\') {
            i++;
        }
        if (prev)
            return s + i;
    }
    return NULL;
}

int api_parse_body(struct req *r, struct resp *out)
{
    if (!r->body || r->body_len == 0)
        return 0;
    if (!json_media_type(r->content_type))
        return api_error(out, E_MEDIA_TYPE, "send the body as JSON in UTF-8 with 'Content-Type: application/json'");
    if (r->body_len > API_MAX_BODY)
        return api_error(out, E_TOO_LARGE, "the body is larger than %d bytes", API_MAX_BODY);
    if (strlen(r->body) != r->body_len)
        return api_error(out, E_BAD_JSON, "the body contains a NUL byte");
    if (!utf8_valid(r->body, r->body_len))
        return api_error(out, E_BAD_JSON, "the body is not valid UTF-8");
    if (single_quote_outside_strings(r->body, r->body_len))
        return api_error(out, E_BAD_JSON, "the body is not valid JSON (strings need double quotes)");
    const char *esc = bad_escape(r->body, r->body_len);
    if (esc)
        return api_error(out, E_BAD_JSON, "the body's string at byte %zu escapes no character (a lone "
                         "surrogate or \\u0000)", (size_t)(esc - r->body));
    struct json_tokener *tok = json_tokener_new_ex(16);
    if (!tok)
        return api_error(out, E_INTERNAL, "out of memory");
    #ifdef JSON_TOKENER_VALIDATE_UTF8
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
#else
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
#endif
    struct json_object *o = json_tokener_parse_ex(tok, r->body, (int)r->body_len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (e != json_tokener_success || !o) {
        json_object_put(o);
        return api_error(out, E_BAD_JSON, "the body is not valid JSON (%s at byte %zu)",
                         json_tokener_error_desc(e == json_tokener_success ? json_tokener_continue : e),
                         used);
    }
    for (; used < r->body_len; used++)
        if (!strchr(" \t\r\n", r->body[used])) {
            json_object_put(o);
            return api_error(out, E_BAD_JSON, "the body has data after its JSON value (byte %zu)", used);
        }
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return api_error(out, E_BAD_JSON, "the body must be a JSON object");
    }
    r->json = o;
    return 0;
}
