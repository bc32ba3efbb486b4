/* Unpacking image layers (and image archives) from tar streams.
 *
 * libarchive reads the bytes; the file system is written here, by hand, so
 * that every rule is ours: each entry's path is made canonical and checked
 * (no absolute names, no "..", bounded length and depth), its parent is
 * opened one component at a time with O_NOFOLLOW from the layer's root, so
 * a symlink unpacked earlier can never redirect a later entry, hard links
 * must point at an entry of the same stream, device nodes are refused (a
 * 0/0 character device is an overlayfs whiteout and allowed), only user.*
 * and security.capability xattrs are kept and trusted.* is refused (it
 * would steer overlayfs).  Setuid/setgid bits are kept, as the image spec's
 * "Mode" attribute says; ownership is applied before the mode so chown
 * cannot clear them.
 *
 * Two archive readers are chained: the outer one only decompresses (raw
 * format, any filter); the inner one parses tar from what the outer one
 * yields.  Between them every uncompressed byte is counted (the expansion
 * cap stops decompression bombs) and hashed (the layer's diff_id). */
#include "oci/image_internal.h"
#include "util/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#define CHUNK (64 * 1024)

/* ---- names ---- */

enum img_whiteout layer_whiteout(const char *base)
{
    if (strncmp(base, ".wh.", 4) != 0)
        return WH_NONE;
    if (strcmp(base, ".wh..wh..opq") == 0)
        return WH_OPAQUE;
    if (strncmp(base, ".wh..wh.", 8) == 0)
        return WH_RESERVED;
    const char *victim = base + 4;
    if (!*victim || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0)
        return WH_INVALID;
    return WH_FILE;
}

int layer_clean_path(const char *name, char *out, size_t len)
{
    if (name[0] == '/')
        return fail(EINVAL, "entry \"%.200s\": absolute path", name);
    size_t n = 0, depth = 0;
    for (const char *p = name; *p;) {
        const char *end = strchrnul(p, '/');
        size_t clen = (size_t)(end - p);
        if (clen == 2 && p[0] == '.' && p[1] == '.')
            return fail(EINVAL, "entry \"%.200s\": \"..\" in the path", name);
        if (clen > NAME_MAX)
            return fail(ENAMETOOLONG, "entry \"%.200s...\": a name longer than %d bytes", name,
                        NAME_MAX);
        if (clen > 0 && !(clen == 1 && p[0] == '.')) {
            if (n + clen + 2 > len || n + clen + 1 > IMG_PATH_MAX)
                return fail(ENAMETOOLONG, "entry \"%.200s...\": path longer than %d bytes",
                            name, IMG_PATH_MAX);
            if (++depth > IMG_DEPTH_MAX)
                return fail(EINVAL, "entry \"%.200s...\": more than %d directory levels", name,
                            IMG_DEPTH_MAX);
            if (n)
                out[n++] = '/';
            memcpy(out + n, p, clen);
            n += clen;
        }
        p = *end ? end + 1 : end;
    }
    out[n] = 0;
    return 0;
}

/* ---- deciding what an entry is ---- */

