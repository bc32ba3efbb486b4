/* Networks: a named Linux bridge per network with its own IPv4 subnet; the
 * bridge holds the subnet's first address (the gateway).  VMs attach NICs
 * through taps on the bridge (res_vms.c); each NIC gets a static address
 * from the subnet, recorded with the VM, which the network's dnsmasq hands
 * out by MAC (net/net.h): the hosts file is rewritten whenever a VM's NICs
 * may have changed (networks_nics_changed()).
 *
 * Isolation: separate bridges share no layer 2, and forwarding is turned
 * off for packets arriving on each bridge (nl_isolate), so the host never
 * routes between two networks even with net.ipv4.ip_forward=1; the
 * nftables table (firewall.c) keeps guests off every host address but
 * their own gateway, and routes nothing into or out of a bridge, except for
 * a NAT network ("nat": true): its guests' connections beyond the host's
 * networks, masqueraded as the host, and their replies (net.ipv4.ip_forward
 * is turned on for it).
 *
 * A subnet must not be a special-purpose range (loopback, multicast, …)
 * nor overlap any of the host's own addresses or routes (its LAN, a VPN's
 * routes) other than those on corral's own bridges, nor another network:
 * its gateway address would sit on a bridge and its route would shadow the
 * host's.
 *
 * The row is written before the bridge is made, and networks_recover()
 * recreates missing bridges at start, so a crash or a host reboot leaves
 * every network usable — unless the host has meanwhile got an address or
 * route in its subnet: then the bridge is not made and the network's view
 * says why ("error"). */
#include "server/server.h"
#include "server/usage.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <net/if.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/net.h"
#include "util/util.h"

#define NET_COLS "name, bridge, subnet, gateway, nat, description, created"

/* "10.1.2.0/24" -> network address (host order) and prefix (8..30). */
static int parse_subnet(const char *s, uint32_t *net, int *prefix)
{
    char ip[32];
    const char *slash = s ? strchr(s, '/') : NULL;
    uint64_t p;
    struct in_addr a;
    if (!slash || (size_t)(slash - s) >= sizeof(ip) || parse_uint(slash + 1, 8, 30, &p) < 0)
        return fail(EINVAL, "subnet must be IPv4 CIDR like 10.10.1.0/24 (prefix 8..30)");
    snprintf(ip, sizeof(ip), "%.*s", (int)(slash - s), s);
    if (inet_pton(AF_INET, ip, &a) != 1)
        return fail(EINVAL, "subnet must be IPv4 CIDR like 10.10.1.0/24 (prefix 8..30)");
    uint32_t mask = ~0u << (32 - p), n = ntohl(a.s_addr);
    if (n & ~mask)
        return fail(EINVAL, "subnet %s has host bits set: did you mean %u.%u.%u.%u/%u?", s, (n & mask) >> 24,
                    ((n & mask) >> 16) & 255, ((n & mask) >> 8) & 255, (n & mask) & 255, (unsigned)p);
    *net = n;
    *prefix = (int)p;
    return 0;
}

static void ip_str(uint32_t host_order, char out[16])
{
    struct in_addr a = { htonl(host_order) };
    inet_ntop(AF_INET, &a, out, 16);
}

bool subnet_overlaps(uint32_t a, int pa, uint32_t b, int pb)
{
    int p = MIN(pa, pb);
    uint32_t m = p ? ~0u << (32 - p) : 0;
    return (a & m) == (b & m);
}

