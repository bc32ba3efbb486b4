/* server — corrald, the host server: its resources (host, pools and
 * volumes, networks, VM images, VMs, images and containers, users and
 * tokens, operations and events), the route table that names them with
 * the role each needs, the pipeline every API request takes, and the
 * guests' one lifecycle (lifecycle.h).
 *
 * The layers below, each a module of its own (docs/architecture.md):
 * http (http.h) turns each HTTP request into a `struct req` (api.h) and
 * hands it to api_handle() (pipeline.c), which authenticates the caller
 * (auth.h), finds the route (routes.c), enforces the role and CSRF, parses
 * the JSON body strictly, then calls the route's handler.  Anything that
 * may take over a second runs as an operation (ops.h) holding per-resource
 * locks; every change is recorded by events_record() (ops.h) in the audit
 * log and on the event stream; state lives in SQLite (db.h); guests run
 * through the drivers (driver.h) and networks through net.h.
 *
 * Everything here is thread-safe: HTTP connections each have a thread, the
 * database has one lock, operations and events have their own.
 */
#ifndef CORRAL_SERVER_H
#define CORRAL_SERVER_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "auth/auth.h"
#include "db/db.h"
#include "http/http.h"
#include "ops/ops.h"
#include "server/hostpath.h"

struct json_object;
struct server;

/* API tokens a user may hold at once (expired ones do not count). */
#define TOKENS_PER_USER 64

/* ---- the route table (routes.c) and the pipeline (pipeline.c) ------------ */

extern const struct route routes[];
extern const size_t routes_count;

/* PATCH {"description": …} of one row: load(name) for the If-Match check,
 * then update_sql ("UPDATE t SET description = ? WHERE name = ?") in one
 * transaction, the change recorded as `event`, answered by get(). */
typedef int (*api_load_fn)(struct server *s, const char *name, struct json_object **out,
                           struct resp *resp);
int api_patch_description(struct server *s, struct req *r, struct resp *out, api_load_fn load,
                          const char *update_sql, const char *event, route_fn get);


/* The whole pipeline: auth, route, role, CSRF, body, handler.  `s` may be
 * NULL in tests of the pipeline's front half (nothing reaches a handler). */
void api_handle(struct server *s, struct req *r, struct resp *out);

/* ---- the server ------------------------------------------------------- */

struct server_config {
    const char *state_dir;       /* default /var/lib/corral */
    const char *listen;          /* "ADDR:PORT" or "none"; default 0.0.0.0:8006 */
    const char *socket_path;     /* default /run/corral/corrald.sock */
    const char *tls_cert, *tls_key;  /* default: generated under state_dir/tls */
    const char *admin_password_file;
    int workers;                 /* operation worker threads; default 4 */
    const char *vmm_path;        /* corral-vmm; default: next to corrald */
    const char *web_dir;         /* the web console's files; NULL = http.h's default */
    const char *const *host_path_allow;   /* --host-path-allow: where requests may name host files */
    size_t host_path_allow_n;
};

struct server {
    struct server_config cfg;
    struct db *db;
    struct ops *ops;
    struct events *events;
    struct auth *auth;
    struct http *http;
    struct scrollback *consoles; /* every running guest's console (scrollback.h) */
    char *pools_dir;             /* state_dir/pools */
    char *vms_dir;               /* state_dir/vms: one run directory per VM */
    struct guest_watch *guest_watch;
    struct drivers *drivers;     /* what runs guests (driver.h) */
    struct net_host *net;        /* dnsmasq and nft for networks (net.h) */
    /* Held from reading a network's NICs to writing its DHCP hosts file,
     * so the last file written is from the rows read last. */
    pthread_mutex_t hosts_lock;
    char *images_dir;            /* state_dir/images: the OCI image store */
    char *cts_dir;               /* state_dir/containers: bundles, and oci/ (the runtime's state) */
    char *oci_root;              /* cts_dir/oci */
    char *vmimages_dir;          /* state_dir/vm-images: VM boot images (vmimages.c) */
    struct hostpaths paths;      /* which host paths requests may name (hostpath.h) */
};

/* The principal of changes corrald makes by itself (a guest powered off). */
extern const struct principal principal_corrald;

int server_open(const struct server_config *cfg, struct server **out);
void server_close(struct server *s);     /* stops HTTP, operations, closes state */

/* ---- handlers (one file per resource) --------------------------------- */

