/* corrald's state: one SQLite database in WAL mode.  Schema changes are
 * numbered migrations applied in order, each in its own transaction, and
 * PRAGMA user_version records how far a database has come.  One recursive
 * lock serializes users of the single connection, so a transaction begun by
 * one thread never swallows another thread's statements. */
#include "db/db.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* Prepared statements kept for reuse, keyed by their text: corrald runs
 * the same few dozen statements over and over, and preparing one (parse,
 * plan, code generation) costs more than running it.  SQLite re-prepares a
 * kept statement by itself after a schema change. */
#define STMT_CACHE 48

struct cached_stmt {
    char *sql;
    sqlite3_stmt *st;
    bool in_use;    /* stepping now: a statement run meanwhile gets its own */
};

struct db {
    sqlite3 *h;
    pthread_mutex_t lock;
    struct cached_stmt cache[STMT_CACHE];
    unsigned evict;    /* the slot the next new statement takes when all are full */
};

/* Never edit a migration that has shipped: add a new one. */
static const char *const migrations[] = {
    /* 1: users, sessions, tokens, audit, operations, pools, volumes */
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    "  role TEXT NOT NULL, pwhash TEXT NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE sessions (hash TEXT PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  csrf TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL);"
    "CREATE TABLE tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL, last_used INTEGER NOT NULL DEFAULT 0, UNIQUE (user_id, name));"
    "CREATE TABLE audit (id INTEGER PRIMARY KEY, time INTEGER NOT NULL, actor TEXT NOT NULL,"
    "  action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL);"
    "CREATE TABLE operations (id TEXT PRIMARY KEY, kind TEXT NOT NULL, owner TEXT NOT NULL,"
    "  status TEXT NOT NULL, progress INTEGER NOT NULL, error TEXT NOT NULL DEFAULT '',"
    "  resources TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL);"
    "CREATE INDEX operations_created ON operations(created);"
    "CREATE TABLE pools (name TEXT PRIMARY KEY, path TEXT NOT NULL UNIQUE,"
    "  managed INTEGER NOT NULL, description TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL);"
    "CREATE TABLE volumes (pool TEXT NOT NULL REFERENCES pools(name), name TEXT NOT NULL,"
    "  format TEXT NOT NULL, size INTEGER NOT NULL, base TEXT NOT NULL DEFAULT '',"
    "  state TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL,"
    "  PRIMARY KEY (pool, name));",
    /* 2: VMs (configuration as JSON, the running engine's handle) and networks */
    "CREATE TABLE networks (name TEXT PRIMARY KEY, bridge TEXT NOT NULL UNIQUE, subnet TEXT NOT NULL UNIQUE,"
    "  gateway TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL);"
    "CREATE TABLE vms (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,"
    "  tag TEXT NOT NULL UNIQUE, config TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',"
    "  state TEXT NOT NULL, engine TEXT NOT NULL DEFAULT '', pid INTEGER NOT NULL DEFAULT 0,"
    "  pid_start INTEGER NOT NULL DEFAULT 0, control TEXT NOT NULL DEFAULT '',"
    "  console TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL);",
    /* 3: containers (configuration as JSON, the running container's keeper) */
    "CREATE TABLE containers (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,"
    "  tag TEXT NOT NULL UNIQUE, image TEXT NOT NULL, config TEXT NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '', state TEXT NOT NULL, keeper INTEGER NOT NULL DEFAULT 0,"
    "  keeper_start INTEGER NOT NULL DEFAULT 0, pid INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);",
    /* 4: networks with NAT to the host's other interfaces */
    "ALTER TABLE networks ADD COLUMN nat INTEGER NOT NULL DEFAULT 0;",
};

static void db_lock(struct db *db) { pthread_mutex_lock(&db->lock); }
static void db_unlock(struct db *db) { pthread_mutex_unlock(&db->lock); }