const char *subnet_reserved(uint32_t net, int prefix)
{
    static const struct { uint32_t net; int prefix; const char *what; } special[] = {
        { 0x00000000, 8, "0.0.0.0/8, the unspecified \"this network\" range" },
        { 0x7f000000, 8, "127.0.0.0/8, loopback" },
        { 0xa9fe0000, 16, "169.254.0.0/16, link-local" },
        { 0xe0000000, 4, "224.0.0.0/4, multicast" },
        { 0xf0000000, 4, "240.0.0.0/4, reserved (with the broadcast address 255.255.255.255)" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(special); i++)
        if (subnet_overlaps(net, prefix, special[i].net, special[i].prefix))
            return special[i].what;
    return NULL;
}

const struct nl_prefix *subnet_host_overlap(uint32_t net, int prefix, const struct nl_prefix *host, size_t n,
                                            const int *skip, size_t nskip)
{
    for (size_t i = 0; i < n; i++) {
        bool ours = false;
        for (size_t k = 0; k < nskip && !ours; k++)
            ours = host[i].ifindex && host[i].ifindex == skip[k];
        if (!ours && subnet_overlaps(net, prefix, host[i].addr, host[i].prefix))
            return &host[i];
    }
    return NULL;
}

/* Why NET/PREFIX may not be a network's subnet now, into why: a host
 * address or route in it (except on corral's own bridges).  Reading the
 * host's tables may fail: then the answer is no, said so in why. */
static bool host_conflict(struct server *s, uint32_t net, int prefix, char *why, size_t len)
{
    struct nl_prefix *host = NULL;
    size_t n = 0;
    if (nl_ipv4_prefixes(&host, &n) < 0) {
        snprintf(why, len, "cannot read the host's addresses and routes: %s", err_msg());
        return true;
    }
    struct json_object *rows = NULL;
    db_rows(s->db, &rows, "SELECT bridge FROM networks", "");
    size_t nb = rows ? json_object_array_length(rows) : 0;
    int *ours = calloc(nb + 1, sizeof(*ours));
    for (size_t i = 0; ours && i < nb; i++)
        ours[i] = (int)if_nametoindex(json_str(json_object_array_get_idx(rows, i), "bridge"));
    json_object_put(rows);
    const struct nl_prefix *hit = ours ? subnet_host_overlap(net, prefix, host, n, ours, nb) : NULL;
    if (hit) {
        char a[16], dev[IF_NAMESIZE] = "";
        ip_str(hit->addr, a);
        if (!hit->ifindex || !if_indextoname((unsigned)hit->ifindex, dev))
            snprintf(dev, sizeof(dev), "?");
        snprintf(why, len, "it overlaps the host's %s %s/%d on %s", hit->route ? "route" : "address", a,
                 hit->prefix, dev);
    } else if (!ours) {
        snprintf(why, len, "out of memory");
    }
    free(ours);
    free(host);
    return hit || !ours;
}

/* Why a network's stored SUBNET may not get its bridge back now, into why. */
static bool subnet_refused(struct server *s, const char *subnet, char *why, size_t len)
{
    uint32_t net;
    int prefix;
    const char *special;
    if (parse_subnet(subnet, &net, &prefix) < 0)
        snprintf(why, len, "%s", err_msg());
    else if ((special = subnet_reserved(net, prefix)))
        snprintf(why, len, "its subnet %s is in %s", subnet, special);
    else if (!host_conflict(s, net, prefix, why, len))
        return false;
    return true;
}

static int load_network(struct server *s, const char *name, struct json_object **out, struct resp *resp)
{
    if (!name_valid(name))
        return api_error(resp, E_BAD_NAME, "'%.64s' is not a valid network name " NAME_RULE, name);
    if (db_row(s->db, out, "SELECT " NET_COLS " FROM networks WHERE name = ?", "s", name) < 0)
        return api_error(resp, E_NOT_FOUND, "no network '%s'", name);
    return 0;
}

/* The network's DHCP hosts file: "MAC,ADDRESS" per NIC on it (malloc'ed). */
static char *dhcp_hosts(struct server *s, const char *network)
{
    struct json_object *rows = NULL;
    usage_network(s, network, &rows, NULL);
    size_t count = rows ? json_object_array_length(rows) : 0;
    char *text = calloc(count + 1, 40);
    for (size_t i = 0, len = 0; text && i < count; i++) {
        struct json_object *o = json_object_array_get_idx(rows, i);
        if (json_str(o, "mac") && json_str(o, "address"))
            len += (size_t)snprintf(text + len, 40, "%.17s,%.15s\n", json_str(o, "mac"), json_str(o, "address"));
    }
    json_object_put(rows);
    return text;
}

static bool nat_of(struct json_object *n)
{
    struct json_object *v = json_object_object_get(n, "nat");
    return v && json_object_get_boolean(v);
}

static struct net_spec net_spec_of(struct json_object *n)
{
    return (struct net_spec){ json_str(n, "name"), json_str(n, "bridge"), json_str(n, "subnet"),
                                json_str(n, "gateway"), nat_of(n) };
}

/* A row as the API shows it: nat as a boolean. */
static struct json_object *net_view(struct json_object *n)
{
    json_object_object_add(n, "nat", json_object_new_boolean(nat_of(n)));
    return n;
}

static void start_dhcp(struct server *s, struct json_object *n)
{
    pthread_mutex_lock(&s->hosts_lock);
    char *hosts = dhcp_hosts(s, json_str(n, "name"));
    struct net_spec ns = net_spec_of(n);
    if (!hosts || dhcp_start(s->net, &ns, hosts) < 0)
        log_error("network %s: no DHCP: %s", ns.name, hosts ? err_msg() : "out of memory");
    pthread_mutex_unlock(&s->hosts_lock);
    free(hosts);
}

/* Rebuilds the isolation table from every network.  The lock keeps the
 * last table loaded the one built from the latest rows. */
static void apply_firewall(struct server *s)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    struct json_object *rows = NULL;
    if (db_rows(s->db, &rows, "SELECT " NET_COLS " FROM networks ORDER BY name", "") < 0) {
        log_error("networks: cannot read them for the firewall: %s", err_msg());
        pthread_mutex_unlock(&lock);
        return;
    }
    size_t n = json_object_array_length(rows);
    struct net_spec *nets = calloc(n + 1, sizeof(*nets));
    for (size_t i = 0; nets && i < n; i++)
        nets[i] = net_spec_of(json_object_array_get_idx(rows, i));
    if (!nets || firewall_apply(s->net, nets, n) < 0)
        log_error("networks: host isolation not applied: %s", nets ? err_msg() : "out of memory");
    free(nets);
    json_object_put(rows);
    pthread_mutex_unlock(&lock);
}

