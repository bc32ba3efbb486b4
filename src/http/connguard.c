/* Per-connection deadlines and limits for anonymous HTTPS connections (see
 * connguard.h).  One lock guards the list; the list is short (the server's
 * connection cap), so counting walks it. */
#include "http/connguard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

#define REAP_INTERVAL_MS 250

enum gstate {
    G_WAITING,     /* accepted or idle: its request has not all arrived */
    G_ANON,        /* serving a request of a caller not logged in */
    G_TRUSTED,     /* serving a logged-in caller */
    G_UPGRADED,    /* a WebSocket (only logged-in callers get one) */
};

struct guard_conn {
    struct guard_conn *prev, *next;
    struct connguard *g;
    int fd;
    uint8_t client[8];           /* IPv4 address or IPv6 /64 */
    char ip[INET6_ADDRSTRLEN];
    enum gstate state;
    uint64_t since;              /* now_ns() when its state began */
    bool cut;                    /* shut down; gone soon */
    bool kept_alive;             /* it has answered a request before */
};

struct connguard {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t reaper;
    bool stop;
    struct guard_conn *head;
};

/* Who a client is for the per-client limit: an IPv4 address (also when
 * mapped into IPv6), or an IPv6 /64, which one host usually has whole. */
static void client_of(const struct sockaddr *sa, uint8_t out[8], char *ip, size_t len)
{
    memset(out, 0, 8);
    snprintf(ip, len, "?");
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        memcpy(out, &a->sin_addr, 4);
        inet_ntop(AF_INET, &a->sin_addr, ip, (socklen_t)len);
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
            memcpy(out, a->sin6_addr.s6_addr + 12, 4);
        else
            memcpy(out, a->sin6_addr.s6_addr, 8);
        inet_ntop(AF_INET6, &a->sin6_addr, ip, (socklen_t)len);
    }
}

static bool anonymous(const struct guard_conn *c)
{
    return !c->cut && (c->state == G_WAITING || c->state == G_ANON);
}

static void cut(struct guard_conn *c, const char *why)
{
    /* The fd is still open: MHD closes it only after connguard_remove(),
     * which needs the lock we hold. */
    shutdown(c->fd, SHUT_RDWR);
    c->cut = true;
    log_debug("http: closed a connection from %s: %s", c->ip, why);
}

/* How many anonymous connections one client (or, client NULL, everyone)
 * has, and the oldest of them still waiting for its request: one being
 * served is never cut, or its answer (a login's, say) would be lost. */
static struct guard_conn *oldest_anon(struct connguard *g, const uint8_t *client, int *count)
{
    struct guard_conn *old = NULL;
    *count = 0;
    for (struct guard_conn *c = g->head; c; c = c->next) {
        if (!anonymous(c) || (client && memcmp(c->client, client, 8)))
            continue;
        ++*count;
        if (c->state == G_WAITING && (!old || c->since < old->since))
            old = c;
    }
    return old;
}

/* Before NEW joins: at a limit, the oldest waiting anonymous connection of
 * its client, or of all, goes; if every one is being served, NEW goes. */
static void make_room(struct connguard *g, struct guard_conn *new)
{
    int n;
    struct guard_conn *old = oldest_anon(g, new->client, &n);
    if (n >= GUARD_ANON_PER_CLIENT)
        cut(old ? old : new, "its client opened too many anonymous connections");
    old = oldest_anon(g, NULL, &n);
    if (n >= GUARD_ANON_MAX && !new->cut)
        cut(old ? old : new, "too many anonymous connections: the oldest made room");
}

struct guard_conn *connguard_add(struct connguard *g, int fd, const struct sockaddr *addr)
{
    struct guard_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;    /* unguarded, like the Unix socket's */
    c->g = g;
    c->fd = fd;
    client_of(addr, c->client, c->ip, sizeof(c->ip));
    c->state = G_WAITING;
    c->since = now_ns();
    pthread_mutex_lock(&g->lock);
    make_room(g, c);
    c->next = g->head;
    if (g->head)
        g->head->prev = c;
    g->head = c;
    pthread_mutex_unlock(&g->lock);
    return c;
}

void connguard_remove(struct guard_conn *c)
{
    if (!c)
        return;
    struct connguard *g = c->g;
    pthread_mutex_lock(&g->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        g->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&g->lock);
    free(c);
}

static void set_state(struct guard_conn *c, enum gstate s)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->g->lock);
    if (c->state != G_UPGRADED) {
        c->state = s;
        c->since = now_ns();
    }
    pthread_mutex_unlock(&c->g->lock);
}

void connguard_request_line(struct guard_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->g->lock);
    if (c->kept_alive && c->state == G_WAITING)
        c->since = now_ns();
    pthread_mutex_unlock(&c->g->lock);
}

void connguard_request(struct guard_conn *c) { set_state(c, G_ANON); }
void connguard_trusted(struct guard_conn *c) { set_state(c, G_TRUSTED); }
void connguard_upgraded(struct guard_conn *c) { set_state(c, G_UPGRADED); }
void connguard_idle(struct guard_conn *c)
{
    set_state(c, G_WAITING);
    if (!c)
        return;
    pthread_mutex_lock(&c->g->lock);
    c->kept_alive = true;
    pthread_mutex_unlock(&c->g->lock);
}

static void *reaper(void *arg)
{
    struct connguard *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stop) {
        uint64_t now = now_ns();
        for (struct guard_conn *c = g->head; c; c = c->next)
            if (!c->cut && c->state == G_WAITING && now - c->since >= GUARD_DEADLINE_S * 1000000000ULL)
                cut(c, "no whole request within the deadline");
        struct timespec dl = deadline_after(CLOCK_MONOTONIC, REAP_INTERVAL_MS);
        pthread_cond_timedwait(&g->wake, &g->lock, &dl);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

int connguard_new(struct connguard **out)
{
    struct connguard *g = calloc(1, sizeof(*g));
    if (!g)
        return fail(ENOMEM, "out of memory");
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->wake, &ca);
    pthread_condattr_destroy(&ca);
    int e = pthread_create(&g->reaper, NULL, reaper, g);
    if (e) {
        free(g);
        return fail(e, "cannot start the connection reaper: %s", strerror(e));
    }
    *out = g;
    return 0;
}

void connguard_free(struct connguard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->stop = true;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->reaper, NULL);
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->wake);
    free(g);
}
