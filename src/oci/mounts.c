/* The container's root filesystem, built by its init in a fresh mount
 * namespace before pivot_root.
 *
 * Every path inside the rootfs is resolved with openat2(RESOLVE_IN_ROOT), so
 * a symlink planted in the image ("/etc -> /host/etc", "../../..") can never
 * send a mount, a device node or a directory outside the rootfs.  Mounts
 * then target the resolved O_PATH fd through /proc/self/fd/N (the host's
 * /proc, still visible here), never a path string that could be swapped. */
#include "oci/oci_internal.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>

int openat2_in_root(int rootfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    for (;;) {
        int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
        if (fd >= 0 || errno != EAGAIN)
            return fd;
    }
}

/* "/proc/self/fd/N" for mount(2). */
struct fdpath { char s[40]; };
static struct fdpath fdpath(int fd)
{
    struct fdpath p;
    snprintf(p.s, sizeof(p.s), "/proc/self/fd/%d", fd);
    return p;
}

/* Resolves path inside the rootfs, creating what is missing (directories,
 * and the last component as a file when file is set).  Returns an O_PATH fd. */
static int resolve_create(int rootfd, const char *path, bool file)
{
    char prefix[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof(prefix))
        return fail(ENAMETOOLONG, "%s: path too long", path);
    int fd = openat2_in_root(rootfd, path, O_PATH);
    if (fd >= 0 || errno != ENOENT)
        return fd >= 0 ? fd : fail(errno, "%s: %s", path, strerror(errno));
    /* Walk the prefixes from the root, creating each missing component in
     * the directory its parent resolved to. */
    int parent = openat2_in_root(rootfd, "/", O_PATH | O_DIRECTORY);
    if (parent < 0)
        return fail(errno, "cannot open the rootfs: %s", strerror(errno));
    for (size_t i = 0; i < len;) {
        while (path[i] == '/')
            i++;
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        if (j == i)
            break;
        memcpy(prefix, path, j);
        prefix[j] = 0;
        char name[NAME_MAX + 1];
        if (j - i > NAME_MAX) {
            close(parent);
            return fail(ENAMETOOLONG, "%s: name too long", path);
        }
        memcpy(name, path + i, j - i);
        name[j - i] = 0;
        bool last = true;
        for (size_t k = j; k < len; k++)
            if (path[k] != '/')
                last = false;
        fd = openat2_in_root(rootfd, prefix, O_PATH);
        if (fd < 0 && errno == ENOENT) {
            if (strcmp(name, "..") == 0 || strcmp(name, ".") == 0) {
                close(parent);
                return fail(EINVAL, "%s: cannot create \"%s\"", path, name);
            }
            int r;
            if (last && file) {
                r = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (r >= 0)
                    close(r);
            } else {
                r = mkdirat(parent, name, 0755);
            }
            if (r < 0 && errno != EEXIST) {
                r = fail(errno, "cannot create %s in the rootfs: %s", prefix, strerror(errno));
                close(parent);
                return r;
            }
            fd = openat2_in_root(rootfd, prefix, O_PATH);
        }
        close(parent);
        if (fd < 0)
            return fail(errno, "%s: %s", prefix, strerror(errno));
        parent = fd;
        i = j;
    }
    return parent;
}

/* Flags the kernel keeps on a bind mount's remount ("locked" in a user
 * namespace): carry them over unless the config turned them off. */
static unsigned long locked_flags(int fd, const struct oci_mount *m)
{
    struct statvfs sv;
    unsigned long f = 0;
    if (fstatvfs(fd, &sv) < 0)
        return 0;
    if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
    if (!(m->flags & (MS_NOATIME | MS_RELATIME | MS_STRICTATIME | MS_NODIRATIME))) {
        if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
        if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
        if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
    }
    return f & ~m->clear;
}

/* Remounts the mount now on top of path with the flags of m. */
static int remount(int rootfd, const char *path, const struct oci_mount *m)
{
    _cleanup_close_ int fd = openat2_in_root(rootfd, path, O_PATH);
    if (fd < 0)
        return fail(errno, "%s: %s", path, strerror(errno));
    unsigned long flags = (m->flags & ~(MS_REC | MS_BIND)) | locked_flags(fd, m);
    if (mount(NULL, fdpath(fd).s, NULL, MS_REMOUNT | MS_BIND | flags, NULL) < 0)
        return fail(errno, "cannot remount %s: %s", path, strerror(errno));
    return 0;
}

