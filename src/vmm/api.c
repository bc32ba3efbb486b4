/* The control API: newline-delimited JSON over a Unix socket, handled on
 * the I/O loop.  Protocol and commands: docs/vmm-api.md. */
#include "vmm.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define API_LINE_MAX (64 * 1024)
#define API_MAX_CLIENTS 16

struct client {
    struct api *api;
    int fd;
    size_t len;
    char buf[API_LINE_MAX];
};

struct api {
    int fd;
    char *path;
    struct vmm *vmm;
    struct client *client[API_MAX_CLIENTS];
};

static char *reply(bool ok, struct json_object *result, const char *error)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "ok", json_object_new_boolean(ok));
    if (ok)
        json_object_object_add(o, "result", result ? result : json_object_new_object());
    else
        json_object_object_add(o, "error", json_object_new_string(error));
    char *s = NULL;
    if (asprintf(&s, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) < 0)
        s = NULL;
    json_object_put(o);
    return s;
}

static bool needs_machine(const char *cmd)
{
    static const char *const cmds[] = { "describe", "counters", "pause", "resume", "shutdown", "stop", "snapshot",
                                        "migrate" };
    for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
        if (!strcmp(cmd, cmds[i]))
            return true;
    return false;
}

/* {"cmd":"snapshot","path":DIR,"resume":true}: pauses the VM (if it
 * runs), saves it into DIR, then resumes it unless resume is false. */
static char *snapshot(struct machine *m, struct json_object *req)
{
    struct json_object *path, *resume = NULL;
    if (!json_object_object_get_ex(req, "path", &path) || !json_object_is_type(path, json_type_string) ||
        !json_object_get_string_len(path))
        return reply(false, NULL, "snapshot needs \"path\": an existing, empty directory");
    if (json_object_object_get_ex(req, "resume", &resume) && !json_object_is_type(resume, json_type_boolean))
        return reply(false, NULL, "\"resume\" must be true or false");
    bool was_paused = machine_state(m) == MACHINE_PAUSED;
    if (!was_paused)
        machine_pause(m);
    struct json_object *result = NULL;
    int r = machine_snapshot(m, json_object_get_string(path), &result);
    bool stay = was_paused || (resume && !json_object_get_boolean(resume));
    if (!stay)
        machine_resume(m);
    if (r < 0)
        return reply(false, NULL, err_msg());
    json_object_object_add(result, "state", json_object_new_string(stay ? "paused" : "running"));
    return reply(true, result, NULL);
}

static char *run_command(struct vmm *v, const char *cmd, struct json_object *req)
{
    struct machine *m = v->machine;
    if (!strcmp(cmd, "ping"))
        return reply(true, NULL, NULL);
    /* An unknown command is reported as such whether or not the VM runs. */
    if (!m && needs_machine(cmd))
        return reply(false, NULL, "the VM is not running");
    if (!strcmp(cmd, "describe"))
        return reply(true, machine_describe(m), NULL);
    if (!strcmp(cmd, "counters"))
        return reply(true, machine_counters(m), NULL);
    if (!strcmp(cmd, "pause")) {
        if (machine_state(m) == MACHINE_PAUSED)
            return reply(false, NULL, "the VM is already paused");
        machine_pause(m);
        return reply(true, NULL, NULL);
    }
    if (!strcmp(cmd, "resume")) {
        if (machine_state(m) != MACHINE_PAUSED)
            return reply(false, NULL, "the VM is not paused");
        machine_resume(m);
        return reply(true, NULL, NULL);
    }
    if (!strcmp(cmd, "shutdown")) {
        if (machine_state(m) == MACHINE_PAUSED)
            return reply(false, NULL, "the VM is paused; resume it first");
        machine_ctrl_alt_del(m);
        return reply(true, NULL, NULL);
    }
    if (!strcmp(cmd, "stop")) {
        machine_request(m, VM_REQ_STOP);
        return reply(true, NULL, NULL);
    }
    if (!strcmp(cmd, "snapshot"))
        return snapshot(m, req);
    if (!strcmp(cmd, "migrate"))
        return migrate_start(v, req) < 0 ? reply(false, NULL, err_msg()) : reply(true, migrate_status(v), NULL);
    if (!strcmp(cmd, "migrate-status"))
        return reply(true, migrate_status(v), NULL);
    if (!strcmp(cmd, "migrate-cancel"))
        return migrate_cancel(v) < 0 ? reply(false, NULL, err_msg()) : reply(true, NULL, NULL);
    char msg[200];
    snprintf(msg, sizeof(msg), "unknown command \"%.64s\" (known: ping, describe, counters, "
             "pause, resume, shutdown, stop, snapshot, migrate, migrate-status, migrate-cancel)", cmd);
    return reply(false, NULL, msg);
}

