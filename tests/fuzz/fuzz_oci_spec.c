/* Fuzzes corral-oci's config.json parser: bundles come from users and
 * images, so every byte is untrusted.  The same bytes also go to the
 * parsers of `exec -p process.json` and `update -r resources.json`. */
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
        /* fileMode may carry type bits (podman's), the struct never does. */
        for (size_t i = 0; i < s.ndevices; i++)
            if (s.devices[i].mode > 07777)
                abort();
    }
    oci_spec_free(&s);

    struct oci_process p;
    r = oci_process_parse((const char *)data, size, &p);
    if (r > 0 || (r < 0 && !err_msg()[0]))
        abort();
    if (r == 0 && (!p.args || !p.args[0] || !p.cwd || p.cwd[0] != '/'))
        abort();
    oci_process_free(&p);

    json_tokener *tok = json_tokener_new_ex(64);
    json_object *o = tok ? json_tokener_parse_ex(tok, (const char *)data, (int)size) : NULL;
    if (tok)
        json_tokener_free(tok);
    if (o) {
        struct oci_resources res;
        r = oci_resources_parse(o, "resources.json", &res);
        if (r > 0 || (r < 0 && !err_msg()[0]))
            abort();
        /* Values become cgroup file names and contents: nothing may escape. */
        for (size_t i = 0; r == 0 && res.unified_keys && res.unified_keys[i]; i++)
            if (strchr(res.unified_keys[i], '/'))
                abort();
        for (size_t i = 0; r == 0 && i < res.nhugepages; i++)
            if (strchr(res.hugepages[i].page_size, '/'))
                abort();
        if (r == 0)
            oci_resources_free(&res);
        json_object_put(o);
    }
    return 0;
}
