/* What the files of src/http share.  Private to src/http. */
#ifndef CORRAL_HTTP_IMPL_H
#define CORRAL_HTTP_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "http/http.h"

#define HTTP_CONSOLES_MAX 64

struct http {
    struct http_config cfg;
    struct MHD_Daemon *tcp, *unix_d;
    struct connguard *guard;
    char *cert, *key;
    bool unix_bound;
    /* ws.c: the consoles' relays and who is attached where */
    pthread_mutex_t ws_lock;
    pthread_cond_t ws_gone;      /* a relay ended */
    int ws_active;
    atomic_bool ws_stopping;
    char claimed[HTTP_CONSOLES_MAX][CONSOLE_KEY_MAX];
};

/* ws.c: relays between the upgraded socket and the console fd on a thread
 * of its own; takes both fds.  0 or a negative errno. */
int ws_relay_start(struct http *h, int sock, int console_fd, const char *key, void *upgrade_handle);
/* Ends every relay (at shutdown) and waits up to 3 s for them: whether
 * they all ended. */
bool ws_relay_stop_all(struct http *h);

/* static.c: true for a path the web console serves (anything outside
 * /api); its answer to GET/HEAD, without authentication. */
bool static_wants(const char *path);
void static_serve(const char *web_dir, struct req *r, struct resp *out);

#endif
