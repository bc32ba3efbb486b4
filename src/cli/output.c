/* Printing answers: aligned tables for lists, "key: value" lines for one
 * object, or the metadata as JSON with --output json. */
#include "cli/cli.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/util.h"

/* One cell as text: sizes in binary units, times in UTC, nested values as JSON. */
static void cell(const char *key, struct json_object *v, char *out, size_t len)
{
    if (!v) {
        snprintf(out, len, "-");
    } else if (json_object_is_type(v, json_type_int) && (!strcmp(key, "size") || !strcmp(key, "allocated") ||
                                                  !strcmp(key, "memory"))) {
        static const char units[] = "BKMGTP";
        double n = (double)json_object_get_int64(v);
        int u = 0;
        while (n >= 1024 && u < 5)
            n /= 1024, u++;
        snprintf(out, len, u ? "%.1f%c" : "%.0f%c", n, units[u]);
    } else if (json_object_is_type(v, json_type_int) &&
               (!strcmp(key, "created") || !strcmp(key, "time") || !strcmp(key, "updated"))) {
        time_t t = (time_t)json_object_get_int64(v);
        struct tm tm;
        strftime(out, len, "%Y-%m-%d %H:%M:%S", gmtime_r(&t, &tm));
    } else if (json_object_is_type(v, json_type_string)) {
        snprintf(out, len, "%s", *json_object_get_string(v) ? json_object_get_string(v) : "-");
    } else {
        snprintf(out, len, "%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
    }
}

void out_table(const struct cli *c, struct json_object *rows, const char *const *cols)
{
    if (c->json || !json_object_is_type(rows, json_type_array)) {
        printf("%s\n", json_object_to_json_string_ext(rows, JSON_C_TO_STRING_PRETTY));
        return;
    }
    size_t ncol = 0, n = json_object_array_length(rows), w[16] = { 0 };
    char text[128];
    while (cols[ncol] && ncol < 16) {
        w[ncol] = strlen(cols[ncol]);
        ncol++;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < ncol; k++) {
            cell(cols[k], json_object_object_get(json_object_array_get_idx(rows, i), cols[k]), text, sizeof(text));
            w[k] = MAX(w[k], strlen(text));
        }
    for (size_t k = 0; k < ncol; k++) {
        for (const char *p = cols[k]; *p; p++)
            putchar(*p >= 'a' && *p <= 'z' ? *p - 32 : *p == '_' ? ' ' : *p);
        printf("%*s", k + 1 < ncol ? (int)(w[k] - strlen(cols[k]) + 2) : 0, "");
    }
    putchar('\n');
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < ncol; k++) {
            cell(cols[k], json_object_object_get(json_object_array_get_idx(rows, i), cols[k]), text, sizeof(text));
            printf("%-*s", k + 1 < ncol ? (int)w[k] + 2 : 0, text);
        }
        putchar('\n');
    }
}

void out_object(const struct cli *c, struct json_object *o)
{
    if (c->json || !json_object_is_type(o, json_type_object)) {
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
        return;
    }
    char text[1024];
    json_object_object_foreach(o, key, val) {
        cell(key, val, text, sizeof(text));
        printf("%s: %s\n", key, text);
    }
}