void networks_nics_changed(struct server *s)
{
    pthread_mutex_lock(&s->hosts_lock);
    struct json_object *rows = NULL;
    db_rows(s->db, &rows, "SELECT name, bridge FROM networks", "");
    for (size_t i = 0; rows && i < json_object_array_length(rows); i++) {
        struct json_object *n = json_object_array_get_idx(rows, i);
        char *hosts = dhcp_hosts(s, json_str(n, "name"));
        if (hosts && dhcp_update(s->net, json_str(n, "bridge"), hosts) < 0)
            log_error("network %s: DHCP hosts not served: %s", json_str(n, "name"), err_msg());
        free(hosts);
    }
    json_object_put(rows);
    pthread_mutex_unlock(&s->hosts_lock);
}

/* A NAT network needs the host to route: net.ipv4.ip_forward on.  Turning
 * it on turns on forwarding on every interface, so the other bridges are
 * isolated again (the firewall's forward chain guards them as well). */
static void ip_forward_for(struct server *s, const char *network)
{
    int r = nl_ip_forward_on();
    if (r < 0) {
        log_error("network %s: NAT needs net.ipv4.ip_forward: %s", network, err_msg());
        return;
    }
    if (r == 0)
        return;
    log_info("network %s: turned on net.ipv4.ip_forward for NAT", network);
    struct json_object *rows = NULL;
    db_rows(s->db, &rows, "SELECT bridge, nat FROM networks", "");
    for (size_t i = 0; rows && i < json_object_array_length(rows); i++) {
        struct json_object *o = json_object_array_get_idx(rows, i);
        if (nl_link_exists(json_str(o, "bridge")) && nl_isolate(json_str(o, "bridge"), nat_of(o)) < 0)
            log_warn("%s", err_msg());
    }
    json_object_put(rows);
}

/* Makes the bridge: up, isolated (forwarding on for NAT), with the gateway address. */
static int bridge_make(const char *bridge, const char *subnet, bool nat)
{
    uint32_t net;
    int prefix, r = parse_subnet(subnet, &net, &prefix);
    if (r == 0 && (r = nl_bridge_add(bridge)) == 0) {
        if ((r = nl_isolate(bridge, nat)) == 0 && (r = nl_addr_add(bridge, htonl(net + 1), prefix)) == 0)
            r = nl_link_up(bridge);
        if (r < 0)
            nl_link_del(bridge);
    }
    return r;
}

