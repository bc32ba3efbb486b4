/* http — corrald's HTTP front: HTTPS on a TCP address and plain HTTP on a
 * root-only Unix socket (libmicrohttpd, a thread per connection, a
 * deadline per request and limits on anonymous connections), the web
 * console's static files outside /api, the event stream (SSE) and the
 * consoles' WebSockets.  What an API request means is not its business:
 * each one goes to the handler it is given (corrald's pipeline). */
#ifndef CORRAL_HTTP_H
#define CORRAL_HTTP_H

#include <stdbool.h>

#include "api/api.h"

struct events;
struct http;

struct http_config {
    const char *listen;          /* HTTPS on "ADDR:PORT", or "none" */
    const char *socket_path;     /* plain HTTP for root, or "none" */
    const char *tls_dir;         /* where a generated key and certificate live */
    const char *tls_cert, *tls_key;   /* given ones; NULL: generated */
    const char *web_dir;         /* the web console's files; NULL: next to the build, else installed */
    /* Answers one API request; may set out->stream_events or out->ws_fd. */
    void (*handle)(void *ctx, struct req *r, struct resp *out);
    void *ctx;
    struct events *events;       /* what an event stream sends */
};

int http_start(const struct http_config *cfg, struct http **out);
/* Stops serving, ends every console relay and waits for them. */
void http_stop(struct http *h);

/* Loads or generates (self-signed, ECDSA P-256) the TLS key and certificate. */
int tls_load_or_create(const char *dir, const char *cert_path, const char *key_path,
                       char **cert_pem, char **key_pem);

/* A console over a WebSocket: checks the handshake headers of R and fills
 * out->ws_accept (0 or a 4xx); then the handler claims KEY (one client per
 * console; false: taken), answers 101 with out->ws_fd and out->ws_name =
 * KEY, and the relay releases KEY when it ends. */
int ws_handshake(const struct req *r, struct resp *out);
bool http_console_claim(struct http *h, const char *key);
void http_console_release(struct http *h, const char *key);

#endif
