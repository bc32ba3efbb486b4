/* blktool: drives the block layer from shell tests (tests/block/interop.sh).
 *   blktool create FMT PATH SIZE [CLUSTER [COMPAT [BACKING [BACKING_FMT]]]]
 *   blktool write PATH OFF LEN BYTE     fill a range with one byte value
 *   blktool dump PATH OUT               the whole virtual disk as a raw file
 * Exit status 0 on success; errors go to stderr as one line. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "block/block.h"
#include "util/util.h"

static int num(const char *s, uint64_t *v) { return parse_size(s, v); }

static int cmd_create(int argc, char **argv)
{
    struct blk_create_opts o = { .format = BLK_FMT_RAW };
    uint64_t v;
    if (argc < 3 || blk_parse_format(argv[0], &o.format) < 0 || num(argv[2], &o.size) < 0)
        return -EINVAL;
    if (argc > 3 && num(argv[3], &v) == 0)
        o.cluster_size = (uint32_t)v;
    if (argc > 4)
        o.compat = atoi(argv[4]);
    if (argc > 5 && argv[5][0])
        o.backing_file = argv[5];
    if (argc > 6 && blk_parse_format(argv[6], &o.backing_format) < 0)
        return -EINVAL;
    return blk_create(argv[1], &o);
}

static int cmd_write(int argc, char **argv)
{
    uint64_t off, len, byte;
    if (argc < 4 || num(argv[1], &off) < 0 || num(argv[2], &len) < 0 ||
        parse_uint(argv[3], 0, 255, &byte) < 0)
        return -EINVAL;
    struct blk *b;
    int r = blk_open(argv[0], BLK_FMT_PROBE, 0, &b);
    if (r < 0)
        return r;
    _cleanup_free_ uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        r = fail(ENOMEM, "out of memory");
    if (buf) {
        memset(buf, (int)byte, len);
        r = blk_pwrite(b, off, buf, len);
    }
    int c = blk_close(b);
    return r < 0 ? r : c;
}

static int cmd_dump(int argc, char **argv)
{
    if (argc < 2)
        return -EINVAL;
    struct blk *b;
    int r = blk_open(argv[0], BLK_FMT_PROBE, BLK_OPEN_RDONLY, &b);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    _cleanup_free_ uint8_t *buf = malloc(1 * MiB);
    if (fd < 0 || !buf)
        r = fail(errno ? errno : ENOMEM, "%s: %s", argv[1], strerror(errno));
    for (uint64_t off = 0; r == 0 && off < blk_size(b); off += 1 * MiB) {
        size_t n = (size_t)MIN(1 * MiB, blk_size(b) - off);
        r = blk_pread(b, off, buf, n);
        if (!r)
            r = write_all(fd, buf, n);
    }
    blk_close(b);
    return r;
}

int main(int argc, char **argv)
{
    int r = -EINVAL;
    if (argc >= 2 && !strcmp(argv[1], "create"))
        r = cmd_create(argc - 2, argv + 2);
    else if (argc >= 2 && !strcmp(argv[1], "write"))
        r = cmd_write(argc - 2, argv + 2);
    else if (argc >= 2 && !strcmp(argv[1], "dump"))
        r = cmd_dump(argc - 2, argv + 2);
    if (r < 0) {
        fprintf(stderr, "blktool: %s\n", err_msg()[0] ? err_msg() : "usage error");
        return 1;
    }
    return 0;
}
