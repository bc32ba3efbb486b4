/* The state directory: ROOT/ID holds state.json and, until start, the exec
 * FIFO.  flock() on the directory serialises commands on one container.
 * Whether the container still runs is read from /proc, never trusted from
 * the file: a pid is "ours" only while its start time matches. */
#include "oci/oci_internal.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

const char *oci_status_name(enum oci_status s)
{
    static const char *const names[] = { "creating", "created", "running", "stopped", "paused" };
    return names[s];
}

int oci_validate_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > OCI_ID_MAX)
        return fail(EINVAL, "invalid container id: must be 1 to %d characters", OCI_ID_MAX);
    if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return fail(EINVAL, "invalid container id \"%s\"", id);
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("_+-.", *p)))
            return fail(EINVAL, "invalid container id \"%.64s\": only letters, digits and "
                                "_ + - . are allowed", id);
    return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return fail(ENAMETOOLONG, "path too long: %s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return fail(errno, "cannot create %s: %s", buf, strerror(errno));
            if (!(*p = c))
                break;
        }
    }
    return 0;
}

int state_lock(const char *root, const char *id, bool create, int op, int *dirfd)
{
    int r = oci_validate_id(id);
    if (r < 0)
        return r;
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s", root, id) >= (int)sizeof(path))
        return fail(ENAMETOOLONG, "state path too long");
    if (create) {
        if ((r = mkdir_p(root, 0700)) < 0)
            return r;
        if (mkdir(path, 0700) < 0)
            return errno == EEXIST ? fail(EEXIST, "container \"%s\" already exists", id)
                                   : fail(errno, "cannot create %s: %s", path, strerror(errno));
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR || errno == ELOOP
            ? fail(ENOENT, "container \"%s\" does not exist", id)
            : fail(errno, "cannot open %s: %s", path, strerror(errno));
    while (flock(fd, op) < 0) {
        if (errno != EINTR) {
            r = fail(errno, "cannot lock %s: %s", path, strerror(errno));
            close(fd);
            return r;
        }
    }
    /* A delete that held the lock before us removed the directory. */
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_nlink == 0) {
        close(fd);
        return fail(ENOENT, "container \"%s\" does not exist", id);
    }
    *dirfd = fd;
    return 0;
}

uint64_t pid_start_time(pid_t pid, char *state)
{
    uint64_t f[23] = { 0 };
    return proc_stat_fields(pid, state, f, 23) ? f[22] : 0;
}

bool state_alive(const struct oci_state *st)
{
    char s = 0;
    if (st->pid <= 0)
        return false;
    uint64_t t = pid_start_time(st->pid, &s);
    return t && t == st->start_time && s != 'Z' && s != 'X';
}

json_object *oci_state_json(const struct oci_state *st)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "ociVersion", json_object_new_string(OCI_VERSION));
    json_object_object_add(o, "id", json_object_new_string(st->id));
    json_object_object_add(o, "status", json_object_new_string(oci_status_name(st->status)));
    json_object_object_add(o, "pid", json_object_new_int(st->status == OCI_STOPPED ? 0 : st->pid));
    json_object_object_add(o, "bundle", json_object_new_string(st->bundle ? st->bundle : ""));
    json_object_object_add(o, "rootfs", json_object_new_string(st->rootfs ? st->rootfs : ""));
    json_object_object_add(o, "created", json_object_new_string(st->created ? st->created : ""));
    json_object_object_add(o, "owner", json_object_new_string(""));
    json_object_object_add(o, "annotations",
                           st->annotations ? json_object_get(st->annotations)
                                           : json_object_new_object());
    return o;
}

void oci_state_free(struct oci_state *st)
{
    free(st->bundle);
    free(st->rootfs);
    free(st->created);
    free(st->cgroup_path);
    json_object_put(st->annotations);
    json_object_put(st->hooks);
    memset(st, 0, sizeof(*st));
}