static int sql_fail(struct db *db, int rc, const char *what)
{
    int e = (rc & 0xff) == SQLITE_CONSTRAINT ? EEXIST
          : (rc & 0xff) == SQLITE_FULL ? ENOSPC
          : (rc & 0xff) == SQLITE_BUSY ? EBUSY : EIO;
    return fail(e, "database: %s: %s", what, sqlite3_errmsg(db->h));
}

/* A prepared statement for SQL, kept or new; give it back with put_stmt(). */
static int get_stmt(struct db *db, const char *sql, sqlite3_stmt **st)
{
    struct cached_stmt *free_slot = NULL;
    for (unsigned i = 0; i < STMT_CACHE; i++) {
        struct cached_stmt *c = &db->cache[i];
        if (!c->sql) {
            free_slot = free_slot ? free_slot : c;
        } else if (!c->in_use && !strcmp(c->sql, sql)) {
            c->in_use = true;
            *st = c->st;
            return SQLITE_OK;
        }
    }
    int rc = sqlite3_prepare_v2(db->h, sql, -1, st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    struct cached_stmt *c = free_slot;
    for (unsigned n = 0; !c && n < STMT_CACHE; n++) {
        struct cached_stmt *e = &db->cache[db->evict++ % STMT_CACHE];
        if (!e->in_use) {
            sqlite3_finalize(e->st);
            free(e->sql);
            *e = (struct cached_stmt){ 0 };
            c = e;
        }
    }
    if (c && (c->sql = strdup(sql))) {
        c->st = *st;
        c->in_use = true;
    }
    return SQLITE_OK;
}

static void put_stmt(struct db *db, sqlite3_stmt *st)
{
    for (unsigned i = 0; i < STMT_CACHE; i++)
        if (db->cache[i].st == st && db->cache[i].in_use) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            db->cache[i].in_use = false;
            return;
        }
    sqlite3_finalize(st);    /* one the cache had no room for */
}

static int exec_plain(struct db *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db->h, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        int r = fail(EIO, "database: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return r;
    }
    return 0;
}

int db_schema_version(struct db *db)
{
    struct json_object *row;
    if (db_row(db, &row, "PRAGMA user_version", "") < 0)
        return -1;
    int v = json_object_get_int(json_object_object_get(row, "user_version"));
    json_object_put(row);
    return v;
}

static int migrate(struct db *db)
{
    int have = db_schema_version(db), want = (int)ARRAY_SIZE(migrations);
    if (have < 0)
        return -EIO;
    if (have > want)
        return fail(EPROTO, "the database has schema version %d but this corrald knows only %d: "
                            "run a newer corrald", have, want);
    for (int v = have; v < want; v++) {
        char bump[64];
        snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
        int r = db_begin(db);
        if (r == 0)
            r = exec_plain(db, migrations[v]);
        if (r == 0)
            r = exec_plain(db, bump);
        if (r == 0)
            r = db_commit(db);
        if (r < 0) {
            db_rollback(db);
            return fail(-r, "schema migration %d: %s", v + 1, err_msg());
        }
        log_info("database schema migrated to version %d", v + 1);
    }
    return 0;
}

int db_open(const char *path, struct db **out)
{
    struct db *db = calloc(1, sizeof(*db));
    if (!db)
        return fail(ENOMEM, "out of memory");
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&db->lock, &a);
    pthread_mutexattr_destroy(&a);
    int rc = sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);
    int r = 0;
    if (rc != SQLITE_OK)
        r = fail(EIO, "%s: cannot open the database: %s", path,
                 db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
    /* WAL + synchronous=NORMAL: a killed process loses nothing committed;
     * a power cut may lose the last transactions but never corrupts. */
    if (r == 0)
        r = exec_plain(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                           "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;");
    if (r == 0)
        r = migrate(db);
    if (r < 0) {
        db_close(db);
        return r;
    }
    *out = db;
    return 0;
}

