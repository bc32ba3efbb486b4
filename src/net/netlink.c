/* Link operations over a NETLINK_ROUTE socket, one request and its ACK at a
 * time; taps through /dev/net/tun.  See net.h. */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/util.h"

struct nlreq {
    struct nlmsghdr h;
    char buf[1024];
};

static struct rtattr *attr(struct nlreq *r, int type, const void *data, size_t len)
{
    struct rtattr *a = (struct rtattr *)((char *)&r->h + NLMSG_ALIGN(r->h.nlmsg_len));
    a->rta_type = (unsigned short)type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len)
        memcpy(RTA_DATA(a), data, len);
    r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
    return a;
}

static void attr_end(struct nlreq *r, struct rtattr *nest)
{
    nest->rta_len = (unsigned short)((char *)&r->h + r->h.nlmsg_len - (char *)nest);
}

static int talk(struct nlreq *r, const char *what, const char *name)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return fail(errno, "netlink: %m");
    r->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    int err = 0;
    if (sendto(fd, r, r->h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        err = errno;
    } else {
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        struct nlmsghdr *h = (struct nlmsghdr *)buf;
        if (n < 0)
            err = errno;
        else if (n >= (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) && h->nlmsg_type == NLMSG_ERROR)
            err = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
    close(fd);
    return err ? fail(err, "%s %s: %s", what, name, strerror(err)) : 0;
}

static int link_msg(struct nlreq *r, int type, int flags, const char *name)
{
    if (strlen(name) >= IFNAMSIZ)
        return fail(EINVAL, "interface name %s is too long", name);
    memset(r, 0, sizeof(*r));
    r->h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    r->h.nlmsg_type = (unsigned short)type;
    r->h.nlmsg_flags = (unsigned short)flags;
    ((struct ifinfomsg *)NLMSG_DATA(&r->h))->ifi_family = AF_UNSPEC;
    attr(r, IFLA_IFNAME, name, strlen(name) + 1);
    return 0;
}

int nl_bridge_add(const char *name)
{
    struct nlreq r;
    int rc = link_msg(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, name);
    if (rc < 0)
        return rc;
    struct rtattr *info = attr(&r, IFLA_LINKINFO, NULL, 0);
    attr(&r, IFLA_INFO_KIND, "bridge", 7);
    attr_end(&r, info);
    return talk(&r, "creating bridge", name);
}

int nl_link_del(const char *name)
{
    struct nlreq r;
    int rc = link_msg(&r, RTM_DELLINK, 0, name);
    return rc < 0 ? rc : talk(&r, "deleting", name);
}

int nl_link_up(const char *name)
{
    struct nlreq r;
    int rc = link_msg(&r, RTM_NEWLINK, 0, name);
    if (rc < 0)
        return rc;
    struct ifinfomsg *ifi = NLMSG_DATA(&r.h);
    ifi->ifi_flags = IFF_UP;
    ifi->ifi_change = IFF_UP;
    return talk(&r, "bringing up", name);
}

int nl_link_master(const char *name, const char *master)
{
    unsigned idx = if_nametoindex(master);
    if (!idx)
        return fail(ENODEV, "no bridge %s", master);
    struct nlreq r;
    int rc = link_msg(&r, RTM_NEWLINK, 0, name);
    if (rc < 0)
        return rc;
    attr(&r, IFLA_MASTER, &idx, sizeof(idx));
    return talk(&r, "attaching", name);
}

int nl_addr_add(const char *name, uint32_t addr_be, int prefix)
{
    unsigned idx = if_nametoindex(name);
    if (!idx)
        return fail(ENODEV, "no interface %s", name);
    struct nlreq r;
    memset(&r, 0, sizeof(r));
    r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
    r.h.nlmsg_type = RTM_NEWADDR;
    r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
    struct ifaddrmsg *ifa = NLMSG_DATA(&r.h);
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_index = idx;
    attr(&r, IFA_LOCAL, &addr_be, 4);
    attr(&r, IFA_ADDRESS, &addr_be, 4);
    return talk(&r, "adding an address to", name);
}

bool nl_link_exists(const char *name)
{
    return if_nametoindex(name) != 0;
}

int nl_tap_add(const char *name)
{
    if (strlen(name) >= IFNAMSIZ)
        return fail(EINVAL, "interface name %s is too long", name);
    _cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return fail(errno, "cannot open /dev/net/tun: %m");
    struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
    memcpy(ifr.ifr_name, name, strlen(name));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0)
        return fail(errno, "cannot create tap %s: %m", name);
    return 0;
}

static int write_sysctl(const char *path, const char *value)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write_all(fd, value, strlen(value)) < 0)
        return fail(errno ? errno : EIO, "cannot write %s: %m", path);
    return 0;
}

