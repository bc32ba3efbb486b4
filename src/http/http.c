/* HTTP with libmicrohttpd: HTTPS on a TCP address and plain HTTP on a Unix
 * socket (mode 0600, so only root connects; SO_PEERCRED tells who did).
 * corrald binds both sockets itself and hands them to MHD.  Each connection
 * gets a thread, so a handler may block (operation waits, the event stream)
 * without stalling others.  Connection counts are capped; on TCP,
 * connguard.c gives each request a deadline and keeps anonymous
 * connections from taking the slots logged-in clients need.
 *
 * MHD would percent-decode the path before we see it, turning "%2f" into a
 * '/' inside a name; an identity unescape callback keeps it raw so the
 * router can refuse it. */
#include "http/http_impl.h"
#include "http/connguard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <unistd.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "ops/ops.h"
#include "util/util.h"

#define SSE_KEEPALIVE_MS 15000
#define API_DISCARD_MAX (1024 * 1024)
/* TLS 1.3 or 1.2, forward-secret key exchange, AEAD ciphers only (no CBC,
 * no RC4, no static RSA). */
#define TLS_PRIORITIES "SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:" \
                       "-CIPHER-ALL:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM:-MAC-ALL:+AEAD:" \
                       "-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"
#define HSTS "max-age=31536000"
/* GUARD_ANON_MAX of these at most are anonymous (connguard.h): the rest
 * stay for logged-in clients, whose consoles and event streams last. */
#define HTTP_MAX_CONNECTIONS 512
#define WEB_CSP "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
                "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

struct body {                   /* one request's upload, per connection */
    char *data;
    size_t len;
    bool too_big;
    bool answered;              /* a 413 was queued before the upload */
    struct upgrade *up;         /* a console upgrade, until on_upgrade takes its fd */
};

struct upgrade {                /* a console's WebSocket, between the answer and the relay */
    struct http *h;
    int fd;                     /* the console; 0 once the relay took it */
    char key[CONSOLE_KEY_MAX];  /* its claim */
};

struct sse {                    /* one event-stream listener */
    struct events *events;
    uint64_t seq;
    char frame[8192];
    size_t len, off;
};

/* The connection's guard entry (NULL on the Unix socket). */
static struct guard_conn *guarded(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        connguard_remove(*socket_ctx);
        *socket_ctx = NULL;
        return;
    }
    const union MHD_ConnectionInfo *fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *addr = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (fd && addr)
        *socket_ctx = connguard_add(h->guard, fd->connect_fd, addr->client_addr);
}

static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls, (void)uri;
    connguard_request_line(guarded(c));
    return NULL;    /* on_request's *ctx starts NULL */
}

static void trust_connection(void *arg)
{
    connguard_trusted(arg);
}

