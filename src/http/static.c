/* The web console's files (web/dist, built by `npm run build`): everything
 * outside /api is answered here, without authentication, because the login
 * page has to load before anyone is logged in.  The API stays behind auth.
 *
 *   /assets/NAME   a file of the bundle; names carry a content hash, so they
 *                  are cached for a year ("immutable")
 *   /NAME.EXT      another file at the top (favicon.svg)
 *   anything else  index.html: the single-page app routes on the client
 *                  (/login, /vms/NAME, ...)
 *
 * Paths are checked by hand (letters, digits, '-', '_', '.', '/'; no empty,
 * '.' or '..' segment, nothing hidden) and then opened with openat2()
 * RESOLVE_BENEATH under the web directory, so neither a path nor a symlink
 * in the tree can reach a file outside it.  HTML answers carry a strict
 * Content-Security-Policy (http.c adds it when resp.html is set). */
#include "http/http_impl.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/util.h"

#define STATIC_MAX_PATH 256
#define STATIC_MAX_FILE (16 * 1024 * 1024)
#define INSTALLED_WEB_DIR "/usr/share/corral/web"

static const struct {
    const char *ext, *type;
} mime_types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".js", "text/javascript; charset=utf-8" },
    { ".css", "text/css; charset=utf-8" },
    { ".json", "application/json" },
    { ".map", "application/json" },
    { ".svg", "image/svg+xml" },
    { ".png", "image/png" },
    { ".ico", "image/x-icon" },
    { ".woff2", "font/woff2" },
    { ".txt", "text/plain; charset=utf-8" },
};

bool static_wants(const char *path)
{
    return strcmp(path, "/api") && strncmp(path, "/api/", 5);
}

static const char *mime_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < ARRAY_SIZE(mime_types); i++)
        if (!strcmp(dot, mime_types[i].ext))
            return mime_types[i].type;
    return NULL;
}

/* True for "/a/b.c": safe characters only, no empty, "." or ".." segment,
 * and no segment starting with '.' (nothing hidden is served). */
static bool path_safe(const char *p)
{
    size_t len = strlen(p);
    if (p[0] != '/' || len > STATIC_MAX_PATH)
        return false;
    if (len == 1)
        return true;
    for (const char *c = p + 1; *c; c++) {
        bool seg_start = c[-1] == '/';
        if (seg_start && (*c == '/' || *c == '.'))
            return false;
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_' || *c == '.' || *c == '/'))
            return false;
    }
    return p[len - 1] != '/';
}

/* The web directory: --web-dir, else web/dist of the source tree this
 * corrald was built in (the binary lives in BUILD/ next to web/), else the
 * installed copy. */
static void web_dir(const char *given, char *out, size_t len)
{
    if (given) {
        snprintf(out, len, "%s", given);
        return;
    }
    char exe[PATH_MAX - 16];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            char *parent = strrchr(exe, '/');    /* BUILD/corrald -> SRC */
            if (parent)
                *parent = 0;
            if (parent && (size_t)snprintf(out, len, "%s/web/dist", exe) < len && access(out, R_OK) == 0)
                return;
        }
    }
    snprintf(out, len, "%s", INSTALLED_WEB_DIR);
}

static int open_beneath(int dirfd, const char *rel)
{
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
}

static int plain(struct resp *out, int status, const char *text)
{
    free(out->raw);
    out->raw = strdup(text);
    out->raw_len = out->raw ? strlen(out->raw) : 0;
    out->raw_type = "text/plain; charset=utf-8";
    out->status = out->raw ? status : 500;
    return out->status;
}

/* Reads web_dir/rel into out (or answers 304 when If-None-Match matches). */
static int send_file(const char *given, const struct req *r, const char *rel, struct resp *out)
{
    char dir[PATH_MAX];
    web_dir(given, dir, sizeof(dir));
    _cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return plain(out, 503, "The web console is not installed: build it with `make` (needs node and npm) "
                               "or point corrald's --web-dir at its files.\n");
    _cleanup_close_ int fd = open_beneath(dfd, rel);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return plain(out, 404, "Not found.\n");
    if (st.st_size > STATIC_MAX_FILE)
        return plain(out, 500, "File too large.\n");
    const char *type = mime_type(rel);
    if (!type)
        return plain(out, 404, "Not found.\n");

    snprintf(out->etag, sizeof(out->etag), "\"%lx-%lx\"", (unsigned long)st.st_size,
             (unsigned long)(st.st_mtim.tv_sec ^ st.st_mtim.tv_nsec));
    out->cache_control = !strncmp(rel, "assets/", 7) ? "public, max-age=31536000, immutable" : "no-cache";
    out->raw_type = type;
    if (r->if_none_match && !strcmp(r->if_none_match, out->etag)) {
        out->status = 304;
        out->raw = strdup("");
        return out->status;
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (!buf || read_full(fd, buf, size) != (ssize_t)size) {
        free(buf);
        out->etag[0] = 0;
        return plain(out, 500, "Cannot read the file.\n");
    }
    out->raw = buf;
    out->raw_len = size;
    out->status = 200;
    return 200;
}

void static_serve(const char *given, struct req *r, struct resp *out)
{
    memset(out, 0, sizeof(*out));
    if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD")) {
        plain(out, 405, "Only GET and HEAD are served here.\n");
        out->html = true;
        return;
    }
    if (!path_safe(r->path)) {
        plain(out, 400, "Bad path.\n");
        out->html = true;
        return;
    }
    /* A path whose last segment has an extension names a file; anything
     * else is a page of the app. */
    const char *last = strrchr(r->path, '/');
    bool is_file = !strncmp(r->path, "/assets/", 8) || strchr(last, '.');
    send_file(given, r, is_file ? r->path + 1 : "index.html", out);
    out->html = true;
}
