/* util — small pieces every corral module uses: one error convention,
 * logging, cleanup attributes and the parsers for sizes and MAC addresses.
 *
 * Error convention: a function that can fail returns a negative errno-style
 * value and records one human-readable line with fail(); the caller either
 * passes the negative value up unchanged or adds context with fail() again.
 * The outermost caller prints err_msg() once.  The message buffer is
 * per-thread, so vCPU and device threads never race on it.
 */
#ifndef CORRAL_UTIL_H
#define CORRAL_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))

#define KiB (1024ULL)
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)

/* Records a formatted message for err_msg() and returns -errnum (errnum > 0). */
int fail(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The last message recorded by fail() on this thread ("" if none). */
const char *err_msg(void);

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
void log_set_level(enum log_level level);
void log_set_prefix(const char *prefix);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
/* A message a guest can cause as often as it likes (its log hypercall, its
 * reports, a device it breaks and resets in a loop): one budget for the
 * whole process, LOG_GUEST_RATE lines a second in bursts of up to
 * LOG_GUEST_BURST, and LOG_GUEST_CAP bytes in all; the next line let
 * through says how many were dropped, and reaching the cap is said once. */
#define LOG_GUEST_RATE 10
#define LOG_GUEST_BURST 50
#define LOG_GUEST_CAP (4u << 20)
void log_guest(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Tests: other limits (0 restores the defaults). */
void log_guest_limits(unsigned rate, unsigned burst, size_t cap);

/* Cleanup helpers: a variable so marked is released on every return path. */
static inline void cleanup_freep(void *p) { free(*(void **)p); }
static inline void cleanup_closep(int *fd) { if (*fd >= 0) close(*fd); }
#define _cleanup_free_ __attribute__((cleanup(cleanup_freep)))
#define _cleanup_close_ __attribute__((cleanup(cleanup_closep)))

/* "64M", "2G", "4096", "1.5G" is refused: integers with an optional
 * K/M/G/T suffix (powers of 1024).  Returns 0 or -EINVAL/-ERANGE via fail(). */
int parse_size(const char *s, uint64_t *out);
/* Decimal unsigned integer within [min, max]. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* "52:54:00:12:34:56" */
int parse_mac(const char *s, uint8_t mac[6]);
#define MAC_STR_LEN 18
void format_mac(const uint8_t mac[6], char out[MAC_STR_LEN]);

/* The length of the well-formed UTF-8 sequence at s[0..len) (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0. */
size_t utf8_char_len(const unsigned char *s, size_t len);
/* Whether s[0..len) is well-formed UTF-8. */
bool utf8_valid(const char *s, size_t len);
/* Whether buf[0..len) is all zero bytes. */
bool buf_is_zero(const void *buf, size_t len);
/* Drops every byte of s (NUL-terminated, in place) that is not part of a
 * well-formed sequence: text cut at a byte count keeps whole characters. */
void utf8_scrub(char *s);

/* Reads a whole regular file of at most max_len bytes into a malloc'ed buffer. */
int read_file(const char *path, size_t max_len, uint8_t **data, size_t *len);
/* rename(2) of tmp onto path, then an fsync of path's directory, so that
 * after a crash path names either its old file or the whole new one (which
 * the caller has synced).  Returns 0 or a negative errno via fail(). */
int rename_durable(const char *tmp, const char *path);
/* write(2)/read(2) that retry on EINTR and short transfers. */
int write_all(int fd, const void *buf, size_t len);
ssize_t read_full(int fd, void *buf, size_t len);
/* /proc/PID/stat: the state letter (field 3, 0 if unwanted) and fields
 * 4..n-1 into f[4..n-1] (the command name before them may hold anything);
 * false if the process is gone. */
bool proc_stat_fields(pid_t pid, char *state, uint64_t *f, int n);

uint64_t now_ns(void);   /* CLOCK_MONOTONIC */
/* The time MS milliseconds from now on CLOCK, as pthread_cond_timedwait()
 * takes it (for a condition variable set to CLOCK). */
struct timespec deadline_after(clockid_t clock, int ms);

/* An epoll loop: the VMM's one I/O thread waits here for device queue
 * notifications, tap and console input and API clients.  Handlers run on the
 * loop's thread; evloop_stop() may be called from any thread. */
struct evloop;
typedef void (*evloop_cb)(void *arg, uint32_t events);
int evloop_new(struct evloop **out);
void evloop_free(struct evloop *l);
int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_cb cb, void *arg);
int evloop_mod(struct evloop *l, int fd, uint32_t events, evloop_cb cb, void *arg);
void evloop_del(struct evloop *l, int fd);
/* Changes only the events waited for (0 pauses an fd); safe from any thread. */
int evloop_set_events(struct evloop *l, int fd, uint32_t events);
/* Runs until evloop_stop(); returns 0 or a negative errno. */
int evloop_run(struct evloop *l);
void evloop_stop(struct evloop *l);

#endif
