/* Directory storage pools and their volumes (raw or qcow2 files made with
 * src/block).  A linked clone is a qcow2 whose backing file is its base
 * volume, named relative to the pool so the pool directory can move.
 *
 * Volume changes run as operations.  The database row is written first
 * (state "creating"/"resizing"/"deleting") and settled when the operation
 * ends, so a crash at any point is finished or undone by storage_recover()
 * at the next start.  Locks: "pools/P/volumes/V" per volume; deleting a pool
 * checks for any operation under "pools/P".  A base volume cannot be
 * deleted or resized while clones refer to it.
 *
 * Never call ops_submit()/ops_busy() inside a database transaction: the
 * operation workers take the ops lock before the database lock. */
#include "server/server.h"
#include "server/usage.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "block/block.h"
#include "util/util.h"

#define POOL_COLS "name, path, description, created"
#define VOL_COLS "pool, name, format, size, base, state, description, created"

#define jstr json_str

static int load_pool(struct server *s, const char *name, struct json_object **out, struct resp *resp)
{
    if (!name_valid(name))
        return api_error(resp, E_BAD_NAME, "'%.64s' is not a valid pool name " NAME_RULE, name);
    if (db_row(s->db, out, "SELECT " POOL_COLS " FROM pools WHERE name = ?", "s", name) < 0)
        return api_error(resp, E_NOT_FOUND, "no pool '%s'", name);
    return 0;
}

static int load_volume(struct server *s, struct req *r, struct json_object **out, struct resp *resp)
{
    struct json_object *pool;
    int rc = load_pool(s, r->param[0], &pool, resp);
    if (rc)
        return rc;
    json_object_put(pool);
    if (!name_valid(r->param[1]))
        return api_error(resp, E_BAD_NAME, "'%.64s' is not a valid volume name " NAME_RULE, r->param[1]);
    if (db_row(s->db, out, "SELECT " VOL_COLS " FROM volumes WHERE pool = ? AND name = ?", "ss",
               r->param[0], r->param[1]) < 0)
        return api_error(resp, E_NOT_FOUND, "no volume '%s' in pool '%s'", r->param[1], r->param[0]);
    return 0;
}

/* The answer: the stored config (what the ETag covers) plus live usage. */
static int answer(struct resp *out, int status, struct json_object *config, const char *usage_path)
{
    api_etag(config, out->etag);
    struct statvfs fs;
    struct stat st;
    struct json_object *u = json_object_new_object();
    if (usage_path && stat(usage_path, &st) == 0 && S_ISREG(st.st_mode))
        json_object_object_add(u, "allocated", json_object_new_int64((int64_t)st.st_blocks * 512));
    else if (usage_path && statvfs(usage_path, &fs) == 0) {
        json_object_object_add(u, "total", json_object_new_int64((int64_t)(fs.f_blocks * fs.f_frsize)));
        json_object_object_add(u, "free", json_object_new_int64((int64_t)(fs.f_bavail * fs.f_frsize)));
    }
    json_object_object_add(config, "usage", u);
    return api_sync(out, status, config);
}

/* ---- pools ------------------------------------------------------------------ */

int h_pools_list(struct server *s, struct req *r, struct resp *out)
{
    (void)r;
    struct json_object *rows;
    int rc = db_rows(s->db, &rows, "SELECT " POOL_COLS " FROM pools ORDER BY name", "");
    return rc < 0 ? api_errno(out, rc) : api_sync(out, 200, rows);
}

int h_pool_get(struct server *s, struct req *r, struct resp *out)
{
    struct json_object *p;
    int rc = load_pool(s, r->param[0], &p, out);
    if (rc)
        return rc;
    char path[1100];
    snprintf(path, sizeof(path), "%s", jstr(p, "path"));
    return answer(out, 200, p, path);
}

/* Why PATH may not hold volumes, into why; false if it may.  Pools in the
 * state directory's pools/ are corrald's own (made when path is left out). */
static bool pool_refused(struct server *s, const char *path, char *why, size_t len)
{
    return !hostpath_under(path, s->pools_dir) && hostpath_pool_refused(path, s->paths.state, why, len);
}

