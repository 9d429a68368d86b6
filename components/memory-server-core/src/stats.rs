//! The statistics the seed exports (current, target, total, low and high ballooned, the retry
//! tunables) plus ballast's own: lent frames, hypercalls, extents by order, retries, drift.

use ballast_xen::{ExtentOrder, ReservationOp};

/// Orders counted separately in [`Counters`] (0 to the superpage order, 9).
pub const COUNTED_ORDERS: usize = 10;

/// Event counters, only ever increased (except `drift` and `boot_deficit`, measured values).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Reservation calls made (increase, decrease, populate).
    pub reservation_calls: u64,
    /// `current_reservation` calls made (baseline, probes, reconciliation).
    pub probe_calls: u64,
    /// Extents populated, by order.
    pub populated_extents: [u64; COUNTED_ORDERS],
    /// Extents given back to Xen, by order.
    pub released_extents: [u64; COUNTED_ORDERS],
    /// Batches that failed and were scheduled for retry (`BP_EAGAIN`).
    pub retries: u64,
    /// Operations cancelled after `max_retry_count` failures (`BP_ECANCELED`).
    pub cancellations: u64,
    /// Reservation calls that completed fewer extents than asked.
    pub short_counts: u64,
    /// Times a superpage call failed and the worker fell back to 4 KiB extents.
    pub superpage_fallbacks: u64,
    /// Frames scrubbed before going back to Xen.
    pub scrubbed_frames: u64,
    /// Frames that went back to Xen unscrubbed because their chunk was clean: populated by the
    /// server and written by nobody since (the start's unscrubbed releases are apart, in
    /// `boot_unscrubbed_frames`).
    pub scrub_skipped_frames: u64,
    /// Deferred allocations granted.
    pub deferred_granted: u64,
    /// Deferred allocations that timed out.
    pub deferred_timed_out: u64,
    /// Xen's page count minus the model's at the last probe (0 when they agree).
    pub drift: i64,
    /// Frames the model held populated beyond Xen's count at start (a populate-on-demand boot;
    /// 0 otherwise).
    pub boot_deficit: u64,
    /// Frames released at start without scrubbing (the deficit and the settling batches).
    pub boot_unscrubbed_frames: u64,
    /// Settling batches released at start, each followed by a probe, until Xen's count fell.
    pub boot_settling_batches: u64,
    /// Steps that picked no frame because the chunk summary's pool had no block left for the
    /// chunks holding them (`Config::mixed_chunk_blocks`), and waited.
    pub pool_waits: u64,
}

/// A snapshot of the balloon, in 4 KiB pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Populated frames (seed: `current_pages`).
    pub current_pages: u64,
    /// The requested target (seed: `target_pages`).
    pub target_pages: u64,
    /// The target the worker actually steers to: the requested one capped by what RAM can hold
    /// with the lent frames and deferred requests taken out.
    pub reachable_target_pages: u64,
    /// Frames that could be populated: RAM, extra regions, growth and reserved (seed:
    /// `total_pages`): the largest target the server accepts.
    pub total_pages: u64,
    /// Ballooned frames below the low-memory limit (seed: `balloon_low`).
    pub balloon_low: u64,
    /// Ballooned frames above it (seed: `balloon_high`).
    pub balloon_high: u64,
    /// Frames lent to clients.
    pub lent_pages: u64,
    /// Lent frames plus frames asked for by deferred requests (seed: `target_unpopulated`).
    pub target_unpopulated: u64,
    /// Frames whose state is unknown until the next probe.
    pub in_flight_pages: u64,
    /// Current retry delay, seconds (seed: `schedule_delay`).
    pub schedule_delay_s: u32,
    /// Its maximum (seed: `max_schedule_delay`).
    pub max_schedule_delay_s: u32,
    /// Seed: `retry_count`.
    pub retry_count: u32,
    /// Seed: `max_retry_count` (0 = unlimited).
    pub max_retry_count: u32,
    /// Event counters.
    pub counters: Counters,
}

/// Add `by` to a statistics counter. The counters are `u64` and count calls, extents or frames the
/// server moved one batch at a time, so 2^64 is out of reach; were it reached, the counter would
/// stay at its maximum rather than wrap to a small, plausible value.
pub(crate) fn add(counter: &mut u64, by: u64) {
    *counter = counter.saturating_add(by);
}

impl Counters {
    /// Hypercalls issued: reservation calls and probes.
    pub fn hypercalls(&self) -> u64 {
        // Counts of calls: their sum cannot reach 2^64.
        self.reservation_calls.saturating_add(self.probe_calls)
    }

    /// Count `extents` extents of `order` populated or released by `op`.
    pub(crate) fn count_extents(&mut self, op: ReservationOp, order: ExtentOrder, extents: usize) {
        let index = usize::from(order.get()).min(COUNTED_ORDERS - 1);
        let counter = match op {
            ReservationOp::Decrease => &mut self.released_extents,
            _ => &mut self.populated_extents,
        };
        add(&mut counter[index], extents as u64);
    }
}
