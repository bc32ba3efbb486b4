/* vCPU state at power-on: CPUID as the guest should see it, MSRs, FPU,
 * local APIC wiring and the registers the boot protocol asks for. */
#include "vmm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "boot/boot.h"

#define CPUID_HYPERVISOR (1u << 31)
#define CPUID_HTT (1u << 28)
#define KVM_SIGNATURE_LEAF 0x40000000

#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

#define CR0_PE 0x1ULL
#define CR0_ET 0x10ULL
#define CR0_NE 0x20ULL
#define CR0_PG 0x80000000ULL
#define CR4_PAE 0x20ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL

static unsigned bits_for(unsigned n)
{
    unsigned b = 0;
    while ((1u << b) < n)
        b++;
    return b;
}

/* Makes the host's supported CPUID describe this VM: one socket with
 * `ncpus` single-threaded cores, APIC id = vCPU index, and the KVM
 * signature so Linux finds kvmclock and the other paravirt features. */
static void normalize_cpuid(struct kvm_cpuid2 *c, unsigned id, unsigned ncpus)
{
    unsigned shift = bits_for(ncpus);
    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        switch (e->function) {
        case 1:
            e->ebx = (e->ebx & 0x0000ffff) | (id << 24) | ((ncpus > 1 ? ncpus : 1) << 16);
            e->ecx |= CPUID_HYPERVISOR;
            if (ncpus > 1)
                e->edx |= CPUID_HTT;
            break;
        case 4: /* Intel cache topology: cores sharing the package */
            e->eax = (e->eax & 0x03ffffff) | ((ncpus - 1) << 26);
            break;
        case 0xa: /* no virtual PMU: keeps guests off MSRs we do not model */
            e->eax = e->ebx = e->ecx = e->edx = 0;
            break;
        case 0xb:
        case 0x1f:
            e->edx = id;
            if (e->index == 0) {          /* SMT level: one thread per core */
                e->eax = 0;
                e->ebx = 1;
                e->ecx = (1u << 8);
            } else if (e->index == 1) {   /* core level */
                e->eax = shift;
                e->ebx = ncpus;
                e->ecx = (2u << 8) | 1;
            } else {
                e->eax = e->ebx = 0;
                e->ecx = e->index;
            }
            break;
        case KVM_SIGNATURE_LEAF:
            e->eax = KVM_SIGNATURE_LEAF + 1;
            memcpy(&e->ebx, "KVMK", 4);
            memcpy(&e->ecx, "VMKV", 4);
            memcpy(&e->edx, "M\0\0\0", 4);
            break;
        case 0x80000008: /* AMD: number of cores, APIC id size */
            e->ecx = (e->ecx & ~0xf0ffu) | (ncpus - 1) | (shift << 12);
            break;
        case 0x8000001e: /* AMD extended APIC id / core id */
            e->eax = id;
            e->ebx = id & 0xff;
            e->ecx = 0;
            break;
        }
    }
}

int cpu_cpuid(struct kvm_vcpu *v, int ncpus, struct kvm_cpuid2 **out)
{
    const struct kvm_cpuid2 *sup = v->vm->sys->cpuid;
    size_t sz = sizeof(*sup) + sup->nent * sizeof(sup->entries[0]);
    struct kvm_cpuid2 *c = malloc(sz);
    if (!c)
        return fail(ENOMEM, "out of memory");
    memcpy(c, sup, sz);
    normalize_cpuid(c, (unsigned)v->id, (unsigned)ncpus);
    *out = c;
    return 0;
}

static int set_cpuid(struct kvm_vcpu *v, unsigned ncpus)
{
    _cleanup_free_ struct kvm_cpuid2 *c = NULL;
    int r = cpu_cpuid(v, (int)ncpus, &c);
    if (r == 0 && (r = kvm_vcpu_ioctl(v, KVM_SET_CPUID2, c)) < 0)
        r = fail(-r, "vCPU %d: KVM_SET_CPUID2: %s", v->id, strerror(-r));
    return r;
}

