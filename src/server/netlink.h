/* netlink — the few link operations corrald's networks need, spoken
 * directly over rtnetlink (no `ip` processes): bridges, persistent taps,
 * addresses, up/down and master, and reading the host's IPv4 addresses
 * and routes.  Interface names are at most 15 bytes. */
#ifndef CORRAL_SERVER_NETLINK_H
#define CORRAL_SERVER_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
