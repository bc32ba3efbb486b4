/* smp-tramp.S — application processor start-up code.  smp.c copies the
 * bytes between tramp_start and tramp_end to TRAMP_ADDR (a page below 1 MiB;
 * the SIPI vector is TRAMP_ADDR >> 12) and fills in tramp_cr3, tramp_stack
 * and tramp_entry.  An AP starts here in real mode at CS = TRAMP_ADDR >> 4,
 * IP = 0, goes through 32-bit protected mode to long mode using the BSP's
 * page tables and the guest GDT, and calls tramp_entry on its own stack. */
#define TRAMP_ADDR 0x8000
#define ABS(sym) (TRAMP_ADDR + (sym) - tramp_start)

    .section .rodata
    .balign 16
    .globl tramp_start, tramp_end, tramp_cr3, tramp_stack, tramp_entry
tramp_start:
    .code16
    cli
    cld
    mov %cs, %ax
    mov %ax, %ds
    lgdtl tramp_gdt_desc - tramp_start
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x08, $ABS(tramp32)

    .code32
tramp32:
    mov $0x18, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %cr4, %eax
    or $0x20, %eax              /* PAE */
    mov %eax, %cr4
    mov ABS(tramp_cr3), %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx       /* EFER.LME */
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80000000, %eax        /* PG */
    mov %eax, %cr0
    ljmpl $0x10, $ABS(tramp64)

    .code64
tramp64:
    mov ABS(tramp_stack), %rsp
    mov ABS(tramp_entry), %rax
    call *%rax
1:  cli
    hlt
    jmp 1b

    .balign 8
tramp_gdt_desc:
    .word 31                    /* the guest GDT: 4 entries (head.S) */
    .long gdt
    .balign 8
tramp_cr3:   .quad 0
tramp_stack: .quad 0
tramp_entry: .quad 0
tramp_end:

    .section .note.GNU-stack, "", @progbits