int h_login(struct server *, struct req *, struct resp *);
int h_logout(struct server *, struct req *, struct resp *);
int h_whoami(struct server *, struct req *, struct resp *);
int h_api_info(struct server *, struct req *, struct resp *);
int h_openapi(struct server *, struct req *, struct resp *);
int h_host(struct server *, struct req *, struct resp *);
int h_pools_list(struct server *, struct req *, struct resp *);
int h_pools_create(struct server *, struct req *, struct resp *);
int h_pool_get(struct server *, struct req *, struct resp *);
int h_pool_patch(struct server *, struct req *, struct resp *);
int h_pool_delete(struct server *, struct req *, struct resp *);
int h_volumes_list(struct server *, struct req *, struct resp *);
int h_volumes_create(struct server *, struct req *, struct resp *);
int h_volume_get(struct server *, struct req *, struct resp *);
int h_volume_patch(struct server *, struct req *, struct resp *);
int h_volume_delete(struct server *, struct req *, struct resp *);
int h_users_list(struct server *, struct req *, struct resp *);
int h_users_create(struct server *, struct req *, struct resp *);
int h_user_get(struct server *, struct req *, struct resp *);
int h_user_patch(struct server *, struct req *, struct resp *);
int h_user_delete(struct server *, struct req *, struct resp *);
int h_tokens_list(struct server *, struct req *, struct resp *);
int h_tokens_create(struct server *, struct req *, struct resp *);
int h_token_delete(struct server *, struct req *, struct resp *);
int h_ops_list(struct server *, struct req *, struct resp *);
int h_op_get(struct server *, struct req *, struct resp *);
int h_op_wait(struct server *, struct req *, struct resp *);
int h_op_cancel(struct server *, struct req *, struct resp *);
int h_events(struct server *, struct req *, struct resp *);
int h_audit(struct server *, struct req *, struct resp *);

int h_networks_list(struct server *, struct req *, struct resp *);
int h_networks_create(struct server *, struct req *, struct resp *);
int h_network_get(struct server *, struct req *, struct resp *);
int h_network_patch(struct server *, struct req *, struct resp *);
int h_network_delete(struct server *, struct req *, struct resp *);
int h_vms_list(struct server *, struct req *, struct resp *);
int h_vms_create(struct server *, struct req *, struct resp *);
int h_vm_get(struct server *, struct req *, struct resp *);
int h_vm_patch(struct server *, struct req *, struct resp *);
int h_vm_delete(struct server *, struct req *, struct resp *);
int h_vm_start(struct server *, struct req *, struct resp *);
int h_vm_stop(struct server *, struct req *, struct resp *);
int h_vm_shutdown(struct server *, struct req *, struct resp *);
int h_vm_pause(struct server *, struct req *, struct resp *);
int h_vm_resume(struct server *, struct req *, struct resp *);
int h_vm_restart(struct server *, struct req *, struct resp *);
int h_vm_console(struct server *, struct req *, struct resp *);
int h_images_list(struct server *, struct req *, struct resp *);
int h_images_import(struct server *, struct req *, struct resp *);
int h_image_get(struct server *, struct req *, struct resp *);
int h_image_delete(struct server *, struct req *, struct resp *);
int h_containers_list(struct server *, struct req *, struct resp *);
int h_containers_create(struct server *, struct req *, struct resp *);
int h_container_get(struct server *, struct req *, struct resp *);
int h_container_patch(struct server *, struct req *, struct resp *);
int h_container_delete(struct server *, struct req *, struct resp *);
int h_container_start(struct server *, struct req *, struct resp *);
int h_container_stop(struct server *, struct req *, struct resp *);
int h_container_pause(struct server *, struct req *, struct resp *);
int h_container_resume(struct server *, struct req *, struct resp *);
int h_container_kill(struct server *, struct req *, struct resp *);
int h_container_exec(struct server *, struct req *, struct resp *);
int h_container_console(struct server *, struct req *, struct resp *);

/* Volumes that were being created, resized or deleted when the process
 * died are finished or undone at start. */
int storage_recover(struct server *s);
/* Recreates the bridges of networks (after a host reboot, or a crash
 * between the row and the bridge), loads the isolation table and starts
 * or re-adopts each network's dnsmasq. */
int networks_recover(struct server *s);
/* Whether subnets A/PA and B/PB (host order) share an address. */
bool subnet_overlaps(uint32_t a, int pa, uint32_t b, int pb);
/* The special-purpose range (loopback, multicast, …) subnet NET/PREFIX
 * overlaps, described ("127.0.0.0/8, loopback"), or NULL. */
const char *subnet_reserved(uint32_t net, int prefix);
/* The first of the host's prefixes (nl_ipv4_prefixes()) NET/PREFIX
 * overlaps, skipping those on the interfaces SKIP (corral's bridges). */
