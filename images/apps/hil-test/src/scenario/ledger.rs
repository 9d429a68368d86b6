//! Reservation calls with their bookkeeping: every call is counted, and each is logged as a
//! `step` line carrying Xen's `current_reservation` before and after, so that the host can check
//! that the page count moved by exactly the extents Xen says it completed.

use ballast_xen::{Completed, ExtentOrder, Gfn, Hypervisor, MemFlags, ReservationOp};

use ballast_frame_access::FrameRun;

/// How the balloon cuts a range into hypercalls.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Short name for log lines.
    pub name: &'static str,
    /// Extent order of every extent.
    pub order: ExtentOrder,
    /// Extents per hypercall (the frame list's capacity).
    pub extents_per_call: usize,
}

/// The capacity of the frame list a call takes: one 4 KiB page of 8-byte entries, like the seed.
pub const LIST_CAPACITY: usize = 512;

/// ballast's policy: 2 MiB extents.
pub const SUPERPAGES: Policy = Policy {
    name: "2M",
    order: ballast_xen::SUPERPAGE_ORDER,
    extents_per_call: LIST_CAPACITY,
};

/// The seed's policy: 4 KiB extents, 512 frames per call.
pub const SEED: Policy = Policy {
    name: "4K",
    order: ExtentOrder::PAGE,
    extents_per_call: LIST_CAPACITY,
};

/// Whether every call queries the reservation (and logs a step), or only the whole pass does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    /// One `step` line per hypercall.
    EveryCall,
    /// One `step` line for the whole pass, with no queries between its calls (for timing; the
    /// two queries before and after fall inside a caller's timed interval, a negligible cost next
    /// to the reservation calls).
    WholePass,
}

/// What a pass over a range did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Hypercalls made.
    pub calls: u32,
    /// Extents requested.
    pub requested: u64,
    /// Extents completed, a prefix of the range.
    pub done: u64,
}

/// The hypervisor, with every reservation call checked for anomalies and logged.
pub struct Ledger<'h, H: Hypervisor> {
    xen: &'h mut H,
    /// Called after every `step` line: where the run holds still for the host to read Xen's
    /// count, when it reads after every step.
    after_step: Option<&'h dyn Fn()>,
}

impl<H: Hypervisor> core::fmt::Debug for Ledger<'_, H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ledger")
            .field("holds_after_steps", &self.after_step.is_some())
            .finish_non_exhaustive()
    }
}

fn op_name(op: ReservationOp) -> &'static str {
    match op {
        ReservationOp::Increase => "increase",
        ReservationOp::Decrease => "decrease",
        ReservationOp::Populate => "populate",
    }
}

impl<'h, H: Hypervisor> Ledger<'h, H> {
    /// Wrap `xen`; `after_step`, if any, runs after every `step` line.
    pub fn new(xen: &'h mut H, after_step: Option<&'h dyn Fn()>) -> Self {
        Ledger { xen, after_step }
    }

    /// Log a step, then run the after-step hook.
    fn step(&self, op: ReservationOp, order: ExtentOrder, pass: Pass, (before, after): (u64, u64)) {
        log_step(op, order, pass, before, after);
        if let Some(after_step) = self.after_step {
            after_step();
        }
    }

    /// `XENMEM_current_reservation`; an errno is logged and reads as 0, which no check accepts.
    pub fn current(&mut self) -> u64 {
        self.xen.current_reservation().unwrap_or_else(|errno| {
            defmt::error!("current_reservation failed errno={=i32}", errno.0);
            0
        })
    }

    /// `XENMEM_maximum_reservation`; an errno is logged and reads as 0.
    pub fn maximum(&mut self) -> u64 {
        self.xen.maximum_reservation().unwrap_or_else(|errno| {
            defmt::error!("maximum_reservation failed errno={=i32}", errno.0);
            0
        })
    }

    /// One hypercall over `frames`, logged as a step.
    pub fn call(&mut self, op: ReservationOp, order: ExtentOrder, frames: &mut [Gfn]) -> Completed {
        let before = self.current();
        let completed = self.raw_call(op, order, frames);
        let after = self.current();
        let pass = Pass {
            calls: 1,
            requested: frames.len() as u64,
            done: completed.extents as u64,
        };
        self.step(op, order, pass, (before, after));
        completed
    }

    /// Run `op` over `range` in extents of the policy's order, stopping at the first short count.
    pub fn pass(
        &mut self,
        op: ReservationOp,
        policy: Policy,
        range: FrameRun,
        granularity: Granularity,
    ) -> Pass {
        let extent_frames = policy.order.frames();
        let extents = range.frames / extent_frames;
        let mut list = [Gfn(0); LIST_CAPACITY];
        let per_call = policy.extents_per_call.min(LIST_CAPACITY) as u64;
        let mut pass = Pass {
            requested: extents,
            ..Pass::default()
        };
        let before = self.current_if(granularity == Granularity::WholePass);
        while pass.done < extents {
            let count = per_call.min(extents - pass.done) as usize;
            for (index, slot) in list[..count].iter_mut().enumerate() {
                *slot = range.frame((pass.done + index as u64) * extent_frames);
            }
            let completed = match granularity {
                Granularity::EveryCall => self.call(op, policy.order, &mut list[..count]),
                Granularity::WholePass => self.raw_call(op, policy.order, &mut list[..count]),
            };
            pass.calls += 1;
            pass.done += completed.extents as u64;
            if completed.is_short(count) {
                break;
            }
        }
        if granularity == Granularity::WholePass {
            let after = self.current();
            self.step(op, policy.order, pass, (before, after));
        }
        pass
    }

    fn current_if(&mut self, wanted: bool) -> u64 {
        if wanted {
            self.current()
        } else {
            0
        }
    }

    fn raw_call(&mut self, op: ReservationOp, order: ExtentOrder, frames: &mut [Gfn]) -> Completed {
        let completed = self.xen.reservation(op, order, MemFlags::NONE, frames);
        if let Some(raw) = completed.anomaly {
            defmt::error!("reservation returned out-of-convention value={=i64}", raw);
        }
        completed
    }
}

fn log_step(op: ReservationOp, order: ExtentOrder, pass: Pass, before: u64, after: u64) {
    defmt::info!(
        "step op={=str} order={=u8} calls={=u32} requested={=u64} done={=u64} before={=u64} after={=u64}",
        op_name(op),
        order.get(),
        pass.calls,
        pass.requested,
        pass.done,
        before,
        after
    );
}