int layer_classify(struct archive_entry *e, const struct layer_opts *o, char *path, size_t len)
{
    const char *name = archive_entry_pathname(e);
    if (!name)
        return fail(EINVAL, "an entry without a usable name");
    int r = layer_clean_path(name, path, len);
    if (r < 0)
        return r;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    mode_t type = archive_entry_filetype(e);
    la_int64_t size = archive_entry_size(e);
    if (archive_entry_size_is_set(e) && (size < 0 || (uint64_t)size > o->max_bytes))
        return fail(EFBIG, "entry \"%s\": size %lld is over the limit of %llu bytes", path,
                    (long long)size, (unsigned long long)o->max_bytes);
    if (archive_entry_uid(e) < 0 || archive_entry_uid(e) >= UINT32_MAX ||
        archive_entry_gid(e) < 0 || archive_entry_gid(e) >= UINT32_MAX)
        return fail(EINVAL, "entry \"%s\": owner %lld:%lld is out of range", path,
                    (long long)archive_entry_uid(e), (long long)archive_entry_gid(e));
    if (!*path)
        return type == AE_IFDIR ? LA_SKIP
                                : fail(EINVAL, "entry \"%s\": the root must be a directory", name);
    if (o->whiteouts) {
        enum img_whiteout w = layer_whiteout(base);
        if (w == WH_INVALID)
            return fail(EINVAL, "entry \"%s\": an invalid whiteout name", path);
        if (w == WH_RESERVED)
            return LA_SKIP;
        if (w != WH_NONE && (type != AE_IFREG || archive_entry_hardlink(e)))
            return fail(EINVAL, "entry \"%s\": a whiteout must be a regular file", path);
        if (w != WH_NONE)
            return w == WH_OPAQUE ? LA_OPAQUE : LA_WHITEOUT;
    }
    if (archive_entry_hardlink(e))
        return LA_HARDLINK;
    switch (type) {
    case AE_IFREG: return LA_FILE;
    case AE_IFDIR: return LA_DIR;
    case AE_IFLNK:
        if (!archive_entry_symlink(e))
            return fail(EINVAL, "entry \"%s\": a symlink without a target", path);
        if (strlen(archive_entry_symlink(e)) >= PATH_MAX)
            return fail(ENAMETOOLONG, "entry \"%s\": symlink target too long", path);
        return LA_SYMLINK;
    case AE_IFIFO:
        return o->whiteouts ? LA_FIFO : fail(EINVAL, "entry \"%s\": a FIFO in an image archive", path);
    case AE_IFCHR:
        /* An overlayfs whiteout written as-is by some tools. */
        if (o->whiteouts && archive_entry_rdev(e) == 0)
            return LA_WHITEOUT;
        /* fall through */
    case AE_IFBLK:
        return fail(EPERM, "entry \"%s\": device nodes are not allowed in images (%s %u:%u)",
                    path, type == AE_IFCHR ? "char" : "block", (unsigned)archive_entry_rdevmajor(e),
                    (unsigned)archive_entry_rdevminor(e));
    default:
        return fail(EINVAL, "entry \"%s\": unsupported file type 0%o", path, (unsigned)type);
    }
}

/* ---- the file system side ---- */

