/* What engine.c needs from each engine (engine_qemu.c, engine_kvm.c): its
 * command line, when it is ready, its control commands and its console.
 * Private to the engine files. */
#ifndef CORRAL_ENGINE_IMPL_H
#define CORRAL_ENGINE_IMPL_H

#include <stdarg.h>
#include <stddef.h>

#include "engine/engine.h"

#define ARGV_MAX 96
struct argv {
    char *v[ARGV_MAX];           /* NULL-terminated */
    int n;
    bool overflow;
};
void argv_add(struct argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void argv_free(struct argv *a);

enum engine_cmd { ENGINE_CMD_QUIT, ENGINE_CMD_POWERDOWN, ENGINE_CMD_PAUSE, ENGINE_CMD_RESUME,
                  ENGINE_CMD_STATUS };

struct engine_ops {
    int (*argv)(const struct vm_spec *spec, const struct vm_handle *h, struct argv *out);
    /* 0 once the control socket answers (may fill the handle's console);
     * dir is the VM's run directory. */
    int (*ready)(const char *dir, struct vm_handle *h);
    /* ENGINE_CMD_STATUS writes "running" or "paused" into buf. */
    int (*command)(const struct vm_handle *h, enum engine_cmd c, char *buf, size_t len);
    int (*console)(const struct vm_handle *h);
};
extern const struct engine_ops engine_qemu_ops, engine_kvm_ops;
const char *engine_bin(enum vm_engine e);
/* The empty root-owned directory SPEC's engine chroots into once it has
 * opened every file it needs (kernel, disks, taps, sockets): DIR/jail. */
int engine_jail(const struct vm_spec *spec, char *out, size_t len);

/* One JSON object per line over a Unix socket (QMP, corral-vmm's API). */
int jsonl_connect(const char *path);
int jsonl_send(int fd, struct json_object *o);
int jsonl_recv(int fd, struct json_object **out, int timeout_ms);

#endif
