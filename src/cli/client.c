/* Talking to corrald with libcurl: the Unix socket (plain HTTP, the peer's
 * uid is its credential) or HTTPS with a bearer token and certificate
 * verification (pin corrald's self-signed certificate with --ca-cert). */
#include "cli/cli.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#define MAX_ANSWER (64 << 20)

struct buf {
    char *data;
    size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    size_t len = size * n;
    if (b->len + len > MAX_ANSWER)
        return 0;
    char *d = realloc(b->data, b->len + len + 1);
    if (!d)
        return 0;
    memcpy(d + b->len, p, len);
    b->len += len;
    d[b->len] = 0;
    b->data = d;
    return len;
}

static size_t on_stream(char *p, size_t size, size_t n, void *arg)
{
    (void)arg;
    size_t len = fwrite(p, size, n, stdout);
    fflush(stdout);
    return len * size;
}

CURL *cli_setup(struct cli *c, const char *method, const char *path, struct curl_slist **hdrs)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    char url[2048];
    if (c->remote) {
        snprintf(url, sizeof(url), "%s%s", c->remote, path);
        if (c->ca_cert)
            curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_cert);
        if (c->insecure) {
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
    } else {
        snprintf(url, sizeof(url), "http://corrald%s", path);
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    if (c->token) {
        char auth[512];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
        *hdrs = curl_slist_append(*hdrs, auth);
    }
    *hdrs = curl_slist_append(*hdrs, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
    return h;
}

int cli_connect_error(struct cli *c, int rc)
{
    fprintf(stderr, "corral: cannot reach corrald at %s: %s\n", c->remote ? c->remote : c->socket,
            curl_easy_strerror((CURLcode)rc));
    return EXIT_CONNECT;
}

/* One request; *env is the parsed envelope. */
static int request(struct cli *c, const char *method, const char *path, const char *body,
                   struct json_object **env)
{
    struct curl_slist *hdrs = NULL;
    struct buf b = { 0 };
    CURL *h = cli_setup(c, method, path, &hdrs);
    if (!h)
        return EXIT_CONNECT;
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        free(b.data);
        return cli_connect_error(c, rc);
    }
    *env = b.data ? json_tokener_parse(b.data) : NULL;
    free(b.data);
    if (!*env || !json_object_is_type(*env, json_type_object)) {
        fprintf(stderr, "corral: corrald sent an answer that is not a JSON envelope\n");
        json_object_put(*env);
        return EXIT_SERVER;
    }
    return 0;
}

static const char *field(struct json_object *o, const char *key)
{
    struct json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

int cli_server_error(struct json_object *env)
{
    struct json_object *e = json_object_object_get(env, "error");
    fprintf(stderr, "corral: error: %s (%s)\n", field(e, "message"), field(e, "code"));
    return EXIT_SERVER;
}

int cli_call(struct cli *c, const char *method, const char *path, struct json_object *body,
             bool no_wait, struct json_object **meta)
{
    struct json_object *env;
    const char *text = body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN) : NULL;
    int r = request(c, method, path, text, &env);
    if (r)
        return r;
    const char *type = field(env, "type");
    if (!strcmp(type, "error")) {
        r = cli_server_error(env);
        json_object_put(env);
        return r;
    }
    if (!strcmp(type, "async") && !no_wait) {
        char wait[256];
        snprintf(wait, sizeof(wait), "%s/wait?timeout=60", field(env, "operation"));
        for (;;) {
            json_object_put(env);
            if ((r = request(c, "GET", wait, NULL, &env)))
                return r;
            if (!strcmp(field(env, "type"), "error")) {
                r = cli_server_error(env);
                json_object_put(env);
                return r;
            }
            const char *st = field(json_object_object_get(env, "metadata"), "status");
            if (strcmp(st, "pending") && strcmp(st, "running"))
                break;
        }
        struct json_object *op = json_object_object_get(env, "metadata");
        if (strcmp(field(op, "status"), "success")) {
            fprintf(stderr, "corral: error: operation %s %s: %s\n", field(op, "id"), field(op, "status"),
                    field(op, "error"));
            json_object_put(env);
            return EXIT_SERVER;
        }
    }
    if (meta)
        *meta = json_object_get(json_object_object_get(env, "metadata"));
    json_object_put(env);
    return 0;
}

int cli_stream(struct cli *c, const char *path)
{
    struct curl_slist *hdrs = NULL;
    CURL *h = cli_setup(c, "GET", path, &hdrs);
    if (!h)
        return EXIT_CONNECT;
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_stream);
    long status = 0;
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK && rc != CURLE_WRITE_ERROR)
        return cli_connect_error(c, rc);
    return status == 200 ? EXIT_OK : EXIT_SERVER;
}
