/* Virtual machines: configuration in the database, and what a VM does
 * differently in the one guest lifecycle (guest.c): one engine process per
 * running VM (driver.h: kvm or qemu), its boot files, disks and taps.
 *
 * A VM's row holds its configuration (JSON: vcpus, memory, engine, boot,
 * disks, nics) and, while it runs, the engine handle (driver, pid, pid
 * start time, control and console paths).
 *
 * Taps are named after the VM's random tag (ctpTAGnI), created when it
 * starts and removed when it stops, so stale ones are found by name. */
#include "server/server.h"
#include "server/lifecycle.h"
#include "server/usage.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "driver/driver.h"
#include "net/net.h"
#include "util/util.h"

#define VM_COLS "id, name, tag, config, description, state, engine, pid, pid_start, control, console, created"

static int64_t jint(struct json_object *o, const char *key)
{
    return json_object_get_int64(json_object_object_get(o, key));
}

static int load_vm(struct server *s, const char *name, struct json_object **out, struct resp *resp)
{
    return guest_load(s, &guest_vm, name, out, resp);
}

static void vm_handle_of(struct server *s, struct json_object *row, struct guest_handle *h)
{
    (void)s;
    memset(h, 0, sizeof(*h));
    h->driver = DRIVER_QEMU;
    driver_parse(json_str(row, "engine"), &h->driver);
    h->pid = (pid_t)jint(row, "pid");
    h->start_time = (uint64_t)jint(row, "pid_start");
    snprintf(h->control, sizeof(h->control), "%s", json_str(row, "control") ?: "");
    snprintf(h->console, sizeof(h->console), "%s", json_str(row, "console") ?: "");
}

static void run_dir(struct server *s, struct json_object *row, char *out, size_t len)
{
    snprintf(out, len, "%s/%lld", s->vms_dir, (long long)jint(row, "id"));
}

static void tap_name(struct json_object *row, int i, char out[16])
{
    snprintf(out, 16, "ctp%.6sn%d", json_str(row, "tag"), i % VM_MAX_NICS);
}

/* The public view: configuration (what the ETag covers) plus run state. */
static struct json_object *vm_view(struct json_object *row, char etag[24])
{
    struct json_object *o = json_tokener_parse(json_str(row, "config"));
    if (!o)
        o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(json_str(row, "name")));
    json_object_object_add(o, "description", json_object_new_string(json_str(row, "description")));
    if (etag)
        api_etag(o, etag);
    json_object_object_add(o, "state", json_object_new_string(json_str(row, "state")));
    const char *eng = json_str(row, "engine");
    json_object_object_add(o, "running_engine", eng && *eng ? json_object_new_string(eng) : NULL);
    json_object_object_add(o, "pid", jint(row, "pid") ? json_object_new_int64(jint(row, "pid")) : NULL);
    json_object_object_add(o, "created", json_object_new_int64(jint(row, "created")));
    return o;
}

int h_vms_list(struct server *s, struct req *r, struct resp *out)
{
    (void)r;
    return guest_list(s, &guest_vm, out);
}

int h_vm_get(struct server *s, struct req *r, struct resp *out) { return guest_get(s, &guest_vm, r, out); }

/* ---- configuration ------------------------------------------------------------ */

/* "POOL/VOLUME" -> its file and format; 0, or -EINVAL, -ENOENT, -EBUSY
 * (not ready) with a message for api_field_errno(). */
