/* oci — corral-oci, an OCI runtime: the library behind the corral-oci CLI.
 *
 * A container is a bundle (config.json + a root filesystem) plus a state
 * directory under the runtime's root (--root, default /run/corral-oci).  The
 * lifecycle follows the OCI runtime spec: oci_create() builds every namespace,
 * mount and process attribute and leaves the container's init blocked on a
 * FIFO in the state directory, just before execve(); oci_start() releases it;
 * oci_kill() signals it; oci_delete() removes what is left.  No process stays
 * behind for the container: the init is re-parented to the caller's subreaper
 * (or pid 1), and "stopped" is read from /proc (pid + its start time, so a
 * reused pid is never mistaken for the container).
 *
 * Every function follows util.h's convention: a negative errno and one line
 * in err_msg().  Commands on one container serialise on flock() of its state
 * directory, so concurrent create/start/kill/delete never tear the state.
 *
 *   spec.c       config.json -> struct oci_spec, validated field by field
 *   state.c      state directory, locking, state.json, liveness from /proc
 *   container.c  create/start/kill/delete/run, the init's set-up sequence
 *   mounts.c     rootfs, mounts, default devices, pivot_root, masked/readonly paths
 *   copyup.c     tmpcopyup: a new tmpfs starts with the image's files there
 *   process.c    rlimits, user/groups, capabilities, no_new_privs, PATH lookup
 *   seccomp.c    linux.seccomp -> a libseccomp filter
 *   resources.c  linux.resources (and `update -r`) -> struct oci_resources
 *   cgroup.c     the container's cgroups on v1, v2 and hybrid hosts
 *   devfilter.c  cgroup2 device rules as a BPF_CGROUP_DEVICE program
 *   hooks.c      hooks: parsing, running with the state on stdin and a timeout
 *   control.c    pause, resume, update, the pids for ps
 *   exec.c       exec: a new process in a live container's namespaces and cgroups
 *   tty.c        --console-socket and the terminal relay
 */
#ifndef CORRAL_OCI_H
#define CORRAL_OCI_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define OCI_VERSION "1.1.0"
#define OCI_DEFAULT_ROOT "/run/corral-oci"
#define OCI_ID_MAX 255     /* one directory name */
#define OCI_CONFIG_MAX (4 * 1024 * 1024)

/* ---- config.json ---- */

struct oci_mount {
    char *destination;      /* absolute, inside the rootfs */
    char *type;             /* NULL for a bind mount */
    char *source;
    char *data;             /* filesystem options left after the flags ("mode=755,size=1m") */
    unsigned long flags;    /* MS_* (MS_BIND, MS_REC, MS_RDONLY, ...) */
    unsigned long clear;    /* MS_* the options explicitly turned off ("rw", "suid") */
    unsigned long propagation; /* MS_PRIVATE/SLAVE/SHARED/UNBINDABLE (| MS_REC), or 0 */
    bool copyup;            /* "tmpcopyup": a tmpfs starts with what the image has there */
};

struct oci_idmap { uint32_t container_id, host_id, size; };
struct oci_rlimit { int resource; uint64_t soft, hard; };

struct oci_device {
    char *path;
    char type;              /* 'c', 'b', 'u' (unbuffered char) or 'p' (fifo) */
    uint32_t major, minor;
    uint32_t mode;          /* permission bits (fileMode), 0666 if absent */
    uint32_t uid, gid;
};

struct oci_namespace {
    int type;               /* CLONE_NEWPID, CLONE_NEWNET, ... */
    char *path;             /* join this namespace instead of creating one */
};

struct oci_caps {
    bool present;           /* false: keep what the runtime has (all, as root) */
    uint64_t bounding, effective, inheritable, permitted, ambient; /* bit = cap number */
};

struct oci_process {
    bool terminal;
    char **args;            /* NULL-terminated */
    char **env;             /* NULL-terminated */
    char *cwd;
    uint32_t uid, gid;
    uint32_t *gids;         /* additionalGids */
    size_t ngids;
    bool has_umask;
    uint32_t umask;
    struct oci_caps caps;
    struct oci_rlimit *rlimits;
    size_t nrlimits;
    bool no_new_privileges;
    bool has_oom_score_adj;
    int oom_score_adj;
};

#define OCI_MAX_NS 8

/* ---- cgroups: linux.resources (also `update -r`) ---- */

/* Numbers a config may leave out are OCI_UNSET. */
#define OCI_UNSET INT64_MIN

