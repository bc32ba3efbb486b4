/* corral's hypercall channel for guests that know they are virtualized.
 * The ABI is documented in docs/guest-abi.md; this file is its only
 * implementation.  Every address a guest passes is checked with gm_ptr(). */
#include "devices.h"

#include "snap/snap.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#define HCALL_SIGNATURE 0x4c525243u /* "CRRL" */
#define HCALL_VERSION 1
#define HCALL_LOG_MAX 1024

enum { OP_PROBE = 0, OP_LOG = 1, OP_TIME = 2, OP_REPORT = 3, OP_POWEROFF = 4, OP_REBOOT = 5 };

struct hcall_req {
    uint32_t op;
    int32_t status;
    uint64_t arg0, arg1;
    uint64_t result;
};

static void log_guest_line(const char *s, size_t len)
{
    char clean[HCALL_LOG_MAX + 1];
    size_t n = 0;
    /* Keep the host log one line per message, whatever the guest sends. */
    for (size_t i = 0; i < len && n < HCALL_LOG_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        clean[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    clean[n] = 0;
    log_guest(LOG_INFO, "guest: %s", clean);
}

static int32_t do_call(struct hcall *hc, struct hcall_req *rq)
{
    struct dev_host *h = hc->host;
    switch (rq->op) {
    case OP_PROBE:
        rq->result = HCALL_VERSION;
        return 0;
    case OP_LOG: {
        if (rq->arg1 > HCALL_LOG_MAX)
            return -EINVAL;
        const char *s = gm_ptr(h->mem, rq->arg0, rq->arg1);
        if (!s)
            return -EFAULT;
        log_guest_line(s, rq->arg1);
        return 0;
    }
    case OP_TIME: {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        rq->result = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
        return 0;
    }
    case OP_REPORT:
        h->report(h, rq->arg0, rq->arg1);
        return 0;
    case OP_POWEROFF:
        h->request(h, VM_REQ_POWEROFF);
        return 0;
    case OP_REBOOT:
        h->request(h, VM_REQ_REBOOT);
        return 0;
    default:
        return -ENOSYS;
    }
}

static void call(struct hcall *hc, uint32_t gpa)
{
    struct hcall_req rq;
    /* A bad block pointer has nowhere to put a status: it is just dropped. */
    if (gpa % 8 || !gm_read(hc->host->mem, gpa, &rq, sizeof(rq)))
        return;
    atomic_fetch_add_explicit(&hc->calls, 1, memory_order_relaxed);
    rq.status = do_call(hc, &rq);
    gm_write(hc->host->mem, gpa, &rq, sizeof(rq));
}

static void hc_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    (void)opaque;
    if (off == 0 && size == 4) {
        uint32_t sig = HCALL_SIGNATURE;
        memcpy(data, &sig, 4);
    }
}

static void hc_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct hcall *hc = opaque;
    if (off == 0 && size == 4) {
        uint32_t gpa;
        memcpy(&gpa, data, 4);
        call(hc, gpa);
    } else if (off == 4 && size == 1) {
        /* Debug byte stream: line-buffered into the host log. */
        pthread_mutex_lock(&hc->lock);
        char c = (char)data[0];
        if (c == '\n' || hc->line_len == sizeof(hc->line)) {
            log_guest_line(hc->line, hc->line_len);
            hc->line_len = 0;
        }
        if (c != '\n')
            hc->line[hc->line_len++] = c;
        pthread_mutex_unlock(&hc->lock);
    }
}

static const struct io_ops hc_ops = { .read = hc_read, .write = hc_write };

int hcall_init(struct hcall *hc, struct dev_host *host, struct bus *pio)
{
    memset(hc, 0, sizeof(*hc));
    pthread_mutex_init(&hc->lock, NULL);
    hc->host = host;
    return bus_add(pio, HCALL_PORT, HCALL_PORT_LEN, "hypercall", &hc_ops, hc);
}

void hcall_save(struct hcall *hc, struct snap_writer *w)
{
    pthread_mutex_lock(&hc->lock);
    snap_blob(w, hc->line, hc->line_len);
    pthread_mutex_unlock(&hc->lock);
}

int hcall_load(struct hcall *hc, struct snap_cursor *c)
{
    size_t len = 0;
    const uint8_t *line = snap_get_blob(c, sizeof(hc->line), &len);
    int r = snap_cursor_done(c, "hypercall");
    if (r < 0)
        return r;
    pthread_mutex_lock(&hc->lock);
    memcpy(hc->line, line, len);
    hc->line_len = (unsigned)len;
    pthread_mutex_unlock(&hc->lock);
    return 0;
}
