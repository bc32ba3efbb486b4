/* pause, resume, update, ps and usage: commands that act on a live container's
 * cgroups.  Each takes the state lock, checks the status the runtime spec
 * (and runc) allow, and leaves the state unchanged when it fails. */
#include "oci/oci_internal.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>

/* Locks and reads the container, checks that its status is one of `ok`
 * (a bit mask of 1 << status) and opens its cgroups. */
static int open_live(const struct oci_ctx *ctx, const char *id, const char *what, unsigned ok,
                     int *dirfd, struct cgroup *cg)
{
    int r = state_lock(ctx->root, id, false, LOCK_EX, dirfd);
    if (r < 0)
        return r;
    struct oci_state st;
    if ((r = state_read(*dirfd, id, &st)) < 0)
        goto fail;
    if (!(ok & (1u << st.status)))
        r = fail(EINVAL, "cannot %s container \"%s\": it is %s", what, id,
                 oci_status_name(st.status));
    else if (!st.cgroup_path)
        r = fail(ENOENT, "container \"%s\" has no cgroup", id);
    else
        r = cgroup_open(st.cgroup_path, cg);
    oci_state_free(&st);
    if (r == 0)
        return 0;
fail:
    close(*dirfd);
    return r;
}

#define LIVE ((1u << OCI_CREATED) | (1u << OCI_RUNNING) | (1u << OCI_PAUSED))

int oci_pause(const struct oci_ctx *ctx, const char *id)
{
    struct cgroup cg;
    int dirfd, r = open_live(ctx, id, "pause", (1u << OCI_CREATED) | (1u << OCI_RUNNING),
                             &dirfd, &cg);
    if (r < 0)
        return r;
    r = cgroup_freeze(&cg, true);
    close(dirfd);
    return r;
}

int oci_resume(const struct oci_ctx *ctx, const char *id)
{
    struct cgroup cg;
    int dirfd, r = open_live(ctx, id, "resume", 1u << OCI_PAUSED, &dirfd, &cg);
    if (r < 0)
        return r == -EINVAL ? fail(EINVAL, "container \"%s\" is not paused", id) : r;
    r = cgroup_freeze(&cg, false);
    close(dirfd);
    return r;
}

int oci_update(const struct oci_ctx *ctx, const char *id, const struct oci_resources *res,
               const char *source)
{
    struct cgroup cg;
    int dirfd, r = open_live(ctx, id, "update", LIVE, &dirfd, &cg);
    if (r < 0)
        return r;
    r = cgroup_apply(&cg, res, NULL, source);
    close(dirfd);
    return r;
}

int oci_pids(const struct oci_ctx *ctx, const char *id, pid_t **pids, size_t *n)
{
    struct cgroup cg;
    int dirfd, r = open_live(ctx, id, "list the processes of", LIVE, &dirfd, &cg);
    if (r < 0)
        return r;
    r = cgroup_pids(&cg, pids, n);
    close(dirfd);
    return r;
}

int oci_usage(const struct oci_ctx *ctx, const char *id, int64_t *cpu_ns, int64_t *mem_bytes)
{
    struct cgroup cg;
    int dirfd, r = open_live(ctx, id, "read the usage of", LIVE, &dirfd, &cg);
    if (r < 0)
        return r;
    cgroup_usage(&cg, cpu_ns, mem_bytes);
    close(dirfd);
    return 0;
}
