/* Shared between the files of src/oci only; the public interface is oci.h. */
#ifndef CORRAL_OCI_INTERNAL_H
#define CORRAL_OCI_INTERNAL_H

#include "oci/oci.h"

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
uint64_t proc_start_time(pid_t pid, char *state);
/* true while the process the state describes exists and is not a zombie. */
bool state_alive(const struct oci_state *st);
/* Writes "PID" to path atomically. */
int write_pid_file(const char *path, pid_t pid);

#define STATE_FIFO "exec.fifo"

/* ---- mounts.c (run by the container's init, before pivot_root) ---- */

/* Everything between "fresh mount namespace" and "inside the new root":
 * propagation, rootfs bind, config mounts, devices, masked and read-only
 * paths, a read-only root, then pivot_root.  in_userns selects bind-mounted
 * device nodes (mknod is not allowed there).  If pty_master is not NULL, the
 * container's /dev/pts/ptmx is opened into it before the pivot. */
int rootfs_setup(const struct oci_spec *s, const char *rootfs, bool in_userns, int *pty_master);

/* ---- process.c ---- */

/* Finds args[0] in the container (process.env's PATH, or the default one),
 * as the container's user will see it.  Fails like runc: 'exec: "x":
 * executable file not found in $PATH'. */
int process_find_exec(const struct oci_process *p, char *out, size_t len);
/* rlimits, bounding set, groups/gid/uid, capabilities, ambient set, umask,
 * cwd, no_new_privs and the seccomp filter (if not NULL), in the order the
 * kernel requires. */
int process_setup(const struct oci_process *p, json_object *seccomp);
/* stdio on the pty slave: new session, controlling terminal, fds 0-2. */
int process_setup_tty(int slave);

/* ---- seccomp.c ---- */

/* linux.seccomp -> a libseccomp filter context (void * keeps seccomp.h out
 * of this header); seccomp_install() builds and loads it. */
int seccomp_build(json_object *seccomp, void **ctx);
void seccomp_free(void *ctx);
int seccomp_install(json_object *seccomp);

/* ---- shared with the image code (image.c, bundle.c) ---- */

/* openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): symlinks resolve inside
 * rootfd, ".." stops at it (mounts.c). */
int openat2_in_root(int rootfd, const char *path, int flags);

#endif