int nl_isolate(const char *name, bool forward)
{
    char path[128];
    snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", name);
    int r = write_sysctl(path, forward ? "1" : "0");
    snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
    if (r == 0)
        r = write_sysctl(path, "1");
    return r;
}

int nl_ip_forward_on(void)
{
    static const char path[] = "/proc/sys/net/ipv4/ip_forward";
    char v[4] = "";
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && read(fd, v, sizeof(v) - 1) > 0 && v[0] == '1')
        return 0;
    int r = write_sysctl(path, "1");
    return r < 0 ? r : 1;
}

/* ---- reading addresses and routes ---------------------------------------- */

struct prefixes {
    struct nl_prefix *v;
    size_t n, cap;
};

static int add_prefix(struct prefixes *p, uint32_t addr_be, int prefix, int ifindex, bool route)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 32;
        struct nl_prefix *v = realloc(p->v, cap * sizeof(*v));
        if (!v)
            return fail(ENOMEM, "out of memory");
        p->v = v, p->cap = cap;
    }
    p->v[p->n++] = (struct nl_prefix){ ntohl(addr_be), prefix, ifindex, route };
    return 0;
}

static int parse_addr(struct nlmsghdr *h, struct prefixes *p)
{
    struct ifaddrmsg *ifa = NLMSG_DATA(h);
    int len = (int)IFA_PAYLOAD(h);
    uint32_t addr = 0;
    bool have = false;
    if (ifa->ifa_family != AF_INET)
        return 0;
    for (struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len))
        if ((a->rta_type == IFA_LOCAL || (a->rta_type == IFA_ADDRESS && !have)) && RTA_PAYLOAD(a) == 4) {
            memcpy(&addr, RTA_DATA(a), 4);
            have = true;
        }
    return have ? add_prefix(p, addr, ifa->ifa_prefixlen, (int)ifa->ifa_index, false) : 0;
}

static int parse_route(struct nlmsghdr *h, struct prefixes *p)
{
    struct rtmsg *rt = NLMSG_DATA(h);
    int len = (int)RTM_PAYLOAD(h), oif = 0;
    uint32_t dst = 0, table = rt->rtm_table;
    if (rt->rtm_family != AF_INET || rt->rtm_type != RTN_UNICAST || rt->rtm_dst_len == 0)
        return 0;
    for (struct rtattr *a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == RTA_DST && RTA_PAYLOAD(a) == 4)
            memcpy(&dst, RTA_DATA(a), 4);
        else if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) == 4)
            memcpy(&oif, RTA_DATA(a), 4);
        else if (a->rta_type == RTA_TABLE && RTA_PAYLOAD(a) == 4)
            memcpy(&table, RTA_DATA(a), 4);
    }
    return table == RT_TABLE_LOCAL ? 0 : add_prefix(p, dst, rt->rtm_dst_len, oif, true);
}

#define DUMP_BUF 65536

/* One dump request (RTM_GETADDR or RTM_GETROUTE) and all its answers. */
static int dump(int type, struct prefixes *p)
{
    _cleanup_free_ char *buf = malloc(DUMP_BUF);
    if (!buf)
        return fail(ENOMEM, "out of memory");
    _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return fail(errno, "netlink: %m");
    struct {
        struct nlmsghdr h;
        struct rtmsg m;          /* as large as an ifaddrmsg; family first in both */
    } req = { .h = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg)), .nlmsg_type = (unsigned short)type,
                     .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
              .m = { .rtm_family = AF_INET } };
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    if (sendto(fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return fail(errno, "netlink dump: %m");
    for (;;) {
        ssize_t n = recv(fd, buf, DUMP_BUF, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return fail(n < 0 ? errno : EIO, "netlink dump: %s", n < 0 ? strerror(errno) : "no answer");
        unsigned len = (unsigned)n;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_type == NLMSG_DONE)
                return 0;
            if (h->nlmsg_type == NLMSG_ERROR) {
                int e = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
                return fail(e ? e : EIO, "netlink dump: %s", strerror(e ? e : EIO));
            }
            int r = type == RTM_GETADDR ? parse_addr(h, p) : parse_route(h, p);
            if (r < 0)
                return r;
        }
    }
}

int nl_ipv4_prefixes(struct nl_prefix **out, size_t *n)
{
    struct prefixes p = { 0 };
    int r = dump(RTM_GETADDR, &p);
    if (r == 0)
        r = dump(RTM_GETROUTE, &p);
    if (r < 0) {
        free(p.v);
        return r;
    }
    *out = p.v;
    *n = p.n;
    return 0;
}
