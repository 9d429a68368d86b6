//! The boot path: the arm64 Image header Xen checks (`ARM\x64` magic, text offset 0, image size
//! including .bss and the stack), and the entry. Xen enters a domU at EL1 with the MMU off and x0
//! holding the guest-physical address of the device tree. The entry lets FP/SIMD run, installs
//! the exception vectors (`vectors.rs`), zeroes .bss, switches to the boot stack and calls
//! `rust_main` with the device-tree address.
//! Measured: `docs/XEN-BEHAVIOUR.md#dom0less-domu`.

use core::arch::global_asm;

/// Bytes of boot stack; everything the image does runs on it. `ballast check` holds a manifest to
/// this stack's budget (`ballast_system::ImageBudget`).
pub const STACK_BYTES: usize = ballast_system::XEN_IMAGE_STACK_BYTES;

global_asm!(
    r#"
    .section .bss.boot_stack, "aw", %nobits
    .p2align 12
boot_stack:
    .skip {stack_bytes}
boot_stack_top:

    .section .text.head, "ax"
    .global _start
_start:
    b       1f                  /* code0 */
    .long   0                   /* code1 */
    .quad   0                   /* text_offset: load at the start of RAM bank 0 */
    .quad   __image_size        /* image_size, .bss and stack included */
    .quad   0x2                 /* flags: little endian, 4 KiB pages */
    .quad   0
    .quad   0
    .quad   0
    .long   0x644d5241          /* magic "ARM\x64" */
    .long   0
1:
    mov     x19, x0
    mov     x1, #(3 << 20)      /* CPACR_EL1.FPEN: FP/SIMD do not trap */
    msr     cpacr_el1, x1
    adrp    x1, ballast_vectors
    add     x1, x1, :lo12:ballast_vectors
    msr     vbar_el1, x1
    isb
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
2:  cmp     x1, x2
    b.hs    3f
    stp     xzr, xzr, [x1], #16
    b       2b
3:  adrp    x1, boot_stack_top
    add     x1, x1, :lo12:boot_stack_top
    mov     sp, x1
    mov     x0, x19
    bl      rust_main
4:  wfi
    b       4b
    "#,
    stack_bytes = const STACK_BYTES,
);
