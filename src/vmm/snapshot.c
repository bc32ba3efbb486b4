/* Snapshots of a running VM and starting from one (docs/snapshot-format.md).
 *
 * A snapshot is a directory: `memory`, guest RAM as one sparse file (low
 * RAM, then high RAM), and `state`, every other piece of the VM in the
 * sectioned format of src/snap: the machine's shape, each vCPU's CPUID and
 * registers, the in-kernel interrupt controllers, PIT and clock, and each
 * device's registers.  The state file is written last, so a directory
 * without one is an unfinished snapshot.
 *
 * Saving runs on the I/O loop with every vCPU parked: no device handler can
 * run meanwhile (they all run on this loop or on the parked vCPUs), so
 * nothing is in flight.  Each writable qcow2 disk gets an internal snapshot
 * at that instant, named in the state; a restore applies it, so memory and
 * disks come back together.  Raw disks cannot be snapshotted: they are
 * named as such, and must be restored by whoever owns them.  Restoring builds the machine as a boot would, then
 * maps the memory file privately instead of allocating RAM and loads the
 * state instead of loading a kernel.  Everything read from the snapshot is
 * checked before KVM or a device sees it.
 */
#include "vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "snap/snap.h"

/* What --restore read at start-up, kept until the first machine is built. */
struct snapshot_in {
    uint8_t *buf;                /* the state file; sections point into it */
    size_t len;
    struct snap_file file;
    struct json_object *config;  /* the CONFIG section, parsed */
    int mem_fd;                  /* the memory file, mapped by the machine (-1: a migration's) */
    char origin[160];            /* for messages: "--restore DIR" or "migration" */
};

/* The legacy devices' places in the DEVICE sections; virtio devices follow. */
enum { DEV_SERIAL, DEV_I8042, DEV_RTC, DEV_ACPI_PM, DEV_HCALL, DEV_VIRTIO0 };

#define MAX_MSRS 1024
#define MAX_CPUID 4096

/* ---- saving ---------------------------------------------------------------- */

static int vcpu_get(struct vcpu *c, unsigned long req, void *arg, const char *what)
{
    int r = kvm_vcpu_ioctl(&c->k, req, arg);
    return r < 0 ? fail(-r, "vCPU %d: %s: %s", c->k.id, what, strerror(-r)) : 0;
}

/* Every MSR of KVM's list this vCPU lets us read: KVM_GET_MSRS stops at
 * the first it refuses, so that one is skipped and the rest asked again. */
static int read_msrs(struct vcpu *c, struct kvm_msrs **out)
{
    const struct kvm_msr_list *list = c->m->vmm->kvm.msrs;
    uint32_t n = list ? MIN(list->nmsrs, MAX_MSRS) : 0;
    struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(m->entries[0]));
    if (!m)
        return fail(ENOMEM, "out of memory");
    uint32_t got = 0;
    for (uint32_t next = 0; next < n;) {
        _cleanup_free_ struct kvm_msrs *ask = calloc(1, sizeof(*ask) + (n - next) * sizeof(ask->entries[0]));
        if (!ask) {
            free(m);
            return fail(ENOMEM, "out of memory");
        }
        ask->nmsrs = n - next;
        for (uint32_t i = 0; i < ask->nmsrs; i++)
            ask->entries[i].index = list->indices[next + i];
        int r = kvm_vcpu_ioctl(&c->k, KVM_GET_MSRS, ask);
        if (r < 0) {
            free(m);
            return fail(-r, "vCPU %d: KVM_GET_MSRS: %s", c->k.id, strerror(-r));
        }
        for (int i = 0; i < r; i++)
            m->entries[got++] = ask->entries[i];
        next += (uint32_t)r + 1;    /* entry r was refused */
    }
    m->nmsrs = got;
    *out = m;
    return 0;
}