static size_t keep_raw(void *cls, struct MHD_Connection *c, char *uri)
{
    (void)cls, (void)c;
    return strlen(uri);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = 0;
    log_debug("http: %s", line);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct sse *st = cls;
    if (st->off == st->len) {
        long n = events_next(st->events, &st->seq, st->frame, sizeof(st->frame), SSE_KEEPALIVE_MS);
        if (n < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (n == 0)
            n = snprintf(st->frame, sizeof(st->frame), ": keep-alive\n\n");
        st->len = (size_t)n;
        st->off = 0;
    }
    size_t n = MIN(max, st->len - st->off);
    memcpy(buf, st->frame + st->off, n);
    st->off += n;
    return (ssize_t)n;
}

static void on_upgrade(void *cls, struct MHD_Connection *c, void *req_cls, const char *extra, size_t extra_len,
                       MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    (void)c, (void)req_cls, (void)extra, (void)extra_len;
    struct upgrade *up = cls;    /* freed by on_done */
    if (ws_relay_start(up->h, sock, up->fd, up->key, urh) < 0) {
        close(up->fd);
        http_console_release(up->h, up->key);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
    }
    up->fd = 0;
}

static struct MHD_Response *make_response(struct http *h, struct resp *out, struct body *b)
{
    if (out->ws_fd > 0 && b) {
        /* MHD calls on_upgrade at most once; the copy outlives this request. */
        struct upgrade *up = calloc(1, sizeof(*up));
        if (!up)
            return NULL;
        up->h = h;
        up->fd = out->ws_fd;
        snprintf(up->key, sizeof(up->key), "%s", out->ws_name);
        out->ws_fd = 0;
        struct MHD_Response *rsp = MHD_create_response_for_upgrade(on_upgrade, up);
        if (!rsp) {
            close(up->fd);
            http_console_release(h, up->key);
            free(up);
            return NULL;
        }
        b->up = up;
        MHD_add_response_header(rsp, MHD_HTTP_HEADER_UPGRADE, "websocket");
        MHD_add_response_header(rsp, "Sec-WebSocket-Accept", out->ws_accept);
        return rsp;
    }
    if (out->stream_events) {
        struct sse *st = calloc(1, sizeof(*st));
        if (!st)
            return NULL;
        st->events = h->cfg.events;
        st->seq = events_head(h->cfg.events);
        st->len = (size_t)snprintf(st->frame, sizeof(st->frame), "retry: 3000\n\n");
        struct MHD_Response *rsp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, sse_read, st, free);
        if (rsp)
            MHD_add_response_header(rsp, "Content-Type", "text/event-stream");
        else
            free(st);
        return rsp;
    }
    const char *text = out->raw ? out->raw : json_object_to_json_string_ext(out->body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t len = out->raw ? out->raw_len : strlen(text);
    struct MHD_Response *rsp = MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!rsp)
        return NULL;
    MHD_add_response_header(rsp, "Content-Type", out->raw ? out->raw_type : "application/json");
    if (out->etag[0])
        MHD_add_response_header(rsp, "ETag", out->etag);
    if (out->set_cookie)
        MHD_add_response_header(rsp, "Set-Cookie", out->set_cookie);
    if (out->retry_after) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", out->retry_after);
        MHD_add_response_header(rsp, "Retry-After", ra);
    }
    return rsp;
}

static enum MHD_Result send_resp(struct http *h, struct MHD_Connection *c, struct resp *out, struct body *b)
{
    struct MHD_Response *rsp = make_response(h, out, b);
    if (!rsp)
        return MHD_NO;
    if (MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION))    /* HTTPS, not the socket */
        MHD_add_response_header(rsp, "Strict-Transport-Security", HSTS);
    MHD_add_response_header(rsp, "Cache-Control", out->cache_control ? out->cache_control : "no-store");
    MHD_add_response_header(rsp, "X-Content-Type-Options", "nosniff");
    if (out->html) {
        MHD_add_response_header(rsp, "Content-Security-Policy", WEB_CSP);
        MHD_add_response_header(rsp, "Referrer-Policy", "no-referrer");
        MHD_add_response_header(rsp, "X-Frame-Options", "DENY");
    }
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)out->status, rsp);
    MHD_destroy_response(rsp);
    return ret;
}

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    char *q = cls;
    size_t n = strlen(q);
    snprintf(q + n, 512 - n, "%s%s=%s", n ? "&" : "", key, value ? value : "");
    return MHD_YES;
}

