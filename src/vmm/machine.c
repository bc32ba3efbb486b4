/* One boot of the VM: guest memory, the KVM VM, devices, vCPU threads.
 * A reboot destroys the machine and builds a new one from the same
 * resources (struct vmm), so no guest state survives it. */
#include "vmm.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>

#include "boot/boot.h"

/* ---- services devices get (struct dev_host) ------------------------------ */

static struct machine *host_machine(struct dev_host *h) { return h->opaque; }

static void host_set_irq(struct dev_host *h, unsigned gsi, int level)
{
    kvm_irq_line(&host_machine(h)->vm, gsi, level);
}

static int host_irqfd(struct dev_host *h, int fd, unsigned gsi)
{
    return kvm_irqfd(&host_machine(h)->vm, fd, gsi);
}

static int host_ioeventfd(struct dev_host *h, int fd, uint64_t addr, unsigned len, uint64_t match)
{
    return kvm_ioeventfd(&host_machine(h)->vm, fd, addr, len, match);
}

static void host_request(struct dev_host *h, enum vm_request req)
{
    machine_request(host_machine(h), req);
}

static void host_report(struct dev_host *h, uint64_t key, uint64_t value)
{
    struct machine *m = host_machine(h);
    log_guest(LOG_INFO, "report %llu=%llu", (unsigned long long)key, (unsigned long long)value);
    pthread_mutex_lock(&m->lock);
    int i = 0;
    while (i < m->nreports && m->report[i].key != key)
        i++;
    if (i < MAX_REPORTS) {
        m->report[i].key = key;
        m->report[i].value = value;
        if (i == m->nreports)
            m->nreports++;
    }
    pthread_mutex_unlock(&m->lock);
}

/* ---- vCPU threads -------------------------------------------------------- */

static void kick_signal(int sig) { (void)sig; }

static void kick_all(struct machine *m)
{
    for (int i = 0; i < m->ncpus; i++) {
        struct vcpu *c = &m->vcpu[i];
        if (!c->started)
            continue;
        __atomic_store_n(&c->k.run->immediate_exit, 1, __ATOMIC_SEQ_CST);
        pthread_kill(c->thread, SIGUSR1);
    }
}

void machine_request(struct machine *m, enum vm_request req)
{
    int none = VM_REQ_NONE;
    if (req == VM_REQ_STOP) /* may lose to a reboot already under way: remembered beyond this machine */
        __atomic_store_n(&m->vmm->stop_wanted, true, __ATOMIC_SEQ_CST);
    if (atomic_compare_exchange_strong(&m->request, &none, (int)req)) {
        kick_all(m);
        /* A paused vCPU waits on the condition, which no signal ends. */
        pthread_mutex_lock(&m->lock);
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
        evloop_stop(m->vmm->loop);
    }
}

/* Parks the calling vCPU while a pause is wanted. */
static void park(struct machine *m)
{
    pthread_mutex_lock(&m->lock);
    m->parked++;
    pthread_cond_broadcast(&m->cond);
    while (m->pause_wanted && atomic_load(&m->request) == VM_REQ_NONE)
        pthread_cond_wait(&m->cond, &m->lock);
    m->parked--;
    pthread_mutex_unlock(&m->lock);
}

enum exit_action exit_dispatch(struct bus *pio, struct bus *mmio, struct kvm_run *run, size_t run_size)
{
    switch (run->exit_reason) {
    case KVM_EXIT_IO: {
        /* A string instruction (rep ins/outs) comes as COUNT items in the
         * run page; KVM keeps them inside it, and so do we, whatever it says. */
        uint64_t size = run->io.size, count = run->io.count, off = run->io.data_offset;
        if ((size != 1 && size != 2 && size != 4) || off > run_size || count > (run_size - off) / size)
            return EXIT_BAD;
        uint8_t *data = (uint8_t *)run + off;
        bool out = run->io.direction == KVM_EXIT_IO_OUT;
        for (uint64_t i = 0; i < count; i++)
            bus_access(pio, run->io.port, data + i * size, (unsigned)size, out);
        return EXIT_RESUME;
    }
    case KVM_EXIT_MMIO:
        if (run->mmio.len == 0 || run->mmio.len > sizeof(run->mmio.data))
            return EXIT_BAD;
        bus_access(mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len, run->mmio.is_write);
        return EXIT_RESUME;
    case KVM_EXIT_INTR:
    case KVM_EXIT_IRQ_WINDOW_OPEN:
        return EXIT_RESUME;
    case KVM_EXIT_HLT:
        /* Only without an in-kernel LAPIC; a halted CPU with nothing to
         * wake it is a powered-off machine. */
        return EXIT_POWEROFF;
    case KVM_EXIT_SYSTEM_EVENT:
        switch (run->system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN: return EXIT_POWEROFF;
        case KVM_SYSTEM_EVENT_RESET: return EXIT_REBOOT;
        default: return EXIT_BAD;
        }
    case KVM_EXIT_SHUTDOWN:
        return EXIT_TRIPLE_FAULT;
    default:
        return EXIT_BAD;
    }
}

