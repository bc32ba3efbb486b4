/* Container networking over rtnetlink (libmnl): a veth pair whose peer is
 * created directly inside the container's network namespace
 * (VETH_INFO_PEER with IFLA_NET_NS_FD), the host end attached to a bridge,
 * and the container end given IPv4 and/or IPv6 addresses and default routes.  The
 * in-container part runs with this thread switched into the namespace
 * (setns is per thread) and switched back before returning. */
#include "oci/oci.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

struct nl {
    struct mnl_socket *s;
    unsigned seq, portid;
    char buf[8192];
};

static int nl_open(struct nl *n)
{
    n->s = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!n->s || mnl_socket_bind(n->s, 0, MNL_SOCKET_AUTOPID) < 0) {
        int r = fail(errno, "netlink: %s", strerror(errno));
        if (n->s)
            mnl_socket_close(n->s);
        n->s = NULL;
        return r;
    }
    n->portid = mnl_socket_get_portid(n->s);
    return 0;
}

static void nl_close(struct nl *n)
{
    if (n->s)
        mnl_socket_close(n->s);
    n->s = NULL;
}

static struct nlmsghdr *nl_msg(struct nl *n, uint16_t type, uint16_t flags)
{
    struct nlmsghdr *h = mnl_nlmsg_put_header(n->buf);
    h->nlmsg_type = type;
    h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    h->nlmsg_seq = ++n->seq;
    return h;
}

/* Sends the request and waits for its ack: 0 or -errno (with no message). */
static int nl_talk(struct nl *n, struct nlmsghdr *h)
{
    if (mnl_socket_sendto(n->s, h, h->nlmsg_len) < 0)
        return -errno;
    char buf[8192];
    ssize_t got = mnl_socket_recvfrom(n->s, buf, sizeof(buf));
    if (got < 0)
        return -errno;
    return mnl_cb_run(buf, (size_t)got, h->nlmsg_seq, n->portid, NULL, NULL) < 0 ? -errno : 0;
}

static struct ifinfomsg *link_msg(struct nl *n, uint16_t type, uint16_t flags)
{
    struct nlmsghdr *h = nl_msg(n, type, flags);
    struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(h, sizeof(*ifm));
    ifm->ifi_family = AF_UNSPEC;
    return ifm;
}

static struct nlmsghdr *hdr(struct nl *n) { return (struct nlmsghdr *)n->buf; }

static int check_ifname(const char *name, const char *what)
{
    if (!name || !*name || strlen(name) >= IFNAMSIZ || strpbrk(name, "/: \t\n"))
        return fail(EINVAL, "%s \"%s\": not a valid interface name (1 to %d characters, no "
                    "'/', ':' or spaces)", what, name ? name : "", IFNAMSIZ - 1);
    return 0;
}

/* Brings an interface up, optionally enslaving it to master. */
static int link_up(struct nl *n, unsigned ifindex, unsigned master)
{
    struct ifinfomsg *ifm = link_msg(n, RTM_NEWLINK, 0);
    ifm->ifi_index = (int)ifindex;
    ifm->ifi_flags = ifm->ifi_change = IFF_UP;
    if (master)
        mnl_attr_put_u32(hdr(n), IFLA_MASTER, master);
    return nl_talk(n, hdr(n));
}

static int delete_link(const char *name, const char *what)
{
    struct nl n = { 0 };
    int r = check_ifname(name, what);
    if (r < 0 || (r = nl_open(&n)) < 0)
        return r;
    link_msg(&n, RTM_DELLINK, 0);
    mnl_attr_put_strz(hdr(&n), IFLA_IFNAME, name);
    if ((r = nl_talk(&n, hdr(&n))) < 0)
        r = fail(-r, "%s %s: %s", what, name, -r == ENODEV ? "no such interface" : strerror(-r));
    nl_close(&n);
    return r;
}

int oci_net_detach(const char *host_if) { return delete_link(host_if, "host interface"); }
int oci_net_bridge_delete(const char *bridge) { return delete_link(bridge, "bridge"); }