/* ---- the cgroup mount on v1 and hybrid hosts ---- */

/* Our path in the hierarchy whose /proc/self/cgroup field 2 is ctrl ("" for
 * cgroup2), into out. */
static int own_cgroup(const char *ctrl, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return fail(errno, "/proc/self/cgroup: %s", strerror(errno));
    char line[4096];
    int r = fail(ENOENT, "not in a \"%s\" cgroup", ctrl);
    while (fgets(line, sizeof(line), f)) {
        char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
        if (!b || (size_t)(b - a - 1) != strlen(ctrl) || strncmp(a + 1, ctrl, strlen(ctrl)))
            continue;
        b[1 + strcspn(b + 1, "\n")] = 0;
        r = snprintf(out, len, "%s", b + 1) < (int)len ? 0 : fail(ENAMETOOLONG, "cgroup path");
        break;
    }
    fclose(f);
    return r;
}

/* One hierarchy under the tmpfs: a fresh mount in a cgroup namespace (its
 * root is the container's cgroup), else a bind of the container's cgroup
 * directory; read-only unless the mount says "rw". */
static int mount_hierarchy(int dirfd, const struct cg_dir *d, const struct oci_mount *m,
                           bool cgns)
{
    const char *ctrl = d->unified ? "" : d->ctrl + 1;
    const char *name = d->unified ? "unified"
                     : strncmp(ctrl, "name=", 5) == 0 ? ctrl + 5 : ctrl;
    if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
        return fail(errno, "mount %s: %s: %s", m->destination, name, strerror(errno));
    _cleanup_close_ int fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return fail(errno, "mount %s: %s: %s", m->destination, name, strerror(errno));
    unsigned long ro = (m->flags & MS_RDONLY) || !(m->clear & MS_RDONLY) ? MS_RDONLY : 0;
    unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (cgns) {
        if (mount("cgroup", fdpath(fd).s, d->unified ? "cgroup2" : "cgroup", flags | ro,
                  d->unified ? NULL : ctrl) < 0)
            return fail(errno, "mount %s/%s (cgroup %s): %s", m->destination, name,
                        d->unified ? "v2" : ctrl, strerror(errno));
        return 0;
    }
    char own[CG_PATH_MAX], src[2 * CG_PATH_MAX];
    int r = own_cgroup(d->unified ? "" : ctrl, own, sizeof(own));
    if (r < 0)
        return fail(-r, "mount %s/%s: %s", m->destination, name, err_msg());
    snprintf(src, sizeof(src), "%.*s%s", (int)d->mnt_len, d->path, own);
    if (mount(src, fdpath(fd).s, NULL, MS_BIND, NULL) < 0)
        return fail(errno, "mount %s/%s: bind %s: %s", m->destination, name, src,
                    strerror(errno));
    /* The remount must name the new mount, not the directory under it. */
    _cleanup_close_ int top = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (top < 0 || mount(NULL, fdpath(top).s, NULL, MS_REMOUNT | MS_BIND | flags | ro, NULL) < 0)
        return fail(errno, "mount %s/%s: remount: %s", m->destination, name, strerror(errno));
    return 0;
}

/* The "cgroup" type on a pure cgroup2 host without a cgroup namespace: a
 * fresh cgroup2 mount would show the host's whole tree from its root (and
 * in a user namespace it is refused), so bind the container's own cgroup
 * directory, read-only unless the mount says "rw". */
static int mount_cgroup_v2_bind(int rootfd, int dstfd, const struct oci_mount *m,
                                const struct cg_dir *d)
{
    char own[CG_PATH_MAX], src[2 * CG_PATH_MAX];
    int r = own_cgroup("", own, sizeof(own));
    if (r < 0)
        return fail(-r, "mount %s: %s", m->destination, err_msg());
    snprintf(src, sizeof(src), "%.*s%s", (int)d->mnt_len, d->path, own);
    if (mount(src, fdpath(dstfd).s, NULL, MS_BIND, NULL) < 0)
        return fail(errno, "mount %s: bind %s: %s", m->destination, src, strerror(errno));
    unsigned long ro = (m->flags & MS_RDONLY) || !(m->clear & MS_RDONLY) ? MS_RDONLY : 0;
    _cleanup_close_ int top = openat2_in_root(rootfd, m->destination, O_PATH | O_DIRECTORY);
    if (top < 0 || mount(NULL, fdpath(top).s, NULL,
                         MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC | ro, NULL) < 0)
        return fail(errno, "mount %s: remount: %s", m->destination, strerror(errno));
    return 0;
}