static int save_vcpu(struct vcpu *c, struct snap_writer *w)
{
    const struct kvm_sys *sys = &c->m->vmm->kvm;
    _cleanup_free_ struct kvm_cpuid2 *cpuid = NULL;
    _cleanup_free_ uint8_t *xsave = sys->xsave_size ? calloc(1, sys->xsave_size) : NULL;
    _cleanup_free_ struct kvm_msrs *msrs = NULL;
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_xcrs xcrs = { 0 };
    struct kvm_debugregs dregs;
    struct kvm_lapic_state lapic;
    struct kvm_vcpu_events events;
    struct kvm_mp_state mp;
    if (sys->xsave_size && !xsave)
        return fail(ENOMEM, "out of memory");
    int r;
    /* What the vCPU was given: this host's CPUID shaped for this machine
     * (cpu.c), as at boot or at the restore that made this machine. */
    if ((r = cpu_cpuid(&c->k, c->m->ncpus, &cpuid)) < 0 ||
        (r = vcpu_get(c, KVM_GET_REGS, &regs, "KVM_GET_REGS")) < 0 ||
        (r = vcpu_get(c, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS")) < 0 ||
        (xsave && (r = vcpu_get(c, sys->xsave_size > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE,
                                xsave, "KVM_GET_XSAVE")) < 0) ||
        (xsave && (r = vcpu_get(c, KVM_GET_XCRS, &xcrs, "KVM_GET_XCRS")) < 0) ||
        (r = vcpu_get(c, KVM_GET_DEBUGREGS, &dregs, "KVM_GET_DEBUGREGS")) < 0 ||
        (r = vcpu_get(c, KVM_GET_LAPIC, &lapic, "KVM_GET_LAPIC")) < 0 ||
        (r = vcpu_get(c, KVM_GET_VCPU_EVENTS, &events, "KVM_GET_VCPU_EVENTS")) < 0 ||
        (r = vcpu_get(c, KVM_GET_MP_STATE, &mp, "KVM_GET_MP_STATE")) < 0 ||
        (r = read_msrs(c, &msrs)) < 0)
        return r;
    snap_begin(w, SNAP_CPUID, (uint32_t)c->k.id);
    snap_u32(w, cpuid->nent);
    snap_bytes(w, cpuid->entries, cpuid->nent * sizeof(cpuid->entries[0]));
    snap_begin(w, SNAP_VCPU, (uint32_t)c->k.id);
    snap_blob(w, &regs, sizeof(regs));
    snap_blob(w, &sregs, sizeof(sregs));
    snap_blob(w, xsave, xsave ? sys->xsave_size : 0);
    snap_blob(w, &xcrs, sizeof(xcrs));
    snap_blob(w, &dregs, sizeof(dregs));
    snap_blob(w, &lapic, sizeof(lapic));
    snap_blob(w, &events, sizeof(events));
    snap_u32(w, mp.mp_state);
    snap_u32(w, msrs->nmsrs);
    for (uint32_t i = 0; i < msrs->nmsrs; i++) {
        snap_u32(w, msrs->entries[i].index);
        snap_u64(w, msrs->entries[i].data);
    }
    snap_end(w);
    return 0;
}

static int vm_get(struct machine *m, unsigned long req, void *arg, const char *what)
{
    int r = kvm_vm_ioctl(&m->vm, req, arg);
    return r < 0 ? fail(-r, "%s: %s", what, strerror(-r)) : 0;
}

static int save_vm(struct machine *m, struct snap_writer *w)
{
    struct kvm_irqchip chip[3];
    struct kvm_pit_state2 pit;
    struct kvm_clock_data clock = { 0 };
    int r = 0;
    for (unsigned i = 0; i < 3 && r == 0; i++) {
        memset(&chip[i], 0, sizeof(chip[i]));
        chip[i].chip_id = i;    /* KVM_IRQCHIP_PIC_MASTER, _SLAVE, _IOAPIC */
        r = vm_get(m, KVM_GET_IRQCHIP, &chip[i], "KVM_GET_IRQCHIP");
    }
    if (r < 0 || (r = vm_get(m, KVM_GET_PIT2, &pit, "KVM_GET_PIT2")) < 0 ||
        (r = vm_get(m, KVM_GET_CLOCK, &clock, "KVM_GET_CLOCK")) < 0)
        return r;
    int khz = kvm_vcpu_ioctl(&m->vcpu[0].k, KVM_GET_TSC_KHZ, NULL);
    snap_begin(w, SNAP_VM, 0);
    for (unsigned i = 0; i < 3; i++)
        snap_blob(w, &chip[i], sizeof(chip[i]));
    snap_blob(w, &pit, sizeof(pit));
    snap_u64(w, clock.clock);
    snap_u32(w, khz > 0 ? (uint32_t)khz : 0);
    snap_end(w);
    return 0;
}

/* One internal snapshot per writable qcow2 disk, all named NAME (none if
 * NAME is NULL: a migration, whose disks go along as they are); into DISKS,
 * one entry per disk (docs/snapshot-format.md). */
int snapshot_disks(struct machine *m, const char *name, struct json_object *disks)
{
    struct vmm *v = m->vmm;
    for (int i = 0; i < v->cfg->ndisks; i++) {
        struct json_object *d = json_object_new_object();
        json_object_array_add(disks, d);
        bool qcow2 = blk_format_of(v->disk[i]) == BLK_FMT_QCOW2, ro = v->cfg->disk[i].readonly;
        json_object_object_add(d, "format", json_object_new_string(blk_format_name(blk_format_of(v->disk[i]))));
        json_object_object_add(d, "readonly", json_object_new_boolean(ro));
        json_object_object_add(d, "snapshot", NULL);
        if (!qcow2 || ro || !name)
            continue;
        int r = blk_flush(v->disk[i]);
        if (r == 0)
            r = blk_snapshot_create(v->disk[i], name);
        if (r < 0)
            return fail(-r, "disk %d (%s): cannot take its snapshot: %s", i, v->cfg->disk[i].path, err_msg());
        json_object_object_add(d, "snapshot", json_object_new_string(name));
    }
    return 0;
}

static void drop_disk_snapshots(struct machine *m, struct json_object *disks)
{
    for (size_t i = 0; i < json_object_array_length(disks); i++) {
        const char *name = json_object_get_string(json_object_object_get(json_object_array_get_idx(disks, i),
                                                                         "snapshot"));
        if (name && blk_snapshot_delete(m->vmm->disk[i], name) < 0)
            log_warn("disk %zu: cannot remove the unfinished snapshot's %s: %s", i, name, err_msg());
    }
}

struct json_object *machine_shape(struct machine *m)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "memory", json_object_new_int64((int64_t)m->mem.size));
    json_object_object_add(o, "cpus", json_object_new_int(m->ncpus));
    struct json_object *devs = json_object_new_array();
    for (int i = 0; i < m->nvdev; i++)
        json_object_array_add(devs, json_object_new_string(m->vdev[i]->name));
    json_object_object_add(o, "devices", devs);
    if (m->vmm->cfg->nnets) {
        struct json_object *macs = json_object_new_array();
        char mac[MAC_STR_LEN];
        for (int i = 0; i < m->vmm->cfg->nnets; i++) {
            format_mac(m->vmm->cfg->net[i].mac, mac);
            json_object_array_add(macs, json_object_new_string(mac));
        }
        json_object_object_add(o, "macs", macs);
    }
    return o;
}

