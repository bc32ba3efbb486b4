/* netlink — the few link operations corrald's networks need, spoken
 * directly over rtnetlink (no `ip` processes): bridges, persistent taps,
 * addresses, up/down and master.  Interface names are at most 15 bytes. */
#ifndef CORRAL_SERVER_NETLINK_H
#define CORRAL_SERVER_NETLINK_H

#include <stdbool.h>
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

#endif