static bool handle_exit(struct vcpu *c)
{
    struct machine *m = c->m;
    switch (exit_dispatch(&m->pio, &m->mmio, c->k.run, (size_t)m->vm.sys->run_size)) {
    case EXIT_RESUME:
        return true;
    case EXIT_POWEROFF:
        machine_request(m, VM_REQ_POWEROFF);
        return false;
    case EXIT_REBOOT:
        machine_request(m, VM_REQ_REBOOT);
        return false;
    case EXIT_TRIPLE_FAULT:
        fprintf(stderr, "corral-vmm: vCPU %d triple-faulted\n", c->k.id);
        cpu_dump(&c->k);
        machine_request(m, VM_REQ_CRASH);
        return false;
    case EXIT_BAD:
    default:
        cpu_dump(&c->k);
        machine_request(m, VM_REQ_CRASH);
        return false;
    }
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *c = arg;
    struct machine *m = c->m;
    char name[16];
    snprintf(name, sizeof(name), "vcpu%d", c->k.id);
    pthread_setname_np(pthread_self(), name);
    for (;;) {
        if (atomic_load(&m->request) != VM_REQ_NONE)
            break;
        if (__atomic_load_n(&m->pause_wanted, __ATOMIC_SEQ_CST)) {
            /* An I/O read's value reaches its register only on the next
             * entry: enter once, leaving at once, so that a snapshot or a
             * migration taken while parked holds the finished instruction. */
            if (c->io_pending) {
                __atomic_store_n(&c->k.run->immediate_exit, 1, __ATOMIC_SEQ_CST);
                kvm_vcpu_ioctl(&c->k, KVM_RUN, NULL);
                c->io_pending = false;
            }
            park(m);
            __atomic_store_n(&c->k.run->immediate_exit, 0, __ATOMIC_SEQ_CST);
            continue;
        }
        int r = kvm_vcpu_ioctl(&c->k, KVM_RUN, NULL);
        c->io_pending = false;    /* any entry completes it */
        if (r < 0) {
            if (r == -EINTR || r == -EAGAIN) {
                atomic_fetch_add_explicit(&c->exits[KVM_EXIT_INTR], 1, memory_order_relaxed);
                uint64_t ns = atomic_exchange(&c->throttle_ns, 0);
                if (ns) {    /* a pause or stop's kick cuts it short */
                    struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ULL),
                                           .tv_nsec = (long)(ns % 1000000000ULL) };
                    nanosleep(&ts, NULL);
                }
                /* Whoever kicked set its flag first, and the loop's top
                 * looks at the flags: clearing here loses no request. */
                __atomic_store_n(&c->k.run->immediate_exit, 0, __ATOMIC_SEQ_CST);
                continue;
            }
            log_error("vCPU %d: KVM_RUN: %s", c->k.id, strerror(-r));
            machine_request(m, VM_REQ_CRASH);
            break;
        }
        uint32_t reason = c->k.run->exit_reason;
        atomic_fetch_add_explicit(&c->exits[reason < KVM_EXIT_REASONS ? reason : 0], 1,
                                  memory_order_relaxed);
        c->io_pending = reason == KVM_EXIT_IO || reason == KVM_EXIT_MMIO;
        if (!handle_exit(c))
            break;
    }
    return NULL;
}

/* ---- building and running -------------------------------------------------- */

