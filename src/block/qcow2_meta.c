/* qcow2 metadata operations: info, block status, zeroes, discard, resize, backing file (step 2 of issue 3: being written). */
#include "qcow2.h"

#include <errno.h>

int qcow2_get_info(struct blk *b, struct blk_info *out)
{
    (void)b;
    (void)out;
    return fail(ENOTSUP, "qcow2_get_info: not implemented yet");
}

int qcow2_block_status(struct blk *b, uint64_t off, uint64_t len, uint64_t *pnum, int *status, uint64_t *host_off)
{
    (void)b;
    (void)off;
    (void)len;
    (void)pnum;
    (void)status;
    (void)host_off;
    return fail(ENOTSUP, "qcow2_block_status: not implemented yet");
}

int qcow2_write_zeroes(struct blk *b, uint64_t off, uint64_t len)
{
    (void)b;
    (void)off;
    (void)len;
    return fail(ENOTSUP, "qcow2_write_zeroes: not implemented yet");
}

int qcow2_discard(struct blk *b, uint64_t off, uint64_t len)
{
    (void)b;
    (void)off;
    (void)len;
    return fail(ENOTSUP, "qcow2_discard: not implemented yet");
}

int qcow2_resize(struct blk *b, uint64_t size)
{
    (void)b;
    (void)size;
    return fail(ENOTSUP, "qcow2_resize: not implemented yet");
}

int qcow2_set_backing(struct blk *b, const char *file, enum blk_format fmt)
{
    (void)b;
    (void)file;
    (void)fmt;
    return fail(ENOTSUP, "qcow2_set_backing: not implemented yet");
}

