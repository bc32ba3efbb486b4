/* A VM's serial console over a WebSocket (RFC 6455).  The handshake is
 * checked in the request pipeline (so authentication and roles apply as to
 * any route); libmicrohttpd then hands over the socket (decrypted, for
 * HTTPS) and a relay thread copies bytes both ways: console output as
 * binary frames, client frames (masked, as the RFC requires) to the
 * console.  Pings are answered; a close frame, either side closing, or
 * corrald shutting down ends the relay.  One client per VM at a time. */
#include "http/http_impl.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <poll.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "util/util.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_MAX_PAYLOAD (64 * 1024)

bool http_console_claim(struct http *h, const char *key)
{
    pthread_mutex_lock(&h->ws_lock);
    int free_slot = -1;
    bool taken = false;
    for (int i = 0; i < HTTP_CONSOLES_MAX; i++) {
        if (!strcmp(h->claimed[i], key))
            taken = true;
        else if (!h->claimed[i][0] && free_slot < 0)
            free_slot = i;
    }
    bool ok = !taken && free_slot >= 0;
    if (ok)
        snprintf(h->claimed[free_slot], sizeof(h->claimed[0]), "%s", key);
    pthread_mutex_unlock(&h->ws_lock);
    return ok;
}

void http_console_release(struct http *h, const char *key)
{
    pthread_mutex_lock(&h->ws_lock);
    for (int i = 0; i < HTTP_CONSOLES_MAX; i++)
        if (!strcmp(h->claimed[i], key))
            h->claimed[i][0] = 0;
    pthread_mutex_unlock(&h->ws_lock);
}

/* Whether a comma-separated header value lists the token (any case). */
static bool has_token(const char *v, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = v; p && *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == n && !strncasecmp(p, token, n))
            return true;
        p += strcspn(p, ",");
    }
    return false;
}

/* Browsers send Origin with every WebSocket and the session cookie with it,
 * whichever page opened it; only pages served by this host may use it.
 * Programs (the CLI, scripts) send no Origin and authenticate otherwise. */
static bool origin_allowed(const struct req *r)
{
    if (!r->origin)
        return true;
    const char *o = strstr(r->origin, "://");
    return o && r->host && !strcasecmp(o + 3, r->host);
}

