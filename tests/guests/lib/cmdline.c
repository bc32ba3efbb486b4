/* cmdline.c — reading options from the kernel command line copied into
 * boot.cmdline: bare words, key=value pairs and virtio_mmio.device=. */
#include "guest.h"

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n'; }

/* Calls fn for each whitespace-separated word until it returns true. */
static bool for_each_word(bool (*fn)(const char *w, size_t len, void *arg), void *arg)
{
    const char *s = boot.cmdline;
    while (*s) {
        while (is_space(*s))
            s++;
        const char *w = s;
        while (*s && !is_space(*s))
            s++;
        if (s > w && fn(w, (size_t)(s - w), arg))
            return true;
    }
    return false;
}

struct lookup {
    const char *key;
    char *val;
    size_t len;
};

static bool match_key(const char *w, size_t n, void *arg)
{
    struct lookup *l = arg;
    size_t k = strlen(l->key);
    if (n < k || strncmp(w, l->key, k) != 0 || (n > k && w[k] != '='))
        return false;
    if (l->val && l->len) {
        size_t vlen = n > k ? n - k - 1 : 0;
        if (vlen >= l->len)
            vlen = l->len - 1;
        memcpy(l->val, w + k + 1, vlen);
        l->val[vlen] = 0;
    }
    return true;
}

bool cmdline_get(const char *key, char *val, size_t len)
{
    struct lookup l = { key, val, len };
    return for_each_word(match_key, &l);
}

bool cmdline_has(const char *key) { return cmdline_get(key, NULL, 0); }

bool parse_u64(const char **sp, uint64_t *out)
{
    const char *s = *sp;
    unsigned base = 10;
    uint64_t v = 0;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    const char *start = s;
    for (;; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9') d = (unsigned)(*s - '0');
        else if (base == 16 && *s >= 'a' && *s <= 'f') d = (unsigned)(*s - 'a' + 10);
        else if (base == 16 && *s >= 'A' && *s <= 'F') d = (unsigned)(*s - 'A' + 10);
        else break;
        v = v * base + d;
    }
    if (s == start)
        return false;
    switch (*s) {
    case 'k': case 'K': v <<= 10; s++; break;
    case 'm': case 'M': v <<= 20; s++; break;
    case 'g': case 'G': v <<= 30; s++; break;
    }
    *sp = s;
    *out = v;
    return true;
}

uint64_t cmdline_u64(const char *key, uint64_t dflt)
{
    char buf[32];
    const char *p = buf;
    uint64_t v;
    if (!cmdline_get(key, buf, sizeof(buf)) || !parse_u64(&p, &v) || *p)
        return dflt;
    return v;
}

struct mmio_scan {
    struct virtio_mmio_slot *out;
    int max, n;
};

static bool match_virtio(const char *w, size_t n, void *arg)
{
    static const char key[] = "virtio_mmio.device=";
    struct mmio_scan *m = arg;
    char buf[96];
    if (n <= sizeof(key) - 1 || strncmp(w, key, sizeof(key) - 1) != 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, w, n);
    buf[n] = 0;
    const char *p = buf + sizeof(key) - 1;
    struct virtio_mmio_slot s;
    uint64_t irq;
    if (!parse_u64(&p, &s.size) || *p++ != '@' || !parse_u64(&p, &s.addr) ||
        *p++ != ':' || !parse_u64(&p, &irq) || (*p && *p != ':')) {
        kprintf("cmdline: ignoring malformed %s\n", buf);
        return false;
    }
    s.irq = (unsigned)irq;
    if (m->n < m->max)
        m->out[m->n++] = s;
    return false;
}

int cmdline_virtio_mmio(struct virtio_mmio_slot *out, int max)
{
    struct mmio_scan m = { out, max, 0 };
    for_each_word(match_virtio, &m);
    return m.n;
}
