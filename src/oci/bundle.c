/* Bundles from images: BUNDLE/rootfs is an overlay of the image's layers
 * (read-only, shared, from the store) under a private BUNDLE/upper, and
 * BUNDLE/config.json is `corral-oci spec`'s default with the image
 * config's Env, Entrypoint + Cmd, WorkingDir and User applied.  The file
 * BUNDLE/corral-image marks the directory as ours, so oci_bundle_remove()
 * never deletes a directory it did not make. */
#include "oci/image_internal.h"
#include "oci/oci_internal.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>

#define MARKER "corral-image"
#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The kernel's own words when an overlay cannot be made (fsopen's log). */
static int fs_error(int fs, const char *what, int err)
{
    char log[300];
    ssize_t n = read(fs, log, sizeof(log) - 1);
    if (n > 2) {
        log[n] = 0;
        log[strcspn(log, "\n")] = 0;
        return fail(err, "%s: %s (%s)", what, strerror(err), log + 2);
    }
    return fail(err, "%s: %s", what, strerror(err));
}

static int mount_overlay(const char *store, char *const *layers, const char *dir)
{
    char path[PATH_MAX];
    size_t n = 0;
    while (layers[n])
        n++;
    if (n == 0)
        return fail(EINVAL, "the image has no layers");
    _cleanup_close_ int fs = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fs < 0)
        return fail(errno, "overlayfs: %s", strerror(errno));
    /* lowerdir+ one layer at a time (no 4 KiB option limit); the top first. */
    for (size_t i = n; i-- > 0;) {
        snprintf(path, sizeof(path), "%s/layers/%s", store, layers[i] + 7);
        if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", path, 0) < 0)
            return fs_error(fs, "overlay lowerdir", errno);
    }
    char upper[PATH_MAX + 16], work[PATH_MAX + 16], rootfs[PATH_MAX + 16];
    snprintf(upper, sizeof(upper), "%s/upper", dir);
    snprintf(work, sizeof(work), "%s/work", dir);
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", dir);
    if (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
        fsconfig(fs, FSCONFIG_SET_STRING, "workdir", work, 0) < 0 ||
        fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return fs_error(fs, "overlay", errno);
    _cleanup_close_ int mnt = fsmount(fs, FSMOUNT_CLOEXEC, 0);
    if (mnt < 0 || move_mount(mnt, "", AT_FDCWD, rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return fail(errno, "mounting the overlay on %s: %s", rootfs, strerror(errno));
    return 0;
}

/* /etc/passwd or /etc/group of the mounted image (NULL if absent). */
static char *image_file(int rootfd, const char *path)
{
    _cleanup_close_ int fd = openat2_in_root(rootfd, path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)MiB)
        return NULL;
    char *text = malloc((size_t)st.st_size + 1);
    ssize_t n = text ? read_full(fd, text, (size_t)st.st_size) : -1;
    if (n < 0) {
        free(text);
        return NULL;
    }
    text[n] = 0;
    return text;
}

static json_object *strv_json(char *const *v)
{
    json_object *a = json_object_new_array();
    for (; v && *v; v++)
        json_object_array_add(a, json_object_new_string(*v));
    return a;
}

static bool env_has(char *const *env, const char *name)
{
    size_t len = strlen(name);
    for (; env && *env; env++)
        if (strncmp(*env, name, len) == 0 && (*env)[len] == '=')
            return true;
    return false;
}

static int process_json(json_object *proc, const struct img_config *c, const char *rootfs,
                        const struct oci_bundle_opts *o)
{
    json_object *args = strv_json(c->entrypoint);
    char *const *cmd = o->args ? o->args : c->cmd;
    for (; cmd && *cmd; cmd++)
        json_object_array_add(args, json_object_new_string(*cmd));
    if (json_object_array_length(args) == 0) {
        json_object_put(args);
        return fail(EINVAL, "the image has no Entrypoint or Cmd: give the command after --");
    }
    json_object_object_add(proc, "args", args);
    json_object *env = strv_json(c->env);
    if (!env_has(c->env, "PATH"))
        json_object_array_add(env, json_object_new_string(DEFAULT_PATH));
    if (o->terminal && !env_has(c->env, "TERM"))
        json_object_array_add(env, json_object_new_string("TERM=xterm"));
    json_object_object_add(proc, "env", env);
    json_object_object_add(proc, "terminal", json_object_new_boolean(o->terminal));
    json_object_object_add(proc, "cwd", json_object_new_string(c->workdir ? c->workdir : "/"));
    uint32_t uid = 0, gid = 0, *gids = NULL;
    size_t ngids = 0;
    if (c->user) {
        _cleanup_close_ int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_free_ char *passwd = rootfd < 0 ? NULL : image_file(rootfd, "/etc/passwd");
        _cleanup_free_ char *group = rootfd < 0 ? NULL : image_file(rootfd, "/etc/group");
        int r = img_resolve_user(c->user, passwd, group, &uid, &gid, &gids, &ngids);
        if (r < 0)
            return fail(-r, "image config: %s", err_msg());
    }
    json_object *user = json_object_new_object();
    json_object_object_add(user, "uid", json_object_new_int64(uid));
    json_object_object_add(user, "gid", json_object_new_int64(gid));
    if (ngids) {
        json_object *g = json_object_new_array();
        for (size_t i = 0; i < ngids; i++)
            json_object_array_add(g, json_object_new_int64(gids[i]));
        json_object_object_add(user, "additionalGids", g);
    }
    free(gids);
    json_object_object_add(proc, "user", user);
    return 0;
}

static int write_config(const char *dir, const char *name, const struct img_config *c,
                        const struct oci_bundle_opts *o)
{
    char path[PATH_MAX + 16];
    json_object *cfg = oci_spec_default(), *proc = NULL, *root = json_object_new_object();
    json_object_object_get_ex(cfg, "process", &proc);
    snprintf(path, sizeof(path), "%s/rootfs", dir);
    int r = process_json(proc, c, path, o);
    json_object_object_add(root, "path", json_object_new_string("rootfs"));
    json_object_object_add(root, "readonly", json_object_new_boolean(false));
    json_object_object_add(cfg, "root", root);
    json_object *ann = json_object_new_object();
    json_object_object_add(ann, "org.opencontainers.image.ref.name", json_object_new_string(name));
    json_object_object_add(cfg, "annotations", ann);
    const char *text = json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PRETTY |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    int fd = r < 0 ? -1 : open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (r == 0 && (fd < 0 || write_all(fd, text, strlen(text)) < 0))
        r = fail(errno, "%s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    json_object_put(cfg);
    return r;
}

/* Undoes make_dir() on a directory it created. */
static void rmdir_created(const char *abs)
{
    static const char *const sub[] = { "upper", "work", "rootfs", MARKER };
    char path[PATH_MAX + 16];
    for (size_t i = 0; i < ARRAY_SIZE(sub); i++) {
        snprintf(path, sizeof(path), "%s/%s", abs, sub[i]);
        if (unlink(path) < 0)
            rmdir(path);
    }
    rmdir(abs);
}

/* DIR made (or found empty) and resolved; its layout created. */
static int make_dir(const char *dir, char *abs, bool *created)
{
    *created = mkdir(dir, 0755) == 0;
    if (!*created && errno != EEXIST)
        return fail(errno, "%s: %s", dir, strerror(errno));
    if (!realpath(dir, abs))
        return fail(errno, "%s: %s", dir, strerror(errno));
    if (strpbrk(abs, ",:\\"))
        return fail(EINVAL, "%s: ',', ':' and '\\' cannot appear in overlay mount options", abs);
    _cleanup_close_ int fd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail(errno, "%s: %s", abs, strerror(errno));
    if (!*created) {
        DIR *d = opendir(abs);
        struct dirent *e;
        while (d && (e = readdir(d)) && (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))) {
        }
        bool empty = d && !e;
        if (d)
            closedir(d);
        if (!empty)
            return fail(EEXIST, "%s: exists and is not an empty directory", abs);
    }
    static const char *const sub[] = { "upper", "work", "rootfs" };
    for (size_t i = 0; i < ARRAY_SIZE(sub); i++)
        if (mkdirat(fd, sub[i], 0755) < 0)
            return fail(errno, "%s/%s: %s", abs, sub[i],
                        errno == EEXIST ? "exists: the bundle directory must be empty"
                                        : strerror(errno));
    int m = openat(fd, MARKER, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (m < 0)
        return fail(errno, "%s/%s: %s", abs, MARKER, strerror(errno));
    close(m);
    return 0;
}

int oci_image_bundle(const struct oci_store *st, const char *name, const char *dir,
                     const struct oci_bundle_opts *o)
{
    char norm[300], abs[PATH_MAX], path[PATH_MAX];
    const char *store = st->path ? st->path : OCI_DEFAULT_STORE;
    struct oci_image_info info = { 0 };
    struct img_config c = { 0 };
    int r = img_norm_name(name, norm, sizeof(norm));
    if (r < 0)
        return r;
    /* Shared: an image rm waits until the overlay holds its layers. */
    int sfd = store_open(st, LOCK_SH);
    if (sfd < 0)
        return sfd;
    uint8_t *text = NULL;
    size_t len;
    bool created = false;
    if ((r = store_lookup(sfd, norm, &info)) == 0) {
        snprintf(path, sizeof(path), "%s/blobs/sha256/%s", store, info.config + 7);
        if ((r = read_file(path, IMG_JSON_MAX, &text, &len)) == 0)
            r = img_parse_config((char *)text, len, "image config", &c);
    }
    char real[PATH_MAX];
    if (r == 0)
        r = store_path(sfd, real, sizeof(real));
    if (r == 0 && (r = make_dir(dir, abs, &created)) < 0 && created)
        rmdir_created(dir);
    else if (r == 0 && ((r = mount_overlay(real, info.layers, abs)) < 0 ||
                        (r = write_config(abs, norm, &c, o)) < 0)) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        oci_bundle_remove(abs);
        r = fail(-r, "%s", msg);
    }
    free(text);
    img_config_free(&c);
    free(info.name);
    free(info.config);
    oci_strv_free(info.layers);
    close(sfd);
    return r;
}

int oci_bundle_mount(const struct oci_store *st, const char *name, const char *dir)
{
    char norm[300], abs[PATH_MAX], rootfs[PATH_MAX + 8];
    struct stat bst, rst;
    int r = img_norm_name(name, norm, sizeof(norm));
    if (r < 0)
        return r;
    if (!realpath(dir, abs))
        return fail(errno, "%s: %s", dir, strerror(errno));
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", abs);
    if (fstatat(AT_FDCWD, abs, &bst, 0) < 0 || lstat(rootfs, &rst) < 0 || !S_ISDIR(rst.st_mode))
        return fail(ENOENT, "%s: not a bundle made by `corral-oci image bundle`", abs);
    if (bst.st_dev != rst.st_dev)
        return 0;    /* mounted already */
    char marker[PATH_MAX + 32];
    snprintf(marker, sizeof(marker), "%s/%s", abs, MARKER);
    if (lstat(marker, &rst) < 0 || !S_ISREG(rst.st_mode))
        return fail(EINVAL, "%s: not a bundle made by `corral-oci image bundle`", abs);
    int sfd = store_open(st, LOCK_SH);
    if (sfd < 0)
        return sfd;
    struct oci_image_info info = { 0 };
    char real[PATH_MAX];
    if ((r = store_lookup(sfd, norm, &info)) == 0 && (r = store_path(sfd, real, sizeof(real))) == 0)
        r = mount_overlay(real, info.layers, abs);
    free(info.name);
    free(info.config);
    oci_strv_free(info.layers);
    close(sfd);
    return r;
}

int oci_bundle_remove(const char *dir)
{
    char abs[PATH_MAX], rootfs[PATH_MAX + 8];
    if (!realpath(dir, abs))
        return fail(errno, "%s: %s", dir, strerror(errno));
    _cleanup_close_ int fd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return fail(errno, "%s: %s", abs, strerror(errno));
    if (fstatat(fd, MARKER, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
        return fail(EINVAL, "%s: not a bundle made by `corral-oci image bundle`", abs);
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", abs);
    if (umount2(rootfs, UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
        return fail(errno, "unmounting %s: %s", rootfs,
                    errno == EBUSY ? "busy (is a container still using it?)" : strerror(errno));
    char *slash = strrchr(abs, '/');
    if (slash == abs)
        return fail(EINVAL, "%s: refusing to remove a top-level directory", abs);
    *slash = 0;
    _cleanup_close_ int parent = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent < 0)
        return fail(errno, "%s: %s", abs, strerror(errno));
    return rm_tree_at(parent, slash + 1);
}
