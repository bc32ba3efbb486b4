/* qcow2 consistency check (step 2 of issue 3: being written). */
#include "qcow2.h"

#include <errno.h>

int qcow2_check(struct blk *b, int fix, struct blk_check_result *res)
{
    (void)b;
    (void)fix;
    (void)res;
    return fail(ENOTSUP, "qcow2_check: not implemented yet");
}

