//! The boot page tables: the first 8 GiB of guest-physical memory mapped 1:1 with 2 MiB pages,
//! as static data built by the assembler (no code runs to fill them). Identity mapping makes every
//! pointer the image hands to Xen a guest-physical address, as the hypercall ABI requires, and
//! lets the image reach the start info, the memory map and the frames it balloons. The map reaches
//! past 4 GiB because the manifest's ranges above RAM live there: the lending range, whose
//! borrowed frames a driver maps grants into and reads, and the growth range, which the memory
//! server populates and scrubs. A gfn Xen does not back reads as all ones; mapping it costs
//! nothing until touched.
//!
//! CR3 is loaded with `boot_pml4` by the 32-bit entry in `boot.rs`.

use core::arch::global_asm;

/// The identity-mapped range, in bytes.
pub const IDENTITY_MAPPED_BYTES: u64 = 8 << 30;

global_asm!(
    r#"
    .set PAGE_PRESENT, 1 << 0
    .set PAGE_WRITABLE, 1 << 1
    .set PAGE_HUGE, 1 << 7
    .set TABLE, PAGE_PRESENT | PAGE_WRITABLE
    .set HUGE_PAGE, PAGE_PRESENT | PAGE_WRITABLE | PAGE_HUGE

    .section .data.page_tables, "aw"
    .p2align 12
    .global boot_pml4
boot_pml4:
    .quad boot_pdpt + TABLE
    .fill 511, 8, 0
boot_pdpt:
    .quad boot_pd + 0 * 4096 + TABLE
    .quad boot_pd + 1 * 4096 + TABLE
    .quad boot_pd + 2 * 4096 + TABLE
    .quad boot_pd + 3 * 4096 + TABLE
    .quad boot_pd + 4 * 4096 + TABLE
    .quad boot_pd + 5 * 4096 + TABLE
    .quad boot_pd + 6 * 4096 + TABLE
    .quad boot_pd + 7 * 4096 + TABLE
    .fill 504, 8, 0
boot_pd:                             /* 8 page directories: 4096 entries of 2 MiB */
    .set page, 0
    .rept 4096
    .quad (page << 21) + HUGE_PAGE
    .set page, page + 1
    .endr
    "#,
    options(att_syntax)
);

const _: () = assert!(IDENTITY_MAPPED_BYTES == 4096 * (2 << 20));