/* The "cgroup" type where the host has v1 hierarchies, as runc mounts it:
 * a tmpfs with one directory per hierarchy (and "unified" for a hybrid
 * host's cgroup2), each showing the container's own cgroup.  On a pure
 * cgroup2 host, the container's cgroup2 directory; returns 1 if that is
 * for the caller to mount (a fresh cgroup2 in the cgroup namespace). */
static int mount_cgroup_v1(int rootfd, int dstfd, const struct oci_mount *m, bool cgns)
{
    struct cgroup cg;
    int r = cgroup_mounts(&cg);
    if (r < 0)
        return fail(-r, "mount %s: %s", m->destination, err_msg());
    if (cg.mode == CG_V2)
        return cgns ? 1 : mount_cgroup_v2_bind(rootfd, dstfd, m, cg.unified);
    unsigned long flags = (m->flags & ~MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (mount("tmpfs", fdpath(dstfd).s, "tmpfs", flags, "mode=755") < 0)
        return fail(errno, "mount %s (tmpfs for cgroups): %s", m->destination, strerror(errno));
    /* The fd still names the directory under the tmpfs: resolve again. */
    _cleanup_close_ int dir = openat2_in_root(rootfd, m->destination, O_RDONLY | O_DIRECTORY);
    if (dir < 0)
        return fail(errno, "mount %s: %s", m->destination, strerror(errno));
    for (size_t i = 0; i < cg.n; i++)
        if ((r = mount_hierarchy(dir, &cg.dir[i], m, cgns)) < 0)
            return r;
    if ((m->flags & MS_RDONLY) &&
        mount(NULL, fdpath(dir).s, NULL, MS_REMOUNT | flags | MS_RDONLY, "mode=755") < 0)
        return fail(errno, "mount %s: read-only: %s", m->destination, strerror(errno));
    return 0;
}

/* "name=" among comma-separated mount data. */
static bool has_option(const char *data, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = data; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, name, n) == 0)
            return true;
    return false;
}

/* tmpcopyup over image_dir, the directory the image has at the destination
 * (opened before the tmpfs hides it): mounted writable for the copy, then
 * read-only if asked.  Its root keeps the directory's mode and owner unless
 * the options set them, as runc keeps the mode. */
static int mount_copyup(int rootfd, int fd, int image_dir, const struct oci_mount *m,
                        const char *src)
{
    const char *dst = m->destination, *data = m->data ? m->data : "";
    if (mount(src, fdpath(fd).s, "tmpfs", m->flags & ~MS_RDONLY, m->data) < 0)
        return fail(errno, "mount %s (tmpfs): %s", dst, strerror(errno));
    _cleanup_close_ int top = openat2_in_root(rootfd, dst, O_RDONLY | O_DIRECTORY);
    if (top < 0)
        return fail(errno, "mount %s: %s", dst, strerror(errno));
    int r = copyup_tree(image_dir, top, !has_option(data, "mode="),
                        !has_option(data, "uid=") && !has_option(data, "gid="));
    if (r < 0)
        return fail(-r, "mount %s: tmpcopyup: %s", dst, err_msg());
    if ((m->flags & MS_RDONLY) && mount(NULL, fdpath(top).s, NULL, MS_REMOUNT | m->flags, NULL) < 0)
        return fail(errno, "mount %s: read-only: %s", dst, strerror(errno));
    return 0;
}