/* A pool directory an admin named: its text checked, then its parent
 * opened and the real path checked again (a symlink on the way may lead
 * anywhere), then the directory made or found there.  Its real path into
 * real; 0 or a 4xx. */
static int pool_dir_make(struct server *s, const char *path, char *real, size_t len, bool *created,
                         struct resp *out)
{
    char why[1400], parent[1100];
    if (!path_valid(path))
        return api_error(out, E_BAD_FIELD, "path must be absolute, at most 1024 bytes, without '.', '..' "
                                           "or empty components");
    if (hostpath_pool_refused(path, s->paths.state, why, sizeof(why)))
        return api_error(out, E_FORBIDDEN, "pool path %s refused: it %s", path, why);
    const char *base = strrchr(path, '/') + 1;
    snprintf(parent, sizeof(parent), "%.*s", (int)(base - path > 1 ? base - path - 1 : 1), path);
    _cleanup_close_ int pfd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0 || hostpath_of_fd(pfd, real, len - NAME_MAX - 2) < 0)
        return api_error(out, E_BAD_FIELD, "path %s: its parent directory %s is missing", path, parent);
    size_t n = strlen(real);
    snprintf(real + n, len - n, "%s%s", n > 1 ? "/" : "", base);
    if (hostpath_pool_refused(real, s->paths.state, why, sizeof(why)))
        return api_error(out, E_FORBIDDEN, "pool path %s refused: it resolves to %s, which %s", path, real, why);
    struct stat st;
    *created = mkdirat(pfd, base, 0700) == 0;
    if (!*created && (errno != EEXIST || fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)))
        return api_error(out, E_BAD_FIELD, "path %s is not a directory corrald can create or use", path);
    return 0;
}

int h_pools_create(struct server *s, struct req *r, struct resp *out)
{
    const char *name = NULL, *path = NULL, *desc = "";
    const struct field f[] = {
        { "name", F_STRING, true, &name, NULL },
        { "path", F_STRING, false, &path, NULL },
        { "description", F_STRING, false, &desc, NULL },
    };
    int rc = api_fields(r, f, ARRAY_SIZE(f), out);
    if (rc)
        return rc;
    if (!name_valid(name))
        return api_error(out, E_BAD_NAME, "'%.64s' is not a valid pool name " NAME_RULE, name);
    if ((rc = api_check_description(desc, out)))
        return rc;
    char def[1100], real[PATH_MAX + 8];
    snprintf(def, sizeof(def), "%s/%s", s->pools_dir, name);
    bool created = false;
    if (path) {
        if ((rc = pool_dir_make(s, path, real, sizeof(real), &created, out)))
            return rc;
        path = real;
    } else {
        path = def;
        created = mkdir(path, 0700) == 0;
        struct stat st;
        if (!created && (errno != EEXIST || lstat(path, &st) < 0 || !S_ISDIR(st.st_mode)))
            return api_error(out, E_BAD_FIELD, "path %s is not a directory corrald can create or use", path);
    }
    rc = db_exec(s->db, "INSERT INTO pools (name, path, managed, description, created) VALUES (?, ?, ?, ?, ?)",
                 "ssisi", name, path, (int64_t)created, desc, (int64_t)time(NULL));
    if (rc < 0) {
        if (created)
            rmdir(path);
        if (rc == -EEXIST)
            return api_error(out, E_EXISTS, "a pool named '%s' or using %s already exists", name, path);
        return api_errno(out, rc);
    }
    struct json_object *d = json_object_new_object(), *p;
    json_object_object_add(d, "path", json_object_new_string(path));
    events_record(s->events, &r->who, "pool.create", name, d);
    json_object_put(d);
    if ((rc = load_pool(s, name, &p, out)))
        return rc;
    return answer(out, 201, p, path);
}

int h_pool_patch(struct server *s, struct req *r, struct resp *out)
{
    return api_patch_description(s, r, out, load_pool, "UPDATE pools SET description = ? WHERE name = ?", "pool.update", h_pool_get);
}

