/* The CMOS real-time clock at ports 0x70/0x71: reads give the host's current
 * UTC time (BCD, 24-hour, as PC firmware leaves it); the rest of the 128
 * bytes of CMOS RAM are plain storage. */
#include "devices.h"

#include "snap/snap.h"

#include <string.h>
#include <time.h>

enum { RTC_SEC = 0, RTC_MIN = 2, RTC_HOUR = 4, RTC_WDAY = 6, RTC_MDAY = 7,
       RTC_MON = 8, RTC_YEAR = 9, RTC_REG_A = 10, RTC_REG_B = 11, RTC_REG_C = 12,
       RTC_REG_D = 13, RTC_CENTURY = 0x32 };

static uint8_t bcd(int v) { return (uint8_t)(((v / 10) << 4) | (v % 10)); }

static uint8_t clock_reg(const struct rtc_state *s, uint8_t reg)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    bool binary = s->ram[RTC_REG_B] & 0x04;
    int v;
    switch (reg) {
    case RTC_SEC: v = tm.tm_sec; break;
    case RTC_MIN: v = tm.tm_min; break;
    case RTC_HOUR: v = tm.tm_hour; break;
    case RTC_WDAY: v = tm.tm_wday + 1; break;
    case RTC_MDAY: v = tm.tm_mday; break;
    case RTC_MON: v = tm.tm_mon + 1; break;
    case RTC_YEAR: v = tm.tm_year % 100; break;
    case RTC_CENTURY: v = (tm.tm_year + 1900) / 100; break;
    default: return s->ram[reg];
    }
    return binary ? (uint8_t)v : bcd(v);
}

static void rtc_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct rtc *r = opaque;
    (void)size;
    pthread_mutex_lock(&r->lock);
    if (off == 0) {
        *data = r->s.index;
    } else {
        uint8_t reg = r->s.index & 0x7f;
        switch (reg) {
        case RTC_REG_A: *data = 0x26; break;          /* no update in progress */
        case RTC_REG_C: *data = 0; break;             /* no interrupt flags */
        case RTC_REG_D: *data = 0x80; break;          /* battery good */
        default: *data = clock_reg(&r->s, reg); break;
        }
    }
    pthread_mutex_unlock(&r->lock);
}

static void rtc_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct rtc *r = opaque;
    (void)size;
    pthread_mutex_lock(&r->lock);
    if (off == 0) {
        r->s.index = data[0]; /* bit 7 is the NMI mask; kept, meaningless here */
    } else {
        uint8_t reg = r->s.index & 0x7f;
        /* The guest may not set the host's clock; only register B's format
         * bits and plain CMOS RAM are writable. */
        if (reg == RTC_REG_B)
            r->s.ram[reg] = (uint8_t)((data[0] & 0x06) | 0x02);
        else if (reg > RTC_REG_D && reg != RTC_CENTURY)
            r->s.ram[reg] = data[0];
    }
    pthread_mutex_unlock(&r->lock);
}

static const struct io_ops rtc_ops = { .read = rtc_read, .write = rtc_write };

int rtc_init(struct rtc *r, struct bus *pio)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    r->s.ram[RTC_REG_B] = 0x02; /* 24-hour, BCD */
    return bus_add(pio, 0x70, 2, "rtc", &rtc_ops, r);
}

void rtc_save(struct rtc *r, struct snap_writer *w)
{
    pthread_mutex_lock(&r->lock);
    snap_u8(w, r->s.index);
    snap_bytes(w, r->s.ram, sizeof(r->s.ram));
    pthread_mutex_unlock(&r->lock);
}

int rtc_load(struct rtc *r, struct snap_cursor *c)
{
    struct rtc_state s;
    s.index = snap_get_u8(c);
    snap_get_bytes(c, s.ram, sizeof(s.ram));
    if (s.index >= sizeof(s.ram))
        c->bad = true;
    int rc = snap_cursor_done(c, "RTC");
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&r->lock);
    r->s = s;
    pthread_mutex_unlock(&r->lock);
    return 0;
}
