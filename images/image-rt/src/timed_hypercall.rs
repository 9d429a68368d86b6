//! A raw hypercall that adds the time each call spends in Xen to a counter: how `ballast hil`
//! splits a balloon move into its hypercalls and the rest, without touching the components.

use core::cell::Cell;

use ballast_ipc::static_rt::Clock;
use ballast_xen::backend::RawHypercall;

/// `raw`, with the nanoseconds of every call (as `clock` reads them) added to `spent`.
#[derive(Clone, Copy, Debug)]
pub struct TimedHypercall<'c, R, K> {
    raw: R,
    clock: K,
    spent: &'c Cell<u64>,
}

impl<'c, R: RawHypercall, K: Clock> TimedHypercall<'c, R, K> {
    /// Time the calls through `raw` with `clock` into `spent`.
    pub const fn new(raw: R, clock: K, spent: &'c Cell<u64>) -> Self {
        TimedHypercall { raw, clock, spent }
    }
}

impl<R: RawHypercall, K: Clock> RawHypercall for TimedHypercall<'_, R, K> {
    unsafe fn hypercall5(&self, nr: u32, args: [u64; 5]) -> i64 {
        let start = self.clock.now_ns();
        // SAFETY: the caller keeps `hypercall5`'s contract for `nr` and `args`; they are passed
        // on unchanged.
        let result = unsafe { self.raw.hypercall5(nr, args) };
        let took = self.clock.now_ns().saturating_sub(start);
        self.spent.set(self.spent.get().saturating_add(took));
        result
    }
}