static int volume_file(struct server *s, const char *ref, char *path, size_t len, char format[8])
{
    char pool[NAME_MAX_LEN + 2] = "", vol[NAME_MAX_LEN + 2] = "";
    const char *slash = ref ? strchr(ref, '/') : NULL;
    if (slash && (size_t)(slash - ref) < sizeof(pool)) {
        snprintf(pool, sizeof(pool), "%.*s", (int)(slash - ref), ref);
        snprintf(vol, sizeof(vol), "%s", slash + 1);
    }
    if (!name_valid(pool) || !name_valid(vol))
        return fail(EINVAL, "a disk is \"POOL/VOLUME\" with valid names, not '%.64s'", ref ? ref : "");
    struct json_object *v;
    if (db_row(s->db, &v, "SELECT v.format, v.state, p.path FROM volumes v JOIN pools p ON p.name = v.pool "
               "WHERE v.pool = ? AND v.name = ?", "ss", pool, vol) < 0)
        return fail(ENOENT, "no volume '%s' in pool '%s'", vol, pool);
    int rc = 0;
    if (strcmp(json_str(v, "state"), "ready"))
        rc = fail(EBUSY, "volume %s is %s: wait until it is ready", ref, json_str(v, "state"));
    else if (snprintf(path, len, "%s/%s.%s", json_str(v, "path"), vol, json_str(v, "format")) >= (int)len ||
             strchr(path, ','))
        rc = fail(EINVAL, "volume %s's path is too long or holds a ','", ref);
    snprintf(format, 8, "%s", json_str(v, "format"));
    json_object_put(v);
    return rc;
}

/* A sub-object checked with the same strict rules as a body. */
static int sub_fields(struct json_object *o, const struct field *f, size_t n, struct resp *out)
{
    struct req sub = { .json = o };
    return api_fields(&sub, f, n, out);
}

/* Host paths in boot are for admins.  An operator gets this one answer
 * whatever the path, before anything looks at the host. */
static int refuse_host_boot(const struct req *r, struct resp *out)
{
    struct json_object *boot = json_object_object_get(r->json, "boot");
    if (r->who.role >= ROLE_ADMIN || !json_object_is_type(boot, json_type_object) ||
        (!json_object_object_get_ex(boot, "kernel", NULL) && !json_object_object_get_ex(boot, "initrd", NULL)))
        return 0;
    return api_error(out, E_FORBIDDEN, "only admins may boot a VM from host paths (boot.kernel, boot.initrd): "
                     "boot a VM image instead (boot.image; GET /api/v1/images lists them)");
}

/* 0 if host file PATH may be a VM's FIELD now, else a 4xx. */
static int boot_file_check(struct server *s, const char *field, const char *path, struct resp *out)
{
    int fd, rc = boot_file_open(s, field, path, &fd);
    if (rc < 0)
        return api_field_errno(out, rc);
    close(fd);
    return 0;
}

/* boot: {kernel, initrd?, cmdline?} | {image, cmdline?} | {volume}.  Host
 * files are checked when the request sets them (FILES); a VM's unchanged
 * boot is checked again when it starts. */
static int check_boot(struct server *s, struct json_object *boot, struct json_object *disks, bool files,
                      struct resp *out)
{
    const char *kernel = NULL, *initrd = NULL, *cmdline = NULL, *volume = NULL, *image = NULL;
    const struct field f[] = {
        { "kernel", F_STRING, false, &kernel, NULL }, { "initrd", F_STRING, false, &initrd, NULL },
        { "cmdline", F_STRING, false, &cmdline, NULL }, { "volume", F_STRING, false, &volume, NULL },
        { "image", F_STRING, false, &image, NULL },
    };
    int rc = sub_fields(boot, f, ARRAY_SIZE(f), out);
    if (rc)
        return rc;
    if (!kernel + !volume + !image != 2)
        return api_error(out, E_BAD_FIELD, "boot needs one of 'image' (a VM image, with an optional 'cmdline' "
                         "replacing its own), 'kernel' (a host path, with optional 'initrd' and 'cmdline') or "
                         "'volume' (\"POOL/VOLUME\" to boot from)");
    if (volume && (initrd || cmdline))
        return api_error(out, E_BAD_FIELD, "boot.initrd and boot.cmdline go with boot.kernel, not boot.volume");
    if (image && initrd)
        return api_error(out, E_BAD_FIELD, "boot.initrd goes with boot.kernel; a VM image brings its own");
    if (image && vmimage_find(s, image, NULL) < 0)
        return api_error(out, E_BAD_FIELD, "boot.image: no VM image '%.64s' (GET /api/v1/images lists them)",
                         image);
    if (files && kernel && (rc = boot_file_check(s, "boot.kernel", kernel, out)))
        return rc;
    if (files && initrd && (rc = boot_file_check(s, "boot.initrd", initrd, out)))
        return rc;
    if (cmdline && (rc = boot_cmdline_check("boot.cmdline", cmdline, out)))
        return rc;
    if (volume) {    /* the boot volume is the first disk */
        size_t n = json_object_array_length(disks);
        if (!n || strcmp(json_object_get_string(json_object_array_get_idx(disks, 0)) ?: "", volume)) {
            json_object_array_add(disks, NULL);
            for (size_t i = n; i > 0; i--)
                json_object_array_put_idx(disks, i, json_object_get(json_object_array_get_idx(disks, i - 1)));
            json_object_array_put_idx(disks, 0, json_object_new_string(volume));
        }
    }
    return 0;
}

