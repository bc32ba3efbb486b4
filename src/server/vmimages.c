/* VM boot images: a kernel, an optional initrd and a default command line,
 * imported once and booted by any number of VMs ("boot": {"image": NAME}).
 *
 * Each image is a directory STATE/vm-images/NAME holding copies of the
 * files (kernel, initrd) and image.json (its view: sizes, SHA-256s, the
 * kernel's boot protocol, the command line).  An import copies into a
 * hidden .import-XXXXXX directory and renames it into place only when all
 * is written and synced, so an image is there whole or not at all; a
 * corrald killed mid-import leaves a hidden directory that the next start
 * removes.  The files are copied, not linked: the source may change or go
 * away after the import without the image changing. */
#include "server/server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "boot/boot.h"
#include "util/util.h"

#define MAX_FILE_SIZE (1ULL << 30)
#define META "image.json"
#define META_MAX (64 * 1024)
#define IMPORT_PREFIX ".import-"
#define COPY_CHUNK (1 << 20)
#define DIR_MAX (VMIMAGE_PATH_MAX - 32)    /* an image's directory: room for a file name */

static const char *const image_files[] = { "kernel", "initrd", META };

int boot_file_open(struct server *s, const char *field, const char *path, int *fd)
{
    /* QEMU's option separator: engines get fds now, but paths stay comma-free as documented. */
    if (strchr(path, ','))
        return fail(EINVAL, "%s must not contain ','", field);
    int rc = hostpath_open(&s->paths, field, path, false, fd);
    struct stat st;
    if (rc)
        return rc;
    if (fstat(*fd, &st) < 0 || (uint64_t)st.st_size > MAX_FILE_SIZE || st.st_size == 0) {
        close(*fd);
        *fd = -1;
        return fail(EINVAL, "%s %s is empty or larger than 1 GiB", field, path);
    }
    return 0;
}

int boot_cmdline_check(const char *field, const char *cmdline, struct resp *out)
{
    if (strlen(cmdline) > BOOT_CMDLINE_LEN)
        return api_error(out, E_BAD_FIELD, "%s is longer than %d bytes", field, BOOT_CMDLINE_LEN);
    for (const char *p = cmdline; *p; p++)
        if (*p < ' ' || *p > '~')
            return api_error(out, E_BAD_FIELD, "%s must be printable ASCII", field);
    return 0;
}

/* The kernel's boot protocol from its first 4 KiB; 0 or -ENOEXEC with a message. */
static int probe_kernel(int fd, const char **format)
{
    uint8_t head[4096];
    struct stat st;
    ssize_t n = pread(fd, head, sizeof(head), 0);
    if (n < 0 || fstat(fd, &st) < 0)
        return fail(errno, "cannot read the kernel: %m");
    enum boot_kind kind;
    int r = boot_probe(head, (size_t)n, (uint64_t)st.st_size, &kind);
    if (r == 0)
        *format = boot_kind_name(kind);
    return r;
}

int vmimage_check_kernel(int fd, const char *path, struct resp *out)
{
    const char *format;
    if (probe_kernel(fd, &format) < 0)
        return api_error(out, E_BAD_FIELD, "%s: %s (corral boots x86-64 Linux bzImages, ELF64 kernels and "
                         "ELF32 PVH kernels)", path,
                         err_msg());
    return 0;
}

static void image_dir(struct server *s, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", s->vmimages_dir, name);
}

/* Removes an image directory (or a half-made one): only its known files. */
static int remove_dir(const char dir[DIR_MAX])
{
    char p[VMIMAGE_PATH_MAX];
    for (size_t i = 0; i < ARRAY_SIZE(image_files); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, image_files[i]);
        if (unlink(p) < 0 && errno != ENOENT)
            return fail(errno, "cannot remove %s: %m", p);
    }
    if (rmdir(dir) < 0 && errno != ENOENT)
        return fail(errno, "cannot remove %s: %m", dir);
    return 0;
}