int h_pool_delete(struct server *s, struct req *r, struct resp *out)
{
    const char *name = r->param[0];
    struct json_object *p, *row;
    int rc = load_pool(s, name, &p, out);
    if (rc)
        return rc;
    char key[128], holder[40];
    snprintf(key, sizeof(key), "pools/%s", name);
    if (ops_busy(s->ops, key, holder, sizeof(holder))) {
        json_object_put(p);
        return api_error(out, E_BUSY, "operation %s is working in pool '%s': wait for it and retry", holder, name);
    }
    if ((rc = db_begin(s->db)) < 0) {
        json_object_put(p);
        return api_errno(out, rc);
    }
    row = NULL;
    db_row(s->db, &row, "SELECT count(*) AS n FROM volumes WHERE pool = ?", "s", name);
    int64_t n = row ? json_object_get_int64(json_object_object_get(row, "n")) : 1;
    json_object_put(row);
    if (n > 0) {
        db_rollback(s->db);
        json_object_put(p);
        return api_error(out, E_CONFLICT, "pool '%s' still has %lld volume(s): delete them first", name,
                         (long long)n);
    }
    row = NULL;
    db_row(s->db, &row, "SELECT managed FROM pools WHERE name = ?", "s", name);
    bool managed = row && json_object_get_int64(json_object_object_get(row, "managed"));
    json_object_put(row);
    rc = db_exec(s->db, "DELETE FROM pools WHERE name = ?", "s", name);
    if (rc >= 0)
        rc = db_commit(s->db);
    else
        db_rollback(s->db);
    if (rc < 0) {
        json_object_put(p);
        return api_errno(out, rc);
    }
    /* Only a directory corrald made, and only if empty: never others' files. */
    if (managed && rmdir(jstr(p, "path")) < 0)
        log_warn("pool %s: could not remove %s: %m", name, jstr(p, "path"));
    json_object_put(p);
    events_record(s->events, &r->who, "pool.delete", name, NULL);
    return api_sync(out, 200, NULL);
}

/* ---- volumes ---------------------------------------------------------------- */

/* What a volume operation works on; freed by the operations layer. */
struct vol_job {
    struct principal who;
    char pool[NAME_MAX_LEN + 1], name[NAME_MAX_LEN + 1], base[NAME_MAX_LEN + 1];
    char path[1200], base_file[80];
    enum blk_format format, base_format;
    uint64_t size;
    bool preallocate;
};

static int volume_path(struct server *s, const char *pool, const char *name, const char *format,
                       char *out, size_t len)
{
    struct json_object *p;
    if (db_row(s->db, &p, "SELECT path FROM pools WHERE name = ?", "s", pool) < 0)
        return fail(ENOENT, "no pool '%s'", pool);
    int n = snprintf(out, len, "%s/%s.%s", jstr(p, "path"), name, format);
    json_object_put(p);
    return n < (int)len ? 0 : fail(ENAMETOOLONG, "path too long");
}

static int submit(struct server *s, struct req *r, const char *kind, struct vol_job *j, op_fn fn,
                  op_done_fn done, struct resp *out)
{
    char key[192];
    snprintf(key, sizeof(key), "pools/%s/volumes/%s", j->pool, j->name);
    return ops_submit_on(s->ops, &r->who, key, kind, fn, done, j, out);
}

static int fill_zeros(struct op *op, struct blk *b, uint64_t size)
{
    static const uint8_t zero[1 << 20];
    for (uint64_t off = 0; off < size; off += sizeof(zero)) {
        if (op_cancelled(op))
            return fail(ECANCELED, "cancelled");
        int r = blk_pwrite(b, off, zero, (size_t)MIN(sizeof(zero), size - off));
        if (r < 0)
            return r;
        op_progress(op, (int)(off * 100 / size));
    }
    return blk_flush(b);
}

static int vol_create_run(struct server *s, struct op *op, void *arg)
{
    (void)s;
    struct vol_job *j = arg;
    struct blk_create_opts o = { .format = j->format, .size = j->size };
    if (j->base[0]) {
        o.backing_file = j->base_file;
        o.backing_format = j->base_format;
    }
    int r = blk_create(j->path, &o);
    if (r < 0 || !j->preallocate)
        return r;
    struct blk *b;
    if ((r = blk_open(j->path, j->format, 0, &b)) < 0)
        return r;
    r = fill_zeros(op, b, j->size);
    int c = blk_close(b);
    return r < 0 ? r : c;
}