int h_networks_list(struct server *s, struct req *r, struct resp *out)
{
    (void)r;
    struct json_object *rows;
    int rc = db_rows(s->db, &rows, "SELECT " NET_COLS " FROM networks ORDER BY name", "");
    if (rc < 0)
        return api_errno(out, rc);
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        struct json_object *n = net_view(json_object_array_get_idx(rows, i));
        json_object_object_add(n, "dhcp", dhcp_status(s->net, json_str(n, "bridge")));
    }
    return api_sync(out, 200, rows);
}

struct json_object *networks_problems(struct server *s)
{
    struct json_object *list = json_object_new_array(), *rows = NULL;
    if (db_rows(s->db, &rows, "SELECT name, bridge FROM networks ORDER BY name", "") < 0) {
        json_object_array_add(list, json_object_new_string(err_msg()));
        return list;
    }
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        struct json_object *n = json_object_array_get_idx(rows, i);
        struct json_object *d = dhcp_status(s->net, json_str(n, "bridge"));
        const char *why = json_str(d, "error") ? json_str(d, "error") : json_str(d, "reason");
        if (why && json_object_get_boolean(json_object_object_get(d, "available"))) {
            char line[512];
            snprintf(line, sizeof(line), "network %s: %s", json_str(n, "name"), why);
            json_object_array_add(list, json_object_new_string(line));
        }
        json_object_put(d);
    }
    json_object_put(rows);
    return list;
}

static int answer(struct server *s, struct resp *out, int status, struct json_object *n)
{
    net_view(n);
    api_etag(n, out->etag);
    struct json_object *vms = NULL, *cts = NULL;
    usage_network(s, json_str(n, "name"), &vms, &cts);
    json_object_object_add(n, "nics", vms ? vms : json_object_new_array());
    json_object_object_add(n, "containers", cts ? cts : json_object_new_array());
    bool present = nl_link_exists(json_str(n, "bridge"));
    char why[256];
    json_object_object_add(n, "bridge_present", json_object_new_boolean(present));
    if (!present && subnet_refused(s, json_str(n, "subnet"), why, sizeof(why)))
        json_object_object_add(n, "error", json_object_new_string(why));
    json_object_object_add(n, "dhcp", dhcp_status(s->net, json_str(n, "bridge")));
    return api_sync(out, status, n);
}

int h_network_get(struct server *s, struct req *r, struct resp *out)
{
    struct json_object *n;
    int rc = load_network(s, r->param[0], &n, out);
    return rc ? rc : answer(s, out, 200, n);
}

