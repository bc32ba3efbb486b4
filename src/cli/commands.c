/* Every `corral NOUN VERB`: each builds one request from its arguments and
 * prints the answer.  Adding a command is one function and one table row. */
#include "cli/cli.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "util/util.h"

#define V "/api/v1"

static const char *const pool_cols[] = { "name", "path", "description", NULL };
static const char *const vol_cols[] = { "name", "format", "size", "base", "state", "description", NULL };
static const char *const user_cols[] = { "name", "role", "created", NULL };
static const char *const token_cols[] = { "id", "name", "user", "role", "expires", NULL };
static const char *const op_cols[] = { "id", "kind", "status", "progress", "owner", "error", NULL };
static const char *const audit_cols[] = { "time", "actor", "action", "target", NULL };
static const char *const vm_cols[] = { "name", "state", "running_engine", "vcpus", "memory", "description", NULL };
static const char *const net_cols[] = { "name", "subnet", "gateway", "nat", "bridge", "description", NULL };

static bool flag(const struct args *a, const char *name) { return arg_opt(a, name) != NULL; }

/* GET a path and print it as a table (cols) or an object (cols NULL). */
int cli_get(struct cli *c, const char *path, const char *const *cols)
{
    struct json_object *m;
    int r = cli_call(c, "GET", path, NULL, false, &m);
    if (r)
        return r;
    if (cols)
        out_table(c, m, cols);
    else
        out_object(c, m);
    json_object_put(m);
    return 0;
}

/* Sends a change; prints the result (or the operation when --no-wait). */
int cli_change(struct cli *c, const struct args *a, const char *method, const char *path,
               struct json_object *body, bool quiet)
{
    struct json_object *m = NULL;
    int r = cli_call(c, method, path, body, flag(a, "no-wait"), &m);
    json_object_put(body);
    if (r == 0 && m && (!quiet || c->json))
        out_object(c, m);
    json_object_put(m);
    return r;
}

void cli_add_str(struct json_object *o, const char *key, const char *v)
{
    if (v)
        json_object_object_add(o, key, json_object_new_string(v));
}

/* Reads a password from a file (first line), so it never shows in `ps`. */
static int password_from(const char *file, struct json_object *body)
{
    uint8_t *data;
    size_t len;
    if (read_file(file, 4096, &data, &len) < 0) {
        fprintf(stderr, "corral: --password-file: %s\n", err_msg());
        return EXIT_USAGE;
    }
    char pw[300];
    snprintf(pw, sizeof(pw), "%.*s", (int)len, (char *)data);
    pw[strcspn(pw, "\r\n")] = 0;
    free(data);
    cli_add_str(body, "password", pw);
    memset(pw, 0, sizeof(pw));
    return 0;
}

static int host_show(struct cli *c, const struct args *a) { (void)a; return cli_get(c, V "/host", NULL); }
static int whoami(struct cli *c, const struct args *a) { (void)a; return cli_get(c, V "/auth/whoami", NULL); }

/* ---- pools and volumes ---------------------------------------------------- */

static int pool_list(struct cli *c, const struct args *a) { (void)a; return cli_get(c, V "/pools", pool_cols); }

static int pool_show(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/pools/%s", a->pos[0]);
    return cli_get(c, p, NULL);
}

static int pool_create(struct cli *c, const struct args *a)
{
    struct json_object *b = json_object_new_object();
    cli_add_str(b, "name", a->pos[0]);
    cli_add_str(b, "path", arg_opt(a, "path"));
    cli_add_str(b, "description", arg_opt(a, "description"));
    return cli_change(c, a, "POST", V "/pools", b, false);
}

static int pool_set(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/pools/%s", a->pos[0]);
    struct json_object *b = json_object_new_object();
    cli_add_str(b, "description", arg_opt(a, "description"));
    return cli_change(c, a, "PATCH", p, b, false);
}

static int pool_delete(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/pools/%s", a->pos[0]);
    return cli_change(c, a, "DELETE", p, NULL, true);
}

static int vol_list(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/pools/%s/volumes", a->pos[0]);
    return cli_get(c, p, vol_cols);
}

static void vol_path(const struct args *a, char *p, size_t len)
{
    snprintf(p, len, V "/pools/%s/volumes/%s", a->pos[0], a->pos[1]);
}

static int vol_show(struct cli *c, const struct args *a)
{
    char p[300];
    vol_path(a, p, sizeof(p));
    return cli_get(c, p, NULL);
}