static void vol_create_done(struct server *s, struct op *op, void *arg, int result)
{
    (void)op;
    struct vol_job *j = arg;
    if (result < 0) {
        unlink(j->path);
        db_exec(s->db, "DELETE FROM volumes WHERE pool = ? AND name = ?", "ss", j->pool, j->name);
        return;
    }
    struct blk *b;
    uint64_t size = j->size;
    if (blk_open(j->path, j->format, BLK_OPEN_RDONLY, &b) == 0) {
        size = blk_size(b);
        blk_close(b);
    }
    db_exec(s->db, "UPDATE volumes SET state = 'ready', size = ? WHERE pool = ? AND name = ?", "iss",
            (int64_t)size, j->pool, j->name);
    char target[140];
    snprintf(target, sizeof(target), "%s/%s", j->pool, j->name);
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "format", json_object_new_string(blk_format_name(j->format)));
    json_object_object_add(d, "size", json_object_new_int64((int64_t)size));
    if (j->base[0])
        json_object_object_add(d, "base", json_object_new_string(j->base));
    events_record(s->events, &j->who, "volume.create", target, d);
    json_object_put(d);
}

int h_volumes_list(struct server *s, struct req *r, struct resp *out)
{
    struct json_object *p, *rows;
    int rc = load_pool(s, r->param[0], &p, out);
    if (rc)
        return rc;
    json_object_put(p);
    rc = db_rows(s->db, &rows, "SELECT " VOL_COLS " FROM volumes WHERE pool = ? ORDER BY name", "s", r->param[0]);
    return rc < 0 ? api_errno(out, rc) : api_sync(out, 200, rows);
}

int h_volume_get(struct server *s, struct req *r, struct resp *out)
{
    struct json_object *v;
    int rc = load_volume(s, r, &v, out);
    if (rc)
        return rc;
    char path[1200] = "";
    volume_path(s, r->param[0], r->param[1], jstr(v, "format"), path, sizeof(path));
    return answer(out, 200, v, path);
}

/* Checks a clone's base and fills the job's backing fields. */
static int clone_base(struct server *s, struct vol_job *j, struct resp *out)
{
    struct json_object *b;
    if (!name_valid(j->base))
        return api_error(out, E_BAD_NAME, "'%.64s' is not a valid volume name " NAME_RULE, j->base);
    if (db_row(s->db, &b, "SELECT format, size, state FROM volumes WHERE pool = ? AND name = ?", "ss",
               j->pool, j->base) < 0)
        return api_error(out, E_NOT_FOUND, "no volume '%s' in pool '%s' to clone", j->base, j->pool);
    int rc = 0;
    if (strcmp(jstr(b, "state"), "ready"))
        rc = api_error(out, E_BUSY, "volume '%s' is %s: wait until it is ready", j->base, jstr(b, "state"));
    else if (j->format != BLK_FMT_QCOW2)
        rc = api_error(out, E_BAD_FIELD, "a linked clone is always qcow2: leave out format or say qcow2");
    else if (j->preallocate)
        rc = api_error(out, E_BAD_FIELD, "a linked clone cannot be preallocated");
    else if (j->size && j->size < (uint64_t)json_object_get_int64(json_object_object_get(b, "size")))
        rc = api_error(out, E_BAD_FIELD, "a clone cannot be smaller than its base (%lld bytes)",
                       (long long)json_object_get_int64(json_object_object_get(b, "size")));
    if (rc == 0) {
        blk_parse_format(jstr(b, "format"), &j->base_format);
        snprintf(j->base_file, sizeof(j->base_file), "%s.%s", j->base, jstr(b, "format"));
    }
    json_object_put(b);
    return rc;
}

