/* Fuzzes corral-vmm's command line: the input is its arguments, split at
 * NUL bytes (at most 32).  --config (and its abbreviations) is left out:
 * it names a file to read, which fuzz_config covers. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "vmm/vmm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether ARG (up to any '=') is --config or an abbreviation of it. */
static bool names_config(const char *arg)
{
    size_t n = strcspn(arg, "=");
    return n > 2 && n <= strlen("--config") && !strncmp(arg, "--config", n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1), *argv[34] = { "corral-vmm" };
    memcpy(text, data, size);
    text[size] = 0;
    int argc = 1;
    for (char *p = text; p < text + size && argc < 33; p += strlen(p) + 1) {
        if (names_config(p))
            goto out;
        argv[argc++] = p;
    }
    argv[argc] = NULL;
    struct vmm_config c;
    vmm_config_init(&c);
    bool help;
    int r = vmm_config_parse_args(&c, argc, argv, &help);
    if (r > 0 || (r < 0 && !err_msg()[0]))
        abort();
    if (r == 0 && !help && vmm_config_check(&c) == 0) {
        json_object_put(vmm_config_to_json(&c));
        if (c.cpus < 1 || c.cpus > BOOT_MAX_CPUS || c.memory < 2 * MiB || c.memory % (4 * KiB) ||
            c.ndisks > VMM_MAX_DISKS || c.nnets > VMM_MAX_NETS)
            abort();
    }
    vmm_config_free(&c);
out:
    free(text);
    return 0;
}