/* Sizes go to the server as given ("10G"); it parses and checks them. */
static int vol_create(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/pools/%s/volumes", a->pos[0]);
    struct json_object *b = json_object_new_object();
    cli_add_str(b, "name", a->pos[1]);
    cli_add_str(b, "size", arg_opt(a, "size"));
    cli_add_str(b, "format", arg_opt(a, "format"));
    cli_add_str(b, "description", arg_opt(a, "description"));
    if (flag(a, "preallocate"))
        json_object_object_add(b, "preallocate", json_object_new_boolean(true));
    int r = cli_change(c, a, "POST", p, b, true);
    if (r == 0 && !flag(a, "no-wait") && !c->json)
        printf("volume %s/%s created\n", a->pos[0], a->pos[1]);
    return r;
}

static int vol_clone(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/pools/%s/volumes", a->pos[0]);
    struct json_object *b = json_object_new_object();
    cli_add_str(b, "name", a->pos[2]);
    cli_add_str(b, "source", a->pos[1]);
    cli_add_str(b, "size", arg_opt(a, "size"));
    int r = cli_change(c, a, "POST", p, b, true);
    if (r == 0 && !flag(a, "no-wait") && !c->json)
        printf("volume %s/%s created as a linked clone of %s\n", a->pos[0], a->pos[2], a->pos[1]);
    return r;
}

static int vol_resize(struct cli *c, const struct args *a)
{
    char p[300];
    vol_path(a, p, sizeof(p));
    struct json_object *b = json_object_new_object();
    cli_add_str(b, "size", a->pos[2]);
    return cli_change(c, a, "PATCH", p, b, true);
}

static int vol_delete(struct cli *c, const struct args *a)
{
    char p[300];
    vol_path(a, p, sizeof(p));
    return cli_change(c, a, "DELETE", p, NULL, true);
}

/* ---- users and tokens ------------------------------------------------------ */

static int user_list(struct cli *c, const struct args *a) { (void)a; return cli_get(c, V "/users", user_cols); }

static int user_show(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/users/%s", a->pos[0]);
    return cli_get(c, p, NULL);
}

static int user_create(struct cli *c, const struct args *a)
{
    struct json_object *b = json_object_new_object();
    cli_add_str(b, "name", a->pos[0]);
    cli_add_str(b, "role", arg_opt(a, "role"));
    if (arg_opt(a, "password-file") && password_from(arg_opt(a, "password-file"), b)) {
        json_object_put(b);
        return EXIT_USAGE;
    }
    return cli_change(c, a, "POST", V "/users", b, false);
}

static int user_set(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/users/%s", a->pos[0]);
    struct json_object *b = json_object_new_object();
    cli_add_str(b, "role", arg_opt(a, "role"));
    if (arg_opt(a, "password-file") && password_from(arg_opt(a, "password-file"), b)) {
        json_object_put(b);
        return EXIT_USAGE;
    }
    return cli_change(c, a, "PATCH", p, b, false);
}

static int user_delete(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/users/%s", a->pos[0]);
    return cli_change(c, a, "DELETE", p, NULL, true);
}

static int token_list(struct cli *c, const struct args *a) { (void)a; return cli_get(c, V "/tokens", token_cols); }

static int token_create(struct cli *c, const struct args *a)
{
    struct json_object *b = json_object_new_object(), *m;
    cli_add_str(b, "name", a->pos[0]);
    cli_add_str(b, "role", arg_opt(a, "role"));
    if (arg_opt(a, "expires-days"))
        json_object_object_add(b, "expires_days", json_object_new_int64(atoll(arg_opt(a, "expires-days"))));
    int r = cli_call(c, "POST", V "/tokens", b, false, &m);
    json_object_put(b);
    if (r)
        return r;
    if (c->json)
        out_object(c, m);
    else
        printf("%s\n(token id %s; this is the only time it is shown)\n",
               json_object_get_string(json_object_object_get(m, "token")),
               json_object_get_string(json_object_object_get(m, "id")));
    json_object_put(m);
    return 0;
}

static int token_delete(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/tokens/%s", a->pos[0]);
    return cli_change(c, a, "DELETE", p, NULL, true);
}

/* ---- VMs and networks --------------------------------------------------------- */

static int vm_list(struct cli *c, const struct args *a) { (void)a; return cli_get(c, V "/vms", vm_cols); }

static int vm_show(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/vms/%s", a->pos[0]);
    return cli_get(c, p, NULL);
}