static void peer_of(struct MHD_Connection *c, bool is_unix, char *ip, size_t len, int *uid)
{
    *uid = -1;
    snprintf(ip, len, "unknown");
    if (is_unix) {
        snprintf(ip, len, "unix");
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct ucred cred;
        socklen_t cl = sizeof(cred);
        if (ci && getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
            *uid = (int)cred.uid;
        return;
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, (socklen_t)len);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **ctx)
{
    (void)version;
    struct http *h = cls;
    bool is_unix = MHD_get_connection_info(c, MHD_CONNECTION_INFO_DAEMON)->daemon == h->unix_d;
    struct body *b = *ctx;
    struct resp out = { 0 };
    if (!b) {
        if (!(b = calloc(1, sizeof(*b))))
            return MHD_NO;
        *ctx = b;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        uint64_t n = cl ? strtoull(cl, NULL, 10) : 0;
        b->too_big = n > API_MAX_BODY;
        /* A body the upload path below would drain is drained, then answered
         * 413: answered first, the client's writes that follow meet a closed
         * connection, and its reset can lose the client the answer. */
        if (n <= API_DISCARD_MAX)
            return MHD_YES;
        b->answered = true;    /* too big even to drain: answer now, before the client sends it all */
        api_error(&out, E_TOO_LARGE, "the request body is larger than %d bytes", API_MAX_BODY);
        enum MHD_Result ret = send_resp(h, c, &out, b);
        resp_free(&out);
        return ret;
    }
    if (b->answered) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        /* MHD cannot answer in the middle of an upload: a body over the
         * limit is read and dropped up to API_DISCARD_MAX, then answered
         * 413 at its end; one that goes on past that loses its connection. */
        size_t total = b->len + *upload_size;
        if (total > API_MAX_BODY && !b->too_big) {
            b->too_big = true;
            free(b->data);
            b->data = NULL;
        }
        if (b->too_big) {
            b->len = total;
            *upload_size = 0;
            return total > API_DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        char *d = realloc(b->data, total + 1);
        if (!d)
            return MHD_NO;
        memcpy(d + b->len, upload, *upload_size);
        d[total] = 0;
        b->data = d;
        b->len = total;
        *upload_size = 0;
        return MHD_YES;
    }
    connguard_request(guarded(c));
    if (b->too_big) {
        api_error(&out, E_TOO_LARGE, "the request body is larger than %d bytes", API_MAX_BODY);
        enum MHD_Result ret = send_resp(h, c, &out, b);
        resp_free(&out);
        return ret;
    }

    char ip[64], query[512] = "";
    struct req r = { .method = method, .path = url, .body = b->data, .body_len = b->len,
                     .on_auth = trust_connection, .on_auth_arg = guarded(c) };
    peer_of(c, is_unix, ip, sizeof(ip), &r.peer_uid);
    r.peer_ip = ip;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg, query);
    r.query = query[0] ? query : NULL;
    r.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    r.authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    r.csrf_token = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
    r.if_match = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_MATCH);
    r.cookie_session = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "corral_session");
    r.upgrade = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
    r.ws_key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    r.ws_version = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Version");
    r.origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN);
    r.host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);

    r.if_none_match = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);

    if (static_wants(url))
        static_serve(h->cfg.web_dir, &r, &out);
    else
        h->cfg.handle(h->cfg.ctx, &r, &out);
    json_object_put(r.json);
    log_debug("%s %s %s -> %d", r.who.name[0] ? r.who.name : ip, method, url, out.status);
    if (out.ws_fd > 0)
        connguard_upgraded(guarded(c));
    enum MHD_Result ret = send_resp(h, c, &out, b);
    resp_free(&out);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode tc)
{
    (void)cls, (void)tc;
    connguard_idle(guarded(c));
    struct body *b = *ctx;
    if (b && b->up) {
        if (b->up->fd > 0) {    /* the client left before the upgrade */
            close(b->up->fd);
            http_console_release(b->up->h, b->up->key);
        }
        free(b->up);
    }
    if (b) {
        free(b->data);
        free(b);
    }
    *ctx = NULL;
}

/* "ADDR:PORT" or "[ADDR6]:PORT" -> a bound, listening socket. */
static int listen_tcp(const char *spec, int *family)
{
    char host[128];
    const char *colon = strrchr(spec, ':');
    uint64_t port;
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(host) || parse_uint(colon + 1, 1, 65535, &port) < 0)
        return fail(EINVAL, "--listen %s: use ADDR:PORT, e.g. 127.0.0.1:8006 or [::1]:8006", spec);
    snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
    struct sockaddr_storage ss = { 0 };
    socklen_t sl;
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        host[strlen(host) - 1] = 0;
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
            return fail(EINVAL, "--listen %s: bad IPv6 address", spec);
        sl = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            return fail(EINVAL, "--listen %s: bad IPv4 address", spec);
        sl = sizeof(*a);
    }
    *family = ss.ss_family;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0)
        return fail(errno, "socket: %m");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        return fail(e, "cannot listen on %s: %s", spec, strerror(e));
    }
    return fd;
}

