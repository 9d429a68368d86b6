//! The stage-1 translation the image runs with: an identity map of the first 4 GiB with 4 KiB
//! granule and a 39-bit address space. The first GiB (a domU's interrupt controller and emulated
//! UART) is one device-memory block, never executable; 1 GiB to 4 GiB (Xen's guest RAM bank 0
//! window) is mapped in 2 MiB blocks, normal write-back cacheable memory (inner shareable) where
//! the device tree's RAM banks are and device memory elsewhere; nothing else is mapped. Identity
//! mapping keeps every pointer the image hands to Xen a guest-physical address, as the hypercall
//! ABI requires. The tables are filled once, with the MMU off, before translation starts.
//! Why caches must be on before Xen reads guest memory: `docs/XEN-BEHAVIOUR.md#arm64-caches`.

use core::arch::asm;
use core::cell::UnsafeCell;

use crate::device_tree::Bank;

/// The first byte past RAM the image maps.
pub const MAPPED_RAM_END: u64 = 4 << 30;
/// An address no table entry maps: reading it raises a translation fault (the HIL test app's
/// `fault` scenario reads it).
#[cfg(feature = "hil-test")]
pub const UNMAPPED: u64 = 8 << 30;
/// The first byte of RAM the image maps.
pub const MAPPED_RAM_START: u64 = 1 << 30;

const GIB: u64 = 1 << 30;
const BLOCK_BYTES: u64 = 2 << 20;
const TABLE: u64 = 0b11;
/// Level-2 tables, one per GiB of the RAM window.
const RAM_GIBS: usize = ((MAPPED_RAM_END - MAPPED_RAM_START) / GIB) as usize;
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

/// The level-1 table and the level-2 tables of the RAM window.
struct Tables(UnsafeCell<(Table, [Table; RAM_GIBS])>);

// SAFETY: written only by `enable`, once, on the one vCPU before translation starts; the MMU
// reads them afterwards and nothing writes them again.
unsafe impl Sync for Tables {}

static TABLES: Tables = Tables(UnsafeCell::new((
    Table([0; 512]),
    [const { Table([0; 512]) }; RAM_GIBS],
)));

fn is_ram(banks: &[Bank], start: u64) -> bool {
    banks
        .iter()
        .any(|bank| bank.start < start + BLOCK_BYTES && start < bank.end)
}

fn fill(level1: &mut Table, level2: &mut [Table; RAM_GIBS], banks: &[Bank]) {
    level1.0[0] = DEVICE_BLOCK;
    for (gib, table) in level2.iter_mut().enumerate() {
        let base = MAPPED_RAM_START + gib as u64 * GIB;
        for (index, entry) in table.0.iter_mut().enumerate() {
            let start = base + index as u64 * BLOCK_BYTES;
            let kind = if is_ram(banks, start) {
                NORMAL_BLOCK
            } else {
                DEVICE_BLOCK
            };
            *entry = start | kind;
        }
        level1.0[(base / GIB) as usize] = core::ptr::addr_of!(*table) as u64 | TABLE;
    }
}

/// Invalidate the data cache over [start, start + bytes): the tables were written with the MMU
/// off, to memory, and a stale line must not hide them from the table walker.
fn invalidate_data_cache(start: u64, bytes: u64) {
    let cache_type: u64;
    // SAFETY: reads an ID register; no memory is touched.
    unsafe { asm!("mrs {}, ctr_el0", out(reg) cache_type, options(nomem, nostack)) };
    let line = 4 << ((cache_type >> 16) & 0xf);
    let mut address = start & !(line - 1);
    while address < start + bytes {
        // SAFETY: invalidates one line of the tables, whose contents are in memory already
        // (written with the MMU off, non-cacheable); nothing else lives in those lines' worth of
        // bytes but the page-aligned tables.
        unsafe { asm!("dc ivac, {}", in(reg) address, options(nostack)) };
        address += line;
    }
    // SAFETY: a barrier; no memory is touched.
    unsafe { asm!("dsb ish", options(nostack)) };
}

/// Turn on the MMU and the caches with the identity map, RAM being `banks`. Returns the PARange
/// used. Call once, with the MMU off.
pub fn enable(banks: &[Bank]) -> u64 {
    let features: u64;
    // SAFETY: reads an ID register; no memory is touched.
    unsafe { asm!("mrs {}, id_aa64mmfr0_el1", out(reg) features, options(nomem, nostack)) };
    let pa_range = (features & 0xf).min(MAX_PA_RANGE);
    // SAFETY: see `Tables`: this is the only access before the MMU walks them.
    let (level1, level2) = unsafe { &mut *TABLES.0.get() };
    fill(level1, level2, banks);
    let table = core::ptr::addr_of!(*level1) as u64;
    invalidate_data_cache(
        core::ptr::addr_of!(TABLES) as u64,
        core::mem::size_of::<Tables>() as u64,
    );
    // SAFETY: the tables map the image, its stack, the device tree and all RAM to themselves, so
    // execution continues at the same addresses once translation is on; with the MMU off the
    // stores that filled them went to memory, where the walker reads them (a DSB orders them
    // first). The TLB is invalidated before use.
    unsafe {
        asm!(
            "dsb ish",
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
