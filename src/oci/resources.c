/* linux.resources -> struct oci_resources.  The same parser reads
 * config.json's section and `update -r FILE`, so the prefix of every error
 * names where the value came from.  Values are checked for type and range
 * here; whether the host's cgroups accept them is cgroup.c's business. */
#include "oci/oci_internal.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void oci_resources_init(struct oci_resources *r)
{
    memset(r, 0, sizeof(*r));
    int64_t *unset[] = { &r->mem_limit, &r->mem_reservation, &r->mem_swap, &r->mem_kernel,
                         &r->mem_kernel_tcp, &r->mem_swappiness, &r->cpu_shares, &r->cpu_quota,
                         &r->cpu_period, &r->cpu_burst, &r->cpu_rt_runtime, &r->cpu_rt_period,
                         &r->cpu_idle, &r->pids_limit, &r->blkio_weight, &r->blkio_leaf_weight,
                         &r->net_class_id };
    for (size_t i = 0; i < ARRAY_SIZE(unset); i++)
        *unset[i] = OCI_UNSET;
    r->disable_oom_killer = -1;
}

void oci_resources_free(struct oci_resources *r)
{
    free(r->cpus);
    free(r->mems);
    free(r->weight_devs);
    for (int i = 0; i < OCI_THROTTLE_N; i++)
        free(r->throttle[i]);
    for (size_t i = 0; r->hugepages && i < r->nhugepages; i++)
        free(r->hugepages[i].page_size);
    free(r->hugepages);
    free(r->devices);
    oci_strv_free(r->unified_keys);
    oci_strv_free(r->unified_values);
    oci_resources_init(r);
}

