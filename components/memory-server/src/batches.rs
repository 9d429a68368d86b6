//! One batch in each direction: pick the frames (whole 2 MiB chunks where the policy allows,
//! single frames otherwise), scrub before release, make the reservation call, and account
//! exactly the prefix Xen completed; a failed superpage extent is probed, a failed superpage
//! call makes the worker fall back to 4 KiB extents.

use ballast_xen::{ExtentOrder, MemFlags, ReservationOp, FRAMES_PER_SUPERPAGE, SUPERPAGE_ORDER};

use crate::balloon::{BalloonCore, InFlight};
use crate::config::Policy;
use crate::ports::{FrameScrubber, PortError, ReservationPort};
use crate::scan::{Collector, Pieces};
use crate::schedule::BpState;
use crate::stats::COUNTED_ORDERS;

impl<const LENT: usize, const CLIENTS: usize, const PENDING: usize>
    BalloonCore<'_, LENT, CLIENTS, PENDING>
{
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

    /// Populate up to `want` ballooned frames, lowest first, except that frames a deferred
    /// low-memory request could use go last (the seed's increase_reservation).
    pub(crate) fn deflate<P: ReservationPort>(
        &mut self,
        port: &mut P,
        want: u64,
    ) -> (BpState, u64) {
        let keep_below = self.room().below;
        let (order, count) = self.collect_ballooned(want, keep_below);
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
    /// Frames at or above `keep_below` go first, so that the frames deferred requests limited to
    /// low memory can use stay in the balloon.
    fn collect_ballooned(&mut self, want: u64, keep_below: Option<u64>) -> (ExtentOrder, usize) {
        let scan = crate::scan::Scan {
            regions: &self.regions,
            bitmap: &self.bitmap,
            lent: &self.lent,
        };
        let split = keep_below.unwrap_or(0);
        if self.superpage_batch(want, self.fallback.populate) {
            let max = (want / FRAMES_PER_SUPERPAGE) as usize;
            let mut out = Collector::new(&mut self.list, max.min(self.batch_extents));
            let chunk_split = split.div_ceil(FRAMES_PER_SUPERPAGE) * FRAMES_PER_SUPERPAGE;
            scan.ballooned_chunks(&mut out, chunk_split, u64::MAX);
            scan.ballooned_chunks(&mut out, 0, chunk_split);
            if !out.is_empty() {
                return (SUPERPAGE_ORDER, out.len());
            }
        }
        let first = self.first_pieces();
        let mut out = Collector::new(
            &mut self.list,
            (want.min(self.batch_extents as u64)) as usize,
        );
        for (lo, hi) in [(split, u64::MAX), (0, split)] {
            scan.ballooned_frames(&mut out, lo, hi, first);
            if first == Pieces::Partial {
                scan.ballooned_frames(&mut out, lo, hi, Pieces::Whole);
            }
        }
        (ExtentOrder::PAGE, out.len())
    }

    /// Release up to `want` free frames to Xen, highest first, preferring (with `only_below`:
    /// taking only) frames below `below` (the seed's decrease_reservation, without its BUG on a
    /// short count).
    pub(crate) fn inflate<P: ReservationPort, S: FrameScrubber>(
        &mut self,
        port: &mut P,
        scrubber: &mut S,
        want: u64,
        below: Option<u64>,
        only_below: bool,
    ) -> (BpState, u64) {
        let (order, count) = self.collect_free(want, below, only_below);
        if count == 0 && only_below {
            return (BpState::Wait, 0);
        }
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
    fn collect_free(
        &mut self,
        want: u64,
        below: Option<u64>,
        only_below: bool,
    ) -> (ExtentOrder, usize) {
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
            if !only_below {
                scan.free_chunks(&mut out, chunk_split, u64::MAX);
            }
            if !out.is_empty() {
                return (SUPERPAGE_ORDER, out.len());
            }
        }
        let first = self.first_pieces();
        let mut out = Collector::new(
            &mut self.list,
            (want.min(self.batch_extents as u64)) as usize,
        );
        let passes = if only_below { 1 } else { 2 };
        for (lo, hi) in [(0, split), (split, u64::MAX)].into_iter().take(passes) {
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
    pub(crate) fn mark_frames(&mut self, first: u64, frames: u64, populated: bool) {
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

    pub(crate) fn count_extents(&mut self, op: ReservationOp, order: ExtentOrder, extents: usize) {
        let index = usize::from(order.get()).min(COUNTED_ORDERS - 1);
        let counter = match op {
            ReservationOp::Decrease => &mut self.counters.released_extents,
            _ => &mut self.counters.populated_extents,
        };
        counter[index] += extents as u64;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use ballast_xen_sim::Fault;

    use crate::test_support::{agrees_with_xen, domain, run_until_idle, scrubber, Core};
    use crate::{BpState, Config, FrameRun, HypervisorPort, Policy};

    const RAM: [FrameRun; 1] = [FrameRun::span(0, 4096)];
    const EXTRA: [FrameRun; 1] = [FrameRun::span(4096, 5120)];

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
}
