/* Fuzzes control-API request handling with no machine running: whatever
 * the line, the answer is one line of JSON with a boolean "ok". */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vmm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vmm v;
    char *out = vmm_api_handle(&v, (const char *)data, size);
    if (!out)
        abort();
    size_t n = strlen(out);
    if (n < 2 || out[n - 1] != '\n' || memchr(out, '\n', n - 1))
        abort();
    struct json_object *o = json_tokener_parse(out), *ok;
    if (!o || !json_object_object_get_ex(o, "ok", &ok) || !json_object_is_type(ok, json_type_boolean))
        abort();
    json_object_put(o);
    free(out);
    return 0;
}