uint64_t oci_shares_to_weight(uint64_t shares)
{
    /* [2, 262144] -> [1, 10000], as runc and crun map it */
    if (shares == 0)
        return 0;
    if (shares < 2)
        shares = 2;
    if (shares > 262144)
        shares = 262144;
    return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t oci_blkio_to_io_weight(uint64_t weight)
{
    /* [10, 1000] -> [1, 10000] */
    if (weight == 0)
        return 0;
    if (weight < 10)
        weight = 10;
    if (weight > 1000)
        weight = 1000;
    return 1 + (weight - 10) * 9999 / 990;
}

/* ---- fields ---- */

struct field {
    const char *key;
    int64_t min, max;
    int64_t *dst;
};

/* The integer members of one section, each optional. */
static int get_fields(json_object *o, const char *path, const struct field *f, size_t n)
{
    if (!json_object_is_type(o, json_type_object))
        return spec_type_err(path, "an object");
    for (size_t i = 0; i < n; i++) {
        json_object *v = spec_member(o, f[i].key);
        char p[256];
        snprintf(p, sizeof(p), "%.200s.%s", path, f[i].key);
        int r;
        if (v && (r = spec_get_int(v, p, f[i].min, f[i].max, f[i].dst)) < 0)
            return r;
    }
    return 0;
}

/* A cpuset list ("0-3,7"): written to a cgroup file as is, so only its
 * characters are checked; the kernel checks the rest. */
static int get_cpuset(json_object *o, const char *path, const char *key, char **out)
{
    json_object *v = spec_member(o, key);
    char p[256];
    snprintf(p, sizeof(p), "%.200s.%s", path, key);
    int r;
    if (!v || (r = spec_get_str(v, p, out)) < 0)
        return v ? r : 0;
    if ((*out)[strspn(*out, "0123456789,-")] || strlen(*out) > 4096)
        return fail(EINVAL, "%s: \"%.64s\" is not a list like \"0-3,7\"", p, *out);
    return 0;
}

static int parse_memory(json_object *o, const char *path, struct oci_resources *r)
{
    const struct field f[] = {
        { "limit", -1, INT64_MAX, &r->mem_limit },
        { "reservation", -1, INT64_MAX, &r->mem_reservation },
        { "swap", -1, INT64_MAX, &r->mem_swap },
        { "kernel", -1, INT64_MAX, &r->mem_kernel },
        { "kernelTCP", -1, INT64_MAX, &r->mem_kernel_tcp },
        { "swappiness", 0, 100, &r->mem_swappiness },
    };
    int ret = get_fields(o, path, f, ARRAY_SIZE(f));
    json_object *v = spec_member(o, "disableOOMKiller");
    bool b;
    char p[256];
    snprintf(p, sizeof(p), "%.200s.disableOOMKiller", path);
    if (ret == 0 && v && (ret = spec_get_bool(v, p, &b)) == 0)
        r->disable_oom_killer = b;
    return ret;
}

static int parse_cpu(json_object *o, const char *path, struct oci_resources *r)
{
    const struct field f[] = {
        { "shares", 0, 262144, &r->cpu_shares },
        { "quota", -1, INT64_MAX, &r->cpu_quota },
        { "period", 0, 1000000, &r->cpu_period },
        { "burst", 0, INT64_MAX, &r->cpu_burst },
        { "realtimeRuntime", -1, INT64_MAX, &r->cpu_rt_runtime },
        { "realtimePeriod", 0, INT64_MAX, &r->cpu_rt_period },
        { "idle", 0, 1, &r->cpu_idle },
    };
    int ret = get_fields(o, path, f, ARRAY_SIZE(f));
    if (ret == 0)
        ret = get_cpuset(o, path, "cpus", &r->cpus);
    if (ret == 0)
        ret = get_cpuset(o, path, "mems", &r->mems);
    return ret;
}

/* An element of weightDevice (ctx: bool true) or throttle*Device. */
static int parse_blkio_dev(json_object *o, const char *p, void *elem, void *ctx)
{
    struct oci_blkio_dev *d = elem;
    bool weight = *(const bool *)ctx;
    json_object *v;
    char fp[320];
    int r;
    int64_t maj = -1, min = -1;
    const struct field f[] = {
        { "major", 0, 0xfff, &maj }, { "minor", 0, 0xfffff, &min },
        { "weight", 10, 1000, &d->weight }, { "leafWeight", 10, 1000, &d->leaf_weight },
    };
    d->weight = d->leaf_weight = OCI_UNSET;
    if ((r = get_fields(o, p, f, weight ? 4 : 2)) < 0)
        return r;
    if (maj < 0 || min < 0)
        return fail(EINVAL, "%s.%s: missing", p, maj < 0 ? "major" : "minor");
    d->major = (uint32_t)maj;
    d->minor = (uint32_t)min;
    if (!weight) {
        if ((r = spec_required(o, p, "rate", fp, sizeof(fp), &v)) < 0 ||
            (r = spec_get_u64(v, fp, &d->rate)) < 0)
            return r;
    }
    return 0;
}

/* weightDevice and throttle*Device: arrays of {major, minor, weight...|rate}. */
static int parse_blkio_devs(json_object *arr, const char *path, bool weight,
                            struct oci_blkio_dev **out, size_t *n)
{
    return spec_get_objects(arr, path, 256, n, out, sizeof(**out), parse_blkio_dev, &weight);
}

static int parse_blockio(json_object *o, const char *path, struct oci_resources *r)
{
    static const char *const throttle[OCI_THROTTLE_N] = {
        "throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice",
        "throttleWriteIOPSDevice" };
    const struct field f[] = {
        { "weight", 0, 1000, &r->blkio_weight },
        { "leafWeight", 0, 1000, &r->blkio_leaf_weight },
    };
    int ret = get_fields(o, path, f, ARRAY_SIZE(f));
    char p[256];
    json_object *v;
    if (ret == 0 && (v = spec_member(o, "weightDevice"))) {
        snprintf(p, sizeof(p), "%.200s.weightDevice", path);
        ret = parse_blkio_devs(v, p, true, &r->weight_devs, &r->nweight_devs);
    }
    for (int i = 0; ret == 0 && i < OCI_THROTTLE_N; i++)
        if ((v = spec_member(o, throttle[i]))) {
            snprintf(p, sizeof(p), "%.200s.%s", path, throttle[i]);
            ret = parse_blkio_devs(v, p, false, &r->throttle[i], &r->nthrottle[i]);
        }
    return ret;
}

/* "2MB", "1GB", "64KB": becomes part of a file name. */
static bool valid_page_size(const char *s)
{
    size_t digits = strspn(s, "0123456789");
    return digits > 0 && digits < 8 && (strcmp(s + digits, "KB") == 0 ||
                                       strcmp(s + digits, "MB") == 0 ||
                                       strcmp(s + digits, "GB") == 0);
}

static int parse_hugepage(json_object *o, const char *p, void *elem, void *ctx)
{
    struct oci_hugepage *h = elem;
    json_object *v;
    char fp[320];
    int ret;
    (void)ctx;
    if ((ret = spec_required(o, p, "pageSize", fp, sizeof(fp), &v)) < 0 ||
        (ret = spec_get_str(v, fp, &h->page_size)) < 0)
        return ret;
    if (!valid_page_size(h->page_size))
        return fail(EINVAL, "%s: \"%.32s\" is not a size like \"2MB\"", fp, h->page_size);
    if ((ret = spec_required(o, p, "limit", fp, sizeof(fp), &v)) < 0 ||
        (ret = spec_get_u64(v, fp, &h->limit)) < 0)
        return ret;
    return 0;
}

static int parse_hugepages(json_object *arr, const char *path, struct oci_resources *r)
{
    return spec_get_objects(arr, path, 16, &r->nhugepages, &r->hugepages,
                            sizeof(*r->hugepages), parse_hugepage, NULL);
}

static int parse_dev_rule(json_object *o, const char *p, void *elem, void *ctx)
{
    struct oci_dev_rule *d = elem;
    json_object *v;
    char fp[320];
    int ret;
    (void)ctx;
    d->major = d->minor = -1;
    const struct field f[] = { { "major", -1, 0xfff, &d->major },
                               { "minor", -1, 0xfffff, &d->minor } };
    if ((ret = get_fields(o, p, f, ARRAY_SIZE(f))) < 0)
        return ret;
    if ((ret = spec_required(o, p, "allow", fp, sizeof(fp), &v)) < 0 ||
        (ret = spec_get_bool(v, fp, &d->allow)) < 0)
        return ret;
    d->type = 'a';
    snprintf(fp, sizeof(fp), "%.200s.type", p);
    if ((v = spec_member(o, "type"))) {
        const char *t = json_object_get_string(v);
        if (!json_object_is_type(v, json_type_string) || strlen(t) != 1 || !strchr("acb", t[0]))
            return fail(EINVAL, "%s: must be \"a\", \"c\" or \"b\"", fp);
        d->type = t[0];
    }
    snprintf(fp, sizeof(fp), "%.200s.access", p);
    strcpy(d->access, "rwm");
    if ((v = spec_member(o, "access"))) {
        const char *a = json_object_get_string(v);
        if (!json_object_is_type(v, json_type_string) || strlen(a) > 3 || a[strspn(a, "rwm")])
            return fail(EINVAL, "%s: must be letters of \"rwm\"", fp);
        if (*a)
            strcpy(d->access, a);
    }
    return 0;
}

static int parse_dev_rules(json_object *arr, const char *path, struct oci_resources *r)
{
    /* has_devices only matters on success: on failure r is reset */
    r->has_devices = true;
    return spec_get_objects(arr, path, 4096, &r->ndevices, &r->devices, sizeof(*r->devices),
                            parse_dev_rule, NULL);
}

static int parse_unified(json_object *o, const char *path, struct oci_resources *r)
{
    if (!json_object_is_type(o, json_type_object))
        return spec_type_err(path, "an object");
    size_t n = (size_t)json_object_object_length(o), i = 0;
    if (n > 256)
        return fail(E2BIG, "%s: more than 256 entries", path);
    r->unified_keys = calloc(n + 1, sizeof(char *));
    r->unified_values = calloc(n + 1, sizeof(char *));
    if (!r->unified_keys || !r->unified_values)
        return fail(ENOMEM, "out of memory");
    json_object_object_foreach(o, key, val) {
        char p[420];
        snprintf(p, sizeof(p), "%.200s.%.200s", path, key);
        /* A file of the container's own cgroup: one name, with a controller prefix. */
        if (!key[0] || strchr(key, '/') || key[0] == '.' || !strchr(key, '.') || strlen(key) > 200)
            return fail(EINVAL, "%s: not a cgroup file name", p);
        int ret = spec_get_str(val, p, &r->unified_values[i]);
        if (ret < 0)
            return ret;
        if (!(r->unified_keys[i++] = strdup(key)))
            return fail(ENOMEM, "out of memory");
    }
    return 0;
}

int oci_resources_parse(json_object *o, const char *prefix, struct oci_resources *r)
{
    oci_resources_init(r);
    if (!json_object_is_type(o, json_type_object))
        return spec_type_err(prefix, "an object");
    char p[256];
    json_object *v;
    int ret = 0;
#define SECTION(key, fn)                                   \
    if (ret == 0 && (v = spec_member(o, key))) {                \
        snprintf(p, sizeof(p), "%.200s.%s", prefix, key);      \
        ret = fn(v, p, r);                                 \
    }
    SECTION("memory", parse_memory)
    SECTION("cpu", parse_cpu)
    SECTION("blockIO", parse_blockio)
    SECTION("hugepageLimits", parse_hugepages)
    SECTION("devices", parse_dev_rules)
    SECTION("unified", parse_unified)
#undef SECTION
    if (ret == 0 && (v = spec_member(o, "pids"))) {
        snprintf(p, sizeof(p), "%.200s.pids", prefix);
        const struct field f[] = { { "limit", -1, INT64_MAX, &r->pids_limit } };
        ret = get_fields(v, p, f, 1);
    }
    if (ret == 0 && (v = spec_member(o, "network"))) {
        snprintf(p, sizeof(p), "%.200s.network", prefix);
        const struct field f[] = { { "classID", 0, UINT32_MAX, &r->net_class_id } };
        json_object *prio = spec_member(v, "priorities");
        ret = get_fields(v, p, f, 1);
        if (ret == 0 && prio && (!json_object_is_type(prio, json_type_array) ||
                                 json_object_array_length(prio) > 0))
            ret = fail(ENOTSUP, "%s.priorities: not supported (no net_prio controller)", p);
    }
    if (ret == 0 && (v = spec_member(o, "rdma")) &&
        (!json_object_is_type(v, json_type_object) || json_object_object_length(v) > 0))
        ret = fail(ENOTSUP, "%s.rdma: not supported", prefix);
    if (ret < 0)
        oci_resources_free(r);
    return ret;
}
