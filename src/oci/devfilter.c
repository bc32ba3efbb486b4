/* The cgroup2 device filter: linux.resources.devices as a
 * BPF_PROG_TYPE_CGROUP_DEVICE program, as runc and crun build it.
 *
 * cgroup2 has no devices.allow/deny files; the kernel instead runs the eBPF
 * programs attached to the cgroup (and its ancestors) on every open and
 * mknod of a device node, with { access << 16 | type, major, minor } as the
 * context, and denies the access unless each returns 1.  The program is a
 * straight line of one block per rule, the last rule first (a later rule
 * overrides an earlier one, as in v1's lists): a block whose type, access,
 * major and minor all match returns its verdict, else jumps to the next.
 * Nothing matching is denied.  Raw bpf() syscalls: no libbpf for a dozen
 * instructions. */
#include "oci/oci_internal.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

#define MAX_INSNS 4096
#define BLOCK_MAX 8

static long sys_bpf(int cmd, union bpf_attr *attr)
{
    return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
    return (struct bpf_insn){ .code = code, .dst_reg = dst, .src_reg = src, .off = off,
                              .imm = imm };
}

/* Marks a jump to the next rule's block; patched once the block is built. */
#define JMP_NEXT INT16_MIN

/* One rule's block into out (at most BLOCK_MAX instructions).  The
 * prologue left type in r2, access in r3, major in r4 and minor in r5. */
static size_t rule_block(const struct oci_dev_rule *d, struct bpf_insn *out)
{
    size_t n = 0;
    if (d->type != 'a') {
        int type = d->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
        out[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, JMP_NEXT, type);
    }
    int acc = 0;
    for (const char *p = d->access; *p; p++)
        acc |= *p == 'r' ? BPF_DEVCG_ACC_READ : *p == 'w' ? BPF_DEVCG_ACC_WRITE
                                                          : BPF_DEVCG_ACC_MKNOD;
    int all = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;
    if (d->type != 'a' && acc != all) {
        /* Matches only if every access asked for is in the rule's. */
        out[n++] = insn(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0);
        out[n++] = insn(BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0, ~acc);
        out[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_1, 0, JMP_NEXT, 0);
    }
    if (d->type != 'a' && d->major >= 0)
        out[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, JMP_NEXT, (int32_t)d->major);
    if (d->type != 'a' && d->minor >= 0)
        out[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, JMP_NEXT, (int32_t)d->minor);
    out[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, d->allow ? 1 : 0);
    out[n++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    for (size_t i = 0; i < n; i++)
        if (out[i].off == JMP_NEXT)
            out[i].off = (int16_t)(n - i - 1);
    return n;
}

static int devfilter_build(const struct oci_dev_rule *rules, size_t n, struct bpf_insn **out,
                           size_t *len)
{
    if (n > (MAX_INSNS - 8) / BLOCK_MAX)
        return fail(E2BIG, "too many device rules (%zu) for one filter", n);
    struct bpf_insn *p = calloc(MAX_INSNS, sizeof(*p));
    if (!p)
        return fail(ENOMEM, "out of memory");
    size_t k = 0;
    /* ctx->access_type: the type in the low 16 bits, the access above. */
    p[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, 0, 0);
    p[k++] = insn(BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff);
    p[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_3, BPF_REG_1, 0, 0);
    p[k++] = insn(BPF_ALU | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16);
    p[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_4, BPF_REG_1, 4, 0);
    p[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_5, BPF_REG_1, 8, 0);
    bool decided = false;
    for (size_t i = n; i-- > 0 && !decided;) {
        k += rule_block(&rules[i], p + k);
        /* "a" matches everything: the rules before it never decide (and
         * the verifier refuses unreachable code). */
        decided = rules[i].type == 'a';
    }
    if (!decided) {
        p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
        p[k++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    }
    *out = p;
    *len = k;
    return 0;
}

/* The ids of the device programs attached to the cgroup now. */
static size_t attached(int cgfd, uint32_t *ids, size_t max)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.query.target_fd = (uint32_t)cgfd;
    a.query.attach_type = BPF_CGROUP_DEVICE;
    a.query.prog_ids = (uint64_t)(uintptr_t)ids;
    a.query.prog_cnt = (uint32_t)max;
    if (sys_bpf(BPF_PROG_QUERY, &a) < 0)
        return 0;
    return a.query.prog_cnt < max ? a.query.prog_cnt : max;
}

int devfilter_attach(const char *cgdir, const struct oci_dev_rule *rules, size_t n,
                     const char *field)
{
    struct bpf_insn *prog = NULL;
    size_t len = 0;
    int r = devfilter_build(rules, n, &prog, &len);
    if (r < 0)
        return r;
    static char log[16384];
    log[0] = 0;
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    a.insns = (uint64_t)(uintptr_t)prog;
    a.insn_cnt = (uint32_t)len;
    a.license = (uint64_t)(uintptr_t)"Apache";
    a.log_buf = (uint64_t)(uintptr_t)log;
    a.log_size = sizeof(log);
    a.log_level = 1;
    int progfd = (int)sys_bpf(BPF_PROG_LOAD, &a);
    free(prog);
    if (progfd < 0)
        return fail(errno, "%s: loading the cgroup2 device filter (BPF): %s%s%.200s", field,
                    strerror(errno), log[0] ? ": " : "", log);
    _cleanup_close_ int cgfd = open(cgdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgfd < 0) {
        r = fail(errno, "%s: %s: %s", field, cgdir, strerror(errno));
        close(progfd);
        return r;
    }
    /* The new filter goes on next to the old ones (every attached program
     * must allow an access), then the old ones come off: no moment without
     * a filter. */
    uint32_t old[64];
    size_t nold = attached(cgfd, old, ARRAY_SIZE(old));
    memset(&a, 0, sizeof(a));
    a.target_fd = (uint32_t)cgfd;
    a.attach_bpf_fd = (uint32_t)progfd;
    a.attach_type = BPF_CGROUP_DEVICE;
    a.attach_flags = BPF_F_ALLOW_MULTI;
    if (sys_bpf(BPF_PROG_ATTACH, &a) < 0) {
        r = fail(errno, "%s: attaching the device filter to %s: %s", field, cgdir,
                 strerror(errno));
        close(progfd);
        return r;
    }
    close(progfd);
    for (size_t i = 0; i < nold; i++) {
        memset(&a, 0, sizeof(a));
        a.prog_id = old[i];
        int fd = (int)sys_bpf(BPF_PROG_GET_FD_BY_ID, &a);
        if (fd < 0)
            continue;
        memset(&a, 0, sizeof(a));
        a.target_fd = (uint32_t)cgfd;
        a.attach_bpf_fd = (uint32_t)fd;
        a.attach_type = BPF_CGROUP_DEVICE;
        if (sys_bpf(BPF_PROG_DETACH, &a) < 0)
            log_warn("%s: detaching the previous device filter from %s: %s", field, cgdir,
                     strerror(errno));
        close(fd);
    }
    return 0;
}
