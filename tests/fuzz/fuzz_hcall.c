/* Fuzzes the hypercall device as a hostile guest would drive it.
 *
 * Input: byte 0 = number of port accesses N (mod 64), then N records of
 * 5 bytes (control, 32-bit value), then the guest's RAM (exactly the rest
 * of the input, so ASan catches any access past its end).  Control bits:
 * 0-2 port offset, 3-4 size 1/2/4/8, 5 keep the value below 4 KiB (a likely
 * request-block address), 6 shift the window 4 ports down (bus edges),
 * 7 write. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/devices.h"

struct stub {
    struct dev_host h;
    unsigned requests, reports;
};

static void st_set_irq(struct dev_host *h, unsigned gsi, int level) { (void)h, (void)gsi, (void)level; }
static void st_request(struct dev_host *h, enum vm_request req)
{
    if (req != VM_REQ_POWEROFF && req != VM_REQ_REBOOT)
        abort();
    ((struct stub *)h->opaque)->requests++;
}
static void st_report(struct dev_host *h, uint64_t key, uint64_t value)
{
    (void)key, (void)value;
    ((struct stub *)h->opaque)->reports++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    log_set_level(LOG_WARN); /* guest LOG calls would flood the output */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t nops = data[0] % 64;
    if (size < 1 + 5 * nops)
        return 0;
    const uint8_t *ops = data + 1;
    size_t ram_len = size - 1 - 5 * nops;
    uint8_t *ram = malloc(ram_len ? ram_len : 1);
    if (!ram)
        return 0;
    memcpy(ram, ops + 5 * nops, ram_len);

    struct guest_mem mem;
    gm_wrap(&mem, ram, ram_len);
    struct stub st = { .h = { .mem = &mem, .set_irq = st_set_irq, .request = st_request,
                              .report = st_report } };
    st.h.opaque = &st;
    static struct bus pio;
    static struct hcall hc;
    memset(&pio, 0, sizeof(pio));
    if (hcall_init(&hc, &st.h, &pio) < 0)
        abort();

    for (size_t i = 0; i < nops; i++) {
        uint8_t ctl = ops[5 * i];
        uint32_t val;
        memcpy(&val, ops + 5 * i + 1, 4);
        if (ctl & 0x20)
            val &= 0xfff;
        uint64_t port = HCALL_PORT + (ctl & 7) - ((ctl & 0x40) ? 4 : 0);
        unsigned sz = 1u << ((ctl >> 3) & 3);
        uint8_t buf[8] = { 0 };
        memcpy(buf, &val, 4);
        bool write = ctl & 0x80;
        bool claimed = bus_access(&pio, port, buf, sz, write);
        if (claimed != (port >= HCALL_PORT && port + sz <= HCALL_PORT + HCALL_PORT_LEN))
            abort();
        /* A call on a good block leaves a status the ABI allows. */
        if (write && port == HCALL_PORT && sz == 4 && val % 8 == 0 && (uint64_t)val + 32 <= ram_len) {
            int32_t status;
            memcpy(&status, ram + val + 4, 4);
            if (status != 0 && status != -EINVAL && status != -EFAULT && status != -ENOSYS)
                abort();
        }
        if (!write && port == HCALL_PORT && sz == 4 && memcmp(buf, "CRRL", 4) != 0)
            abort();
    }
    if (hc.line_len > sizeof(hc.line))
        abort();
    pthread_mutex_destroy(&hc.lock);
    free(ram);
    return 0;
}
