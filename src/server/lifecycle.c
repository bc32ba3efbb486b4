/* The guest state machine's table.  See lifecycle.h. */
#include "server/lifecycle.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define ST(s) (1u << (s))

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
