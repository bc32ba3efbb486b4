/* Fuzzes corral-oci's config.json parser: bundles come from users and
 * images, so every byte is untrusted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/oci.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct oci_spec s;
    int r = oci_spec_parse((const char *)data, size, &s);
    if (r > 0 || (r < 0 && !err_msg()[0]))
        abort();
    if (r == 0) {
        /* What the runtime relies on after a successful parse. */
        if (!s.root_path || !s.root_path[0] || !oci_spec_ns(&s, 0x00020000 /* CLONE_NEWNS */))
            abort();
        if (s.has_process && (!s.process.args || !s.process.args[0] || s.process.cwd[0] != '/'))
            abort();
        for (size_t i = 0; i < s.nmounts; i++)
            if (s.mounts[i].destination[0] != '/')
                abort();
    }
    oci_spec_free(&s);
    return 0;
}