struct oci_blkio_dev {
    uint32_t major, minor;
    int64_t weight, leaf_weight;    /* weightDevice */
    uint64_t rate;                  /* throttle*Device */
};

enum { OCI_THROTTLE_READ_BPS, OCI_THROTTLE_WRITE_BPS, OCI_THROTTLE_READ_IOPS,
       OCI_THROTTLE_WRITE_IOPS, OCI_THROTTLE_N };

struct oci_dev_rule {
    bool allow;
    char type;                      /* 'a', 'c' or 'b' */
    int64_t major, minor;           /* -1: any */
    char access[4];                 /* some of "rwm" */
};

struct oci_hugepage { char *page_size; uint64_t limit; };

struct oci_resources {
    int64_t mem_limit, mem_reservation, mem_swap, mem_kernel, mem_kernel_tcp, mem_swappiness;
    int disable_oom_killer;         /* -1 unset, 0, 1 */
    int64_t cpu_shares, cpu_quota, cpu_period, cpu_burst, cpu_rt_runtime, cpu_rt_period, cpu_idle;
    char *cpus, *mems;              /* cpuset lists, or NULL */
    int64_t pids_limit;
    int64_t blkio_weight, blkio_leaf_weight;
    struct oci_blkio_dev *weight_devs, *throttle[OCI_THROTTLE_N];
    size_t nweight_devs, nthrottle[OCI_THROTTLE_N];
    struct oci_hugepage *hugepages;
    size_t nhugepages;
    struct oci_dev_rule *devices;
    size_t ndevices;
    bool has_devices;               /* linux.resources.devices given (even empty) */
    int64_t net_class_id;
    char **unified_keys, **unified_values;  /* NULL-terminated, same length */
};

/* Parses a LinuxResources object; errors name the field as PREFIX.field
 * ("linux.resources.memory.limit").  *out holds nothing to free on failure. */
int oci_resources_parse(json_object *o, const char *prefix, struct oci_resources *out);
void oci_resources_init(struct oci_resources *r);   /* everything unset */
void oci_resources_free(struct oci_resources *r);
/* runc's conversions for a v1 value on a cgroup2 host (0 stays 0: unset). */
uint64_t oci_shares_to_weight(uint64_t shares);      /* cpu.shares -> cpu.weight */
uint64_t oci_blkio_to_io_weight(uint64_t weight);    /* blkio.weight -> io.weight */

/* ---- hooks ---- */

enum oci_hook_kind { OCI_HOOK_PRESTART, OCI_HOOK_CREATE_RUNTIME, OCI_HOOK_CREATE_CONTAINER,
                     OCI_HOOK_START_CONTAINER, OCI_HOOK_POSTSTART, OCI_HOOK_POSTSTOP,
                     OCI_HOOK_N };

struct oci_hook {
    char *path;
    char **args;            /* NULL-terminated; NULL: just the path */
    char **env;             /* NULL-terminated; NULL: empty */
    int timeout;            /* seconds, 0: none */
};

struct oci_hooks {
    struct oci_hook *list[OCI_HOOK_N];
    size_t n[OCI_HOOK_N];
    json_object *json;      /* as written, kept in the state for start and delete */
};

const char *oci_hook_name(enum oci_hook_kind k);     /* "createRuntime" */

struct oci_spec {
    char *oci_version;
    char *root_path;        /* as written (relative to the bundle or absolute) */
    bool root_readonly;
    char *hostname, *domainname;
    bool has_process;
    struct oci_process process;
    struct oci_mount *mounts;
    size_t nmounts;
    struct oci_namespace ns[OCI_MAX_NS];
    size_t nns;
    struct oci_idmap *uid_maps, *gid_maps;
    size_t nuid_maps, ngid_maps;
    struct oci_device *devices;
    size_t ndevices;
    char **masked_paths, **readonly_paths;  /* NULL-terminated */
    char **sysctl_keys, **sysctl_values;    /* NULL-terminated, same length */
    unsigned long rootfs_propagation;       /* MS_* or 0 (default: rslave) */
    json_object *annotations;               /* object of strings, or NULL */
    json_object *seccomp;                   /* linux.seccomp, validated (seccomp.c) */
    /* cgroups and hooks (step 2) */
    char *cgroups_path;                     /* linux.cgroupsPath, or NULL */
    struct oci_resources *resources;        /* linux.resources, or NULL */
    struct oci_hooks hooks;
};

