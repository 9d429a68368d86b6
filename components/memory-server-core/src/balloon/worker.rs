//! The worker: one bounded batch per step (the seed's `balloon_process` loop body), so that the
//! server answers clients between batches. It steers the populated count to the target, keeps
//! room for deferred requests, uses 2 MiB extents where the policy allows, accounts exactly the
//! prefix Xen completed, probes a failed superpage extent, and backs off on failure.

use super::BalloonCore;
use crate::page_map::signed;
use crate::ports::{FrameScrubber, ReservationPort};
use crate::schedule::BpState;
use crate::Storage;

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
pub(super) struct Room {
    /// The tightest frame limit of a waiting request.
    pub below: Option<u64>,
    /// Ballooned frames usable by the waiting requests that must stay in the balloon.
    pub keep: u64,
    /// Frames to balloon out for them.
    pub shortfall: u64,
}

impl<W: Storage, const LENT: usize, const CLIENTS: usize, const PENDING: usize>
    BalloonCore<W, LENT, CLIENTS, PENDING>
{
    /// What the waiting deferred requests need from the balloon.
    pub(super) fn room(&self) -> Room {
        let waiting: u64 = self.book.waiting().map(|r| r.frames).sum();
        if waiting == 0 {
            return Room {
                below: None,
                keep: 0,
                shortfall: 0,
            };
        }
        let below = self
            .book
            .waiting()
            .filter_map(|r| r.below.map(|g| g.0))
            .min();
        let limit = below.unwrap_or(u64::MAX);
        let scan = self.pages.scan(self.book.lent());
        let lending = scan.count_lending(0, limit);
        let ballooned = if self.list.is_in_flight() {
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

    /// Populated pages wanted minus populated pages now, with room kept for deferred requests;
    /// never more than the ballooned frames can give, nor less than the populated RAM frames
    /// (the reserved ones apart) can take (a target below the reserved frames is steered to as far as it goes, then the
    /// worker is done, instead of retrying a release that can never happen).
    fn credit(&self) -> i64 {
        let current = signed(self.pages.current_pages());
        let to_target = signed(self.steering.target()).saturating_sub(current);
        let releasable = signed(self.pages.populated_ram()).saturating_neg();
        let room = self.room();
        if room.shortfall > 0 {
            return to_target
                .min(0)
                .min(signed(room.shortfall).saturating_neg())
                .max(releasable);
        }
        to_target
            .min(signed(self.ballooned().saturating_sub(room.keep)))
            .max(releasable)
    }

    /// The populated count the worker steers to now.
    pub(super) fn reachable_target(&self) -> u64 {
        signed(self.pages.current_pages())
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
        // Counts of queued requests.
        settled = settled.saturating_add(self.grant_waiting());
        let (state, frames_moved) = match self.schedule.held(now_ns) {
            Some(held) => (held, 0),
            None => {
                let (raw, moved) = self.batch(port, scrubber);
                let state = self.schedule.after_batch(raw, now_ns);
                match state {
                    BpState::EAgain => crate::stats::add(&mut self.counters.retries, 1),
                    BpState::Cancelled => crate::stats::add(&mut self.counters.cancellations, 1),
                    BpState::Done | BpState::Wait => {}
                }
                (state, moved)
            }
        };
        // Counts of queued requests.
        settled = settled.saturating_add(self.grant_waiting());
        let deadline = self.book.next_deadline();
        let next_run_ns = match state {
            BpState::Done if self.credit() != 0 => Some(now_ns),
            BpState::EAgain => self
                .schedule
                .retry_at_ns()
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

    /// One batch: baseline, then an in-flight probe, then inflation or deflation. Inflation for
    /// the target prefers frames below the deferred requests' limit; inflation only for them takes
    /// nothing else (ballooning frames they cannot use would only waste memory).
    fn batch<P: ReservationPort, S: FrameScrubber>(
        &mut self,
        port: &mut P,
        scrubber: &mut S,
    ) -> (BpState, u64) {
        if !self.pages.has_baseline() && self.start(port).is_err() {
            return (BpState::EAgain, 0);
        }
        if self.list.is_in_flight() {
            return match self.resolve_in_flight(port) {
                Ok(moved) => (BpState::Done, moved),
                Err(_) => (BpState::EAgain, 0),
            };
        }
        let credit = self.credit();
        if credit > 0 {
            self.deflate(port, credit.unsigned_abs())
        } else if credit < 0 {
            let to_target =
                signed(self.steering.target()).saturating_sub(signed(self.pages.current_pages()));
            let below = self.room().below;
            if to_target < 0 {
                self.inflate(port, scrubber, to_target.unsigned_abs(), below, false)
            } else {
                self.inflate(port, scrubber, credit.unsigned_abs(), below, true)
            }
        } else if self.book.waiting().next().is_some() {
            (BpState::Wait, 0)
        } else {
            (BpState::Done, 0)
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use ballast_xen_sim::Fault;

    use crate::test_support::{agrees_with_xen, domain, run_until_idle, Core, SimScrubber};
    use crate::{BpState, Config, FrameRun, HypervisorPort, Policy, Tunables};

    const RAM: [FrameRun; 1] = [FrameRun::span(0, 4096)];
    const EXTRA: [FrameRun; 1] = [FrameRun::span(4096, 5120)];

    fn scrubber(sim: &ballast_xen_sim::XenSim, dom: ballast_xen_sim::DomId) -> SimScrubber {
        SimScrubber {
            sim: sim.clone(),
            dom,
        }
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

    /// The growth range: 4 chunks above a hole above RAM.
    const GROWTH: FrameRun = FrameRun::span(8192, 10240);

    #[test]
    fn growth_is_populated_last_in_superpages_and_given_back_first() {
        let (sim, dom, mut hv) = domain(0..4096, 4096 + 2048, 1 << 16);
        let mut config = Config::new(&RAM, Policy::Ballast);
        config.growth = Some(GROWTH);
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut scrub = scrubber(&sim, dom);
        assert_eq!(core.stats().total_pages, 4096 + 2048);
        assert_eq!(
            core.bitmap_bytes(),
            (4096 + 2048) / 8 + 8,
            "growth costs one bit per frame and one per chunk, as RAM does"
        );
        assert_eq!(core.max_target_pages(), 4096 + 2048);
        core.set_target(3072);
        let (_, now) = run_until_idle(&mut core, &mut hv, &mut scrub, 0, 10);
        core.set_target(4096 + 1024);
        let (_, now) = run_until_idle(&mut core, &mut hv, &mut scrub, now, 10);
        assert_eq!(sim.tot_pages(dom), Some(5120));
        assert_eq!(
            sim.populated_count(dom, 0..4096),
            Some(4096),
            "the RAM's own balloon is deflated before growth"
        );
        assert_eq!(sim.populated_count(dom, GROWTH.start()..9216), Some(1024));
        core.set_target(4096 + 2048);
        let (_, now) = run_until_idle(&mut core, &mut hv, &mut scrub, now, 10);
        assert_eq!(
            sim.populated_count(dom, GROWTH.start()..GROWTH.end()),
            Some(2048)
        );
        let counters = core.stats().counters;
        assert_eq!(counters.populated_extents[9], 2 + 2 + 2);
        assert_eq!(counters.populated_extents[0], 0);
        core.set_target(4096 + 512);
        let (_, now) = run_until_idle(&mut core, &mut hv, &mut scrub, now, 10);
        assert_eq!(
            sim.populated_count(dom, GROWTH.start()..GROWTH.end()),
            Some(512),
            "growth goes back first, highest chunks first"
        );
        assert_eq!(sim.is_populated(dom, GROWTH.start()), Some(true));
        core.set_target(2048);
        run_until_idle(&mut core, &mut hv, &mut scrub, now, 10);
        assert_eq!(
            sim.populated_count(dom, GROWTH.start()..GROWTH.end()),
            Some(0)
        );
        assert_eq!(sim.tot_pages(dom), Some(2048));
        assert_eq!(sim.leaked_pages(dom), Some(0));
        agrees_with_xen(&core, &sim, dom, GROWTH.start()..GROWTH.end());
    }

    #[test]
    fn growth_past_xens_maximum_backs_off_until_the_maximum_is_raised() {
        let (sim, dom, mut hv) = domain(0..4096, 4096, 1 << 16);
        let mut config = Config::new(&RAM, Policy::Ballast);
        config.growth = Some(GROWTH);
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut scrub = scrubber(&sim, dom);
        core.set_target(4096 + 1024);
        let first = core.balloon_step(&mut HypervisorPort::new(&mut hv), &mut scrub, 0);
        assert_eq!(
            (first.state, first.frames_moved),
            (BpState::Done, 0),
            "the refused superpage falls back to 4 KiB at once"
        );
        let second = core.balloon_step(&mut HypervisorPort::new(&mut hv), &mut scrub, 0);
        assert_eq!(second.state, BpState::EAgain);
        core.check_invariant(sim.tot_pages(dom)).unwrap();
        let retry_at = second.next_run_ns.unwrap();
        assert_eq!(retry_at, 2_000_000_000);
        sim.set_max_pages(dom, 4096 + 1024).unwrap();
        core.set_target(4096 + 1024);
        run_until_idle(&mut core, &mut hv, &mut scrub, retry_at, 10);
        assert_eq!(sim.tot_pages(dom), Some(5120));
        agrees_with_xen(&core, &sim, dom, GROWTH.start()..GROWTH.end());
    }
}