int state_write(int dirfd, const struct oci_state *st)
{
    json_object *o = oci_state_json(st);
    /* Private fields: the pid's start time and the recorded status. */
    json_object_object_add(o, "startTime", json_object_new_uint64(st->start_time));
    json_object_object_add(o, "ownPidns", json_object_new_boolean(st->own_pidns));
    json_object_object_add(o, "pid", json_object_new_int(st->pid));
    json_object_object_add(o, "status", json_object_new_string(oci_status_name(
        st->status == OCI_PAUSED ? OCI_RUNNING : st->status)));
    if (st->cgroup_path)
        json_object_object_add(o, "cgroupPath", json_object_new_string(st->cgroup_path));
    if (st->hooks)
        json_object_object_add(o, "hooks", json_object_get(st->hooks));
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    int r = 0;
    int fd = openat(dirfd, "state.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write_all(fd, text, strlen(text)) < 0)
        r = fail(errno, "cannot write state.json: %s", strerror(errno));
    if (fd >= 0)
        close(fd);
    if (r == 0 && renameat(dirfd, "state.json.tmp", dirfd, "state.json") < 0)
        r = fail(errno, "cannot write state.json: %s", strerror(errno));
    json_object_put(o);
    return r;
}

static const char *jstr(json_object *o, const char *key)
{
    json_object *v;
    if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return NULL;
}

int state_read(int dirfd, const char *id, struct oci_state *st)
{
    memset(st, 0, sizeof(*st));
    int fd = openat(dirfd, "state.json", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return fail(ENOENT, "container \"%s\" does not exist", id);
    char buf[65536];
    ssize_t n = read_full(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0)
        return fail(errno, "cannot read state of \"%s\": %s", id, strerror(errno));
    buf[n] = 0;
    json_object *o = json_tokener_parse(buf), *v;
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return fail(EINVAL, "state of \"%s\" is corrupt", id);
    }
    snprintf(st->id, sizeof(st->id), "%s", id);
    const char *s = jstr(o, "status");
    st->status = s && strcmp(s, "running") == 0 ? OCI_RUNNING
               : s && strcmp(s, "created") == 0 ? OCI_CREATED : OCI_STOPPED;
    if (json_object_object_get_ex(o, "pid", &v))
        st->pid = json_object_get_int(v);
    if (json_object_object_get_ex(o, "startTime", &v))
        st->start_time = json_object_get_uint64(v);
    if (json_object_object_get_ex(o, "ownPidns", &v))
        st->own_pidns = json_object_get_boolean(v);
    if ((s = jstr(o, "bundle")))
        st->bundle = strdup(s);
    if ((s = jstr(o, "rootfs")))
        st->rootfs = strdup(s);
    if ((s = jstr(o, "created")))
        st->created = strdup(s);
    if ((s = jstr(o, "cgroupPath")))
        st->cgroup_path = strdup(s);
    if (json_object_object_get_ex(o, "hooks", &v) && json_object_is_type(v, json_type_object))
        st->hooks = json_object_get(v);
    if (json_object_object_get_ex(o, "annotations", &v) && json_object_is_type(v, json_type_object))
        st->annotations = json_object_get(v);
    json_object_put(o);
    if (!state_alive(st))
        st->status = OCI_STOPPED;
    else if (st->cgroup_path && state_frozen(st))
        st->status = OCI_PAUSED;
    return 0;
}

int state_save_config(int dirfd, const uint8_t *text, size_t len)
{
    int r = 0;
    int fd = openat(dirfd, STATE_CONFIG ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write_all(fd, text, len) < 0)
        r = fail(errno, "cannot keep config.json in the state: %s", strerror(errno));
    if (fd >= 0)
        close(fd);
    if (r == 0 && renameat(dirfd, STATE_CONFIG ".tmp", dirfd, STATE_CONFIG) < 0)
        r = fail(errno, "cannot keep config.json in the state: %s", strerror(errno));
    return r;
}

int state_load_spec(int dirfd, const struct oci_state *st, struct oci_spec *s)
{
    memset(s, 0, sizeof(*s));
    int fd = openat(dirfd, STATE_CONFIG, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT && st->bundle)
        return oci_spec_load(st->bundle, s);
    if (fd < 0)
        return fail(errno, "container \"%s\": its config.json: %s", st->id, strerror(errno));
    _cleanup_free_ char *buf = malloc(OCI_CONFIG_MAX + 1);
    ssize_t n = buf ? read_full(fd, buf, OCI_CONFIG_MAX + 1) : -1;
    int e = errno;
    close(fd);
    if (!buf)
        return fail(ENOMEM, "out of memory");
    if (n < 0 || n > OCI_CONFIG_MAX)
        return fail(n < 0 ? e : EFBIG, "container \"%s\": its config.json: %s", st->id,
                    n < 0 ? strerror(e) : "too large");
    int r = oci_spec_parse(buf, (size_t)n, s);
    if (r < 0)
        return fail(-r, "container \"%s\": its config.json: %s", st->id, err_msg());
    return 0;
}

bool state_frozen(const struct oci_state *st)
{
    struct cgroup cg;
    return st->cgroup_path && cgroup_open(st->cgroup_path, &cg) == 0 && cgroup_frozen(&cg);
}

int state_remove(const char *root, const char *id, int dirfd)
{
    static const char *const files[] = { STATE_FIFO, "state.json.tmp", "state.json",
                                         STATE_CONFIG ".tmp", STATE_CONFIG };
    for (size_t i = 0; i < ARRAY_SIZE(files); i++)
        if (unlinkat(dirfd, files[i], 0) < 0 && errno != ENOENT)
            return fail(errno, "cannot remove %s/%s/%s: %s", root, id, files[i], strerror(errno));
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", root, id);
    if (rmdir(path) < 0 && errno != ENOENT)
        return fail(errno, "cannot remove %s: %s", path, strerror(errno));
    return 0;
}

int write_pid_file(const char *path, pid_t pid)
{
    char tmp[PATH_MAX], text[32];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid()) >= (int)sizeof(tmp))
        return fail(ENAMETOOLONG, "pid file path too long");
    int n = snprintf(text, sizeof(text), "%d", (int)pid);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail(errno, "cannot write pid file %s: %s", path, strerror(errno));
    int r = write_all(fd, text, (size_t)n);
    close(fd);
    if (r < 0 || rename(tmp, path) < 0) {
        r = fail(errno, "cannot write pid file %s: %s", path, strerror(errno));
        unlink(tmp);
        return r;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int oci_list(const struct oci_ctx *ctx, char ***ids)
{
    *ids = NULL;
    DIR *d = opendir(ctx->root);
    if (!d) {
        if (errno != ENOENT)
            return fail(errno, "cannot read %s: %s", ctx->root, strerror(errno));
        return (*ids = calloc(1, sizeof(char *))) ? 0 : fail(ENOMEM, "out of memory");
    }
    size_t n = 0, cap = 16;
    char **v = calloc(cap + 1, sizeof(char *));
    for (struct dirent *e; v && (e = readdir(d));) {
        if (e->d_name[0] == '.' || oci_validate_id(e->d_name) < 0)
            continue;
        if (n == cap) {
            char **nv = realloc(v, (cap * 2 + 1) * sizeof(char *));
            if (!nv) {
                oci_strv_free(v);
                v = NULL;
                break;
            }
            v = nv;
            cap *= 2;
        }
        if (!(v[n] = strdup(e->d_name)))
            break;
        v[++n] = NULL;
    }
    closedir(d);
    if (!v)
        return fail(ENOMEM, "out of memory");
    qsort(v, n, sizeof(char *), cmp_str);
    *ids = v;
    return 0;
}