int h_volumes_create(struct server *s, struct req *r, struct resp *out)
{
    const char *name = NULL, *format = "qcow2", *source = NULL, *desc = "";
    uint64_t size = 0;
    bool prealloc = false;
    const struct field f[] = {
        { "name", F_STRING, true, &name, NULL },
        { "size", F_SIZE, false, &size, NULL },
        { "format", F_STRING, false, &format, NULL },
        { "source", F_STRING, false, &source, NULL },
        { "preallocate", F_BOOL, false, &prealloc, NULL },
        { "description", F_STRING, false, &desc, NULL },
    };
    struct json_object *p;
    char why[1400];
    int rc = api_fields(r, f, ARRAY_SIZE(f), out);
    if (rc || (rc = load_pool(s, r->param[0], &p, out)))
        return rc;
    /* A pool made before these rules may sit where new files do harm. */
    if (pool_refused(s, jstr(p, "path"), why, sizeof(why))) {
        api_error(out, E_CONFLICT, "pool '%s' is at %s, which %s: corrald makes no new volumes there; move "
                  "its volumes to another pool", r->param[0], jstr(p, "path"), why);
        json_object_put(p);
        return out->status;
    }
    json_object_put(p);
    struct vol_job *j = calloc(1, sizeof(*j));
    if (!j)
        return api_error(out, E_INTERNAL, "out of memory");
    j->who = r->who;
    j->size = size;
    j->preallocate = prealloc;
    snprintf(j->pool, sizeof(j->pool), "%s", r->param[0]);
    snprintf(j->name, sizeof(j->name), "%s", name);
    snprintf(j->base, sizeof(j->base), "%s", source ? source : "");
    if (!name_valid(name))
        rc = api_error(out, E_BAD_NAME, "'%.64s' is not a valid volume name " NAME_RULE, name);
    else if (blk_parse_format(format, &j->format) < 0 || j->format == BLK_FMT_PROBE)
        rc = api_error(out, E_BAD_FIELD, "format must be qcow2 or raw");
    else if (api_check_description(desc, out))
        rc = out->status;
    else if (source)
        rc = clone_base(s, j, out);
    else if (!size)
        rc = api_error(out, E_MISSING_FIELD, "field 'size' is required (e.g. \"10G\") unless 'source' is given");
    else if (size > (1ULL << 50))
        rc = api_error(out, E_BAD_FIELD, "size is larger than 1 PiB");
    else if (prealloc && j->format != BLK_FMT_RAW)
        rc = api_error(out, E_BAD_FIELD, "preallocate works with raw volumes only");
    struct stat st;
    if (rc == 0 && volume_path(s, j->pool, name, blk_format_name(j->format), j->path, sizeof(j->path)) < 0)
        rc = api_errno(out, -ENOENT);
    if (rc == 0 && lstat(j->path, &st) == 0)
        rc = api_error(out, E_EXISTS, "a file already exists at %s; corrald will not overwrite it", j->path);
    if (rc == 0) {
        rc = db_exec(s->db, "INSERT INTO volumes (pool, name, format, size, base, state, description, created) "
                     "VALUES (?, ?, ?, ?, ?, 'creating', ?, ?)", "sssissi", j->pool, name,
                     blk_format_name(j->format), (int64_t)size, j->base, desc, (int64_t)time(NULL));
        if (rc == -EEXIST)
            rc = api_error(out, E_EXISTS, "volume '%s' already exists in pool '%s'", name, j->pool);
        else if (rc < 0)
            rc = api_errno(out, rc);
        else
            rc = 0;
    }
    if (rc) {
        free(j);
        return rc;
    }
    rc = submit(s, r, "volume.create", j, vol_create_run, vol_create_done, out);
    if (rc != 202)
        db_exec(s->db, "DELETE FROM volumes WHERE pool = ? AND name = ?", "ss", r->param[0], name);
    return rc;
}

static int vol_resize_run(struct server *s, struct op *op, void *arg)
{
    (void)s, (void)op;
    struct vol_job *j = arg;
    struct blk *b;
    int r = blk_open(j->path, j->format, BLK_OPEN_NO_BACKING, &b);
    if (r < 0)
        return r;
    r = blk_resize(b, j->size);
    int c = blk_close(b);
    return r < 0 ? r : c;
}

static void vol_resize_done(struct server *s, struct op *op, void *arg, int result)
{
    (void)op;
    struct vol_job *j = arg;
    struct blk *b;
    uint64_t size = 0;
    if (blk_open(j->path, j->format, BLK_OPEN_RDONLY | BLK_OPEN_NO_BACKING, &b) == 0) {
        size = blk_size(b);
        blk_close(b);
    }
    db_exec(s->db, "UPDATE volumes SET state = 'ready', size = CASE WHEN ? > 0 THEN ? ELSE size END "
            "WHERE pool = ? AND name = ?", "iiss", (int64_t)size, (int64_t)size, j->pool, j->name);
    if (result == 0) {
        char target[140];
        snprintf(target, sizeof(target), "%s/%s", j->pool, j->name);
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "size", json_object_new_int64((int64_t)size));
        events_record(s->events, &j->who, "volume.resize", target, d);
        json_object_put(d);
    }
}

