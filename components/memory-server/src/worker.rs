//! The worker: one bounded batch per step (the seed's `balloon_process` loop body), so that the
//! server answers clients between batches. It steers the populated count to the target, keeps
//! room for deferred requests, uses 2 MiB extents where the policy allows, accounts exactly the
//! prefix Xen completed, probes a failed superpage extent, and backs off on failure.

use ballast_xen::{ExtentOrder, MemFlags, ReservationOp, FRAMES_PER_SUPERPAGE, SUPERPAGE_ORDER};

use crate::balloon::{signed, BalloonCore, InFlight};
use crate::config::Policy;
use crate::ports::{FrameScrubber, PortError, ReservationPort};
use crate::scan::{Collector, Pieces};
use crate::schedule::BpState;
use crate::stats::COUNTED_ORDERS;

/// What one step did and when to run the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepOutcome {
    /// The seed's outcome of the step.
    pub state: BpState,
    /// When to run the next step (the caller's clock, ns); `None` until a new event (target,
    /// free, client request).
    pub next_run_ns: Option<u64>,
    /// Frames populated or released by this step.
    pub frames_moved: u64,
    /// Deferred requests settled (granted or timed out) by this step: collect them with
    /// [`BalloonCore::take_settled`].
    pub settled: usize,
}

/// Room the deferred requests need: below which frame, and how many more frames to balloon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Room {
    /// The tightest frame limit of a waiting request.
    pub below: Option<u64>,
    /// Ballooned frames usable by the waiting requests that must stay in the balloon.
    pub keep: u64,
    /// Frames to balloon out for them.
    pub shortfall: u64,
}

const NS_PER_S: u64 = 1_000_000_000;