struct nl_prefix;
const struct nl_prefix *subnet_host_overlap(uint32_t net, int prefix, const struct nl_prefix *host, size_t n,
                                            const int *skip, size_t nskip);
/* Rewrites every network's DHCP hosts (MAC -> address of each NIC on it);
 * call after a VM is created, changed or deleted. */
void networks_nics_changed(struct server *s);
/* "network NAME: …" for each network whose DHCP is failing (a JSON array),
 * for the host resource. */
struct json_object *networks_problems(struct server *s);
/* Guests (guest.c): re-adopts VMs and containers whose process still
 * runs, settles the others as stopped; then watches running guests for
 * those that end by themselves (powered off, the init exited). */
int guests_recover(struct server *s);
int guests_watch_start(struct server *s);
void guests_watch_stop(struct server *s);
/* Picks a NIC's address on a network (`want`, or the first free one; VM
 * `vm`'s own NICs do not count as taken) and names its bridge; call in a
 * database transaction.  0 or a 4xx in out. */
int network_assign(struct server *s, const char *network, const char *want, const char *vm,
                   char addr[16], char bridge[16], struct resp *out);
/* Removes containers whose create was cut short by a killed corrald. */
int containers_recover_creating(struct server *s);
/* The image store (res_images.c) and whether image NAME is in it. */
struct oci_store;
void images_store(struct server *s, struct oci_store *st);
bool images_exists(struct server *s, const char *name);

/* ---- vmimages.c: VM boot images (kernel, initrd, command line) ---------- */

#define VMIMAGE_PATH_MAX 1200
#define BOOT_CMDLINE_LEN 2048
/* hostpath_open() of host file PATH for request field FIELD
 * ("boot.kernel"), and -EINVAL unless it holds 1 byte to 1 GiB: 0 with *fd
 * (the caller closes it) or hostpath_open()'s errors.  Callers let only
 * admins get here. */
int boot_file_open(struct server *s, const char *field, const char *path, int *fd);
/* 400 unless CMDLINE is printable ASCII of at most BOOT_CMDLINE_LEN bytes. */
int boot_cmdline_check(const char *field, const char *cmdline, struct resp *out);
/* 400 unless open file FD (host path PATH) is a kernel corral can boot. */
int vmimage_check_kernel(int fd, const char *path, struct resp *out);
/* Creates nothing; removes what an interrupted import left.  At start. */
int vmimages_open(struct server *s);
/* Image NAME's view (view NULL: whether it exists), or -ENOENT. */
int vmimage_find(struct server *s, const char *name, struct json_object **view);
/* Appends every VM image's view to LIST. */
void vmimages_list(struct server *s, struct json_object *list);
struct vmimage_import {
    char name[NAME_MAX_LEN + 1];
    char kernel[VMIMAGE_PATH_MAX], initrd[VMIMAGE_PATH_MAX];   /* host paths; initrd "" for none */
    int kernel_fd, initrd_fd;    /* the same, opened and checked at the request; -1: none */
    char cmdline[BOOT_CMDLINE_LEN + 1];
};
/* An import operation's work: copies (from the fds) and checks the files,
 * then the image appears whole.  0 or a negative errno with a message. */
int vmimage_import(struct server *s, struct op *op, const struct vmimage_import *im);
int vmimage_remove(struct server *s, const char *name);
/* What a VM booting image NAME gets: the files' paths and the command line. */
struct vmimage_files {
    char kernel[VMIMAGE_PATH_MAX], initrd[VMIMAGE_PATH_MAX];  /* initrd "" for none */
    char cmdline[BOOT_CMDLINE_LEN + 1];
};
int vmimage_boot(struct server *s, const char *name, struct vmimage_files *f);
/* 200 with the rows `sql` selects (no parameters), each as view() shows it. */
int api_list(struct server *s, struct resp *out, const char *sql,
             struct json_object *(*view)(struct json_object *row, char etag[24]));

/* ---- guest.c: the console route's second half --------------------------- */

/* The rest of a console route once the guest is known to run: the
 * handshake, one client per key, the scrollback joined (opened with
 * open_console(arg) if nothing holds it), the audit record `action`, 101.
 * `what` names the guest in errors ("VM 'x'", "container 'x'"). */
int console_upgrade(struct server *s, struct req *r, struct resp *out, const char *key, const char *what,
                    int (*open_console)(const void *arg), const void *arg, const char *action);

extern const char openapi_json[];
extern const size_t openapi_json_len;

#endif
