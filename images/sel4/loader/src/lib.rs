//! The seL4 loader's logic, kept apart from its boot code so that it builds and is tested on the
//! host: checking the kernel's and the root task's ELF files ([`elf`]), placing them in RAM
//! ([`plan`]), the translation tables ([`tables`]) and system registers ([`registers`]) the
//! kernel starts on, what the device tree tells the loader ([`device_tree`]), and where the
//! guest command line goes in the root task's image ([`cmdline`]). The binary (`src/main.rs`)
//! does the memory writes and register moves these compute.
//!
//! # What seL4 5.0 expects at its entry on aarch64
//!
//! From the 5.0 sources (`src/arch/arm/64/head.S`, `try_init_kernel` and `init_freemem` in
//! `src/arch/arm/kernel/boot.c`, `map_kernel_window` and `activate_kernel_vspace` in
//! `src/arch/arm/64/kernel/vspace.c`), in our words:
//!
//! - **Where it runs.** The kernel's entry is its ELF's entry point, `_start`, a virtual address
//!   in the kernel window. It is entered at EL1 (a build without hypervisor support), one core,
//!   with the MMU on. `_start` masks interrupts, sets SCTLR_EL1's M, C and I and clears A, SA0,
//!   EE and E0E, takes its stack from its own .bss and calls `init_kernel`.
//! - **The kernel window.** The kernel is linked at `kernelBase` = 0xffffff8000000000 and loaded
//!   at `physBase` (its ELF's physical addresses; the platform sets it, 2 MiB aligned). Until
//!   `init_cpu` installs the kernel's own tables (TTBR1 = its global PGD, TTBR0 = an empty user
//!   PGD), it runs on the loader's: TTBR1 must map `kernelBase` onwards to `physBase` onwards
//!   over the kernel image (the loader uses 2 MiB blocks), and TTBR0 must keep mapping the
//!   loader's code until the jump.
//! - **Registers the kernel never writes.** MAIR_EL1 must hold the attributes in the order of
//!   `enum mair_types`: index 0 Device-nGnRnE, 1 Device-nGnRE, 2 Device-GRE, 3 normal
//!   non-cacheable, 4 normal write-back (0x000000ff440c0400); TCR_EL1 must give both halves 48
//!   bits with the 4 KiB granule (its page tables are four levels of 512 entries) and, since its
//!   ASIDs are 16 bits and go into TTBR0 as they are, 16-bit ASIDs.
//! - **Arguments.** x0 = `ui_p_reg_start`, the root task image's first physical byte;
//!   x1 = `ui_p_reg_end`, the first past it; x2 = `pv_offset`, the image's physical minus
//!   virtual addresses (signed); x3 = `v_entry`, the root task's entry point. 5.0 takes no
//!   device tree.
//! - **The root task's image.** One physically contiguous run holding the root task's whole
//!   virtual span, page-aligned; the kernel maps it at physical - `pv_offset`, then puts the IPC
//!   buffer and the boot-information frame in the two pages after it, which must end at or
//!   below `kernelBase`. `init_freemem` reserves the kernel image, then the user image, and
//!   asserts the kernel ends at or before the user image starts: the image goes after the
//!   kernel. All other RAM the platform lists becomes untyped memory.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod cmdline;
pub mod device_tree;
pub mod elf;
pub mod plan;
pub mod registers;
pub mod tables;