int h_networks_create(struct server *s, struct req *r, struct resp *out)
{
    const char *name = NULL, *subnet = NULL, *desc = "";
    bool nat = false;
    const struct field f[] = {
        { "name", F_STRING, true, &name, NULL },
        { "subnet", F_STRING, true, &subnet, NULL },
        { "nat", F_BOOL, false, &nat, NULL },
        { "description", F_STRING, false, &desc, NULL },
    };
    int rc = api_fields(r, f, ARRAY_SIZE(f), out);
    if (rc)
        return rc;
    uint32_t net;
    int prefix;
    if (!name_valid(name))
        return api_error(out, E_BAD_NAME, "'%.64s' is not a valid network name " NAME_RULE, name);
    if ((rc = api_check_description(desc, out)))
        return rc;
    if (parse_subnet(subnet, &net, &prefix) < 0)
        return api_error(out, E_BAD_FIELD, "%s", err_msg());
    char canon[24], gw[16], bridge[16], why[256];
    ip_str(net, gw);
    snprintf(canon, sizeof(canon), "%s/%d", gw, prefix);
    const char *special = subnet_reserved(net, prefix);
    if (special)
        return api_error(out, E_BAD_FIELD, "subnet %s is in %s: pick a private range such as 10.x.y.0/24",
                         canon, special);
    if (host_conflict(s, net, prefix, why, sizeof(why)))
        return api_error(out, E_CONFLICT, "subnet %s cannot be a network here: %s", canon, why);
    ip_str(net + 1, gw);
    uint8_t rnd[3];
    randombytes_buf(rnd, sizeof(rnd));
    snprintf(bridge, sizeof(bridge), "cbr%02x%02x%02x", rnd[0], rnd[1], rnd[2]);

    /* No overlap with another network's subnet. */
    struct json_object *rows = NULL;
    if ((rc = db_begin(s->db)) < 0)
        return api_errno(out, rc);
    db_rows(s->db, &rows, "SELECT name, subnet FROM networks", "");
    for (size_t i = 0; rows && i < json_object_array_length(rows) && !rc; i++) {
        struct json_object *o = json_object_array_get_idx(rows, i);
        uint32_t n2;
        int p2;
        if (parse_subnet(json_str(o, "subnet"), &n2, &p2) == 0) {
            uint32_t m = ~0u << (32 - MIN(prefix, p2));
            if ((net & m) == (n2 & m))
                rc = api_error(out, E_CONFLICT, "subnet %s overlaps network '%s' (%s)", canon, json_str(o, "name"),
                               json_str(o, "subnet"));
        }
    }
    json_object_put(rows);
    if (!rc) {
        int e = db_exec(s->db, "INSERT INTO networks (name, bridge, subnet, gateway, nat, description, created) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)", "ssssisi", name, bridge, canon, gw, (int64_t)nat, desc,
                        (int64_t)time(NULL));
        if (e == -EEXIST)
            rc = api_error(out, E_EXISTS, "network '%s' already exists", name);
        else if (e < 0)
            rc = api_errno(out, e);
    }
    if (rc) {
        db_rollback(s->db);
        return rc;
    }
    if ((rc = db_commit(s->db)) < 0)
        return api_errno(out, rc);
    if ((rc = bridge_make(bridge, canon, nat)) < 0) {
        db_exec(s->db, "DELETE FROM networks WHERE name = ?", "s", name);
        return api_errno(out, rc);
    }
    /* Ready (firewall, forwarding, DHCP) before the event tells clients it is there. */
    apply_firewall(s);
    if (nat)
        ip_forward_for(s, name);
    struct json_object *n;
    if ((rc = load_network(s, name, &n, out)))
        return rc;
    start_dhcp(s, n);
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "subnet", json_object_new_string(canon));
    json_object_object_add(d, "bridge", json_object_new_string(bridge));
    json_object_object_add(d, "nat", json_object_new_boolean(nat));
    events_record(s->events, &r->who, "network.create", name, d);
    json_object_put(d);
    return answer(s, out, 201, n);
}

int h_network_patch(struct server *s, struct req *r, struct resp *out)
{
    return api_patch_description(s, r, out, load_network, "UPDATE networks SET description = ? WHERE name = ?", "network.update", h_network_get);
}

/* The distinct KEY values of rows (in their order) as "a,b" into out. */
static void names_of(struct json_object *rows, const char *key, char *out, size_t len)
{
    size_t used = 0;
    const char *last = "";
    for (size_t i = 0; rows && i < json_object_array_length(rows) && used < len; i++) {
        const char *name = json_str(json_object_array_get_idx(rows, i), key);
        if (name && strcmp(name, last))
            used += (size_t)snprintf(out + used, len - used, "%s%s", used ? "," : "", name);
        last = name ? name : last;
    }
}