static int check_disks(struct server *s, struct json_object *disks, const char *self, struct resp *out)
{
    size_t n = json_object_array_length(disks);
    if (n > VM_MAX_DISKS)
        return api_error(out, E_BAD_FIELD, "at most %d disks", VM_MAX_DISKS);
    for (size_t i = 0; i < n; i++) {
        struct json_object *d = json_object_array_get_idx(disks, i);
        if (!json_object_is_type(d, json_type_string))
            return api_error(out, E_BAD_FIELD, "each disk is a string \"POOL/VOLUME\"");
        const char *ref = json_object_get_string(d);
        char path[VM_PATH_MAX], fmt[8], other[NAME_MAX_LEN + 1];
        int rc = volume_file(s, ref, path, sizeof(path), fmt);
        if (rc < 0)
            return api_field_errno(out, rc);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(ref, json_object_get_string(json_object_array_get_idx(disks, j))))
                return api_error(out, E_BAD_FIELD, "volume %s is listed twice", ref);
        if (usage_volume(s, ref, self, other, sizeof(other)))
            return api_error(out, E_CONFLICT, "volume %s is already a disk of VM '%s'", ref, other);
    }
    return 0;
}

static int check_nics(struct server *s, struct json_object *nics, const char *self, struct resp *out)
{
    size_t n = json_object_array_length(nics);
    if (n > VM_MAX_NICS)
        return api_error(out, E_BAD_FIELD, "at most %d NICs", VM_MAX_NICS);
    for (size_t i = 0; i < n; i++) {
        struct json_object *nic = json_object_array_get_idx(nics, i);
        const char *network = NULL, *address = NULL, *mac = NULL;
        const struct field f[] = {
            { "network", F_STRING, true, &network, NULL }, { "address", F_STRING, false, &address, NULL },
            { "mac", F_STRING, false, &mac, NULL },
        };
        if (!json_object_is_type(nic, json_type_object))
            return api_error(out, E_BAD_FIELD, "each NIC is an object {\"network\": NAME}");
        int rc = sub_fields(nic, f, ARRAY_SIZE(f), out);
        if (rc)
            return rc;
        uint8_t m[6];
        char addr[16] = "", bridge[16], macs[18];
        if (mac && (parse_mac(mac, m) < 0 || (m[0] & 1)))
            return api_error(out, E_BAD_FIELD, "NIC mac '%.32s' is not a unicast MAC like 52:54:00:12:34:56", mac);
        if ((rc = network_assign(s, network, address, self, addr, bridge, out)))
            return rc;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(addr, json_str(json_object_array_get_idx(nics, j), "address")))
                return api_error(out, E_CONFLICT, "two NICs would get address %s", addr);
        if (!mac) {
            randombytes_buf(m + 3, 3);
            m[0] = 0x52, m[1] = 0x54, m[2] = 0x00;
        }
        snprintf(macs, sizeof(macs), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
        json_object_object_add(nic, "address", json_object_new_string(addr));
        json_object_object_add(nic, "mac", json_object_new_string(macs));
    }
    return 0;
}

/* Checks and normalizes a whole configuration in place (sizes to bytes,
 * addresses and MACs assigned); BOOT_SET: the request sets boot.  Call
 * inside a database transaction. */