void db_close(struct db *db)
{
    if (!db)
        return;
    for (unsigned i = 0; i < STMT_CACHE; i++) {
        sqlite3_finalize(db->cache[i].st);
        free(db->cache[i].sql);
    }
    sqlite3_close(db->h);
    pthread_mutex_destroy(&db->lock);
    free(db);
}

int db_begin(struct db *db)
{
    db_lock(db);
    int r = db_exec(db, "BEGIN IMMEDIATE", "");
    if (r < 0)
        db_unlock(db);
    return MIN(r, 0);
}

int db_commit(struct db *db)
{
    int r = db_exec(db, "COMMIT", "");
    if (r < 0)
        db_exec(db, "ROLLBACK", "");
    db_unlock(db);
    return MIN(r, 0);
}

void db_rollback(struct db *db)
{
    db_exec(db, "ROLLBACK", "");
    db_unlock(db);
}

static int prepare(struct db *db, sqlite3_stmt **st, const char *sql, const char *types, va_list ap)
{
    int rc = get_stmt(db, sql, st);
    if (rc != SQLITE_OK)
        return sql_fail(db, rc, "prepare");
    for (int i = 0; types[i]; i++) {
        if (types[i] == 's') {
            const char *v = va_arg(ap, const char *);
            rc = v ? sqlite3_bind_text(*st, i + 1, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(*st, i + 1);
        } else {
            rc = sqlite3_bind_int64(*st, i + 1, va_arg(ap, int64_t));
        }
        if (rc != SQLITE_OK) {
            int r = sql_fail(db, rc, "bind");
            put_stmt(db, *st);
            return r;
        }
    }
    return 0;
}

int db_exec(struct db *db, const char *sql, const char *types, ...)
{
    sqlite3_stmt *st;
    va_list ap;
    va_start(ap, types);
    db_lock(db);
    int r = prepare(db, &st, sql, types, ap);
    va_end(ap);
    if (r == 0) {
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            ;
        r = rc == SQLITE_DONE ? sqlite3_changes(db->h) : sql_fail(db, rc, "step");
        put_stmt(db, st);
    }
    db_unlock(db);
    return r;
}

static struct json_object *row_object(sqlite3_stmt *st)
{
    struct json_object *o = json_object_new_object();
    for (int c = 0; c < sqlite3_column_count(st); c++) {
        struct json_object *v = NULL;
        switch (sqlite3_column_type(st, c)) {
        case SQLITE_INTEGER: v = json_object_new_int64(sqlite3_column_int64(st, c)); break;
        case SQLITE_FLOAT: v = json_object_new_double(sqlite3_column_double(st, c)); break;
        case SQLITE_TEXT: v = json_object_new_string((const char *)sqlite3_column_text(st, c)); break;
        default: break;
        }
        json_object_object_add(o, sqlite3_column_name(st, c), v);
    }
    return o;
}

static int query(struct db *db, struct json_object **out, bool first, const char *sql,
                 const char *types, va_list ap)
{
    sqlite3_stmt *st;
    db_lock(db);
    int r = prepare(db, &st, sql, types, ap);
    if (r == 0) {
        struct json_object *arr = json_object_new_array();
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            json_object_array_add(arr, row_object(st));
            if (first)
                break;
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            r = sql_fail(db, rc, "step");
            json_object_put(arr);
        } else if (first) {
            struct json_object *row = json_object_array_length(arr)
                                          ? json_object_get(json_object_array_get_idx(arr, 0)) : NULL;
            json_object_put(arr);
            r = row ? 0 : -ENOENT;
            *out = row;
        } else {
            *out = arr;
        }
        put_stmt(db, st);
    }
    db_unlock(db);
    return r;
}

int db_rows(struct db *db, struct json_object **out, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    int r = query(db, out, false, sql, types, ap);
    va_end(ap);
    return r;
}

int db_row(struct db *db, struct json_object **out, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    int r = query(db, out, true, sql, types, ap);
    va_end(ap);
    return r;
}
