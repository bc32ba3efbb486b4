/* ctrun — how corrald runs a container through the corral-oci library
 * (oci.h), the container counterpart of engine.h.
 *
 * Why a process per container at all: oci_create() clones the container's
 * init from the calling process, which in a many-threaded daemon is unsafe
 * (clone3 runs no fork handlers), and the init's terminal needs a pty master
 * that outlives corrald (a closed master hangs the container's terminal
 * up).  So ctrun_create() double-forks a small keeper into its own session:
 * it calls oci_create() with a console socket of its own, hands the pty
 * master to corrald, keeps a copy (fd CTRUN_MASTER_FD) and reaps the init
 * when it exits, then exits too.  A restarted corrald takes the master back
 * from the keeper with pidfd_getfd().  Everything else (start, kill,
 * update, delete, state) is a plain library call; exec runs in a forked
 * child only because oci_exec() gives the process the caller's stdio.
 *
 * Errors via fail(). */
#ifndef CORRAL_SERVER_CTRUN_H
#define CORRAL_SERVER_CTRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

struct oci_resources;

#define CTRUN_MASTER_FD 4

struct ct_handle {
    pid_t keeper;
    uint64_t keeper_start;       /* /proc/PID/stat field 22 */
    pid_t pid;                   /* the container's init (host view) */
};

struct ct_where {
    const char *oci_root;        /* corral-oci state root */
    const char *id;              /* the container's id there */
    const char *bundle;
    const char *run_dir;         /* the console socket goes here */
};

/* oci_create() in a keeper; on success *h is filled and *console holds the
 * container's pty master.  The container is "created" (not started). */
int ctrun_create(const struct ct_where *w, struct ct_handle *h, int *console);
/* A fresh fd of the pty master, from the keeper. */
int ctrun_console(const struct ct_handle *h);
bool ctrun_keeper_alive(const struct ct_handle *h);
/* "running", "created", "stopped" ... from oci_state(); "stopped" if unknown. */
const char *ctrun_status(const struct ct_where *w, pid_t *pid);
/* Runs argv inside the container, without a terminal: its exit status and
 * up to cap bytes of stdout+stderr (malloc'd, NUL-terminated) in *output.
 * Returns once the command ends (children it left in the background may
 * still write; that is not waited for).  After timeout_s the command is
 * killed (by its pid, from oci_exec's pid file) and -ETIMEDOUT returned. */
int ctrun_exec(const struct ct_where *w, char **argv, char **env, int timeout_s, int *status,
               char **output, size_t cap);
/* Signals every process, waits up to timeout_ms for the init to go; then
 * SIGKILL.  Leaves the oci state for ctrun_remove(). */
int ctrun_stop(const struct ct_where *w, int sig, int timeout_ms);
/* oci_pause (frozen) or oci_resume: every process of the container. */
int ctrun_freeze(const struct ct_where *w, bool frozen);
/* "running" or "paused": the container has processes. */
static inline bool ctrun_live(const char *status) { return !strcmp(status, "running") || !strcmp(status, "paused"); }
/* oci_delete(force): the container's state and cgroups. */
int ctrun_remove(const struct ct_where *w);

#endif