static int add_virtio(struct machine *m, struct virtio_dev *d)
{
    if (!d)
        return fail(ENOMEM, "out of memory");
    if (m->nvdev == VIRTIO_MAX_DEVICES) {
        virtio_dev_free(d);
        return fail(ENOSPC, "too many virtio devices");
    }
    m->vdev[m->nvdev] = d;
    /* Names are per instance ("virtio-blk0") so counters tell disks apart. */
    snprintf(m->vname[m->nvdev], sizeof(m->vname[0]), "%.16s%u", d->name, (unsigned)m->nvdev % 100);
    d->name = m->vname[m->nvdev];
    size_t len = strlen(m->cmdline);
    int r = virtio_mmio_add(d, &m->host, &m->mmio, (unsigned)m->nvdev, m->cmdline + len,
                            sizeof(m->cmdline) - len);
    m->nvdev++;
    return r;
}

static int create_devices(struct machine *m)
{
    struct vmm *v = m->vmm;
    struct vmm_config *cfg = v->cfg;
    int r;
    if ((r = serial_init(&m->serial, &m->host, &m->pio, v->console, COM1_PORT, COM1_IRQ)) < 0 ||
        (r = i8042_init(&m->kbd, &m->host, &m->pio)) < 0 ||
        (r = rtc_init(&m->rtc, &m->pio)) < 0 ||
        (r = hcall_init(&m->hcall, &m->host, &m->pio)) < 0 ||
        (r = acpi_pm_init(&m->acpi_pm, &m->host, &m->pio)) < 0)
        return r;
    for (int i = 0; i < cfg->ndisks; i++) {
        struct virtio_blk_cfg bc = { .disk = v->disk[i], .readonly = cfg->disk[i].readonly };
        snprintf(bc.serial, sizeof(bc.serial), "corral-disk%u", (unsigned)i % VMM_MAX_DISKS);
        struct virtio_dev *d = NULL;
        if ((r = virtio_blk_new(&d, &bc)) < 0 || (r = add_virtio(m, d)) < 0)
            return r;
    }
    for (int i = 0; i < cfg->nnets; i++) {
        struct virtio_net_cfg nc = { .tap_fd = v->tap_fd[i] };
        memcpy(nc.mac, cfg->net[i].mac, 6);
        struct virtio_dev *d = NULL;
        if ((r = virtio_net_new(&d, &nc)) < 0 || (r = add_virtio(m, d)) < 0)
            return r;
        m->net[i] = d;
    }
    if (cfg->vconsole.kind != CONSOLE_NONE) {
        struct virtio_dev *d = NULL;
        if ((r = virtio_console_new(&d, v->vconsole)) < 0 || (r = add_virtio(m, d)) < 0)
            return r;
    }
    if (cfg->rng) {
        struct virtio_dev *d = NULL;
        if ((r = virtio_rng_new(&d)) < 0 || (r = add_virtio(m, d)) < 0)
            return r;
    }
    return 0;
}

