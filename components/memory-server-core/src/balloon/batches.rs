//! One batch in each direction: pick the frames (see `batch_frames`), scrub before release,
//! make the reservation call, and account exactly the prefix Xen completed; a failed superpage
//! extent is probed, a failed superpage call makes the worker fall back to 4 KiB extents.

use ballast_xen::{ExtentOrder, FrameRun, Gfn, MemFlags, ReservationOp};

use super::batch_frames::Picked;
use super::BalloonCore;
use crate::page_map::PageMap;
use crate::ports::{FrameScrubber, PortError, ReservationPort};
use crate::schedule::BpState;
use crate::Storage;

/// What Xen did with a batch, the completed prefix already accounted.
pub(super) enum Answer {
    /// Refused before acting: nothing changed.
    Refused,
    /// Every extent done, moving this many frames.
    Whole(u64),
    /// Only the first `extents` extents done, moving `moved` frames; a 2 MiB batch has made
    /// the worker fall back to 4 KiB extents in its direction.
    Short { extents: usize, moved: u64 },
    /// Lost in transport or answered out of convention: nothing is known.
    Unknown,
}

impl<W: Storage, const LENT: usize, const CLIENTS: usize, const PENDING: usize>
    BalloonCore<W, LENT, CLIENTS, PENDING>
{
    /// Populate up to `want` ballooned frames, lowest first, except that frames a deferred
    /// low-memory request could use go last (the seed's increase_reservation).
    pub(super) fn deflate<P: ReservationPort>(
        &mut self,
        port: &mut P,
        want: u64,
    ) -> (BpState, u64) {
        let keep_below = self.room().below;
        let Picked {
            order,
            count,
            pool_full,
        } = self.collect_ballooned(want, keep_below);
        if count == 0 {
            return self.nothing_picked(pool_full);
        }
        match self.reserve(port, ReservationOp::Populate, order, count) {
            Answer::Refused => (BpState::EAgain, 0),
            Answer::Whole(moved) => (BpState::Done, moved),
            // After a short 2 MiB call the worker retries at once with 4 KiB extents.
            Answer::Short { extents, moved } if extents > 0 || order > ExtentOrder::PAGE => {
                (BpState::Done, moved)
            }
            Answer::Short { .. } => (BpState::EAgain, 0),
            Answer::Unknown => self.unknown_outcome(port, ReservationOp::Populate, order, count),
        }
    }

    /// Release up to `want` free frames to Xen, highest first, preferring (with `only_below`:
    /// taking only) frames below `below` (the seed's decrease_reservation, without its BUG on a
    /// short count).
    pub(super) fn inflate<P: ReservationPort, S: FrameScrubber>(
        &mut self,
        port: &mut P,
        scrubber: &mut S,
        want: u64,
        below: Option<u64>,
        only_below: bool,
    ) -> (BpState, u64) {
        let Picked {
            order,
            count,
            pool_full,
        } = self.collect_free(want, below, only_below);
        if count == 0 && only_below {
            return (BpState::Wait, 0);
        }
        if count == 0 {
            return self.nothing_picked(pool_full);
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
        match self.reserve(port, ReservationOp::Decrease, order, count) {
            Answer::Refused => (BpState::EAgain, 0),
            Answer::Whole(moved) => (BpState::Done, moved),
            Answer::Short { moved, .. } if order == ExtentOrder::PAGE => (BpState::EAgain, moved),
            Answer::Short { extents, moved } => {
                let freed = self.probe_failed_extent(port, before, order, extents, moved);
                // Frames of one batch: at most 512 extents of 2^18 frames.
                (BpState::Done, moved.saturating_add(freed))
            }
            Answer::Unknown => {
                self.mark(0, count, order, false);
                self.unknown_outcome(port, ReservationOp::Decrease, order, count)
            }
        }
    }

    /// No frame could be picked: with frames left out for want of a block of the chunk summary,
    /// the worker waits (counted in `pool_waits`) for a client to give frames back or a new
    /// target, which may let chunks turn uniform again; otherwise the batch failed.
    fn nothing_picked(&mut self, pool_full: bool) -> (BpState, u64) {
        if pool_full {
            crate::stats::add(&mut self.counters.pool_waits, 1);
            (BpState::Wait, 0)
        } else {
            (BpState::EAgain, 0)
        }
    }

    /// Make the reservation call of `op` for the first `count` extents of the batch list and
    /// account exactly the prefix Xen completed; a short 2 MiB call falls back to 4 KiB.
    pub(super) fn reserve<P: ReservationPort>(
        &mut self,
        port: &mut P,
        op: ReservationOp,
        order: ExtentOrder,
        count: usize,
    ) -> Answer {
        crate::stats::add(&mut self.counters.reservation_calls, 1);
        let answer = port.reservation(op, order, MemFlags::NONE, self.list.extents_mut(count));
        let done = match answer {
            Err(PortError::Refused) => return Answer::Refused,
            Ok(done) if done.anomaly.is_none() => done,
            _ => return Answer::Unknown,
        };
        match op {
            ReservationOp::Populate => self.mark_populated(done.extents, order),
            _ => self.mark(0, done.extents, order, op != ReservationOp::Decrease),
        }
        self.counters.count_extents(op, order, done.extents);
        // At most the batch's extents (`from_raw` refused a larger count) of 2^18 frames.
        let moved = (done.extents as u64).saturating_mul(order.frames());
        if done.extents == count {
            return Answer::Whole(moved);
        }
        crate::stats::add(&mut self.counters.short_counts, 1);
        if order > ExtentOrder::PAGE {
            self.steering.fail_superpages(op);
            crate::stats::add(&mut self.counters.superpage_fallbacks, 1);
        }
        Answer::Short {
            extents: done.extents,
            moved,
        }
    }

    /// A 2 MiB release stopped at extent `failed` after `moved` frames, but Xen may have freed
    /// the failed extent's leading pages: probe and account them from the drop in Xen's count
    /// since `before`. Returns the frames of that extent freed.
    /// Measured: `docs/XEN-BEHAVIOUR.md#failed-superpage-decrease`.
    fn probe_failed_extent<P: ReservationPort>(
        &mut self,
        port: &mut P,
        before: Option<u64>,
        order: ExtentOrder,
        failed: usize,
        moved: u64,
    ) -> u64 {
        self.mark(failed, 1, order, false);
        self.list
            .set_in_flight(ReservationOp::Decrease, order, failed, 1);
        match (before, self.probe(port)) {
            (Some(before), Ok(after)) => {
                let drop = before.saturating_sub(after).saturating_sub(moved);
                self.settle_in_flight(order.frames().saturating_sub(drop));
                drop.min(order.frames())
            }
            _ => 0,
        }
    }

    /// Zero the frames of the batch that may hold the guest's data before they go back to Xen,
    /// one call per contiguous run; frames of clean chunks go unscrubbed (`page_map`).
    fn scrub_batch<S: FrameScrubber>(
        &mut self,
        scrubber: &mut S,
        order: ExtentOrder,
        count: usize,
    ) {
        let frames = order.frames();
        let mut run: Option<(u64, u64)> = None;
        let mut skipped: u64 = 0;
        for entry in self.list.extents(0, count) {
            if self.pages.is_clean(entry.0, frames) {
                // At most the batch's frames.
                skipped = skipped.saturating_add(frames);
                continue;
            }
            // Extents of the frame list lie in managed space, below 2^40 frames.
            let (start, end) = (entry.0, entry.0.saturating_add(frames));
            run = match run {
                Some((a, b)) if b == start => Some((a, end)),
                Some((a, b)) if end == a => Some((start, b)),
                Some((a, b)) => {
                    scrubber.scrub(Gfn(a), b.saturating_sub(a));
                    Some((start, end))
                }
                None => Some((start, end)),
            };
        }
        if let Some((a, b)) = run {
            scrubber.scrub(Gfn(a), b.saturating_sub(a));
        }
        let batch_frames = (count as u64).saturating_mul(frames);
        crate::stats::add(
            &mut self.counters.scrubbed_frames,
            batch_frames.saturating_sub(skipped),
        );
        crate::stats::add(&mut self.counters.scrub_skipped_frames, skipped);
    }

    /// The server's populate completed the first `count` extents of the frame list: set their
    /// frames, making clean the chunks they enter empty.
    fn mark_populated(&mut self, count: usize, order: ExtentOrder) {
        let entries = self.list.extents(0, count);
        for_runs(
            &mut self.pages,
            entries,
            order.frames(),
            |pages, first, frames| {
                pages.populate(first, frames);
            },
        );
    }

    /// Set (`populated`) or clear the frames of extents `[from, from + count)` of the frame
    /// list, keeping the populated count in step.
    pub(super) fn mark(&mut self, from: usize, count: usize, order: ExtentOrder, populated: bool) {
        let entries = self.list.extents(from, count);
        for_runs(
            &mut self.pages,
            entries,
            order.frames(),
            |pages, first, frames| {
                pages.mark(first, frames, populated);
            },
        );
    }
}

/// Calls `apply(pages, first, frames)` for each run of adjacent frames that the extents
/// `entries` (of `frames` frames each) make in a row inside one RAM region, ascending or
/// descending: a batch of single frames in order (the seed's, or ballast's after a fallback)
/// costs the page map one call per run instead of one per frame. Setting or clearing a run is
/// setting or clearing each of its extents, so the bits, the counts, the bounds and the clean
/// chunks come out the same.
fn for_runs<W: Storage>(
    pages: &mut PageMap<W>,
    entries: &[Gfn],
    frames: u64,
    mut apply: impl FnMut(&mut PageMap<W>, u64, u64),
) {
    // The run so far, `[start, end)`, and the RAM region holding it.
    let mut run: Option<(u64, u64, FrameRun)> = None;
    for &Gfn(first) in entries {
        // Extents lie in managed space, below 2^40 frames.
        let end = first.saturating_add(frames);
        run = match run {
            Some((start, run_end, region)) if first == run_end && end <= region.end() => {
                Some((start, end, region))
            }
            Some((start, run_end, region)) if end == start && first >= region.start() => {
                Some((first, run_end, region))
            }
            _ => {
                if let Some((start, run_end, _)) = run {
                    apply(pages, start, run_end.saturating_sub(start));
                }
                match pages.ram_region(first) {
                    Some(region) => Some((first, end, region)),
                    None => {
                        apply(pages, first, frames);
                        None
                    }
                }
            }
        };
    }
    if let Some((start, run_end, _)) = run {
        apply(pages, start, run_end.saturating_sub(start));
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use ballast_xen_sim::Fault;

    use crate::test_support::{agrees_with_xen, domain, run_until_idle, scrubber, Core};
    use crate::{
        AllocOutcome, AllocRequest, BpState, ClientId, Config, FrameRun, HypervisorPort, Policy,
        PopulatedForm, MAX_GRANT_RUNS,
    };

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
    fn frames_the_server_populated_into_an_empty_chunk_go_back_unscrubbed() {
        for policy in [Policy::Ballast, Policy::Seed] {
            let (sim, dom, mut hv) = domain(0..4096, 8192, 1 << 16);
            let config = Config::new(&RAM, policy);
            let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
            let mut core = Core::new(&config, &mut words).unwrap();
            let mut scrub = scrubber(&sim, dom);
            let counted = |core: &Core<'_>| {
                let counters = core.stats().counters;
                (counters.scrubbed_frames, counters.scrub_skipped_frames)
            };
            core.set_target(1024);
            let (_, now) = run_until_idle(&mut core, &mut hv, &mut scrub, 0, 100);
            assert_eq!(
                counted(&core),
                (3072, 0),
                "{policy:?}: boot RAM is scrubbed"
            );
            core.set_target(4096);
            let (_, now) = run_until_idle(&mut core, &mut hv, &mut scrub, now, 100);
            core.set_target(1024);
            let (_, now) = run_until_idle(&mut core, &mut hv, &mut scrub, now, 100);
            assert_eq!(
                counted(&core),
                (3072, 3072),
                "{policy:?}: the chunks it emptied and populated again go back unscrubbed"
            );
            core.set_target(4096);
            let (_, now) = run_until_idle(&mut core, &mut hv, &mut scrub, now, 100);
            core.set_target(0);
            run_until_idle(&mut core, &mut hv, &mut scrub, now, 100);
            assert_eq!(
                counted(&core),
                (3072 + 1024, 3072 + 3072),
                "{policy:?}: the two chunks never emptied still hold boot RAM"
            );
            agrees_with_xen(&core, &sim, dom, 0..4096);
        }
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

    #[test]
    fn a_full_summary_pool_makes_the_worker_wait_and_loses_nothing() {
        let (sim, dom, mut hv) = domain(0..4096, 8192, 1 << 16);
        let mut config = Config::new(&RAM, Policy::Seed);
        config.populated_form = PopulatedForm::ChunkSummary;
        config.mixed_chunk_blocks = 1;
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut scrub = scrubber(&sim, dom);
        core.set_target(2048);
        let (_, now) = run_until_idle(&mut core, &mut hv, &mut scrub, 0, 100);
        assert_eq!(sim.tot_pages(dom), Some(2048));
        let mut out = [FrameRun::default(); MAX_GRANT_RUNS];
        let ask = AllocRequest {
            frames: 10,
            below: None,
            max_runs: 1,
        };
        let granted = core.alloc_unpopulated(ClientId(0), ask, now, &mut out);
        assert_eq!(granted, Ok(AllocOutcome::Granted { runs: 1 }));
        assert_eq!(out[0], FrameRun::span(2048, 2058));
        core.set_target(4096);
        let (steps, now) = run_until_idle(&mut core, &mut hv, &mut scrub, now, 100);
        let last = steps.last().unwrap();
        assert_eq!(
            (last.state, last.next_run_ns),
            (BpState::Wait, None),
            "the chunk with the lent frames holds the only block: the next chunk must wait"
        );
        assert_eq!(sim.tot_pages(dom), Some(2560 - 10));
        assert_eq!(core.stats().counters.pool_waits, 1);
        agrees_with_xen(&core, &sim, dom, 0..4096);
        let before = core.stats();
        let again = core.balloon_step(&mut HypervisorPort::new(&mut hv), &mut scrub, now);
        assert_eq!((again.state, again.frames_moved), (BpState::Wait, 0));
        assert_eq!(sim.tot_pages(dom), Some(2560 - 10), "nothing changed");
        assert_eq!(core.stats().current_pages, before.current_pages);
        assert_eq!(core.free_unpopulated(ClientId(0), &out[..1]), Ok(10));
        run_until_idle(&mut core, &mut hv, &mut scrub, now, 100);
        assert_eq!(
            sim.tot_pages(dom),
            Some(4096),
            "given back: the chunk turned whole"
        );
        assert_eq!(sim.leaked_pages(dom), Some(0));
        agrees_with_xen(&core, &sim, dom, 0..4096);
    }

    #[test]
    fn adjacent_extents_are_marked_as_runs_cut_at_region_seams() {
        let ram = [FrameRun::span(0, 1024)];
        let extra = [FrameRun::span(1024, 2048)];
        let mut config = Config::new(&ram, Policy::Seed);
        config.extra = &extra;
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut pages = crate::page_map::PageMap::new(&config, &mut words[..]).unwrap();
        let runs = |pages: &mut crate::page_map::PageMap<&mut [u64]>, gfns: &[u64], frames: u64| {
            let entries: std::vec::Vec<_> = gfns.iter().map(|&g| ballast_xen::Gfn(g)).collect();
            let mut seen = std::vec::Vec::new();
            super::for_runs(pages, &entries, frames, |_, first, frames| {
                seen.push((first, frames));
            });
            seen
        };
        let descending: std::vec::Vec<u64> = (1020..1030).rev().collect();
        assert_eq!(
            runs(&mut pages, &descending, 1),
            [(1024, 6), (1020, 4)],
            "one run per region, highest first"
        );
        assert_eq!(
            runs(&mut pages, &[5, 6, 7, 100, 101, 50], 1),
            [(5, 3), (100, 2), (50, 1)]
        );
        assert_eq!(
            runs(&mut pages, &[0, 512, 1536], 512),
            [(0, 1024), (1536, 512)]
        );
        assert_eq!(
            runs(&mut pages, &[4096], 1),
            [(4096, 1)],
            "outside: as it is"
        );
    }
}