int h_network_delete(struct server *s, struct req *r, struct resp *out)
{
    struct json_object *n;
    int rc;
    if ((rc = db_begin(s->db)) < 0)
        return api_errno(out, rc);
    if ((rc = load_network(s, r->param[0], &n, out))) {
        db_rollback(s->db);
        return rc;
    }
    struct json_object *nics = NULL, *guests = NULL;
    usage_network(s, r->param[0], &nics, &guests);
    char vms[512] = "", cts[512] = "";
    names_of(nics, "vm", vms, sizeof(vms));
    names_of(guests, "container", cts, sizeof(cts));
    json_object_put(nics);
    json_object_put(guests);
    if (*vms || *cts) {
        api_error(out, E_CONFLICT, "network '%s' is used by %s%s%s%s%s: remove their NICs or delete them first",
                  r->param[0], *vms ? "VM(s) " : "", vms, *vms && *cts ? " and " : "", *cts ? "container(s) " : "",
                  cts);
        json_object_put(n);
        db_rollback(s->db);
        return out->status;
    }
    rc = db_exec(s->db, "DELETE FROM networks WHERE name = ?", "s", r->param[0]);
    rc = rc < 0 ? rc : db_commit(s->db);
    if (rc < 0) {
        db_rollback(s->db);
        json_object_put(n);
        return api_errno(out, rc);
    }
    if (dhcp_stop(s->net, json_str(n, "bridge")) < 0)
        log_warn("network %s: %s", r->param[0], err_msg());
    if (nl_link_del(json_str(n, "bridge")) < 0)
        log_warn("network %s: %s", r->param[0], err_msg());
    json_object_put(n);
    apply_firewall(s);
    events_record(s->events, &r->who, "network.delete", r->param[0], NULL);
    return api_sync(out, 200, NULL);
}

int networks_recover(struct server *s)
{
    struct json_object *rows;
    int rc = db_rows(s->db, &rows, "SELECT " NET_COLS " FROM networks", "");
    if (rc < 0)
        return rc;
    apply_firewall(s);
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        struct json_object *n = json_object_array_get_idx(rows, i);
        if (!nl_link_exists(json_str(n, "bridge"))) {
            char why[256];
            if (subnet_refused(s, json_str(n, "subnet"), why, sizeof(why))) {
                log_error("network %s: not recreating bridge %s: %s", json_str(n, "name"), json_str(n, "bridge"),
                          why);
                continue;
            }
            if (bridge_make(json_str(n, "bridge"), json_str(n, "subnet"), nat_of(n)) < 0) {
                log_error("network %s: cannot recreate bridge %s: %s", json_str(n, "name"),
                          json_str(n, "bridge"), err_msg());
                continue;
            }
            log_info("network %s: recreated bridge %s", json_str(n, "name"), json_str(n, "bridge"));
        }
        if (nat_of(n))
            ip_forward_for(s, json_str(n, "name"));
        start_dhcp(s, n);
    }
    json_object_put(rows);
    return 0;
}

/* ---- addresses for NICs (called by res_vms.c inside its transaction) ---- */

int network_assign(struct server *s, const char *network, const char *want, const char *vm,
                   char addr[16], char bridge[16], struct resp *out)
{
    struct json_object *n, *used = NULL;
    int rc = load_network(s, network, &n, out);
    if (rc)
        return rc;
    uint32_t net, a = 0;
    int prefix;
    parse_subnet(json_str(n, "subnet"), &net, &prefix);
    snprintf(bridge, 16, "%s", json_str(n, "bridge"));
    uint32_t last = net | ~(~0u << (32 - prefix));    /* the broadcast address */
    usage_network_addresses(s, network, vm, &used);
    if (want) {
        struct in_addr ia;
        if (inet_pton(AF_INET, want, &ia) != 1)
            rc = api_error(out, E_BAD_FIELD, "NIC address '%.32s' is not an IPv4 address", want);
        else if ((a = ntohl(ia.s_addr)) <= net + 1 || a >= last)
            rc = api_error(out, E_BAD_FIELD, "NIC address %s is not a free host address of %s (the gateway is "
                           "the first one)", want, json_str(n, "subnet"));
    }
    for (uint32_t cand = want ? a : net + 2; !rc && cand < last; cand = want ? last : cand + 1) {
        char c[16];
        ip_str(cand, c);
        bool taken = false;
        for (size_t i = 0; used && i < json_object_array_length(used) && !taken; i++)
            taken = !strcmp(c, json_object_get_string(json_object_array_get_idx(used, i)));
        if (!taken) {
            snprintf(addr, 16, "%s", c);
            break;
        }
        if (want)
            rc = api_error(out, E_CONFLICT, "address %s is already used on network '%s'", want, network);
    }
    if (!rc && !addr[0])
        rc = api_error(out, E_CONFLICT, "network '%s' has no free address left", network);
    json_object_put(used);
    json_object_put(n);
    return rc;
}
