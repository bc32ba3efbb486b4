/* config.json's hooks: parsing, and running one kind of them.
 *
 * Where each kind runs is the caller's part (runtime.md): prestart and
 * createRuntime in the runtime after the namespaces exist (container.c),
 * createContainer in the init before pivot_root (mounts.c), startContainer
 * in the init just before execve, poststart after start and poststop after
 * delete in the runtime.  A hook gets the container's state JSON on stdin
 * over a socket (so a hook that never reads it cannot block us, and its
 * early exit cannot SIGPIPE us), and is killed when its timeout expires. */
#include "oci/oci_internal.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

static const char *const kind_names[OCI_HOOK_N] = {
    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
};

const char *oci_hook_name(enum oci_hook_kind k)
{
    return kind_names[k];
}

static int parse_hook(json_object *o, const char *path, void *elem, void *ctx)
{
    struct oci_hook *h = elem;
    json_object *v;
    char p[128];
    int r;
    (void)ctx;
    if ((r = spec_object_path(o, path, "path", &h->path)) < 0)
        return r;
    snprintf(p, sizeof(p), "%s.args", path);
    if ((v = spec_member(o, "args")) && (r = get_strv(v, p, 4096, &h->args)) < 0)
        return r;
    snprintf(p, sizeof(p), "%s.env", path);
    if ((v = spec_member(o, "env")) && (r = get_strv(v, p, 4096, &h->env)) < 0)
        return r;
    snprintf(p, sizeof(p), "%s.timeout", path);
    int64_t t;
    if ((v = spec_member(o, "timeout"))) {
        if ((r = spec_get_int(v, p, 1, 86400, &t)) < 0)
            return r;
        h->timeout = (int)t;
    }
    return 0;
}

int hooks_parse(json_object *o, struct oci_hooks *h)
{
    memset(h, 0, sizeof(*h));
    if (!json_object_is_type(o, json_type_object))
        return spec_type_err("hooks", "an object");
    int r = 0;
    for (int k = 0; k < OCI_HOOK_N && r == 0; k++) {
        json_object *arr = spec_member(o, kind_names[k]);
        char p[64];
        snprintf(p, sizeof(p), "hooks.%s", kind_names[k]);
        if (arr)
            r = spec_get_objects(arr, p, 256, &h->n[k], &h->list[k], sizeof(struct oci_hook),
                                 parse_hook, NULL);
    }
    if (r < 0)
        hooks_free(h);
    else
        h->json = json_object_get(o);
    return r;
}

void hooks_free(struct oci_hooks *h)
{
    for (int k = 0; k < OCI_HOOK_N; k++) {
        for (size_t i = 0; h->list[k] && i < h->n[k]; i++) {
            free(h->list[k][i].path);
            oci_strv_free(h->list[k][i].args);
            oci_strv_free(h->list[k][i].env);
        }
        free(h->list[k]);
    }
    json_object_put(h->json);
    memset(h, 0, sizeof(*h));
}

static void __attribute__((noreturn)) exec_hook(const struct oci_hook *h, int in)
{
    char *argv0[] = { h->path, NULL }, *noenv[] = { NULL };
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(in, STDIN_FILENO) < 0)
        _exit(126);
    close_range(3, ~0U, 0);
    execve(h->path, h->args && h->args[0] ? h->args : argv0, h->env ? h->env : noenv);
    dprintf(STDERR_FILENO, "corral-oci: hook %s: %s\n", h->path, strerror(errno));
    _exit(127);
}

/* Feeds the state to the hook and waits for it, killing it at its timeout. */
static int wait_hook(const struct oci_hook *h, pid_t pid, int sock, const char *state,
                     const char *name)
{
    int pidfd = pidfd_open(pid, 0);
    if (pidfd < 0) {
        int r = fail(errno, "%s: pidfd_open: %s", name, strerror(errno));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return r;
    }
    size_t off = 0, len = strlen(state);
    uint64_t deadline = h->timeout ? now_ns() + (uint64_t)h->timeout * 1000000000ULL : 0;
    bool timed_out = false;
    for (;;) {
        struct pollfd pf[2] = { { .fd = pidfd, .events = POLLIN },
                                { .fd = sock, .events = POLLOUT } };
        int wait_ms = -1;
        if (deadline) {
            uint64_t now = now_ns();
            if (now >= deadline) {
                timed_out = true;
                break;
            }
            wait_ms = (int)((deadline - now) / 1000000) + 1;
        }
        int n = poll(pf, off < len ? 2 : 1, wait_ms);
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0 && pf[0].revents)
            break;
        if (n > 0 && off < len && pf[1].revents) {
            ssize_t w = send(sock, state + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0)
                off += (size_t)w;
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                off = len;      /* the hook closed its stdin: fine */
            if (off == len)
                shutdown(sock, SHUT_WR);
        }
    }
    if (timed_out)
        kill(pid, SIGKILL);
    close(pidfd);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (timed_out)
        return fail(ETIMEDOUT, "%s: %s timed out after %d s (killed)", name, h->path,
                    h->timeout);
    if (WIFSIGNALED(st))
        return fail(ECANCELED, "%s: %s was killed by signal %d", name, h->path, WTERMSIG(st));
    if (WEXITSTATUS(st) != 0)
        return fail(ECANCELED, "%s: %s exited with status %d", name, h->path, WEXITSTATUS(st));
    return 0;
}

int hooks_run(const struct oci_hooks *hooks, enum oci_hook_kind kind, const char *state)
{
    for (size_t i = 0; i < hooks->n[kind]; i++) {
        const struct oci_hook *h = &hooks->list[kind][i];
        char name[64];
        snprintf(name, sizeof(name), "hooks.%s[%zu]", kind_names[kind], i);
        if (access(h->path, X_OK) < 0)
            return fail(errno, "%s: %s: %s", name, h->path, strerror(errno));
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
            return fail(errno, "%s: socketpair: %s", name, strerror(errno));
        pid_t pid = fork();
        if (pid == 0)
            exec_hook(h, sp[1]);
        close(sp[1]);
        int r = pid < 0 ? fail(errno, "%s: fork: %s", name, strerror(errno))
                        : wait_hook(h, pid, sp[0], state, name);
        close(sp[0]);
        if (r < 0)
            return r;
    }
    return 0;
}

char *hooks_state(const char *id, enum oci_status status, pid_t pid, const char *bundle,
                  json_object *annotations)
{
    struct oci_state st = { .status = status, .pid = pid, .bundle = (char *)bundle,
                            .annotations = annotations };
    snprintf(st.id, sizeof(st.id), "%s", id);
    json_object *o = oci_state_json(&st);
    json_object_object_del(o, "rootfs");
    json_object_object_del(o, "created");
    json_object_object_del(o, "owner");
    char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return s;
}