int vmimages_open(struct server *s)
{
    DIR *d = opendir(s->vmimages_dir);
    if (!d)
        return fail(errno, "cannot read %s: %m", s->vmimages_dir);
    struct dirent *e;
    char p[DIR_MAX];
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, IMPORT_PREFIX, strlen(IMPORT_PREFIX))) {
            snprintf(p, sizeof(p), "%s/%s", s->vmimages_dir, e->d_name);
            if (remove_dir(p) < 0)
                log_warn("%s", err_msg());
            else
                log_info("removed %s, an import a stopped corrald left unfinished", p);
        }
    closedir(d);
    return 0;
}

int vmimage_find(struct server *s, const char *name, struct json_object **view)
{
    char p[VMIMAGE_PATH_MAX];
    uint8_t *data;
    size_t len;
    if (!name_valid(name))
        return -ENOENT;
    image_dir(s, name, p, sizeof(p));
    strncat(p, "/" META, sizeof(p) - strlen(p) - 1);
    int r = read_file(p, META_MAX, &data, &len);
    if (r < 0)
        return r == -ENOENT ? r : fail(-r, "image '%s' is unreadable: %s", name, err_msg());
    struct json_object *o = json_tokener_parse((char *)data);
    free(data);
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return fail(EIO, "image '%s': its %s is damaged", name, META);
    }
    if (view) {    /* the name first, as in every other view */
        *view = json_object_new_object();
        json_object_object_add(*view, "name", json_object_new_string(name));
        json_object_object_foreach(o, key, val)
            if (strcmp(key, "name"))
                json_object_object_add(*view, key, json_object_get(val));
    }
    json_object_put(o);
    return 0;
}

void vmimages_list(struct server *s, struct json_object *list)
{
    DIR *d = opendir(s->vmimages_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        struct json_object *v;
        if (e->d_name[0] != '.' && vmimage_find(s, e->d_name, &v) == 0)
            json_object_array_add(list, v);
    }
    if (d)
        closedir(d);
}

/* Copies open file IN (host path SRC, checked when the import was asked
 * for) into DIR/NAME (at most 1 GiB), hashing it; its view into info. */
