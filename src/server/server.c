/* Opening and closing the server's parts in order. */
#include "server/server.h"
#include "server/scrollback.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "driver/driver.h"
#include "net/net.h"
#include "util/util.h"

/* A directory of the state: ours, and no more open than `mode`.  One that
 * already exists looser (a state dir made 0755 by hand would leave the
 * database world-readable) is tightened, and the log says so. */
static int make_dir(const char *path, mode_t mode)
{
    struct stat st;
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return fail(errno, "cannot create %s: %m", path);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0)
        return fail(errno == ELOOP ? ENOTDIR : errno, "%s is not a directory", path);
    if (st.st_uid != geteuid())
        return fail(EPERM, "%s belongs to uid %u, not to corrald's user: chown it", path, (unsigned)st.st_uid);
    if ((st.st_mode & 07777 & ~mode) == 0)
        return 0;
    if (fchmod(fd, st.st_mode & mode & 07777) < 0)
        return fail(errno, "cannot tighten %s to %04o: %m", path, mode);
    log_warn("%s was %04o: tightened to %04o (it holds corrald's database, keys and guests)", path,
             st.st_mode & 07777, st.st_mode & mode & 07777);
    return 0;
}

static void handle(void *ctx, struct req *r, struct resp *out) { api_handle(ctx, r, out); }

static int start_http(struct server *s)
{
    char tls_dir[4200];
    snprintf(tls_dir, sizeof(tls_dir), "%s/tls", s->cfg.state_dir);
    const struct http_config hc = {
        .listen = s->cfg.listen, .socket_path = s->cfg.socket_path, .tls_dir = tls_dir,
        .tls_cert = s->cfg.tls_cert, .tls_key = s->cfg.tls_key, .web_dir = s->cfg.web_dir,
        .handle = handle, .ctx = s, .events = s->events,
    };
    return http_start(&hc, &s->http);
}

int server_open(const struct server_config *cfg, struct server **out)
{
    if (sodium_init() < 0)
        return fail(EIO, "libsodium failed to initialize");
    struct server *s = calloc(1, sizeof(*s));
    if (!s)
        return fail(ENOMEM, "out of memory");
    s->cfg = *cfg;
    pthread_mutex_init(&s->hosts_lock, NULL);
    char db_path[4096];
    const char *secrets[] = { cfg->tls_key, cfg->admin_password_file };
    int r = make_dir(cfg->state_dir, 0700);
    if (r == 0)
        r = hostpaths_init(&s->paths, cfg->state_dir, cfg->host_path_allow, cfg->host_path_allow_n, secrets,
                           ARRAY_SIZE(secrets));
    if (r == 0 && asprintf(&s->pools_dir, "%s/pools", cfg->state_dir) < 0)
        r = fail(ENOMEM, "out of memory");
    if (r == 0)
        r = make_dir(s->pools_dir, 0700);
    if (r == 0 && asprintf(&s->vms_dir, "%s/vms", cfg->state_dir) < 0)
        r = fail(ENOMEM, "out of memory");
    if (r == 0)
        r = make_dir(s->vms_dir, 0700);
    if (r == 0 && asprintf(&s->images_dir, "%s/images", cfg->state_dir) < 0)
        r = fail(ENOMEM, "out of memory");
    if (r == 0 && asprintf(&s->cts_dir, "%s/containers", cfg->state_dir) < 0)
        r = fail(ENOMEM, "out of memory");
    if (r == 0)
        r = make_dir(s->cts_dir, 0700);
    if (r == 0 && asprintf(&s->oci_root, "%s/oci", s->cts_dir) < 0)
        r = fail(ENOMEM, "out of memory");
    if (r == 0 && asprintf(&s->vmimages_dir, "%s/vm-images", cfg->state_dir) < 0)
        r = fail(ENOMEM, "out of memory");
    if (r == 0 && (r = make_dir(s->vmimages_dir, 0700)) == 0)
        r = vmimages_open(s);
    /* VM sockets live in vms/ID/: they must fit a Unix socket address. */
    if (r == 0 && strlen(s->vms_dir) > 80)
        r = fail(ENAMETOOLONG, "--state-dir %s is too long for the VMs' Unix sockets (at most 76 bytes)",
                 cfg->state_dir);
    if (r == 0)
        r = scrollback_new(&s->consoles);
    if (r == 0)
        r = drivers_new(cfg->vmm_path, s->oci_root, &s->drivers);
    if (r == 0)
        r = net_host_new(cfg->state_dir, &s->net);
    snprintf(db_path, sizeof(db_path), "%s/corral.db", cfg->state_dir);
    if (r == 0)
        r = db_open(db_path, &s->db);
    if (r == 0)
        r = events_new(s->db, &s->events);
    if (r == 0)
        r = auth_new(s->db, s->events, &s->auth);
    if (r == 0)
        r = auth_bootstrap(s->auth, cfg->admin_password_file);
    /* Settle what a killed predecessor left half-done before taking requests. */
    if (r == 0)
        r = ops_recover(s->db);
    if (r == 0)
        r = storage_recover(s);
    if (r == 0)
        r = networks_recover(s);
    if (r == 0)
        r = guests_recover(s);
    if (r == 0)
        r = ops_new(s, s->db, s->events, cfg->workers > 0 ? cfg->workers : 4, &s->ops);
    if (r == 0)
        r = guests_watch_start(s);
    if (r == 0)
        r = start_http(s);
    if (r < 0) {
        server_close(s);
        return r;
    }
    *out = s;
    return 0;
}

void server_close(struct server *s)
{
    if (!s)
        return;
    /* Wake streams and waiters first: stopping HTTP joins their threads. */
    if (s->events)
        events_shutdown(s->events);
    guests_watch_stop(s);
    if (s->ops)
        ops_stop(s->ops);
    if (s->http)
        http_stop(s->http);
    scrollback_free(s->consoles);
    ops_free(s->ops);
    auth_free(s->auth);
    db_close(s->db);
    events_free(s->events);
    free(s->pools_dir);
    free(s->vms_dir);
    free(s->images_dir);
    free(s->vmimages_dir);
    free(s->cts_dir);
    free(s->oci_root);
    drivers_free(s->drivers);
    net_host_free(s->net);
    hostpaths_free(&s->paths);
    pthread_mutex_destroy(&s->hosts_lock);
    free(s);
}
