//! The system registers the loader reads, the cache maintenance before the caches go on, and the
//! jump into the kernel.

use core::arch::asm;

use ballast_sel4_loader::plan::{EntryArguments, Region};
use ballast_sel4_loader::registers::{MAIR, SCTLR_CLEAR, SCTLR_SET};
use ballast_sel4_loader::tables::Roots;

macro_rules! read_register {
    ($name:literal) => {{
        let value: u64;
        // SAFETY: reads a system register; no memory is touched.
        unsafe { asm!(concat!("mrs {}, ", $name), out(reg) value, options(nomem, nostack)) };
        value
    }};
}

/// CurrentEL.
pub fn current_el() -> u64 {
    read_register!("CurrentEL")
}

/// ID_AA64MMFR0_EL1: the memory-model features.
pub fn memory_model_features() -> u64 {
    read_register!("id_aa64mmfr0_el1")
}

/// Microseconds on the virtual counter (under Xen it counts from the domain's creation).
pub fn counter_microseconds() -> u64 {
    let ticks = read_register!("cntvct_el0");
    let hz = read_register!("cntfrq_el0").max(1);
    (u128::from(ticks) * 1_000_000 / u128::from(hz)) as u64
}

/// Invalidate the data and unified caches over `region` to the point of coherency. The loader
/// wrote it with the MMU off, straight to memory; a line cached from before (clean, since
/// whatever wrote it earlier cleaned it to memory) must not shadow those bytes once the kernel
/// runs with caches on. (Under a hypervisor, EL1's invalidate also cleans, which changes
/// nothing for a clean line.)
pub fn invalidate_data_cache(region: Region) {
    let line = 4 << ((read_register!("ctr_el0") >> 16) & 0xf);
    let mut address = region.start & !(line - 1);
    while address < region.end {
        // SAFETY: drops cached copies of one line of memory the loader has just written with
        // the MMU off; memory itself is unchanged.
        unsafe { asm!("dc ivac, {}", in(reg) address, options(nostack)) };
        address += line;
    }
    // SAFETY: a barrier; no memory is touched.
    unsafe { asm!("dsb sy", options(nostack)) };
}

/// Turn translation and the caches on with `roots`, `tcr` and seL4's MAIR, and jump to `entry`
/// with `arguments` in x0..x3.
///
/// # Safety
/// The kernel and the root task must be in place, `roots` must map the loader's code to itself
/// (TTBR0) and the kernel window to the kernel (TTBR1), and what the loader wrote with the MMU
/// off must not be shadowed by stale cache lines.
pub unsafe fn enter(roots: Roots, tcr: u64, entry: u64, arguments: EntryArguments) -> ! {
    // SAFETY: the caller vouches for the tables and the memory. The instructions after the
    // SCTLR write fetch through TTBR0's identity map of the loader; the branch goes to the
    // kernel's entry through TTBR1. Nothing returns.
    unsafe {
        asm!(
            "msr mair_el1, {mair}",
            "msr tcr_el1, {tcr}",
            "msr ttbr0_el1, {ttbr0}",
            "msr ttbr1_el1, {ttbr1}",
            "isb",
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            "mrs {sctlr}, sctlr_el1",
            "orr {sctlr}, {sctlr}, {set}",
            "bic {sctlr}, {sctlr}, {clear}",
            "msr sctlr_el1, {sctlr}",
            "isb",
            "ic iallu",
            "dsb nsh",
            "isb",
            "br {entry}",
            mair = in(reg) MAIR,
            tcr = in(reg) tcr,
            ttbr0 = in(reg) roots.ttbr0,
            ttbr1 = in(reg) roots.ttbr1,
            set = in(reg) SCTLR_SET,
            clear = in(reg) SCTLR_CLEAR,
            // Scratch for SCTLR_EL1; changing an input is allowed as the block never exits.
            sctlr = in(reg) 0u64,
            entry = in(reg) entry,
            in("x0") arguments.user_start,
            in("x1") arguments.user_end,
            in("x2") arguments.pv_offset,
            in("x3") arguments.user_entry,
            options(noreturn, nostack),
        );
    }
}
