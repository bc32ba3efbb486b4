/* Helpers shared by the block unit tests (test_block*.c): a scratch directory, image creation, shell commands
 * (qemu-img as referee, when installed) and blk_check with expectations.
 * Included by one test file each; everything is static and may go unused. */
#ifndef CORRAL_TEST_BLOCK_HELPERS_H
#define CORRAL_TEST_BLOCK_HELPERS_H

/* Each test file uses only some of these. */
#define HELPER static __attribute__((unused))

static char dir[64];
static bool have_qemu;

HELPER int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/corral-blkm-XXXXXX");
    have_qemu = system("command -v qemu-img >/dev/null 2>&1 && "
                       "command -v qemu-io >/dev/null 2>&1") == 0;
    if (!have_qemu)
        print_message("qemu-img/qemu-io missing: skipping the qemu-img cross-checks\n");
    return mkdtemp(dir) ? 0 : -1;
}

HELPER int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

HELPER const char *path(const char *name)
{
    static char p[4][128];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
    return p[i];
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
HELPER void sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int r = system(cmd);
    if (r != 0)
        print_error("command failed: %s\n", cmd);
    assert_int_equal(r, 0);
}

/* `qemu-img check` must find nothing wrong (skipped without qemu-img). */
HELPER void qemu_check_clean(const char *p)
{
    if (have_qemu)
        sh("qemu-img check -q %s >/dev/null", p);
}

HELPER void create(const char *p, uint64_t size, uint32_t cs, int compat, const char *backing,
                   enum blk_format bfmt)
{
    struct blk_create_opts o = { .format = BLK_FMT_QCOW2, .size = size, .cluster_size = cs,
                                 .compat = compat, .backing_file = backing,
                                 .backing_format = bfmt };
    int r = blk_create(p, &o);
    if (r < 0)
        print_error("create %s: %s\n", p, err_msg());
    assert_int_equal(r, 0);
}

HELPER struct blk *open_ok(const char *p, int flags)
{
    struct blk *b = NULL;
    int r = blk_open(p, BLK_FMT_PROBE, flags, &b);
    if (r < 0)
        print_error("open %s: %s\n", p, err_msg());
    assert_int_equal(r, 0);
    return b;
}

/* A position-dependent byte pattern, different per seed. */
HELPER void pattern(uint8_t *buf, size_t len, uint64_t off, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)((off + i) * 131 + seed + ((off + i) >> 9));
}

/* Writes `len` bytes of pattern at `off` into both the image and `model`. */
HELPER void write_both(struct blk *b, uint8_t *model, uint64_t off, size_t len, uint8_t seed)
{
    uint8_t *buf = malloc(len);
    pattern(buf, len, off, seed);
    int r = blk_pwrite(b, off, buf, len);
    if (r < 0)
        print_error("write: %s\n", err_msg());
    assert_int_equal(r, 0);
    memcpy(model + off, buf, len);
    free(buf);
}

HELPER void fill(struct blk *b, uint8_t *model, uint64_t off, size_t len, uint8_t v)
{
    uint8_t *buf = malloc(len);
    memset(buf, v, len);
    assert_int_equal(blk_pwrite(b, off, buf, len), 0);
    if (model)
        memcpy(model + off, buf, len);
    free(buf);
}

HELPER void assert_model(struct blk *b, const uint8_t *model, uint64_t size)
{
    uint8_t *buf = malloc(size);
    assert_int_equal(blk_pread(b, 0, buf, size), 0);
    assert_memory_equal(buf, model, size);
    free(buf);
}

/* blk_check finds `corruptions` and `leaks` (and fixes per `fix`). */
HELPER struct blk_check_result check(const char *p, int fix, uint64_t corruptions,
                                     uint64_t leaks)
{
    struct blk *b = open_ok(p, fix ? 0 : BLK_OPEN_RDONLY);
    struct blk_check_result res;
    int r = blk_check(b, fix, &res);
    if (r < 0)
        print_error("check %s: %s\n", p, err_msg());
    assert_int_equal(r, 0);
    if (corruptions == (uint64_t)-1)
        assert_true(res.corruptions >= 1);
    else
        assert_int_equal(res.corruptions, corruptions);
    assert_int_equal(res.leaks, leaks);
    assert_int_equal(res.check_errors, 0);
    assert_int_equal(blk_close(b), 0);
    return res;
}

/* Overwrites bytes of an image file directly, to craft a damaged image. */
HELPER void patch(const char *p, off_t off, const void *data, size_t len)
{
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, data, len, off), (ssize_t)len);
    close(fd);
}

HELPER uint64_t read_be64(const char *p, off_t off)
{
    uint8_t e[8];
    uint64_t v = 0;
    int fd = open(p, O_RDONLY);
    assert_int_equal(pread(fd, e, 8, off), 8);
    close(fd);
    for (int i = 0; i < 8; i++)
        v = v << 8 | e[i];
    return v;
}

/* Sets the stored 16-bit refcount of `cluster` (covered by the first
 * refcount block). */
HELPER void set_refcount(const char *p, uint64_t cluster, uint16_t v)
{
    uint64_t rb = read_be64(p, (off_t)read_be64(p, 48));
    uint8_t rc[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    int fd = open(p, O_RDWR);
    assert_int_equal(pwrite(fd, rc, 2, (off_t)(rb + cluster * 2)), 2);
    close(fd);
}

#endif
