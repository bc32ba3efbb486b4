/* bzsetup.S — the real-mode part of the guests' bzImages.
 *
 * A 64-bit loader (corral) never runs this: it reads the setup header that
 * mkbzimage fills in at 0x1f1..0x26b and enters the payload at 0x100200.
 * Loaders that follow the 16-bit boot protocol (QEMU's -kernel, through
 * SeaBIOS or qboot) load these sectors at SEG:0 and jump to SEG+0x20:0,
 * i.e. offset 0x200 here.  The stub then does what Linux's setup does, in
 * little: builds a fresh boot_params (header copied, e820 map from the
 * BIOS), enables A20, switches to 32-bit protected mode and jumps to
 * code32_start with esi = boot_params, ebx = 0 (Linux 32-bit protocol).
 */
#define ZP 0x3000             /* new boot_params, offset in the setup segment */
#define STACK_TOP ZP
#define HDR_START 0x1f1
#define HDR_END 0x270           /* end of the header area, start of our code */
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0
#define E820_MAX 128
#define SMAP 0x534d4150

    .code16
    .section .text
    .globl _start
_start:
    /* Booted as a boot sector by mistake: nothing to do. */
    cli
1:  hlt
    jmp 1b

    .org 0x1f1              /* setup header: filled in by mkbzimage */
    .org 0x200
    .byte 0xeb              /* jmp setup_main (short; header ends at 0x26c) */
    .byte setup_main - 0x202

    .org 0x270
setup_main:
    cli
    cld
    mov %cs, %ax
    sub $0x20, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $STACK_TOP, %sp

    /* Fresh boot_params: zeroed, then the header the loader filled in. */
    mov $ZP, %di
    xor %ax, %ax
    mov $2048, %cx
    rep stosw
    mov $HDR_START, %si
    mov $(ZP + HDR_START), %di
    mov $(HDR_END - HDR_START), %cx
    rep movsb

    /* e820 map from INT 15h, AX=E820h. */
    xor %ebx, %ebx
    xor %bp, %bp
    mov $(ZP + BP_E820_TABLE), %di
2:  mov $0xe820, %eax
    mov $20, %ecx
    mov $SMAP, %edx
    int $0x15
    jc 3f
    cmp $SMAP, %eax
    jne 3f
    inc %bp
    add $20, %di
    cmp $E820_MAX, %bp
    jae 3f
    test %ebx, %ebx
    jnz 2b
3:  mov %bp, %ax
    mov %al, ZP + BP_E820_ENTRIES

    /* Fast A20 (port 0x92 bit 1), leaving bit 0 (reset) alone.  0xff means
     * no such port. */
    in $0x92, %al
    cmp $0xff, %al
    je 4f
    or $0x02, %al
    and $0xfe, %al
    out %al, $0x92
4:
    /* Linear base of this segment, for the GDT and boot_params addresses. */
    xor %ebx, %ebx
    mov %ds, %bx
    shl $4, %ebx
    lea gdt(%ebx), %eax
    mov %eax, gdt_desc + 2
    lgdtl gdt_desc
    lea ZP(%ebx), %esi
    mov ZP + 0x214, %eax    /* code32_start */
    mov %eax, far_target

    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    /* DS still holds its real-mode base until reloaded: far_target is read
     * correctly.  The 32-bit entry loads its own GDT and segments. */
    xor %ebx, %ebx
    xor %edi, %edi
    xor %ebp, %ebp
    ljmpl *far_target

    .balign 8
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff    /* 0x08: 32-bit code, flat */
    .quad 0x00af9a000000ffff    /* 0x10: 64-bit code */
    .quad 0x00cf92000000ffff    /* 0x18: data, flat */
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .long 0
far_target:
    .long 0
    .word 0x08

    .section .note.GNU-stack, "", @progbits
