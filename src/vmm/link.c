/* A migration's connection (docs/migration.md): a non-blocking TCP or
 * Unix stream socket that every wait gives up on when the migration is
 * cancelled, the VMM is signalled or the other side stays silent too long;
 * with a pre-shared key (--migration-key), TLS through GnuTLS over it.
 *
 * TLS: ECDHE-PSK only (TLS 1.3, or 1.2), so both sides prove they hold the
 * key, a recorded stream cannot be decrypted later even with the key
 * (ephemeral Diffie-Hellman), and no certificates are needed between two
 * VMMs started by the same management layer.  The key file is GnuTLS
 * psktool's format, "IDENTITY:HEXKEY" on one line (or only HEXKEY). */
#include "vmm.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 10000
#define TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-PSK"

int link_parse_uri(const char *uri, struct sockaddr_storage *sa, socklen_t *len)
{
    memset(sa, 0, sizeof(*sa));
    if (!strncmp(uri, "unix:", 5)) {
        struct sockaddr_un *un = (struct sockaddr_un *)sa;
        size_t n = strlen(uri + 5);
        if (n == 0 || n >= sizeof(un->sun_path))
            return fail(EINVAL, "%.64s: a Unix socket path of 1..%zu bytes", uri, sizeof(un->sun_path) - 1);
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, uri + 5, n + 1);
        *len = sizeof(*un);
        return 0;
    }
    if (!strncmp(uri, "tcp:", 4)) {
        const char *host = uri + 4, *port = strrchr(host, ':');
        char addr[64];
        uint64_t p;
        size_t hl = port ? (size_t)(port - host) : 0;
        if (hl > 2 && host[0] == '[' && host[hl - 1] == ']')
            host++, hl -= 2;
        if (port && hl && hl < sizeof(addr) && parse_uint(port + 1, 1, 65535, &p) == 0) {
            memcpy(addr, host, hl);
            addr[hl] = 0;
            struct sockaddr_in *in4 = (struct sockaddr_in *)sa;
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
            if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
                in4->sin_family = AF_INET;
                in4->sin_port = htons((uint16_t)p);
                *len = sizeof(*in4);
                return 0;
            }
            if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t)p);
                *len = sizeof(*in6);
                return 0;
            }
        }
    }
    return fail(EINVAL, "%.64s: not a migration address (tcp:ADDR:PORT with a numeric address, or unix:PATH)",
                uri);
}

int link_wait(const struct link *l, int fd, short events, uint64_t deadline)
{
    for (;;) {
        if (l->cancel && atomic_load(l->cancel))
            return -ECANCELED;
        uint64_t now = now_ns();
        if (now >= deadline)
            return -ETIMEDOUT;
        struct pollfd p[2] = { { .fd = fd, .events = events }, { .fd = l->abort_fd, .events = POLLIN } };
        int n = poll(p, l->abort_fd >= 0 ? 2 : 1, (int)MIN((deadline - now) / 1000000 + 1, 200));
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n > 0 && l->abort_fd >= 0 && (p[1].revents & POLLIN))
            return -EINTR;
        if (n > 0 && p[0].revents)
            return 0;
    }
}

uint64_t link_deadline(int ms) { return now_ns() + (uint64_t)ms * 1000000ULL; }

/* A GnuTLS error as -EPROTO, kept in the link for link_fail's words. */
static int tls_error(struct link *l, int e)
{
    l->tls_err = e;
    return -EPROTO;
}

/* One step of a transfer: bytes moved, or 0 with *WAIT set to what to
 * wait for, or a negative errno. */
static ssize_t xfer_step(struct link *l, struct iovec *iov, int n, bool write, short *wait)
{
    if (l->tls) {
        gnutls_session_t s = l->tls;
        /* One record at most: a send GnuTLS could not finish is repeated
         * with the same arguments, as it requires. */
        ssize_t done = write ? gnutls_record_send(s, iov->iov_base, MIN(iov->iov_len, 16384))
                             : gnutls_record_recv(s, iov->iov_base, iov->iov_len);
        if (done == GNUTLS_E_AGAIN || done == GNUTLS_E_INTERRUPTED) {
            *wait = gnutls_record_get_direction(s) ? POLLOUT : POLLIN;
            return 0;
        }
        if (done == GNUTLS_E_PREMATURE_TERMINATION)
            return -ECONNRESET;
        return done < 0 ? tls_error(l, (int)done) : done == 0 && !write ? -ECONNRESET : done;
    }
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)MIN(n, IOV_MAX) };
    ssize_t done = write ? sendmsg(l->fd, &msg, MSG_NOSIGNAL) : recvmsg(l->fd, &msg, 0);
    if (done == 0 && !write)
        return -ECONNRESET;
    if (done < 0 && (errno == EAGAIN || errno == EINTR)) {
        *wait = write ? POLLOUT : POLLIN;
        return 0;
    }
    return done < 0 ? -errno : done;
}

