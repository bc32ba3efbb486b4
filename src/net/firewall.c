/* Isolation of the host's own addresses from guest networks: one nftables
 * table per corrald (`inet corral_XXXXXXXX`, from its state directory, so
 * two corralds on a host do not replace each other's), rebuilt whole from
 * the list of networks.  See net.h.
 *
 * Why a firewall at all: a Linux host answers for all its local addresses
 * on every interface, so without it a guest on network A reaches the
 * gateway of network B, the host's LAN address and any service bound to
 * 0.0.0.0 (corrald's API included).  Forwarding being off per bridge
 * (nl_isolate) stops routing between networks, not this; the forward chain
 * keeps networks apart even where forwarding is on (a NAT network, or a
 * host routing for others), and the postrouting chain masquerades NAT
 * networks. */
#include "net/net_impl.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc/proc.h"
#include "util/util.h"

void firewall_init(struct net_host *h, const char *state_dir)
{
    char real[4096];
    uint8_t d[crypto_hash_sha256_BYTES];
    if (!realpath(state_dir, real))
        snprintf(real, sizeof(real), "%s", state_dir);
    crypto_hash_sha256(d, (const uint8_t *)real, strlen(real));
    snprintf(h->table, sizeof(h->table), "corral_%02x%02x%02x%02x", d[0], d[1], d[2], d[3]);
    if (!proc_find("nft", h->nft_bin, sizeof(h->nft_bin)))
        log_warn("nft is not installed: guests can reach every address of the host, not only their "
                 "network's gateway (apt-get install nftables)");
}

struct json_object *firewall_describe(struct net_host *h)
{
    struct json_object *o = json_object_new_object();
    char why[600];
    pthread_mutex_lock(&h->fw_lock);
    bool ok = h->nft_bin[0] && !h->fw_error[0];
    if (!h->nft_bin[0])
        snprintf(why, sizeof(why), "nft is not installed (apt-get install nftables): guests can reach "
                 "every address of the host");
    else if (h->fw_error[0])
        snprintf(why, sizeof(why), "the nftables table inet %s could not be loaded: %s", h->table, h->fw_error);
    else
        snprintf(why, sizeof(why), "nftables table inet %s (%s)", h->table, h->nft_bin);
    pthread_mutex_unlock(&h->fw_lock);
    json_object_object_add(o, "available", json_object_new_boolean(ok));
    json_object_object_add(o, "reason", json_object_new_string(why));
    json_object_object_add(o, "table", json_object_new_string(h->table));
    return o;
}

/* Appends to a growing string; false once out of memory. */
static bool add(char **buf, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool add(char **buf, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *piece;
    int n = vasprintf(&piece, fmt, ap);
    va_end(ap);
    char *grown = n < 0 ? NULL : realloc(*buf, *len + (size_t)n + 1);
    if (!grown) {
        if (n >= 0)
            free(piece);
        return false;
    }
    memcpy(grown + *len, piece, (size_t)n + 1);
    free(piece);
    *buf = grown;
    *len += (size_t)n;
    return true;
}

/* Creating the table first makes the delete succeed on the first load;
 * nft applies the file as one transaction. */
char *firewall_ruleset(const struct net_host *h, const struct net_spec *nets, size_t n)
{
    char *b = NULL;
    size_t len = 0;
    bool ok = add(&b, &len, "table inet %s {}\ndelete table inet %s\n", h->table, h->table);
    if (n == 0)          /* nothing to guard: no table left behind */
        return ok ? b : NULL;
    ok = ok && add(&b, &len, "table inet %s {\n  chain input {\n"
                   "    type filter hook input priority filter; policy accept;\n", h->table);
    for (size_t i = 0; ok && i < n; i++)
        ok = add(&b, &len, "    iifname \"%s\" udp dport 67 accept\n"
                 "    iifname \"%s\" ip daddr %s accept\n"
                 "    iifname \"%s\" counter drop comment \"network %s\"\n",
                 nets[i].bridge, nets[i].bridge, nets[i].gateway, nets[i].bridge, nets[i].name);
    /* Routing: nothing into or out of a bridge, except a NAT network's own
     * connections beyond the host's networks and their replies.  Frames a
     * bridge forwards within itself (br_netfilter hands them here) pass. */
    ok = ok && add(&b, &len, "  }\n  chain forward {\n"
                   "    type filter hook forward priority filter; policy accept;\n");
    bool any_nat = false;
    for (size_t i = 0; ok && i < n; i++) {
        const char *br = nets[i].bridge;
        ok = add(&b, &len, "    iifname \"%s\" oifname \"%s\" accept\n", br, br);
        if (ok && nets[i].nat) {
            any_nat = true;
            ok = add(&b, &len, "    iifname \"%s\" ip saddr %s oifname != {", br, nets[i].subnet);
            for (size_t k = 0; ok && k < n; k++)
                ok = add(&b, &len, "%s \"%s\"", k ? "," : "", nets[k].bridge);
            ok = ok && add(&b, &len, " } accept\n"
                           "    oifname \"%s\" ct state established,related accept\n", br);
        }
        ok = ok && add(&b, &len, "    iifname \"%s\" counter drop\n    oifname \"%s\" counter drop\n", br, br);
    }
    ok = ok && add(&b, &len, "  }\n");
    if (any_nat) {
        ok = ok && add(&b, &len, "  chain postrouting {\n"
                       "    type nat hook postrouting priority srcnat; policy accept;\n");
        for (size_t i = 0; ok && i < n; i++)
            if (nets[i].nat)
                ok = add(&b, &len, "    ip saddr %s oifname != \"%s\" masquerade comment \"network %s\"\n",
                         nets[i].subnet, nets[i].bridge, nets[i].name);
        ok = ok && add(&b, &len, "  }\n");
    }
    ok = ok && add(&b, &len, "}\n");
    if (!ok)
        free(b);
    return ok ? b : NULL;
}

int firewall_apply(struct net_host *h, const struct net_spec *nets, size_t n)
{
    if (!h->nft_bin[0])
        return 0;
    char *rules = firewall_ruleset(h, nets, n);
    if (!rules)
        return fail(ENOMEM, "out of memory");
    char *argv[] = { h->nft_bin, "-f", "-", NULL };
    pthread_mutex_lock(&h->fw_lock);
    int r = proc_run(argv, rules);
    snprintf(h->fw_error, sizeof(h->fw_error), "%s", r < 0 ? err_msg() : "");
    pthread_mutex_unlock(&h->fw_lock);
    free(rules);
    return r;
}
