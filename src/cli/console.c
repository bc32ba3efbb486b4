/* `corral vm console`: a WebSocket client (RFC 6455) over a libcurl
 * connection made with CONNECT_ONLY (Debian 12's libcurl has no WebSocket
 * support), so the Unix socket and HTTPS with certificate checks work as
 * for every other command.  On a terminal it switches to raw mode and
 * Ctrl-] quits; with other input it sends that input, then lingers two
 * seconds for the answers and closes. */
#include "cli/cli.h"

#include <curl/curl.h>
#include <gnutls/crypto.h>
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define CTRL_BRACKET 0x1d
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct conn {
    CURL *h;
    curl_socket_t fd;
    unsigned char in[70000];
    size_t in_len;
};

static int wait_fd(curl_socket_t fd, short ev, int ms)
{
    struct pollfd p = { .fd = fd, .events = ev };
    return poll(&p, 1, ms);
}

static int send_all(struct conn *c, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        size_t n = 0;
        CURLcode rc = curl_easy_send(c->h, p, len, &n);
        if (rc == CURLE_AGAIN) {
            wait_fd(c->fd, POLLOUT, 1000);
            continue;
        }
        if (rc != CURLE_OK)
            return -1;
        p += n, len -= n;
    }
    return 0;
}

/* Reads what is there into c->in: >0 bytes, 0 none yet, -1 closed. */
static ssize_t recv_some(struct conn *c)
{
    size_t n = 0;
    if (c->in_len == sizeof(c->in))
        return -1;
    CURLcode rc = curl_easy_recv(c->h, c->in + c->in_len, sizeof(c->in) - c->in_len, &n);
    if (rc == CURLE_AGAIN)
        return 0;
    if (rc != CURLE_OK || n == 0)
        return -1;
    c->in_len += n;
    return (ssize_t)n;
}

static int send_frame(struct conn *c, int opcode, const void *data, size_t len)
{
    unsigned char f[16 + 4096];
    size_t hl = 2;
    if (len > 4096)
        return -1;
    f[0] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        f[1] = (unsigned char)(0x80 | len);
    } else {
        f[1] = 0x80 | 126;
        f[2] = (unsigned char)(len >> 8);
        f[3] = (unsigned char)len;
        hl = 4;
    }
    unsigned char *mask = f + hl;
    randombytes_buf(mask, 4);
    for (size_t i = 0; i < len; i++)
        f[hl + 4 + i] = ((const unsigned char *)data)[i] ^ mask[i & 3];
    return send_all(c, f, hl + 4 + len);
}

/* The handshake: 0 when the server switched protocols. */
static int handshake(struct cli *cl, struct conn *c, const char *path)
{
    unsigned char rnd[16], digest[20];
    char key[32], req[2048], expect[64];
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2base64(key, sizeof(key), rnd, sizeof(rnd), sodium_base64_VARIANT_ORIGINAL);
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: corrald\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s%s%s\r\n",
                     path, key, cl->token ? "Authorization: Bearer " : "", cl->token ? cl->token : "",
                     cl->token ? "\r\n" : "");
    if (n >= (int)sizeof(req) || send_all(c, req, (size_t)n) < 0)
        return cli_connect_error(cl, CURLE_SEND_ERROR);
    char *end = NULL;
    for (int waited = 0; !end; ) {
        ssize_t got = recv_some(c);
        if (got < 0)
            return cli_connect_error(cl, CURLE_RECV_ERROR);
        if (got == 0) {
            if ((waited += 100) > 15000)
                return cli_connect_error(cl, CURLE_OPERATION_TIMEDOUT);
            wait_fd(c->fd, POLLIN, 100);
            continue;
        }
        c->in[c->in_len] = 0;
        end = strstr((char *)c->in, "\r\n\r\n");
    }
    *end = 0;
    size_t head = (size_t)(end + 4 - (char *)c->in);
    if (strncmp((char *)c->in, "HTTP/1.1 101", 12)) {
        /* An error envelope follows the headers: read it (up to 1 s). */
        for (int i = 0; i < 10 && !strchr((char *)c->in + head, '}'); i++) {
            wait_fd(c->fd, POLLIN, 100);
            if (recv_some(c) < 0)
                break;
            c->in[c->in_len] = 0;
        }
        struct json_object *env = json_tokener_parse((char *)c->in + head);
        int r = env ? cli_server_error(env) : (fprintf(stderr, "corral: the server refused the console: %s\n",
                                                       (char *)c->in), EXIT_SERVER);
        json_object_put(env);
        return r;
    }
    /* Sec-WebSocket-Accept must be base64(SHA-1(key + GUID)). */
    char kg[96];
    n = snprintf(kg, sizeof(kg), "%s" WS_GUID, key);
    gnutls_hash_fast(GNUTLS_DIG_SHA1, kg, (size_t)n, digest);
    sodium_bin2base64(expect, sizeof(expect), digest, 20, sodium_base64_VARIANT_ORIGINAL);
    const char *acc = strcasestr((char *)c->in, "\r\nSec-WebSocket-Accept:");
    acc = acc ? acc + 23 + strspn(acc + 23, " ") : NULL;
    if (!acc || strncmp(acc, expect, strlen(expect)))
        return fprintf(stderr, "corral: the server's WebSocket handshake is wrong\n"), EXIT_SERVER;
    memmove(c->in, c->in + head, c->in_len - head);
    c->in_len -= head;
    return 0;
}