int link_xfer(struct link *l, struct iovec *iov, int n, bool write, int timeout_ms)
{
    uint64_t deadline = link_deadline(timeout_ms);
    while (n > 0) {
        if (iov->iov_len == 0) {
            iov++, n--;
            continue;
        }
        short wait = 0;
        ssize_t done = xfer_step(l, iov, n, write, &wait);
        if (done < 0)
            return (int)done;
        if (done == 0) {
            int r = link_wait(l, l->fd, wait, deadline);
            if (r < 0)
                return r;
            continue;
        }
        if (write)
            l->bytes += (uint64_t)done;
        deadline = link_deadline(timeout_ms);
        while (n > 0 && (size_t)done >= iov->iov_len) {
            done -= (ssize_t)iov->iov_len;
            iov++, n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + done;
            iov->iov_len -= (size_t)done;
        }
    }
    return 0;
}

int link_write(struct link *l, struct iovec *iov, int n) { return link_xfer(l, iov, n, true, LINK_TIMEOUT_MS); }

int link_read(struct link *l, void *buf, size_t len, int timeout_ms)
{
    struct iovec iov = { buf, len };
    return link_xfer(l, &iov, 1, false, timeout_ms);
}

int link_fail(const struct link *l, int r, const char *what)
{
    switch (-r) {
    case ETIMEDOUT: return fail(ETIMEDOUT, "%s: the other side was silent for %d s", what, LINK_TIMEOUT_MS / 1000);
    case ECONNRESET: return fail(ECONNRESET, "%s: the other side closed the connection", what);
    case EPIPE: return fail(EPIPE, "%s: the other side closed the connection", what);
    case ECANCELED: return fail(ECANCELED, "cancelled");
    case EINTR: return fail(EINTR, "%s: stopped by a signal", what);
    case EPROTO: return fail(EPROTO, "%s: TLS: %s", what, gnutls_strerror(l->tls_err));
    default: return fail(-r, "%s: %s", what, strerror(-r));
    }
}

/* Room for a few PAGES frames in flight: fewer wake-ups on both sides. */
static void set_buffers(int fd)
{
    int size = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

int link_dial(struct link *l, const char *uri)
{
    struct sockaddr_storage sa;
    socklen_t len;
    int r = link_parse_uri(uri, &sa, &len);
    if (r < 0)
        return r;
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return fail(errno, "%s: %m", uri);
    l->fd = fd;
    set_buffers(fd);
    if (sa.ss_family != AF_UNIX)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
    if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
        if (errno != EINPROGRESS)
            return fail(errno, "cannot connect to %s: %m", uri);
        int err = 0;
        socklen_t el = sizeof(err);
        if ((r = link_wait(l, fd, POLLOUT, link_deadline(CONNECT_TIMEOUT_MS))) < 0)
            return r == -ETIMEDOUT ? fail(ETIMEDOUT, "cannot connect to %s: no answer in %d s", uri,
                                          CONNECT_TIMEOUT_MS / 1000)
                                   : link_fail(l, r, "connecting");
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err)
            return fail(err ? err : errno, "cannot connect to %s: %s", uri, strerror(err ? err : errno));
    }
    return 0;
}

int link_listen(const char *uri, int *out)
{
    struct sockaddr_storage sa;
    socklen_t len;
    int r = link_parse_uri(uri, &sa, &len);
    if (r < 0)
        return fail(-r, "--incoming %s", err_msg());
    if (sa.ss_family == AF_UNIX) {
        /* A socket left by an earlier VMM is replaced; anything else stays. */
        struct stat st;
        const char *path = ((struct sockaddr_un *)&sa)->sun_path;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(path);
    }
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return fail(errno, "--incoming %s: %m", uri);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
    if (bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, 1) < 0) {
        r = fail(errno, "--incoming %s: %m", uri);
        close(fd);
        return r;
    }
    *out = fd;
    return 0;
}

int link_accept(struct link *l, int listen_fd)
{
    int r = link_wait(l, listen_fd, POLLIN, UINT64_MAX);
    if (r < 0)
        return link_fail(l, r, "waiting for the migration");
    l->fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (l->fd < 0)
        return fail(errno, "accepting the migration: %m");
    set_buffers(l->fd);
    return 0;
}

/* ---- TLS ---------------------------------------------------------------- */

