/* corral — the command-line client of corrald.  A thin layer: each command
 * becomes one API request (plus waiting for its operation), answers are
 * printed as tables or JSON.  Locally it talks to the root-only Unix socket;
 * with --remote URL --token T to any corrald over HTTPS.
 *
 * Exit codes: 0 ok, 1 the server refused or the operation failed (its
 * message is printed), 2 usage error, 3 cannot connect. */
#ifndef CORRAL_CLI_H
#define CORRAL_CLI_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;

enum { EXIT_OK = 0, EXIT_SERVER = 1, EXIT_USAGE = 2, EXIT_CONNECT = 3 };

struct cli {
    const char *socket, *remote, *token, *ca_cert;
    bool insecure, json;
};

/* Parsed arguments of one command: positionals, --key value options, flags. */
#define ARGS_MAX 16
struct args {
    const char *pos[ARGS_MAX];
    int npos;
    const char *key[ARGS_MAX], *val[ARGS_MAX];
    int nopt;
    int dashdash;               /* positionals from this index came after "--"; -1: none */
};
const char *arg_opt(const struct args *a, const char *key);

/* One API request.  On 2xx returns 0 and, if meta, the metadata (owned);
 * async answers are waited for unless no_wait.  Else prints the error and
 * returns EXIT_SERVER or EXIT_CONNECT. */
int cli_call(struct cli *c, const char *method, const char *path, struct json_object *body,
             bool no_wait, struct json_object **meta);
/* Streams GET path (SSE) to stdout until interrupted. */
int cli_stream(struct cli *c, const char *path);
/* Attaches the terminal to a WebSocket console (console.c). */
int cli_console(struct cli *c, const char *path);
/* For console.c: a curl handle for path (Unix socket or HTTPS with the
 * token), and the error printers. */
struct curl_slist;
void *cli_setup(struct cli *c, const char *method, const char *path, struct curl_slist **hdrs);
int cli_connect_error(struct cli *c, int rc);
int cli_server_error(struct json_object *env);

/* Output: a table of the listed columns, or key: value lines, or JSON. */
void out_table(const struct cli *c, struct json_object *rows, const char *const *cols);
void out_object(const struct cli *c, struct json_object *o);

/* A command: `corral NOUN VERB args...`. */
struct verb {
    const char *name;
    const char *usage;          /* after "corral NOUN VERB " */
    const char *help;
    int min_pos, max_pos;
    const char *opts;           /* "size,format" (take a value) */
    const char *flags;          /* "preallocate,no-wait" */
    int (*fn)(struct cli *c, const struct args *a);
};
struct noun {
    const char *name;
    const char *help;
    const struct verb *verbs;
};
extern const struct noun nouns[];
/* Shared by the command files: GET path printed as a table (cols) or an
 * object (cols NULL); a change (body taken) printed unless quiet, not waited
 * for with --no-wait; a string member if v is not NULL. */
int cli_get(struct cli *c, const char *path, const char *const *cols);
int cli_change(struct cli *c, const struct args *a, const char *method, const char *path,
               struct json_object *body, bool quiet);
void cli_add_str(struct json_object *o, const char *key, const char *v);
/* commands_ct.c: containers and images. */
extern const struct verb ct_verbs[], image_verbs[];

#endif
