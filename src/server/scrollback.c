/* One thread per running guest copies its serial output into a ring and to the
 * attached client (one end of a socketpair; the WebSocket relay holds the
 * other), and the client's bytes to the console. */
#include "server/scrollback.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/server.h"
#include "util/util.h"

struct holder {
    struct holder *next;
    char vm[CONSOLE_KEY_MAX];
    int efd;                     /* the engine's console */
    int cfd;                     /* the client's end, or -1 */
    int wake[2];                 /* a byte: look at cfd again, or stop */
    atomic_bool stop;
    bool done;
    pthread_t thread;
    pthread_mutex_t lock;        /* ring and cfd */
    size_t head, len;
    char ring[SCROLLBACK_SIZE];
};

struct scrollback {
    pthread_mutex_t lock;        /* the list */
    struct holder *holders;
};

int scrollback_new(struct scrollback **out)
{
    struct scrollback *sb = calloc(1, sizeof(*sb));
    if (!sb)
        return fail(ENOMEM, "out of memory");
    pthread_mutex_init(&sb->lock, NULL);
    *out = sb;
    return 0;
}

static void ring_add(struct holder *h, const char *p, size_t n)
{
    if (n > SCROLLBACK_SIZE) {
        p += n - SCROLLBACK_SIZE;
        n = SCROLLBACK_SIZE;
    }
    for (size_t i = 0; i < n; i++)
        h->ring[(h->head + h->len + i) % SCROLLBACK_SIZE] = p[i];
    h->len += n;
    if (h->len > SCROLLBACK_SIZE) {
        h->head = (h->head + h->len - SCROLLBACK_SIZE) % SCROLLBACK_SIZE;
        h->len = SCROLLBACK_SIZE;
    }
}

/* To the client without blocking: a client that does not keep up loses
 * bytes (the ring still has them), the guest never waits. */
static void to_client(struct holder *h, const char *p, size_t n)
{
    if (h->cfd >= 0 && send(h->cfd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
        close(h->cfd);
        h->cfd = -1;
    }
}

static void *holder_main(void *arg)
{
    struct holder *h = arg;
    char buf[4096];
    while (!h->stop) {
        pthread_mutex_lock(&h->lock);
        int cfd = h->cfd;
        pthread_mutex_unlock(&h->lock);
        struct pollfd p[3] = { { h->efd, POLLIN, 0 }, { h->wake[0], POLLIN, 0 }, { cfd, POLLIN, 0 } };
        if (poll(p, cfd >= 0 ? 3 : 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            (void)!read(h->wake[0], buf, sizeof(buf));
        if (p[0].revents) {
            ssize_t n = read(h->efd, buf, sizeof(buf));
            if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR)))
                break;    /* the engine is gone (EOF; EIO on a pty) */
            if (n > 0) {
                pthread_mutex_lock(&h->lock);
                ring_add(h, buf, (size_t)n);
                to_client(h, buf, (size_t)n);
                pthread_mutex_unlock(&h->lock);
            }
        }
        if (cfd >= 0 && p[2].revents) {
            ssize_t n = read(cfd, buf, sizeof(buf));
            if (n > 0) {
                write_all(h->efd, buf, (size_t)n);
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                pthread_mutex_lock(&h->lock);
                if (h->cfd == cfd) {
                    close(cfd);
                    h->cfd = -1;
                }
                pthread_mutex_unlock(&h->lock);
            }
        }
    }
    pthread_mutex_lock(&h->lock);
    if (h->cfd >= 0)
        close(h->cfd);    /* the client sees the console end */
    h->cfd = -1;
    h->done = true;
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static void holder_free(struct holder *h)
{
    h->stop = true;
    (void)!write(h->wake[1], "x", 1);
    pthread_join(h->thread, NULL);
    close(h->efd);
    close(h->wake[0]);
    close(h->wake[1]);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* Unlinks VM's holder from the list (sb->lock held); NULL if none. */
static struct holder *unlink_holder(struct scrollback *sb, const char *vm)
{
    for (struct holder **pp = &sb->holders; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->vm, vm)) {
            struct holder *h = *pp;
            *pp = h->next;
            return h;
        }
    return NULL;
}

int scrollback_hold(struct scrollback *sb, const char *vm, int fd)
{
    scrollback_stop(sb, vm);
    struct holder *h = calloc(1, sizeof(*h));
    if (!h) {
        close(fd);
        return fail(ENOMEM, "out of memory");
    }
    snprintf(h->vm, sizeof(h->vm), "%s", vm);
    h->cfd = -1;
    h->efd = fd;
    fcntl(h->efd, F_SETFL, fcntl(h->efd, F_GETFL) | O_NONBLOCK);
    pthread_mutex_init(&h->lock, NULL);
    if (pipe2(h->wake, O_CLOEXEC | O_NONBLOCK) < 0 || pthread_create(&h->thread, NULL, holder_main, h)) {
        close(h->efd);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return fail(EAGAIN, "cannot start the console holder of '%s'", vm);
    }
    pthread_mutex_lock(&sb->lock);
    h->next = sb->holders;
    sb->holders = h;
    pthread_mutex_unlock(&sb->lock);
    return 0;
}

int scrollback_join(struct scrollback *sb, const char *vm, int (*open_console)(const void *arg), const void *arg)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_mutex_lock(&sb->lock);
        struct holder *h = sb->holders;
        while (h && strcmp(h->vm, vm))
            h = h->next;
        int sp[2] = { -1, -1 }, r = -EAGAIN;
        if (h) {
            pthread_mutex_lock(&h->lock);
            if (h->done)
                r = -EAGAIN;    /* an engine that is gone: hold the new one */
            else if (h->cfd >= 0)
                r = fail(EBUSY, "another client is attached to the console of '%s'", vm);
            else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                r = fail(errno, "socketpair: %m");
            else {
                size_t first = MIN(h->len, SCROLLBACK_SIZE - h->head);
                h->cfd = sp[1];
                to_client(h, h->ring + h->head, first);
                if (h->len > first)
                    to_client(h, h->ring, h->len - first);
                r = sp[0];
                (void)!write(h->wake[1], "x", 1);
            }
            pthread_mutex_unlock(&h->lock);
        }
        pthread_mutex_unlock(&sb->lock);
        if (r != -EAGAIN)
            return r;
        if (attempt == 0 && ((r = open_console(arg)) < 0 || (r = scrollback_hold(sb, vm, r)) < 0))
            return r;
    }
    return fail(EIO, "cannot hold the console of '%s'", vm);
}

void scrollback_stop(struct scrollback *sb, const char *vm)
{
    pthread_mutex_lock(&sb->lock);
    struct holder *h = unlink_holder(sb, vm);
    pthread_mutex_unlock(&sb->lock);
    if (h)
        holder_free(h);
}

void scrollback_free(struct scrollback *sb)
{
    if (!sb)
        return;
    struct holder *h = sb->holders;
    while (h) {
        struct holder *next = h->next;
        holder_free(h);
        h = next;
    }
    pthread_mutex_destroy(&sb->lock);
    free(sb);
}
