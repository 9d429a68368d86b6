//! Time from the generic timer's virtual counter (CNTVCT_EL0) at the frequency CNTFRQ_EL0 reports.

use core::arch::asm;

use ballast_ipc::static_rt::Clock;

/// The virtual counter with its frequency.
#[derive(Clone, Copy, Debug)]
pub struct GenericTimer {
    hz: u64,
}

impl GenericTimer {
    /// The counter, if its frequency is known.
    pub fn new() -> Option<GenericTimer> {
        let hz: u64;
        // SAFETY: reads a system register; no memory is touched.
        unsafe { asm!("mrs {}, cntfrq_el0", out(reg) hz, options(nomem, nostack)) };
        (hz > 0).then_some(GenericTimer { hz })
    }

    /// The counter's frequency in Hz.
    pub fn hz(&self) -> u64 {
        self.hz
    }
}

impl Clock for GenericTimer {
    fn now_ns(&self) -> u64 {
        let ticks: u64;
        // SAFETY: an ISB then a read of the virtual counter (so that it is not read early); no
        // memory is touched.
        unsafe { asm!("isb", "mrs {}, cntvct_el0", out(reg) ticks, options(nomem, nostack)) };
        (u128::from(ticks) * 1_000_000_000 / u128::from(self.hz)) as u64
    }
}
