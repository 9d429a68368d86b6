//! The PD's clock: the generic timer's virtual count, which EL0 may read (the kernel's patch
//! `0003-aarch64-el0-virtual-counter` sets CNTKCTL_EL1.EL0VCTEN), in nanoseconds.

use core::arch::asm;

/// Nanoseconds in a second.
const NANOS: u128 = 1_000_000_000;

/// The virtual count and its frequency.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// Counts per second (CNTFRQ_EL0).
    frequency: u64,
}

impl Clock {
    /// The clock, its frequency read once.
    pub fn new() -> Clock {
        let frequency: u64;
        // SAFETY: reads CNTFRQ_EL0, readable at EL0 once EL0VCTEN is set (kernel patch 0003);
        // touches no memory.
        unsafe { asm!("mrs {}, cntfrq_el0", out(reg) frequency, options(nomem, nostack)) };
        Clock {
            frequency: frequency.max(1),
        }
    }

    /// Monotonic nanoseconds since the count started.
    pub fn now_ns(&self) -> u64 {
        self.ns(self.ticks())
    }

    /// The virtual count now (CNTVCT_EL0), in ticks of [`Clock::frequency`].
    pub fn ticks(&self) -> u64 {
        let count: u64;
        // SAFETY: reads CNTVCT_EL0 (as for CNTFRQ_EL0 above); the `isb` orders the read after
        // the instructions before it, so that time never appears to go backwards.
        unsafe { asm!("isb", "mrs {}, cntvct_el0", out(reg) count, options(nomem, nostack)) };
        count
    }

    /// Ticks per second.
    pub fn frequency(&self) -> u64 {
        self.frequency
    }

    /// `ticks` of the count in nanoseconds.
    pub fn ns(&self, ticks: u64) -> u64 {
        (u128::from(ticks) * NANOS / u128::from(self.frequency)) as u64
    }
}

impl ballast_ipc::static_rt::Clock for Clock {
    fn now_ns(&self) -> u64 {
        Clock::now_ns(self)
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}