int ws_handshake(const struct req *r, struct resp *out)
{
    uint8_t key[32], digest[20];
    size_t klen = 0;
    if (!r->upgrade || !has_token(r->upgrade, "websocket"))
        return api_error(out, E_BAD_FIELD, "this endpoint is a WebSocket: send 'Upgrade: websocket' and "
                         "'Connection: Upgrade' (use `corral vm console`)");
    if (!r->ws_version || strcmp(r->ws_version, "13"))
        return api_error(out, E_BAD_FIELD, "Sec-WebSocket-Version must be 13");
    if (!r->ws_key || sodium_base642bin(key, sizeof(key), r->ws_key, strlen(r->ws_key), NULL, &klen, NULL,
                                        sodium_base64_VARIANT_ORIGINAL) < 0 || klen != 16)
        return api_error(out, E_BAD_FIELD, "Sec-WebSocket-Key must be 16 bytes in base64");
    if (!origin_allowed(r))
        return api_error(out, E_FORBIDDEN, "WebSocket from origin '%s' refused: only pages served by "
                         "this host may open its consoles", r->origin);
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%s" WS_GUID, r->ws_key);
    if (gnutls_hash_fast(GNUTLS_DIG_SHA1, buf, (size_t)n, digest) < 0)
        return api_error(out, E_INTERNAL, "SHA-1 failed");
    sodium_bin2base64(out->ws_accept, sizeof(out->ws_accept), digest, sizeof(digest),
                      sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

struct relay {
    struct http *h;
    int sock, con;
    struct MHD_UpgradeResponseHandle *urh;
    char vm[CONSOLE_KEY_MAX];
    uint8_t in[WS_MAX_PAYLOAD + 14];    /* the client's bytes, not yet a whole frame */
    size_t in_len;
};

static int send_frame(int sock, int opcode, const void *data, size_t len)
{
    uint8_t h[10];
    size_t hl = 2;
    h[0] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        h[1] = (uint8_t)len;
    } else {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        hl = 4;
    }
    if (send(sock, h, hl, MSG_NOSIGNAL) != (ssize_t)hl)
        return -EIO;
    return len && send(sock, data, len, MSG_NOSIGNAL) != (ssize_t)len ? -EIO : 0;
}

static int send_close(int sock, int code)
{
    uint8_t b[2] = { (uint8_t)(code >> 8), (uint8_t)code };
    return send_frame(sock, 0x8, b, 2);
}

/* Handles every whole frame in r->in.  Returns 1 to go on, 0 to end. */
static int client_frames(struct relay *r)
{
    size_t off = 0;
    int go = 1;
    while (go && r->in_len - off >= 2) {
        uint8_t *f = r->in + off;
        int opcode = f[0] & 0x0f;
        bool masked = f[1] & 0x80;
        uint64_t len = f[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
            if (r->in_len - off < 4)
                break;
            len = (uint64_t)f[2] << 8 | f[3];
            hl = 4;
        } else if (len == 127) {
            send_close(r->sock, 1009);
            return 0;
        }
        if (!masked || (f[0] & 0x70)) {
            send_close(r->sock, 1002);    /* clients must mask; no extensions */
            return 0;
        }
        if (len > WS_MAX_PAYLOAD) {
            send_close(r->sock, 1009);
            return 0;
        }
        if (r->in_len - off < hl + 4 + len)
            break;
        uint8_t *mask = f + hl, *p = f + hl + 4;
        for (uint64_t i = 0; i < len; i++)
            p[i] ^= mask[i & 3];
        switch (opcode) {
        case 0x0: case 0x1: case 0x2:
            if (write_all(r->con, p, len) < 0)
                go = 0;
            break;
        case 0x8:
            send_frame(r->sock, 0x8, p, MIN(len, 2));
            go = 0;
            break;
        case 0x9:
            if (len > 125 || send_frame(r->sock, 0xA, p, len) < 0)
                go = 0;
            break;
        case 0xA:
            break;
        default:
            send_close(r->sock, 1002);
            go = 0;
        }
        off += hl + 4 + len;
    }
    memmove(r->in, r->in + off, r->in_len - off);
    r->in_len -= off;
    return go;
}

static void *relay_main(void *arg)
{
    struct relay *r = arg;
    uint8_t buf[4096];
    struct http *h = r->h;
    for (bool go = true; go && !atomic_load(&h->ws_stopping);) {
        struct pollfd p[2] = { { .fd = r->sock, .events = POLLIN }, { .fd = r->con, .events = POLLIN } };
        if (poll(p, 2, 500) < 0 && errno != EINTR)
            break;
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(r->con, buf, sizeof(buf));
            if (n <= 0) {
                send_close(r->sock, 1001);    /* the VM went away */
                break;
            }
            go = send_frame(r->sock, 0x2, buf, (size_t)n) == 0;
        }
        if (go && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = recv(r->sock, r->in + r->in_len, sizeof(r->in) - r->in_len, 0);
            if (n <= 0)
                break;
            r->in_len += (size_t)n;
            go = client_frames(r) && r->in_len < sizeof(r->in);
        }
    }
    if (atomic_load(&h->ws_stopping))
        send_close(r->sock, 1001);
    close(r->con);
    MHD_upgrade_action(r->urh, MHD_UPGRADE_ACTION_CLOSE);
    http_console_release(h, r->vm);
    free(r);
    pthread_mutex_lock(&h->ws_lock);
    h->ws_active--;
    pthread_cond_broadcast(&h->ws_gone);
    pthread_mutex_unlock(&h->ws_lock);
    return NULL;
}

int ws_relay_start(struct http *h, int sock, int console_fd, const char *vm, void *upgrade_handle)
{
    struct relay *r = calloc(1, sizeof(*r));
    pthread_t t;
    pthread_attr_t a;
    if (!r)
        return -ENOMEM;
    r->h = h;
    r->sock = sock;
    r->con = console_fd;
    r->urh = upgrade_handle;
    snprintf(r->vm, sizeof(r->vm), "%s", vm);
    pthread_mutex_lock(&h->ws_lock);
    h->ws_active++;
    pthread_mutex_unlock(&h->ws_lock);
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    int e = pthread_create(&t, &a, relay_main, r);
    pthread_attr_destroy(&a);
    if (e) {
        pthread_mutex_lock(&h->ws_lock);
        h->ws_active--;
        pthread_mutex_unlock(&h->ws_lock);
        free(r);
        return -e;
    }
    return 0;
}

bool ws_relay_stop_all(struct http *h)
{
    atomic_store(&h->ws_stopping, true);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 3;
    pthread_mutex_lock(&h->ws_lock);
    while (h->ws_active > 0)
        if (pthread_cond_timedwait(&h->ws_gone, &h->ws_lock, &dl) == ETIMEDOUT)
            break;
    bool gone = h->ws_active == 0;
    pthread_mutex_unlock(&h->ws_lock);
    return gone;
}