static int listen_unix(const char *path)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(a.sun_path))
        return fail(ENAMETOOLONG, "--socket %s: path too long", path);
    strcpy(a.sun_path, path);
    _cleanup_free_ char *dir = strdup(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash && slash != dir) {
        *slash = 0;
        mkdir(dir, 0755);
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return fail(EEXIST, "%s exists and is not a socket; remove it", path);
        unlink(path);    /* a stale socket of a previous run */
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(errno, "socket: %m");
    mode_t old = umask(0177);
    int r = bind(fd, (struct sockaddr *)&a, sizeof(a));
    umask(old);
    if (r < 0 || chmod(path, 0600) < 0 || listen(fd, 64) < 0) {
        int e = errno;
        close(fd);
        return fail(e, "cannot listen on %s: %s", path, strerror(e));
    }
    return fd;
}

static struct MHD_Daemon *start(struct http *h, int fd, bool tls, int family)
{
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                     MHD_ALLOW_UPGRADE |
                     MHD_USE_ERROR_LOG | (tls ? MHD_USE_TLS : 0) | (family == AF_INET6 ? MHD_USE_IPv6 : 0);
    struct MHD_OptionItem opts[] = {
        { MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL },
        { MHD_OPTION_LISTEN_SOCKET, fd, NULL },
        { MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)keep_raw, NULL },
        { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_done, NULL },
        { MHD_OPTION_CONNECTION_LIMIT, HTTP_MAX_CONNECTIONS, NULL },
        { MHD_OPTION_PER_IP_CONNECTION_LIMIT, tls ? 64 : 0, NULL },
        { MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL },
        { MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL },
        { MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, h },
        { MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_request_line, NULL },
        { MHD_OPTION_HTTPS_MEM_KEY, 0, h->key },
        { MHD_OPTION_HTTPS_MEM_CERT, 0, h->cert },
        { MHD_OPTION_HTTPS_PRIORITIES, 0, TLS_PRIORITIES },
        { MHD_OPTION_END, 0, NULL },
    };
    if (!tls)    /* cut the list before the guard and TLS options */
        opts[8].option = MHD_OPTION_END;
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
}

int http_start(const struct http_config *cfg, struct http **out)
{
    struct http *h = calloc(1, sizeof(*h));
    if (!h)
        return fail(ENOMEM, "out of memory");
    h->cfg = *cfg;
    pthread_mutex_init(&h->ws_lock, NULL);
    pthread_cond_init(&h->ws_gone, NULL);
    const struct http_config *c = &h->cfg;
    int r = 0;
    if (strcmp(c->listen, "none") && (r = connguard_new(&h->guard)) < 0) {
        http_stop(h);
        return r;
    }
    if (strcmp(c->listen, "none")) {
        r = tls_load_or_create(c->tls_dir, c->tls_cert, c->tls_key, &h->cert, &h->key);
        int family = AF_INET, fd = r < 0 ? r : listen_tcp(c->listen, &family);
        if (fd >= 0 && !(h->tcp = start(h, fd, true, family))) {
            close(fd);
            fd = fail(EIO, "cannot start HTTPS on %s (is the TLS key/certificate valid?)", c->listen);
        }
        r = fd < 0 ? fd : 0;
    }
    if (r == 0 && strcmp(c->socket_path, "none")) {
        int fd = listen_unix(c->socket_path);
        h->unix_bound = fd >= 0;
        if (fd >= 0 && !(h->unix_d = start(h, fd, false, AF_UNIX))) {
            close(fd);
            fd = fail(EIO, "cannot serve on %s", c->socket_path);
        }
        r = fd < 0 ? fd : 0;
    }
    if (r < 0) {
        http_stop(h);
        return r;
    }
    log_info("listening on https://%s and %s", c->listen, c->socket_path);
    *out = h;
    return 0;
}

void http_stop(struct http *h)
{
    if (!h)
        return;
    bool relays_gone = ws_relay_stop_all(h);
    if (h->tcp)
        MHD_stop_daemon(h->tcp);
    if (h->unix_d)
        MHD_stop_daemon(h->unix_d);
    connguard_free(h->guard);    /* after the daemon: no connection is left */
    if (h->unix_bound)
        unlink(h->cfg.socket_path);
    if (h->key) {
        memset(h->key, 0, strlen(h->key));
        free(h->key);
    }
    free(h->cert);
    h->cert = h->key = NULL;
    if (!relays_gone)    /* a relay still ending uses it: left to the exit */
        return;
    pthread_cond_destroy(&h->ws_gone);
    pthread_mutex_destroy(&h->ws_lock);
    free(h);
}
