/* head.S — entry points of every corral test guest.
 *
 * The image is linked at 1 MiB (guest.ld) and starts with this code:
 *
 *   0x100000  entry32     32-bit flat protected mode, paging off.  Reached
 *                         through the PVH note (ebx = hvm_start_info) or the
 *                         Linux 32-bit boot protocol, e.g. from the bzImage
 *                         setup stub (esi = boot_params, ebx = 0).  Builds
 *                         its own identity map of the low 4 GiB and enters
 *                         long mode.
 *   0x100200  startup_64  Linux 64-bit boot protocol: paging on, the loader's
 *                         identity map, rsi = boot_params.  This is the ELF
 *                         entry point and, since the bzImage payload is this
 *                         image byte for byte, also bzImage load address + 0x200.
 *
 * Both go to common64, which loads the guest's own GDT, sets up the stack,
 * clears .bss and calls guest_start(boot_path, info_pointer).
 */
#define KERNEL_CS32 0x08
#define KERNEL_CS64 0x10
#define KERNEL_DS 0x18

#define PVH_MAGIC 0x336ec578
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100
#define CR0_PE 0x1
#define CR0_PG 0x80000000
#define CR4_PAE 0x20
#define PTE_P_RW 0x3
#define PDE_2M 0x83          /* present, writable, 2 MiB page */
#define PDE_UNCACHED 0x18    /* PCD | PWT: the top GiB holds MMIO */

/* boot_path values, as enum boot_path in guest.h */
#define PATH_LINUX64 0
#define PATH_LINUX32 1
#define PATH_PVH 2

    .section .head.text, "ax"
    .code32
    .globl entry32
entry32:
    cli
    cld
    mov $PATH_LINUX32, %edi
    test %ebx, %ebx
    jz 1f
    cmpl $PVH_MAGIC, (%ebx)
    jne 1f
    mov $PATH_PVH, %edi
    mov %ebx, %esi
1:
    /* CS is used for the operand: DS may still hold a real-mode base. */
    lgdtl %cs:gdt_desc
    ljmpl $KERNEL_CS32, $2f
2:
    mov $KERNEL_DS, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    mov $boot_stack_top, %esp
    push %esi
    push %edi

    /* PML4 and PDPT: zero both pages, then link PML4[0] -> PDPT and
     * PDPT[0..3] -> the four page directories. */
    mov $boot_pml4, %edi
    xor %eax, %eax
    mov $2048, %ecx
    rep stosl
    movl $(boot_pdpt + PTE_P_RW), boot_pml4
    mov $(boot_pd + PTE_P_RW), %eax
    mov $boot_pdpt, %edi
    mov $4, %ecx
3:  mov %eax, (%edi)
    add $0x1000, %eax
    add $8, %edi
    loop 3b

    /* 2048 page-directory entries of 2 MiB: 0 .. 4 GiB. */
    mov $boot_pd, %edi
    mov $PDE_2M, %eax
    mov $2048, %ecx
4:  cmp $0xc0000000, %eax
    jb 5f
    or $PDE_UNCACHED, %eax
5:  mov %eax, (%edi)
    movl $0, 4(%edi)
    add $0x200000, %eax
    add $8, %edi
    loop 4b

    mov %cr4, %eax
    or $CR4_PAE, %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $MSR_EFER, %ecx
    rdmsr
    or $EFER_LME, %eax
    wrmsr
    mov %cr0, %eax
    or $(CR0_PG | CR0_PE), %eax
    mov %eax, %cr0
    pop %edi
    pop %esi
    ljmpl $KERNEL_CS64, $entry32_long

    .code64
entry32_long:
    /* Upper halves of the registers are undefined after the mode switch. */
    mov %edi, %edi
    mov %esi, %esi
    jmp common64

    /* The Linux 64-bit boot protocol enters here: load address + 0x200. */
    .org 0x200
    .globl startup_64
startup_64:
    cli
    cld
    mov $PATH_LINUX64, %edi
common64:
    lgdt gdt_desc(%rip)
    mov $KERNEL_DS, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    lea boot_stack_top(%rip), %rsp
    pushq $KERNEL_CS64
    lea 6f(%rip), %rax
    push %rax
    lretq
6:
    mov %rdi, %r12
    mov %rsi, %r13
    lea __bss_start(%rip), %rdi
    lea __bss_end(%rip), %rcx
    sub %rdi, %rcx
    shr $3, %rcx
    xor %eax, %eax
    rep stosq
    mov %r12, %rdi
    mov %r13, %rsi
    call guest_start
7:  cli
    hlt
    jmp 7b

    .section .data
    .balign 16
    .globl gdt
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff    /* 0x08: 32-bit code, flat */
    .quad 0x00af9a000000ffff    /* 0x10: 64-bit code */
    .quad 0x00cf92000000ffff    /* 0x18: data, flat */
gdt_end:
    .balign 8
    /* 32-bit lgdt reads limit + the low 4 bytes of the base: same layout. */
    .globl gdt_desc
gdt_desc:
    .word gdt_end - gdt - 1
    .quad gdt

    /* Not cleared at start: everything here is written before it is read. */
    .section .noinit, "aw", @nobits
    .balign 4096
boot_pml4:  .skip 4096
boot_pdpt:  .skip 4096
boot_pd:    .skip 4 * 4096
boot_stack: .skip 16384
    .globl boot_stack_top
boot_stack_top:

    .section .note.GNU-stack, "", @progbits