static int copy_in(struct op *op, int in, const char *src, const char dir[DIR_MAX], const char *name, int pct0,
                   int pct1, struct json_object *info)
{
    struct stat st;
    if (fstat(in, &st) < 0 || lseek(in, 0, SEEK_SET) < 0)
        return fail(errno, "cannot read %s: %m", src);
    if (!S_ISREG(st.st_mode) || st.st_size == 0 || (uint64_t)st.st_size > MAX_FILE_SIZE)
        return fail(EINVAL, "%s is not a regular file of 1 byte to 1 GiB", src);
    char p[VMIMAGE_PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    _cleanup_close_ int out = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0)
        return fail(errno, "cannot create %s: %m", p);
    _cleanup_free_ uint8_t *buf = malloc(COPY_CHUNK);
    if (!buf)
        return fail(ENOMEM, "out of memory");
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    uint64_t done = 0;
    for (;;) {
        ssize_t n = read(in, buf, COPY_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(errno, "cannot read %s: %m", src);
        if (n == 0)
            break;
        if ((done += (uint64_t)n) > MAX_FILE_SIZE)
            return fail(EFBIG, "%s grew past 1 GiB while it was copied", src);
        if (write_all(out, buf, (size_t)n) < 0)
            return fail(errno, "cannot write %s: %m", p);
        crypto_hash_sha256_update(&h, buf, (size_t)n);
        if (op_cancelled(op))
            return fail(ECANCELED, "cancelled");
        op_progress(op, pct0 + (int)((uint64_t)(pct1 - pct0) * done / (uint64_t)st.st_size));
    }
    if (fsync(out) < 0)
        return fail(errno, "cannot write %s: %m", p);
    uint8_t sum[crypto_hash_sha256_BYTES];
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    crypto_hash_sha256_final(&h, sum);
    sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
    json_object_object_add(info, "size", json_object_new_int64((int64_t)done));
    json_object_object_add(info, "sha256", json_object_new_string(hex));
    return 0;
}

/* Makes a rename in DIR durable (the files were synced before). */
static void sync_dir(const char *dir)
{
    _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        log_warn("cannot sync %s: %m", dir);
}

/* Builds the image in a hidden directory, then renames it into place. */
static int import_into(struct server *s, struct op *op, const struct vmimage_import *im, const char tmp[DIR_MAX])
{
    struct json_object *meta = json_object_new_object(), *k = json_object_new_object(), *i = NULL;
    json_object_object_add(meta, "type", json_object_new_string("vm"));
    json_object_object_add(meta, "kernel", k);
    int r = copy_in(op, im->kernel_fd, im->kernel, tmp, "kernel", 0, *im->initrd ? 40 : 90, k);
    if (r == 0) {    /* the copy is what boots: check it, not the source */
        char p[VMIMAGE_PATH_MAX];
        const char *format = NULL;
        snprintf(p, sizeof(p), "%s/kernel", tmp);
        _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
        r = fd < 0 ? fail(errno, "cannot open %s: %m", p) : probe_kernel(fd, &format);
        if (r == 0)
            json_object_object_add(k, "format", json_object_new_string(format));
    }
    if (r == 0 && *im->initrd) {
        i = json_object_new_object();
        r = copy_in(op, im->initrd_fd, im->initrd, tmp, "initrd", 40, 90, i);
    }
    json_object_object_add(meta, "initrd", i);
    json_object_object_add(meta, "cmdline", json_object_new_string(im->cmdline));
    json_object_object_add(meta, "created", json_object_new_int64((int64_t)time(NULL)));
    if (r == 0) {
        char p[VMIMAGE_PATH_MAX], dst[DIR_MAX];
        const char *text = json_object_to_json_string_ext(meta, JSON_C_TO_STRING_PLAIN);
        snprintf(p, sizeof(p), "%s/" META, tmp);
        _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0)
            r = fail(errno, "cannot write %s: %m", p);
        image_dir(s, im->name, dst, sizeof(dst));
        /* A container image may have taken the name while this one copied. */
        if (r == 0 && images_exists(s, im->name))
            r = fail(EEXIST, "a container image named '%s' was imported meanwhile", im->name);
        if (r == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, dst, RENAME_NOREPLACE) < 0)
            r = fail(errno, "cannot put image '%s' in place: %m", im->name);
        if (r == 0)
            sync_dir(s->vmimages_dir);
    }
    json_object_put(meta);
    return r;
}

int vmimage_import(struct server *s, struct op *op, const struct vmimage_import *im)
{
    char tmp[DIR_MAX];
    snprintf(tmp, sizeof(tmp), "%s/" IMPORT_PREFIX "XXXXXX", s->vmimages_dir);
    if (!mkdtemp(tmp))
        return fail(errno, "cannot create a directory in %s: %m", s->vmimages_dir);
    int r = import_into(s, op, im, tmp);
    if (r < 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        if (remove_dir(tmp) < 0)
            log_warn("%s", err_msg());
        return fail(-r, "%s", msg);
    }
    return 0;
}

int vmimage_remove(struct server *s, const char *name)
{
    char p[DIR_MAX];
    image_dir(s, name, p, sizeof(p));
    return remove_dir(p);
}

int vmimage_boot(struct server *s, const char *name, struct vmimage_files *f)
{
    struct json_object *v;
    int r = vmimage_find(s, name, &v);
    if (r == -ENOENT)
        return fail(ENOENT, "VM image '%s' is gone: give the VM another boot image", name);
    if (r < 0)
        return r;
    char dir[DIR_MAX];
    image_dir(s, name, dir, sizeof(dir));
    snprintf(f->kernel, sizeof(f->kernel), "%s/kernel", dir);
    *f->initrd = 0;
    if (json_object_object_get(v, "initrd"))
        snprintf(f->initrd, sizeof(f->initrd), "%s/initrd", dir);
    snprintf(f->cmdline, sizeof(f->cmdline), "%s", json_str(v, "cmdline") ?: "");
    json_object_put(v);
    return 0;
}
