/* auth — who is calling, and logging in.
 *
 * Three ways in: a root peer on the Unix socket (SO_PEERCRED uid 0) is
 * admin; `Authorization: Bearer TOKEN` for programs; the session cookie a
 * login sets, for browsers, whose writes must also echo the CSRF token.
 * Session ids and API tokens are 256-bit random secrets stored only as
 * BLAKE2b hashes; passwords are argon2id hashes (libsodium).  Thread-safe;
 * errors via fail() or a 4xx in a struct resp. */
#ifndef CORRAL_AUTH_H
#define CORRAL_AUTH_H

#include <stddef.h>

#include "api/api.h"

struct auth;
struct db;
struct events;

/* Users live in DB; logins and user changes are recorded on EV. */
int auth_new(struct db *db, struct events *ev, struct auth **out);
void auth_free(struct auth *a);
/* Creates `admin` when there are no users (password from the file or random,
 * printed once to stderr). */
int auth_bootstrap(struct auth *a, const char *password_file);
/* Who is calling: Unix peer uid 0, bearer token or session cookie.  Returns
 * 0 (who->kind may be AUTH_ANON) or -EACCES for bad credentials. */
int auth_identify(struct auth *a, struct req *r);
int auth_hash_password(const char *password, char *out, size_t len);
/* A random URL-safe secret and its storage hash (hex BLAKE2b-256). */
void auth_secret(char *out, size_t bytes);
void auth_hash_secret(const char *secret, char out[65]);
int auth_password_ok(const char *password, struct resp *out);
/* POST /auth/login {username, password}: a session (cookie and CSRF
 * token), with failed logins slowed per (user, client) and per client;
 * POST /auth/logout; GET /auth/whoami. */
int auth_login(struct auth *a, struct req *r, struct resp *out);
int auth_logout(struct auth *a, struct req *r, struct resp *out);
int auth_whoami(const struct req *r, struct resp *out);

#endif