/* Writes every whole frame's payload to stdout.  1 go on, 0 closed. */
static int frames(struct conn *c)
{
    size_t off = 0;
    int go = 1;
    while (go && c->in_len - off >= 2) {
        unsigned char *f = c->in + off;
        int op = f[0] & 15;
        size_t len = f[1] & 127, hl = 2;
        if (len == 126) {
            if (c->in_len - off < 4)
                break;
            len = (size_t)f[2] << 8 | f[3];
            hl = 4;
        } else if (len == 127) {
            return 0;
        }
        if (c->in_len - off < hl + len)
            break;
        if (op <= 2)
            fwrite(f + hl, 1, len, stdout);
        else if (op == 9)
            send_frame(c, 0xA, f + hl, len);
        else if (op == 8)
            go = 0;
        off += hl + len;
    }
    fflush(stdout);
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return go;
}

int cli_console(struct cli *cl, const char *path)
{
    struct curl_slist *hdrs = NULL;
    struct conn *c = calloc(1, sizeof(*c));
    if (sodium_init() < 0 || !c || !(c->h = cli_setup(cl, "GET", path, &hdrs))) {
        free(c);
        return EXIT_CONNECT;
    }
    curl_easy_setopt(c->h, CURLOPT_CONNECT_ONLY, 1L);
    CURLcode rc = curl_easy_perform(c->h);
    int r = rc == CURLE_OK ? 0 : cli_connect_error(cl, rc);
    if (r == 0 && curl_easy_getinfo(c->h, CURLINFO_ACTIVESOCKET, &c->fd) != CURLE_OK)
        r = cli_connect_error(cl, CURLE_COULDNT_CONNECT);
    if (r == 0)
        r = handshake(cl, c, path);
    bool tty = isatty(STDIN_FILENO);
    struct termios saved;
    if (r == 0 && tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
        struct termios raw = saved;
        cfmakeraw(&raw);
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
        fprintf(stderr, "[connected to the serial console; Ctrl-] quits]\r\n");
    }
    bool in_open = true;
    struct timespec linger = { 0 };
    while (r == 0) {
        struct pollfd p[2] = { { .fd = c->fd, .events = POLLIN }, { .fd = in_open ? STDIN_FILENO : -1, .events = POLLIN } };
        poll(p, 2, 200);
        ssize_t got;
        while ((got = recv_some(c)) > 0)
            if (!frames(c))
                break;
        if (got < 0 || c->in_len == sizeof(c->in))
            break;
        if (!frames(c))
            break;
        if (in_open && (p[1].revents & (POLLIN | POLLHUP))) {
            char buf[1024];
            ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
            char *q = tty && n > 0 ? memchr(buf, CTRL_BRACKET, (size_t)n) : NULL;
            if (q)
                n = q - buf;
            if (n > 0 && send_frame(c, 0x2, buf, (size_t)n) < 0)
                break;
            if (q)
                break;
            if (n <= 0) {
                in_open = false;
                clock_gettime(CLOCK_MONOTONIC, &linger);
            }
        }
        if (!in_open) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - linger.tv_sec >= 2)
                break;
        }
    }
    if (r == 0) {
        unsigned char code[2] = { 1000 >> 8, 1000 & 255 };
        send_frame(c, 0x8, code, 2);
    }
    if (r == 0 && tty) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        fprintf(stderr, "\n[disconnected]\n");
    }
    curl_easy_cleanup(c->h);
    curl_slist_free_all(hdrs);
    free(c);
    return r;
}
