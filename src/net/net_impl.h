/* The host context of net.h, shared by dhcp.c and firewall.c.  Private
 * to src/net. */
#ifndef CORRAL_NET_IMPL_H
#define CORRAL_NET_IMPL_H

#include <pthread.h>
#include <sys/types.h>

#include "net/net.h"

struct net_host {
    /* dhcp.c */
    pthread_mutex_t dhcp_lock;   /* one network's files and dnsmasq at a time */
    char dnsmasq_bin[256];       /* "" when networks have no DHCP */
    uid_t run_uid;               /* whom dnsmasq runs as: nobody, */
    gid_t run_gid;               /* and nogroup (Debian) or else nobody's group */
    char run_group[32];
    char hosts_old[65536];       /* under dhcp_lock: dhcp_update's scratch */
    /* firewall.c */
    pthread_mutex_t fw_lock;
    char nft_bin[256];           /* "" when nft is not installed */
    char table[32];              /* corral_XXXXXXXX */
    char fw_error[300];          /* under fw_lock: why the last apply failed */
};

void dhcp_init(struct net_host *h);
void firewall_init(struct net_host *h, const char *state_dir);

#endif
