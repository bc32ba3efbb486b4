/* kvm — a thin, checked layer over the Linux KVM API: the system fd, a VM
 * with its memory slots, in-kernel irqchip and PIT, eventfd wiring, and
 * vCPUs with their shared kvm_run page.  Policy (CPUID contents, register
 * values at boot, what to do on an exit) lives in src/vmm, not here. */
#ifndef CORRAL_KVM_H
#define CORRAL_KVM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "mem/mem.h"

struct kvm_sys {
    int fd;
    int run_size;
    int max_vcpus;
    struct kvm_cpuid2 *cpuid;        /* KVM_GET_SUPPORTED_CPUID */
    struct kvm_msr_list *msrs;       /* KVM_GET_MSR_INDEX_LIST: what a snapshot saves */
    unsigned xsave_size;             /* bytes of a vCPU's XSAVE area (KVM_GET_XSAVE[2]); 0: no XSAVE */
};

struct kvm_vm {
    struct kvm_sys *sys;
    int fd;
};

struct kvm_vcpu {
    struct kvm_vm *vm;
    int id;
    int fd;
    struct kvm_run *run;
};

/* Opens /dev/kvm (or `path`) and checks the API version and capabilities
 * corral needs; each missing piece is named in the error. */
int kvm_sys_open(struct kvm_sys *sys, const char *path);
void kvm_sys_close(struct kvm_sys *sys);

/* Creates a VM with the in-kernel irqchip and PIT and maps guest RAM. */
int kvm_vm_create(struct kvm_vm *vm, struct kvm_sys *sys, const struct guest_mem *mem);
void kvm_vm_destroy(struct kvm_vm *vm);
/* Turns KVM's dirty-page logging of MEM's slots on or off (live migration). */
int kvm_vm_log_dirty(struct kvm_vm *vm, const struct guest_mem *mem, bool on);
/* ORs into BITMAP (one bit per 4 KiB page of slot S) the pages the guest
 * wrote since the last call, which KVM then forgets and protects again. */
int kvm_vm_get_dirty(struct kvm_vm *vm, const struct guest_mem *mem, int s, uint64_t *bitmap);
int kvm_irq_line(struct kvm_vm *vm, unsigned gsi, int level);
int kvm_irqfd(struct kvm_vm *vm, int fd, unsigned gsi);
int kvm_ioeventfd(struct kvm_vm *vm, int fd, uint64_t addr, unsigned len, uint64_t match);
int kvm_vm_ioctl(struct kvm_vm *vm, unsigned long req, void *arg);

int kvm_vcpu_create(struct kvm_vcpu *v, struct kvm_vm *vm, int id);
void kvm_vcpu_destroy(struct kvm_vcpu *v);
int kvm_vcpu_ioctl(struct kvm_vcpu *v, unsigned long req, void *arg);

/* Name of a KVM_EXIT_* reason, for counters and dumps. */
const char *kvm_exit_name(uint32_t reason);
#define KVM_EXIT_REASONS 64

#endif