/* "a,b,c" -> ["a","b","c"] (each as made by one()) */
static struct json_object *list_of(const char *csv, struct json_object *(*one)(const char *, size_t))
{
    struct json_object *arr = json_object_new_array();
    for (const char *p = csv; p && *p;) {
        size_t n = strcspn(p, ",");
        if (n)
            json_object_array_add(arr, one(p, n));
        p += n + (p[n] == ',');
    }
    return arr;
}

static struct json_object *str_n(const char *p, size_t n) { return json_object_new_string_len(p, (int)n); }

static struct json_object *nic_n(const char *p, size_t n)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "network", json_object_new_string_len(p, (int)n));
    return o;
}

/* The options create and set share; numbers go as given, the server checks them. */
static void vm_body(const struct args *a, struct json_object *b)
{
    cli_add_str(b, "description", arg_opt(a, "description"));
    cli_add_str(b, "memory", arg_opt(a, "memory"));
    cli_add_str(b, "engine", arg_opt(a, "engine"));
    if (arg_opt(a, "vcpus")) {
        char *end;
        long long n = strtoll(arg_opt(a, "vcpus"), &end, 10);
        json_object_object_add(b, "vcpus", *end ? json_object_new_string(arg_opt(a, "vcpus"))
                                                : json_object_new_int64(n));
    }
    if (arg_opt(a, "kernel") || arg_opt(a, "boot-volume") || arg_opt(a, "image")) {
        struct json_object *boot = json_object_new_object();
        cli_add_str(boot, "image", arg_opt(a, "image"));
        cli_add_str(boot, "kernel", arg_opt(a, "kernel"));
        cli_add_str(boot, "initrd", arg_opt(a, "initrd"));
        cli_add_str(boot, "cmdline", arg_opt(a, "cmdline"));
        cli_add_str(boot, "volume", arg_opt(a, "boot-volume"));
        json_object_object_add(b, "boot", boot);
    }
    if (arg_opt(a, "disks"))
        json_object_object_add(b, "disks", list_of(arg_opt(a, "disks"), str_n));
    if (arg_opt(a, "nets"))
        json_object_object_add(b, "nics", list_of(arg_opt(a, "nets"), nic_n));
}

static int vm_create(struct cli *c, const struct args *a)
{
    struct json_object *b = json_object_new_object();
    cli_add_str(b, "name", a->pos[0]);
    vm_body(a, b);
    return cli_change(c, a, "POST", V "/vms", b, false);
}

static int vm_set(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/vms/%s", a->pos[0]);
    struct json_object *b = json_object_new_object();
    vm_body(a, b);
    return cli_change(c, a, "PATCH", p, b, false);
}

static int vm_delete(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/vms/%s", a->pos[0]);
    return cli_change(c, a, "DELETE", p, NULL, true);
}

/* start, stop, pause, resume, shutdown, restart: POST /vms/NAME/VERB */
static int vm_action(struct cli *c, const struct args *a, const char *verb)
{
    char p[256];
    snprintf(p, sizeof(p), V "/vms/%s/%s", a->pos[0], verb);
    struct json_object *b = NULL;
    if (arg_opt(a, "timeout") || flag(a, "force")) {
        b = json_object_new_object();
        if (arg_opt(a, "timeout"))
            json_object_object_add(b, "timeout", json_object_new_int64(atoll(arg_opt(a, "timeout"))));
        if (flag(a, "force"))
            json_object_object_add(b, "force", json_object_new_boolean(true));
    }
    int r = cli_change(c, a, "POST", p, b, true);
    if (r == 0 && !flag(a, "no-wait") && !c->json)
        printf("vm %s: %s done\n", a->pos[0], verb);
    return r;
}

static int vm_start(struct cli *c, const struct args *a) { return vm_action(c, a, "start"); }
static int vm_stop(struct cli *c, const struct args *a) { return vm_action(c, a, "stop"); }
static int vm_shutdown(struct cli *c, const struct args *a) { return vm_action(c, a, "shutdown"); }
static int vm_pause(struct cli *c, const struct args *a) { return vm_action(c, a, "pause"); }
static int vm_resume(struct cli *c, const struct args *a) { return vm_action(c, a, "resume"); }
static int vm_restart(struct cli *c, const struct args *a) { return vm_action(c, a, "restart"); }

static int vm_console(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/vms/%s/console", a->pos[0]);
    return cli_console(c, p);
}

static int net_list(struct cli *c, const struct args *a) { (void)a; return cli_get(c, V "/networks", net_cols); }

static int net_show(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/networks/%s", a->pos[0]);
    return cli_get(c, p, NULL);
}

