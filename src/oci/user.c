/* An image's User ("name", "uid", "name:group", "uid:gid", ...) resolved
 * against its own /etc/passwd and /etc/group, as docker does: numbers are
 * taken as they are, names must exist, and the user's supplementary groups
 * come from the member lists of /etc/group. */
#include "oci/image_internal.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MAX_GIDS 64

/* Splits one colon-separated line (at most 7 fields) in place. */
static size_t split(char *line, char *f[7])
{
    size_t n = 0;
    for (char *p = line; n < 7; p++) {
        f[n++] = p;
        p = strchrnul(p, ':');
        if (!*p)
            break;
        *p = 0;
    }
    return n;
}

static bool parse_id(const char *s, uint32_t *out)
{
    uint64_t v = 0;
    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10)
        return false;
    for (; *s; s++)
        v = v * 10 + (uint64_t)(*s - '0');
    if (v >= UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* Calls fn on every well-formed line (>= min fields) until it returns true. */
static bool each_line(const char *text, size_t min,
                      bool (*fn)(char *f[7], size_t n, void *arg), void *arg)
{
    for (const char *p = text; p && *p;) {
        const char *end = strchrnul(p, '\n');
        char line[1024], *f[7];
        size_t len = (size_t)(end - p);
        if (len < sizeof(line)) {
            memcpy(line, p, len);
            line[len] = 0;
            size_t n = split(line, f);
            if (n >= min && line[0] != '#' && fn(f, n, arg))
                return true;
        }
        p = *end ? end + 1 : NULL;
    }
    return false;
}

struct match {
    const char *key;            /* name to match in field 0 ... */
    bool by_id;                 /* ... or the id in field 2 */
    uint32_t id;
    uint32_t found_id, found_gid;
    char name[256];
};

static bool match_entry(char *f[7], size_t n, void *arg)
{
    struct match *m = arg;
    uint32_t id;
    if (!parse_id(f[2], &id) || (m->by_id ? id != m->id : strcmp(f[0], m->key) != 0))
        return false;
    m->found_id = id;
    /* passwd: field 3 is the gid; group lines have the member list there. */
    if (n < 4 || !parse_id(f[3], &m->found_gid))
        m->found_gid = 0;
    snprintf(m->name, sizeof(m->name), "%s", f[0]);
    return true;
}

struct members {
    const char *user;
    uint32_t primary;
    uint32_t *gids;
    size_t n;
};

static bool match_member(char *f[7], size_t n, void *arg)
{
    struct members *m = arg;
    uint32_t gid;
    if (n < 4 || !parse_id(f[2], &gid) || gid == m->primary || m->n >= MAX_GIDS)
        return false;
    char *save = NULL;
    for (char *u = strtok_r(f[3], ",", &save); u; u = strtok_r(NULL, ",", &save))
        if (strcmp(u, m->user) == 0) {
            for (size_t i = 0; i < m->n; i++)
                if (m->gids[i] == gid)
                    return false;
            m->gids[m->n++] = gid;
            break;
        }
    return false;
}

int img_resolve_user(const char *spec, const char *passwd, const char *group, uint32_t *uid,
                     uint32_t *gid, uint32_t **gids, size_t *ngids)
{
    char buf[512];
    *gids = NULL;
    *ngids = 0;
    if (snprintf(buf, sizeof(buf), "%s", spec) >= (int)sizeof(buf) || !*spec)
        return fail(EINVAL, "User \"%.80s\": empty or too long", spec);
    char *grp = strchr(buf, ':');
    if (grp)
        *grp++ = 0;
    struct match u = { .key = buf };
    bool known = false;
    if (parse_id(buf, &u.id)) {
        u.by_id = true;
        known = passwd && each_line(passwd, 4, match_entry, &u);
        *uid = u.id;
        *gid = known ? u.found_gid : 0;
    } else {
        if (!passwd || !each_line(passwd, 4, match_entry, &u))
            return fail(ENOENT, "User \"%s\": no such user in the image's /etc/passwd", spec);
        known = true;
        *uid = u.found_id;
        *gid = u.found_gid;
    }
    if (grp && !parse_id(grp, gid)) {
        struct match g = { .key = grp };
        if (!*grp || !group || !each_line(group, 3, match_entry, &g))
            return fail(ENOENT, "User \"%s\": no such group in the image's /etc/group", spec);
        *gid = g.found_id;
    }
    if (known && group) {
        struct members m = { .user = u.name, .primary = *gid,
                             .gids = calloc(MAX_GIDS, sizeof(uint32_t)) };
        if (!m.gids)
            return fail(ENOMEM, "out of memory");
        each_line(group, 4, match_member, &m);
        *gids = m.gids;
        *ngids = m.n;
    }
    return 0;
}
