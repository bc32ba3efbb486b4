/* Which host files and directories a request may name.  See hostpath.h. */
#include "server/hostpath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "server/server.h"
#include "util/util.h"

/* Read with root's rights, these would hand out the host's secrets or
 * devices; an allowed directory above them does not open them up. */
static const char *const never_dirs[] = { "/etc", "/proc", "/sys", "/dev", "/run", "/boot" };

/* A pool may be none of these nor anything under them: new files there
 * take effect (configuration, libraries, spools, logs) or are the OS's. */
static const char *const system_dirs[] = {
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root", "/run",
    "/sbin", "/sys", "/usr", "/var/cache", "/var/lib/dpkg", "/var/lib/apt", "/var/lock", "/var/log",
    "/var/mail", "/var/run", "/var/spool",
};
/* Nor one of these shared directories itself (a directory below is fine):
 * a pool's files would mix with everyone's, and /tmp's can be pre-empted. */
static const char *const shared_dirs[] = { "/home", "/media", "/mnt", "/opt", "/srv", "/tmp", "/var",
                                           "/var/lib", "/var/tmp" };

bool hostpath_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/')
        return path[0] == '/';
    return !strncmp(path, dir, n) && (path[n] == 0 || path[n] == '/');
}

const char *hostpath_never(const struct hostpaths *h, const char *path)
{
    for (size_t i = 0; i < h->nnever; i++)
        if (hostpath_under(path, h->never[i]))
            return h->never[i];
    return NULL;
}

const char *hostpath_allowed(const struct hostpaths *h, const char *path)
{
    for (size_t i = 0; i < h->nallow; i++)
        if (hostpath_under(path, h->allow[i]))
            return h->allow[i];
    return NULL;
}

void hostpath_allow_text(const struct hostpaths *h, char *out, size_t len)
{
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < h->nallow && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "", h->allow[i]);
    if (!h->nallow)
        snprintf(out, len, "none");
}

/* PATH's real path if it exists, else PATH itself (a never place that is
 * missing now may appear later under its own name). */
static char *canonical(const char *path)
{
    char *r = realpath(path, NULL);
    return r ? r : strdup(path);
}

static int add_never(struct hostpaths *h, const char *path)
{
    if (h->nnever >= ARRAY_SIZE(h->never))
        return fail(E2BIG, "too many protected paths");
    if (!(h->never[h->nnever] = canonical(path)))
        return fail(ENOMEM, "out of memory");
    h->nnever++;
    return 0;
}

int hostpaths_init(struct hostpaths *h, const char *state_dir, const char *const *allow, size_t nallow,
                   const char *const *secret_files, size_t nsecret)
{
    memset(h, 0, sizeof(*h));
    if (nallow > HOSTPATH_ALLOW_MAX)
        return fail(E2BIG, "at most %d --host-path-allow directories", HOSTPATH_ALLOW_MAX);
    if (!(h->state = realpath(state_dir, NULL)))
        return fail(errno, "%s: %m", state_dir);
    int r = add_never(h, h->state);
    for (size_t i = 0; r == 0 && i < ARRAY_SIZE(never_dirs); i++)
        r = add_never(h, never_dirs[i]);
    for (size_t i = 0; r == 0 && i < nsecret; i++)
        if (secret_files[i])
            r = add_never(h, secret_files[i]);
    for (size_t i = 0; r == 0 && i < nallow; i++) {
        struct stat st;
        char *dir = realpath(allow[i], NULL);
        if (!dir || stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
            r = fail(ENOTDIR, "--host-path-allow %s: not an existing directory", allow[i]);
        else if (!strcmp(dir, "/"))
            r = fail(EINVAL, "--host-path-allow /: name the directories that hold VM kernels and images");
        else if (hostpath_never(h, dir))
            r = fail(EINVAL, "--host-path-allow %s: it is in %s, which requests may never read from", allow[i],
                     hostpath_never(h, dir));
        else
            h->allow[h->nallow++] = dir, dir = NULL;
        free(dir);
    }
    if (r < 0)
        hostpaths_free(h);
    return r;
}

void hostpaths_free(struct hostpaths *h)
{
    for (size_t i = 0; i < h->nallow; i++)
        free(h->allow[i]);
    for (size_t i = 0; i < h->nnever; i++)
        free(h->never[i]);
    free(h->state);
    memset(h, 0, sizeof(*h));
}

int hostpath_of_fd(int fd, char *out, size_t len)
{
    char link[40];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, len - 1);
    if (n < 0 || (size_t)n >= len - 1)
        return n < 0 ? -errno : -ENAMETOOLONG;
    out[n] = 0;
    return 0;
}

