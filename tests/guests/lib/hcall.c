/* hcall.c — corral's hypercall channel (docs/guest-abi.md): a 32-bit `in`
 * from 0xca0 reads the signature, a 32-bit `out` of a request block's
 * guest-physical address performs the call. */
#include "guest.h"

bool hcall_present(void) { return inl(HCALL_PORT) == HCALL_SIGNATURE; }

void hcall_raw(uint32_t block_gpa) { outl(HCALL_PORT, block_gpa); }

int32_t hcall(uint32_t op, uint64_t arg0, uint64_t arg1, uint64_t *result)
{
    /* On the stack: below 4 GiB, 8-byte aligned, private to this CPU. */
    volatile struct hcall_block b = { .op = op, .status = HC_NOT_DONE, .arg0 = arg0, .arg1 = arg1 };
    hcall_raw((uint32_t)(uintptr_t)&b);
    if (result)
        *result = b.result;
    return b.status;
}

int32_t hcall_log(const char *s)
{
    return hcall(HC_LOG, (uint64_t)(uintptr_t)s, strlen(s), NULL);
}
