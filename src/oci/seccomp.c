/* linux.seccomp -> a libseccomp filter.  The same builder validates the
 * config at parse time (so a bad profile fails create with the field's
 * path) and builds the filter the init loads. */
#include "oci/oci_internal.h"
#include "util/util.h"

#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>

static int parse_action(json_object *o, const char *path, json_object *errno_ret, uint32_t *act)
{
    static const struct { const char *name; uint32_t act; } actions[] = {
        { "SCMP_ACT_KILL", SCMP_ACT_KILL }, { "SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD },
        { "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS }, { "SCMP_ACT_TRAP", SCMP_ACT_TRAP },
        { "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW }, { "SCMP_ACT_LOG", SCMP_ACT_LOG },
    };
    if (!json_object_is_type(o, json_type_string))
        return fail(EINVAL, "%s: must be a string", path);
    const char *s = json_object_get_string(o);
    for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
        if (strcmp(s, actions[i].name) == 0) {
            *act = actions[i].act;
            return 0;
        }
    bool is_errno = strcmp(s, "SCMP_ACT_ERRNO") == 0, is_trace = strcmp(s, "SCMP_ACT_TRACE") == 0;
    if (!is_errno && !is_trace)
        return fail(strcmp(s, "SCMP_ACT_NOTIFY") == 0 ? ENOTSUP : EINVAL,
                    "%s: %s action \"%s\"", path,
                    strcmp(s, "SCMP_ACT_NOTIFY") == 0 ? "unsupported" : "unknown", s);
    int64_t v = is_errno ? EPERM : 0;
    if (errno_ret) {
        if (!json_object_is_type(errno_ret, json_type_int) ||
            (v = json_object_get_int64(errno_ret)) < 0 || v > 4095)
            return fail(EINVAL, "%s: errnoRet must be an integer in [0, 4095]", path);
    }
    *act = is_errno ? SCMP_ACT_ERRNO((uint32_t)v) : SCMP_ACT_TRACE((uint32_t)v);
    return 0;
}

static int parse_arg(json_object *o, const char *path, struct scmp_arg_cmp *c)
{
    static const struct { const char *name; enum scmp_compare op; } ops[] = {
        { "SCMP_CMP_NE", SCMP_CMP_NE }, { "SCMP_CMP_LT", SCMP_CMP_LT },
        { "SCMP_CMP_LE", SCMP_CMP_LE }, { "SCMP_CMP_EQ", SCMP_CMP_EQ },
        { "SCMP_CMP_GE", SCMP_CMP_GE }, { "SCMP_CMP_GT", SCMP_CMP_GT },
        { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
    };
    json_object *idx, *val, *val2, *op;
    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "index", &idx) ||
        !json_object_object_get_ex(o, "value", &val) || !json_object_object_get_ex(o, "op", &op))
        return fail(EINVAL, "%s: needs index, value and op", path);
    if (!json_object_is_type(idx, json_type_int) || json_object_get_int64(idx) < 0 ||
        json_object_get_int64(idx) > 5)
        return fail(EINVAL, "%s.index: must be 0 to 5", path);
    if (!json_object_is_type(val, json_type_int))
        return fail(EINVAL, "%s.value: must be an integer", path);
    memset(c, 0, sizeof(*c));
    c->arg = (unsigned)json_object_get_int64(idx);
    c->datum_a = json_object_get_uint64(val);
    if (json_object_object_get_ex(o, "valueTwo", &val2)) {
        if (!json_object_is_type(val2, json_type_int))
            return fail(EINVAL, "%s.valueTwo: must be an integer", path);
        c->datum_b = json_object_get_uint64(val2);
    }
    const char *name = json_object_is_type(op, json_type_string) ? json_object_get_string(op) : "";
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
        if (strcmp(name, ops[i].name) == 0) {
            c->op = ops[i].op;
            return 0;
        }
    return fail(EINVAL, "%s.op: unknown operator \"%s\"", path, name);
}

static int add_rules(scmp_filter_ctx ctx, json_object *rule, size_t i, uint32_t def)
{
    char path[96];
    json_object *names, *action, *args = NULL, *eret = NULL;
    snprintf(path, sizeof(path), "linux.seccomp.syscalls[%zu]", i);
    if (!json_object_is_type(rule, json_type_object) ||
        !json_object_object_get_ex(rule, "names", &names) ||
        !json_object_is_type(names, json_type_array) ||
        !json_object_object_get_ex(rule, "action", &action))
        return fail(EINVAL, "%s: needs names (an array) and action", path);
    json_object_object_get_ex(rule, "errnoRet", &eret);
    uint32_t act;
    char apath[128];
    snprintf(apath, sizeof(apath), "%s.action", path);
    int r = parse_action(action, apath, eret, &act);
    if (r < 0)
        return r;
    struct scmp_arg_cmp cmps[6];
    size_t ncmp = 0;
    if (json_object_object_get_ex(rule, "args", &args) && args) {
        if (!json_object_is_type(args, json_type_array) || json_object_array_length(args) > 6)
            return fail(EINVAL, "%s.args: must be an array of at most 6", path);
        for (ncmp = 0; ncmp < json_object_array_length(args); ncmp++) {
            snprintf(apath, sizeof(apath), "%s.args[%zu]", path, ncmp);
            if ((r = parse_arg(json_object_array_get_idx(args, ncmp), apath, &cmps[ncmp])) < 0)
                return r;
        }
    }
    if (act == def)
        return 0;   /* libseccomp refuses rules that repeat the default */
    for (size_t k = 0; k < json_object_array_length(names); k++) {
        json_object *n = json_object_array_get_idx(names, k);
        if (!json_object_is_type(n, json_type_string))
            return fail(EINVAL, "%s.names[%zu]: must be a string", path, k);
        int nr = seccomp_syscall_resolve_name(json_object_get_string(n));
        if (nr == __NR_SCMP_ERROR)
            continue;   /* a syscall this kernel/libseccomp does not know: as runc */
        if ((r = seccomp_rule_add_array(ctx, act, nr, (unsigned)ncmp, cmps)) < 0)
            return fail(-r, "%s: %s: %s", path, json_object_get_string(n), strerror(-r));
    }
    return 0;
}

int seccomp_build(json_object *o, void **out)
{
    json_object *v;
    uint32_t def;
    int r;
    *out = NULL;
    if (!json_object_object_get_ex(o, "defaultAction", &v))
        return fail(EINVAL, "linux.seccomp.defaultAction: missing");
    json_object *eret = NULL;
    json_object_object_get_ex(o, "defaultErrnoRet", &eret);
    if ((r = parse_action(v, "linux.seccomp.defaultAction", eret, &def)) < 0)
        return r;
    if (json_object_object_get_ex(o, "listenerPath", &v) && json_object_get_string_len(v))
        return fail(ENOTSUP, "linux.seccomp.listenerPath: seccomp notify is not supported");
    scmp_filter_ctx ctx = seccomp_init(def);
    if (!ctx)
        return fail(ENOMEM, "linux.seccomp: seccomp_init failed");
    /* no_new_privs is process.noNewPrivileges' business, not libseccomp's. */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (json_object_object_get_ex(o, "architectures", &v) && v) {
        for (size_t i = 0; json_object_is_type(v, json_type_array) &&
                           i < json_object_array_length(v); i++) {
            json_object *a = json_object_array_get_idx(v, i);
            const char *name = json_object_is_type(a, json_type_string)
                ? json_object_get_string(a) : "";
            uint32_t arch = strncmp(name, "SCMP_ARCH_", 10) == 0
                ? seccomp_arch_resolve_name(name + 10) : 0;
            /* libseccomp spells them in lower case ("x86_64"). */
            char lower[32];
            if (!arch && strncmp(name, "SCMP_ARCH_", 10) == 0 && strlen(name + 10) < sizeof(lower)) {
                size_t k = 0;
                for (; name[10 + k]; k++)
                    lower[k] = (char)(name[10 + k] >= 'A' && name[10 + k] <= 'Z'
                                      ? name[10 + k] + 32 : name[10 + k]);
                lower[k] = 0;
                arch = seccomp_arch_resolve_name(lower);
            }
            if (!arch) {
                seccomp_release(ctx);
                return fail(EINVAL, "linux.seccomp.architectures[%zu]: unknown \"%s\"", i, name);
            }
            if ((r = seccomp_arch_add(ctx, arch)) < 0 && r != -EEXIST) {
                seccomp_release(ctx);
                return fail(-r, "linux.seccomp.architectures[%zu]: %s", i, strerror(-r));
            }
        }
    }
    if (json_object_object_get_ex(o, "syscalls", &v) && v) {
        if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) > 4096) {
            seccomp_release(ctx);
            return fail(EINVAL, "linux.seccomp.syscalls: must be an array");
        }
        for (size_t i = 0; i < json_object_array_length(v); i++)
            if ((r = add_rules(ctx, json_object_array_get_idx(v, i), i, def)) < 0) {
                seccomp_release(ctx);
                return r;
            }
    }
    *out = ctx;
    return 0;
}

int seccomp_install(json_object *o)
{
    void *ctx;
    int r = seccomp_build(o, &ctx);
    if (r < 0)
        return r;
    r = seccomp_load(ctx);
    seccomp_release(ctx);
    return r < 0 ? fail(-r, "linux.seccomp: loading the filter: %s", strerror(-r)) : 0;
}

void seccomp_free(void *ctx)
{
    seccomp_release(ctx);
}
