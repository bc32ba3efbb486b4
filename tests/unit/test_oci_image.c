/* corral-oci's image code without a file system: whiteout names, entry path
 * validation, the image JSON documents, and User resolution. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#undef fail /* cmocka's fail() would hide util's */

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "oci/image_internal.h"
#include "util/util.h"

static void test_whiteouts(void **state)
{
    (void)state;
    assert_int_equal(layer_whiteout("file"), WH_NONE);
    assert_int_equal(layer_whiteout(".wh"), WH_NONE);
    assert_int_equal(layer_whiteout(".whx.a"), WH_NONE);
    assert_int_equal(layer_whiteout(".wh.gone"), WH_FILE);
    assert_int_equal(layer_whiteout(".wh..hidden"), WH_FILE);   /* hides ".hidden" */
    assert_int_equal(layer_whiteout(".wh..wh..opq"), WH_OPAQUE);
    assert_int_equal(layer_whiteout(".wh..wh.plnk"), WH_RESERVED);
    assert_int_equal(layer_whiteout(".wh..wh..opqx"), WH_RESERVED);
    /* They would hide the directory itself or its parent. */
    assert_int_equal(layer_whiteout(".wh."), WH_INVALID);
    assert_int_equal(layer_whiteout(".wh.."), WH_INVALID);
    assert_int_equal(layer_whiteout(".wh..."), WH_INVALID);
}

static void clean_ok(const char *in, const char *want)
{
    char out[IMG_PATH_MAX + 1];
    assert_int_equal(layer_clean_path(in, out, sizeof(out)), 0);
    assert_string_equal(out, want);
}

static void clean_refused(const char *in, const char *msg_part)
{
    char out[IMG_PATH_MAX + 1];
    assert_true(layer_clean_path(in, out, sizeof(out)) < 0);
    if (!strstr(err_msg(), msg_part))
        print_error("'%s': message '%s' lacks '%s'\n", in, err_msg(), msg_part);
    assert_non_null(strstr(err_msg(), msg_part));
}

/* A ustar archive (in a memfd) of empty entries; a trailing '/' makes a
 * directory.  Written by hand: the test needs no archive writer. */
