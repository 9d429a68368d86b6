//! Time from the TSC. The frequency comes from Xen's CPUID leaf base+3, sub-leaf 0, whose ECX is
//! the guest's TSC frequency in kHz (xen/include/public/arch-x86/cpuid.h): Xen measured the TSC
//! against its platform timer at boot, so this holds under QEMU's emulated TSC too, where the
//! architectural leaves 0x15/0x16 are absent.
//! See `docs/XEN-BEHAVIOUR.md#tsc-frequency`.

use core::arch::x86_64::{__cpuid_count, _rdtsc};

use ballast_xen::backend::x86_64::xen_cpuid_base;

use ballast_ipc::static_rt::Clock;

/// Xen's time leaf, relative to its CPUID base.
const XEN_TIME_LEAF: u32 = 3;

/// The TSC with a known frequency.
#[derive(Clone, Copy, Debug)]
pub struct Tsc {
    khz: u64,
}

impl Tsc {
    /// Read the TSC frequency from Xen; `None` when not on Xen or Xen reports 0.
    pub fn from_xen() -> Option<Tsc> {
        let base = xen_cpuid_base()?;
        if __cpuid_count(base, 0).eax < base + XEN_TIME_LEAF {
            return None;
        }
        let khz = u64::from(__cpuid_count(base + XEN_TIME_LEAF, 0).ecx);
        (khz > 0).then_some(Tsc { khz })
    }

    /// The frequency in kHz.
    pub fn khz(&self) -> u64 {
        self.khz
    }
}

impl Clock for Tsc {
    fn now_ns(&self) -> u64 {
        // SAFETY: `rdtsc` reads a counter; every x86-64 CPU has it and it touches no memory.
        let ticks = unsafe { _rdtsc() };
        (u128::from(ticks) * 1_000_000 / u128::from(self.khz)) as u64
    }
}
