/* Shared between the files of src/oci only; the public interface is oci.h. */
#ifndef CORRAL_OCI_INTERNAL_H
#define CORRAL_OCI_INTERNAL_H

#include "oci/oci.h"

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

/* ---- state.c ---- */

/* Opens ROOT/ID and takes flock(op) on it (LOCK_SH or LOCK_EX).  With
 * create, makes the directory first and fails with EEXIST if it is there.
 * Fails with ENOENT ("container ... does not exist") otherwise. */
int state_lock(const char *root, const char *id, bool create, int op, int *dirfd);
/* Reads ROOT/ID/state.json (dirfd from state_lock) and refreshes the status
 * from /proc. */
int state_read(int dirfd, const char *id, struct oci_state *st);
/* Writes state.json atomically (temporary file + rename). */
int state_write(int dirfd, const struct oci_state *st);
/* Removes the state directory (the lock fd stays valid until closed). */
int state_remove(const char *root, const char *id, int dirfd);
/* /proc/PID/stat: the start time and the one-letter state; 0 if gone. */
uint64_t pid_start_time(pid_t pid, char *state);
/* true while the process the state describes exists and is not a zombie. */
bool state_alive(const struct oci_state *st);
/* The container's cgroup freezer is frozen (status "paused"). */
bool state_frozen(const struct oci_state *st);
/* Writes "PID" to path atomically. */
int write_pid_file(const char *path, pid_t pid);

#define STATE_FIFO "exec.fifo"
#define STATE_CONFIG "config.json"

/* The config.json the container was created from, kept in its state
 * directory: exec and the rest never re-read the bundle, which may have
 * changed (or gone) since. */
int state_save_config(int dirfd, const uint8_t *text, size_t len);
/* Parses the kept config; a container created before it was kept falls
 * back to BUNDLE/config.json. */
int state_load_spec(int dirfd, const struct oci_state *st, struct oci_spec *s);

/* ---- mounts.c (run by the container's init, before pivot_root) ---- */

/* Everything between "fresh mount namespace" and "inside the new root":
 * propagation, rootfs bind, config mounts, devices, masked and read-only
 * paths, a read-only root, then pivot_root.  in_userns selects bind-mounted
 * device nodes (mknod is not allowed there).  If pty_master is not NULL, the
 * container's /dev/pts/ptmx is opened into it before the pivot.  With
 * hook_state, the createContainer hooks run just before the pivot. */
int rootfs_setup(const struct oci_spec *s, const char *rootfs, bool in_userns, int *pty_master,
                 const char *hook_state);

/* ---- copyup.c ---- */

/* tmpcopyup: copies the entries of directory src into directory dst (both
 * O_RDONLY fds) with their owners, modes, xattrs and times, never following
 * a symlink; then dst takes src's mode and/or owner (and then its times) if
 * asked. */
int copyup_tree(int src, int dst, bool mode, bool owner);

/* ---- process.c ---- */

/* Finds args[0] in the container (process.env's PATH, or the default one),
 * as the container's user will see it.  Fails like runc: 'exec: "x":
 * executable file not found in $PATH'. */
int process_find_exec(const struct oci_process *p, char *out, size_t len);
/* rlimits, bounding set, groups/gid/uid, capabilities, ambient set, umask,
 * cwd, no_new_privs and the seccomp filter (if not NULL), in the order the
 * kernel requires. */
int process_setup(const struct oci_process *p, json_object *seccomp);
/* stdio on the pty slave: controlling terminal, fds 0-2.  The caller has
 * already made its own session (every container process does). */
int process_setup_tty(int slave);

/* ---- seccomp.c ---- */

/* linux.seccomp -> a libseccomp filter context (void * keeps seccomp.h out
 * of this header); seccomp_install() builds and loads it. */
int seccomp_build(json_object *seccomp, void **ctx);
void seccomp_free(void *ctx);
int seccomp_install(json_object *seccomp);

/* ---- container.c ---- */

/* Blocks the signals a foreground runtime forwards to its container. */
void block_forwarded(sigset_t *fwd, sigset_t *old);
/* Forwards them to pid until it exits; returns its status as a shell
 * reports it (128+N for a signal). */
int wait_forwarding(pid_t pid, int pidfd, const sigset_t *fwd);

/* ---- tty.c ---- */

/* A connected socket for --console-socket PATH. */
int connect_console(const char *path);
/* Sends / receives a pty master over a unix socket (SCM_RIGHTS). */
int send_console(int sock, int master);
int recv_console(int sock);
/* Relays the caller's stdin/stdout and the pty master (raw mode, window
 * size, signals forwarded) until pid exits; returns its status like
 * wait_forwarding.  Closes master. */
int tty_relay(int master, pid_t pid, int pidfd, const sigset_t *fwd);

/* ---- cgroup.c ---- */

#define CG_MAX 16
#define CG_PATH_MAX 1024

/* The container's directory in each cgroup hierarchy of the host. */
struct cg_dir {
    char path[CG_PATH_MAX];     /* mount point + cgroup path */
    size_t mnt_len;             /* path[0..mnt_len) is the mount point */
    char ctrl[128];             /* v1: ",cpu,cpuacct" or ",name=systemd"; cgroup2: "" */
    bool unified;
};