static int make_tar(const char *const *names)
{
    int fd = memfd_create("layer", MFD_CLOEXEC);
    for (; *names; names++) {
        char h[512] = { 0 };
        size_t len = strlen(*names);
        memcpy(h, *names, len);
        memcpy(h + 100, "0000755", 8);
        memcpy(h + 108, "0000000", 8);
        memcpy(h + 116, "0000000", 8);
        memcpy(h + 124, "00000000000", 12);
        memcpy(h + 136, "00000000000", 12);
        h[156] = (*names)[len - 1] == '/' ? '5' : '0';
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        memset(h + 148, ' ', 8);
        unsigned sum = 0;
        for (size_t i = 0; i < sizeof(h); i++)
            sum += (unsigned char)h[i];
        snprintf(h + 148, 8, "%06o", sum);
        assert_int_equal(write(fd, h, sizeof(h)), sizeof(h));
    }
    static const char end[1024];
    assert_int_equal(write(fd, end, sizeof(end)), sizeof(end));
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static void test_whiteout_translation(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip();   /* mknod and trusted.* xattrs need root */
    }
    char dir[] = "/tmp/test-oci-layer.XXXXXX";
    assert_non_null(mkdtemp(dir));
    static const char *const names[] = { "etc/", "etc/.wh.gone", "opq/", "opq/.wh..wh..opq",
                                         "opq/c", "x/.wh..wh.plnk123", NULL };
    int tar = make_tar(names), root = open(dir, O_RDONLY | O_DIRECTORY);
    struct layer_opts o = { .max_bytes = 1 << 20, .max_entries = 100, .whiteouts = true };
    uint64_t used;
    assert_int_equal(layer_unpack(tar, root, &o, &used), 0);
    struct stat st;
    assert_int_equal(fstatat(root, "etc/gone", &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
    assert_true(fstatat(root, "etc/.wh.gone", &st, 0) < 0);
    char v[4] = { 0 };
    char path[64];
    snprintf(path, sizeof(path), "%s/opq", dir);
    assert_int_equal(getxattr(path, "trusted.overlay.opaque", v, sizeof(v)), 1);
    assert_int_equal(v[0], 'y');
    assert_true(fstatat(root, "opq/.wh..wh..opq", &st, 0) < 0);
    assert_int_equal(fstatat(root, "opq/c", &st, 0), 0);
    assert_true(fstatat(root, "x/.wh..wh.plnk123", &st, 0) < 0);   /* reserved: skipped */
    /* The same names as an image archive: no translation. */
    lseek(tar, 0, SEEK_SET);
    o.whiteouts = false;
    assert_int_equal(rm_tree_at(AT_FDCWD, dir), 0);
    assert_int_equal(mkdir(dir, 0700), 0);
    close(root);
    root = open(dir, O_RDONLY | O_DIRECTORY);
    assert_int_equal(layer_unpack(tar, root, &o, &used), 0);
    assert_int_equal(fstatat(root, "etc/.wh.gone", &st, 0), 0);
    assert_true(S_ISREG(st.st_mode));
    close(root);
    close(tar);
    assert_int_equal(rm_tree_at(AT_FDCWD, dir), 0);
}

static void test_paths(void **state)
{
    (void)state;
    clean_ok("etc/passwd", "etc/passwd");
    clean_ok("./etc//passwd", "etc/passwd");
    clean_ok("./././bin/", "bin");
    clean_ok("./", "");
    clean_ok(".", "");
    clean_ok("a/./b/.", "a/b");
    clean_ok("..a/b..", "..a/b..");
    clean_ok("...", "...");
    clean_refused("/etc/passwd", "absolute path");
    clean_refused("../evil", "\"..\" in the path");
    clean_refused("a/../../b", "\"..\" in the path");
    clean_refused("a/..", "\"..\" in the path");
    char name[NAME_MAX + 2];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = 0;
    clean_refused(name, "longer than 255");
    static char deep[IMG_DEPTH_MAX * 2 + 10];
    for (size_t i = 0; i < IMG_DEPTH_MAX + 1; i++)
        memcpy(deep + 2 * i, "d/", 2);
    clean_refused(deep, "directory levels");
    static char longp[IMG_PATH_MAX + 300];
    memset(longp, 'x', sizeof(longp) - 1);
    for (size_t i = 200; i < sizeof(longp) - 1; i += 201)
        longp[i] = '/';
    clean_refused(longp, "path longer than");
}

static void test_digest(void **state)
{
    (void)state;
    char hex[IMG_HEX_LEN + 1];
    const char *good = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert_int_equal(img_parse_digest(good, hex), 0);
    assert_string_equal(hex, good + 7);
    assert_true(img_parse_digest("sha512:00", hex) < 0);
    assert_true(img_parse_digest("sha256:0123", hex) < 0);
    assert_true(img_parse_digest("sha256:../../../../etc/passwd/0123456789abcdef0123456789abcdef0123", hex) < 0);
    assert_true(img_parse_digest("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", hex) < 0);
}

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_manifest(void **state)
{
    (void)state;
    struct img_manifest m;
    const char *ok = "{\"schemaVersion\": 2, \"config\": {\"digest\": \"sha256:" D64 "\", \"size\": 10},"
                     " \"layers\": [{\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+gzip\","
                     " \"digest\": \"sha256:" D64 "\", \"size\": 5}]}";
    assert_int_equal(img_parse_manifest(ok, strlen(ok), "m", &m), 0);
    assert_int_equal(m.nlayers, 1);
    assert_int_equal(m.layers[0].size, 5);
    img_manifest_free(&m);
    const char *foreign = "{\"config\": {\"digest\": \"sha256:" D64 "\", \"size\": 1}, \"layers\": ["
                          "{\"mediaType\": \"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\","
                          " \"digest\": \"sha256:" D64 "\", \"size\": 5}]}";
    assert_true(img_parse_manifest(foreign, strlen(foreign), "m", &m) < 0);
    assert_non_null(strstr(err_msg(), "m: layers[0].mediaType"));
    const char *neg = "{\"config\": {\"digest\": \"sha256:" D64 "\", \"size\": -1}, \"layers\": []}";
    assert_true(img_parse_manifest(neg, strlen(neg), "m", &m) < 0);
    assert_string_equal(err_msg(), "m: config.size: must be a non-negative integer");
    assert_true(img_parse_manifest("{", 1, "m", &m) < 0);
    assert_true(img_parse_manifest("[]", 2, "m", &m) < 0);
}

static void test_config(void **state)
{
    (void)state;
    struct img_config c;
    const char *ok = "{\"os\": \"linux\", \"config\": {\"Env\": [\"A=1\"], \"Cmd\": [\"sh\"],"
                     " \"WorkingDir\": \"/w\", \"User\": \"app:staff\"},"
                     " \"rootfs\": {\"diff_ids\": [\"sha256:" D64 "\"]}}";
    assert_int_equal(img_parse_config(ok, strlen(ok), "cfg", &c), 0);
    assert_string_equal(c.env[0], "A=1");
    assert_null(c.entrypoint);
    assert_string_equal(c.cmd[0], "sh");
    assert_string_equal(c.workdir, "/w");
    assert_string_equal(c.user, "app:staff");
    assert_int_equal(c.ndiff_ids, 1);
    img_config_free(&c);
    const char *badenv = "{\"config\": {\"Env\": [\"=x\"]}, \"rootfs\": {\"diff_ids\": []}}";
    assert_true(img_parse_config(badenv, strlen(badenv), "cfg", &c) < 0);
    const char *win = "{\"os\": \"windows\", \"rootfs\": {\"diff_ids\": []}}";
    assert_true(img_parse_config(win, strlen(win), "cfg", &c) < 0);
    const char *noids = "{\"config\": {}}";
    assert_true(img_parse_config(noids, strlen(noids), "cfg", &c) < 0);
    assert_string_equal(err_msg(), "cfg: rootfs.diff_ids: missing");
}

static void test_docker(void **state)
{
    (void)state;
    struct img_docker *d;
    size_t n;
    const char *ok = "[{\"Config\": \"c.json\", \"RepoTags\": null, \"Layers\": [\"a/layer.tar\"]}]";
    assert_int_equal(img_parse_docker(ok, strlen(ok), &d, &n), 0);
    assert_int_equal(n, 1);
    assert_null(d[0].tags[0]);
    assert_string_equal(d[0].layers[0], "a/layer.tar");
    img_docker_free(d, n);
    const char *bad = "[{\"Config\": 3, \"Layers\": []}]";
    assert_true(img_parse_docker(bad, strlen(bad), &d, &n) < 0);
    assert_string_equal(err_msg(), "manifest.json[0].Config: must be a string");
}

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "# comment\n"
                             "app:x:1000:1001::/home/app:/bin/sh\n"
                             "broken line\n";
static const char group[] = "root:x:0:\nstaff:x:50:app,other\napp:x:1001:\nwheel:x:10:app\n";

static void test_user(void **state)
{
    (void)state;
    uint32_t uid, gid, *gids;
    size_t n;
    assert_int_equal(img_resolve_user("app", passwd, group, &uid, &gid, &gids, &n), 0);
    assert_int_equal(uid, 1000);
    assert_int_equal(gid, 1001);
    assert_int_equal(n, 2);
    assert_int_equal(gids[0], 50);
    assert_int_equal(gids[1], 10);
    free(gids);
    assert_int_equal(img_resolve_user("app:wheel", passwd, group, &uid, &gid, &gids, &n), 0);
    assert_int_equal(gid, 10);
    assert_int_equal(n, 1);   /* staff; wheel is the primary group now */
    free(gids);
    assert_int_equal(img_resolve_user("1000", passwd, group, &uid, &gid, &gids, &n), 0);
    assert_int_equal(uid, 1000);
    assert_int_equal(gid, 1001);
    free(gids);
    assert_int_equal(img_resolve_user("4242:77", NULL, NULL, &uid, &gid, &gids, &n), 0);
    assert_int_equal(uid, 4242);
    assert_int_equal(gid, 77);
    assert_int_equal(n, 0);
    free(gids);
    /* A group line of three fields (found by the fuzzer: read past them). */
    assert_int_equal(img_resolve_user("app:g3", passwd, "g3:x:7", &uid, &gid, &gids, &n), 0);
    assert_int_equal(gid, 7);
    free(gids);
    assert_true(img_resolve_user("nobody", passwd, group, &uid, &gid, &gids, &n) < 0);
    assert_string_equal(err_msg(), "User \"nobody\": no such user in the image's /etc/passwd");
    assert_true(img_resolve_user("app:nogroup", passwd, group, &uid, &gid, &gids, &n) < 0);
    assert_true(img_resolve_user("4294967295", passwd, group, &uid, &gid, &gids, &n) < 0);
    assert_true(img_resolve_user("", passwd, group, &uid, &gid, &gids, &n) < 0);
}

static void test_names(void **state)
{
    (void)state;
    char out[300];
    assert_int_equal(img_norm_name("busybox", out, sizeof(out)), 0);
    assert_string_equal(out, "busybox:latest");
    assert_int_equal(img_norm_name("localhost:5000/a/b", out, sizeof(out)), 0);
    assert_string_equal(out, "localhost:5000/a/b:latest");
    assert_int_equal(img_norm_name("a/b:1.0", out, sizeof(out)), 0);
    assert_string_equal(out, "a/b:1.0");
    assert_true(img_norm_name("a b", out, sizeof(out)) < 0);
    assert_true(img_norm_name("", out, sizeof(out)) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whiteouts), cmocka_unit_test(test_whiteout_translation),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_digest), cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_config), cmocka_unit_test(test_docker),
        cmocka_unit_test(test_user), cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