int rm_tree_at(int parentfd, const char *name)
{
    if (unlinkat(parentfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return fail(errno, "removing %s: %s", name, strerror(errno));
    struct stat parent, st;
    int fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return fail(errno, "removing %s: %s", name, strerror(errno));
    if (fstatat(fd, "..", &parent, 0) < 0 || fstat(fd, &st) < 0 || parent.st_dev != st.st_dev) {
        close(fd);
        return fail(EBUSY, "removing %s: it is a mount point", name);
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return fail(errno, "removing %s: %s", name, strerror(errno));
    }
    int r = 0;
    for (struct dirent *e; r == 0 && (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            r = rm_tree_at(dirfd(d), e->d_name);
    closedir(d);
    if (r == 0 && unlinkat(parentfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        r = fail(errno, "removing %s: %s", name, strerror(errno));
    return r;
}

int sha256_fd(int fd, char hex[IMG_HEX_LEN + 1], uint64_t *size)
{
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    static __thread unsigned char buf[CHUNK];
    uint64_t total = 0;
    for (ssize_t n; (n = read(fd, buf, sizeof(buf))) != 0;) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(errno, "read: %s", strerror(errno));
        crypto_hash_sha256_update(&h, buf, (size_t)n);
        total += (uint64_t)n;
    }
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&h, d);
    sodium_bin2hex(hex, IMG_HEX_LEN + 1, d, sizeof(d));
    if (size)
        *size = total;
    return 0;
}

/* Opens directory PATH below rootfd, one component at a time, refusing
 * symlinks; creates missing directories (0755, root) if create. */
static int open_dir(int rootfd, const char *path, bool create, const char *entry)
{
    int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char buf[IMG_PATH_MAX + 1], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *c = strtok_r(buf, "/", &save); fd >= 0 && c; c = strtok_r(NULL, "/", &save)) {
        int next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create &&
            (mkdirat(fd, c, 0755) == 0 || errno == EEXIST))
            next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int err = errno;
        close(fd);
        fd = next;
        if (fd < 0) {
            if (err == ELOOP || err == ENOTDIR)
                return fail(ELOOP, "entry \"%s\": \"%s\" is a symlink or not a directory: "
                            "refusing to write through it", entry, c);
            return fail(err, "entry \"%s\": %s: %s", entry, c, strerror(err));
        }
    }
    return fd < 0 ? fail(errno, "entry \"%s\": %s", entry, strerror(errno)) : fd;
}

/* Makes room for a new entry NAME in dirfd: a directory stays if keep_dir,
 * anything else there is removed (a later entry replaces an earlier one). */
static int make_room(int dirfd, const char *name, bool keep_dir, bool *kept)
{
    struct stat st;
    *kept = false;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : fail(errno, "%s: %s", name, strerror(errno));
    if (S_ISDIR(st.st_mode) && keep_dir) {
        *kept = true;
        return 0;
    }
    return rm_tree_at(dirfd, name);
}

static int apply_xattrs(int fd, struct archive_entry *e, const char *path)
{
    const char *name;
    const void *value;
    size_t size;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
        if (strncmp(name, "trusted.", 8) == 0)
            return fail(EPERM, "entry \"%s\": xattr %s is not allowed in an image", path, name);
        if (strncmp(name, "user.", 5) != 0 && strcmp(name, "security.capability") != 0)
            continue;   /* security.selinux and the like describe another host */
        if (fsetxattr(fd, name, value, size, 0) < 0)
            return fail(errno, "entry \"%s\": xattr %s: %s", path, name, strerror(errno));
    }
    return 0;
}

/* Owner, then mode (chown clears setuid), xattrs and times of an open fd. */
static int apply_meta(int fd, struct archive_entry *e, const char *path)
{
    struct timespec ts[2] = { { archive_entry_mtime(e), archive_entry_mtime_nsec(e) },
                              { archive_entry_mtime(e), archive_entry_mtime_nsec(e) } };
    if (fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0 ||
        fchmod(fd, archive_entry_perm(e) & 07777) < 0)
        return fail(errno, "entry \"%s\": %s", path, strerror(errno));
    int r = apply_xattrs(fd, e, path);
    if (r == 0 && futimens(fd, ts) < 0)
        r = fail(errno, "entry \"%s\": %s", path, strerror(errno));
    return r;
}

static int write_file(struct archive *a, int dirfd, const char *base, struct archive_entry *e,
                      const char *path)
{
    _cleanup_close_ int fd = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                                    O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(errno, "entry \"%s\": %s", path, strerror(errno));
    const void *buf;
    size_t n;
    la_int64_t off;
    int r;
    while ((r = archive_read_data_block(a, &buf, &n, &off)) == ARCHIVE_OK)
        if (n && pwrite(fd, buf, n, off) != (ssize_t)n)
            return fail(errno ? errno : EIO, "entry \"%s\": %s", path, strerror(errno));
    if (r != ARCHIVE_EOF)
        return fail(EINVAL, "entry \"%s\": %s", path, archive_error_string(a));
    /* Sparse files end in a hole. */
    if (ftruncate(fd, archive_entry_size(e)) < 0)
        return fail(errno, "entry \"%s\": %s", path, strerror(errno));
    return apply_meta(fd, e, path);
}

static int extract(struct archive *a, struct archive_entry *e, int rootfd, int kind,
                   const char *path)
{
    char parent[IMG_PATH_MAX + 1];
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - path) : 0, path);
    _cleanup_close_ int dirfd = open_dir(rootfd, parent, true, path);
    if (dirfd < 0)
        return dirfd;
    bool kept;
    int r = 0;
    if (kind == LA_OPAQUE) {
        if (fsetxattr(dirfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
            return fail(errno, "entry \"%s\": marking the directory opaque: %s", path,
                        strerror(errno));
        return 0;
    }
    if (kind == LA_WHITEOUT && archive_entry_filetype(e) != AE_IFCHR)
        base += 4;   /* ".wh.NAME" hides NAME */
    if ((r = make_room(dirfd, base, kind == LA_DIR, &kept)) < 0)
        return r;
    switch (kind) {
    case LA_FILE:
        return write_file(a, dirfd, base, e, path);
    case LA_DIR: {
        if (!kept && mkdirat(dirfd, base, 0700) < 0)
            return fail(errno, "entry \"%s\": %s", path, strerror(errno));
        _cleanup_close_ int fd = openat(dirfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                        O_CLOEXEC);
        return fd < 0 ? fail(errno, "entry \"%s\": %s", path, strerror(errno))
                      : apply_meta(fd, e, path);
    }
    case LA_SYMLINK:
        if (symlinkat(archive_entry_symlink(e), dirfd, base) < 0 ||
            fchownat(dirfd, base, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                     AT_SYMLINK_NOFOLLOW) < 0)
            return fail(errno, "entry \"%s\": %s", path, strerror(errno));
        return 0;
    case LA_HARDLINK: {
        char target[IMG_PATH_MAX + 1], tparent[IMG_PATH_MAX + 1];
        if ((r = layer_clean_path(archive_entry_hardlink(e), target, sizeof(target))) < 0)
            return fail(-r, "entry \"%s\": hard link target: %s", path, err_msg());
        const char *ts = strrchr(target, '/'), *tbase = ts ? ts + 1 : target;
        snprintf(tparent, sizeof(tparent), "%.*s", ts ? (int)(ts - target) : 0, target);
        _cleanup_close_ int tfd = *target ? open_dir(rootfd, tparent, false, path) : -1;
        if (!*target || tfd < 0)
            return fail(EINVAL, "entry \"%s\": hard link to \"%s\", which is not in this layer",
                        path, target);
        if (linkat(tfd, tbase, dirfd, base, 0) < 0)
            return fail(errno, "entry \"%s\": hard link to \"%s\": %s", path, target,
                        errno == ENOENT ? "not in this layer" : strerror(errno));
        return 0;
    }
    case LA_FIFO:
        if (mkfifoat(dirfd, base, 0600) < 0 ||
            fchownat(dirfd, base, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                     AT_SYMLINK_NOFOLLOW) < 0 ||
            fchmodat(dirfd, base, archive_entry_perm(e) & 07777, 0) < 0)
            return fail(errno, "entry \"%s\": %s", path, strerror(errno));
        return 0;
    case LA_WHITEOUT:
        if (mknodat(dirfd, base, S_IFCHR | 0600, makedev(0, 0)) < 0)
            return fail(errno, "entry \"%s\": creating the whiteout: %s", path, strerror(errno));
        return 0;
    }
    return 0;
}

/* ---- the two chained readers ---- */

struct stream {
    struct archive *outer;
    int fd;
    crypto_hash_sha256_state hash;
    uint64_t bytes, max;
    unsigned char in[CHUNK], out[CHUNK];
};

static la_ssize_t read_fd(struct archive *a, void *arg, const void **buf)
{
    struct stream *s = arg;
    ssize_t n;
    while ((n = read(s->fd, s->in, sizeof(s->in))) < 0 && errno == EINTR) {
    }
    if (n < 0)
        archive_set_error(a, errno, "read: %s", strerror(errno));
    *buf = s->in;
    return n;
}

/* The inner reader's input: the outer reader's decompressed output. */
static la_ssize_t read_inflated(struct archive *a, void *arg, const void **buf)
{
    struct stream *s = arg;
    la_ssize_t n = archive_read_data(s->outer, s->out, sizeof(s->out));
    if (n < 0) {
        archive_set_error(a, EINVAL, "decompressing: %s", archive_error_string(s->outer));
        return -1;
    }
    s->bytes += (uint64_t)n;
    if (s->bytes > s->max) {
        archive_set_error(a, EFBIG, "it expands to more than %ju bytes (the limit)",
                          (uintmax_t)s->max);
        return -1;
    }
    crypto_hash_sha256_update(&s->hash, s->out, (size_t)n);
    *buf = s->out;
    return n;
}

static int unpack_entries(struct archive *in, int rootfd, const struct layer_opts *o)
{
    struct archive_entry *e;
    char path[IMG_PATH_MAX + 1];
    uint64_t count = 0;
    int r, ar;
    while ((ar = archive_read_next_header(in, &e)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
        if (++count > o->max_entries)
            return fail(EFBIG, "more than %llu entries (the limit)",
                        (unsigned long long)o->max_entries);
        if ((r = layer_classify(e, o, path, sizeof(path))) < 0)
            return r;
        if (r != LA_SKIP && (r = extract(in, e, rootfd, r, path)) < 0)
            return r;
    }
    if (ar != ARCHIVE_EOF)
        return fail(EINVAL, "%s", archive_error_string(in) ? archive_error_string(in)
                                                           : "not a tar archive");
    return 0;
}

int layer_unpack(int srcfd, int rootfd, const struct layer_opts *o, uint64_t *expanded)
{
    struct stream *s = calloc(1, sizeof(*s));
    struct archive *outer = archive_read_new(), *in = archive_read_new();
    int r = 0;
    if (!s || !outer || !in) {
        r = fail(ENOMEM, "out of memory");
        goto out;
    }
    s->fd = srcfd;
    s->max = o->max_bytes;
    s->outer = outer;
    crypto_hash_sha256_init(&s->hash);
    struct archive_entry *e;
    archive_read_support_filter_all(outer);
    archive_read_support_format_raw(outer);
    archive_read_support_format_tar(in);
    if (archive_read_open(outer, s, NULL, read_fd, NULL) != ARCHIVE_OK ||
        archive_read_next_header(outer, &e) != ARCHIVE_OK) {
        r = fail(EINVAL, "%s", archive_error_string(outer) ? archive_error_string(outer)
                                                          : "cannot read it");
        goto out;
    }
    if (rootfd < 0) {
        /* Only the digest is wanted: no tar parsing. */
    } else if (archive_read_open(in, s, NULL, read_inflated, NULL) != ARCHIVE_OK) {
        r = fail(EINVAL, "not a tar archive: %s", archive_error_string(in) ?
                 archive_error_string(in) : "unknown format");
        goto out;
    }
    if (rootfd >= 0 && (r = unpack_entries(in, rootfd, o)) < 0)
        goto out;
    /* Hash what follows the tar's end marker too: the digest covers it all. */
    for (const void *b; read_inflated(in, s, &b) > 0;) {
    }
    if (s->bytes > s->max) {
        r = fail(EFBIG, "it expands to more than %llu bytes (the limit)",
                 (unsigned long long)s->max);
        goto out;
    }
    unsigned char d[crypto_hash_sha256_BYTES];
    char hex[IMG_HEX_LEN + 1];
    crypto_hash_sha256_final(&s->hash, d);
    sodium_bin2hex(hex, sizeof(hex), d, sizeof(d));
    if (o->diff_id && strcmp(hex, o->diff_id) != 0)
        r = fail(EINVAL, "digest mismatch: the config's diff_id is sha256:%s, the content is "
                 "sha256:%s", o->diff_id, hex);
    if (expanded)
        *expanded = s->bytes;
out:
    if (in)
        archive_read_free(in);
    if (outer)
        archive_read_free(outer);
    free(s);
    return r;
}