static int do_mount(int rootfd, const struct oci_mount *m, const char *bundle, bool in_userns,
                    bool cgns)
{
    const char *dst = m->destination;
    char src[PATH_MAX];
    bool bind = m->flags & MS_BIND;
    int n = bind && m->source[0] != '/'
        ? snprintf(src, sizeof(src), "%s/%s", bundle, m->source)
        : snprintf(src, sizeof(src), "%s", m->source ? m->source : m->type);
    if (n < 0 || n >= (int)sizeof(src))
        return fail(ENAMETOOLONG, "mount %s: source path too long", dst);
    struct stat st;
    bool file = false;
    if (bind) {
        if (stat(src, &st) < 0)
            return fail(errno, "mount %s: source %s: %s", dst, src, strerror(errno));
        file = !S_ISDIR(st.st_mode);
    }
    /* Before resolve_create: a directory made here has nothing to copy. */
    _cleanup_close_ int image_dir = -1;
    if (m->copyup && m->type && strcmp(m->type, "tmpfs") == 0)
        image_dir = openat2_in_root(rootfd, dst, O_RDONLY | O_DIRECTORY);
    _cleanup_close_ int fd = resolve_create(rootfd, dst, file);
    if (fd < 0)
        return fail(-fd, "mount %s: %s", dst, err_msg());
    const char *type = m->type;
    if (type && strcmp(type, "cgroup") == 0) {
        int r = mount_cgroup_v1(rootfd, fd, m, cgns);
        if (r <= 0)
            return r;
        type = "cgroup2";   /* a pure cgroup2 host */
    }
    if (bind) {
        if (mount(src, fdpath(fd).s, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0)
            return fail(errno, "mount %s: bind %s: %s", dst, src, strerror(errno));
        if (m->flags & ~(MS_BIND | MS_REC)) {
            int r = remount(rootfd, dst, m);
            if (r < 0)
                return r;
        }
    } else if (image_dir >= 0) {
        int r = mount_copyup(rootfd, fd, image_dir, m, src);
        if (r < 0)
            return r;
    } else if (mount(src, fdpath(fd).s, type, m->flags, m->data) < 0) {
        int e = errno;
        /* In a user namespace sysfs and mqueue need namespaces owned by it;
         * otherwise bind the host's instance, as runc does. */
        const char *host = strcmp(type, "sysfs") == 0 ? "/sys"
                         : strcmp(type, "mqueue") == 0 ? "/dev/mqueue" : NULL;
        if (!(in_userns && e == EPERM && host))
            return fail(e, "mount %s (%s): %s", dst, type, strerror(e));
        if (mount(host, fdpath(fd).s, NULL, MS_BIND | MS_REC, NULL) < 0)
            return fail(errno, "mount %s: bind %s: %s", dst, host, strerror(errno));
        struct oci_mount ro = *m;
        ro.flags |= MS_BIND;
        int r = remount(rootfd, dst, &ro);
        if (r < 0)
            return r;
    }
    if (m->propagation) {
        _cleanup_close_ int top = openat2_in_root(rootfd, dst, O_PATH);
        if (top < 0 || mount(NULL, fdpath(top).s, NULL, m->propagation, NULL) < 0)
            return fail(errno, "mount %s: propagation: %s", dst, strerror(errno));
    }
    return 0;
}

/* ---- /dev ---- */

static const struct oci_device default_devices[] = {
    { "/dev/null", 'c', 1, 3, 0666, 0, 0 },    { "/dev/zero", 'c', 1, 5, 0666, 0, 0 },
    { "/dev/full", 'c', 1, 7, 0666, 0, 0 },    { "/dev/random", 'c', 1, 8, 0666, 0, 0 },
    { "/dev/urandom", 'c', 1, 9, 0666, 0, 0 }, { "/dev/tty", 'c', 5, 0, 0666, 0, 0 },
};

static const char *const dev_symlinks[][2] = {
    { "/dev/fd", "/proc/self/fd" },        { "/dev/stdin", "/proc/self/fd/0" },
    { "/dev/stdout", "/proc/self/fd/1" },  { "/dev/stderr", "/proc/self/fd/2" },
    { "/dev/ptmx", "pts/ptmx" },
};

/* Splits "/dev/x/y" into an O_PATH fd of "/dev/x" (created if missing) and "y". */
static int open_parent(int rootfd, const char *path, const char **name)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t n = (size_t)(slash - path);
    if (n >= sizeof(dir) || !slash[1] || strcmp(slash + 1, "..") == 0 || strcmp(slash + 1, ".") == 0)
        return fail(EINVAL, "%s: invalid path", path);
    memcpy(dir, path, n);
    dir[n] = 0;
    *name = slash + 1;
    int fd = resolve_create(rootfd, n ? dir : "/", false);
    return fd < 0 ? fail(-fd, "%s: %s", path, err_msg()) : fd;
}