/* Parses config.json text.  Unknown fields are ignored (the spec says so);
 * a wrong value fails with "FIELD: problem", e.g.
 * 'process.rlimits[1].type: unknown rlimit "RLIMIT_FOO"'.  On failure
 * *out holds nothing to free. */
int oci_spec_parse(const char *text, size_t len, struct oci_spec *out);
/* Reads and parses BUNDLE/config.json; messages start with "config.json: ". */
int oci_spec_load(const char *bundle, struct oci_spec *out);
void oci_spec_free(struct oci_spec *s);
/* A process object alone (`exec -p FILE`); errors name "process.field". */
int oci_process_parse(const char *text, size_t len, struct oci_process *out);
void oci_process_free(struct oci_process *p);
/* The namespace entry of the given CLONE_NEW* type, or NULL. */
const struct oci_namespace *oci_spec_ns(const struct oci_spec *s, int type);
/* A default config.json (like `runc spec`), as a new JSON object. */
json_object *oci_spec_default(void);

/* Name <-> number tables shared by the parser and the CLI. */
int oci_signal_parse(const char *s);       /* "KILL", "SIGKILL", "9" -> 9; -1 if unknown */
const char *oci_ns_name(int type);         /* CLONE_NEWNET -> "network" */

/* ---- state ---- */

enum oci_status { OCI_CREATING, OCI_CREATED, OCI_RUNNING, OCI_STOPPED, OCI_PAUSED };

struct oci_state {
    char id[OCI_ID_MAX + 1];
    enum oci_status status;
    pid_t pid;
    uint64_t start_time;    /* /proc/PID/stat field 22, pins the pid */
    char *bundle;
    char *rootfs;
    char *created;          /* RFC 3339 */
    json_object *annotations;
    bool own_pidns;         /* the container has its own pid namespace */
    char *cgroup_path;      /* in every hierarchy ("/corral-oci/ID") */
    json_object *hooks;     /* config.json's hooks, kept for start and delete */
};

const char *oci_status_name(enum oci_status s);
/* "state" output per the spec (+ rootfs, created like runc). */
json_object *oci_state_json(const struct oci_state *st);
void oci_state_free(struct oci_state *st);

/* ---- operations ---- */

struct oci_ctx {
    const char *root;       /* state root (--root) */
};

struct oci_create_opts {
    const char *bundle;         /* default "." */
    const char *console_socket; /* NULL: stdio is inherited */
    const char *pid_file;
};

int oci_validate_id(const char *id);
int oci_create(const struct oci_ctx *ctx, const char *id, const struct oci_create_opts *o);
int oci_start(const struct oci_ctx *ctx, const char *id);
/* Fills *st with the current state (status re-read from /proc). */
int oci_state(const struct oci_ctx *ctx, const char *id, struct oci_state *st);
int oci_kill(const struct oci_ctx *ctx, const char *id, int sig, bool all);
/* With force, kills a live container first, and an unknown id is no error. */
int oci_delete(const struct oci_ctx *ctx, const char *id, bool force);
/* create + start; unless detach, waits, deletes and returns the container's
 * exit status (128+N for a signal) in *exit_status.  In the foreground with
 * process.terminal and no console_socket, the container's pty is relayed to
 * the caller's stdin/stdout (raw mode, window size; termios restored). */
int oci_run(const struct oci_ctx *ctx, const char *id, const struct oci_create_opts *o,
            bool detach, int *exit_status);
/* The ids under ctx->root, sorted; NULL-terminated, free with oci_strv_free. */
int oci_list(const struct oci_ctx *ctx, char ***ids);
void oci_strv_free(char **v);

/* ---- cgroups-backed commands (control.c) ---- */

/* Freezes / thaws every process of the container; state then reads
 * "paused" / its previous status. */
int oci_pause(const struct oci_ctx *ctx, const char *id);
int oci_resume(const struct oci_ctx *ctx, const char *id);
/* Applies resources to a created, running or paused container; errors name
 * SOURCE.field (e.g. "resources.json.memory.limit"). */
int oci_update(const struct oci_ctx *ctx, const char *id, const struct oci_resources *res,
               const char *source);
/* The pids (host view) in the container's cgroup; free() *pids. */
int oci_pids(const struct oci_ctx *ctx, const char *id, pid_t **pids, size_t *n);
/* CPU time (ns) and memory in use (bytes) of the container's cgroup;
 * -1 for a counter the host does not keep. */