static int check_config(struct server *s, struct json_object *cfg, const char *self, bool boot_set,
                        struct resp *out)
{
    int64_t vcpus = 1;
    uint64_t memory = 256 * MiB;
    const char *engine = "auto";
    struct json_object *boot = NULL, *disks = NULL, *nics = NULL;
    const struct field f[] = {
        { "vcpus", F_INT, false, &vcpus, NULL }, { "memory", F_SIZE, false, &memory, NULL },
        { "engine", F_STRING, false, &engine, NULL }, { "boot", F_OBJECT, true, &boot, NULL },
        { "disks", F_ARRAY, false, &disks, NULL }, { "nics", F_ARRAY, false, &nics, NULL },
    };
    int rc = sub_fields(cfg, f, ARRAY_SIZE(f), out);
    if (rc)
        return rc;
    enum vm_engine e;
    if (vcpus < 1 || vcpus > 64)
        return api_error(out, E_BAD_FIELD, "vcpus must be 1..64");
    if (memory < 16 * MiB || memory > 1024 * GiB || memory % MiB)
        return api_error(out, E_BAD_FIELD, "memory must be whole MiB between 16M and 1T");
    if (engine_parse(engine, &e) < 0)
        return api_error(out, E_BAD_FIELD, "%s", err_msg());
    if (e == ENGINE_KVM && boot && json_object_object_get(boot, "volume"))
        return api_error(out, E_BAD_FIELD, "the kvm engine boots a kernel, not a volume: use engine qemu");
    json_object_object_add(cfg, "vcpus", json_object_new_int64(vcpus));
    json_object_object_add(cfg, "memory", json_object_new_int64((int64_t)memory));
    json_object_object_add(cfg, "engine", json_object_new_string(engine));
    if (!disks)
        json_object_object_add(cfg, "disks", disks = json_object_new_array());
    if (!nics)
        json_object_object_add(cfg, "nics", nics = json_object_new_array());
    if ((rc = check_boot(s, boot, disks, boot_set, out)) || (rc = check_disks(s, disks, self, out)))
        return rc;
    return check_nics(s, nics, self, out);
}

static const char *const config_keys[] = { "vcpus", "memory", "engine", "boot", "disks", "nics" };

/* Copies the body's configuration members onto cfg. */
static void merge_config(struct json_object *cfg, struct json_object *body)
{
    json_object_object_foreach(body, key, val) {
        for (size_t i = 0; i < ARRAY_SIZE(config_keys); i++)
            if (!strcmp(key, config_keys[i])) {
                struct json_object *copy = NULL;
                json_object_deep_copy(val, &copy, NULL);
                json_object_object_add(cfg, key, copy);
            }
    }
}

int h_vms_create(struct server *s, struct req *r, struct resp *out)
{
    const char *name = NULL, *desc = "";
    int64_t i;
    uint64_t u;
    struct json_object *o;
    const char *str;
    const struct field f[] = {
        { "name", F_STRING, true, &name, NULL }, { "description", F_STRING, false, &desc, NULL },
        { "vcpus", F_INT, false, &i, NULL }, { "memory", F_SIZE, false, &u, NULL },
        { "engine", F_STRING, false, &str, NULL }, { "boot", F_OBJECT, true, &o, NULL },
        { "disks", F_ARRAY, false, &o, NULL }, { "nics", F_ARRAY, false, &o, NULL },
    };
    int rc = api_fields(r, f, ARRAY_SIZE(f), out);
    if (rc || (rc = refuse_host_boot(r, out)))
        return rc;
    if (!name_valid(name))
        return api_error(out, E_BAD_NAME, "'%.64s' is not a valid VM name " NAME_RULE, name);
    if ((rc = api_check_description(desc, out)))
        return rc;
    struct json_object *cfg = json_object_new_object();
    merge_config(cfg, r->json);
    uint8_t rnd[3];
    char tag[8];
    randombytes_buf(rnd, sizeof(rnd));
    snprintf(tag, sizeof(tag), "%02x%02x%02x", rnd[0], rnd[1], rnd[2]);
    if ((rc = db_begin(s->db)) < 0) {
        json_object_put(cfg);
        return api_errno(out, rc);
    }
    if ((rc = check_config(s, cfg, name, true, out)) == 0) {
        int e = db_exec(s->db, "INSERT INTO vms (name, tag, config, description, state, created) "
                        "VALUES (?, ?, ?, ?, 'stopped', ?)", "ssssi", name, tag,
                        json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PLAIN), desc, (int64_t)time(NULL));
        if (e == -EEXIST)
            rc = api_error(out, E_EXISTS, "VM '%s' already exists", name);
        else if (e < 0)
            rc = api_errno(out, e);
    }
    if (rc == 0 && (rc = db_commit(s->db)) < 0)
        rc = api_errno(out, rc);
    else if (rc)
        db_rollback(s->db);
    if (rc == 0) {
        events_record(s->events, &r->who, "vm.create", name, cfg);
        networks_nics_changed(s);
    }
    json_object_put(cfg);
    if (rc)
        return rc;
    struct json_object *row;
    if ((rc = load_vm(s, name, &row, out)))
        return rc;
    struct json_object *v = vm_view(row, out->etag);
    json_object_put(row);
    return api_sync(out, 201, v);
}

