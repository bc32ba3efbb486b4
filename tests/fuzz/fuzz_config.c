/* Fuzzes the JSON configuration parser (the --config file). */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>

#include "boot/boot.h"
#include "vmm/vmm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vmm_config c;
    vmm_config_init(&c);
    int r = vmm_config_parse_json(&c, (const char *)data, size);
    if (r > 0 || (r < 0 && !err_msg()[0]))
        abort();
    if (r == 0) {
        /* An accepted configuration can be checked and printed. */
        vmm_config_check(&c);
        json_object_put(vmm_config_to_json(&c));
        if (c.cpus < 1 || c.cpus > BOOT_MAX_CPUS || c.memory < 2 * MiB || c.memory % (4 * KiB) ||
            c.ndisks > VMM_MAX_DISKS || c.nnets > VMM_MAX_NETS)
            abort();
    }
    vmm_config_free(&c);
    return 0;
}
