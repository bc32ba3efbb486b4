/* pvhnote.S — turns a guest ELF into a PVH kernel: a Xen ELF note of type
 * XEN_ELFNOTE_PHYS32_ENTRY (18) whose 4-byte descriptor is the 32-bit entry
 * point.  Linked only into the NAME.pvh.elf images; guest.ld gives the
 * allocated note section its own PT_NOTE program header. */
    .section .note.Xen, "a", @note
    .balign 4
    .long 4                 /* namesz: "Xen\0" */
    .long 4                 /* descsz */
    .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .balign 4
    .long entry32

    .section .note.GNU-stack, "", @progbits
