/* Who uses what, from the guests' rows.  See usage.h. */
#include "server/usage.h"

#include <json-c/json.h>
#include <stdio.h>

#include "server/server.h"

/* The first row's "name" into out; false if there is none. */
static bool first_name(struct server *s, char *out, size_t len, const char *sql, const char *a, const char *b)
{
    struct json_object *row = NULL;
    bool found = db_row(s->db, &row, sql, b ? "ss" : "s", a, b) == 0;
    if (found)
        snprintf(out, len, "%s", json_str(row, "name"));
    json_object_put(row);
    return found;
}

bool usage_volume(struct server *s, const char *ref, const char *except, char *vm, size_t len)
{
    return first_name(s, vm, len, "SELECT vms.name FROM vms, json_each(vms.config, '$.disks') AS d "
                      "WHERE d.value = ? AND vms.name != ? ORDER BY vms.name LIMIT 1", ref, except);
}

bool usage_vm_image(struct server *s, const char *image, char *vm, size_t len)
{
    return first_name(s, vm, len, "SELECT name FROM vms WHERE json_extract(config, '$.boot.image') = ? "
                      "ORDER BY name LIMIT 1", image, NULL);
}

bool usage_ct_image(struct server *s, const char *image, char *ct, size_t len)
{
    return first_name(s, ct, len, "SELECT name FROM containers WHERE image = ? ORDER BY name LIMIT 1", image, NULL);
}

int usage_network(struct server *s, const char *network, struct json_object **nics, struct json_object **cts)
{
    int r = 0;
    if (nics)
        r = db_rows(s->db, nics, "SELECT vms.name AS vm, json_extract(n.value, '$.address') AS address, "
                    "json_extract(n.value, '$.mac') AS mac FROM vms, json_each(vms.config, '$.nics') AS n "
                    "WHERE json_extract(n.value, '$.network') = ? ORDER BY vms.name, n.key", "s", network);
    if (r == 0 && cts)
        r = db_rows(s->db, cts, "SELECT name AS container, json_extract(config, '$.address') AS address "
                    "FROM containers WHERE json_extract(config, '$.network') = ? ORDER BY name", "s", network);
    if (r < 0 && nics) {
        json_object_put(*nics);
        *nics = NULL;
    }
    return r;
}

int usage_network_addresses(struct server *s, const char *network, const char *except, struct json_object **out)
{
    struct json_object *rows = NULL;
    int r = db_rows(s->db, &rows, "SELECT json_extract(n.value, '$.address') AS a FROM vms, json_each(vms.config, "
                    "'$.nics') AS n WHERE json_extract(n.value, '$.network') = ?1 AND vms.name != ?2 "
                    "UNION ALL SELECT json_extract(config, '$.address') FROM containers "
                    "WHERE json_extract(config, '$.network') = ?1", "ss", network, except);
    if (r < 0)
        return r;
    *out = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        const char *a = json_str(json_object_array_get_idx(rows, i), "a");
        if (a)
            json_object_array_add(*out, json_object_new_string(a));
    }
    json_object_put(rows);
    return 0;
}