static int create_device(int rootfd, const struct oci_device *d, bool in_userns)
{
    const char *name;
    _cleanup_close_ int dir = open_parent(rootfd, d->path, &name);
    if (dir < 0)
        return dir;
    /* mknodat and friends refuse O_PATH parents for some calls: reopen. */
    _cleanup_close_ int dfd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return fail(errno, "%s: %s", d->path, strerror(errno));
    if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT && errno != EISDIR)
        return fail(errno, "%s: cannot replace: %s", d->path, strerror(errno));
    mode_t type = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
    if (!in_userns || d->type == 'p') {
        if (mknodat(dfd, name, type | (d->mode & 07777), makedev(d->major, d->minor)) < 0)
            return fail(errno, "%s: mknod: %s", d->path, strerror(errno));
        if (fchownat(dfd, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
            return fail(errno, "%s: chown: %s", d->path, strerror(errno));
        /* The mode as configured, not as the caller's umask left it. */
        if (fchmodat(dfd, name, d->mode & 07777, 0) < 0)
            return fail(errno, "%s: chmod: %s", d->path, strerror(errno));
        return 0;
    }
    /* No mknod in a user namespace: bind the host's node over an empty file. */
    int f = openat(dfd, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (f < 0)
        return fail(errno, "%s: %s", d->path, strerror(errno));
    int r = 0;
    if (mount(d->path, fdpath(f).s, NULL, MS_BIND, NULL) < 0)
        r = fail(errno, "%s: bind from the host: %s", d->path, strerror(errno));
    close(f);
    return r;
}

/* A bind mount of the whole /dev means the config brings its own devices. */
static bool config_binds_dev(const struct oci_spec *s)
{
    for (size_t i = 0; i < s->nmounts; i++)
        if ((s->mounts[i].flags & MS_BIND) && strcmp(s->mounts[i].destination, "/dev") == 0)
            return true;
    return false;
}

static int setup_dev(int rootfd, const struct oci_spec *s, bool in_userns)
{
    int r;
    if (config_binds_dev(s))
        return 0;
    for (size_t i = 0; i < ARRAY_SIZE(default_devices); i++)
        if ((r = create_device(rootfd, &default_devices[i], in_userns)) < 0)
            return r;
    for (size_t i = 0; i < s->ndevices; i++)
        if ((r = create_device(rootfd, &s->devices[i], in_userns)) < 0)
            return r;
    for (size_t i = 0; i < ARRAY_SIZE(dev_symlinks); i++) {
        const char *name;
        _cleanup_close_ int dir = open_parent(rootfd, dev_symlinks[i][0], &name);
        if (dir < 0)
            return dir;
        if (strcmp(name, "ptmx") == 0)
            (void)unlinkat(dir, name, 0);
        if (symlinkat(dev_symlinks[i][1], dir, name) < 0 && errno != EEXIST)
            return fail(errno, "%s: symlink: %s", dev_symlinks[i][0], strerror(errno));
    }
    return 0;
}

/* ---- masked and read-only paths ---- */

static int mask_path(int rootfd, const char *path)
{
    _cleanup_close_ int fd = openat2_in_root(rootfd, path, O_PATH);
    if (fd < 0)
        return errno == ENOENT ? 0 : fail(errno, "linux.maskedPaths: %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0)
        return fail(errno, "linux.maskedPaths: %s: %s", path, strerror(errno));
    int r = S_ISDIR(st.st_mode)
        ? mount("tmpfs", fdpath(fd).s, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)
        : mount("/dev/null", fdpath(fd).s, NULL, MS_BIND, NULL);
    if (r < 0)
        return fail(errno, "linux.maskedPaths: %s: %s", path, strerror(errno));
    return 0;
}

static int readonly_path(int rootfd, const char *path)
{
    _cleanup_close_ int fd = openat2_in_root(rootfd, path, O_PATH);
    if (fd < 0)
        return errno == ENOENT ? 0
                               : fail(errno, "linux.readonlyPaths: %s: %s", path, strerror(errno));
    if (mount(fdpath(fd).s, fdpath(fd).s, NULL, MS_BIND | MS_REC, NULL) < 0)
        return fail(errno, "linux.readonlyPaths: %s: %s", path, strerror(errno));
    struct oci_mount m = { .flags = MS_RDONLY };
    int r = remount(rootfd, path, &m);
    return r < 0 ? fail(-r, "linux.readonlyPaths: %s", err_msg()) : 0;
}

/* ---- sysctl ---- */

/* Written through the container's own /proc (the keys were checked to be
 * namespaced), before readonlyPaths makes /proc/sys read-only. */
static int set_sysctls(int rootfd, const struct oci_spec *s)
{
    for (size_t i = 0; s->sysctl_keys && s->sysctl_keys[i]; i++) {
        char path[PATH_MAX];
        int n = snprintf(path, sizeof(path), "/proc/sys/%s", s->sysctl_keys[i]);
        for (char *p = path + 10; p < path + n; p++)
            if (*p == '.')
                *p = '/';
        _cleanup_close_ int fd = openat2_in_root(rootfd, path, O_WRONLY | O_TRUNC);
        struct statfs sf;
        if (fd < 0 || fstatfs(fd, &sf) < 0)
            return fail(errno, "linux.sysctl.%s: %s", s->sysctl_keys[i], strerror(errno));
        if (sf.f_type != PROC_SUPER_MAGIC)
            return fail(EINVAL, "linux.sysctl.%s: the container has no procfs at /proc",
                        s->sysctl_keys[i]);
        if (write_all(fd, s->sysctl_values[i], strlen(s->sysctl_values[i])) < 0)
            return fail(errno, "linux.sysctl.%s: %s", s->sysctl_keys[i], strerror(errno));
    }
    return 0;
}

/* ---- the sequence ---- */

static int pivot(const char *rootfs)
{
    _cleanup_close_ int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    _cleanup_close_ int newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (oldroot < 0 || newroot < 0 || fchdir(newroot) < 0)
        return fail(errno, "pivot_root: %s: %s", rootfs, strerror(errno));
    /* pivot_root(".", ".") stacks the old root on the new one; detach it. */
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return fail(errno, "pivot_root: %s", strerror(errno));
    if (fchdir(oldroot) < 0 || mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0 ||
        umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
        return fail(errno, "pivot_root: detaching the old root: %s", strerror(errno));
    return 0;
}

int rootfs_setup(const struct oci_spec *s, const char *rootfs, bool in_userns, int *pty_master,
                 const char *hook_state)
{
    int r;
    /* Nothing done below may propagate back to the host. */
    unsigned long prop = s->rootfs_propagation & (MS_PRIVATE | MS_SLAVE) ? s->rootfs_propagation
                                                                        : MS_SLAVE | MS_REC;
    if (mount(NULL, "/", NULL, prop | MS_REC, NULL) < 0)
        return fail(errno, "making / %s: %s", prop & MS_PRIVATE ? "private" : "slave",
                    strerror(errno));
    if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        return fail(errno, "bind-mounting the rootfs %s: %s", rootfs, strerror(errno));
    _cleanup_close_ int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return fail(errno, "rootfs %s: %s", rootfs, strerror(errno));
    /* Bind sources relative to the bundle: the rootfs's parent is not
     * necessarily the bundle, so use the cwd the caller set (the bundle). */
    char bundle[PATH_MAX];
    if (!getcwd(bundle, sizeof(bundle)))
        return fail(errno, "getcwd: %s", strerror(errno));
    for (size_t i = 0; i < s->nmounts; i++)
        if ((r = do_mount(rootfd, &s->mounts[i], bundle, in_userns,
                          oci_spec_ns(s, CLONE_NEWCGROUP) != NULL)) < 0)
            return r;
    if ((r = setup_dev(rootfd, s, in_userns)) < 0)
        return r;
    if (pty_master) {
        _cleanup_close_ int ptmx = openat2_in_root(rootfd, "/dev/pts/ptmx", O_PATH);
        if (ptmx < 0)
            return fail(errno, "process.terminal: the container has no /dev/pts/ptmx (mount "
                               "devpts with newinstance): %s", strerror(errno));
        *pty_master = open(fdpath(ptmx).s, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (*pty_master < 0)
            return fail(errno, "process.terminal: opening /dev/pts/ptmx: %s", strerror(errno));
    }
    if ((r = set_sysctls(rootfd, s)) < 0)
        return r;
    for (size_t i = 0; s->masked_paths && s->masked_paths[i]; i++)
        if ((r = mask_path(rootfd, s->masked_paths[i])) < 0)
            return r;
    for (size_t i = 0; s->readonly_paths && s->readonly_paths[i]; i++)
        if ((r = readonly_path(rootfd, s->readonly_paths[i])) < 0)
            return r;
    if (s->root_readonly) {
        struct oci_mount m = { .flags = MS_RDONLY };
        if ((r = remount(rootfd, "/", &m)) < 0)
            return fail(-r, "root.readonly: %s", err_msg());
    }
    if (hook_state && (r = hooks_run(&s->hooks, OCI_HOOK_CREATE_CONTAINER, hook_state)) < 0)
        return r;
    if ((r = pivot(rootfs)) < 0)
        return r;
    if (s->rootfs_propagation && mount(NULL, "/", NULL, s->rootfs_propagation, NULL) < 0)
        return fail(errno, "linux.rootfsPropagation: %s", strerror(errno));
    return 0;
}
