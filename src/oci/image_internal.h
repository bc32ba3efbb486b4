/* Shared by the image files of src/oci (imgjson.c, layer.c, image.c,
 * bundle.c, user.c), the unit tests and the fuzzer; the public interface is
 * oci.h's "images" block.  Everything here trusts nothing it parses. */
#ifndef CORRAL_OCI_IMAGE_INTERNAL_H
#define CORRAL_OCI_IMAGE_INTERNAL_H

#include "oci/oci.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMG_JSON_MAX (4 * 1024 * 1024)  /* index, manifest, config, manifest.json */
#define IMG_PATH_MAX 2048               /* one entry's path inside a layer */
#define IMG_DEPTH_MAX 256               /* directory levels inside a layer */
#define IMG_LAYERS_MAX 128
#define IMG_HEX_LEN 64                  /* sha256 */

/* ---- imgjson.c: the JSON documents of an image ---- */

struct img_desc {
    char *media_type;
    char hex[IMG_HEX_LEN + 1];  /* the sha256 digest, lower-case hex */
    int64_t size;
    char *ref_name;             /* org.opencontainers.image.ref.name, or NULL */
    bool other_platform;        /* platform says it is not linux/amd64 */
};

struct img_index { struct img_desc *v; size_t n; };

struct img_manifest {
    struct img_desc config;
    struct img_desc *layers;
    size_t nlayers;
};

struct img_config {
    char **env, **entrypoint, **cmd;    /* NULL-terminated, or NULL if absent */
    char *workdir, *user;               /* NULL if absent or empty */
    char (*diff_ids)[IMG_HEX_LEN + 1];
    size_t ndiff_ids;
};

/* One element of a docker-archive's manifest.json. */
struct img_docker {
    char *config;               /* path inside the archive */
    char **tags;                /* RepoTags, NULL-terminated (maybe empty) */
    char **layers;              /* paths inside the archive, NULL-terminated */
    size_t nlayers;
};

/* "sha256:<64 lower-case hex>" -> hex.  Other algorithms are refused. */
int img_parse_digest(const char *s, char hex[IMG_HEX_LEN + 1]);
/* Messages name the document ("index.json: manifests[2].digest: ..."). */
int img_parse_index(const char *text, size_t len, const char *what, struct img_index *out);
int img_parse_manifest(const char *text, size_t len, const char *what, struct img_manifest *out);
int img_parse_config(const char *text, size_t len, const char *what, struct img_config *out);
int img_parse_docker(const char *text, size_t len, struct img_docker **out, size_t *n);
void img_index_free(struct img_index *x);
void img_manifest_free(struct img_manifest *m);
void img_config_free(struct img_config *c);
void img_docker_free(struct img_docker *d, size_t n);
/* Layer media types we can unpack (tar, tar+gzip, tar+zstd; OCI and docker). */
bool img_layer_type_ok(const char *media_type);

/* ---- layer.c: unpacking tar streams safely ---- */

enum img_whiteout { WH_NONE, WH_FILE, WH_OPAQUE, WH_RESERVED, WH_INVALID };
/* What a base name means in an OCI layer: ".wh.NAME" hides NAME,
 * ".wh..wh..opq" makes its directory opaque, other ".wh..wh." names are
 * reserved (ignored), ".wh." / ".wh.." / ".wh..." would hide the directory
 * itself or its parent and are invalid. */
enum img_whiteout layer_whiteout(const char *base);

/* A tar entry name made canonical: "./" and "//" collapsed, trailing "/"
 * dropped; "" is the layer's root.  Absolute names, ".." components, names
 * longer than IMG_PATH_MAX or deeper than IMG_DEPTH_MAX are refused
 * (EINVAL, the message names the entry). */
int layer_clean_path(const char *name, char *out, size_t len);

struct layer_opts {
    uint64_t max_bytes;         /* cap on the uncompressed stream */
    uint64_t max_entries;
    bool whiteouts;             /* an image layer (else: an image archive) */
    const char *diff_id;        /* expected sha256 of the uncompressed tar, or NULL */
};

/* What an entry asks for, decided from its header alone (the fuzzer calls
 * this); LA_* values, or a negative errno with the reason. */
enum { LA_SKIP, LA_FILE, LA_DIR, LA_SYMLINK, LA_HARDLINK, LA_FIFO, LA_WHITEOUT, LA_OPAQUE };
struct archive_entry;
int layer_classify(struct archive_entry *e, const struct layer_opts *o, char *path, size_t len);

/* Unpacks the (maybe gzip/zstd/xz-compressed) tar stream read from srcfd
 * into the directory rootfd, never following a symlink and never leaving
 * rootfd (rootfd < 0: only checks the diff_id).  *expanded receives the
 * uncompressed size. */
int layer_unpack(int srcfd, int rootfd, const struct layer_opts *o, uint64_t *expanded);

/* Removes NAME below dirfd recursively without following symlinks; refuses
 * to descend into another mount. */
int rm_tree_at(int dirfd, const char *name);
/* sha256 of everything readable from fd, as hex. */
int sha256_fd(int fd, char hex[IMG_HEX_LEN + 1], uint64_t *size);

/* ---- user.c: process.user from the image's User ---- */

/* "name", "uid", "name:group", "uid:gid" against the text of the image's
 * /etc/passwd and /etc/group (either may be NULL: numbers still work).
 * additional groups: the groups listing the user by name. */
int img_resolve_user(const char *spec, const char *passwd, const char *group, uint32_t *uid,
                     uint32_t *gid, uint32_t **gids, size_t *ngids);

/* ---- image.c: the store, for bundle.c ---- */

/* Creates the store's directories if needed, opens it and takes flock(op);
 * returns the directory's fd. */
int store_open(const struct oci_store *st, int op);
/* images.json as a vector (free with oci_image_info_free). */
int store_load(int sfd, struct oci_image_info **out, size_t *n);
/* The entry of one (normalised) name; ENOENT if absent. */
int store_lookup(int sfd, const char *name, struct oci_image_info *out);
/* Deletes layers and configs no image uses and no overlay mounts. */
int store_gc(int sfd);
/* The store's absolute path as the kernel has it (from its fd): bundles'
 * overlays name their layers by it and store_gc() looks for them by it. */
int store_path(int sfd, char *out, size_t len);
/* "busybox" -> "busybox:latest"; checks the characters and length. */
int img_norm_name(const char *in, char *out, size_t len);

#endif