impl<const LENT: usize, const CLIENTS: usize, const PENDING: usize>
    BalloonCore<'_, LENT, CLIENTS, PENDING>
{
    /// What the waiting deferred requests need from the balloon.
    pub(crate) fn room(&self) -> Room {
        let waiting: u64 = self.pending.waiting().map(|p| p.request.frames).sum();
        if waiting == 0 {
            return Room {
                below: None,
                keep: 0,
                shortfall: 0,
            };
        }
        let below = self
            .pending
            .waiting()
            .filter_map(|p| p.request.below.map(|g| g.0))
            .min();
        let limit = below.unwrap_or(u64::MAX);
        let scan = self.scan();
        let lending = scan.count_lending(0, limit);
        let ballooned = if self.in_flight.is_some() {
            0
        } else {
            scan.count_ballooned(0, limit)
        };
        let wanted = waiting.saturating_sub(lending);
        Room {
            below,
            keep: wanted.min(ballooned),
            shortfall: wanted.saturating_sub(ballooned),
        }
    }

    /// Populated pages wanted minus populated pages now, with room kept for deferred requests.
    pub(crate) fn credit(&self) -> i64 {
        let current = signed(self.current_pages());
        let to_target = signed(self.target).saturating_sub(current);
        let room = self.room();
        if room.shortfall > 0 {
            return to_target.min(0).min(-signed(room.shortfall));
        }
        to_target.min(signed(self.ballooned().saturating_sub(room.keep)))
    }

    /// The populated count the worker steers to now.
    pub(crate) fn reachable_target(&self) -> u64 {
        signed(self.current_pages())
            .saturating_add(self.credit())
            .max(0)
            .unsigned_abs()
    }

    /// Run one bounded batch toward the target, settle deferred requests, and say when to run
    /// next. Honours the retry delay and a cancellation: a step before the delay has passed, or
    /// after `max_retry_count` failures until a new target (or a client frees, dies or asks),
    /// only settles deferred requests.
    pub fn balloon_step<P: ReservationPort, S: FrameScrubber>(
        &mut self,
        port: &mut P,
        scrubber: &mut S,
        now_ns: u64,
    ) -> StepOutcome {
        let mut settled = self.expire(now_ns);
        settled += self.grant_waiting();
        let backing_off = self.retry_at_ns.is_some_and(|at| now_ns < at);
        let (state, frames_moved) = if self.cancelled {
            (BpState::Cancelled, 0)
        } else if backing_off {
            (BpState::EAgain, 0)
        } else {
            let (raw, moved) = self.batch(port, scrubber);
            let state = self.schedule.update(raw);
            match state {
                BpState::EAgain => {
                    self.counters.retries += 1;
                    self.retry_at_ns =
                        Some(now_ns.saturating_add(u64::from(self.schedule.delay_s) * NS_PER_S));
                }
                BpState::Cancelled => {
                    self.counters.cancellations += 1;
                    self.retry_at_ns = None;
                    self.cancelled = true;
                }
                BpState::Done | BpState::Wait => self.retry_at_ns = None,
            }
            (state, moved)
        };
        settled += self.grant_waiting();
        let deadline = self.pending.next_deadline();
        let next_run_ns = match state {
            BpState::Done if self.credit() != 0 => Some(now_ns),
            BpState::EAgain => self
                .retry_at_ns
                .map(|at| deadline.map_or(at, |d| d.min(at))),
            _ => deadline,
        };
        StepOutcome {
            state,
            next_run_ns,
            frames_moved,
            settled,
        }
    }

    /// One batch: baseline, then an in-flight probe, then inflation or deflation.
    fn batch<P: ReservationPort, S: FrameScrubber>(
        &mut self,
        port: &mut P,
        scrubber: &mut S,
    ) -> (BpState, u64) {
        if self.baseline.is_none() && self.start(port).is_err() {
            return (BpState::EAgain, 0);
        }
        if self.in_flight.is_some() {
            return match self.resolve_in_flight(port) {
                Ok(moved) => (BpState::Done, moved),
                Err(_) => (BpState::EAgain, 0),
            };
        }
        let credit = self.credit();
        if credit > 0 {
            self.deflate(port, credit.unsigned_abs())
        } else if credit < 0 {
            let below = self.room().below;
            self.inflate(port, scrubber, credit.unsigned_abs(), below)
        } else if self.pending.waiting().next().is_some() {
            (BpState::Wait, 0)
        } else {
            (BpState::Done, 0)
        }
    }

    /// Whether the next batch may use superpages for `want` frames, unless they were `refused`.
    fn superpage_batch(&self, want: u64, refused: bool) -> bool {
        self.superpages && !refused && want >= FRAMES_PER_SUPERPAGE
    }

    /// Which pieces single frames come from first.
    fn first_pieces(&self) -> Pieces {
        match self.policy {
            Policy::Seed => Pieces::All,
            Policy::Ballast => Pieces::Partial,
        }
    }

    /// Populate up to `want` ballooned frames, lowest first (the seed's increase_reservation).
    fn deflate<P: ReservationPort>(&mut self, port: &mut P, want: u64) -> (BpState, u64) {
        let (order, count) = self.collect_ballooned(want);
        if count == 0 {
            return (BpState::EAgain, 0);
        }
        self.counters.reservation_calls += 1;
        let answer = port.reservation(
            ReservationOp::Populate,
            order,
            MemFlags::NONE,
            &mut self.list[..count],
        );
        match answer {
            Err(PortError::Refused) => (BpState::EAgain, 0),
            Ok(done) if done.anomaly.is_none() => {
                self.mark(0, done.extents, order, true);
                self.count_extents(ReservationOp::Populate, order, done.extents);
                let moved = done.extents as u64 * order.frames();
                if done.extents == count {
                    return (BpState::Done, moved);
                }
                self.counters.short_counts += 1;
                if order > ExtentOrder::PAGE {
                    self.fallback.populate = true;
                    self.counters.superpage_fallbacks += 1;
                    (BpState::Done, moved)
                } else if done.extents > 0 {
                    (BpState::Done, moved)
                } else {
                    (BpState::EAgain, 0)
                }
            }
            _ => self.unknown_outcome(port, ReservationOp::Populate, order, count),
        }
    }

    /// The next deflation batch in the frame list: its order and length.
    fn collect_ballooned(&mut self, want: u64) -> (ExtentOrder, usize) {
        let scan = crate::scan::Scan {
            regions: &self.regions,
            bitmap: &self.bitmap,
            lent: &self.lent,
        };
        if self.superpage_batch(want, self.fallback.populate) {
            let max = (want / FRAMES_PER_SUPERPAGE) as usize;
            let mut out = Collector::new(&mut self.list, max.min(self.batch_extents));
            scan.ballooned_chunks(&mut out);
            if !out.is_empty() {
                return (SUPERPAGE_ORDER, out.len());
            }
        }
        let first = self.first_pieces();
        let mut out = Collector::new(
            &mut self.list,
            (want.min(self.batch_extents as u64)) as usize,
        );
        scan.ballooned_frames(&mut out, first);
        if first == Pieces::Partial {
            scan.ballooned_frames(&mut out, Pieces::Whole);
        }
        (ExtentOrder::PAGE, out.len())
    }

    /// Release up to `want` free frames to Xen, highest first, preferring frames below `below`
    /// (the seed's decrease_reservation, without its BUG on a short count).
    fn inflate<P: ReservationPort, S: FrameScrubber>(
        &mut self,
        port: &mut P,
        scrubber: &mut S,
        want: u64,
        below: Option<u64>,
    ) -> (BpState, u64) {
        let (order, count) = self.collect_free(want, below);
        if count == 0 {
            return (BpState::EAgain, 0);
        }
        let before = if order > ExtentOrder::PAGE {
            match self.probe(port) {
                Ok(pages) => Some(pages),
                Err(_) => return (BpState::EAgain, 0),
            }
        } else {
            None
        };
        self.scrub_batch(scrubber, order, count);
        self.counters.reservation_calls += 1;
        let answer = port.reservation(
            ReservationOp::Decrease,
            order,
            MemFlags::NONE,
            &mut self.list[..count],
        );
        match answer {
            Err(PortError::Refused) => (BpState::EAgain, 0),
            Ok(done) if done.anomaly.is_none() => {
                self.mark(0, done.extents, order, false);
                self.count_extents(ReservationOp::Decrease, order, done.extents);
                let moved = done.extents as u64 * order.frames();
                if done.extents == count {
                    return (BpState::Done, moved);
                }
                self.counters.short_counts += 1;
                if order == ExtentOrder::PAGE {
                    return (BpState::EAgain, moved);
                }
                self.fallback.release = true;
                self.counters.superpage_fallbacks += 1;
                self.mark(done.extents, 1, order, false);
                self.in_flight = Some(InFlight {
                    op: ReservationOp::Decrease,
                    order,
                    from: done.extents,
                    count: 1,
                });
                let freed = match (before, self.probe(port)) {
                    (Some(before), Ok(after)) => {
                        let drop = before.saturating_sub(after).saturating_sub(moved);
                        self.settle_in_flight(order.frames().saturating_sub(drop));
                        drop.min(order.frames())
                    }
                    _ => 0,
                };
                (BpState::Done, moved + freed)
            }
            _ => {
                self.mark(0, count, order, false);
                self.unknown_outcome(port, ReservationOp::Decrease, order, count)
            }
        }
    }

    /// The next inflation batch in the frame list: its order and length.
    fn collect_free(&mut self, want: u64, below: Option<u64>) -> (ExtentOrder, usize) {
        let scan = crate::scan::Scan {
            regions: &self.regions,
            bitmap: &self.bitmap,
            lent: &self.lent,
        };
        let split = below.unwrap_or(u64::MAX);
        if self.superpage_batch(want, self.fallback.release) {
            let max = (want / FRAMES_PER_SUPERPAGE) as usize;
            let mut out = Collector::new(&mut self.list, max.min(self.batch_extents));
            let chunk_split = split - split % FRAMES_PER_SUPERPAGE;
            scan.free_chunks(&mut out, 0, chunk_split);
            scan.free_chunks(&mut out, chunk_split, u64::MAX);
            if !out.is_empty() {
                return (SUPERPAGE_ORDER, out.len());
            }
        }
        let first = self.first_pieces();
        let mut out = Collector::new(
            &mut self.list,
            (want.min(self.batch_extents as u64)) as usize,
        );
        for (lo, hi) in [(0, split), (split, u64::MAX)] {
            scan.free_frames(&mut out, lo, hi, first);
            if first == Pieces::Partial {
                scan.free_frames(&mut out, lo, hi, Pieces::Whole);
            }
        }
        (ExtentOrder::PAGE, out.len())
    }

    /// Zero the frames of the batch before they go back to Xen, one call per contiguous run.
    fn scrub_batch<S: FrameScrubber>(
        &mut self,
        scrubber: &mut S,
        order: ExtentOrder,
        count: usize,
    ) {
        let frames = order.frames();
        let mut run: Option<(u64, u64)> = None;
        for entry in &self.list[..count] {
            let (start, end) = (entry.0, entry.0 + frames);
            run = match run {
                Some((a, b)) if b == start => Some((a, end)),
                Some((a, b)) if end == a => Some((start, b)),
                Some((a, b)) => {
                    scrubber.scrub(ballast_xen::Gfn(a), b - a);
                    Some((start, end))
                }
                None => Some((start, end)),
            };
        }
        if let Some((a, b)) = run {
            scrubber.scrub(ballast_xen::Gfn(a), b - a);
        }
        self.counters.scrubbed_frames += count as u64 * frames;
    }

    /// Set (`populated`) or clear the bits of extents `[from, from + count)` of the batch list,
    /// keeping the populated count in step.
    pub(crate) fn mark(&mut self, from: usize, count: usize, order: ExtentOrder, populated: bool) {
        for index in from..from + count {
            self.mark_frames(self.list[index].0, order.frames(), populated);
        }
    }

    /// Set or clear the bits of frames `[first, first + frames)` (inside one RAM region).
    fn mark_frames(&mut self, first: u64, frames: u64, populated: bool) {
        let Some(bit) = self.regions.find(first).and_then(|r| r.bit(first)) else {
            return;
        };
        let before = self.bitmap.count_ones(bit, frames);
        self.bitmap.set_range(bit, frames, populated);
        if populated {
            self.populated_ram += frames - before;
        } else {
            self.populated_ram -= before;
        }
    }

    fn count_extents(&mut self, op: ReservationOp, order: ExtentOrder, extents: usize) {
        let index = usize::from(order.get()).min(COUNTED_ORDERS - 1);
        let counter = match op {
            ReservationOp::Decrease => &mut self.counters.released_extents,
            _ => &mut self.counters.populated_extents,
        };
        counter[index] += extents as u64;
    }

    /// The call's outcome is unknown (transport failure or an answer out of convention): the
    /// whole batch is in flight until a probe says how much of it Xen did.
    fn unknown_outcome<P: ReservationPort>(
        &mut self,
        port: &mut P,
        op: ReservationOp,
        order: ExtentOrder,
        count: usize,
    ) -> (BpState, u64) {
        self.in_flight = Some(InFlight {
            op,
            order,
            from: 0,
            count,
        });
        match self.resolve_in_flight(port) {
            Ok(moved) if moved > 0 => (BpState::Done, moved),
            _ => (BpState::EAgain, 0),
        }
    }

    /// Probe Xen and settle the in-flight batch from the difference between its page count and
    /// the model's. Returns the frames the batch moved.
    pub(crate) fn resolve_in_flight<P: ReservationPort>(
        &mut self,
        port: &mut P,
    ) -> Result<u64, PortError> {
        let xen = self.probe(port)?;
        let populated = signed(xen).saturating_sub(self.expected_xen());
        Ok(self.settle_in_flight(populated.max(0) as u64))
    }

    /// Settle the in-flight batch knowing that `populated` of its frames are populated now:
    /// Xen works through the list in order, so after a release the populated frames are the
    /// tail, after a populate the head (whole extents). Returns the frames the batch moved.
    pub(crate) fn settle_in_flight(&mut self, populated: u64) -> u64 {
        let Some(flight) = self.in_flight.take() else {
            return 0;
        };
        let frames = flight.order.frames();
        let total = flight.frames();
        if populated > total {
            self.counters.drift = signed(populated - total);
        }
        let populated = populated.min(total);
        match flight.op {
            ReservationOp::Decrease => {
                let freed = total - populated;
                let mut at = 0;
                for index in flight.from..flight.from + flight.count {
                    let first = self.list[index].0;
                    let keep_from = freed.saturating_sub(at).min(frames);
                    self.mark_frames(first + keep_from, frames - keep_from, true);
                    at += frames;
                }
                self.count_extents(flight.op, flight.order, (freed / frames) as usize);
                freed
            }
            _ => {
                let extents = (populated / frames) as usize;
                if populated % frames != 0 {
                    self.counters.drift = signed(populated % frames);
                }
                self.mark(flight.from, extents, flight.order, true);
                self.count_extents(flight.op, flight.order, extents);
                extents as u64 * frames
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use ballast_xen::{Completed, ExtentOrder, Gfn, MemFlags, ReservationOp};
    use ballast_xen_sim::{DomId, Fault, SimHypervisor, XenSim};

    use crate::test_support::{domain, run_until_idle, Core, SimScrubber};
    use crate::{
        BpState, Config, FrameRun, HypervisorPort, Policy, PortError, ReservationPort, Tunables,
    };

    const RAM: [FrameRun; 1] = [FrameRun::span(0, 4096)];
    const EXTRA: [FrameRun; 1] = [FrameRun::span(4096, 5120)];

    fn agrees_with_xen(core: &Core<'_>, sim: &XenSim, dom: DomId, frames: core::ops::Range<u64>) {
        for gfn in frames {
            let model = core.frame_state(Gfn(gfn)).unwrap();
            let populated = matches!(
                model,
                crate::FrameState::PopulatedFree | crate::FrameState::Reserved
            );
            assert_eq!(
                sim.is_populated(dom, gfn),
                Some(populated),
                "gfn {gfn}: {model:?}"
            );
        }
    }

    fn scrubber(sim: &XenSim, dom: DomId) -> SimScrubber {
        SimScrubber {
            sim: sim.clone(),
            dom,
        }
    }

    #[test]
    fn ballast_moves_whole_chunks_both_ways() {
        let (sim, dom, mut hv) = domain(0..4096, 8192, 1 << 16);
        let config = Config::new(&RAM, Policy::Ballast);
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut scrub = scrubber(&sim, dom);
        core.set_target(1024);
        let (steps, now) = run_until_idle(&mut core, &mut hv, &mut scrub, 0, 100);
        assert_eq!(steps.last().unwrap().state, BpState::Done);
        assert_eq!(sim.tot_pages(dom), Some(1024));
        let stats = core.stats();
        assert_eq!(stats.counters.released_extents[9], 6);
        assert_eq!(stats.counters.reservation_calls, 1);
        agrees_with_xen(&core, &sim, dom, 0..4096);
        assert_eq!(sim.superpage_intact(dom, 0), Some(true));
        core.set_target(4096);
        run_until_idle(&mut core, &mut hv, &mut scrub, now, 100);
        assert_eq!(sim.tot_pages(dom), Some(4096));
        assert_eq!(core.stats().counters.populated_extents[9], 6);
        assert_eq!(core.stats().counters.reservation_calls, 2);
        assert_eq!(sim.leaked_pages(dom), Some(0));
        agrees_with_xen(&core, &sim, dom, 0..4096);
    }

    #[test]
    fn seed_moves_single_pages_512_per_call_and_repopulates_lowest_first() {
        let (sim, dom, mut hv) = domain(0..4096, 8192, 1 << 16);
        let config = Config::new(&RAM, Policy::Seed);
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut scrub = scrubber(&sim, dom);
        core.set_target(1024);
        let (_, now) = run_until_idle(&mut core, &mut hv, &mut scrub, 0, 100);
        assert_eq!(sim.tot_pages(dom), Some(1024));
        assert_eq!(core.stats().counters.released_extents[0], 3072);
        assert_eq!(core.stats().counters.reservation_calls, 6);
        core.set_target(1025);
        run_until_idle(&mut core, &mut hv, &mut scrub, now, 100);
        assert_eq!(sim.is_populated(dom, 1024), Some(true));
        assert_eq!(sim.is_populated(dom, 1025), Some(false));
        agrees_with_xen(&core, &sim, dom, 0..4096);
    }

    #[test]
    fn frames_are_scrubbed_before_they_go_back_to_xen() {
        let (sim, dom, mut hv) = domain(0..4096, 8192, 1 << 16);
        let config = Config::new(&RAM, Policy::Ballast);
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut scrub = scrubber(&sim, dom);
        sim.write_page(dom, 4095, 0xdead_beef).unwrap();
        core.set_target(4095);
        let (_, now) = run_until_idle(&mut core, &mut hv, &mut scrub, 0, 10);
        assert_eq!(sim.is_populated(dom, 4095), Some(false));
        core.set_target(4096);
        run_until_idle(&mut core, &mut hv, &mut scrub, now, 10);
        assert_eq!(sim.read_page(dom, 4095), Some(0));
        assert_eq!(core.stats().counters.scrubbed_frames, 1);
    }

    #[test]
    fn backoff_doubles_from_one_second_to_the_maximum_and_resets_on_success() {
        let (sim, dom, mut hv) = domain(0..4096, 8192, 1 << 16);
        sim.inject(Fault::HostExhausted { calls: 0..7 });
        let mut config = Config::new(&RAM, Policy::Seed);
        config.extra = &EXTRA;
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut scrub = scrubber(&sim, dom);
        core.set_target(5120);
        let mut now = 0;
        let mut delays = std::vec::Vec::new();
        for _ in 0..7 {
            let outcome = core.balloon_step(&mut HypervisorPort::new(&mut hv), &mut scrub, now);
            assert_eq!(outcome.state, BpState::EAgain);
            core.check_invariant(sim.tot_pages(dom)).unwrap();
            let next = outcome.next_run_ns.unwrap();
            let early = core.balloon_step(&mut HypervisorPort::new(&mut hv), &mut scrub, now + 1);
            assert_eq!((early.state, early.frames_moved), (BpState::EAgain, 0));
            delays.push((next - now) / 1_000_000_000);
            now = next;
        }
        assert_eq!(delays, [2, 4, 8, 16, 32, 32, 32]);
        assert_eq!(sim.next_call(), 7);
        let outcome = core.balloon_step(&mut HypervisorPort::new(&mut hv), &mut scrub, now);
        assert_eq!(outcome.state, BpState::Done);
        assert_eq!(core.stats().schedule_delay_s, 1);
        assert_eq!(core.stats().retry_count, 1);
        assert_eq!(
            (outcome.frames_moved, outcome.next_run_ns),
            (512, Some(now))
        );
        run_until_idle(&mut core, &mut hv, &mut scrub, now, 10);
        assert_eq!(sim.tot_pages(dom), Some(5120));
        assert_eq!(core.stats().counters.retries, 7);
    }

    #[test]
    fn exceeding_max_retry_count_cancels_until_the_next_target() {
        let (sim, dom, mut hv) = domain(0..4096, 8192, 1 << 16);
        sim.inject(Fault::HostExhausted { calls: 0..100 });
        let mut config = Config::new(&RAM, Policy::Seed);
        config.extra = &EXTRA;
        config.tunables = Tunables {
            max_schedule_delay_s: 32,
            max_retry_count: 3,
        };
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut scrub = scrubber(&sim, dom);
        core.set_target(5120);
        let (steps, _) = run_until_idle(&mut core, &mut hv, &mut scrub, 0, 10);
        let states: std::vec::Vec<_> = steps.iter().map(|s| s.state).collect();
        assert_eq!(
            states,
            [BpState::EAgain, BpState::EAgain, BpState::Cancelled]
        );
        assert_eq!(steps.last().unwrap().next_run_ns, None);
        assert_eq!(core.stats().counters.cancellations, 1);
        assert_eq!(core.stats().schedule_delay_s, 1);
        let calls = sim.next_call();
        let idle = core.balloon_step(&mut HypervisorPort::new(&mut hv), &mut scrub, 1 << 40);
        assert_eq!(
            (idle.state, idle.next_run_ns, sim.next_call()),
            (BpState::Cancelled, None, calls)
        );
        core.set_target(5000);
        let again = core.balloon_step(&mut HypervisorPort::new(&mut hv), &mut scrub, 1 << 40);
        assert_eq!((again.state, sim.next_call()), (BpState::EAgain, calls + 1));
    }

    #[test]
    fn a_fragmented_host_makes_the_worker_fall_back_to_single_pages() {
        let (sim, dom, mut hv) = domain(0..4096, 8192, 1 << 16);
        sim.inject(Fault::Fragmented { calls: 0..100 });
        let mut config = Config::new(&RAM, Policy::Ballast);
        config.extra = &EXTRA;
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut scrub = scrubber(&sim, dom);
        core.set_target(5120);
        let (steps, _) = run_until_idle(&mut core, &mut hv, &mut scrub, 0, 10);
        assert!(steps.iter().all(|s| s.state == BpState::Done));
        assert_eq!(sim.tot_pages(dom), Some(5120));
        let counters = core.stats().counters;
        assert_eq!(
            (counters.superpage_fallbacks, counters.populated_extents[0]),
            (1, 1024)
        );
        agrees_with_xen(&core, &sim, dom, 0..5120);
    }

    #[test]
    fn a_superpage_release_that_freed_part_of_its_failed_extent_is_probed_exactly() {
        let (sim, dom, mut hv) = domain(0..4096, 8192, 1 << 16);
        sim.inject(Fault::PartialExtent {
            call: 0,
            completed: 2,
            pages: 100,
        });
        let config = Config::new(&RAM, Policy::Ballast);
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut scrub = scrubber(&sim, dom);
        core.set_target(2048);
        let first = core.balloon_step(&mut HypervisorPort::new(&mut hv), &mut scrub, 0);
        assert_eq!((first.state, first.frames_moved), (BpState::Done, 1124));
        core.check_invariant(sim.tot_pages(dom)).unwrap();
        agrees_with_xen(&core, &sim, dom, 0..4096);
        run_until_idle(&mut core, &mut hv, &mut scrub, 0, 100);
        assert_eq!(sim.tot_pages(dom), Some(2048));
        agrees_with_xen(&core, &sim, dom, 0..4096);
    }

    #[test]
    fn a_short_populate_is_accounted_to_the_extent() {
        let (sim, dom, mut hv) = domain(0..4096, 8192, 1 << 16);
        sim.inject(Fault::Shorten {
            call: 0,
            completed: 3,
        });
        let mut config = Config::new(&RAM, Policy::Seed);
        config.extra = &EXTRA;
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut scrub = scrubber(&sim, dom);
        core.set_target(4200);
        let first = core.balloon_step(&mut HypervisorPort::new(&mut hv), &mut scrub, 0);
        assert_eq!((first.state, first.frames_moved), (BpState::Done, 3));
        assert_eq!(core.stats().counters.short_counts, 1);
        run_until_idle(&mut core, &mut hv, &mut scrub, 0, 100);
        assert_eq!(sim.tot_pages(dom), Some(4200));
        assert_eq!(sim.leaked_pages(dom), Some(0));
        agrees_with_xen(&core, &sim, dom, 0..5120);
    }

    /// Forwards to the simulated Xen, then reports the gateway dead for chosen calls, and fails
    /// the next probes: the transport failure after Xen acted.
    struct DyingGateway<'h> {
        hv: &'h mut SimHypervisor,
        die_on_call: u64,
        calls: u64,
        failing_probes: u32,
    }

    impl ReservationPort for DyingGateway<'_> {
        fn reservation(
            &mut self,
            op: ReservationOp,
            order: ExtentOrder,
            flags: MemFlags,
            frames: &mut [Gfn],
        ) -> Result<Completed, PortError> {
            let answer = HypervisorPort::new(self.hv).reservation(op, order, flags, frames);
            self.calls += 1;
            if self.calls - 1 == self.die_on_call {
                Err(PortError::GatewayDied)
            } else {
                answer
            }
        }

        fn current_reservation(&mut self) -> Result<u64, PortError> {
            if self.failing_probes > 0 && self.calls > self.die_on_call {
                self.failing_probes -= 1;
                return Err(PortError::GatewayDied);
            }
            HypervisorPort::new(self.hv).current_reservation()
        }
    }

    #[test]
    fn a_batch_lost_in_transport_stays_in_flight_until_a_probe_settles_it() {
        let (sim, dom, mut hv) = domain(0..4096, 8192, 1 << 16);
        let mut config = Config::new(&RAM, Policy::Seed);
        config.extra = &EXTRA;
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut scrub = scrubber(&sim, dom);
        core.start(&mut HypervisorPort::new(&mut hv)).unwrap();
        core.set_target(4096 + 100);
        let mut gateway = DyingGateway {
            hv: &mut hv,
            die_on_call: 0,
            calls: 0,
            failing_probes: 1,
        };
        let lost = core.balloon_step(&mut gateway, &mut scrub, 0);
        assert_eq!(lost.state, BpState::EAgain);
        assert_eq!(core.stats().in_flight_pages, 100);
        assert_eq!(
            core.frame_state(Gfn(4096)),
            Some(crate::FrameState::InFlight)
        );
        core.check_invariant(sim.tot_pages(dom)).unwrap();
        let settled = core.balloon_step(&mut gateway, &mut scrub, lost.next_run_ns.unwrap());
        assert_eq!((settled.state, settled.frames_moved), (BpState::Done, 100));
        assert_eq!(core.stats().in_flight_pages, 0);
        core.check_invariant(sim.tot_pages(dom)).unwrap();
        agrees_with_xen(&core, &sim, dom, 0..5120);
        assert_eq!(core.reconcile(&mut gateway), Ok(0));
    }
}
