#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/util.h"

#define TSS_ADDR 0xfffbd000ULL

static int check_cap(struct kvm_sys *sys, int cap, const char *name)
{
    if (ioctl(sys->fd, KVM_CHECK_EXTENSION, cap) <= 0)
        return fail(ENOTSUP, "/dev/kvm lacks %s", name);
    return 0;
}

int kvm_sys_open(struct kvm_sys *sys, const char *path)
{
    memset(sys, 0, sizeof(*sys));
    path = path ? path : "/dev/kvm";
    sys->fd = open(path, O_RDWR | O_CLOEXEC);
    if (sys->fd < 0)
        return fail(errno, "cannot open %s: %s%s", path, strerror(errno),
                    errno == ENOENT ? " (no KVM on this host: load kvm-intel or kvm-amd)" : "");
    int r, ver = ioctl(sys->fd, KVM_GET_API_VERSION, 0);
    if (ver != KVM_API_VERSION) {
        kvm_sys_close(sys);
        return fail(ENOTSUP, "%s speaks KVM API %d, need %d", path, ver, KVM_API_VERSION);
    }
    if ((r = check_cap(sys, KVM_CAP_IRQCHIP, "an in-kernel irqchip")) < 0 ||
        (r = check_cap(sys, KVM_CAP_USER_MEMORY, "user memory")) < 0 ||
        (r = check_cap(sys, KVM_CAP_IRQFD, "irqfd")) < 0 ||
        (r = check_cap(sys, KVM_CAP_IOEVENTFD, "ioeventfd")) < 0 ||
        (r = check_cap(sys, KVM_CAP_PIT2, "PIT2")) < 0 ||
        (r = check_cap(sys, KVM_CAP_EXT_CPUID, "extended CPUID")) < 0) {
        kvm_sys_close(sys);
        return r;
    }
    sys->run_size = ioctl(sys->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    sys->max_vcpus = ioctl(sys->fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (sys->max_vcpus <= 0)
        sys->max_vcpus = ioctl(sys->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    if (sys->max_vcpus <= 0)
        sys->max_vcpus = 4;
    /* The supported-CPUID list grows with CPU generations: retry bigger. */
    for (int n = 64; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
        if (!c)
            break;
        c->nent = (uint32_t)n;
        if (ioctl(sys->fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
            sys->cpuid = c;
            break;
        }
        free(c);
        if (errno != E2BIG)
            break;
    }
    if (!sys->cpuid || sys->run_size <= 0) {
        kvm_sys_close(sys);
        return fail(ENOTSUP, "%s: cannot read supported CPUID", path);
    }
    /* The MSRs a snapshot saves: KVM's list, which asks to be retried
     * with the size it reports. */
    struct kvm_msr_list probe = { .nmsrs = 0 };
    if (ioctl(sys->fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno == E2BIG && probe.nmsrs < 4096) {
        sys->msrs = calloc(1, sizeof(*sys->msrs) + probe.nmsrs * sizeof(uint32_t));
        if (sys->msrs) {
            sys->msrs->nmsrs = probe.nmsrs;
            if (ioctl(sys->fd, KVM_GET_MSR_INDEX_LIST, sys->msrs) < 0) {
                free(sys->msrs);
                sys->msrs = NULL;
            }
        }
    }
    int xs = ioctl(sys->fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
    sys->xsave_size = xs >= (int)sizeof(struct kvm_xsave) ? (unsigned)xs
                    : ioctl(sys->fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0 ? sizeof(struct kvm_xsave) : 0;
    /* The in-kernel LAPIC has a TSC-deadline timer, which KVM reports as a
     * capability rather than in the list.  Offering it spares guests the
     * LAPIC timer calibration, which fails when the host is slow (Linux then
     * falls back to the PIT broadcasting ticks to every CPU by IPI). */
    if (ioctl(sys->fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0) {
        for (uint32_t i = 0; i < sys->cpuid->nent; i++)
            if (sys->cpuid->entries[i].function == 1)
                sys->cpuid->entries[i].ecx |= 1u << 24;
    }
    return 0;
}

void kvm_sys_close(struct kvm_sys *sys)
{
    if (sys->fd >= 0)
        close(sys->fd);
    free(sys->cpuid);
    free(sys->msrs);
    memset(sys, 0, sizeof(*sys));
    sys->fd = -1;
}

int kvm_vm_ioctl(struct kvm_vm *vm, unsigned long req, void *arg)
{
    int r;
    do
        r = ioctl(vm->fd, req, arg);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

/* (Re)registers every slot of MEM with FLAGS. */
static int map_slots(struct kvm_vm *vm, const struct guest_mem *mem, uint32_t flags)
{
    for (int i = 0; i < mem->nslots; i++) {
        struct kvm_userspace_memory_region reg = {
            .slot = (uint32_t)i,
            .flags = flags,
            .guest_phys_addr = mem->slot[i].gpa,
            .memory_size = mem->slot[i].size,
            .userspace_addr = (uintptr_t)mem->slot[i].hva,
        };
        int r = kvm_vm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &reg);
        if (r < 0)
            return r;
    }
    return 0;
}

int kvm_vm_create(struct kvm_vm *vm, struct kvm_sys *sys, const struct guest_mem *mem)
{
    memset(vm, 0, sizeof(*vm));
    vm->sys = sys;
    vm->fd = ioctl(sys->fd, KVM_CREATE_VM, 0);
    if (vm->fd < 0)
        return fail(errno, "KVM_CREATE_VM: %s", strerror(errno));
    int r;
    if ((r = kvm_vm_ioctl(vm, KVM_SET_TSS_ADDR, (void *)(uintptr_t)TSS_ADDR)) < 0) {
        kvm_vm_destroy(vm);
        return fail(-r, "KVM_SET_TSS_ADDR: %s", strerror(-r));
    }
    uint64_t idmap = TSS_ADDR + 3 * 4096;
    kvm_vm_ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &idmap); /* VMX only; harmless elsewhere */
    if ((r = kvm_vm_ioctl(vm, KVM_CREATE_IRQCHIP, NULL)) < 0) {
        kvm_vm_destroy(vm);
        return fail(-r, "KVM_CREATE_IRQCHIP: %s", strerror(-r));
    }
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    if ((r = kvm_vm_ioctl(vm, KVM_CREATE_PIT2, &pit)) < 0) {
        kvm_vm_destroy(vm);
        return fail(-r, "KVM_CREATE_PIT2: %s", strerror(-r));
    }
    if ((r = map_slots(vm, mem, 0)) < 0) {
        kvm_vm_destroy(vm);
        return fail(-r, "cannot map guest memory into the VM: %s", strerror(-r));
    }
    return 0;
}

int kvm_vm_log_dirty(struct kvm_vm *vm, const struct guest_mem *mem, bool on)
{
    int r = map_slots(vm, mem, on ? KVM_MEM_LOG_DIRTY_PAGES : 0);
    return r < 0 ? fail(-r, "cannot turn dirty-page logging %s: %s", on ? "on" : "off", strerror(-r)) : 0;
}

int kvm_vm_get_dirty(struct kvm_vm *vm, const struct guest_mem *mem, int s, uint64_t *bitmap)
{
    size_t words = (size_t)((mem->slot[s].size / 4096 + 63) / 64);
    uint64_t *got = calloc(words, sizeof(uint64_t));
    if (!got)
        return fail(ENOMEM, "out of memory");
    struct kvm_dirty_log log = { .slot = (uint32_t)s, .dirty_bitmap = got };
    int r = kvm_vm_ioctl(vm, KVM_GET_DIRTY_LOG, &log);
    for (size_t w = 0; r == 0 && w < words; w++)
        bitmap[w] |= got[w];
    free(got);
    return r < 0 ? fail(-r, "KVM_GET_DIRTY_LOG: %s", strerror(-r)) : 0;
}

void kvm_vm_destroy(struct kvm_vm *vm)
{
    if (vm->fd > 0)
        close(vm->fd);
    vm->fd = -1;
}

int kvm_irq_line(struct kvm_vm *vm, unsigned gsi, int level)
{
    struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)level };
    return kvm_vm_ioctl(vm, KVM_IRQ_LINE, &l);
}

int kvm_irqfd(struct kvm_vm *vm, int fd, unsigned gsi)
{
    struct kvm_irqfd req = { .fd = (uint32_t)fd, .gsi = gsi };
    int r = kvm_vm_ioctl(vm, KVM_IRQFD, &req);
    return r < 0 ? fail(-r, "KVM_IRQFD: %s", strerror(-r)) : 0;
}

int kvm_ioeventfd(struct kvm_vm *vm, int fd, uint64_t addr, unsigned len, uint64_t match)
{
    struct kvm_ioeventfd req = {
        .datamatch = match, .addr = addr, .len = len, .fd = fd,
        .flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
    };
    int r = kvm_vm_ioctl(vm, KVM_IOEVENTFD, &req);
    return r < 0 ? fail(-r, "KVM_IOEVENTFD: %s", strerror(-r)) : 0;
}

int kvm_vcpu_ioctl(struct kvm_vcpu *v, unsigned long req, void *arg)
{
    int r = ioctl(v->fd, req, arg);
    return r < 0 ? -errno : r;
}

int kvm_vcpu_create(struct kvm_vcpu *v, struct kvm_vm *vm, int id)
{
    memset(v, 0, sizeof(*v));
    v->vm = vm;
    v->id = id;
    v->fd = ioctl(vm->fd, KVM_CREATE_VCPU, id);
    if (v->fd < 0)
        return fail(errno, "cannot create vCPU %d: %s", id, strerror(errno));
    v->run = mmap(NULL, (size_t)vm->sys->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        int e = errno;
        close(v->fd);
        v->fd = -1;
        v->run = NULL;
        return fail(e, "cannot map vCPU %d state: %s", id, strerror(e));
    }
    return 0;
}

void kvm_vcpu_destroy(struct kvm_vcpu *v)
{
    if (v->run)
        munmap(v->run, (size_t)v->vm->sys->run_size);
    if (v->fd > 0)
        close(v->fd);
    v->run = NULL;
    v->fd = -1;
}

const char *kvm_exit_name(uint32_t reason)
{
    static const char *const names[] = {
        [KVM_EXIT_UNKNOWN] = "unknown", [KVM_EXIT_EXCEPTION] = "exception",
        [KVM_EXIT_IO] = "io", [KVM_EXIT_HYPERCALL] = "hypercall",
        [KVM_EXIT_DEBUG] = "debug", [KVM_EXIT_HLT] = "hlt", [KVM_EXIT_MMIO] = "mmio",
        [KVM_EXIT_IRQ_WINDOW_OPEN] = "irq_window_open", [KVM_EXIT_SHUTDOWN] = "shutdown",
        [KVM_EXIT_FAIL_ENTRY] = "fail_entry", [KVM_EXIT_INTR] = "intr",
        [KVM_EXIT_SET_TPR] = "set_tpr", [KVM_EXIT_TPR_ACCESS] = "tpr_access",
        [KVM_EXIT_NMI] = "nmi", [KVM_EXIT_INTERNAL_ERROR] = "internal_error",
        [KVM_EXIT_SYSTEM_EVENT] = "system_event",
    };
    if (reason < ARRAY_SIZE(names) && names[reason])
        return names[reason];
    return "other";
}