char *vmm_api_handle(struct vmm *v, const char *line, size_t len)
{
    struct json_tokener *tok = json_tokener_new_ex(16);
    if (!tok)
        return reply(false, NULL, "out of memory");
    struct json_object *req = json_tokener_parse_ex(tok, line, (int)len);
    bool good = req && json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    struct json_object *cmd;
    char *out;
    if (!good)
        out = reply(false, NULL, "request is not valid JSON");
    else if (!json_object_is_type(req, json_type_object) ||
             !json_object_object_get_ex(req, "cmd", &cmd) || !json_object_is_type(cmd, json_type_string))
        out = reply(false, NULL, "request must be an object with a string \"cmd\"");
    else
        out = run_command(v, json_object_get_string(cmd), req);
    json_object_put(req);
    return out;
}

static void drop_client(struct client *c)
{
    struct api *a = c->api;
    for (int i = 0; i < API_MAX_CLIENTS; i++)
        if (a->client[i] == c)
            a->client[i] = NULL;
    evloop_del(a->vmm->loop, c->fd);
    close(c->fd);
    free(c);
}

static void on_client(void *arg, uint32_t events)
{
    struct client *c = arg;
    ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR) || (events & (EPOLLHUP | EPOLLERR)))
            drop_client(c);
        return;
    }
    c->len += (size_t)n;
    char *nl;
    while ((nl = memchr(c->buf, '\n', c->len))) {
        size_t line = (size_t)(nl - c->buf);
        pthread_mutex_lock(&c->api->vmm->machine_lock);
        char *out = vmm_api_handle(c->api->vmm, c->buf, line);
        pthread_mutex_unlock(&c->api->vmm->machine_lock);
        int w = out ? write_all(c->fd, out, strlen(out)) : -ENOMEM;
        free(out);
        c->len -= line + 1;
        memmove(c->buf, nl + 1, c->len);
        if (w < 0) {
            drop_client(c);
            return;
        }
    }
    if (c->len == sizeof(c->buf)) {
        char *out = reply(false, NULL, "request line longer than 64 KiB");
        if (out)
            write_all(c->fd, out, strlen(out));
        free(out);
        drop_client(c);
    }
}

static void on_accept(void *arg, uint32_t events)
{
    struct api *a = arg;
    (void)events;
    int fd = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    int slot = 0;
    while (slot < API_MAX_CLIENTS && a->client[slot])
        slot++;
    struct client *c = slot < API_MAX_CLIENTS ? malloc(sizeof(*c)) : NULL;
    if (!c) {
        static const char busy[] = "{\"ok\":false,\"error\":\"too many API clients\"}\n";
        write_all(fd, busy, sizeof(busy) - 1);
        close(fd);
        return;
    }
    c->api = a;
    c->fd = fd;
    c->len = 0;
    a->client[slot] = c;
    if (evloop_add(a->vmm->loop, fd, EPOLLIN, on_client, c) < 0)
        drop_client(c);
}

int api_open(struct api **out, const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path))
        return fail(ENAMETOOLONG, "--api-socket %s: path too long", path);
    strcpy(sa.sun_path, path);
    struct api *a = calloc(1, sizeof(*a));
    if (!a || !(a->path = strdup(path))) {
        free(a);
        return fail(ENOMEM, "out of memory");
    }
    a->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct stat st;
    /* Replace a stale socket, never some other file. */
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    mode_t old = umask(0077);
    int r = a->fd < 0 ? -1 : bind(a->fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || listen(a->fd, 8) < 0) {
        int e = errno;
        if (a->fd >= 0)
            close(a->fd);
        free(a->path);
        free(a);
        return fail(e, "--api-socket %s: %s", path, strerror(e));
    }
    *out = a;
    return 0;
}

int api_attach(struct api *a, struct vmm *v)
{
    a->vmm = v;
    return evloop_add(v->loop, a->fd, EPOLLIN, on_accept, a);
}

void api_close(struct api *a)
{
    for (int i = 0; i < API_MAX_CLIENTS; i++)
        if (a->client[i])
            drop_client(a->client[i]);
    close(a->fd);
    /* The path is outside a --jail chroot; unlinking may fail there. */
    unlink(a->path);
    free(a->path);
    free(a);
}