int machine_adopt_macs(struct machine *m, struct json_object *macs)
{
    struct vmm_config *cfg = m->vmm->cfg;
    if (!macs)
        return 0;
    if (!json_object_is_type(macs, json_type_array) || json_object_array_length(macs) != (size_t)cfg->nnets)
        return fail(EINVAL, "the guest's network interfaces are not this VM's %d", cfg->nnets);
    for (int i = 0; i < cfg->nnets; i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(macs, (size_t)i));
        uint8_t mac[6];
        if (parse_mac(s, mac) < 0)
            return fail(EINVAL, "network interface %d: %s", i, err_msg());
        if (!memcmp(mac, cfg->net[i].mac, 6))
            continue;
        if (cfg->net[i].mac_set)
            return fail(EINVAL, "--net tap=%s: the guest knows this interface as %s, not by the mac= given",
                        cfg->net[i].tap, s);
        memcpy(cfg->net[i].mac, mac, 6);    /* kept across a later reboot too */
        virtio_net_set_mac(m->net[i], mac);
    }
    return 0;
}

static void save_config(struct machine *m, struct json_object *disks, struct snap_writer *w)
{
    struct json_object *o = machine_shape(m);
    json_object_object_add(o, "disks", json_object_get(disks));
    json_object_object_add(o, "boot", json_object_new_string(boot_kind_name(m->entry.kind)));
    json_object_object_add(o, "cmdline", json_object_new_string(m->cmdline));
    json_object_object_add(o, "config", vmm_config_to_json(m->vmm->cfg));
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    snap_begin(w, SNAP_CONFIG, 0);
    snap_blob(w, text, strlen(text));
    snap_end(w);
    json_object_put(o);
}

static void save_devices(struct machine *m, struct snap_writer *w)
{
    snap_begin(w, SNAP_DEVICE, DEV_SERIAL);
    serial_save(&m->serial, w);
    snap_begin(w, SNAP_DEVICE, DEV_I8042);
    i8042_save(&m->kbd, w);
    snap_begin(w, SNAP_DEVICE, DEV_RTC);
    rtc_save(&m->rtc, w);
    snap_begin(w, SNAP_DEVICE, DEV_ACPI_PM);
    acpi_pm_save(&m->acpi_pm, w);
    snap_begin(w, SNAP_DEVICE, DEV_HCALL);
    hcall_save(&m->hcall, w);
    for (int i = 0; i < m->nvdev; i++) {
        snap_begin(w, SNAP_DEVICE, DEV_VIRTIO0 + (uint32_t)i);
        virtio_save(m->vdev[i], w);
    }
    snap_end(w);
}

