/* db — corrald's state: one SQLite database (WAL mode, numbered schema
 * migrations applied in order at open, PRAGMA user_version recording how
 * far a database has come) behind one recursive lock, so a transaction
 * begun by one thread never swallows another thread's statements.  Rows
 * come back as JSON objects keyed by column name.  Errors via fail(). */
#ifndef CORRAL_DB_H
#define CORRAL_DB_H

struct db;
struct json_object;

int db_open(const char *path, struct db **out);
void db_close(struct db *db);
/* A transaction holds the database lock from begin to commit/rollback. */
int db_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);
/* Bind types: 's' text (NULL = NULL), 'i' int64_t.  Returns the number of
 * changed rows, -EEXIST on a constraint violation, other negative errnos. */
int db_exec(struct db *db, const char *sql, const char *types, ...);
/* All rows as a JSON array of objects keyed by column name. */
int db_rows(struct db *db, struct json_object **out, const char *sql, const char *types, ...);
/* The first row as an object, or -ENOENT. */
int db_row(struct db *db, struct json_object **out, const char *sql, const char *types, ...);
int db_schema_version(struct db *db);

#endif