static int set_msrs(struct kvm_vcpu *v)
{
    static const uint32_t zero[] = {
        MSR_IA32_SYSENTER_CS, MSR_IA32_SYSENTER_ESP, MSR_IA32_SYSENTER_EIP, MSR_STAR,
        MSR_LSTAR, MSR_CSTAR, MSR_SYSCALL_MASK, MSR_KERNEL_GS_BASE, MSR_IA32_TSC,
    };
    enum { N = ARRAY_SIZE(zero) + 1 };
    union {
        struct kvm_msrs hdr;
        uint8_t bytes[sizeof(struct kvm_msrs) + N * sizeof(struct kvm_msr_entry)];
    } m;
    memset(&m, 0, sizeof(m));
    struct kvm_msr_entry *e = m.hdr.entries;
    for (size_t i = 0; i < ARRAY_SIZE(zero); i++)
        e[i].index = zero[i];
    e[N - 1] = (struct kvm_msr_entry){ .index = MSR_IA32_MISC_ENABLE, .data = 1 };
    m.hdr.nmsrs = N;
    int r = kvm_vcpu_ioctl(v, KVM_SET_MSRS, &m);
    /* KVM sets MSRs in order and stops at the first it refuses; the last
     * (fast-strings enable) is optional. */
    if (r < (int)ARRAY_SIZE(zero))
        return fail(r < 0 ? -r : EINVAL, "vCPU %d: KVM_SET_MSRS set %d of %d", v->id, r, (int)N);
    return 0;
}

static int set_fpu_lapic(struct kvm_vcpu *v)
{
    struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
    int r = kvm_vcpu_ioctl(v, KVM_SET_FPU, &fpu);
    if (r < 0)
        return fail(-r, "vCPU %d: KVM_SET_FPU: %s", v->id, strerror(-r));
    /* As PC firmware leaves it: LINT0 delivers the PIC (ExtINT), LINT1 NMIs. */
    struct kvm_lapic_state lapic;
    if ((r = kvm_vcpu_ioctl(v, KVM_GET_LAPIC, &lapic)) < 0)
        return fail(-r, "vCPU %d: KVM_GET_LAPIC: %s", v->id, strerror(-r));
    uint32_t lvt0 = 0x700, lvt1 = 0x400;
    memcpy(&lapic.regs[0x350], &lvt0, 4);
    memcpy(&lapic.regs[0x360], &lvt1, 4);
    if ((r = kvm_vcpu_ioctl(v, KVM_SET_LAPIC, &lapic)) < 0)
        return fail(-r, "vCPU %d: KVM_SET_LAPIC: %s", v->id, strerror(-r));
    return 0;
}

static struct kvm_segment seg(uint16_t sel, uint8_t type, bool l, bool db)
{
    return (struct kvm_segment){
        .base = 0, .limit = 0xffffffff, .selector = sel, .type = type, .present = 1,
        .dpl = 0, .db = db, .s = 1, .l = l, .g = 1,
    };
}

static int set_boot_regs(struct kvm_vcpu *v, const struct boot_entry *e)
{
    struct kvm_sregs sr;
    int r = kvm_vcpu_ioctl(v, KVM_GET_SREGS, &sr);
    if (r < 0)
        return fail(-r, "vCPU %d: KVM_GET_SREGS: %s", v->id, strerror(-r));
    struct kvm_segment data = seg(BOOT_SEL_DATA, 0x3, false, true);
    sr.cs = e->long_mode ? seg(BOOT_SEL_CODE64, 0xb, true, false) : seg(BOOT_SEL_CODE32, 0xb, false, true);
    sr.ds = sr.es = sr.fs = sr.gs = sr.ss = data;
    sr.tr = (struct kvm_segment){ .selector = 0x20, .limit = 0x67, .type = 0xb, .present = 1 };
    sr.ldt = (struct kvm_segment){ .type = 0x2, .present = 1, .limit = 0xffff };
    sr.gdt.base = BOOT_GDT_ADDR;
    sr.gdt.limit = 5 * 8 - 1;
    sr.idt.base = 0;
    sr.idt.limit = 0;
    if (e->long_mode) {
        sr.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
        sr.cr3 = BOOT_PML4_ADDR;
        sr.cr4 = CR4_PAE;
        sr.efer = EFER_LME | EFER_LMA;
    } else {
        sr.cr0 = CR0_PE | CR0_ET;
        sr.cr3 = 0;
        sr.cr4 = 0;
        sr.efer = 0;
    }
    if ((r = kvm_vcpu_ioctl(v, KVM_SET_SREGS, &sr)) < 0)
        return fail(-r, "vCPU %d: KVM_SET_SREGS: %s", v->id, strerror(-r));
    struct kvm_regs regs = { .rflags = 0x2, .rip = e->rip, .rsi = e->rsi, .rbx = e->rbx };
    if ((r = kvm_vcpu_ioctl(v, KVM_SET_REGS, &regs)) < 0)
        return fail(-r, "vCPU %d: KVM_SET_REGS: %s", v->id, strerror(-r));
    return 0;
}

