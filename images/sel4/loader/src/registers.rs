//! The system-register values the loader hands the kernel: MAIR_EL1 laid out as 5.0's
//! `enum mair_types` indexes it, TCR_EL1 for two 48-bit halves with the 4 KiB granule and
//! 16-bit ASIDs, and the SCTLR_EL1 bits it sets and clears. 5.0 writes neither MAIR_EL1 nor
//! TCR_EL1 itself: what the loader sets here is what the kernel runs with.

/// MAIR_EL1's attribute for Device-nGnRnE memory.
const DEVICE_NGNRNE: u64 = 0x00;
/// MAIR_EL1's attribute for Device-nGnRE memory.
const DEVICE_NGNRE: u64 = 0x04;
/// MAIR_EL1's attribute for Device-GRE memory.
const DEVICE_GRE: u64 = 0x0c;
/// MAIR_EL1's attribute for normal memory, inner and outer non-cacheable.
const NORMAL_NON_CACHEABLE: u64 = 0x44;
/// MAIR_EL1's attribute for normal memory, inner and outer write-back non-transient,
/// read- and write-allocate.
const NORMAL_WRITE_BACK: u64 = 0xff;

/// The attribute index of normal write-back memory: `NORMAL` in 5.0's `enum mair_types`
/// (`src/arch/arm/64/kernel/vspace.c`), which its page-table entries use.
pub const NORMAL_INDEX: u64 = 4;

/// MAIR_EL1: the attributes in 5.0's `enum mair_types` order (`DEVICE_nGnRnE` 0,
/// `DEVICE_nGnRE` 1, `DEVICE_GRE` 2, `NORMAL_NC` 3, `NORMAL` 4); 0x000000ff440c0400.
pub const MAIR: u64 = DEVICE_NGNRNE
    | (DEVICE_NGNRE << 8)
    | (DEVICE_GRE << 16)
    | (NORMAL_NON_CACHEABLE << 24)
    | (NORMAL_WRITE_BACK << (8 * NORMAL_INDEX));

/// Virtual-address bits of each half: 48 (TxSZ = 64 - 48).
pub const VIRTUAL_ADDRESS_BITS: u64 = 48;
const TCR_T0SZ_SHIFT: u64 = 0;
const TCR_T1SZ_SHIFT: u64 = 16;
/// Table walks: inner and outer write-back read/write-allocate, inner shareable (TTBR0 half
/// at bits 8-13, the TTBR1 half at bits 24-29).
const TCR_WALKS_LOWER: u64 = (0b01 << 8) | (0b01 << 10) | (0b11 << 12);
const TCR_WALKS_UPPER: u64 = TCR_WALKS_LOWER << 16;
/// TG0 = 0b00 (4 KiB) needs no bits; TG1 = 0b10 is 4 KiB for the upper half.
const TCR_TG1_4KIB: u64 = 0b10 << 30;
const TCR_IPS_SHIFT: u64 = 32;
/// TCR_EL1.AS: ASIDs are 16 bits.
const TCR_ASID_16: u64 = 1 << 36;

/// ID_AA64MMFR0_EL1.PARange's largest value the loader asks for (48 bits).
const MAX_PA_RANGE: u64 = 0b0101;
const MMFR0_ASID_BITS_SHIFT: u64 = 4;
const MMFR0_ASID_16: u64 = 0b0010;
const MMFR0_TGRAN4_SHIFT: u64 = 28;
const MMFR0_TGRAN4_ABSENT: u64 = 0b1111;

/// SCTLR_EL1.M: stage-1 translation on.
pub const SCTLR_MMU: u64 = 1 << 0;
/// SCTLR_EL1.A: alignment checks (5.0 runs without them).
pub const SCTLR_ALIGNMENT_CHECK: u64 = 1 << 1;
/// SCTLR_EL1.C: data caches on.
pub const SCTLR_DATA_CACHE: u64 = 1 << 2;
/// SCTLR_EL1.SA0: EL0 stack-alignment checks (5.0 clears them).
pub const SCTLR_EL0_STACK_ALIGNMENT: u64 = 1 << 4;
/// SCTLR_EL1.I: instruction caches on.
pub const SCTLR_INSTRUCTION_CACHE: u64 = 1 << 12;
/// SCTLR_EL1.WXN: writable implies execute-never (the kernel's boot code is writable).
pub const SCTLR_WRITE_EXECUTE_NEVER: u64 = 1 << 19;
/// SCTLR_EL1.E0E: big-endian EL0 data.
pub const SCTLR_EL0_BIG_ENDIAN: u64 = 1 << 24;
/// SCTLR_EL1.EE: big-endian EL1 data and table walks.
pub const SCTLR_BIG_ENDIAN: u64 = 1 << 25;

/// The SCTLR_EL1 bits the loader sets when it turns translation on.
pub const SCTLR_SET: u64 = SCTLR_MMU | SCTLR_DATA_CACHE | SCTLR_INSTRUCTION_CACHE;
/// The SCTLR_EL1 bits the loader clears when it turns translation on.
pub const SCTLR_CLEAR: u64 = SCTLR_ALIGNMENT_CHECK
    | SCTLR_EL0_STACK_ALIGNMENT
    | SCTLR_WRITE_EXECUTE_NEVER
    | SCTLR_EL0_BIG_ENDIAN
    | SCTLR_BIG_ENDIAN;

