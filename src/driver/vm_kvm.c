/* The kvm engine: one corral-vmm process per VM, controlled over its JSON
 * API socket (docs/vmm-api.md).  Its serial port is a pty: corral-vmm logs
 * the pty's name, which is read back from the engine log once the API
 * socket answers. */
#include "driver/driver_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "util/util.h"

#define API_TIMEOUT_MS 5000

static int kvm_argv(const struct drivers *d, const struct guest_spec *s, const struct guest_handle *h,
                    struct argv *a)
{
    if (!s->kernel)
        return fail(EINVAL, "the kvm engine boots a kernel: give boot.kernel or boot.image (disk boot needs the "
                    "qemu engine)");
    if (access("/dev/kvm", R_OK | W_OK) < 0)
        return fail(ENODEV, "the kvm engine needs /dev/kvm, which this host lacks: use engine qemu");
    argv_add(a, "%s", d->vmm_bin);
    argv_add(a, "--kernel");
    argv_add(a, "%s", s->kernel);
    if (s->initrd) {
        argv_add(a, "--initrd");
        argv_add(a, "%s", s->initrd);
    }
    if (s->cmdline && *s->cmdline) {
        argv_add(a, "--cmdline");
        argv_add(a, "%s", s->cmdline);
    }
    argv_add(a, "--memory");
    argv_add(a, "%lluM", (unsigned long long)(s->memory / MiB));
    argv_add(a, "--cpus");
    argv_add(a, "%d", s->vcpus);
    for (int i = 0; i < s->ndisks; i++) {
        argv_add(a, "--disk");
        argv_add(a, "%s,format=%s", s->disks[i].path, s->disks[i].format);
    }
    for (int i = 0; i < s->nnics; i++) {
        argv_add(a, "--net");
        argv_add(a, "tap=%s,mac=%s", s->nics[i].tap, s->nics[i].mac);
    }
    if (s->uid) {
        char jail[VM_PATH_MAX];
        int r = engine_jail(s, jail, sizeof(jail));
        if (r < 0)
            return r;
        argv_add(a, "--jail");
        argv_add(a, "%s", jail);
        argv_add(a, "--uid");
        argv_add(a, "%u", s->uid);
        argv_add(a, "--gid");
        argv_add(a, "%u", s->uid);
    }
    argv_add(a, "--console");
    argv_add(a, "pty");
    argv_add(a, "--api-socket");
    argv_add(a, "%s", h->control);
    argv_add(a, "--ready-fd");
    argv_add(a, "%d", s->ready_fd);
    return 0;
}

static int vmm_call(const struct guest_handle *h, const char *cmd, struct json_object **result)
{
    _cleanup_close_ int fd = jsonl_connect(h->control);
    if (fd < 0)
        return fd;
    struct json_object *req = json_object_new_object(), *resp = NULL;
    json_object_object_add(req, "cmd", json_object_new_string(cmd));
    int r = jsonl_send(fd, req);
    json_object_put(req);
    if (r == 0)
        r = jsonl_recv(fd, &resp, API_TIMEOUT_MS);
    if (r == 0 && !json_object_get_boolean(json_object_object_get(resp, "ok")))
        r = fail(EIO, "corral-vmm %s: %s", cmd, json_object_get_string(json_object_object_get(resp, "error")));
    if (r == 0 && result)
        *result = json_object_get(json_object_object_get(resp, "result"));
    json_object_put(resp);
    return r;
}

/* Readiness polled, for an engine corrald did not spawn itself (re-adopted
 * after a restart): the API answers, and the log names the serial pty. */
static int kvm_ready(const char *dir, struct guest_handle *h)
{
    if (vmm_call(h, "ping", NULL) < 0)
        return -EAGAIN;
    char path[VM_PATH_MAX];
    uint8_t *log;
    size_t len;
    snprintf(path, sizeof(path), "%s/engine.log", dir);
    if (read_file(path, 1 << 20, &log, &len) < 0)
        return -EAGAIN;
    char *text = (char *)log;
    text[len ? len - 1 : 0] = 0;
    const char *p = strstr(text, "serial console on /dev/pts/");
    int r = -EAGAIN;
    if (p) {
        snprintf(h->console, sizeof(h->console), "%.*s", (int)strcspn(p + 18, " \n"), p + 18);
        r = 0;
    }
    free(log);
    return r;
}

static int kvm_command(const struct guest_handle *h, enum engine_cmd c, char *buf, size_t len)
{
    static const char *const cmds[] = {
        [ENGINE_CMD_QUIT] = "stop", [ENGINE_CMD_POWERDOWN] = "shutdown",
        [ENGINE_CMD_PAUSE] = "pause", [ENGINE_CMD_RESUME] = "resume", [ENGINE_CMD_STATUS] = "describe",
    };
    struct json_object *res = NULL;
    int r = vmm_call(h, cmds[c], c == ENGINE_CMD_STATUS ? &res : NULL);
    if (r == 0 && c == ENGINE_CMD_STATUS) {
        const char *st = json_object_get_string(json_object_object_get(res, "state"));
        snprintf(buf, len, "%s", st && !strcmp(st, "paused") ? "paused" : "running");
    }
    json_object_put(res);
    return r;
}

static int kvm_console(const struct guest_handle *h)
{
    if (strncmp(h->console, "/dev/pts/", 9))
        return fail(ENOENT, "the VM has no serial console pty");
    int fd = open(h->console, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return fail(errno, "cannot open the VM's console %s: %m", h->console);
    struct termios t;
    if (tcgetattr(fd, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(fd, TCSANOW, &t);
    }
    return fd;
}

const struct engine_ops engine_kvm_ops = { kvm_argv, kvm_ready, kvm_command, kvm_console, true };
