/* Fuzzes the qcow2 open and read path: the input is the image file.  An
 * input marked dirty (version 3, incompatible bit 0) is also opened
 * read-write, which repairs its refcounts: that work must stay bounded by
 * the file's size, and the repaired image must open again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/block.h"
#include "util/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    log_set_level(LOG_ERROR); /* each repaired dirty image says so */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
    if (fd < 0 || write_all(fd, data, size) < 0)
        abort();
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct blk *b = NULL;
    int r = blk_open(path, BLK_FMT_QCOW2, BLK_OPEN_RDONLY | BLK_OPEN_NO_BACKING, &b);
    if (r > 0 || (r < 0 && (!err_msg()[0] || b)))
        abort();
    if (r == 0) {
        static uint8_t buf[256 * 1024];
        uint64_t n = blk_size(b);
        uint64_t offs[] = { 0, n / 2, n > sizeof(buf) ? n - sizeof(buf) : 0, n / 3 + 511 };
        for (size_t i = 0; i < ARRAY_SIZE(offs); i++)
            blk_pread(b, offs[i], buf, (size_t)MIN((uint64_t)sizeof(buf), n - offs[i]));
        blk_close(b);
    }
    if (r == 0 && size > 79 && data[4] == 0 && data[5] == 0 && data[6] == 0 && data[7] == 3 &&
        (data[79] & 1)) {
        b = NULL;
        r = blk_open(path, BLK_FMT_QCOW2, BLK_OPEN_NO_BACKING, &b);
        if (r < 0 && (!err_msg()[0] || b))
            abort();
        if (r == 0)
            blk_close(b);
    }
    close(fd);
    return 0;
}