/* Opens PATH, which lies in allowed directory DIR, with every symlink kept
 * inside DIR; the file's real path is checked once more before it is
 * opened for reading.  An fd, or -errno. */
static int open_inside(const struct hostpaths *h, const char *dir, const char *path, bool dir_ok)
{
    const char *rel = path + strlen(dir);
    while (*rel == '/')
        rel++;
    _cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };
    _cleanup_close_ int pfd = -1;
    for (int tries = 0; *rel && pfd < 0 && tries < 8; tries++) {
        pfd = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
        if (pfd < 0 && errno == ENOSYS)    /* an old kernel: the real-path check below still holds */
            pfd = openat(dfd, rel, O_PATH | O_CLOEXEC);
        if (pfd < 0 && errno != EAGAIN)
            return -errno;
    }
    if (!*rel && (pfd = fcntl(dfd, F_DUPFD_CLOEXEC, 0)) < 0)
        return -errno;
    if (pfd < 0)
        return -EAGAIN;
    struct stat st;
    char real[PATH_MAX];
    if (fstat(pfd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode) && !(dir_ok && S_ISDIR(st.st_mode)))
        return -EINVAL;
    int r = hostpath_of_fd(pfd, real, sizeof(real));
    if (r < 0)
        return r;
    if (!hostpath_under(real, dir) || hostpath_never(h, real))
        return -EACCES;
    char link[40];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", pfd);
    int fd = open(link, O_RDONLY | O_CLOEXEC | O_NOCTTY | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
    return fd < 0 ? -errno : fd;
}

int hostpath_open(const struct hostpaths *h, const char *field, const char *path, bool dir_ok, int *fd)
{
    if (!path_valid(path))
        return fail(EINVAL, "%s must be an absolute path of at most 1024 bytes without '.', '..' "
                    "or empty components", field);
    /* Decided on the text alone: says nothing of whether the path exists. */
    const char *never = hostpath_never(h, path), *dir = hostpath_allowed(h, path);
    if (never)
        return fail(EACCES, "%s %s is in %s, which requests may never read from", field, path, never);
    if (!dir) {
        char allowed[1024];
        hostpath_allow_text(h, allowed, sizeof(allowed));
        return fail(EACCES, "%s %s is not under an allowed directory (corrald --host-path-allow "
                    "DIR; allowed now: %s)", field, path, allowed);
    }
    int r = open_inside(h, dir, path, dir_ok);
    if (r < 0)
        return fail(EINVAL, "%s %s is not a readable %s inside %s (symlinks must stay inside it)",
                    field, path, dir_ok ? "file or directory" : "regular file", dir);
    *fd = r;
    return 0;
}

bool hostpath_pool_refused(const char *path, const char *state, char *why, size_t len)
{
    if (!strcmp(path, "/")) {
        snprintf(why, len, "is the root directory");
        return true;
    }
    for (size_t i = 0; i < ARRAY_SIZE(system_dirs); i++)
        if (hostpath_under(path, system_dirs[i])) {
            snprintf(why, len, "%s the system directory %s", strcmp(path, system_dirs[i]) ? "is under" : "is",
                     system_dirs[i]);
            return true;
        }
    for (size_t i = 0; i < ARRAY_SIZE(shared_dirs); i++)
        if (!strcmp(path, shared_dirs[i])) {
            snprintf(why, len, "is the shared directory %s: give the pool a directory of its own below it", path);
            return true;
        }
    if (hostpath_under(path, state)) {
        snprintf(why, len, "is in corrald's state directory %s (leave out path for a pool there)", state);
        return true;
    }
    if (hostpath_under(state, path)) {
        snprintf(why, len, "holds corrald's state directory %s", state);
        return true;
    }
    return false;
}