int h_vm_patch(struct server *s, struct req *r, struct resp *out)
{
    const char *desc = NULL, *str;
    int64_t i;
    uint64_t u;
    struct json_object *o;
    const struct field f[] = {
        { "description", F_STRING, false, &desc, NULL }, { "vcpus", F_INT, false, &i, NULL },
        { "memory", F_SIZE, false, &u, NULL }, { "engine", F_STRING, false, &str, NULL },
        { "boot", F_OBJECT, false, &o, NULL }, { "disks", F_ARRAY, false, &o, NULL },
        { "nics", F_ARRAY, false, &o, NULL },
    };
    int rc = api_fields(r, f, ARRAY_SIZE(f), out);
    if (rc || (rc = refuse_host_boot(r, out)) || (rc = guest_refuse_busy(s, &guest_vm, r->param[0], out)))
        return rc;
    if (!r->json || !json_object_object_length(r->json))
        return api_error(out, E_MISSING_FIELD, "give the fields to change (description, vcpus, memory, engine, "
                         "boot, disks, nics)");
    if ((rc = api_check_description(desc, out)))
        return rc;
    bool config = json_object_object_length(r->json) > (desc ? 1 : 0);
    struct json_object *row = NULL, *cfg = NULL;
    if ((rc = db_begin(s->db)) < 0)
        return api_errno(out, rc);
    if ((rc = load_vm(s, r->param[0], &row, out)) == 0) {
        struct json_object *view = vm_view(row, NULL);
        json_object_object_del(view, "state");
        json_object_object_del(view, "running_engine");
        json_object_object_del(view, "pid");
        json_object_object_del(view, "created");
        rc = api_check_if_match(r, view, out);
        json_object_put(view);
    }
    if (rc == 0 && config && strcmp(json_str(row, "state"), "stopped"))
        rc = api_error(out, E_CONFLICT, "VM '%s' is %s: stop it before changing its configuration (only the "
                       "description can change while it runs)", r->param[0], json_str(row, "state"));
    if (rc == 0 && config) {
        cfg = json_tokener_parse(json_str(row, "config"));
        merge_config(cfg, r->json);
        bool boot_set = json_object_object_get_ex(r->json, "boot", NULL);
        if ((rc = check_config(s, cfg, r->param[0], boot_set, out)) == 0) {
            int e = db_exec(s->db, "UPDATE vms SET config = ? WHERE name = ?", "ss",
                            json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PLAIN), r->param[0]);
            rc = e < 0 ? api_errno(out, e) : 0;
        }
    }
    if (rc == 0 && desc) {
        int e = db_exec(s->db, "UPDATE vms SET description = ? WHERE name = ?", "ss", desc, r->param[0]);
        rc = e < 0 ? api_errno(out, e) : 0;
    }
    json_object_put(row);
    if (rc == 0 && (rc = db_commit(s->db)) < 0)
        rc = api_errno(out, rc);
    else if (rc)
        db_rollback(s->db);
    if (rc == 0)
        events_record(s->events, &r->who, "vm.update", r->param[0], cfg);
    if (rc == 0 && cfg)
        networks_nics_changed(s);
    json_object_put(cfg);
    return rc ? rc : h_vm_get(s, r, out);
}

