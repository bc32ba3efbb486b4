/* proc — processes corrald starts and finds again: detached spawning (so a
 * killed corrald leaves them running), recognizing a pid through /proc by
 * its start time (so a reused pid is never mistaken for it), and running a
 * short helper program to completion (`nft -f -`).  Used by the engines
 * (engine.c) and the networks' dnsmasq (dhcp.c).  Errors via fail(). */
#ifndef CORRAL_PROC_H
#define CORRAL_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Fields 3.. of /proc/PID/stat (after the command name) into f[3..n-1];
 * false if the process is gone or a zombie. */
bool proc_stat(pid_t pid, uint64_t *f, int n);
/* Field 22 (start time in clock ticks); 0 if the process is gone. */
uint64_t proc_start_time(pid_t pid);
/* Whether pid still is the process that started at start_time. */
bool proc_alive(pid_t pid, uint64_t start_time);
/* Waits until it is gone or timeout_ms passes: true if gone. */
bool proc_wait_gone(pid_t pid, uint64_t start_time, int timeout_ms);

/* Runs argv[0] (an absolute path) in a new session as a grandchild (init,
 * not corrald, is its parent), stdin /dev/null, stdout and stderr on
 * log_path (truncated), KEEP[0..NKEEP) as fds 3, 4, … (at most 4) and no
 * other fd of corrald's.  Fills its pid. */
int proc_spawn(char *const argv[], const char *log_path, const int *keep, int nkeep, pid_t *out);
/* Runs argv[0] to completion with `input` on its stdin; a non-zero exit
 * fails with the first line of its stderr. */
int proc_run(char *const argv[], const char *input);
/* Looks prog up in PATH (if unset, the usual bin and sbin directories);
 * false if absent. */
bool proc_find(const char *prog, char *out, size_t len);

#endif