static int net_create(struct cli *c, const struct args *a)
{
    struct json_object *b = json_object_new_object();
    cli_add_str(b, "name", a->pos[0]);
    cli_add_str(b, "subnet", arg_opt(a, "subnet"));
    if (flag(a, "nat"))
        json_object_object_add(b, "nat", json_object_new_boolean(true));
    cli_add_str(b, "description", arg_opt(a, "description"));
    return cli_change(c, a, "POST", V "/networks", b, false);
}

static int net_delete(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/networks/%s", a->pos[0]);
    return cli_change(c, a, "DELETE", p, NULL, true);
}

/* ---- operations, audit, events --------------------------------------------- */

static int op_list(struct cli *c, const struct args *a) { (void)a; return cli_get(c, V "/operations", op_cols); }

static int op_show(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/operations/%s", a->pos[0]);
    return cli_get(c, p, NULL);
}

static int op_wait(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/operations/%s/wait?timeout=%s", a->pos[0],
             arg_opt(a, "timeout") ? arg_opt(a, "timeout") : "60");
    return cli_get(c, p, NULL);
}

static int op_cancel(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/operations/%s", a->pos[0]);
    return cli_change(c, a, "DELETE", p, NULL, false);
}

static int audit_list(struct cli *c, const struct args *a)
{
    char p[256];
    snprintf(p, sizeof(p), V "/audit?limit=%s", arg_opt(a, "limit") ? arg_opt(a, "limit") : "50");
    return cli_get(c, p, audit_cols);
}

static int events_watch(struct cli *c, const struct args *a) { (void)a; return cli_stream(c, V "/events"); }

#define NW "no-wait"
static const struct verb host_verbs[] = {
    { "show", "", "CPUs, memory, load and the VM engines usable here", 0, 0, "", "", host_show },
    { "whoami", "", "who you are to corrald", 0, 0, "", "", whoami },
    { 0 } };
static const struct verb pool_verbs[] = {
    { "list", "", "list storage pools", 0, 0, "", "", pool_list },
    { "show", "POOL", "show a pool and its space", 1, 1, "", "", pool_show },
    { "create", "POOL [--path DIR] [--description TEXT]",
      "create a directory pool (default in corrald's state; --path: a directory of the pool's own, not /, a system "
      "directory or in or above corrald's state)", 1, 1, "path,description", "", pool_create },
    { "set", "POOL --description TEXT", "change a pool's description", 1, 1, "description", "", pool_set },
    { "delete", "POOL", "delete an empty pool", 1, 1, "", "", pool_delete },
    { 0 } };
static const struct verb vol_verbs[] = {
    { "list", "POOL", "list a pool's volumes", 1, 1, "", "", vol_list },
    { "show", "POOL VOLUME", "show a volume", 2, 2, "", "", vol_show },
    { "create", "POOL VOLUME --size SIZE [--format qcow2|raw] [--preallocate] [--description TEXT] [--no-wait]",
      "create a volume (SIZE like 10G)", 2, 2, "size,format,description", "preallocate," NW, vol_create },
    { "clone", "POOL BASE VOLUME [--size SIZE] [--no-wait]", "make a linked clone (qcow2 over BASE)", 3, 3, "size", NW, vol_clone },
    { "resize", "POOL VOLUME SIZE [--no-wait]", "grow (or shrink) a volume", 3, 3, "", NW, vol_resize },
    { "delete", "POOL VOLUME [--no-wait]", "delete a volume", 2, 2, "", NW, vol_delete },
    { 0 } };
#define VMOPTS "image,kernel,initrd,cmdline,boot-volume,vcpus,memory,engine,disks,nets,description"
#define VMUSE "[--image IMAGE [--cmdline TEXT] | --kernel FILE [--initrd FILE] [--cmdline TEXT] | --boot-volume POOL/VOL]\n" \
              "        [--vcpus N] [--memory SIZE] [--engine auto|kvm|qemu] [--disks POOL/VOL,...] [--nets NETWORK,...] [--description TEXT]"
