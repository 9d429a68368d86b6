//! The stage-1 translation the image runs with: an identity map with 4 KiB granule and a 39-bit
//! address space, from one static level-1 table of 1 GiB blocks. The first GiB of a domU's
//! guest-physical space holds the interrupt controller and the emulated UART (device memory,
//! never executable); 1 GiB to 4 GiB is Xen's guest RAM bank 0 window (normal write-back
//! cacheable memory, inner shareable); nothing else is mapped. Identity mapping keeps every
//! pointer the image hands to Xen a guest-physical address, as the hypercall ABI requires.

use core::arch::asm;

/// The first byte past RAM the image maps.
pub const MAPPED_RAM_END: u64 = 4 << 30;
/// The first byte of RAM the image maps.
pub const MAPPED_RAM_START: u64 = 1 << 30;

const GIB: u64 = 1 << 30;
/// MAIR_EL1: attribute 0 Device-nGnRnE, attribute 1 normal write-back read/write-allocate.
const MAIR: u64 = 0xff << 8;
const BLOCK: u64 = 0b01;
const ACCESS_FLAG: u64 = 1 << 10;
const INNER_SHAREABLE: u64 = 0b11 << 8;
const ATTR_NORMAL: u64 = 1 << 2;
const PRIVILEGED_EXECUTE_NEVER: u64 = 1 << 53;
const EXECUTE_NEVER: u64 = 1 << 54;
const DEVICE_BLOCK: u64 = BLOCK | ACCESS_FLAG | PRIVILEGED_EXECUTE_NEVER | EXECUTE_NEVER;
const NORMAL_BLOCK: u64 = BLOCK | ACCESS_FLAG | INNER_SHAREABLE | ATTR_NORMAL;

/// TCR_EL1 without IPS: T0SZ 25 (39-bit), write-back walks, inner shareable, 4 KiB granule,
/// TTBR1 walks disabled.
const TCR: u64 = 25 | (0b01 << 8) | (0b01 << 10) | (0b11 << 12) | (1 << 23);
const TCR_IPS_SHIFT: u64 = 32;
/// The largest PARange encoding the image asks for (48 bits; 52 needs more setup).
const MAX_PA_RANGE: u64 = 5;

const SCTLR_MMU: u64 = 1 << 0;
const SCTLR_ALIGNMENT_CHECK: u64 = 1 << 1;
const SCTLR_DATA_CACHE: u64 = 1 << 2;
const SCTLR_INSTRUCTION_CACHE: u64 = 1 << 12;

#[derive(Debug)]
#[repr(C, align(4096))]
struct Table([u64; 512]);

const fn level1() -> Table {
    let mut entries = [0u64; 512];
    entries[0] = DEVICE_BLOCK;
    let mut index = 1;
    while index < (MAPPED_RAM_END / GIB) as usize {
        entries[index] = (index as u64 * GIB) | NORMAL_BLOCK;
        index += 1;
    }
    Table(entries)
}

static LEVEL1: Table = level1();

/// Turn on the MMU and the caches with the identity map. Returns the PARange used.
pub fn enable() -> u64 {
    let features: u64;
    // SAFETY: reads an ID register; no memory is touched.
    unsafe { asm!("mrs {}, id_aa64mmfr0_el1", out(reg) features, options(nomem, nostack)) };
    let pa_range = (features & 0xf).min(MAX_PA_RANGE);
    let table = core::ptr::addr_of!(LEVEL1) as u64;
    // SAFETY: the table maps the image, its stack, the device tree and all of bank 0 to
    // themselves, so execution continues at the same addresses once translation is on; it lives
    // in .rodata and is never written. The TLB is invalidated before use.
    unsafe {
        asm!(
            "msr mair_el1, {mair}",
            "msr tcr_el1, {tcr}",
            "msr ttbr0_el1, {table}",
            "isb",
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            "mrs {sctlr}, sctlr_el1",
            "bic {sctlr}, {sctlr}, {alignment}",
            "orr {sctlr}, {sctlr}, {enable}",
            "msr sctlr_el1, {sctlr}",
            "isb",
            "ic iallu",
            "dsb nsh",
            "isb",
            mair = in(reg) MAIR,
            tcr = in(reg) TCR | (pa_range << TCR_IPS_SHIFT),
            table = in(reg) table,
            alignment = in(reg) SCTLR_ALIGNMENT_CHECK,
            enable = in(reg) SCTLR_MMU | SCTLR_DATA_CACHE | SCTLR_INSTRUCTION_CACHE,
            sctlr = out(reg) _,
            options(nostack),
        );
    }
    pa_range
}
