/* tmpcopyup: a tmpfs mounted over a directory of the image starts with a
 * copy of what the image has there (podman asks for it on every --tmpfs and
 * on the tmpfs mounts of --read-only; runc and crun implement it, the kernel
 * does not).
 *
 * The image is not trusted: every step is an *at() call relative to a
 * directory fd and nothing follows a symlink, so a link in the image can
 * neither be read through nor make the copy write outside the tmpfs.
 * Device nodes are recreated, never opened (and left out where a user
 * namespace forbids mknod).  Hard links become copies. */
#include "oci/oci_internal.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#define COPYUP_DEPTH 128   /* directories deep; each level holds two fds */

/* Best-effort xattrs: a tmpfs may refuse a namespace (user.* before 6.6,
 * trusted.* in a user namespace); losing those is not worth failing on. */
static bool xattr_skippable(int e)
{
    return e == ENOTSUP || e == EOPNOTSUPP || e == EPERM;
}

static int copy_xattrs(int src, int dst, const char *name)
{
    char list[4096], val[4096];
    ssize_t n = flistxattr(src, list, sizeof(list));
    if (n < 0)
        return xattr_skippable(errno) ? 0 : fail(errno, "%s: xattrs: %s", name, strerror(errno));
    for (char *k = list; k < list + n; k += strlen(k) + 1) {
        ssize_t len = fgetxattr(src, k, val, sizeof(val));
        if (len < 0)
            return fail(errno, "%s: xattr %s: %s", name, k, strerror(errno));
        if (fsetxattr(dst, k, val, (size_t)len, 0) < 0 && !xattr_skippable(errno))
            return fail(errno, "%s: xattr %s: %s", name, k, strerror(errno));
    }
    return 0;
}

/* Owner, then mode (chown clears set-id bits), xattrs and times. */
static int copy_attrs(int src, int dst, const struct stat *st, const char *name)
{
    /* EINVAL: an owner the user namespace does not map; keep ours. */
    if (fchown(dst, st->st_uid, st->st_gid) < 0 && errno != EINVAL)
        return fail(errno, "%s: chown: %s", name, strerror(errno));
    if (fchmod(dst, st->st_mode & 07777) < 0)
        return fail(errno, "%s: chmod: %s", name, strerror(errno));
    int r = copy_xattrs(src, dst, name);
    if (r < 0)
        return r;
    struct timespec t[2] = { st->st_atim, st->st_mtim };
    if (futimens(dst, t) < 0)
        return fail(errno, "%s: times: %s", name, strerror(errno));
    return 0;
}

static int copy_file(int sdir, int ddir, const char *name, const struct stat *st)
{
    _cleanup_close_ int in = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return fail(errno, "%s: %s", name, strerror(errno));
    _cleanup_close_ int out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                                     O_CLOEXEC, 0600);
    if (out < 0)
        return fail(errno, "%s: %s", name, strerror(errno));
    for (;;) {
        ssize_t n = sendfile(out, in, NULL, 1 << 30);
        if (n == 0)
            break;
        if (n < 0 && errno != EINTR)
            return fail(errno, "%s: copying: %s", name, strerror(errno));
    }
    return copy_attrs(in, out, st, name);
}

/* Symlinks and device nodes, set up by name: opening them could follow
 * the link or wake a device. */
static int copy_special(int sdir, int ddir, const char *name, const struct stat *st)
{
    if (S_ISLNK(st->st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(sdir, name, target, sizeof(target) - 1);
        if (n < 0)
            return fail(errno, "%s: readlink: %s", name, strerror(errno));
        target[n] = 0;
        if (symlinkat(target, ddir, name) < 0)
            return fail(errno, "%s: symlink: %s", name, strerror(errno));
    } else if (mknodat(ddir, name, st->st_mode, st->st_rdev) < 0) {
        /* A device node in a user namespace: the container could not make
         * one either; leave it out rather than fail. */
        if (errno == EPERM && (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)))
            return 0;
        return fail(errno, "%s: mknod: %s", name, strerror(errno));
    }
    if (fchownat(ddir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != EINVAL)
        return fail(errno, "%s: chown: %s", name, strerror(errno));
    if (!S_ISLNK(st->st_mode) && fchmodat(ddir, name, st->st_mode & 07777, 0) < 0)
        return fail(errno, "%s: chmod: %s", name, strerror(errno));
    struct timespec t[2] = { st->st_atim, st->st_mtim };
    if (utimensat(ddir, name, t, AT_SYMLINK_NOFOLLOW) < 0)
        return fail(errno, "%s: times: %s", name, strerror(errno));
    return 0;
}

static int copy_dir(int src, int dst, int depth);

static int copy_subdir(int sdir, int ddir, const char *name, const struct stat *st, int depth)
{
    if (depth >= COPYUP_DEPTH)
        return fail(ELOOP, "%s: more than %d directories deep", name, COPYUP_DEPTH);
    if (mkdirat(ddir, name, 0700) < 0)
        return fail(errno, "%s: mkdir: %s", name, strerror(errno));
    int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    _cleanup_close_ int in = openat(sdir, name, flags);
    _cleanup_close_ int out = openat(ddir, name, flags);
    if (in < 0 || out < 0)
        return fail(errno, "%s: %s", name, strerror(errno));
    int r = copy_dir(in, out, depth + 1);
    if (r < 0)   /* the path grows outwards: "a/b/c: ..." */
        return fail(-r, "%s/%s", name, err_msg());
    /* Attributes last: a read-only directory must still take its entries,
     * and filling it would change its times. */
    return copy_attrs(in, out, st, name);
}

static int copy_dir(int src, int dst, int depth)
{
    int fd = fcntl(src, F_DUPFD_CLOEXEC, 3);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        int r = fail(errno, "reading a directory: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return r;
    }
    int r = 0;
    struct dirent *e;
    while (r == 0 && (errno = 0, e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(src, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            r = fail(errno, "%s: %s", e->d_name, strerror(errno));
        else if (S_ISDIR(st.st_mode))
            r = copy_subdir(src, dst, e->d_name, &st, depth);
        else if (S_ISREG(st.st_mode))
            r = copy_file(src, dst, e->d_name, &st);
        else
            r = copy_special(src, dst, e->d_name, &st);
    }
    if (r == 0 && errno)
        r = fail(errno, "reading a directory: %s", strerror(errno));
    closedir(d);
    return r;
}

int copyup_tree(int src, int dst, bool mode, bool owner)
{
    int r = copy_dir(src, dst, 0);
    if (r < 0)
        return r;
    struct stat st;
    if ((mode || owner) && fstat(src, &st) < 0)
        return fail(errno, "the image's directory: %s", strerror(errno));
    if (owner && fchown(dst, st.st_uid, st.st_gid) < 0 && errno != EINVAL)
        return fail(errno, "chown: %s", strerror(errno));
    if (mode && fchmod(dst, st.st_mode & 07777) < 0)
        return fail(errno, "chmod: %s", strerror(errno));
    struct timespec t[2] = { st.st_atim, st.st_mtim };
    if ((mode || owner) && futimens(dst, t) < 0)
        return fail(errno, "times: %s", strerror(errno));
    return 0;
}
