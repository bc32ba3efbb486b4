/* corrald: the corral host server.  Parses options, opens the server and
 * waits for SIGTERM/SIGINT to shut it down cleanly. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "server/server.h"
#include "util/util.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: corrald [options]\n"
        "  --state-dir DIR            state (database, TLS, pools); default /var/lib/corral\n"
        "  --listen ADDR:PORT|none    HTTPS address; default 0.0.0.0:8006\n"
        "  --socket PATH|none         root-only Unix socket; default /run/corral/corrald.sock\n"
        "  --tls-cert FILE --tls-key FILE   use this certificate instead of a generated one\n"
        "  --admin-password-file FILE the first admin's password (else a random one is printed)\n"
        "  --workers N                operation worker threads (1..64); default 4\n"
        "  --vmm PATH                 corral-vmm for the kvm engine; default: next to corrald\n"
        "  --web-dir DIR              the web console's files; default: web/dist of the source\n"
        "                             tree corrald was built in, else /usr/share/corral/web\n"
        "  --host-path-allow DIR      requests may name host files under DIR: VM boot kernels and\n"
        "                             initrds, image imports (admins only; repeatable; default none).\n"
        "                             Never the state directory, /etc, /proc, /sys, /dev, /run, /boot\n"
        "                             or the TLS key, even under DIR; symlinks must stay inside DIR\n"
        "  --log-level error|warn|info|debug\n"
        "  --list-routes              print METHOD PATH ROLE for every API route and exit\n");
}

int main(int argc, char **argv)
{
    struct server_config cfg = {
        .state_dir = "/var/lib/corral",
        .listen = "0.0.0.0:8006",
        .socket_path = "/run/corral/corrald.sock",
        .workers = 4,
    };
    static const struct option longopts[] = {
        { "state-dir", required_argument, 0, 's' }, { "listen", required_argument, 0, 'l' },
        { "socket", required_argument, 0, 'u' }, { "tls-cert", required_argument, 0, 'c' },
        { "tls-key", required_argument, 0, 'k' }, { "admin-password-file", required_argument, 0, 'p' },
        { "workers", required_argument, 0, 'w' }, { "log-level", required_argument, 0, 'v' },
        { "list-routes", no_argument, 0, 'R' }, { "vmm", required_argument, 0, 'm' },
        { "web-dir", required_argument, 0, 'W' }, { "help", no_argument, 0, 'h' },
        { "host-path-allow", required_argument, 0, 'A' }, { 0, 0, 0, 0 },
    };
    static const char *allow[HOSTPATH_ALLOW_MAX];
    log_set_prefix("corrald");
    int c;
    uint64_t n;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': cfg.state_dir = optarg; break;
        case 'l': cfg.listen = optarg; break;
        case 'u': cfg.socket_path = optarg; break;
        case 'c': cfg.tls_cert = optarg; break;
        case 'k': cfg.tls_key = optarg; break;
        case 'p': cfg.admin_password_file = optarg; break;
        case 'm': cfg.vmm_path = optarg; break;
        case 'W': cfg.web_dir = optarg; break;
        case 'A':
            if (cfg.host_path_allow_n == HOSTPATH_ALLOW_MAX) {
                fprintf(stderr, "corrald: at most %d --host-path-allow directories\n", HOSTPATH_ALLOW_MAX);
                return 2;
            }
            allow[cfg.host_path_allow_n++] = optarg;
            cfg.host_path_allow = allow;
            break;
        case 'w':
            if (parse_uint(optarg, 1, 64, &n) < 0) {
                fprintf(stderr, "corrald: --workers: %s\n", err_msg());
                return 2;
            }
            cfg.workers = (int)n;
            break;
        case 'v': {
            static const char *const lv[] = { "error", "warn", "info", "debug" };
            int i = 0;
            while (i < 4 && strcmp(optarg, lv[i]))
                i++;
            if (i == 4) {
                fprintf(stderr, "corrald: --log-level: use error, warn, info or debug\n");
                return 2;
            }
            log_set_level((enum log_level)i);
            break;
        }
        case 'R':
            for (size_t i = 0; i < routes_count; i++)
                printf("%s %s %s\n", routes[i].method, routes[i].path, role_name(routes[i].role));
            return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "corrald: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    /* Every thread inherits this mask; only sigwait() below sees the signals. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct server *s;
    if (server_open(&cfg, &s) < 0) {
        fprintf(stderr, "corrald: %s\n", err_msg());
        return 1;
    }
    log_info("ready (state in %s)", cfg.state_dir);
    int sig;
    sigwait(&set, &sig);
    log_info("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server_close(s);
    log_info("stopped");
    return 0;
}
