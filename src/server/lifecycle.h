/* lifecycle — the one state machine of a guest, VM or container.
 *
 * A guest is in one state; an action (start, stop, ...) may begin only in
 * the states the table allows, shows a transient state while its operation
 * is queued or runs (starting, stopping), and ends in the state that
 * guest_state_after() derives from how it went and whether the guest's
 * process still runs.  Each kind of guest has the actions its driver can
 * do (a VM can be shut down through ACPI, a container killed).  Snapshot,
 * restore and migrate are further rows of the same table when they come.
 *
 * The states are stored by name (the API shows them so); the table is in
 * lifecycle.c, and test_server.c walks every state x action of it. */
#ifndef CORRAL_SERVER_LIFECYCLE_H
#define CORRAL_SERVER_LIFECYCLE_H

#include <stdbool.h>

#include "server/server.h"

enum guest_state { GS_STOPPED, GS_STARTING, GS_RUNNING, GS_PAUSED, GS_STOPPING, GS_COUNT };
enum guest_action { GA_START, GA_STOP, GA_SHUTDOWN, GA_KILL, GA_PAUSE, GA_RESUME, GA_RESTART, GA_COUNT };

struct guest_kind {
    const char *noun;            /* "VM": in messages */
    const char *collection;      /* "vms": its table, URL and lock */
    const char *event;           /* "vm": events are "vm.start", ... */
    unsigned actions;            /* 1 << GA_x for each action it has */
};
extern const struct guest_kind guest_vm, guest_ct;

const char *guest_state_name(enum guest_state s);
/* The state of that name; -EINVAL for one the table does not know. */
int guest_state_parse(const char *name, enum guest_state *out);
const char *guest_action_name(enum guest_action a);

/* Whether ACTION may begin in STATE. */
bool guest_action_allowed(enum guest_action a, enum guest_state s);
/* The states ACTION begins in, as a message says them: "running or paused". */
const char *guest_action_needs(enum guest_action a);
/* The state a guest shows while ACTION is queued or runs; NULL: it keeps
 * its own. */
const char *guest_action_transit(enum guest_action a);
/* The state after ACTION ended with RESULT (0 or -errno) on a guest that
 * was in BEFORE, ALIVE telling whether its process still runs: a guest
 * whose process is gone is stopped; a failed stop leaves it running, a
 * failed pause or resume where it was. */
enum guest_state guest_state_after(enum guest_action a, enum guest_state before, int result, bool alive);

/* What an action's operation carries from the request to its run and
 * done functions. */
struct guest_job {
    struct principal who;
    enum guest_action action;
    char name[NAME_MAX_LEN + 1];
    char state[16];              /* the guest's state when it was asked */
    int timeout;                 /* stop, shutdown, restart: seconds */
    bool force;                  /* shutdown: stopped at the timeout */
};
/* A job for ACTION on guest NAME, now in STATE (its row's state); NULL if
 * out of memory. */
struct guest_job *guest_job_new(const struct principal *who, enum guest_action a, const char *name,
                                const char *state);
/* Submits JOB (from guest_job_new) on a guest of KIND as an operation
 * (ops_submit_action, whose run and done get JOB): 409 naming the states
 * its action needs if the guest's state does not allow it, or if KIND has
 * no such action (JOB is then freed), else as ops_submit_action. */
int guest_submit(struct server *s, const struct guest_kind *k, struct guest_job *job, op_fn run, op_done_fn done,
                 struct resp *out);
/* 409 "… is running: stop it first" unless STATE is stopped; else 0. */
int guest_check_stopped(const struct guest_kind *k, const char *name, const char *state, struct resp *out);
/* Records a finished ACTION that succeeded (result 0): the "EVENT.ACTION"
 * change with the state it left the guest in. */
void guest_done(struct server *s, const struct guest_kind *k, const struct principal *who, const char *name,
                enum guest_action a, int result, const char *state);

#endif
