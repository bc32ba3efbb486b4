#include "util.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

/* Handlers live in a table indexed by fd, so epoll's data word is the fd
 * and a handler removed mid-batch is simply skipped. */
struct handler {
    evloop_cb cb;
    void *arg;
};

struct evloop {
    int epfd;
    int stopfd;
    atomic_bool stop;
    struct handler *h;
    int nh;
};

int evloop_new(struct evloop **out)
{
    struct evloop *l = calloc(1, sizeof(*l));
    if (!l)
        return fail(ENOMEM, "out of memory");
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->epfd < 0 || l->stopfd < 0) {
        int e = errno;
        evloop_free(l);
        return fail(e, "cannot create event loop: %s", strerror(e));
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = l->stopfd };
    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->stopfd, &ev);
    *out = l;
    return 0;
}

void evloop_free(struct evloop *l)
{
    if (!l)
        return;
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->stopfd >= 0)
        close(l->stopfd);
    free(l->h);
    free(l);
}

static int set_handler(struct evloop *l, int fd, evloop_cb cb, void *arg)
{
    if (fd < 0)
        return fail(EBADF, "bad file descriptor");
    if (fd >= l->nh) {
        int n = MAX(fd + 1, l->nh * 2);
        struct handler *h = realloc(l->h, sizeof(*h) * (size_t)n);
        if (!h)
            return fail(ENOMEM, "out of memory");
        memset(h + l->nh, 0, sizeof(*h) * (size_t)(n - l->nh));
        l->h = h;
        l->nh = n;
    }
    l->h[fd] = (struct handler){ cb, arg };
    return 0;
}

static int ctl(struct evloop *l, int op, int fd, uint32_t events, evloop_cb cb, void *arg)
{
    int r = set_handler(l, fd, cb, arg);
    if (r < 0)
        return r;
    struct epoll_event ev = { .events = events, .data.fd = fd };
    if (epoll_ctl(l->epfd, op, fd, &ev) < 0)
        return fail(errno, "epoll_ctl: %s", strerror(errno));
    return 0;
}

int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_cb cb, void *arg)
{
    return ctl(l, EPOLL_CTL_ADD, fd, events, cb, arg);
}

int evloop_mod(struct evloop *l, int fd, uint32_t events, evloop_cb cb, void *arg)
{
    return ctl(l, EPOLL_CTL_MOD, fd, events, cb, arg);
}

int evloop_set_events(struct evloop *l, int fd, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.fd = fd };
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
        return fail(errno, "epoll_ctl: %s", strerror(errno));
    return 0;
}

void evloop_del(struct evloop *l, int fd)
{
    if (fd < 0 || fd >= l->nh)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    l->h[fd] = (struct handler){ 0 };
}

int evloop_run(struct evloop *l)
{
    struct epoll_event evs[32];
    while (!atomic_load(&l->stop)) {
        int n = epoll_wait(l->epfd, evs, ARRAY_SIZE(evs), -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return fail(errno, "epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n && !atomic_load(&l->stop); i++) {
            int fd = evs[i].data.fd;
            if (fd == l->stopfd || fd >= l->nh || !l->h[fd].cb)
                continue;
            l->h[fd].cb(l->h[fd].arg, evs[i].events);
        }
    }
    /* Re-arm, so the loop can run again (the VMM runs it once per boot). */
    uint64_t v;
    (void)!read(l->stopfd, &v, sizeof(v));
    atomic_store(&l->stop, false);
    return 0;
}

void evloop_stop(struct evloop *l)
{
    atomic_store(&l->stop, true);
    uint64_t one = 1;
    (void)!write(l->stopfd, &one, sizeof(one));
}
