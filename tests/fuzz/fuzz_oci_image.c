/* Fuzzes what corral-oci reads from an image archive: the index, manifest,
 * config and docker manifest.json parsers, User resolution against an
 * image's /etc/passwd and /etc/group, and the tar entry checks (headers
 * only: libarchive parses, layer_classify() decides, nothing is written).
 * The first byte picks the target. */
#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/image_internal.h"
#include "util/util.h"

static void tar_entries(const uint8_t *data, size_t size)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    struct layer_opts o = { .max_bytes = 1 << 20, .max_entries = 64, .whiteouts = size & 1 };
    char path[IMG_PATH_MAX + 1];
    struct archive_entry *e;
    if (archive_read_open_memory(a, data, size) == ARCHIVE_OK)
        for (int n = 0; n < 64 && archive_read_next_header(a, &e) == ARCHIVE_OK; n++) {
            int r = layer_classify(e, &o, path, sizeof(path));
            if (r < 0 && !err_msg()[0])
                abort();
            /* What extraction relies on: a clean relative path. */
            if (r >= 0 && (path[0] == '/' || strstr(path, "//") || !strncmp(path, "../", 3) ||
                           strstr(path, "/../") || !strcmp(path, "..")))
                abort();
        }
    archive_read_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 6) {
    case 0: {
        struct img_index x;
        if (img_parse_index(text, len, "index.json", &x) == 0)
            img_index_free(&x);
        break;
    }
    case 1: {
        struct img_manifest m;
        if (img_parse_manifest(text, len, "manifest", &m) == 0) {
            for (size_t i = 0; i < m.nlayers; i++)
                if (strlen(m.layers[i].hex) != IMG_HEX_LEN || m.layers[i].size < 0)
                    abort();
            img_manifest_free(&m);
        }
        break;
    }
    case 2: {
        struct img_config c;
        if (img_parse_config(text, len, "config", &c) == 0) {
            if (c.workdir && c.workdir[0] && c.workdir[0] != '/')
                abort();
            img_config_free(&c);
        }
        break;
    }
    case 3: {
        struct img_docker *d;
        size_t n;
        if (img_parse_docker(text, len, &d, &n) == 0)
            img_docker_free(d, n);
        break;
    }
    case 4: {
        /* "spec\0passwd\0group" */
        char *buf = malloc(len + 3);
        memcpy(buf, text, len);
        buf[len] = buf[len + 1] = buf[len + 2] = 0;
        const char *pw = buf + strlen(buf) + 1, *gr = pw + strlen(pw) + 1;
        if (pw > buf + len)
            pw = gr = NULL;
        else if (gr > buf + len)
            gr = NULL;
        uint32_t uid, gid, *gids = NULL;
        size_t ngids;
        if (img_resolve_user(buf, pw, gr, &uid, &gid, &gids, &ngids) == 0 && ngids > 64)
            abort();
        free(gids);
        free(buf);
        break;
    }
    default:
        tar_entries(data + 1, len);
    }
    return 0;
}
