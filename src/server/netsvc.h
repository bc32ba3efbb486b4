/* netsvc — what a network needs from the host beyond its bridge: DHCP
 * (dhcp.c, one dnsmasq per network) and isolation of the host's own
 * addresses (firewall.c, one nftables table).  res_networks.c decides what
 * should exist from the database and calls these; they know nothing of it.
 *
 * DHCP: dnsmasq is bound to the network's bridge alone (no DNS), hands out
 * only the static MAC -> address pairs of the hosts file, and runs as
 * `nobody`.  Like VM engines it is spawned detached and survives corrald;
 * dhcp_start() re-adopts a still-running one (pid file plus its recorded
 * start time).  Its files are in NETSVC_RUN_DIR/BRIDGE/; dnsmasq reads the
 * hosts file as `nobody`, so that file alone is opened to its group
 * (dhcp.c), and a hosts file it cannot read is reported as the network's
 * DHCP error.
 *
 * Isolation: the table `inet corral` drops everything that arrives on a
 * network's bridge for the host, except DHCP and the network's own gateway,
 * so a guest cannot reach the host's addresses on other networks (or its
 * LAN address); nothing is routed into or out of a bridge, except, for a
 * NAT network, its guests' own connections to anywhere but another
 * network (masqueraded as the host) and their replies.  firewall_apply()
 * replaces the table in one `nft -f`.
 *
 * Either tool may be missing: networks then still work (static addresses,
 * no host isolation) and the *_describe() calls say why.  Thread-safe. */
#ifndef CORRAL_SERVER_NETSVC_H
#define CORRAL_SERVER_NETSVC_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;

#define NETSVC_RUN_DIR "/run/corral/net"

struct netsvc_net {
    const char *name, *bridge;
    const char *subnet;          /* canonical "10.1.2.0/24" */
    const char *gateway;         /* its first address, on the bridge */
    bool nat;                    /* guests reach beyond the host, masqueraded */
};

/* Find dnsmasq and nft (once, at start) and log what is missing; the
 * firewall names its table after the state directory. */
void dhcp_setup(void);
void firewall_setup(const char *state_dir);
/* {"available","reason"} for the host resource. */
struct json_object *dhcp_describe(void);
struct json_object *firewall_describe(void);

/* Starts the network's dnsmasq with these hosts ("MAC,ADDRESS\n" lines),
 * or re-adopts the one still running and has it re-read them. */
int dhcp_start(const struct netsvc_net *n, const char *hosts);
/* Rewrites the hosts file and signals dnsmasq (SIGHUP) if it changed. */
int dhcp_update(const char *bridge, const char *hosts);
/* Stops the network's dnsmasq and removes its files. */
int dhcp_stop(const char *bridge);
/* {"available","running","pid"?,"error"?,"reason"?} for the network view:
 * "error" when dnsmasq runs but cannot serve the hosts (it cannot read
 * them), "reason" when it does not run. */
struct json_object *dhcp_status(const char *bridge);

/* Replaces the isolation table with one for these networks. */
int firewall_apply(const struct netsvc_net *nets, size_t n);
/* The `nft -f` input firewall_apply() loads (malloc'ed; NULL if out of
 * memory). */
char *firewall_ruleset(const struct netsvc_net *nets, size_t n);

#endif
