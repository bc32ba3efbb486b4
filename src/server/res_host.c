/* The host resource (CPUs, memory, load, and which VM engines work here and
 * why), the API's own description and its OpenAPI document. */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "driver/driver.h"
#include "net/net.h"
#include "util/util.h"

/* /proc files report size 0, so read_file() cannot read them. */
static bool read_proc(const char *path, char *buf, size_t len)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read_full(fd, buf, len - 1);
    buf[n > 0 ? n : 0] = 0;
    return n > 0;
}

static int64_t meminfo(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    long long kb = 0;
    return p && sscanf(p + strlen(key), ": %lld kB", &kb) == 1 ? kb * 1024 : -1;
}

int h_host(struct server *s, struct req *r, struct resp *out)
{
    struct json_object *h = json_object_new_object();
    struct utsname u;
    if (uname(&u) == 0) {
        json_object_object_add(h, "hostname", json_object_new_string(u.nodename));
        json_object_object_add(h, "kernel", json_object_new_string(u.release));
    }
    json_object_object_add(h, "cpus", json_object_new_int64(sysconf(_SC_NPROCESSORS_ONLN)));
    char mi[8192], la[256];
    if (read_proc("/proc/meminfo", mi, sizeof(mi))) {
        struct json_object *m = json_object_new_object();
        json_object_object_add(m, "total", json_object_new_int64(meminfo(mi, "MemTotal")));
        json_object_object_add(m, "available", json_object_new_int64(meminfo(mi, "MemAvailable")));
        json_object_object_add(h, "memory", m);
    }
    double l1, l5, l15;
    if (read_proc("/proc/loadavg", la, sizeof(la)) &&
        sscanf(la, "%lf %lf %lf", &l1, &l5, &l15) == 3) {
        struct json_object *l = json_object_new_array();
        double v[3] = { l1, l5, l15 };
        for (int i = 0; i < 3; i++) {
            char t[32];
            snprintf(t, sizeof(t), "%.2f", v[i]);
            json_object_array_add(l, json_object_new_double_s(v[i], t));
        }
        json_object_object_add(h, "load", l);
    }
    /* Counters since boot (seconds, all CPUs): a client's graph of CPU busy
     * is the change in busy over the change in busy + idle between reads. */
    char st[512];
    unsigned long long t[8] = { 0 };
    if (read_proc("/proc/stat", st, sizeof(st)) &&
        sscanf(st, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &t[0], &t[1], &t[2], &t[3], &t[4],
               &t[5], &t[6], &t[7]) == 8) {
        double hz = (double)sysconf(_SC_CLK_TCK);
        struct json_object *c = json_object_new_object();
        json_object_object_add(c, "busy", json_object_new_double((double)(t[0] + t[1] + t[2] + t[5] + t[6] + t[7]) / hz));
        json_object_object_add(c, "idle", json_object_new_double((double)(t[3] + t[4]) / hz));
        json_object_object_add(h, "cpu_time", c);
    }
    json_object_object_add(h, "engines", drivers_describe(s->drivers));
    struct json_object *net = json_object_new_object();
    struct json_object *dhcp = dhcp_describe(s->net);
    json_object_object_add(dhcp, "problems", networks_problems(s));
    json_object_object_add(net, "dhcp", dhcp);
    json_object_object_add(net, "isolation", firewall_describe(s->net));
    json_object_object_add(h, "networking", net);
    /* Where admins may name host files (--host-path-allow): theirs to know. */
    if (r->who.role >= ROLE_ADMIN) {
        struct json_object *allow = json_object_new_array();
        for (size_t i = 0; i < s->paths.nallow; i++)
            json_object_array_add(allow, json_object_new_string(s->paths.allow[i]));
        json_object_object_add(h, "host_path_allow", allow);
    }
    return api_sync(out, 200, h);
}

int h_api_info(struct server *s, struct req *r, struct resp *out)
{
    (void)r;
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "api_version", json_object_new_string("1"));
    json_object_object_add(m, "server", json_object_new_string("corrald"));
    json_object_object_add(m, "schema_version", json_object_new_int(db_schema_version(s->db)));
    json_object_object_add(m, "openapi", json_object_new_string(API_PREFIX "/openapi.json"));
    return api_sync(out, 200, m);
}

int h_openapi(struct server *s, struct req *r, struct resp *out)
{
    (void)s, (void)r;
    out->raw = malloc(openapi_json_len);
    if (!out->raw)
        return api_error(out, E_INTERNAL, "out of memory");
    memcpy(out->raw, openapi_json, openapi_json_len);
    out->raw_len = openapi_json_len;
    out->raw_type = "application/json";
    return out->status = 200;
}
