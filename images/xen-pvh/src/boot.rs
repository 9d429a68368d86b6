//! The PVH boot path: the Xen ELF note that names the 32-bit entry point, and the entry itself.
//!
//! Xen starts a PVH domain in 32-bit protected mode with paging off, flat segments and `%ebx`
//! holding the physical address of `struct hvm_start_info`. The entry loads a GDT with a 64-bit
//! code segment, points CR3 at the identity page tables (`page_tables.rs`), enables PAE, long mode
//! and paging, far-jumps into 64-bit code, sets up the boot stack and calls `rust_main` with the
//! start-info address as its argument.
//! Measured: `docs/XEN-BEHAVIOUR.md#pvh-entry`.

use core::arch::global_asm;

/// Bytes of boot stack; everything the image does runs on it. `ballast check` holds a manifest to
/// this stack's budget (`ballast_system::ImageBudget`).
pub const STACK_BYTES: usize = ballast_system::XEN_IMAGE_STACK_BYTES;

// `XEN_ELFNOTE_PHYS32_ENTRY` (xen/include/public/elfnote.h): the 32-bit physical entry point.
global_asm!(
    r#"
    .set XEN_ELFNOTE_PHYS32_ENTRY, 18
    .section .note.Xen, "a"
    .p2align 2
    .long 4                          /* name size: "Xen\0" */
    .long 4                          /* descriptor size: one 32-bit address */
    .long XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .p2align 2
    .long pvh_entry32
    "#,
    options(att_syntax)
);

// The GDT: null, 64-bit code (selector 0x08), flat data (selector 0x10).
global_asm!(
    r#"
    .section .rodata.boot_gdt, "a"
    .p2align 3
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff         /* code: present, ring 0, L=1 */
    .quad 0x00cf92000000ffff         /* data: present, ring 0, writable, 4 GiB */
boot_gdt_end:
boot_gdt_descriptor:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt
    "#,
    options(att_syntax)
);

global_asm!(
    r#"
    .set CR0_PE, 1 << 0
    .set CR0_PG, 1 << 31
    .set CR4_PAE, 1 << 5
    .set MSR_EFER, 0xc0000080
    .set EFER_LME, 1 << 8
    .set CODE64_SELECTOR, 0x08
    .set DATA_SELECTOR, 0x10

    .section .bss.boot_stack, "aw", @nobits
    .p2align 12
boot_stack:
    .skip {stack_bytes}
boot_stack_top:

    .section .text.boot32, "ax"
    .code32
    .global pvh_entry32
pvh_entry32:
    cli
    cld
    mov %ebx, %edi                   /* keep the hvm_start_info address for rust_main */
    lgdt boot_gdt_descriptor
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $CR4_PAE, %eax
    mov %eax, %cr4
    mov $MSR_EFER, %ecx
    rdmsr
    or $EFER_LME, %eax
    wrmsr
    mov %cr0, %eax
    or $(CR0_PG | CR0_PE), %eax
    mov %eax, %cr0
    ljmp $CODE64_SELECTOR, $pvh_entry64

    .code64
pvh_entry64:
    mov $DATA_SELECTOR, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    lea boot_stack_top(%rip), %rsp
    mov %edi, %edi                   /* zero-extend the start-info address */
    call rust_main
1:  hlt
    jmp 1b
    "#,
    stack_bytes = const STACK_BYTES,
    options(att_syntax)
);
