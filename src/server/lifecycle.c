/* The guest state machine's table.  See lifecycle.h. */
#include "server/lifecycle.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define ST(s) (1u << (s))
#define ACT(a) (1u << (a))

static const char *const state_names[GS_COUNT] = {
    [GS_STOPPED] = "stopped", [GS_STARTING] = "starting", [GS_RUNNING] = "running",
    [GS_PAUSED] = "paused", [GS_STOPPING] = "stopping",
};

/* Per action: its name, the states it begins in (and how a message says
 * them), the state shown while it runs (NULL: none), and the state it
 * leaves a live guest in when it succeeds. */
static const struct {
    const char *name;
    unsigned from;
    const char *needs;
    const char *transit;
    enum guest_state ok;
} actions[GA_COUNT] = {
    [GA_START] = { "start", ST(GS_STOPPED), "stopped", "starting", GS_RUNNING },
    [GA_STOP] = { "stop", ST(GS_RUNNING) | ST(GS_PAUSED), "running or paused", "stopping", GS_STOPPED },
    [GA_SHUTDOWN] = { "shutdown", ST(GS_RUNNING) | ST(GS_PAUSED), "running or paused", "stopping", GS_STOPPED },
    [GA_KILL] = { "kill", ST(GS_RUNNING) | ST(GS_PAUSED), "running or paused", "stopping", GS_STOPPED },
    [GA_PAUSE] = { "pause", ST(GS_RUNNING), "running", NULL, GS_PAUSED },
    [GA_RESUME] = { "resume", ST(GS_PAUSED), "paused", NULL, GS_RUNNING },
    [GA_RESTART] = { "restart", ST(GS_RUNNING) | ST(GS_PAUSED), "running or paused", "stopping", GS_RUNNING },
};

const struct guest_kind guest_vm = {
    "VM", "vms", "vm",
    ACT(GA_START) | ACT(GA_STOP) | ACT(GA_SHUTDOWN) | ACT(GA_PAUSE) | ACT(GA_RESUME) | ACT(GA_RESTART),
};
const struct guest_kind guest_ct = {
    "container", "containers", "container",
    ACT(GA_START) | ACT(GA_STOP) | ACT(GA_KILL) | ACT(GA_PAUSE) | ACT(GA_RESUME),
};

const char *guest_state_name(enum guest_state s) { return s < GS_COUNT ? state_names[s] : "unknown"; }
const char *guest_action_name(enum guest_action a) { return a < GA_COUNT ? actions[a].name : "unknown"; }

int guest_state_parse(const char *name, enum guest_state *out)
{
    for (int i = 0; name && i < GS_COUNT; i++)
        if (!strcmp(name, state_names[i])) {
            *out = (enum guest_state)i;
            return 0;
        }
    return fail(EINVAL, "unknown guest state '%.32s'", name ? name : "");
}

bool guest_action_allowed(enum guest_action a, enum guest_state s)
{
    return a < GA_COUNT && s < GS_COUNT && (actions[a].from & ST(s));
}

const char *guest_action_needs(enum guest_action a) { return actions[a].needs; }
const char *guest_action_transit(enum guest_action a) { return actions[a].transit; }

enum guest_state guest_state_after(enum guest_action a, enum guest_state before, int result, bool alive)
{
    if (!alive)
        return GS_STOPPED;
    if (result == 0)
        return actions[a].ok == GS_STOPPED ? GS_RUNNING : actions[a].ok;   /* "stopped" yet alive: it runs */
    if (a == GA_PAUSE || a == GA_RESUME)
        return before;
    return GS_RUNNING;
}

struct guest_job *guest_job_new(const struct principal *who, enum guest_action a, const char *name,
                                const char *state)
{
    struct guest_job *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->who = *who;
    j->action = a;
    snprintf(j->name, sizeof(j->name), "%s", name);
    snprintf(j->state, sizeof(j->state), "%s", state ? state : "");
    return j;
}

int guest_submit(struct server *s, const struct guest_kind *k, struct guest_job *j, op_fn run, op_done_fn done,
                 struct resp *out)
{
    enum guest_state st;
    if (!(k->actions & ACT(j->action)) || guest_state_parse(j->state, &st) < 0 || !guest_action_allowed(j->action, st)) {
        int rc = api_error(out, E_CONFLICT, "%s '%s' is %s: %s needs it %s", k->noun, j->name, j->state,
                           guest_action_name(j->action), guest_action_needs(j->action));
        free(j);
        return rc;
    }
    /* Copies: a refused operation frees J before its state is put back. */
    char name[sizeof(j->name)], state[sizeof(j->state)];
    struct principal who = j->who;
    memcpy(name, j->name, sizeof(name));
    memcpy(state, j->state, sizeof(state));
    enum guest_action a = j->action;
    return ops_submit_action(s, &who, k->collection, k->event, name, guest_action_name(a), guest_action_transit(a),
                             state, run, done, j, out);
}

int guest_check_stopped(const struct guest_kind *k, const char *name, const char *state, struct resp *out)
{
    if (state && !strcmp(state, guest_state_name(GS_STOPPED)))
        return 0;
    return api_error(out, E_CONFLICT, "%s '%s' is %s: stop it first", k->noun, name, state ? state : "unknown");
}

void guest_done(struct server *s, const struct guest_kind *k, const struct principal *who, const char *name,
                enum guest_action a, int result, const char *state)
{
    if (result != 0)
        return;
    char action[48];
    snprintf(action, sizeof(action), "%s.%s", k->event, guest_action_name(a));
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "state", json_object_new_string(state));
    server_changed(s, who, action, name, d);
    json_object_put(d);
}
