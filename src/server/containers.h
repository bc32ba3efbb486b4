/* containers.h — what res_containers.c (configuration: list, get, create,
 * PATCH, delete) and ct_lifecycle.c (start, stop, kill, exec, console,
 * recovery, the watcher) share.  Internal to the server. */
#ifndef CORRAL_SERVER_CONTAINERS_H
#define CORRAL_SERVER_CONTAINERS_H

#include "server/ctrun.h"
#include "server/server.h"

#define CT_COLS "id, name, tag, image, config, description, state, keeper, keeper_start, pid, created"
#define NAME_RULE "(^[a-z0-9][a-z0-9-]{0,62}$)"

/* Where a row's container lives. */
struct ct_paths {
    char dir[1100], bundle[1200], oci_root[1100], id[32];
    struct ct_where w;
};

int64_t ct_int(struct json_object *o, const char *key);
/* The row's directory, bundle, oci state root and oci id. */
void ct_paths_of(struct server *s, struct json_object *row, struct ct_paths *p);
void ct_handle_of(struct json_object *row, struct ct_handle *h);
/* Its console's key in console.c and scrollback.c: "ct/NAME". */
void ct_console_key(const char *name, char key[CONSOLE_KEY_MAX]);
/* The row of container NAME, or a 400 (bad name) / 404 in resp. */
int ct_load(struct server *s, const char *name, struct json_object **out, struct resp *resp);
/* 409 busy while an operation works on the container. */
int ct_refuse_busy(struct server *s, const char *name, struct resp *out);
/* ct_load(), then 409 busy while an operation works on the container. */
int ct_load_idle(struct server *s, const char *name, struct json_object **row, struct resp *out);
/* An array of at most max strings of 1..4096 bytes (kv: "NAME=VALUE"). */
int ct_check_strings(struct json_object *a, const char *what, bool kv, size_t max, struct resp *out);
/* The array's strings, borrowed, NULL-terminated; free() the array. */
char **ct_strv_of(struct json_object *a);

#endif
