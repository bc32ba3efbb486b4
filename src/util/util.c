#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <pthread.h>

static __thread char last_error[512];
static enum log_level log_level = LOG_INFO;
static const char *log_prefix = "corral";

int fail(int errnum, const char *fmt, ...)
{
    /* Format into a copy: callers add context with fail(e, "...: %s", err_msg()),
     * whose argument is last_error itself. */
    char msg[sizeof(last_error)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    strcpy(last_error, msg);
    return -(errnum > 0 ? errnum : EINVAL);
}

const char *err_msg(void) { return last_error; }

void log_set_level(enum log_level level) { log_level = level; }
void log_set_prefix(const char *prefix) { log_prefix = prefix; }

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *const names[] = { "error", "warning", "info", "debug" };
    if (level > log_level)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One write per line so lines from several threads never interleave. */
    char out[1200];
    int n = snprintf(out, sizeof(out), "%s: %s%s%s\n", log_prefix,
                     level == LOG_INFO ? "" : names[level],
                     level == LOG_INFO ? "" : ": ", line);
    if (n > 0)
        (void)!write(STDERR_FILENO, out, MIN((size_t)n, sizeof(out) - 1));
}

static struct {
    pthread_mutex_t lock;
    unsigned rate, burst;
    size_t cap, written;
    double tokens;
    struct timespec last;
    uint64_t dropped;
    bool capped;
} guest_log = { PTHREAD_MUTEX_INITIALIZER, LOG_GUEST_RATE, LOG_GUEST_BURST, LOG_GUEST_CAP, 0,
                LOG_GUEST_BURST, { 0, 0 }, 0, false };

void log_guest_limits(unsigned rate, unsigned burst, size_t cap)
{
    pthread_mutex_lock(&guest_log.lock);
    guest_log.rate = rate ? rate : LOG_GUEST_RATE;
    guest_log.burst = burst ? burst : LOG_GUEST_BURST;
    guest_log.cap = cap ? cap : LOG_GUEST_CAP;
    guest_log.tokens = guest_log.burst;
    guest_log.written = 0;
    guest_log.dropped = 0;
    guest_log.capped = false;
    guest_log.last = (struct timespec){ 0, 0 };
    pthread_mutex_unlock(&guest_log.lock);
}

void log_guest(enum log_level level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&guest_log.lock);
    if (guest_log.last.tv_sec || guest_log.last.tv_nsec) {
        double dt = (double)(now.tv_sec - guest_log.last.tv_sec) + (double)(now.tv_nsec - guest_log.last.tv_nsec) / 1e9;
        guest_log.tokens = MIN(guest_log.tokens + dt * guest_log.rate, (double)guest_log.burst);
    }
    guest_log.last = now;
    uint64_t dropped = 0;
    bool say = false, cap_now = false;
    if (guest_log.capped) {
        guest_log.dropped++;
    } else if (guest_log.written + (size_t)MAX(len, 0) > guest_log.cap) {
        guest_log.capped = cap_now = true;
    } else if (guest_log.tokens >= 1) {
        guest_log.tokens -= 1;
        guest_log.written += (size_t)MAX(len, 0);
        dropped = guest_log.dropped;
        guest_log.dropped = 0;
        say = true;
    } else {
        guest_log.dropped++;
    }
    pthread_mutex_unlock(&guest_log.lock);
    if (cap_now)
        log_msg(LOG_WARN, "the guest has written %zu bytes of log messages: the rest are dropped", guest_log.cap);
    else if (say && dropped)
        log_msg(level, "%s (and %" PRIu64 " guest messages dropped: more than %u a second)", line, dropped,
                guest_log.rate);
    else if (say)
        log_msg(level, "%s", line);
}

int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return fail(EINVAL, "'%s' is not a number", s ? s : "");
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return fail(EINVAL, "'%s' is not a number", s);
    if (errno == ERANGE || v < min || v > max)
        return fail(ERANGE, "%s is out of range (%" PRIu64 "..%" PRIu64 ")", s, min, max);
    *out = v;
    return 0;
}