/* Refuses changes to a volume that is not ready or that clones depend on. */
static int volume_settled(struct server *s, struct json_object *v, const char *what, struct resp *out)
{
    if (strcmp(jstr(v, "state"), "ready"))
        return api_error(out, E_BUSY, "volume '%s' is %s: wait until it is ready", jstr(v, "name"),
                         jstr(v, "state"));
    char vm[NAME_MAX_LEN + 1], ref[2 * NAME_MAX_LEN + 2];
    snprintf(ref, sizeof(ref), "%s/%s", jstr(v, "pool"), jstr(v, "name"));
    if (usage_volume(s, ref, "", vm, sizeof(vm)))
        return api_error(out, E_CONFLICT, "cannot %s volume '%s': VM '%s' uses it as a disk", what,
                         jstr(v, "name"), vm);
    struct json_object *row = NULL;
    if (db_row(s->db, &row, "SELECT group_concat(name, ', ') AS clones FROM volumes WHERE pool = ? AND base = ?",
               "ss", jstr(v, "pool"), jstr(v, "name")) == 0 && jstr(row, "clones")) {
        api_error(out, E_CONFLICT, "cannot %s volume '%s': linked clones use it as their base (%s)", what,
                  jstr(v, "name"), jstr(row, "clones"));
        json_object_put(row);
        return out->status;
    }
    json_object_put(row);
    return 0;
}

/* Ends a volume PATCH or DELETE's transaction: rolls back on rc (or a
 * failed commit) and then drops v. */
static int vol_txn_end(struct server *s, int rc, struct json_object *v, struct resp *out)
{
    if (rc)
        db_rollback(s->db);
    else if ((rc = db_commit(s->db)) < 0)
        rc = api_errno(out, rc);
    if (rc)
        json_object_put(v);
    return rc;
}

/* Runs a job on the volume v (the request's, which the caller has marked
 * busy: resizing, deleting) and drops v; the volume is ready again if the
 * job does not start. */
static int vol_job_submit(struct server *s, struct req *r, struct json_object *v, uint64_t size,
                          const char *kind, op_fn fn, op_done_fn done, struct resp *out)
{
    struct vol_job *j = calloc(1, sizeof(*j));
    int rc;
    if (!j) {
        rc = api_error(out, E_INTERNAL, "out of memory");
    } else {
        j->who = r->who;
        j->size = size;
        snprintf(j->pool, sizeof(j->pool), "%s", r->param[0]);
        snprintf(j->name, sizeof(j->name), "%s", r->param[1]);
        blk_parse_format(jstr(v, "format"), &j->format);
        volume_path(s, j->pool, j->name, jstr(v, "format"), j->path, sizeof(j->path));
        rc = submit(s, r, kind, j, fn, done, out);
    }
    json_object_put(v);
    if (rc != 202)
        db_exec(s->db, "UPDATE volumes SET state = 'ready' WHERE pool = ? AND name = ?", "ss",
                r->param[0], r->param[1]);
    return rc;
}

