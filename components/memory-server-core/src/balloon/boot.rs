//! The start against Xen, safe on populate-on-demand. A domain built with `memory` below
//! `maxmem` sees all of `maxmem` as RAM while Xen backs only `memory` of it: the pages Xen
//! populated are real, the rest of RAM are PoD entries backed lazily from a cache, and a touch
//! of an entry with the cache empty crashes the domain. The model starts with all of RAM
//! populated, so Xen's `current_reservation` reads below it.
//!
//! The start reads Xen's count (never infers it). When it is not below the model's, nothing
//! else happens: the baseline is taken, as on any non-PoD boot. When it is below, the core
//! releases the difference before anything touches that memory, without scrubbing (a scrub
//! stores into the frames, and each store into a PoD entry takes a page from the cache; these
//! frames were never written, so they hold nothing of the guest's), in 2 MiB extents where the
//! policy allows. Xen's count does not move while entries exceed the cache, and the special
//! pages Xen populated outside the RAM map keep a few entries more than that: so the core then
//! releases small, growing batches (1, 1, 2, 4, ... frames), reading Xen's count after each,
//! until it falls. Xen shrinks the cache to the entries only once they drop below it, so from
//! that moment the entries are no more than the cache (any touch is backed), every frame
//! released lowers Xen's count by one, and the baseline taken then keeps the books exact.

use ballast_xen::ReservationOp;

use super::batch_frames::Picked;
use super::batches::Answer;
use super::BalloonCore;
use crate::ports::{PortError, ReservationPort};
use crate::Storage;

/// What the start against Xen did, for the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootReport {
    /// Frames the model held populated beyond Xen's count (0: not a populate-on-demand boot).
    pub deficit: u64,
    /// Frames released without scrubbing (the deficit and the settling batches).
    pub unscrubbed_frames: u64,
    /// Settling batches released, each followed by a probe.
    pub settling_batches: u64,
    /// The baseline taken: Xen's count minus the model's (on PoD, about the special pages).
    pub baseline: i64,
}

/// Where the start is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Boot {
    /// Xen's count not read yet.
    Fresh,
    /// Xen held fewer pages than the model: releasing until Xen's count falls; the next
    /// settling batch has this many frames.
    Settling { next_batch: u64 },
    /// The baseline is taken.
    Started,
}