/// Why this CPU cannot run the kernel as the loader sets it up. C-like, nonzero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum CpuError {
    /// The loader was entered at another exception level than EL1 (5.0 without hypervisor
    /// support runs at EL1).
    NotEl1 = 1,
    /// The CPU has no 4 KiB translation granule.
    NoFourKibGranule = 2,
    /// The CPU has 8-bit ASIDs: 5.0's ASIDs are 16 bits (7 pool bits, 9 bits within a pool)
    /// and go into TTBR0 unchanged, so two address spaces would share TLB entries.
    NarrowAsids = 3,
}

/// Check the exception level the loader runs at (CurrentEL's value).
pub fn check_exception_level(current_el: u64) -> Result<(), CpuError> {
    if (current_el >> 2) & 0b11 == 1 {
        Ok(())
    } else {
        Err(CpuError::NotEl1)
    }
}

/// TCR_EL1 for a CPU with memory-model features `mmfr0` (ID_AA64MMFR0_EL1): both halves 48
/// bits with the 4 KiB granule, write-back inner-shareable walks, 16-bit ASIDs from TTBR0, and
/// the physical address size the CPU reports (at most 48 bits).
pub fn tcr(mmfr0: u64) -> Result<u64, CpuError> {
    if (mmfr0 >> MMFR0_TGRAN4_SHIFT) & 0xf == MMFR0_TGRAN4_ABSENT {
        return Err(CpuError::NoFourKibGranule);
    }
    if (mmfr0 >> MMFR0_ASID_BITS_SHIFT) & 0xf != MMFR0_ASID_16 {
        return Err(CpuError::NarrowAsids);
    }
    let size = 64 - VIRTUAL_ADDRESS_BITS;
    let pa_range = (mmfr0 & 0xf).min(MAX_PA_RANGE);
    Ok((size << TCR_T0SZ_SHIFT)
        | (size << TCR_T1SZ_SHIFT)
        | TCR_WALKS_LOWER
        | TCR_WALKS_UPPER
        | TCR_TG1_4KIB
        | (pa_range << TCR_IPS_SHIFT)
        | TCR_ASID_16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::KERNEL_BASE;

    /// Cortex-A57's ID_AA64MMFR0_EL1 (44-bit physical addresses, 16-bit ASIDs, 4 KiB and
    /// 64 KiB granules), as QEMU reports it.
    const CORTEX_A57_MMFR0: u64 = 0x0000_0000_0000_1124;

    fn field(value: u64, shift: u64, bits: u64) -> u64 {
        (value >> shift) & ((1 << bits) - 1)
    }

    #[test]
    fn tcr_gives_two_48_bit_halves_with_4_kib_granules_and_16_bit_asids() {
        let tcr = tcr(CORTEX_A57_MMFR0).expect("a Cortex-A57 runs seL4");
        let lower_top = 1u64 << (64 - field(tcr, 0, 6));
        let upper_bottom = u64::MAX << (64 - field(tcr, 16, 6));
        assert_eq!(lower_top, 1 << 48);
        assert!(
            KERNEL_BASE >= upper_bottom,
            "the kernel window is in the upper half"
        );
        assert_eq!(field(tcr, 14, 2), 0b00, "TG0: 4 KiB");
        assert_eq!(field(tcr, 30, 2), 0b10, "TG1: 4 KiB");
        assert_eq!(field(tcr, 7, 1), 0, "TTBR0 walks enabled");
        assert_eq!(field(tcr, 23, 1), 0, "TTBR1 walks enabled");
        assert_eq!(field(tcr, 22, 1), 0, "the ASID comes from TTBR0");
        assert_eq!(field(tcr, 36, 1), 1, "16-bit ASIDs");
        assert_eq!(
            field(tcr, 32, 3),
            CORTEX_A57_MMFR0 & 0xf,
            "the CPU's PA size"
        );
    }

    #[test]
    fn the_physical_address_size_is_capped_at_48_bits() {
        let tcr = tcr((CORTEX_A57_MMFR0 & !0xf) | 0b0110).expect("52-bit PA CPUs still run");
        assert_eq!(field(tcr, 32, 3), MAX_PA_RANGE);
    }

    #[test]
    fn cpus_without_4_kib_granules_or_with_8_bit_asids_are_refused() {
        let no_4k = CORTEX_A57_MMFR0 | (MMFR0_TGRAN4_ABSENT << MMFR0_TGRAN4_SHIFT);
        assert_eq!(tcr(no_4k).unwrap_err(), CpuError::NoFourKibGranule);
        let asid_8 = CORTEX_A57_MMFR0 & !(0xf << MMFR0_ASID_BITS_SHIFT);
        assert_eq!(tcr(asid_8).unwrap_err(), CpuError::NarrowAsids);
    }

    #[test]
    fn only_el1_is_accepted() {
        assert_eq!(check_exception_level(1 << 2), Ok(()));
        assert_eq!(check_exception_level(2 << 2), Err(CpuError::NotEl1));
        assert_eq!(check_exception_level(0), Err(CpuError::NotEl1));
    }
}