/* Its engine's log; the run directory goes with the row. */
static int vm_remove(struct server *s, struct json_object *row, struct resp *out)
{
    (void)out;
    char dir[1200], path[1300];
    run_dir(s, row, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/engine.log", dir);
    unlink(path);
    return 0;
}

int h_vm_delete(struct server *s, struct req *r, struct resp *out) { return guest_delete(s, &guest_vm, r, out); }

/* ---- running ------------------------------------------------------------------------- */

static void remove_taps(struct json_object *row)
{
    for (int i = 0; i < VM_MAX_NICS; i++) {
        char tap[16];
        tap_name(row, i, tap);
        if (nl_link_exists(tap))
            nl_link_del(tap);
    }
}

static void vm_detach(struct server *s, struct json_object *row)
{
    (void)s;
    remove_taps(row);
}

static int vm_record(struct server *s, struct json_object *row, const char *state, const struct guest_handle *h)
{
    const struct guest_handle none = { 0 };
    return db_exec(s->db, "UPDATE vms SET state = ?, engine = ?, pid = ?, pid_start = ?, control = ?, console = ? "
                   "WHERE id = ?", "ssiissi", state, h ? driver_name(h->driver) : "", (int64_t)(h ?: &none)->pid,
                   (int64_t)(h ?: &none)->start_time, (h ?: &none)->control, (h ?: &none)->console,
                   jint(row, "id"));
}

static int make_taps(struct server *s, struct json_object *row, struct json_object *nics, struct guest_spec *spec)
{
    spec->nnics = (int)json_object_array_length(nics);
    for (int i = 0; i < spec->nnics; i++) {
        struct json_object *nic = json_object_array_get_idx(nics, i), *net;
        if (db_row(s->db, &net, "SELECT bridge FROM networks WHERE name = ?", "s", json_str(nic, "network")) < 0)
            return fail(ENOENT, "network '%s' is gone", json_str(nic, "network"));
        char bridge[16];
        snprintf(bridge, sizeof(bridge), "%s", json_str(net, "bridge"));
        json_object_put(net);
        tap_name(row, i, spec->nics[i].tap);
        snprintf(spec->nics[i].mac, sizeof(spec->nics[i].mac), "%s", json_str(nic, "mac"));
        int r = nl_tap_add(spec->nics[i].tap);
        if (r == 0 && (r = nl_link_master(spec->nics[i].tap, bridge)) == 0)
            r = nl_link_up(spec->nics[i].tap);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Opens host file PATH as the VM's FIELD, checked again now: the rules or
 * the file may have changed since it was set (or an operator set it before
 * host paths needed an admin).  One message whatever the reason; the log
 * (root's) says which. */
static int open_host_boot(struct server *s, const char *vm, const char *field, const char *path, int *fd)
{
    int rc = boot_file_open(s, field, path, fd);
    if (rc < 0)
        log_warn("VM %s: %s", vm, err_msg());
    return rc < 0 ? fail(EACCES, "%s %s may not be used: host paths must be readable files under a directory "
                     "corrald allows (--host-path-allow), outside its state and the system directories; an admin "
                     "can set the VM's boot again, or boot a VM image (boot.image)", field, path) : 0;
}

/* Opens the VM's kernel and initrd into spec->kernel_fd/initrd_fd: the
 * engine reads these very files, not whatever their paths name later.  A
 * VM image's files are named in BOOT (the start's copy of the
 * configuration), which outlives the spawn. */
static int open_boot(struct server *s, struct json_object *boot, struct guest_spec *spec)
{
    int r = 0;
    const char *image = json_str(boot, "image");
    if (image) {
        struct vmimage_files img;
        if ((r = vmimage_boot(s, image, &img)) < 0)
            return r;
        json_object_object_add(boot, "kernel", json_object_new_string(img.kernel));
        if (*img.initrd)
            json_object_object_add(boot, "initrd", json_object_new_string(img.initrd));
        if (!json_str(boot, "cmdline"))
            json_object_object_add(boot, "cmdline", json_object_new_string(img.cmdline));
    }
    spec->kernel = json_str(boot, "kernel");
    spec->initrd = json_str(boot, "initrd");
    spec->cmdline = json_str(boot, "cmdline");
    if (image) {
        if ((spec->kernel_fd = open(spec->kernel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
            (spec->initrd && (spec->initrd_fd = open(spec->initrd, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0))
            return fail(errno, "VM image '%s' is damaged: %m", image);
        return 0;
    }
    if (spec->kernel)
        r = open_host_boot(s, spec->name, "boot.kernel", spec->kernel, &spec->kernel_fd);
    if (r == 0 && spec->initrd)
        r = open_host_boot(s, spec->name, "boot.initrd", spec->initrd, &spec->initrd_fd);
    return r;
}

static int vm_prepare(struct server *s, struct json_object *row, struct json_object *cfg, struct guest_spec *spec)
{
    struct json_object *disks = json_object_object_get(cfg, "disks");
    enum vm_engine e = ENGINE_AUTO;
    engine_parse(json_str(cfg, "engine"), &e);
    spec->driver = drivers_vm(s->drivers, e);
    spec->vcpus = (int)jint(cfg, "vcpus");
    spec->memory = (uint64_t)jint(cfg, "memory");
    spec->uid = VM_ENGINE_UID(jint(row, "id"));
    int r = open_boot(s, json_object_object_get(cfg, "boot"), spec);
    /* Volumes are looked up again: a pool may have moved since create. */
    spec->ndisks = (int)MIN(json_object_array_length(disks), VM_MAX_DISKS);
    for (int i = 0; r == 0 && i < spec->ndisks; i++) {
        char fmt[8] = "";
        const char *ref = json_object_get_string(json_object_array_get_idx(disks, i));
        r = volume_file(s, ref, spec->disks[i].path, sizeof(spec->disks[i].path), fmt);
        spec->disks[i].format = !strcmp(fmt, "raw") ? "raw" : "qcow2";
    }
    return r ? r : make_taps(s, row, json_object_object_get(cfg, "nics"), spec);
}

static int no_body_action(struct server *s, struct req *r, struct resp *out, enum guest_action a)
{
    int rc = api_fields(r, NULL, 0, out);
    return rc ? rc : guest_request(s, &guest_vm, r, a, 0, false, out);
}

int h_vm_start(struct server *s, struct req *r, struct resp *out) { return no_body_action(s, r, out, GA_START); }
int h_vm_stop(struct server *s, struct req *r, struct resp *out) { return no_body_action(s, r, out, GA_STOP); }
int h_vm_pause(struct server *s, struct req *r, struct resp *out) { return no_body_action(s, r, out, GA_PAUSE); }
int h_vm_resume(struct server *s, struct req *r, struct resp *out) { return no_body_action(s, r, out, GA_RESUME); }

static int timed_action(struct server *s, struct req *r, struct resp *out, enum guest_action a, int64_t timeout)
{
    bool force = a == GA_RESTART;
    const struct field f[] = {
        { "timeout", F_INT, false, &timeout, NULL }, { "force", F_BOOL, false, &force, NULL },
    };
    int rc = api_fields(r, f, a == GA_SHUTDOWN ? 2 : 1, out);
    if (rc)
        return rc;
    if (timeout < 1 || timeout > 3600)
        return api_error(out, E_BAD_FIELD, "timeout must be 1..3600 seconds");
    return guest_request(s, &guest_vm, r, a, (int)timeout, force, out);
}

int h_vm_shutdown(struct server *s, struct req *r, struct resp *out) { return timed_action(s, r, out, GA_SHUTDOWN, 60); }
int h_vm_restart(struct server *s, struct req *r, struct resp *out) { return timed_action(s, r, out, GA_RESTART, 30); }
int h_vm_console(struct server *s, struct req *r, struct resp *out) { return guest_console(s, &guest_vm, r, out); }

const struct guest_kind guest_vm = {
    .noun = "VM", .collection = "vms", .event = "vm", .console_prefix = "",
    .select = "SELECT " VM_COLS " FROM vms",
    .actions = 1u << GA_START | 1u << GA_STOP | 1u << GA_SHUTDOWN | 1u << GA_PAUSE | 1u << GA_RESUME |
               1u << GA_RESTART,
    .gone = "the guest powered off or its engine exited",
    .view = vm_view, .dir = run_dir, .handle_of = vm_handle_of, .record = vm_record, .prepare = vm_prepare, .detach = vm_detach,
    .remove = vm_remove, .removed = networks_nics_changed,
};