int oci_usage(const struct oci_ctx *ctx, const char *id, int64_t *cpu_ns, int64_t *mem_bytes);

/* ---- exec (exec.c) ---- */

struct oci_exec_opts {
    const char *process_json;   /* -p: a process object (replaces the rest) */
    char **args;                /* the command, NULL-terminated (unless process_json) */
    char **env;                 /* -e K=V, added to the config's env */
    const char *cwd;
    bool has_user;
    uint32_t uid, gid;
    bool tty, detach;
    int no_new_privs;           /* -1: the config's */
    char **caps;                /* --cap CAP_X, added to every set */
    const char *console_socket, *pid_file;
};

/* Runs a process inside a created or running container: its namespaces,
 * cgroups, user, capabilities, rlimits, seccomp.  Unless detach, waits and
 * returns its exit status (128+N for a signal) in *exit_status. */
int oci_exec(const struct oci_ctx *ctx, const char *id, const struct oci_exec_opts *o,
             int *exit_status);

/* ---- images and networking (corral extensions; image.c, bundle.c, net.c) ----
 *
 * An image store is a directory (default OCI_DEFAULT_STORE): configs under
 * blobs/sha256/, each layer unpacked once under layers/DIFF_ID/ (shared by
 * every image that has it), the image names in images.json, staging under
 * tmp/.  Commands on one store serialise on flock() of store/lock.  A
 * bundle made from an image mounts an overlay of its layers plus a private
 * upper directory as BUNDLE/rootfs and writes BUNDLE/config.json. */

#define OCI_DEFAULT_STORE "/var/lib/corral-oci"

struct oci_store {
    const char *path;
    uint64_t max_size;      /* cap on an import's uncompressed bytes (0: 16 GiB) */
    uint64_t max_entries;   /* cap on the tar entries of one layer (0: 1000000) */
};

struct oci_image_info {
    char *name;             /* "busybox:latest" */
    char *config;           /* "sha256:..." of the image config */
    char **layers;          /* diff_ids "sha256:...", bottom first, NULL-terminated */
};

/* Imports an OCI image layout (directory or tar) or a docker-archive tar.
 * name overrides the archive's own name (then it must hold one image).
 * The names imported are returned NULL-terminated in *names (may be NULL). */
int oci_image_import(const struct oci_store *st, const char *path, const char *name,
                     char ***names);
int oci_image_list(const struct oci_store *st, struct oci_image_info **out, size_t *n);
void oci_image_info_free(struct oci_image_info *v, size_t n);
/* Removes the name, then every layer and config no image uses any more
 * (layers still mounted by a bundle stay). */
int oci_image_remove(const struct oci_store *st, const char *name);

struct oci_bundle_opts {
    char *const *args;      /* replaces the image's Cmd if not NULL */
    bool terminal;
};
/* Makes DIR (absent or empty) a bundle of the image: config.json from the
 * image config and the runtime defaults, rootfs an overlay mount. */
int oci_image_bundle(const struct oci_store *st, const char *name, const char *dir,
                     const struct oci_bundle_opts *o);
/* Mounts a bundle's rootfs again (after a reboot) from image NAME's layers
 * over its kept upper directory; 0 at once if it is mounted. */
int oci_bundle_mount(const struct oci_store *st, const char *name, const char *dir);
/* Unmounts a bundle made by oci_image_bundle and deletes it with its upper. */
int oci_bundle_remove(const char *dir);

struct oci_net_opts {
    pid_t pid;              /* the container's netns: /proc/PID/ns/net ... */
    const char *netns;      /* ... or this path */
    const char *host_if;    /* host end of the veth pair (required) */
    const char *ifname;     /* container end, default "eth0" */
    const char *bridge;     /* attach the host end to it, or NULL */
    bool create_bridge;     /* create the bridge if it does not exist */
    const char *address;    /* "10.88.0.2/24" on the container end, or NULL */
    const char *gateway;    /* default route via it, or NULL */
    const char *address6;   /* "fd00::2/64" on the container end, or NULL */
    const char *gateway6;   /* IPv6 default route via it, or NULL */
};
/* A veth pair: one end in the container's netns (up, with lo up), the
 * other on the host (up, attached to the bridge). */
int oci_net_attach(const struct oci_net_opts *o);
/* Deletes the pair by its host end. */
int oci_net_detach(const char *host_if);
int oci_net_bridge_delete(const char *bridge);

#endif