impl<W: Storage, const LENT: usize, const CLIENTS: usize, const PENDING: usize>
    BalloonCore<W, LENT, CLIENTS, PENDING>
{
    /// Whether the start is done: the baseline is taken and the books hold from here on. What
    /// it took is in the counters (`boot_deficit`, `boot_unscrubbed_frames`,
    /// `boot_settling_batches`, and the probes in `probe_calls`).
    pub fn started(&self) -> bool {
        self.boot == Boot::Started
    }

    /// What the start did, once it is done.
    pub fn boot_report(&self) -> Option<BootReport> {
        self.started().then(|| BootReport {
            deficit: self.counters.boot_deficit,
            unscrubbed_frames: self.counters.boot_unscrubbed_frames,
            settling_batches: self.counters.boot_settling_batches,
            baseline: self.pages.domain_offset(),
        })
    }

    /// Take the baseline: Xen's page count minus the model's. Every later comparison with
    /// `current_reservation` is relative to it. When Xen holds fewer pages than the model (a
    /// populate-on-demand boot), the difference and then a few frames more are released first,
    /// unscrubbed, until Xen's count falls (see the module documentation); an error leaves the
    /// start to be resumed by the next call. The worker does this itself on its first step.
    pub fn start<P: ReservationPort>(&mut self, port: &mut P) -> Result<(), PortError> {
        let mut xen = self.probe(port)?;
        if self.boot == Boot::Fresh {
            let model = self.pages.current_pages();
            if xen >= model {
                self.pages.take_baseline(xen);
                self.boot = Boot::Started;
                return Ok(());
            }
            // Reached only when the model counts more than Xen.
            self.counters.boot_deficit = model.saturating_sub(xen);
            self.boot = Boot::Settling { next_batch: 1 };
        }
        while let Boot::Settling { next_batch } = self.boot {
            let deficit = self.pages.current_pages().saturating_sub(xen);
            let want = if deficit > 0 { deficit } else { next_batch };
            let released = self.release_unscrubbed(port, want)?;
            let after = self.probe(port)?;
            if deficit == 0 {
                crate::stats::add(&mut self.counters.boot_settling_batches, 1);
                let next_batch = match self.counters.boot_settling_batches {
                    1 => 1,
                    _ => next_batch.saturating_mul(2),
                };
                self.boot = Boot::Settling { next_batch };
            }
            if after < xen || released.is_none() {
                self.pages.take_baseline(after);
                self.steering
                    .lower_initial_target(self.pages.current_pages());
                self.boot = Boot::Started;
            }
            xen = after;
        }
        Ok(())
    }

    /// Release up to `want` free frames, highest first, without scrubbing, accounting exactly
    /// what Xen did. A frame Xen reports as not populated is counted out of the model (Xen stops
    /// a decrease there); a call lost in transport counts its frames out too (the intent; the
    /// settling that follows makes the entries no more than the cache whatever happened).
    /// Returns the frames taken out of the model, `None` when no free frame is left.
    fn release_unscrubbed<P: ReservationPort>(
        &mut self,
        port: &mut P,
        want: u64,
    ) -> Result<Option<u64>, PortError> {
        let Picked { order, count, .. } = self.collect_free(want, None, false);
        if count == 0 {
            return Ok(None);
        }
        let released = match self.reserve(port, ReservationOp::Decrease, order, count) {
            Answer::Refused => return Err(PortError::Refused),
            Answer::Whole(moved) => moved,
            Answer::Short { extents, moved } if order.get() == 0 => {
                self.mark(extents, 1, order, false);
                // The extent Xen refused is released by the call `mark` records: one more frame.
                moved.saturating_add(1)
            }
            // A failed 2 MiB extent: the next batch, at 4 KiB, finds what is left of it.
            Answer::Short { moved, .. } => moved,
            Answer::Unknown => {
                self.mark(0, count, order, false);
                let batch_frames = (count as u64).saturating_mul(order.frames());
                crate::stats::add(&mut self.counters.boot_unscrubbed_frames, batch_frames);
                return Err(PortError::GatewayDied);
            }
        };
        crate::stats::add(&mut self.counters.boot_unscrubbed_frames, released);
        Ok(Some(released))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use crate::test_support::{agrees_with_xen, pod_domain, run_until_idle, scrubber, Core};
    use crate::{Config, FrameRun, HypervisorPort, Policy};

    const RAM: [FrameRun; 1] = [FrameRun::span(0, 4096)];
    const IMAGE: [FrameRun; 1] = [FrameRun::span(0, 64)];

    #[test]
    fn a_pod_boot_releases_the_deficit_unscrubbed_then_settles_by_measurement() {
        let (sim, dom, mut hv) = pod_domain(0..4096, 0..64, 3, 2048, 1 << 16);
        let mut config = Config::new(&RAM, Policy::Ballast);
        config.reserved = &IMAGE;
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        core.start(&mut HypervisorPort::new(&mut hv)).unwrap();
        let pod = sim.pod_status(dom).unwrap();
        assert_eq!(pod.entries, pod.cache);
        assert_eq!(pod.counters.demand_populated, 0, "nothing touched");
        let stats = core.stats();
        let counters = stats.counters;
        // 2048 in four 2 MiB extents; then 1, 1 and 2 frames: the third settling batch is the
        // first Xen counts (3 special pages held the entries above the cache).
        assert_eq!(counters.boot_deficit, 2048);
        assert_eq!(counters.released_extents[9], 4);
        assert_eq!(counters.boot_settling_batches, 3);
        assert_eq!(counters.boot_unscrubbed_frames, 2048 + 4);
        assert_eq!(counters.scrubbed_frames, 0);
        assert_eq!(counters.probe_calls, 1 + 1 + 3);
        assert_eq!(sim.tot_pages(dom), Some(2047));
        assert_eq!(stats.current_pages, 2044);
        assert_eq!(
            stats.target_pages, 2044,
            "no target yet: the boot count stays"
        );
        assert_eq!(core.domain_offset(), 3);
        assert_eq!(
            core.boot_report(),
            Some(super::BootReport {
                deficit: 2048,
                unscrubbed_frames: 2052,
                settling_batches: 3,
                baseline: 3
            })
        );
        core.check_invariant(sim.tot_pages(dom)).unwrap();
        agrees_with_xen(&core, &sim, dom, 0..4096);
    }

    #[test]
    fn after_a_pod_boot_targets_move_xen_frame_for_frame() {
        let (sim, dom, mut hv) = pod_domain(0..4096, 0..64, 5, 3000, 1 << 16);
        let mut config = Config::new(&RAM, Policy::Seed);
        config.reserved = &IMAGE;
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut scrub = scrubber(&sim, dom);
        let mut now = 0;
        for target in [1000, 2500, 4096, 1500] {
            core.set_target(target);
            now = run_until_idle(&mut core, &mut hv, &mut scrub, now, 200).1;
            let pod = sim.pod_status(dom).unwrap();
            assert!(pod.entries <= pod.cache, "{pod}");
            assert_eq!(sim.crashed(dom), None);
            let expected = target.min(4096) as i64 + core.domain_offset();
            assert_eq!(sim.tot_pages(dom), Some(expected as u64));
        }
        assert_eq!(core.stats().counters.boot_deficit, 1096);
        agrees_with_xen(&core, &sim, dom, 0..4096);
    }

    #[test]
    fn a_short_superpage_release_at_start_falls_back_and_still_settles_exactly() {
        let (sim, dom, mut hv) = pod_domain(0..4096, 0..64, 2, 1000, 1 << 16);
        sim.inject(ballast_xen_sim::Fault::Shorten {
            call: 0,
            completed: 1,
        });
        let mut config = Config::new(&RAM, Policy::Ballast);
        config.reserved = &IMAGE;
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        core.start(&mut HypervisorPort::new(&mut hv)).unwrap();
        let counters = core.stats().counters;
        assert_eq!(
            (counters.short_counts, counters.superpage_fallbacks),
            (1, 1)
        );
        assert_eq!(counters.released_extents[9], 1);
        let pod = sim.pod_status(dom).unwrap();
        assert_eq!(pod.entries, pod.cache);
        core.check_invariant(sim.tot_pages(dom)).unwrap();
        agrees_with_xen(&core, &sim, dom, 0..4096);
    }

    #[test]
    fn a_boot_that_xen_backs_whole_makes_one_probe_and_releases_nothing() {
        let (sim, _, mut hv) = crate::test_support::domain(0..4096, 4096, 0);
        let config = Config::new(&RAM, Policy::Ballast);
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        core.start(&mut HypervisorPort::new(&mut hv)).unwrap();
        let counters = core.stats().counters;
        assert_eq!((counters.probe_calls, counters.reservation_calls), (1, 0));
        assert_eq!(
            (counters.boot_deficit, counters.boot_unscrubbed_frames),
            (0, 0)
        );
        assert_eq!(sim.next_call(), 0);
    }
}