int cpu_setup(struct kvm_vcpu *v, int ncpus, const struct boot_entry *entry)
{
    int r;
    if ((r = set_cpuid(v, (unsigned)ncpus)) < 0 || (r = set_msrs(v)) < 0 ||
        (r = set_fpu_lapic(v)) < 0)
        return r;
    /* Application processors wait for INIT/SIPI from the guest (in-kernel
     * LAPIC); only the boot processor starts at the kernel's entry. */
    if (v->id == 0)
        return set_boot_regs(v, entry);
    return 0;
}

void cpu_dump(struct kvm_vcpu *v)
{
    struct kvm_regs r;
    struct kvm_sregs s;
    struct kvm_run *run = v->run;
    fprintf(stderr, "corral-vmm: vCPU %d stopped: exit reason %u (%s)", v->id,
            run->exit_reason, kvm_exit_name(run->exit_reason));
    if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
        fprintf(stderr, ", suberror %u", run->internal.suberror);
    if (run->exit_reason == KVM_EXIT_FAIL_ENTRY)
        fprintf(stderr, ", hardware reason 0x%llx",
                (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
    fputc('\n', stderr);
    if (kvm_vcpu_ioctl(v, KVM_GET_REGS, &r) < 0 || kvm_vcpu_ioctl(v, KVM_GET_SREGS, &s) < 0) {
        fprintf(stderr, "  (registers unavailable)\n");
        return;
    }
    fprintf(stderr,
            "  rip=%016llx rsp=%016llx rflags=%016llx\n"
            "  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n"
            "  rsi=%016llx rdi=%016llx rbp=%016llx\n"
            "  r8=%016llx  r9=%016llx  r10=%016llx r11=%016llx\n"
            "  r12=%016llx r13=%016llx r14=%016llx r15=%016llx\n"
            "  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%016llx\n"
            "  cs=%04x(base %llx, l=%u db=%u) ss=%04x gdt=%llx/%x idt=%llx/%x\n",
            (unsigned long long)r.rip, (unsigned long long)r.rsp, (unsigned long long)r.rflags,
            (unsigned long long)r.rax, (unsigned long long)r.rbx, (unsigned long long)r.rcx,
            (unsigned long long)r.rdx, (unsigned long long)r.rsi, (unsigned long long)r.rdi,
            (unsigned long long)r.rbp, (unsigned long long)r.r8, (unsigned long long)r.r9,
            (unsigned long long)r.r10, (unsigned long long)r.r11, (unsigned long long)r.r12,
            (unsigned long long)r.r13, (unsigned long long)r.r14, (unsigned long long)r.r15,
            (unsigned long long)s.cr0, (unsigned long long)s.cr2, (unsigned long long)s.cr3,
            (unsigned long long)s.cr4, (unsigned long long)s.efer, s.cs.selector,
            (unsigned long long)s.cs.base, s.cs.l, s.cs.db, s.ss.selector,
            (unsigned long long)s.gdt.base, s.gdt.limit, (unsigned long long)s.idt.base, s.idt.limit);
}