static const struct verb vm_verbs[] = {
    { "list", "", "list VMs", 0, 0, "", "", vm_list },
    { "show", "VM", "show a VM: configuration, state, NIC addresses", 1, 1, "", "", vm_show },
    { "create", "VM " VMUSE, "create a VM (stopped); --kernel and --initrd are paths on corrald's host: admins "
      "only, under a directory corrald allows (--host-path-allow); others boot an --image", 1, 1, VMOPTS, "",
      vm_create },
    { "set", "VM " VMUSE, "change a stopped VM's configuration (lists replace the old ones; --kernel, --initrd: "
      "admins only, as for create)", 1, 1, VMOPTS, "", vm_set },
    { "delete", "VM", "delete a stopped VM (its volumes stay)", 1, 1, "", "", vm_delete },
    { "start", "VM [--no-wait]", "start a VM", 1, 1, "", NW, vm_start },
    { "stop", "VM [--no-wait]", "stop a VM at once (pull the plug)", 1, 1, "", NW, vm_stop },
    { "shutdown", "VM [--timeout SECONDS] [--force] [--no-wait]",
      "ask the guest to power off (ACPI); --force stops it after the timeout (default 60)", 1, 1, "timeout", "force," NW, vm_shutdown },
    { "pause", "VM [--no-wait]", "pause a VM's vCPUs", 1, 1, "", NW, vm_pause },
    { "resume", "VM [--no-wait]", "resume a paused VM", 1, 1, "", NW, vm_resume },
    { "restart", "VM [--timeout SECONDS] [--no-wait]", "shut down (forced after the timeout, default 30) and start", 1, 1, "timeout", NW, vm_restart },
    { "console", "VM", "attach to the serial console (Ctrl-] quits)", 1, 1, "", "", vm_console },
    { 0 } };
static const struct verb net_verbs[] = {
    { "list", "", "list networks", 0, 0, "", "", net_list },
    { "show", "NETWORK", "show a network and the NICs on it", 1, 1, "", "", net_show },
    { "create", "NETWORK --subnet CIDR [--nat] [--description TEXT]",
      "create a network (a bridge; the gateway is the subnet's first address; the subnet may overlap no other "
      "network and no address or route of the host, and not be loopback, link-local, multicast or reserved; "
      "--nat: its guests reach beyond the host, masqueraded)", 1, 1, "subnet,description", "nat", net_create },
    { "delete", "NETWORK", "delete a network no VM uses", 1, 1, "", "", net_delete },
    { 0 } };
static const struct verb user_verbs[] = {
    { "list", "", "list users", 0, 0, "", "", user_list },
    { "show", "USER", "show a user", 1, 1, "", "", user_show },
    { "create", "USER --role admin|operator|auditor --password-file FILE", "create a user", 1, 1, "role,password-file", "", user_create },
    { "set", "USER [--role ROLE] [--password-file FILE]", "change a user's role or password", 1, 1, "role,password-file", "", user_set },
    { "delete", "USER", "delete a user", 1, 1, "", "", user_delete },
    { 0 } };
static const struct verb token_verbs[] = {
    { "list", "", "list your API tokens (admins: all)", 0, 0, "", "", token_list },
    { "create", "NAME [--role ROLE] [--expires-days N]", "create an API token (printed once)", 1, 1, "role,expires-days", "", token_create },
    { "delete", "ID", "revoke a token", 1, 1, "", "", token_delete },
    { 0 } };
static const struct verb op_verbs[] = {
    { "list", "", "list recent operations", 0, 0, "", "", op_list },
    { "show", "ID", "show an operation", 1, 1, "", "", op_show },
    { "wait", "ID [--timeout SECONDS]", "wait for an operation to finish", 1, 1, "timeout", "", op_wait },
    { "cancel", "ID", "cancel an operation", 1, 1, "", "", op_cancel },
    { 0 } };
static const struct verb audit_verbs[] = {
    { "list", "[--limit N]", "the latest changes: who did what, when", 0, 0, "limit", "", audit_list },
    { 0 } };
static const struct verb events_verbs[] = {
    { "watch", "", "print lifecycle and operation events as they happen", 0, 0, "", "", events_watch },
    { 0 } };

const struct noun nouns[] = {
    { "host", "this host and you", host_verbs },
    { "pool", "storage pools", pool_verbs },
    { "volume", "volumes in pools (disks, linked clones)", vol_verbs },
    { "vm", "virtual machines", vm_verbs },
    { "ct", "containers (OCI, from imported images)", ct_verbs },
    { "image", "images: OCI images for containers, boot images (kernel, initrd) for VMs", image_verbs },
    { "net", "networks (bridges with a subnet)", net_verbs },
    { "user", "users and their roles", user_verbs },
    { "token", "API tokens for programs", token_verbs },
    { "op", "operations (slow work)", op_verbs },
    { "audit", "the audit log", audit_verbs },
    { "events", "the event stream", events_verbs },
    { 0 } };
