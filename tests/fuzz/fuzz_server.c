/* Fuzzes corrald's request front half: path routing and the JSON body
 * parser, as an authenticated admin (no server behind it).  Input: the
 * method index (1 byte), then PATH '\n' BODY.  Every request must get a
 * well-formed envelope with a status the envelope repeats. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = { "GET", "POST", "PATCH", "DELETE", "PUT" };
    if (size < 1)
        return 0;
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    char *nl = memchr(text, '\n', size - 1);
    const char *body = NULL;
    size_t body_len = 0;
    if (nl) {
        *nl = 0;
        body = nl + 1;
        body_len = size - 1 - (size_t)(nl + 1 - text);
    }
    struct req r = { .method = methods[data[0] % 5], .path = text, .body = body, .body_len = body_len,
                     .content_type = "application/json", .peer_uid = -1 };
    r.who.kind = AUTH_TOKEN;
    r.who.role = data[0] & 0x80 ? ROLE_ADMIN : ROLE_AUDITOR;
    struct resp out;
    api_handle(NULL, &r, &out);
    struct json_object *st;
    if (!out.body || !json_object_object_get_ex(out.body, "status_code", &st) ||
        json_object_get_int(st) != out.status || out.status < 200 || out.status > 599)
        abort();
    /* Whatever the request held, the answer is JSON in well-formed UTF-8. */
    const char *txt = json_object_to_json_string_ext(out.body, JSON_C_TO_STRING_PLAIN);
    if (!utf8_valid(txt, strlen(txt)))
        abort();
    /* A parsed body holds only well-formed UTF-8. */
    if (r.json && !utf8_valid(json_object_to_json_string(r.json), strlen(json_object_to_json_string(r.json))))
        abort();
    for (int i = 0; i < API_MAX_PARAMS && r.param[i]; i++)
        if (strchr(r.param[i], '/') || !r.param[i][0])
            abort();
    json_object_put(r.json);
    resp_free(&out);
    free(text);
    return 0;
}
