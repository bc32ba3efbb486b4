/* net — what corrald's networks need from the host: links (netlink.c:
 * bridges, taps, addresses, spoken over rtnetlink, no `ip` processes),
 * DHCP (dhcp.c, one dnsmasq per network) and isolation of the host's own
 * addresses (firewall.c, one nftables table).  res_networks.c decides what
 * should exist from the database and calls these; they know nothing of it.
 *
 * DHCP: dnsmasq is bound to the network's bridge alone (no DNS), hands out
 * only the static MAC -> address pairs of the hosts file, and runs as
 * `nobody`.  Like VM engines it is spawned detached and survives corrald;
 * dhcp_start() re-adopts a still-running one (pid file plus its recorded
 * start time).  Its files are in NET_RUN_DIR/BRIDGE/; dnsmasq reads the
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
#ifndef CORRAL_NET_H
#define CORRAL_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

#define NET_RUN_DIR "/run/corral/net"

struct net_spec {
    const char *name, *bridge;
    const char *subnet;          /* canonical "10.1.2.0/24" */
    const char *gateway;         /* its first address, on the bridge */
    bool nat;                    /* guests reach beyond the host, masqueraded */
};

/* What this corrald's networks need of the host, found once at start:
 * dnsmasq and the unprivileged user it runs as, nft and the name of this
 * corrald's table (after its state directory, so two corralds on a host
 * do not replace each other's).  What is missing is logged and described,
 * not fatal.  Held by the server; thread-safe. */
struct net_host;
int net_host_new(const char *state_dir, struct net_host **out);
void net_host_free(struct net_host *h);
/* {"available","reason"} for the host resource. */
struct json_object *dhcp_describe(struct net_host *h);
struct json_object *firewall_describe(struct net_host *h);

/* Starts the network's dnsmasq with these hosts ("MAC,ADDRESS\n" lines),
 * or re-adopts the one still running and has it re-read them. */
int dhcp_start(struct net_host *h, const struct net_spec *n, const char *hosts);
/* Rewrites the hosts file and signals dnsmasq (SIGHUP) if it changed. */
int dhcp_update(struct net_host *h, const char *bridge, const char *hosts);
/* Stops the network's dnsmasq and removes its files. */
int dhcp_stop(struct net_host *h, const char *bridge);
/* {"available","running","pid"?,"error"?,"reason"?} for the network view:
 * "error" when dnsmasq runs but cannot serve the hosts (it cannot read
 * them), "reason" when it does not run. */
struct json_object *dhcp_status(struct net_host *h, const char *bridge);

/* Replaces the isolation table with one for these networks. */
int firewall_apply(struct net_host *h, const struct net_spec *nets, size_t n);
/* The `nft -f` input firewall_apply() loads (malloc'ed; NULL if out of
 * memory). */
char *firewall_ruleset(const struct net_host *h, const struct net_spec *nets, size_t n);

/* ---- links (netlink.c).  Interface names are at most 15 bytes. ---- */

int nl_bridge_add(const char *name);
int nl_tap_add(const char *name);            /* a persistent tap, owned by root */
int nl_link_del(const char *name);           /* -ENODEV if there is none */
int nl_link_up(const char *name);
int nl_link_master(const char *name, const char *master);
int nl_addr_add(const char *name, uint32_t addr_be, int prefix);
bool nl_link_exists(const char *name);
/* Packets arriving on this interface are never routed elsewhere (IPv4
 * forwarding off for it, IPv6 off): what keeps networks apart.  forward:
 * IPv4 forwarding on instead (a NAT network; the firewall's forward chain
 * decides where its packets may go). */
int nl_isolate(const char *name, bool forward);
/* net.ipv4.ip_forward = 1 (for NAT).  1 if it was off: writing it sets
 * every interface's forwarding too, so the caller isolates its other
 * bridges again; 0 if it was on already. */
int nl_ip_forward_on(void);

/* One of the host's IPv4 prefixes: an address with its prefix length, or
 * a route's destination. */
struct nl_prefix {
    uint32_t addr;               /* host order: the address or the destination */
    int prefix;
    int ifindex;                 /* its interface; 0 if none (a multipath route) */
    bool route;
};
/* Every IPv4 address and unicast route of this network namespace (routes
 * of every table but `local`; not default routes), into a malloc'ed array. */
int nl_ipv4_prefixes(struct nl_prefix **out, size_t *n);

#endif