int parse_size(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return fail(EINVAL, "bad size '%s' (use e.g. 512M or 2G)", s ? s : "");
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 0: break;
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: return fail(EINVAL, "bad size '%s' (use e.g. 512M or 2G)", s);
    }
    if (*end) {
        end++;
        if (toupper((unsigned char)*end) == 'I' && toupper((unsigned char)end[1]) == 'B')
            end += 2;
        else if (toupper((unsigned char)*end) == 'B')
            end++;
        if (*end)
            return fail(EINVAL, "bad size '%s' (use e.g. 512M or 2G)", s);
    }
    if (errno == ERANGE || (shift && v > (UINT64_MAX >> shift)))
        return fail(ERANGE, "size '%s' is too large", s);
    *out = (uint64_t)v << shift;
    return 0;
}

size_t utf8_char_len(const unsigned char *s, size_t len)
{
    if (len == 0)
        return 0;
    if (s[0] < 0x80)
        return 1;
    /* The lead byte fixes the length and the allowed range of the second
     * byte, which is where overlong forms and surrogates are excluded. */
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, lo = s[0] == 0xe0 ? 0xa0 : 0x80, hi = s[0] == 0xed ? 0x9f : 0xbf;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, lo = s[0] == 0xf0 ? 0x90 : 0x80, hi = s[0] == 0xf4 ? 0x8f : 0xbf;
    else
        return 0;
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

bool buf_is_zero(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

bool utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0, n; i < len; i += n)
        if (!(n = utf8_char_len(p + i, len - i)))
            return false;
    return true;
}

void utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t len = strlen(s), out = 0;
    for (size_t i = 0, n; i < len; i += n ? n : 1)
        if ((n = utf8_char_len(p + i, len - i))) {
            memmove(p + out, p + i, n);
            out += n;
        }
    p[out] = 0;
}

int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char tail;
    if (!s || strlen(s) != 17 ||
        sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
        return fail(EINVAL, "bad MAC address '%s' (use e.g. 52:54:00:12:34:56)", s ? s : "");
    for (int i = 0; i < 6; i++) {
        if (!isxdigit((unsigned char)s[i * 3]) || !isxdigit((unsigned char)s[i * 3 + 1]))
            return fail(EINVAL, "bad MAC address '%s'", s);
        mac[i] = (uint8_t)v[i];
    }
    if (mac[0] & 1)
        return fail(EINVAL, "MAC address '%s' is a multicast address", s);
    return 0;
}

void format_mac(const uint8_t mac[6], char out[MAC_STR_LEN])
{
    snprintf(out, MAC_STR_LEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

int read_file(const char *path, size_t max_len, uint8_t **data, size_t *len)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(errno, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0)
        return fail(errno, "cannot stat %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fail(EINVAL, "%s is not a regular file", path);
    if ((uint64_t)st.st_size > max_len)
        return fail(EFBIG, "%s is too large (%lld bytes, limit %zu)", path,
                    (long long)st.st_size, max_len);
    uint8_t *buf = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!buf)
        return fail(ENOMEM, "out of memory reading %s", path);
    ssize_t n = read_full(fd, buf, (size_t)st.st_size);
    if (n != st.st_size) {
        free(buf);
        return fail(EIO, "cannot read %s: %s", path, n < 0 ? strerror(errno) : "short read");
    }
    *data = buf;
    *len = (size_t)n;
    return 0;
}

int rename_durable(const char *tmp, const char *path)
{
    if (rename(tmp, path) < 0)
        return fail(errno, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    const char *slash = strrchr(path, '/');
    _cleanup_free_ char *dir = slash ? strndup(path, (size_t)(slash - path) + 1) : strdup(".");
    if (!dir)
        return fail(ENOMEM, "out of memory");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return fail(e, "%s: cannot sync the directory: %s", dir, strerror(e));
    }
    close(fd);
    return 0;
}

int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t read_full(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, p + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

struct timespec deadline_after(clockid_t clock, int ms)
{
    struct timespec dl;
    clock_gettime(clock, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000;
    if (dl.tv_nsec >= 1000000000) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000;
    }
    return dl;
}

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

bool proc_stat_fields(pid_t pid, char *state, uint64_t *f, int n)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t len = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (fd >= 0)
        close(fd);
    if (len <= 0)
        return false;
    buf[len] = 0;
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2] || p[3] != ' ')
        return false;
    if (state)
        *state = p[2];
    p += 4;                          /* past ") S " to field 4 */
    for (int field = 4; field < n; field++) {
        f[field] = strtoull(p, &p, 10);
        if (*p != ' ')
            return field == n - 1;
    }
    return true;
}
