/* Who is calling, and logging in.
 *
 * Three ways in: a root peer on the Unix socket (SO_PEERCRED uid 0) is
 * admin; `Authorization: Bearer TOKEN` for programs; the session cookie a
 * login sets, for browsers, whose writes must also echo the CSRF token.
 * Session ids and API tokens are 256-bit random secrets stored only as
 * BLAKE2b hashes, so a copy of the database lets no one in; passwords are
 * argon2id hashes (libsodium).  Failed logins are slowed per (user, client)
 * and per client with an exponential backoff kept in a small fixed table. */
#include "auth/auth.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <semaphore.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "db/db.h"
#include "ops/ops.h"
#include "util/util.h"

#define SESSION_TTL (8 * 3600)
#define BACKOFF_SLOTS 256
#define BACKOFF_FREE_TRIES 3      /* per (user, client) before slowing */
#define BACKOFF_FREE_TRIES_IP 10  /* per client */
#define BACKOFF_MAX_S 300

struct backoff {
    char key[160];
    int failures;
    int64_t until;              /* no attempts before this (mono_ms) */
    int64_t last;               /* the last failure (mono_ms) */
};

struct auth {
    struct db *db;
    struct events *events;
    pthread_mutex_t lock;
    struct backoff slots[BACKOFF_SLOTS];
    sem_t hashing;              /* argon2id uses 64 MiB: bound the concurrency */
    char dummy_hash[crypto_pwhash_STRBYTES];
};

static int64_t now_s(void) { return (int64_t)time(NULL); }
/* Monotonic milliseconds: backoff must not shrink to nothing when a failure
 * lands just before a second boundary. */