int h_volume_patch(struct server *s, struct req *r, struct resp *out)
{
    const char *desc = NULL;
    uint64_t size = 0;
    bool has_size = false;
    const struct field f[] = {
        { "size", F_SIZE, false, &size, &has_size },
        { "description", F_STRING, false, &desc, NULL },
    };
    int rc = api_fields(r, f, ARRAY_SIZE(f), out);
    if (rc)
        return rc;
    if (!has_size && !desc)
        return api_error(out, E_MISSING_FIELD, "give 'size' (resize) and/or 'description'");
    if ((rc = api_check_description(desc, out)))
        return rc;
    if (has_size && size > (1ULL << 50))
        return api_error(out, E_BAD_FIELD, "size is larger than 1 PiB");
    struct json_object *v = NULL;
    if ((rc = db_begin(s->db)) < 0)
        return api_errno(out, rc);
    if ((rc = load_volume(s, r, &v, out)) == 0) {
        if (!(rc = api_check_if_match(r, v, out)) && has_size)
            rc = volume_settled(s, v, "resize", out);
        if (rc == 0 && desc)
            db_exec(s->db, "UPDATE volumes SET description = ? WHERE pool = ? AND name = ?", "sss", desc,
                    r->param[0], r->param[1]);
        if (rc == 0 && has_size)
            db_exec(s->db, "UPDATE volumes SET state = 'resizing' WHERE pool = ? AND name = ?", "ss",
                    r->param[0], r->param[1]);
    }
    if ((rc = vol_txn_end(s, rc, v, out)))
        return rc;
    if (desc)
        events_record(s->events, &r->who, "volume.update", r->param[1], NULL);
    if (!has_size) {
        json_object_put(v);
        return h_volume_get(s, r, out);
    }
    return vol_job_submit(s, r, v, size, "volume.resize", vol_resize_run, vol_resize_done, out);
}

static int vol_delete_run(struct server *s, struct op *op, void *arg)
{
    (void)s, (void)op;
    struct vol_job *j = arg;
    if (unlink(j->path) < 0 && errno != ENOENT)
        return fail(errno, "cannot remove %s: %m", j->path);
    return 0;
}

static void vol_delete_done(struct server *s, struct op *op, void *arg, int result)
{
    (void)op;
    struct vol_job *j = arg;
    char target[140];
    snprintf(target, sizeof(target), "%s/%s", j->pool, j->name);
    if (result < 0) {
        db_exec(s->db, "UPDATE volumes SET state = 'ready' WHERE pool = ? AND name = ?", "ss", j->pool, j->name);
        return;
    }
    db_exec(s->db, "DELETE FROM volumes WHERE pool = ? AND name = ?", "ss", j->pool, j->name);
    events_record(s->events, &j->who, "volume.delete", target, NULL);
}

int h_volume_delete(struct server *s, struct req *r, struct resp *out)
{
    struct json_object *v = NULL;
    int rc;
    if ((rc = db_begin(s->db)) < 0)
        return api_errno(out, rc);
    if ((rc = load_volume(s, r, &v, out)) == 0 && !(rc = volume_settled(s, v, "delete", out)))
        db_exec(s->db, "UPDATE volumes SET state = 'deleting' WHERE pool = ? AND name = ?", "ss",
                r->param[0], r->param[1]);
    if ((rc = vol_txn_end(s, rc, v, out)))
        return rc;
    return vol_job_submit(s, r, v, 0, "volume.delete", vol_delete_run, vol_delete_done, out);
}

int storage_recover(struct server *s)
{
    struct json_object *rows;
    int rc = db_rows(s->db, &rows, "SELECT " VOL_COLS " FROM volumes WHERE state != 'ready'", "");
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        struct json_object *v = json_object_array_get_idx(rows, i);
        const char *pool = jstr(v, "pool"), *name = jstr(v, "name"), *state = jstr(v, "state");
        char path[1200];
        if (volume_path(s, pool, name, jstr(v, "format"), path, sizeof(path)) < 0)
            continue;
        if (!strcmp(state, "resizing")) {
            struct blk *b;
            enum blk_format fmt;
            blk_parse_format(jstr(v, "format"), &fmt);
            if (blk_open(path, fmt, BLK_OPEN_RDONLY | BLK_OPEN_NO_BACKING, &b) == 0) {
                db_exec(s->db, "UPDATE volumes SET size = ? WHERE pool = ? AND name = ?", "iss",
                        (int64_t)blk_size(b), pool, name);
                blk_close(b);
            }
            db_exec(s->db, "UPDATE volumes SET state = 'ready' WHERE pool = ? AND name = ?", "ss", pool, name);
        } else {    /* creating: undo; deleting: finish */
            unlink(path);
            db_exec(s->db, "DELETE FROM volumes WHERE pool = ? AND name = ?", "ss", pool, name);
        }
        log_warn("volume %s/%s was %s when corrald stopped: %s", pool, name, state,
                 !strcmp(state, "resizing") ? "kept with its current size" : "removed");
    }
    json_object_put(rows);
    return 0;
}
