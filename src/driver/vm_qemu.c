/* The qemu engine: qemu-system-x86_64 driven over QMP, with KVM when the
 * host has hardware-assisted KVM, else TCG.  A kernel boot under KVM uses
 * the microvm machine (virtio-mmio, no firmware); everything else q35.
 * (Under TCG, Debian's kernel hangs calibrating its TSC on microvm with
 * ACPI, and without ACPI it gets one CPU and no power button; q35 boots it
 * to a shell in about 5 s.)  The serial port is a Unix socket chardev that
 * keeps running when nobody is attached. */
#include "driver/driver_impl.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"

#define QMP_TIMEOUT_MS 5000

static int qemu_argv(const struct drivers *d, const struct guest_spec *s, const struct guest_handle *h,
                     struct argv *a)
{
    bool kernel = s->kernel != NULL, microvm = kernel && drivers_hw_kvm(d);
    argv_add(a, "%s", d->qemu_bin);
    argv_add(a, "-name");
    argv_add(a, "%s", s->name);
    argv_add(a, "-nodefaults");
    argv_add(a, "-no-user-config");
    argv_add(a, "-display");
    argv_add(a, "none");
    argv_add(a, "-accel");
    argv_add(a, "%s", drivers_hw_kvm(d) ? "kvm" : s->vcpus > 1 ? "tcg,thread=multi" : "tcg");
    if (drivers_hw_kvm(d)) {
        argv_add(a, "-cpu");
        argv_add(a, "host");
    }
    argv_add(a, "-M");
    argv_add(a, "%s", microvm ? "microvm,rtc=on" : "q35");
    argv_add(a, "-smp");
    argv_add(a, "%d", s->vcpus);
    argv_add(a, "-m");
    argv_add(a, "%lluM", (unsigned long long)(s->memory / MiB));
    if (kernel) {
        argv_add(a, "-kernel");
        argv_add(a, "%s", s->kernel);
        if (s->initrd) {
            argv_add(a, "-initrd");
            argv_add(a, "%s", s->initrd);
        }
        if (s->cmdline && *s->cmdline) {
            argv_add(a, "-append");
            argv_add(a, "%s", s->cmdline);
        }
    }
    const char *bus = microvm ? "device" : "pci";
    for (int i = 0; i < s->ndisks; i++) {
        /* Paths were checked to hold no ',' (QEMU's option separator). */
        argv_add(a, "-drive");
        argv_add(a, "file=%s,format=%s,if=none,id=disk%d", s->disks[i].path, s->disks[i].format, i);
        argv_add(a, "-device");
        argv_add(a, "virtio-blk-%s,drive=disk%d%s", bus, i, !kernel && i == 0 ? ",bootindex=0" : "");
    }
    for (int i = 0; i < s->nnics; i++) {
        argv_add(a, "-netdev");
        argv_add(a, "tap,id=net%d,ifname=%s,script=no,downscript=no", i, s->nics[i].tap);
        argv_add(a, "-device");
        argv_add(a, "virtio-net-%s,netdev=net%d,mac=%s", bus, i, s->nics[i].mac);
    }
    argv_add(a, "-chardev");
    argv_add(a, "socket,id=serial0,path=%s,server=on,wait=off", h->console);
    argv_add(a, "-serial");
    argv_add(a, "chardev:serial0");
    argv_add(a, "-qmp");
    argv_add(a, "unix:%s,server=on,wait=off", h->control);
    if (s->uid) {
        /* Once set up, QEMU chroots, drops to the VM's own uid and keeps a
         * seccomp filter (set*id stays allowed: -runas needs it first). */
        char jail[VM_PATH_MAX];
        int r = engine_jail(s, jail, sizeof(jail));
        if (r < 0)
            return r;
        argv_add(a, "-chroot");
        argv_add(a, "%s", jail);
        argv_add(a, "-runas");
        argv_add(a, "%u:%u", s->uid, s->uid);
        argv_add(a, "-sandbox");
        argv_add(a, "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny");
    }
    return 0;
}

/* The next reply (skipping asynchronous events). */
static int qmp_reply(int fd, struct json_object **out)
{
    for (;;) {
        int r = jsonl_recv(fd, out, QMP_TIMEOUT_MS);
        if (r < 0)
            return r;
        if (!json_object_object_get(*out, "event"))
            return 0;
        json_object_put(*out);
    }
}

/* Runs one QMP command on a fresh session; *ret gets "return" if asked. */
static int qmp(const char *sock, const char *cmd, struct json_object **ret)
{
    _cleanup_close_ int fd = jsonl_connect(sock);
    if (fd < 0)
        return fd;
    struct json_object *o = NULL;
    int r = jsonl_recv(fd, &o, QMP_TIMEOUT_MS);    /* the greeting */
    json_object_put(o);
    const char *steps[] = { "qmp_capabilities", cmd };
    for (int i = 0; r == 0 && i < 2; i++) {
        struct json_object *req = json_object_new_object();
        json_object_object_add(req, "execute", json_object_new_string(steps[i]));
        r = jsonl_send(fd, req);
        json_object_put(req);
        if (r == 0 && (r = qmp_reply(fd, &o)) == 0) {
            struct json_object *err = json_object_object_get(o, "error");
            if (err)
                r = fail(EIO, "QMP %s: %s", steps[i],
                         json_object_get_string(json_object_object_get(err, "desc")));
            else if (i == 1 && ret)
                *ret = json_object_get(json_object_object_get(o, "return"));
            json_object_put(o);
        }
    }
    return r;
}

static int qemu_ready(const char *dir, struct guest_handle *h)
{
    (void)dir;
    _cleanup_close_ int fd = jsonl_connect(h->control);
    if (fd < 0)
        return fd;
    return access(h->console, F_OK) == 0 ? 0 : -EAGAIN;
}

static int qemu_command(const struct guest_handle *h, enum engine_cmd c, char *buf, size_t len)
{
    static const char *const cmds[] = {
        [ENGINE_CMD_QUIT] = "quit", [ENGINE_CMD_POWERDOWN] = "system_powerdown",
        [ENGINE_CMD_PAUSE] = "stop", [ENGINE_CMD_RESUME] = "cont", [ENGINE_CMD_STATUS] = "query-status",
    };
    struct json_object *ret = NULL;
    int r = qmp(h->control, cmds[c], c == ENGINE_CMD_STATUS ? &ret : NULL);
    if (r == 0 && c == ENGINE_CMD_STATUS) {
        const char *st = json_object_get_string(json_object_object_get(ret, "status"));
        snprintf(buf, len, "%s", st && !strcmp(st, "paused") ? "paused" : "running");
    }
    json_object_put(ret);
    return r;
}

static int qemu_console(const struct guest_handle *h)
{
    return jsonl_connect(h->console);
}

const struct engine_ops engine_qemu_ops = { qemu_argv, qemu_ready, qemu_command, qemu_console, false };