struct cgroup {
    enum { CG_V1, CG_HYBRID, CG_V2 } mode;
    struct cg_dir dir[CG_MAX];
    size_t n;
    const struct cg_dir *unified;   /* the cgroup2 one, or NULL */
};

/* linux.cgroupsPath cleaned ("/a/b"), or "/corral-oci/ID" by default. */
int cgroup_path(const struct oci_spec *s, const char *id, char *out, size_t len);
/* Finds the host's hierarchies (from mountinfo); creates nothing. */
int cgroup_open(const char *path, struct cgroup *cg);
/* The hierarchies alone (paths are the mount points), also from inside a
 * cgroup namespace (the container's init). */
int cgroup_mounts(struct cgroup *cg);
/* Makes the directories and applies s->resources; removes them on failure. */
int cgroup_create(const struct cgroup *cg, const struct oci_spec *s);
/* Moves pid into every hierarchy's directory. */
int cgroup_enter(const struct cgroup *cg, pid_t pid);
/* Writes resources; errors name PREFIX.field.  s (may be NULL) adds the
 * config's device nodes to the device rules. */
int cgroup_apply(const struct cgroup *cg, const struct oci_resources *res,
                 const struct oci_spec *s, const char *prefix);
int cgroup_pids(const struct cgroup *cg, pid_t **pids, size_t *n);
int cgroup_signal(const struct cgroup *cg, int sig);
void cgroup_usage(const struct cgroup *cg, int64_t *cpu_ns, int64_t *mem_bytes);
int cgroup_freeze(const struct cgroup *cg, bool freeze);
bool cgroup_frozen(const struct cgroup *cg);
/* Kills what is left inside, then removes the directories. */
int cgroup_destroy(const struct cgroup *cg);

/* ---- devfilter.c ---- */

/* Attaches a BPF_CGROUP_DEVICE program allowing what the rules allow (the
 * last matching rule decides, nothing matching is denied) to the cgroup2
 * directory, replacing the filter attached before; errors name field. */
int devfilter_attach(const char *cgdir, const struct oci_dev_rule *rules, size_t n,
                     const char *field);

/* ---- hooks.c ---- */

int hooks_parse(json_object *o, struct oci_hooks *h);
void hooks_free(struct oci_hooks *h);
/* Runs the hooks of one kind in order, each with state_json on its stdin;
 * fails on the first that fails or outlives its timeout (it is killed). */
int hooks_run(const struct oci_hooks *h, enum oci_hook_kind kind, const char *state_json);
/* The state JSON a hook reads (malloc'd; NULL if out of memory). */
char *hooks_state(const char *id, enum oci_status status, pid_t pid, const char *bundle,
                  json_object *annotations);

/* ---- spec.c: typed JSON access, the field's path in every error ---- */

json_object *spec_member(json_object *obj, const char *key);    /* NULL if absent or null */
int spec_type_err(const char *path, const char *want);
int spec_get_str(json_object *v, const char *path, char **out);
int spec_get_bool(json_object *v, const char *path, bool *out);
int spec_get_int(json_object *v, const char *path, int64_t min, int64_t max, int64_t *out);
int spec_get_u32(json_object *v, const char *path, uint32_t *out);
int spec_get_u64(json_object *v, const char *path, uint64_t *out);
int spec_get_array(json_object *v, const char *path, size_t max, size_t *n);
int get_strv(json_object *v, const char *path, size_t max, char ***out);
int check_abs(const char *path, const char *s);
/* The member `key` of obj, which must be there, into *v; f (flen bytes)
 * gets its path "path.key" for the caller's next messages. */
int spec_required(json_object *obj, const char *path, const char *key, char *f, size_t flen, json_object **v);
/* o, an element (at `path`) of an array of objects (spec_get_objects) each
 * with a required absolute path in the member `key` (mounts, devices,
 * hooks): that path into *out. */
int spec_object_path(json_object *o, const char *path, const char *key, char **out);
/* An array (at `path`, at most max entries) of objects: *n gets its length;
 * with vecp (the address of a T *), a zeroed vector of *n + 1 T of `size`
 * bytes each goes there, which the caller frees even on failure; then fn
 * parses each element in turn, given its path "path[i]" and (with vecp) its
 * T.  An element that is not an object is an error. */
typedef int spec_object_fn(json_object *o, const char *path, void *elem, void *ctx);
int spec_get_objects(json_object *arr, const char *path, size_t max, size_t *n, void *vecp,
                     size_t size, spec_object_fn *fn, void *ctx);
/* oci_spec_load that also returns the text it parsed (free() it; NULL on
 * failure), so create can keep exactly what it ran. */
int spec_load_text(const char *bundle, struct oci_spec *out, uint8_t **text, size_t *len);
/* At create time: sysctls and a hostname are refused in a namespace joined
 * by path that is the runtime's (the host's) own. */
int spec_check_host_ns(const struct oci_spec *s);
/* ---- shared with the image code (image.c, bundle.c) ---- */

/* openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): symlinks resolve inside
 * rootfd, ".." stops at it (mounts.c). */
int openat2_in_root(int rootfd, const char *path, int flags);

#endif