/* One line of a key file, "[IDENTITY:]HEXKEY", into K. */
static int key_parse(const char *path, char *buf, struct link_key *k)
{
    char *hex = strrchr(buf, ':');
    size_t idlen = hex ? (size_t)(hex - buf) : 0;
    hex = hex ? hex + 1 : buf;
    if (idlen >= sizeof(k->identity))
        return fail(EINVAL, "--migration-key %s: an identity of at most %zu bytes", path, sizeof(k->identity) - 1);
    memcpy(k->identity, idlen ? buf : "corral-migration", idlen ? idlen : sizeof("corral-migration") - 1);
    size_t n = strlen(hex);
    if (n % 2 || n < 32 || n > 2 * sizeof(k->key))
        return fail(EINVAL, "--migration-key %s: the key must be 16 to %zu bytes in hex (e.g. psktool's "
                    "\"IDENTITY:HEXKEY\")", path, sizeof(k->key));
    for (size_t i = 0; i < n; i += 2) {
        unsigned v;
        if (!isxdigit((unsigned char)hex[i]) || !isxdigit((unsigned char)hex[i + 1]) ||
            sscanf(hex + i, "%2x", &v) != 1)
            return fail(EINVAL, "--migration-key %s: the key is not hex", path);
        k->key[i / 2] = (uint8_t)v;
    }
    k->len = (unsigned)(n / 2);
    return 0;
}

int link_key_load(const char *path, struct link_key *k)
{
    memset(k, 0, sizeof(*k));
    char buf[512];
    FILE *f = fopen(path, "re");
    if (!f)
        return fail(errno, "--migration-key %s: %m", path);
    setvbuf(f, NULL, _IONBF, 0);    /* no copy of the key in stdio's buffer */
    bool got = fgets(buf, sizeof(buf), f) != NULL;
    fclose(f);
    buf[got ? strcspn(buf, "\r\n") : 0] = 0;
    int r = key_parse(path, buf, k);    /* then no copy of the key is left but K */
    explicit_bzero(buf, sizeof(buf));
    if (r < 0)
        explicit_bzero(k, sizeof(*k));
    return r;
}

/* The server's side of PSK: the key of the one identity it knows. */
static int psk_lookup(gnutls_session_t s, const char *identity, gnutls_datum_t *key)
{
    const struct link_key *k = gnutls_session_get_ptr(s);
    if (strcmp(identity, k->identity))
        return -1;
    key->data = gnutls_malloc(k->len);
    if (!key->data)
        return -1;
    memcpy(key->data, k->key, k->len);
    key->size = k->len;
    return 0;
}

int link_secure(struct link *l, const struct link_key *k, bool server, const char *peer)
{
    gnutls_session_t s;
    int e = gnutls_init(&s, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NONBLOCK);
    if (e < 0)
        return fail(ENOMEM, "TLS: %s", gnutls_strerror(e));
    l->tls = s;
    l->server = server;
    gnutls_session_set_ptr(s, (void *)k);
    if (server) {
        gnutls_psk_server_credentials_t c;
        if ((e = gnutls_psk_allocate_server_credentials(&c)) == 0) {
            l->cred = c;
            gnutls_psk_set_server_credentials_function(c, psk_lookup);
            e = gnutls_credentials_set(s, GNUTLS_CRD_PSK, c);
        }
    } else {
        gnutls_psk_client_credentials_t c;
        gnutls_datum_t key = { (unsigned char *)k->key, k->len };
        if ((e = gnutls_psk_allocate_client_credentials(&c)) == 0) {
            l->cred = c;
            if ((e = gnutls_psk_set_client_credentials(c, k->identity, &key, GNUTLS_PSK_KEY_RAW)) == 0)
                e = gnutls_credentials_set(s, GNUTLS_CRD_PSK, c);
        }
    }
    if (e == 0)
        e = gnutls_priority_set_direct(s, TLS_PRIORITY, NULL);
    if (e < 0)
        return fail(EPROTO, "TLS with %s: %s", peer, gnutls_strerror(e));
    gnutls_transport_set_int(s, l->fd);
    uint64_t deadline = link_deadline(LINK_TIMEOUT_MS);
    while ((e = gnutls_handshake(s)) < 0) {
        if (gnutls_error_is_fatal(e))
            return fail(EPROTO, "TLS with %s: %s (is it given the same --migration-key?)", peer, gnutls_strerror(e));
        int r = link_wait(l, l->fd, gnutls_record_get_direction(s) ? POLLOUT : POLLIN, deadline);
        if (r < 0)
            return link_fail(l, r, "TLS handshake");
    }
    return 0;
}

void link_close(struct link *l)
{
    if (l->tls)
        gnutls_deinit(l->tls);
    if (l->cred) {
        if (l->server)
            gnutls_psk_free_server_credentials(l->cred);
        else
            gnutls_psk_free_client_credentials(l->cred);
    }
    if (l->fd >= 0)
        close(l->fd);
    free(l->rx);
    l->tls = l->cred = NULL;
    l->rx = NULL;
    l->rx_cap = 0;
    l->fd = -1;
}
