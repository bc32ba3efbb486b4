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

struct guest_spec;
struct guest_handle;

/* A kind of guest: its names, its actions, and what differs between a VM
 * and a container around the one start/stop path of guest.c (which runs
 * it through the driver interface, driver.h). */
struct guest_kind {
    const char *noun;            /* "VM": in messages */
    const char *collection;      /* "vms": its table, URL and lock */
    const char *event;           /* "vm": events are "vm.start", ... */
    const char *console_prefix;  /* its consoles' keys: prefix + name */
    const char *select;          /* "SELECT columns FROM table" */
    unsigned actions;            /* 1 << GA_x for each action it has */
    const char *gone;            /* why a guest that ended by itself did */
    /* Its public view (ETAG: of its configuration, NULL: not wanted). */
    struct json_object *(*view)(struct json_object *row, char etag[24]);
    /* Its run directory (sockets, logs). */
    void (*dir)(struct server *s, struct json_object *row, char *out, size_t len);
    /* Its handle as stored in ROW (pid 0: none). */
    void (*handle_of)(struct server *s, struct json_object *row, struct guest_handle *h);
    /* Stores STATE and H (NULL: none, the guest is stopped) in its row. */
    int (*record)(struct server *s, struct json_object *row, const char *state, const struct guest_handle *h);
    /* What the driver needs to start it, from its row and configuration:
     * files opened, disks found, taps or the bundle made. */
    int (*prepare)(struct server *s, struct json_object *row, struct json_object *cfg, struct guest_spec *spec);
    /* NULL, or what needs its process before it runs (a container's veth). */
    int (*attach)(struct server *s, struct json_object *row, struct json_object *cfg, const struct guest_handle *h);
    /* Undoes prepare and attach on the host once it stopped. */
    void (*detach)(struct server *s, struct json_object *row);
    /* DELETE: removes what the guest keeps in its run directory (0, or a
     * 4xx in out and nothing deleted); then, once its row is gone, NULL or
     * what depends on it learns so. */
    int (*remove)(struct server *s, struct json_object *row, struct resp *out);
    void (*removed)(struct server *s);
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
    const struct guest_kind *kind;
    struct principal who;
    enum guest_action action;
    char name[NAME_MAX_LEN + 1];
    char state[16];              /* the guest's state when it was asked */
    int timeout;                 /* stop, shutdown, restart: seconds */
    bool force;                  /* shutdown: stopped at the timeout */
};
/* A job for ACTION on guest NAME of KIND, now in STATE (its row's state);
 * NULL if out of memory. */
struct guest_job *guest_job_new(const struct guest_kind *k, const struct principal *who, enum guest_action a,
                                const char *name, const char *state);
/* Submits JOB (from guest_job_new) as an operation "EVENT.ACTION" locked
 * on the guest, which shows the action's transient state while it is
 * queued or runs: 409 naming the states its action needs if the guest's
 * state does not allow it, or if its kind has no such action (JOB is then
 * freed), else as ops_submit(). */
int guest_submit(struct server *s, struct guest_job *job, struct resp *out);
/* The handler's half of an action: the guest must exist and be idle;
 * then guest_submit(). */
int guest_request(struct server *s, const struct guest_kind *k, const struct req *r, enum guest_action a,
                  int timeout, bool force, struct resp *out);
/* 409 "… is running: stop it first" unless STATE is stopped; else 0. */
int guest_check_stopped(const struct guest_kind *k, const char *name, const char *state, struct resp *out);

/* ---- guest.c: one path for every kind ---------------------------------------- */

/* The row of guest NAME, or a 400 (bad name) / 404 in resp. */
int guest_load(struct server *s, const struct guest_kind *k, const char *name, struct json_object **out,
               struct resp *resp);
/* 409 busy while an operation works on the guest. */
int guest_refuse_busy(struct server *s, const struct guest_kind *k, const char *name, struct resp *out);
/* guest_load(), then 409 busy while an operation works on it. */
int guest_load_idle(struct server *s, const struct guest_kind *k, const char *name, struct json_object **row,
                    struct resp *out);
/* Its console's key in console.c and scrollback.c. */
void guest_console_key(const struct guest_kind *k, const char *name, char key[CONSOLE_KEY_MAX]);
/* Adds "usage" (CPU seconds, memory bytes: counters a client graphs the
 * change of) to view V of a running guest; nothing when they cannot be read. */
void guest_usage(struct server *s, const struct guest_kind *k, struct json_object *row, struct json_object *v);
/* GET of the collection (by name) and of one guest (with its usage). */
int guest_list(struct server *s, const struct guest_kind *k, struct resp *out);
int guest_get(struct server *s, const struct guest_kind *k, const struct req *r, struct resp *out);
/* DELETE of a stopped, idle guest: its files, its run directory, its row. */
int guest_delete(struct server *s, const struct guest_kind *k, const struct req *r, struct resp *out);
/* GET …/console: the WebSocket to a running guest's console. */
int guest_console(struct server *s, const struct guest_kind *k, struct req *r, struct resp *out);

#endif
