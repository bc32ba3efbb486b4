/* qcow2 internal snapshots (step 2 of issue 3: being written). */
#include "qcow2.h"

#include <errno.h>

int qcow2_snapshot_list(struct blk *b, struct blk_snapshot **out, int *n)
{
    (void)b;
    (void)out;
    (void)n;
    return fail(ENOTSUP, "qcow2_snapshot_list: not implemented yet");
}

int qcow2_snapshot_create(struct blk *b, const char *name)
{
    (void)b;
    (void)name;
    return fail(ENOTSUP, "qcow2_snapshot_create: not implemented yet");
}

int qcow2_snapshot_apply(struct blk *b, const char *name_or_id)
{
    (void)b;
    (void)name_or_id;
    return fail(ENOTSUP, "qcow2_snapshot_apply: not implemented yet");
}

int qcow2_snapshot_delete(struct blk *b, const char *name_or_id)
{
    (void)b;
    (void)name_or_id;
    return fail(ENOTSUP, "qcow2_snapshot_delete: not implemented yet");
}

