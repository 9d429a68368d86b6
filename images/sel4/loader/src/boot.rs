//! The entry: the arm64 Image header Xen and QEMU check (`ARM\x64` magic, text offset 0,
//! image size with .bss, little-endian 4 KiB flags), then, with the MMU off at EL1 and x0
//! holding the device tree's address: interrupts masked, FP/SIMD allowed (compiled Rust may
//! use its registers), the loader's exception vectors installed, .bss zeroed, the stack set,
//! and `loader_main` called with the tree's address. An exception in the loader is reported on
//! the console (syndrome, return and fault addresses) and stops it.

use core::arch::global_asm;

use crate::console;

/// Bytes of stack.
const STACK_BYTES: usize = 64 * 1024;

global_asm!(
    r#"
    .section .bss.loader_stack, "aw", %nobits
    .p2align 12
loader_stack:
    .skip {stack_bytes}
loader_stack_top:

    .section .text.head, "ax"
    .global _start
_start:
    b       1f                  /* code0 */
    .long   0                   /* code1 */
    .quad   0                   /* text_offset: the start of RAM bank 0 */
    .quad   __image_size        /* image_size, .bss included */
    .quad   0x2                 /* flags: little endian, 4 KiB pages, near the start of RAM */
    .quad   0
    .quad   0
    .quad   0
    .long   0x644d5241          /* magic "ARM\x64" */
    .long   0
1:
    mov     x19, x0
    msr     daifset, #0xf
    /* Move the loaded bytes (all but .bss) to the link address if loaded elsewhere. */
    adr     x1, _start
    ldr     x2, =__image_start
    cmp     x1, x2
    b.eq    5f
    ldr     x3, =__bss_start
    sub     x3, x3, x2          /* bytes to move, a multiple of 16 */
    b.lo    3f                  /* loaded below the link address */
    add     x3, x1, x3          /* moving down (ascending): source end */
    mov     x4, x2
2:  ldp     x5, x6, [x1], #16
    stp     x5, x6, [x4], #16
    cmp     x1, x3
    b.lo    2b
    b       4f
3:  add     x7, x1, x3          /* moving up (descending): from both ends */
    add     x8, x2, x3
9:  ldp     x5, x6, [x7, #-16]!
    stp     x5, x6, [x8, #-16]!
    cmp     x7, x1
    b.hi    9b
4:  dsb     sy
    ic      iallu
    dsb     sy
    isb
    ldr     x1, =5f
    br      x1
5:
    mov     x1, #(3 << 20)      /* CPACR_EL1.FPEN: FP/SIMD do not trap */
    msr     cpacr_el1, x1
    adrp    x1, loader_vectors
    add     x1, x1, :lo12:loader_vectors
    msr     vbar_el1, x1
    isb
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
6:  cmp     x1, x2
    b.hs    7f
    stp     xzr, xzr, [x1], #16
    b       6b
7:  adrp    x1, loader_stack_top
    add     x1, x1, :lo12:loader_stack_top
    mov     sp, x1
    mov     x0, x19
    bl      loader_main
8:  wfi
    b       8b
    .ltorg

    .macro loader_vector kind
    .balign 0x80
    mov     x0, #\kind
    b       loader_exception_entry
    .endm

    .section .text.vectors, "ax"
    .balign 0x800
loader_vectors:
    .irp kind, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    loader_vector \kind
    .endr

loader_exception_entry:
    adrp    x1, loader_stack_top
    add     x1, x1, :lo12:loader_stack_top
    mov     sp, x1
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    mrs     x3, far_el1
    bl      loader_exception
    "#,
    stack_bytes = const STACK_BYTES,
);

/// An exception taken in the loader (`kind` is the vector's index: current EL with SP0, with
/// SPx, lower EL AArch64, AArch32; each synchronous, IRQ, FIQ, SError): reported, then the
/// loader stops.
#[no_mangle]
extern "C" fn loader_exception(kind: u64, syndrome: u64, return_address: u64, fault: u64) -> ! {
    console::fail(format_args!(
        "exception kind={kind} esr={syndrome:#x} elr={return_address:#x} far={fault:#x}"
    ))
}