static int64_t mono_ms(void) { return (int64_t)(now_ns() / 1000000); }
int auth_new(struct db *db, struct events *ev, struct auth **out)
{
    struct auth *a = calloc(1, sizeof(*a));
    if (!a)
        return fail(ENOMEM, "out of memory");
    a->db = db;
    a->events = ev;
    pthread_mutex_init(&a->lock, NULL);
    sem_init(&a->hashing, 0, 2);
    /* Unknown users are checked against this, so they take as long as known ones. */
    if (auth_hash_password("not a password of anyone", a->dummy_hash, sizeof(a->dummy_hash)) < 0) {
        auth_free(a);
        return -ENOMEM;
    }
    *out = a;
    return 0;
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    sem_destroy(&a->hashing);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

int auth_hash_password(const char *password, char *out, size_t len)
{
    if (len < crypto_pwhash_STRBYTES)
        return fail(EINVAL, "hash buffer too small");
    if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return fail(ENOMEM, "out of memory hashing a password");
    return 0;
}

int auth_password_ok(const char *password, struct resp *out)
{
    size_t n = strlen(password);
    if (n < 10 || n > 256)
        return api_error(out, E_BAD_FIELD, "a password must be 10 to 256 characters long");
    return 0;
}

void auth_secret(char *out, size_t bytes)
{
    uint8_t rnd[32];
    bytes = MIN(bytes, sizeof(rnd));
    randombytes_buf(rnd, bytes);
    sodium_bin2base64(out, sodium_base64_ENCODED_LEN(bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                      rnd, bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void auth_hash_secret(const char *secret, char out[65])
{
    uint8_t h[32];
    crypto_generichash(h, sizeof(h), (const uint8_t *)secret, strlen(secret), NULL, 0);
    sodium_bin2hex(out, 65, h, sizeof(h));
}

static void set_principal(struct principal *p, enum auth_kind kind, struct json_object *row,
                          enum role cap)
{
    enum role role = ROLE_AUDITOR;
    role_parse(json_object_get_string(json_object_object_get(row, "role")), &role);
    p->kind = kind;
    p->role = MIN(role, cap);
    p->user_id = json_object_get_int64(json_object_object_get(row, "id"));
    snprintf(p->name, sizeof(p->name), "%s", json_object_get_string(json_object_object_get(row, "name")));
}

int auth_identify(struct auth *a, struct req *r)
{
    struct principal *p = &r->who;
    memset(p, 0, sizeof(*p));
    struct json_object *row;
    if (r->authorization) {
        if (strncmp(r->authorization, "Bearer ", 7) || strlen(r->authorization) > 200)
            return fail(EACCES, "the Authorization header must be 'Bearer TOKEN'");
        char h[65];
        auth_hash_secret(r->authorization + 7, h);
        /* Looked up by its hash: timing reveals nothing about the token. */
        if (db_row(a->db, &row, "SELECT u.id, u.name, u.role, t.role AS trole, t.id AS tid FROM tokens t "
                   "JOIN users u ON u.id = t.user_id WHERE t.hash = ? AND (t.expires = 0 OR t.expires > ?)",
                   "si", h, now_s()) < 0)
            return fail(EACCES, "the API token is unknown, revoked or expired");
        enum role cap = ROLE_AUDITOR;
        role_parse(json_object_get_string(json_object_object_get(row, "trole")), &cap);
        set_principal(p, AUTH_TOKEN, row, cap);
        db_exec(a->db, "UPDATE tokens SET last_used = ? WHERE id = ?", "is", now_s(),
                json_object_get_string(json_object_object_get(row, "tid")));
        json_object_put(row);
        return 0;
    }
    if (r->peer_uid == 0) {
        p->kind = AUTH_PEER;
        p->role = ROLE_ADMIN;
        snprintf(p->name, sizeof(p->name), "root@unix");
        return 0;
    }
    if (r->cookie_session) {
        char h[65];
        auth_hash_secret(r->cookie_session, h);
        if (db_row(a->db, &row, "SELECT u.id, u.name, u.role, s.csrf FROM sessions s JOIN users u "
                   "ON u.id = s.user_id WHERE s.hash = ? AND s.expires > ?", "si", h, now_s()) < 0)
            return fail(EACCES, "your session has expired or was ended: log in again");
        set_principal(p, AUTH_SESSION, row, ROLE_ADMIN);
        snprintf(p->session, sizeof(p->session), "%s", h);
        snprintf(p->csrf, sizeof(p->csrf), "%s", json_object_get_string(json_object_object_get(row, "csrf")));
        json_object_put(row);
    }
    return 0;
}

/* ---- failed-login backoff ---------------------------------------------- */

static struct backoff *backoff_slot(struct auth *a, const char *key, bool create)
{
    struct backoff *oldest = &a->slots[0];
    for (int i = 0; i < BACKOFF_SLOTS; i++) {
        if (!strcmp(a->slots[i].key, key))
            return &a->slots[i];
        if (a->slots[i].last < oldest->last)
            oldest = &a->slots[i];
    }
    if (!create)
        return NULL;
    memset(oldest, 0, sizeof(*oldest));
    snprintf(oldest->key, sizeof(oldest->key), "%s", key);
    return oldest;
}

/* Seconds the caller must still wait before trying KEY, or 0.  Locked. */
static int64_t backoff_wait(struct auth *a, const char *key, int64_t now)
{
    struct backoff *b = backoff_slot(a, key, false);
    return b && b->until > now ? (b->until - now + 999) / 1000 : 0;
}

static void backoff_charge(struct auth *a, const char *key, int free_tries, int64_t now)
{
    struct backoff *b = backoff_slot(a, key, true);
    b->failures++;
    b->last = now;
    if (b->failures >= free_tries)
        b->until = now + 1000 * MIN(BACKOFF_MAX_S, 2LL << MIN(b->failures - free_tries, 9));
}

/* Admits one login attempt, or says how many seconds to wait.  An admitted
 * attempt is charged as a failure in the same locked step, before its
 * password is checked: N concurrent wrong tries then cost what N tries in
 * a row do, instead of all passing the check before any is recorded. */
static int64_t backoff_admit(struct auth *a, const char *kuser, const char *kip)
{
    pthread_mutex_lock(&a->lock);
    int64_t now = mono_ms();
    int64_t wait = MAX(backoff_wait(a, kuser, now), backoff_wait(a, kip, now));
    if (wait == 0) {
        backoff_charge(a, kuser, BACKOFF_FREE_TRIES, now);
        backoff_charge(a, kip, BACKOFF_FREE_TRIES_IP, now);
    }
    pthread_mutex_unlock(&a->lock);
    return wait;
}

/* A right password clears the charges of both keys. */
static void backoff_clear(struct auth *a, const char *kuser, const char *kip)
{
    pthread_mutex_lock(&a->lock);
    const char *keys[] = { kuser, kip };
    for (int i = 0; i < 2; i++) {
        struct backoff *b = backoff_slot(a, keys[i], false);
        if (b)
            memset(b, 0, sizeof(*b));
    }
    pthread_mutex_unlock(&a->lock);
}

/* ---- login, logout, whoami ------------------------------------------------ */

int auth_login(struct auth *a, struct req *r, struct resp *out)
{
    const char *user = NULL, *password = NULL;
    const struct field f[] = {
        { "username", F_STRING, true, &user, NULL },
        { "password", F_STRING, true, &password, NULL },
    };
    int rc = api_fields(r, f, ARRAY_SIZE(f), out);
    if (rc)
        return rc;
    if (!name_valid(user) || strlen(password) > 256)
        return api_error(out, E_UNAUTHENTICATED, "wrong username or password");
    char kuser[160], kip[80];
    snprintf(kuser, sizeof(kuser), "u:%s|%s", user, r->peer_ip);
    snprintf(kip, sizeof(kip), "i:%s", r->peer_ip);
    int64_t wait = backoff_admit(a, kuser, kip);
    if (wait > 0) {
        out->retry_after = (int)wait;
        return api_error(out, E_TOO_MANY, "too many failed logins: try again in %lld s", (long long)wait);
    }

    struct json_object *row = NULL;
    db_row(a->db, &row, "SELECT id, name, role, pwhash FROM users WHERE name = ?", "s", user);
    const char *hash = row ? json_object_get_string(json_object_object_get(row, "pwhash"))
                           : a->dummy_hash;
    sem_wait(&a->hashing);
    bool ok = crypto_pwhash_str_verify(hash, password, strlen(password)) == 0 && row;
    sem_post(&a->hashing);
    if (ok)
        backoff_clear(a, kuser, kip);
    if (!ok) {
        json_object_put(row);
        struct principal anon = { .kind = AUTH_ANON };
        snprintf(anon.name, sizeof(anon.name), "anonymous@%.40s", r->peer_ip);
        events_record(a->events, &anon, "auth.login_failed", user, NULL);
        return api_error(out, E_UNAUTHENTICATED, "wrong username or password");
    }

    char secret[64], h[65], csrf[64];
    auth_secret(secret, 32);
    auth_secret(csrf, 32);
    auth_hash_secret(secret, h);
    int64_t uid = json_object_get_int64(json_object_object_get(row, "id"));
    db_exec(a->db, "DELETE FROM sessions WHERE expires <= ?", "i", now_s());
    rc = db_exec(a->db, "INSERT INTO sessions (hash, user_id, csrf, created, expires) VALUES (?, ?, ?, ?, ?)",
                 "sisii", h, uid, csrf, now_s(), now_s() + SESSION_TTL);
    if (rc < 0) {
        json_object_put(row);
        return api_errno(out, rc);
    }
    if (asprintf(&out->set_cookie, "corral_session=%s; Path=/; Max-Age=%d; HttpOnly; Secure; SameSite=Strict",
                 secret, SESSION_TTL) < 0)
        out->set_cookie = NULL;
    struct principal who;
    set_principal(&who, AUTH_SESSION, row, ROLE_ADMIN);
    events_record(a->events, &who, "auth.login", who.name, NULL);
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "username", json_object_new_string(who.name));
    json_object_object_add(m, "role", json_object_new_string(role_name(who.role)));
    json_object_object_add(m, "csrf_token", json_object_new_string(csrf));
    json_object_object_add(m, "expires_in", json_object_new_int(SESSION_TTL));
    json_object_put(row);
    return api_sync(out, 200, m);
}

int auth_logout(struct auth *a, struct req *r, struct resp *out)
{
    if (r->who.kind == AUTH_SESSION)
        db_exec(a->db, "DELETE FROM sessions WHERE hash = ?", "s", r->who.session);
    out->set_cookie = strdup("corral_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
    events_record(a->events, &r->who, "auth.logout", r->who.name, NULL);
    return api_sync(out, 200, NULL);
}

int auth_whoami(const struct req *r, struct resp *out)
{
    static const char *const kinds[] = { "anonymous", "session", "token", "unix-peer" };
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "username", json_object_new_string(r->who.name));
    json_object_object_add(m, "role", json_object_new_string(role_name(r->who.role)));
    json_object_object_add(m, "auth", json_object_new_string(kinds[r->who.kind]));
    return api_sync(out, 200, m);
}

int auth_bootstrap(struct auth *a, const char *password_file)
{
    struct stat st;
    if (password_file && stat(password_file, &st) == 0 && (st.st_mode & 0077))
        log_warn("--admin-password-file %s is %04o: others can read the admin's password (chmod 600 it)",
                 password_file, st.st_mode & 07777);
    struct json_object *row;
    if (db_row(a->db, &row, "SELECT count(*) AS n FROM users", "") < 0)
        return -EIO;
    int64_t n = json_object_get_int64(json_object_object_get(row, "n"));
    json_object_put(row);
    if (n > 0)
        return 0;
    char password[300], hash[crypto_pwhash_STRBYTES];
    if (password_file) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;
        int r = read_file(password_file, 257, &data, &len);
        if (r < 0)
            return fail(-r, "--admin-password-file: %s", err_msg());
        snprintf(password, sizeof(password), "%.*s", (int)len, (char *)data);
        password[strcspn(password, "\r\n")] = 0;
        sodium_memzero(data, len);
        struct resp tmp = { 0 };
        if (auth_password_ok(password, &tmp)) {
            resp_free(&tmp);
            return fail(EINVAL, "--admin-password-file: the password must be 10 to 256 characters");
        }
    } else {
        auth_secret(password, 18);
    }
    int r = auth_hash_password(password, hash, sizeof(hash));
    if (r == 0)
        r = db_exec(a->db, "INSERT INTO users (name, role, pwhash, created) VALUES ('admin', 'admin', ?, ?)",
                    "si", hash, now_s());
    if (r < 0)
        return r;
    if (!password_file) {
        char line[200];
        int len = snprintf(line, sizeof(line), "corrald: created user 'admin' with password %s "
                           "(shown only now; change it with: corral user set admin --password-file FILE)\n",
                           password);
        (void)!write(STDERR_FILENO, line, (size_t)len);
        sodium_memzero(line, sizeof(line));
    } else {
        log_info("created user 'admin' with the password from %s", password_file);
    }
    sodium_memzero(password, sizeof(password));
    struct principal sys = { .kind = AUTH_PEER, .role = ROLE_ADMIN, .name = "corrald" };
    events_record(a->events, &sys, "user.create", "admin", NULL);
    return 0;
}
