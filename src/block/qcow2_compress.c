/* qcow2 compressed cluster writes (step 2 of issue 3: being written). */
#include "qcow2.h"

#include <errno.h>

int qcow2_write_compressed(struct blk *b, uint64_t off, const void *buf, size_t len)
{
    (void)b;
    (void)off;
    (void)buf;
    (void)len;
    return fail(ENOTSUP, "qcow2_write_compressed: not implemented yet");
}

