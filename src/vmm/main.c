/* corral-vmm: one virtual machine per process.  See vmm.h for the flow. */
#include "vmm.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    log_set_prefix("corral-vmm");
    struct vmm_config cfg;
    vmm_config_init(&cfg);
    bool help = false;
    if (vmm_config_parse_args(&cfg, argc, argv, &help) < 0 || (!help && vmm_config_check(&cfg) < 0)) {
        fprintf(stderr, "corral-vmm: %s\n", err_msg());
        vmm_config_free(&cfg);
        return VMM_EXIT_USAGE;
    }
    if (help) {
        vmm_usage(argv[0]);
        vmm_config_free(&cfg);
        return 0;
    }
    if (cfg.verbosity)
        log_set_level(LOG_DEBUG);

    struct vmm vmm;
    int status = VMM_EXIT_USAGE;
    if (vmm_open(&vmm, &cfg) < 0 || vmm_isolate(&vmm) < 0)
        fprintf(stderr, "corral-vmm: %s\n", err_msg());
    else
        status = vmm_run(&vmm);
    vmm_close(&vmm);
    vmm_config_free(&cfg);
    return status;
}