int machine_create(struct vmm *v, struct machine **out)
{
    struct vmm_config *cfg = v->cfg;
    struct machine *m = calloc(1, sizeof(*m));
    if (!m)
        return fail(ENOMEM, "out of memory");
    m->vmm = v;
    m->ncpus = (int)cfg->cpus;
    m->vm.fd = -1;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    atomic_init(&m->request, VM_REQ_NONE);
    m->host = (struct dev_host){
        .mem = &m->mem, .loop = v->loop, .opaque = m, .set_irq = host_set_irq,
        .irqfd = host_irqfd, .ioeventfd = host_ioeventfd, .request = host_request,
        .report = host_report,
    };
    snprintf(m->cmdline, sizeof(m->cmdline), "%s", cfg->cmdline ? cfg->cmdline : "");
    int r;
    bool restore = v->restore != NULL;    /* the first machine after --restore */
    /* Its state comes from a snapshot or a migration, not from a boot. */
    bool blank = restore || (cfg->incoming && v->boots == 0);
    if ((r = restore ? snapshot_map_memory(v, &m->mem) : gm_alloc(&m->mem, cfg->memory)) < 0 ||
        (r = kvm_vm_create(&m->vm, &v->kvm, &m->mem)) < 0 ||
        (r = create_devices(m)) < 0)
        goto fail;
    static const struct boot_acpi_pm acpi = {
        .pm1a_evt = ACPI_PM1A_EVT, .pm1a_cnt = ACPI_PM1A_CNT, .reset = ACPI_PM_RESET,
        .reset_value = ACPI_PM_RESET_VALUE, .sci_irq = ACPI_SCI_IRQ,
    };
    struct boot_mmio_dev mmio[VIRTIO_MAX_DEVICES];
    for (int i = 0; i < m->nvdev; i++)
        mmio[i] = (struct boot_mmio_dev){ m->vdev[i]->mmio_base, VIRTIO_MMIO_SIZE, m->vdev[i]->irq };
    struct boot_params_in in = {
        .acpi = &acpi, .mmio = mmio, .nmmio = m->nvdev,
        .kernel = v->kernel, .kernel_len = v->kernel_len,
        .initrd = v->initrd, .initrd_len = v->initrd_len,
        .cmdline = m->cmdline, .ncpus = m->ncpus,
    };
    if (!blank && (r = boot_load(&m->mem, &in, &m->entry)) < 0)
        goto fail;
    m->vcpu = calloc((size_t)m->ncpus, sizeof(*m->vcpu));
    if (!m->vcpu) {
        r = fail(ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < m->ncpus; i++) {
        m->vcpu[i].m = m;
        m->vcpu[i].k.fd = -1;
        if ((r = kvm_vcpu_create(&m->vcpu[i].k, &m->vm, i)) < 0 ||
            (!blank && (r = cpu_setup(&m->vcpu[i].k, m->ncpus, &m->entry)) < 0))
            goto fail;
    }
    if (restore) {
        r = machine_restore(m);
        snapshot_close(v);    /* a later reboot boots the kernel */
        if (r < 0)
            goto fail;
    }
    log_debug("%s kernel, entry 0x%llx, cmdline: %s", boot_kind_name(m->entry.kind),
              (unsigned long long)m->entry.rip, m->cmdline);
    *out = m;
    return 0;
fail:
    machine_destroy(m);
    return r;
}

void machine_destroy(struct machine *m)
{
    if (!m)
        return;
    for (int i = 0; m->vcpu && i < m->ncpus; i++)
        kvm_vcpu_destroy(&m->vcpu[i].k);
    free(m->vcpu);
    for (int i = 0; i < m->nvdev; i++) {
        virtio_mmio_remove(m->vdev[i]);
        virtio_dev_free(m->vdev[i]);
    }
    if (m->serial.host)
        serial_stop(&m->serial);
    if (m->vm.fd >= 0)
        kvm_vm_destroy(&m->vm);
    gm_free(&m->mem);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    free(m);
}

int machine_start(struct machine *m)
{
    struct sigaction sa = { .sa_handler = kick_signal };
    sigaction(SIGUSR1, &sa, NULL);
    for (int i = 0; i < m->ncpus; i++) {
        int r = pthread_create(&m->vcpu[i].thread, NULL, vcpu_thread, &m->vcpu[i]);
        if (r) {
            machine_request(m, VM_REQ_STOP);
            return fail(r, "cannot start vCPU thread: %s", strerror(r));
        }
        m->vcpu[i].started = true;
    }
    return 0;
}

enum vm_request machine_wait(struct machine *m)
{
    for (int i = 0; i < m->ncpus; i++) {
        if (m->vcpu[i].started) {
            pthread_join(m->vcpu[i].thread, NULL);
            m->vcpu[i].started = false;
        }
    }
    return (enum vm_request)atomic_load(&m->request);
}

int machine_pause(struct machine *m)
{
    pthread_mutex_lock(&m->lock);
    __atomic_store_n(&m->pause_wanted, true, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&m->lock);
    kick_all(m);
    pthread_mutex_lock(&m->lock);
    while (m->parked < m->ncpus && atomic_load(&m->request) == VM_REQ_NONE)
        pthread_cond_wait(&m->cond, &m->lock);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

int machine_resume(struct machine *m)
{
    pthread_mutex_lock(&m->lock);
    __atomic_store_n(&m->pause_wanted, false, __ATOMIC_SEQ_CST);
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

void machine_ctrl_alt_del(struct machine *m) { i8042_ctrl_alt_del(&m->kbd); }

void machine_announce(struct machine *m)
{
    for (int i = 0; i < m->vmm->cfg->nnets; i++)
        if (virtio_net_announce(m->net[i]) < 0)
            log_warn("%s", err_msg());
}

void machine_throttle(struct machine *m, uint64_t ns)
{
    for (int i = 0; i < m->ncpus; i++)
        atomic_store(&m->vcpu[i].throttle_ns, ns);
    kick_all(m);
}

enum machine_state machine_state(struct machine *m)
{
    if (atomic_load(&m->request) != VM_REQ_NONE)
        return MACHINE_STOPPING;
    return __atomic_load_n(&m->pause_wanted, __ATOMIC_SEQ_CST) ? MACHINE_PAUSED : MACHINE_RUNNING;
}

static const char *state_name(enum machine_state s)
{
    return s == MACHINE_RUNNING ? "running" : s == MACHINE_PAUSED ? "paused" : "stopping";
}

struct json_object *machine_describe(struct machine *m)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "state", json_object_new_string(state_name(machine_state(m))));
    json_object_object_add(o, "config", vmm_config_to_json(m->vmm->cfg));
    json_object_object_add(o, "boot", json_object_new_string(boot_kind_name(m->entry.kind)));
    json_object_object_add(o, "boots", json_object_new_int((int)m->vmm->boots));
    json_object_object_add(o, "memory", json_object_new_int64((int64_t)m->mem.size));
    struct json_object *cpus = json_object_new_array();
    for (int i = 0; i < m->ncpus; i++) {
        struct json_object *c = json_object_new_object();
        json_object_object_add(c, "id", json_object_new_int(i));
        json_object_object_add(c, "thread_started", json_object_new_boolean(m->vcpu[i].started));
        json_object_array_add(cpus, c);
    }
    json_object_object_add(o, "vcpus", cpus);
    json_object_object_add(o, "cmdline", json_object_new_string(m->cmdline));
    struct json_object *rep = json_object_new_object();
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < m->nreports; i++) {
        char key[24];
        snprintf(key, sizeof(key), "%llu", (unsigned long long)m->report[i].key);
        json_object_object_add(rep, key, json_object_new_int64((int64_t)m->report[i].value));
    }
    pthread_mutex_unlock(&m->lock);
    json_object_object_add(o, "reports", rep);
    return o;
}