/* "ADDR[/N]" of the family into a (16 bytes for either). */
static int parse_cidr(const char *s, int family, void *a, unsigned *prefix)
{
    char buf[64];
    unsigned max = family == AF_INET6 ? 128 : 32;
    uint64_t p = max;
    const char *slash = strchr(s, '/');
    snprintf(buf, sizeof(buf), "%.*s", slash ? (int)(slash - s) : (int)strlen(s), s);
    if (inet_pton(family, buf, a) != 1 || (slash && parse_uint(slash + 1, 0, max, &p) < 0))
        return fail(EINVAL, family == AF_INET6 ? "\"%s\": not an IPv6 address (X:X::X[/N])"
                                               : "\"%s\": not an IPv4 address (A.B.C.D[/N])", s);
    *prefix = (unsigned)p;
    return 0;
}

static int ensure_bridge(struct nl *n, const char *name, bool create, unsigned *index)
{
    *index = if_nametoindex(name);
    if (!*index && !create)
        return fail(ENODEV, "bridge %s does not exist (create it or ask for it to be created)",
                    name);
    if (!*index) {
        link_msg(n, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        mnl_attr_put_strz(hdr(n), IFLA_IFNAME, name);
        struct nlattr *info = mnl_attr_nest_start(hdr(n), IFLA_LINKINFO);
        mnl_attr_put_strz(hdr(n), IFLA_INFO_KIND, "bridge");
        mnl_attr_nest_end(hdr(n), info);
        int r = nl_talk(n, hdr(n));
        if (r < 0 && r != -EEXIST)
            return fail(-r, "creating bridge %s: %s", name, strerror(-r));
        if (!(*index = if_nametoindex(name)))
            return fail(errno, "bridge %s: %s", name, strerror(errno));
    }
    int r = link_up(n, *index, 0);
    return r < 0 ? fail(-r, "bridge %s: setting it up: %s", name, strerror(-r)) : 0;
}

static int create_pair(struct nl *n, const struct oci_net_opts *o, const char *ifname, int nsfd)
{
    link_msg(n, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    mnl_attr_put_strz(hdr(n), IFLA_IFNAME, o->host_if);
    struct nlattr *info = mnl_attr_nest_start(hdr(n), IFLA_LINKINFO);
    mnl_attr_put_strz(hdr(n), IFLA_INFO_KIND, "veth");
    struct nlattr *data = mnl_attr_nest_start(hdr(n), IFLA_INFO_DATA);
    struct nlattr *peer = mnl_attr_nest_start(hdr(n), VETH_INFO_PEER);
    mnl_nlmsg_put_extra_header(hdr(n), sizeof(struct ifinfomsg));
    mnl_attr_put_strz(hdr(n), IFLA_IFNAME, ifname);
    mnl_attr_put_u32(hdr(n), IFLA_NET_NS_FD, (uint32_t)nsfd);
    mnl_attr_nest_end(hdr(n), peer);
    mnl_attr_nest_end(hdr(n), data);
    mnl_attr_nest_end(hdr(n), info);
    int r = nl_talk(n, hdr(n));
    if (r < 0)
        return fail(-r, "creating veth %s/%s: %s", o->host_if, ifname,
                    r == -EEXIST ? "an interface of that name exists" : strerror(-r));
    return 0;
}

/* The address on the interface and, with gateway, the default route of
 * that family through it.  IPv6 skips duplicate address detection: the
 * address is usable at once, as on a veth nobody else answers for. */
static int add_address(struct nl *n, unsigned idx, int family, const char *address,
                       const char *gateway)
{
    unsigned char a[16];
    unsigned prefix;
    size_t alen = family == AF_INET6 ? 16 : 4;
    int r = parse_cidr(address, family, a, &prefix);
    if (r < 0)
        return r;
    nl_msg(n, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(hdr(n), sizeof(*ifa));
    *ifa = (struct ifaddrmsg){ .ifa_family = (uint8_t)family, .ifa_prefixlen = (uint8_t)prefix,
                               .ifa_scope = RT_SCOPE_UNIVERSE, .ifa_index = idx,
                               .ifa_flags = family == AF_INET6 ? IFA_F_NODAD : 0 };
    mnl_attr_put(hdr(n), IFA_LOCAL, alen, a);
    mnl_attr_put(hdr(n), IFA_ADDRESS, alen, a);
    if ((r = nl_talk(n, hdr(n))) < 0)
        return fail(-r, "address %s: %s", address, strerror(-r));
    if (!gateway)
        return 0;
    if ((r = parse_cidr(gateway, family, a, &prefix)) < 0)
        return r;
    nl_msg(n, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
    struct rtmsg *rt = mnl_nlmsg_put_extra_header(hdr(n), sizeof(*rt));
    *rt = (struct rtmsg){ .rtm_family = (uint8_t)family, .rtm_table = RT_TABLE_MAIN,
                          .rtm_protocol = RTPROT_BOOT, .rtm_scope = RT_SCOPE_UNIVERSE,
                          .rtm_type = RTN_UNICAST };
    mnl_attr_put(hdr(n), RTA_GATEWAY, alen, a);
    mnl_attr_put_u32(hdr(n), RTA_OIF, idx);
    if ((r = nl_talk(n, hdr(n))) < 0)
        return fail(-r, "default route via %s: %s", gateway, strerror(-r));
    return 0;
}

/* Runs inside the container's netns: lo and IFNAME up, addresses, routes. */
static int configure_inside(const struct oci_net_opts *o, const char *ifname)
{
    struct nl n = { 0 };
    unsigned idx = if_nametoindex(ifname), lo = if_nametoindex("lo");
    int r = idx ? nl_open(&n) : fail(ENODEV, "%s: not in the container", ifname);
    if (r == 0 && lo && (r = link_up(&n, lo, 0)) < 0)
        r = fail(-r, "container lo: %s", strerror(-r));
    if (r == 0 && (r = link_up(&n, idx, 0)) < 0)
        r = fail(-r, "container %s: %s", ifname, strerror(-r));
    if (r == 0 && o->address)
        r = add_address(&n, idx, AF_INET, o->address, o->gateway);
    if (r == 0 && o->address6)
        r = add_address(&n, idx, AF_INET6, o->address6, o->gateway6);
    nl_close(&n);
    return r;
}

static int open_netns(const struct oci_net_opts *o)
{
    char path[64];
    if (!o->netns == !(o->pid > 0))
        return fail(EINVAL, "give the container's pid or its network namespace path (one)");
    if (!o->netns)
        snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)o->pid);
    const char *p = o->netns ? o->netns : path;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(errno, "network namespace %s: %s", p, strerror(errno));
    return fd;
}

int oci_net_attach(const struct oci_net_opts *o)
{
    const char *ifname = o->ifname ? o->ifname : "eth0";
    unsigned char a[16];
    unsigned prefix, bridge = 0;
    int r = check_ifname(o->host_if, "host interface");
    if (r == 0)
        r = check_ifname(ifname, "container interface");
    if (r == 0 && o->bridge)
        r = check_ifname(o->bridge, "bridge");
    if (r == 0 && o->address)
        r = parse_cidr(o->address, AF_INET, a, &prefix);
    if (r == 0 && o->gateway)
        r = parse_cidr(o->gateway, AF_INET, a, &prefix);
    if (r == 0 && o->address6)
        r = parse_cidr(o->address6, AF_INET6, a, &prefix);
    if (r == 0 && o->gateway6)
        r = parse_cidr(o->gateway6, AF_INET6, a, &prefix);
    if (r == 0 && ((o->gateway && !o->address) || (o->gateway6 && !o->address6)))
        r = fail(EINVAL, "a gateway needs an address of its family");
    if (r < 0)
        return r;
    _cleanup_close_ int nsfd = open_netns(o);
    if (nsfd < 0)
        return nsfd;
    _cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0)
        return fail(errno, "/proc/thread-self/ns/net: %s", strerror(errno));
    struct nl n = { 0 };
    if ((r = nl_open(&n)) < 0)
        return r;
    if (o->bridge)
        r = ensure_bridge(&n, o->bridge, o->create_bridge, &bridge);
    if (r == 0)
        r = create_pair(&n, o, ifname, nsfd);
    bool created = r == 0;
    unsigned host = r == 0 ? if_nametoindex(o->host_if) : 0;
    if (r == 0 && !host)
        r = fail(errno, "%s: %s", o->host_if, strerror(errno));
    if (r == 0 && (r = link_up(&n, host, bridge)) < 0)
        r = fail(-r, "%s: %s%s: %s", o->host_if, bridge ? "attaching to " : "setting it up",
                 bridge ? o->bridge : "", strerror(-r));
    nl_close(&n);
    if (r == 0) {
        if (setns(nsfd, CLONE_NEWNET) < 0)
            return fail(errno, "entering the network namespace: %s", strerror(errno));
        r = configure_inside(o, ifname);
        if (setns(self, CLONE_NEWNET) < 0)
            abort();   /* this thread would act in the container's network from now on */
    }
    if (r < 0 && created) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        oci_net_detach(o->host_if);
        r = fail(-r, "%s", msg);
    }
    return r;
}