static int pwrite_all(int fd, const uint8_t *p, uint64_t len, uint64_t off)
{
    while (len) {
        ssize_t n = pwrite(fd, p, MIN(len, (uint64_t)1 << 30), (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    return 0;
}

/* Where guest RAM is: each slot and its place in the memory file. */
static void save_layout(struct machine *m, struct snap_writer *w)
{
    snap_begin(w, SNAP_MEMORY, 0);
    snap_u64(w, m->mem.size);
    snap_u32(w, (uint32_t)m->mem.nslots);
    uint64_t off = 0;
    for (int s = 0; s < m->mem.nslots; s++) {
        snap_u64(w, m->mem.slot[s].gpa);
        snap_u64(w, m->mem.slot[s].size);
        snap_u64(w, off);
        off += m->mem.slot[s].size;
    }
    snap_end(w);
}

int machine_save_state(struct machine *m, struct json_object *disks, struct snap_writer *w)
{
    save_config(m, disks, w);
    int r = 0;
    for (int i = 0; i < m->ncpus && r == 0; i++)
        r = save_vcpu(&m->vcpu[i], w);
    if (r == 0)
        r = save_vm(m, w);
    if (r == 0) {
        save_devices(m, w);
        save_layout(m, w);
        r = snap_finish(w);
    }
    return r;
}

/* Guest RAM into FD, slot after slot; pages of zeros stay holes.  Returns
 * the bytes written or a negative errno. */
static int64_t save_memory(struct machine *m, int fd)
{
    const size_t page = 4096, run_max = 1 << 20;
    int64_t written = 0;
    if (ftruncate(fd, (off_t)m->mem.size) < 0)
        return fail(errno, "cannot size the memory file: %m");
    uint64_t off = 0;
    for (int s = 0; s < m->mem.nslots; s++) {
        const struct mem_slot *sl = &m->mem.slot[s];
        for (uint64_t at = 0; at < sl->size;) {
            if (buf_is_zero(sl->hva + at, page)) {
                at += page;
                continue;
            }
            uint64_t run = page;    /* a run of pages with data, written at once */
            while (at + run < sl->size && run < run_max && !buf_is_zero(sl->hva + at + run, page))
                run += page;
            if (pwrite_all(fd, sl->hva + at, run, off + at) < 0)
                return fail(errno, "cannot write the memory file: %m");
            written += (int64_t)run;
            at += run;
        }
        off += sl->size;
    }
    return fdatasync(fd) < 0 ? fail(errno, "cannot write the memory file: %m") : written;
}

static int create_in(const char *dir, const char *name, int *fd)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return fail(ENAMETOOLONG, "snapshot path too long");
    /* O_EXCL: a snapshot never overwrites anything (the seccomp filter
     * allows no other kind of open). */
    *fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    return *fd < 0 ? fail(errno, "cannot create %s: %m%s", path,
                          errno == EEXIST ? " (a snapshot goes into an empty directory)" : "") : 0;
}

int machine_snapshot(struct machine *m, const char *dir, struct json_object **result)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int mem_fd = -1, state_fd = -1;
    struct snap_writer w;
    snap_writer_init(&w);
    struct json_object *disks = json_object_new_array();
    uint8_t rnd[8];
    char name[32];
    if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
        memset(rnd, 0, sizeof(rnd));
    snprintf(name, sizeof(name), "corral-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
             rnd[5], rnd[6], rnd[7]);
    int r = create_in(dir, "memory", &mem_fd);
    int64_t bytes = 0;
    if (r == 0)
        r = snapshot_disks(m, name, disks);
    if (r == 0)
        r = machine_save_state(m, disks, &w);
    if (r == 0)
        r = (int)MIN(0, bytes = save_memory(m, mem_fd));
    if (r == 0 && (r = create_in(dir, "state", &state_fd)) == 0 &&
        (write_all(state_fd, w.buf, w.len) < 0 || fdatasync(state_fd) < 0))
        r = fail(errno, "cannot write %s/state: %m", dir);
    if (mem_fd >= 0)
        close(mem_fd);
    if (state_fd >= 0)
        close(state_fd);
    size_t state_len = w.len;
    snap_writer_free(&w);
    if (r < 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        drop_disk_snapshots(m, disks);
        json_object_put(disks);
        return fail(-r, "%s", msg);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "path", json_object_new_string(dir));
    json_object_object_add(o, "memory_bytes_written", json_object_new_int64(bytes));
    json_object_object_add(o, "state_bytes", json_object_new_int64((int64_t)state_len));
    json_object_object_add(o, "disks", disks);
    json_object_object_add(o, "ms", json_object_new_int64((t1.tv_sec - t0.tv_sec) * 1000 +
                                                          (t1.tv_nsec - t0.tv_nsec) / 1000000));
    *result = o;
    return 0;
}

/* ---- restoring ------------------------------------------------------------- */

static struct json_object *config_of(const struct snap_file *f)
{
    struct snap_cursor c;
    snap_cursor_init(&c, snap_section(f, SNAP_CONFIG, 0));
    size_t len = 0;
    const uint8_t *text = snap_get_blob(&c, 1 << 20, &len);
    if (!text || snap_cursor_done(&c, "configuration") < 0)
        return NULL;
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = tok ? json_tokener_parse_ex(tok, (const char *)text, (int)len) : NULL;
    bool whole = tok && json_tokener_get_error(tok) == json_tokener_success &&
                 json_tokener_get_parse_end(tok) == len;
    if (tok)
        json_tokener_free(tok);
    if (!whole || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

int snapshot_parse(const uint8_t *buf, size_t len, struct snap_file *f, uint64_t *memory, unsigned *cpus,
                   struct json_object **config)
{
    int r = snap_parse(buf, len, f);
    if (r < 0)
        return r;
    struct json_object *cfg = config_of(f), *v;
    if (!cfg)
        return fail(EINVAL, "the snapshot's configuration section is missing or damaged");
    int64_t mem = json_object_object_get_ex(cfg, "memory", &v) ? json_object_get_int64(v) : -1;
    int n = json_object_object_get_ex(cfg, "cpus", &v) ? json_object_get_int(v) : -1;
    if (config)
        *config = cfg;
    else
        json_object_put(cfg);
    if (mem <= 0 || n < 1 || n > BOOT_MAX_CPUS)
        return fail(EINVAL, "the snapshot's configuration names no memory size or vCPU count");
    for (int i = 0; i < n; i++)
        if (!snap_section(f, SNAP_VCPU, (uint32_t)i) || !snap_section(f, SNAP_CPUID, (uint32_t)i))
            return fail(EINVAL, "the snapshot lacks vCPU %d's state", i);
    if (snap_sections(f, SNAP_VCPU) != (unsigned)n || !snap_section(f, SNAP_VM, 0) ||
        !snap_section(f, SNAP_MEMORY, 0))
        return fail(EINVAL, "the snapshot's sections do not describe one VM");
    *memory = (uint64_t)mem;
    *cpus = (unsigned)n;
    return 0;
}

static int read_state(const char *dir, uint8_t **buf, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/state", dir);
    int r = read_file(path, SNAP_MAX_FILE, buf, len);
    if (r == -ENOENT)
        return fail(ENOENT, "%s: no state file: not a snapshot, or one that was not finished", dir);
    return r < 0 ? fail(-r, "%s: %s", path, err_msg()) : 0;
}

/* Puts each qcow2 disk back the way it was at the snapshot (its internal
 * snapshot applied: what was written since is gone). */
static int apply_disk_snapshots(struct vmm *v)
{
    struct json_object *disks;
    int r = 0;
    if (!json_object_object_get_ex(v->restore->config, "disks", &disks) ||
        !json_object_is_type(disks, json_type_array))
        r = fail(EINVAL, "the snapshot's configuration does not list its disks");
    else if (json_object_array_length(disks) != (size_t)v->cfg->ndisks)
        r = fail(EINVAL, "the snapshot's VM had %zu disks; this one has %d", json_object_array_length(disks),
                 v->cfg->ndisks);
    for (int i = 0; r == 0 && i < v->cfg->ndisks; i++) {
        struct json_object *d = json_object_array_get_idx(disks, (size_t)i), *name;
        if (!json_object_object_get_ex(d, "snapshot", &name) || !json_object_is_type(name, json_type_string))
            continue;    /* raw or read-only: nothing to put back */
        if (blk_format_of(v->disk[i]) != BLK_FMT_QCOW2 || v->cfg->disk[i].readonly)
            r = fail(EINVAL, "disk %d (%s) must be the writable qcow2 image the snapshot was taken with", i,
                     v->cfg->disk[i].path);
        else if ((r = blk_snapshot_apply(v->disk[i], json_object_get_string(name))) < 0)
            r = fail(-r, "disk %d (%s): cannot go back to its snapshot %s: %s", i, v->cfg->disk[i].path,
                     json_object_get_string(name), err_msg());
    }
    return r;
}

int snapshot_take_state(struct vmm *v, uint8_t *buf, size_t len, const char *origin)
{
    struct snapshot_in *in = calloc(1, sizeof(*in));
    if (!in) {
        free(buf);
        return fail(ENOMEM, "out of memory");
    }
    in->mem_fd = -1;
    in->buf = buf;
    in->len = len;
    snprintf(in->origin, sizeof(in->origin), "%s", origin);
    v->restore = in;
    uint64_t memory;
    unsigned cpus;
    int r = snapshot_parse(in->buf, in->len, &in->file, &memory, &cpus, &in->config);
    if (r < 0)
        return fail(-r, "%s: %s", origin, err_msg());
    if (memory != v->cfg->memory)
        return fail(EINVAL, "%s: the snapshot is of a VM with %llu MiB of memory; give --memory %lluM", origin,
                    (unsigned long long)(memory >> 20), (unsigned long long)(memory >> 20));
    if (cpus != v->cfg->cpus)
        return fail(EINVAL, "%s: the snapshot is of a VM with %u vCPUs; give --cpus %u", origin, cpus, cpus);
    return 0;
}

int snapshot_open(struct vmm *v)
{
    const char *dir = v->cfg->restore;
    char origin[160];
    snprintf(origin, sizeof(origin), "--restore %.140s", dir);
    uint8_t *buf = NULL;
    size_t len = 0;
    int r = read_state(dir, &buf, &len);
    if (r < 0)
        return r;
    if ((r = snapshot_take_state(v, buf, len, origin)) < 0)
        return r;
    struct snapshot_in *in = v->restore;
    char path[4096];
    snprintf(path, sizeof(path), "%s/memory", dir);
    struct stat st;
    if ((in->mem_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(in->mem_fd, &st) < 0)
        return fail(errno, "%s: %s: %m", origin, path);
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != v->cfg->memory)
        return fail(EINVAL, "%s: the memory file is %lld bytes, the VM has %llu", origin, (long long)st.st_size,
                    (unsigned long long)v->cfg->memory);
    if ((r = apply_disk_snapshots(v)) < 0)
        return fail(-r, "%s: %s", origin, err_msg());
    return 0;
}

void snapshot_close(struct vmm *v)
{
    if (!v->restore)
        return;
    if (v->restore->mem_fd >= 0)
        close(v->restore->mem_fd);
    json_object_put(v->restore->config);
    free(v->restore->buf);
    free(v->restore);
    v->restore = NULL;
}

int snapshot_map_memory(struct vmm *v, struct guest_mem *mem)
{
    /* The layout must be the one this build gives the same memory size. */
    struct snap_cursor c;
    snap_cursor_init(&c, snap_section(&v->restore->file, SNAP_MEMORY, 0));
    uint64_t size = snap_get_u64(&c);
    uint32_t nslots = snap_get_u32(&c);
    int r = gm_map_file(mem, v->cfg->memory, v->restore->mem_fd);
    if (r < 0)
        return r;
    bool same = size == mem->size && nslots == (uint32_t)mem->nslots;
    uint64_t off = 0;
    for (int s = 0; s < mem->nslots; s++) {
        same = same && snap_get_u64(&c) == mem->slot[s].gpa && snap_get_u64(&c) == mem->slot[s].size &&
               snap_get_u64(&c) == off;
        off += mem->slot[s].size;
    }
    if (!same || snap_cursor_done(&c, "memory layout") < 0)
        return fail(EINVAL, "the snapshot's memory layout is not this VM's");
    return 0;
}

/* Feature leaves: what the saved CPUID offers must be there on this host
 * (as this host would describe a fresh VM of the same shape). */
static int check_cpuid(const struct kvm_cpuid2 *saved, const struct kvm_cpuid2 *fresh)
{
    static const struct { uint32_t fn, idx; } leaves[] = {
        { 1, 0 }, { 7, 0 }, { 7, 1 }, { 0xd, 0 }, { 0xd, 1 }, { 0x80000001, 0 }, { 0x80000007, 0 },
        { 0x80000008, 0 },
    };
    for (size_t l = 0; l < ARRAY_SIZE(leaves); l++) {
        const struct kvm_cpuid_entry2 *s = NULL, *h = NULL;
        for (uint32_t i = 0; i < saved->nent; i++)
            if (saved->entries[i].function == leaves[l].fn && saved->entries[i].index == leaves[l].idx)
                s = &saved->entries[i];
        for (uint32_t i = 0; i < fresh->nent; i++)
            if (fresh->entries[i].function == leaves[l].fn && fresh->entries[i].index == leaves[l].idx)
                h = &fresh->entries[i];
        if (!s)
            continue;
        /* 0x80000008 eax holds address sizes, not flags; 1 ebx the APIC id. */
        uint32_t sv[4] = { leaves[l].fn == 1 || leaves[l].fn == 0x80000008 ? 0 : s->eax,
                           leaves[l].fn == 1 ? 0 : s->ebx, s->ecx, s->edx };
        uint32_t hv[4] = { h ? h->eax : 0, h ? h->ebx : 0, h ? h->ecx : 0, h ? h->edx : 0 };
        if (leaves[l].fn == 0x80000008)
            sv[2] = sv[3] = 0;
        static const char *const reg[] = { "eax", "ebx", "ecx", "edx" };
        for (int i = 0; i < 4; i++)
            if (sv[i] & ~hv[i])
                return fail(ENOTSUP, "the snapshot needs CPU features this host lacks (CPUID leaf 0x%x.%u %s "
                            "bits 0x%x)", leaves[l].fn, leaves[l].idx, reg[i], sv[i] & ~hv[i]);
    }
    return 0;
}

static const uint8_t *blob_exact(struct snap_cursor *c, size_t want)
{
    size_t len = 0;
    const uint8_t *p = snap_get_blob(c, want, &len);
    if (p && len != want) {
        c->bad = true;
        return NULL;
    }
    return p;
}

static int vcpu_set(struct vcpu *c, unsigned long req, const void *arg, const char *what)
{
    int r = kvm_vcpu_ioctl(&c->k, req, (void *)arg);
    return r < 0 ? fail(-r, "restoring vCPU %d: %s: %s", c->k.id, what, strerror(-r)) : 0;
}

/* Copies of the payload's structures, aligned as the ioctls want them. */
static int restore_vcpu(struct vcpu *c, const struct snap_file *f)
{
    struct kvm_sys *sys = &c->m->vmm->kvm;
    char what[32];
    snprintf(what, sizeof(what), "vCPU %d", c->k.id);
    /* CPUID first: it decides which of the rest the vCPU accepts. */
    struct snap_cursor cur;
    snap_cursor_init(&cur, snap_section(f, SNAP_CPUID, (uint32_t)c->k.id));
    uint32_t nent = snap_get_u32(&cur);
    if (nent > MAX_CPUID)
        cur.bad = true;
    _cleanup_free_ struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) + (cur.bad ? 0 : nent) * sizeof(cpuid->entries[0]));
    _cleanup_free_ struct kvm_cpuid2 *fresh = NULL;
    if (!cpuid)
        return fail(ENOMEM, "out of memory");
    cpuid->nent = cur.bad ? 0 : nent;
    snap_get_bytes(&cur, cpuid->entries, cpuid->nent * sizeof(cpuid->entries[0]));
    int r = snap_cursor_done(&cur, "CPUID");
    if (r == 0 && (r = cpu_cpuid(&c->k, c->m->ncpus, &fresh)) == 0)
        r = check_cpuid(cpuid, fresh);
    if (r < 0 || (r = vcpu_set(c, KVM_SET_CPUID2, cpuid, "KVM_SET_CPUID2")) < 0)
        return r;

    snap_cursor_init(&cur, snap_section(f, SNAP_VCPU, (uint32_t)c->k.id));
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_xcrs xcrs;
    struct kvm_debugregs dregs;
    struct kvm_lapic_state lapic;
    struct kvm_vcpu_events events;
    const uint8_t *p;
    if ((p = blob_exact(&cur, sizeof(regs))))
        memcpy(&regs, p, sizeof(regs));
    if ((p = blob_exact(&cur, sizeof(sregs))))
        memcpy(&sregs, p, sizeof(sregs));
    size_t xlen = 0;
    const uint8_t *xs = snap_get_blob(&cur, 1 << 20, &xlen);
    if ((p = blob_exact(&cur, sizeof(xcrs))))
        memcpy(&xcrs, p, sizeof(xcrs));
    if ((p = blob_exact(&cur, sizeof(dregs))))
        memcpy(&dregs, p, sizeof(dregs));
    if ((p = blob_exact(&cur, sizeof(lapic))))
        memcpy(&lapic, p, sizeof(lapic));
    if ((p = blob_exact(&cur, sizeof(events))))
        memcpy(&events, p, sizeof(events));
    struct kvm_mp_state mp = { .mp_state = snap_get_u32(&cur) };
    uint32_t nmsrs = snap_get_u32(&cur);
    if (nmsrs > MAX_MSRS)
        cur.bad = true;
    _cleanup_free_ struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + (cur.bad ? 0 : nmsrs) * sizeof(msrs->entries[0]));
    if (!msrs)
        return fail(ENOMEM, "out of memory");
    msrs->nmsrs = cur.bad ? 0 : nmsrs;
    for (uint32_t i = 0; i < msrs->nmsrs; i++) {
        msrs->entries[i].index = snap_get_u32(&cur);
        msrs->entries[i].data = snap_get_u64(&cur);
    }
    if (mp.mp_state > KVM_MP_STATE_AP_RESET_HOLD)
        cur.bad = true;
    /* XSAVE: this host's size, or none on both sides. */
    if (!cur.bad && xs && xlen != sys->xsave_size)
        return fail(ENOTSUP, "the snapshot's %s has an XSAVE area of %zu bytes; this host's KVM uses %u",
                    what, xlen, sys->xsave_size);
    if ((r = snap_cursor_done(&cur, what)) < 0)
        return r;
    _cleanup_free_ uint8_t *xsave = xlen ? malloc(xlen) : NULL;
    if (xlen && !xsave)
        return fail(ENOMEM, "out of memory");
    if (xlen)
        memcpy(xsave, xs, xlen);
    /* The order Linux's KVM expects: state that others depend on first. */
    if ((r = vcpu_set(c, KVM_SET_MP_STATE, &mp, "KVM_SET_MP_STATE")) < 0 ||
        (r = vcpu_set(c, KVM_SET_REGS, &regs, "KVM_SET_REGS")) < 0 ||
        (r = vcpu_set(c, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS")) < 0 ||
        (xsave && (r = vcpu_set(c, KVM_SET_XSAVE, xsave, "KVM_SET_XSAVE")) < 0) ||
        (xsave && (r = vcpu_set(c, KVM_SET_XCRS, &xcrs, "KVM_SET_XCRS")) < 0) ||
        (r = vcpu_set(c, KVM_SET_DEBUGREGS, &dregs, "KVM_SET_DEBUGREGS")) < 0 ||
        (r = vcpu_set(c, KVM_SET_LAPIC, &lapic, "KVM_SET_LAPIC")) < 0)
        return r;
    int n = kvm_vcpu_ioctl(&c->k, KVM_SET_MSRS, msrs);
    if (n < 0 || (uint32_t)n != msrs->nmsrs)
        return fail(n < 0 ? -n : EINVAL, "restoring %s: KVM refuses MSR 0x%x", what,
                    n < 0 || (uint32_t)n >= msrs->nmsrs ? 0 : msrs->entries[n].index);
    return vcpu_set(c, KVM_SET_VCPU_EVENTS, &events, "KVM_SET_VCPU_EVENTS");
}

static int restore_vm(struct machine *m, const struct snap_file *f)
{
    struct snap_cursor c;
    snap_cursor_init(&c, snap_section(f, SNAP_VM, 0));
    struct kvm_irqchip chip[3];
    struct kvm_pit_state2 pit;
    const uint8_t *p;
    for (unsigned i = 0; i < 3; i++)
        if ((p = blob_exact(&c, sizeof(chip[i])))) {
            memcpy(&chip[i], p, sizeof(chip[i]));
            if (chip[i].chip_id != i)
                c.bad = true;
        }
    if ((p = blob_exact(&c, sizeof(pit))))
        memcpy(&pit, p, sizeof(pit));
    struct kvm_clock_data clock = { .clock = snap_get_u64(&c) };
    uint32_t khz = snap_get_u32(&c);
    int r = snap_cursor_done(&c, "VM");
    if (r < 0)
        return r;
    /* The guest's TSC runs at the rate it was calibrated against. */
    int here = kvm_vcpu_ioctl(&m->vcpu[0].k, KVM_GET_TSC_KHZ, NULL);
    for (int i = 0; khz && here > 0 && (uint32_t)here != khz && i < m->ncpus; i++) {
        int e = kvm_vcpu_ioctl(&m->vcpu[i].k, KVM_SET_TSC_KHZ, (void *)(uintptr_t)khz);
        if (e < 0)
            return fail(ENOTSUP, "the snapshot's TSC ran at %u kHz, this host's at %d kHz, and KVM cannot "
                        "scale it: %s", khz, here, strerror(-e));
    }
    for (unsigned i = 0; i < 3 && r == 0; i++)
        r = vm_get(m, KVM_SET_IRQCHIP, &chip[i], "restoring KVM_SET_IRQCHIP");
    if (r == 0)
        r = vm_get(m, KVM_SET_PIT2, &pit, "restoring KVM_SET_PIT2");
    if (r == 0)
        r = vm_get(m, KVM_SET_CLOCK, &clock, "restoring KVM_SET_CLOCK");
    return r;
}

static int restore_devices(struct machine *m, const struct snap_file *f)
{
    struct snap_cursor c[DEV_VIRTIO0];
    for (uint32_t i = 0; i < DEV_VIRTIO0; i++)
        snap_cursor_init(&c[i], snap_section(f, SNAP_DEVICE, i));
    int r;
    if ((r = serial_load(&m->serial, &c[DEV_SERIAL])) < 0 || (r = i8042_load(&m->kbd, &c[DEV_I8042])) < 0 ||
        (r = rtc_load(&m->rtc, &c[DEV_RTC])) < 0 || (r = acpi_pm_load(&m->acpi_pm, &c[DEV_ACPI_PM])) < 0 ||
        (r = hcall_load(&m->hcall, &c[DEV_HCALL])) < 0)
        return r;
    for (int i = 0; i < m->nvdev; i++) {
        struct snap_cursor vc;
        snap_cursor_init(&vc, snap_section(f, SNAP_DEVICE, DEV_VIRTIO0 + (uint32_t)i));
        if ((r = virtio_load(m->vdev[i], &vc)) < 0)
            return r;
    }
    if (snap_sections(f, SNAP_DEVICE) != (unsigned)(DEV_VIRTIO0 + m->nvdev))
        return fail(EINVAL, "the snapshot has state for more devices than this VM has");
    return 0;
}

int machine_restore(struct machine *m)
{
    const struct snap_file *f = &m->vmm->restore->file;
    struct json_object *cfg = m->vmm->restore->config, *have = machine_shape(m);
    const char *want = json_object_to_json_string_ext(json_object_object_get(cfg, "devices"), JSON_C_TO_STRING_PLAIN);
    int r = 0;
    if (strcmp(want, json_object_to_json_string_ext(json_object_object_get(have, "devices"), JSON_C_TO_STRING_PLAIN)))
        r = fail(EINVAL, "the snapshot's VM had the devices %s; this one has %s (give the same --disk, --net, "
                 "--virtio-console and --rng)", want,
                 json_object_to_json_string_ext(json_object_object_get(have, "devices"), JSON_C_TO_STRING_PLAIN));
    const char *boot = json_object_get_string(json_object_object_get(cfg, "boot")) ?: "";
    for (enum boot_kind k = BOOT_BZIMAGE; k <= BOOT_ELF32; k++)
        if (!strcmp(boot, boot_kind_name(k)))
            m->entry.kind = k;
    json_object_put(have);
    if (r == 0)
        r = machine_adopt_macs(m, json_object_object_get(cfg, "macs"));
    if (r == 0)
        r = restore_vm(m, f);
    for (int i = 0; i < m->ncpus && r == 0; i++)
        r = restore_vcpu(&m->vcpu[i], f);
    if (r == 0)
        r = restore_devices(m, f);
    return r < 0 ? fail(-r, "%s: %s", m->vmm->restore->origin, err_msg()) : 0;
}