struct json_object *machine_counters(struct machine *m)
{
    struct json_object *o = json_object_new_object();
    struct json_object *exits = json_object_new_object();
    for (unsigned r = 0; r < KVM_EXIT_REASONS; r++) {
        uint64_t n = 0;
        for (int i = 0; i < m->ncpus; i++)
            n += atomic_load(&m->vcpu[i].exits[r]);
        if (n) {
            /* Several KVM reasons share the name "other". */
            struct json_object *prev;
            const char *name = kvm_exit_name(r);
            if (json_object_object_get_ex(exits, name, &prev))
                n += (uint64_t)json_object_get_int64(prev);
            json_object_object_add(exits, name, json_object_new_int64((int64_t)n));
        }
    }
    json_object_object_add(o, "exits", exits);
    struct json_object *devs = json_object_new_object();
    struct bus *buses[] = { &m->pio, &m->mmio };
    for (size_t b = 0; b < ARRAY_SIZE(buses); b++) {
        for (int i = 0; i < buses[b]->n; i++) {
            struct bus_region *reg = &buses[b]->region[i];
            struct json_object *d = json_object_new_object();
            json_object_object_add(d, "accesses", json_object_new_int64((int64_t)atomic_load(&reg->accesses)));
            json_object_object_add(devs, reg->name, d);
        }
    }
    for (int i = 0; i < m->nvdev; i++) {
        struct json_object *d;
        if (json_object_object_get_ex(devs, m->vdev[i]->name, &d)) {
            json_object_object_add(d, "requests", json_object_new_int64((int64_t)atomic_load(&m->vdev[i]->requests)));
            json_object_object_add(d, "errors", json_object_new_int64((int64_t)atomic_load(&m->vdev[i]->errors)));
        }
    }
    json_object_object_add(o, "devices", devs);
    json_object_object_add(o, "unclaimed_pio", json_object_new_int64((int64_t)atomic_load(&m->pio.unclaimed)));
    json_object_object_add(o, "unclaimed_mmio", json_object_new_int64((int64_t)atomic_load(&m->mmio.unclaimed)));
    json_object_object_add(o, "serial_tx_bytes", json_object_new_int64((int64_t)atomic_load(&m->serial.tx_bytes)));
    json_object_object_add(o, "serial_rx_bytes", json_object_new_int64((int64_t)atomic_load(&m->serial.rx_bytes)));
    json_object_object_add(o, "hypercalls", json_object_new_int64((int64_t)atomic_load(&m->hcall.calls)));
    return o;
}
