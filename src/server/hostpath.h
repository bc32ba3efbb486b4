/* hostpath — which host files and directories an API request may name.
 *
 * corrald runs as root, so whatever path a request names is read or
 * written with root's rights.  Two rule sets:
 *
 *  - Files (a VM's boot.kernel and boot.initrd, an image import's kernel,
 *    initrd or OCI archive/layout): admins only (the callers check the
 *    role), and only under a directory the host's root allowed with
 *    `corrald --host-path-allow DIR` (none by default), and never under
 *    the "never" places even when an allowed directory holds them:
 *    corrald's state directory, /etc, /proc, /sys, /dev, /run, /boot (a
 *    host initramfs may carry disk keys), the TLS key and the admin
 *    password file.  hostpath_open() resolves symlinks only while they stay
 *    inside the allowed directory (openat2 RESOLVE_BENEATH), checks the
 *    opened file's real path again and returns an fd: callers use that fd,
 *    never the path again, so the file used is the file checked.
 *  - Pool directories: not /, not a system directory or anything under
 *    one, not inside corrald's state directory and not above it.  A pool
 *    only gets files corrald creates, so no allow-list: the rules keep new
 *    files out of places where a file's mere presence takes effect.
 *
 * Errors never tell someone who may not use a path whether it exists: the
 * refusals before opening are decided on the text of the path alone, and
 * every failure to open inside an allowed directory reads the same. */
#ifndef CORRAL_SERVER_HOSTPATH_H
#define CORRAL_SERVER_HOSTPATH_H

#include <stdbool.h>
#include <stddef.h>

struct resp;

#define HOSTPATH_ALLOW_MAX 32

struct hostpaths {
    char *allow[HOSTPATH_ALLOW_MAX];   /* canonical directories */
    size_t nallow;
    char *never[16];                   /* canonical directories and files */
    size_t nnever;
    char *state;                       /* the state directory's real path */
};

/* Checks and canonicalizes the allowed directories (each must exist, be a
 * directory, not be / and not lie in a never place); fills the never list.
 * Call once the state directory exists.  0 or -errno with a message. */
int hostpaths_init(struct hostpaths *h, const char *state_dir, const char *const *allow, size_t nallow,
                   const char *const *secret_files, size_t nsecret);
void hostpaths_free(struct hostpaths *h);

/* Whether PATH is DIR or below it (both absolute, canonical text). */
bool hostpath_under(const char *path, const char *dir);
/* The never place PATH lies in, or NULL. */
const char *hostpath_never(const struct hostpaths *h, const char *path);
/* The allowed directory PATH lies in, or NULL. */
const char *hostpath_allowed(const struct hostpaths *h, const char *path);
/* Where open fd FD leads (its real path, from /proc/self/fd); 0 or -errno. */
int hostpath_of_fd(int fd, char *out, size_t len);
/* "a, b" or "none": the allowed directories, for messages. */
void hostpath_allow_text(const struct hostpaths *h, char *out, size_t len);

/* Opens host file PATH (a directory too if dir_ok) for request field
 * FIELD: 0 with *fd (O_RDONLY), -EACCES when PATH is outside the allowed
 * directories or in a never place, -EINVAL when it is not a readable
 * regular file (or directory) that stays inside its allowed directory;
 * api_field_errno() answers either. */
int hostpath_open(const struct hostpaths *h, const char *field, const char *path, bool dir_ok, int *fd);

/* Why PATH may not be a pool directory (into why: "is under the system
 * directory /etc"), or false if it may.  STATE is the state directory's
 * real path. */
bool hostpath_pool_refused(const char *path, const char *state, char *why, size_t len);

#endif
