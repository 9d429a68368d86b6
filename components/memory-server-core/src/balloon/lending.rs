//! Lending unpopulated frames to clients (the seed's alloc/free_xenballooned_pages, reshaped):
//! the lending range first, then ballooned RAM lowest first (the largest free runs when the
//! lowest are too fragmented); per-client quotas, run limits and ownership (kept by the lending
//! book); deferred requests answered by the worker; reclaim on client death.

use super::BalloonCore;
use crate::book::{LendError, Plan, Settled, MAX_GRANT_RUNS};
use crate::lent_table::{ClientId, Ticket};
use crate::pending::{AllocRequest, PendingState};
use crate::Storage;
use ballast_xen::FrameRun;

/// Why the lowest free runs do not make a grant.
enum Shortfall {
    /// Not enough free frames.
    TooFewFrames,
    /// Enough free frames, but not in the runs the grant may have.
    TooManyRuns,
}

/// The answer to an allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocOutcome {
    /// Granted now: the first `runs` entries of the caller's buffer hold the frames.
    Granted {
        /// Runs written.
        runs: usize,
    },
    /// Deferred: the worker will settle the ticket (see [`BalloonCore::take_settled`]).
    Pending(Ticket),
}

impl<W: Storage, const LENT: usize, const CLIENTS: usize, const PENDING: usize>
    BalloonCore<W, LENT, CLIENTS, PENDING>
{
    /// Set how many frames `client` may hold lent or requested at once.
    pub fn set_client_quota(&mut self, client: ClientId, frames: u64) -> Result<(), LendError> {
        self.book.set_quota(client, frames)
    }

    /// Find `request.frames` unpopulated, unlent frames for `client` in at most
    /// `request.max_runs` runs, and no more than the client may still hold: the lending range
    /// first, then ballooned RAM, lowest first; if the free space is too fragmented for that,
    /// its largest runs.
    fn plan(&self, client: ClientId, request: &AllocRequest) -> Option<Plan> {
        let max_runs = request.max_runs.min(self.book.run_budget(client));
        if max_runs == 0 {
            return None;
        }
        let limit = request.below.map_or(u64::MAX, |g| g.0);
        match self.plan_lowest(request.frames, max_runs, limit) {
            Ok(plan) => Some(plan),
            Err(Shortfall::TooFewFrames) => None,
            Err(Shortfall::TooManyRuns) => self.plan_largest(request.frames, max_runs, limit),
        }
    }

    /// Calls `take(start, end)` on each free run below `limit` (the lending range, then
    /// ballooned RAM unless a batch is in flight), ascending, until it returns false.
    fn free_runs(&self, limit: u64, mut take: impl FnMut(u64, u64) -> bool) {
        let scan = self.pages.scan(self.book.lent());
        if scan.lending_runs(0, limit, &mut take) && !self.list.is_in_flight() {
            scan.ballooned_runs(0, limit, &mut take);
        }
    }

    /// `frames` from the lowest free runs, at most `max_runs` of them.
    fn plan_lowest(&self, frames: u64, max_runs: usize, limit: u64) -> Result<Plan, Shortfall> {
        let mut plan = Plan::new();
        let mut left = frames;
        let mut capped = false;
        self.free_runs(limit, |a, b| {
            // A free run `[a, b)` has `a < b`; `take` is at most its length.
            let take = b.saturating_sub(a).min(left);
            if plan.len() >= max_runs
                || plan
                    .push(FrameRun::span(a, a.saturating_add(take)))
                    .is_err()
            {
                capped = true;
                return false;
            }
            // `take` is at most `left`.
            left = left.saturating_sub(take);
            left > 0
        });
        match (left, capped) {
            (0, _) => Ok(plan),
            (_, true) => Err(Shortfall::TooManyRuns),
            (_, false) => Err(Shortfall::TooFewFrames),
        }
    }

    /// `frames` from the largest free runs (the lowest of equal ones), at most `max_runs` of
    /// them, each taken from its start; the plan is in frame order.
    fn plan_largest(&self, frames: u64, max_runs: usize, limit: u64) -> Option<Plan> {
        // The largest runs seen so far, largest first.
        let mut largest = Plan::new();
        let keep = max_runs.min(largest.capacity());
        self.free_runs(limit, |a, b| {
            let run = FrameRun::span(a, b);
            let at = largest.partition_point(|kept| kept.frames >= run.frames);
            if at < keep {
                if largest.len() == keep {
                    largest.pop();
                }
                // Room was made just above: the insertion cannot fail.
                let _ = largest.insert(at, run);
            }
            true
        });
        let mut plan = Plan::new();
        let mut left = frames;
        for run in largest {
            if left == 0 {
                break;
            }
            let take = run.frames.min(left);
            let _ = plan.push(FrameRun::new(run.first, take));
            // `take` is at most `left`.
            left = left.saturating_sub(take);
        }
        plan.sort_unstable_by_key(|run| run.start());
        (left == 0).then_some(plan)
    }

    /// Borrow unpopulated frames for `client` (the seed's alloc_xenballooned_pages). Granted
    /// at once when free frames exist, written to `out`; otherwise deferred with a ticket that
    /// the worker settles after ballooning out room, or times out at `now_ns` plus the timeout.
    pub fn alloc_unpopulated(
        &mut self,
        client: ClientId,
        request: AllocRequest,
        now_ns: u64,
        out: &mut [FrameRun; MAX_GRANT_RUNS],
    ) -> Result<AllocOutcome, LendError> {
        self.book.admit(client, &request)?;
        let limit = request.below.map_or(u64::MAX, |g| g.0);
        if request.frames > self.pages.unreserved_below(limit) {
            return Err(LendError::NeverSatisfiable);
        }
        if let Some(plan) = self.plan(client, &request) {
            self.book.lend(client, &plan, None, &self.pages)?;
            out[..plan.len()].copy_from_slice(&plan);
            return Ok(AllocOutcome::Granted { runs: plan.len() });
        }
        let ticket = self.book.defer(client, request, now_ns)?;
        self.schedule.resume();
        Ok(AllocOutcome::Pending(ticket))
    }

    /// Give lent frames back (the seed's free_xenballooned_pages). Every frame must be lent to
    /// `client`; otherwise nothing changes and the error says why. Returns the frames freed.
    pub fn free_unpopulated(
        &mut self,
        client: ClientId,
        runs: &[FrameRun],
    ) -> Result<u64, LendError> {
        let freed = self.book.give_back(client, runs, &self.pages)?;
        self.schedule.resume();
        Ok(freed)
    }

    /// Whether [`Self::free_unpopulated`] of `runs` from `client` would succeed, changing
    /// nothing: for the glue, which must hear from the gateway that no grant is mapped in them
    /// before it takes them back.
    pub fn check_free_unpopulated(
        &self,
        client: ClientId,
        runs: &[FrameRun],
    ) -> Result<(), LendError> {
        self.book.check_give_back(client, runs, &self.pages)
    }

    /// Reclaim everything of a dead client: its lent frames go back to the balloon or the
    /// lending range, its deferred requests are dropped. Returns the frames reclaimed.
    pub fn client_died(&mut self, client: ClientId) -> Result<u64, LendError> {
        self.client_died_keeping(client, |_| false)
    }

    /// [`Self::client_died`], except that the delivered runs `keep` selects stay lent to the dead
    /// client: frames that may still hold a grant it mapped, quarantined until the glue hears
    /// they are free ([`Self::free_unpopulated`] then takes them back). Returns the frames
    /// reclaimed.
    pub fn client_died_keeping(
        &mut self,
        client: ClientId,
        keep: impl Fn(&FrameRun) -> bool,
    ) -> Result<u64, LendError> {
        let reclaimed = self.book.forget(client, keep, &self.pages)?;
        self.schedule.resume();
        Ok(reclaimed)
    }

    /// The runs lent to `client` whose replies were delivered (the frames it knows), in frame
    /// order: each one entry of the lent-run table, so each can be given back whole.
    pub fn delivered_runs(&self, client: ClientId) -> impl Iterator<Item = FrameRun> + '_ {
        self.book.delivered(client)
    }

    /// Time out waiting requests whose deadline has passed. Returns how many.
    pub(super) fn expire(&mut self, now_ns: u64) -> usize {
        let expired = self.book.expire(now_ns);
        crate::stats::add(&mut self.counters.deferred_timed_out, expired as u64);
        expired
    }

    /// Grant waiting requests that can be met now, oldest first. Returns how many.
    pub(super) fn grant_waiting(&mut self) -> usize {
        let mut granted: usize = 0;
        let mut index: usize = 0;
        while let Some(entry) = self.book.deferred(index) {
            // Below the pending queue's depth.
            index = index.saturating_add(1);
            if entry.state != PendingState::Waiting {
                continue;
            }
            let Some(plan) = self.plan(entry.client, &entry.request) else {
                continue;
            };
            if self.book.grant(&entry, &plan, &self.pages).is_err() {
                continue;
            }
            crate::stats::add(&mut self.counters.deferred_granted, 1);
            // At most one per queued request.
            granted = granted.saturating_add(1);
        }
        granted
    }

    /// The oldest deferred request whose reply is due, with its runs written to `out`
    /// (a granted request's frames now belong to the client outright).
    pub fn take_settled(&mut self, out: &mut [FrameRun; MAX_GRANT_RUNS]) -> Option<Settled> {
        self.book.take_settled(out)
    }

    /// Deferred requests not settled yet.
    pub fn waiting_requests(&self) -> usize {
        self.book.waiting_requests()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use ballast_xen::Gfn;
    use ballast_xen_sim::{DomId, Fault, SimHypervisor, XenSim};

    use super::*;
    use crate::test_support::{domain, run_until_idle, scrubber, Core, SimScrubber};
    use crate::{BpState, Config, FrameState, HypervisorPort, Policy};

    const RAM: [FrameRun; 1] = [FrameRun::span(0, 4096)];
    const LENDING: FrameRun = FrameRun::span(1 << 20, (1 << 20) + 64);

    /// A fully populated guest of 4096 frames on xen-sim, its hypervisor and a scrubber.
    fn guest() -> (XenSim, DomId, SimHypervisor, SimScrubber) {
        let (sim, dom, hv) = domain(0..4096, 8192, 1 << 16);
        let scrub = scrubber(&sim, dom);
        (sim, dom, hv, scrub)
    }

    fn ask(frames: u64) -> AllocRequest {
        AllocRequest {
            frames,
            below: None,
            max_runs: MAX_GRANT_RUNS,
        }
    }

    /// A core with the lending range over `words`, ballooned down to `pages` populated frames.
    fn ballooned<'w>(
        words: &'w mut std::vec::Vec<u64>,
        hv: &mut SimHypervisor,
        scrub: &mut SimScrubber,
        pages: u64,
    ) -> Core<'w> {
        ballooned_with_run_limit(words, hv, scrub, pages, usize::MAX)
    }

    /// [`ballooned`], each client holding at most `runs` lent runs.
    fn ballooned_with_run_limit<'w>(
        words: &'w mut std::vec::Vec<u64>,
        hv: &mut SimHypervisor,
        scrub: &mut SimScrubber,
        pages: u64,
        runs: usize,
    ) -> Core<'w> {
        let mut config = Config::new(&RAM, Policy::Ballast);
        config.lending = Some(LENDING);
        config.max_lent_runs_per_client = runs;
        words.resize(config.bitmap_words().unwrap(), 0);
        let mut core = Core::new(&config, words).unwrap();
        core.set_target(pages);
        run_until_idle(&mut core, hv, scrub, 0, 10);
        core
    }

    #[test]
    fn the_lending_range_goes_first_then_ballooned_ram_lowest_first() {
        let (sim, dom, mut hv, mut scrub) = guest();
        let mut words = std::vec::Vec::new();
        let mut core = ballooned(&mut words, &mut hv, &mut scrub, 3072);
        let mut out = [FrameRun::default(); MAX_GRANT_RUNS];
        let granted = core
            .alloc_unpopulated(ClientId(0), ask(100), 0, &mut out)
            .unwrap();
        assert_eq!(granted, AllocOutcome::Granted { runs: 2 });
        assert_eq!(out[0], LENDING);
        assert_eq!(out[1], FrameRun::span(3072, 3072 + 36));
        let low = AllocRequest {
            frames: 10,
            below: Some(Gfn(3500)),
            max_runs: 1,
        };
        core.alloc_unpopulated(ClientId(1), low, 0, &mut out)
            .unwrap();
        assert_eq!(out[0], FrameRun::span(3108, 3118));
        assert_eq!(
            core.frame_state(Gfn(3110)),
            Some(FrameState::Lent(ClientId(1)))
        );
        core.check_invariant(sim.tot_pages(dom)).unwrap();
        let (steps, _) = run_until_idle(&mut core, &mut hv, &mut scrub, 0, 10);
        assert_eq!(steps.iter().map(|s| s.frames_moved).sum::<u64>(), 0);
        let stats = core.stats();
        assert_eq!((stats.current_pages, stats.lent_pages), (3072, 110));
    }

    #[test]
    fn a_client_at_its_run_limit_is_refused_and_the_others_still_borrow() {
        let (sim, dom, mut hv, mut scrub) = guest();
        let mut words = std::vec::Vec::new();
        let mut core = ballooned_with_run_limit(&mut words, &mut hv, &mut scrub, 3072, 4);
        let mut out = [FrameRun::default(); MAX_GRANT_RUNS];
        core.alloc_unpopulated(ClientId(0), ask(64), 0, &mut out)
            .unwrap();
        assert_eq!(out[0], LENDING);
        let frame = |i: u64| FrameRun::new(Gfn(LENDING.start() + i), 1);
        for i in [1, 3, 5] {
            assert_eq!(core.free_unpopulated(ClientId(0), &[frame(i)]), Ok(1));
        }
        assert_eq!(core.client(ClientId(0)).unwrap().runs, 4);
        let before = core.stats();
        assert_eq!(
            core.free_unpopulated(ClientId(0), &[frame(7)]),
            Err(LendError::RunLimit),
            "a split past the limit"
        );
        assert_eq!(
            core.alloc_unpopulated(ClientId(0), ask(1), 0, &mut out),
            Err(LendError::RunLimit),
            "a grant past the limit"
        );
        assert_eq!(core.stats(), before);
        assert_eq!(core.client(ClientId(0)).unwrap().runs, 4);
        core.check_invariant(sim.tot_pages(dom)).unwrap();

        // The others are not held back: one of them fragments the same way up to its own limit.
        let granted = core
            .alloc_unpopulated(ClientId(1), ask(40), 0, &mut out)
            .unwrap();
        assert_eq!(granted, AllocOutcome::Granted { runs: 4 });
        assert_eq!(
            &out[..4],
            &[
                frame(1),
                frame(3),
                frame(5),
                FrameRun::span(3072, 3072 + 37)
            ]
        );
        assert_eq!(
            core.free_unpopulated(ClientId(1), &[FrameRun::span(3080, 3081)]),
            Err(LendError::RunLimit)
        );
        core.alloc_unpopulated(ClientId(2), ask(100), 0, &mut out)
            .unwrap();

        // A whole run given back makes room for a new one.
        assert_eq!(core.free_unpopulated(ClientId(0), &[frame(0)]), Ok(1));
        assert_eq!(core.client(ClientId(0)).unwrap().runs, 3);
        core.alloc_unpopulated(ClientId(0), ask(1), 0, &mut out)
            .unwrap();
        assert_eq!(core.client(ClientId(0)).unwrap().runs, 4);
        assert_eq!(core.client_died(ClientId(0)), Ok(61));
        assert_eq!(core.client(ClientId(0)).unwrap().runs, 0);
        core.check_invariant(sim.tot_pages(dom)).unwrap();
    }

    #[test]
    fn free_space_too_fragmented_for_the_lowest_runs_is_met_from_the_largest() {
        let (sim, dom, mut hv, mut scrub) = guest();
        let mut words = std::vec::Vec::new();
        let mut core = ballooned(&mut words, &mut hv, &mut scrub, 3072);
        let mut out = [FrameRun::default(); MAX_GRANT_RUNS];
        core.alloc_unpopulated(ClientId(0), ask(64), 0, &mut out)
            .unwrap();
        let holes: std::vec::Vec<FrameRun> = (1..32)
            .step_by(2)
            .map(|i| FrameRun::new(Gfn(LENDING.start() + i), 1))
            .collect();
        assert_eq!(core.free_unpopulated(ClientId(0), &holes), Ok(16));
        let request = AllocRequest {
            frames: 600,
            below: None,
            max_runs: 2,
        };
        let granted = core
            .alloc_unpopulated(ClientId(1), request, 0, &mut out)
            .unwrap();
        assert_eq!(granted, AllocOutcome::Granted { runs: 1 });
        assert_eq!(out[0], FrameRun::span(3072, 3672));
        let request = AllocRequest {
            frames: 425,
            below: None,
            max_runs: 3,
        };
        let granted = core
            .alloc_unpopulated(ClientId(2), request, 0, &mut out)
            .unwrap();
        assert_eq!(granted, AllocOutcome::Granted { runs: 2 });
        assert_eq!(&out[..2], &[FrameRun::span(3672, 4096), holes[0]]);
        core.check_invariant(sim.tot_pages(dom)).unwrap();
    }

    #[test]
    fn bad_returns_get_typed_errors_and_change_nothing() {
        let (sim, dom, mut hv, mut scrub) = guest();
        let mut words = std::vec::Vec::new();
        let mut core = ballooned(&mut words, &mut hv, &mut scrub, 4000);
        let mut out = [FrameRun::default(); MAX_GRANT_RUNS];
        core.alloc_unpopulated(ClientId(0), ask(64), 0, &mut out)
            .unwrap();
        core.alloc_unpopulated(ClientId(1), ask(8), 0, &mut out)
            .unwrap();
        let theirs = [out[0]];
        let before = core.stats();
        let mine = FrameRun::span(LENDING.start(), LENDING.start() + 4);
        let cases = [
            (ClientId(0), theirs.as_slice(), LendError::NotOwner),
            (ClientId(0), &[FrameRun::span(10, 12)], LendError::NotLent),
            (ClientId(0), &[mine, mine], LendError::OverlappingRuns),
            (ClientId(0), &[FrameRun::span(5, 5)], LendError::Empty),
            (ClientId(9), &[mine], LendError::UnknownClient),
            (
                ClientId(0),
                &[mine, FrameRun::span(LENDING.end() - 1, LENDING.end() + 1)],
                LendError::NotLent,
            ),
        ];
        for (client, runs, error) in cases {
            assert_eq!(core.free_unpopulated(client, runs), Err(error));
            assert_eq!(core.stats(), before);
            core.check_invariant(sim.tot_pages(dom)).unwrap();
        }
        assert_eq!(core.free_unpopulated(ClientId(0), &[mine]), Ok(4));
        assert_eq!(
            core.free_unpopulated(ClientId(0), &[mine]),
            Err(LendError::NotLent)
        );
        assert_eq!(core.client(ClientId(0)).unwrap().lent, 60);
        core.check_invariant(sim.tot_pages(dom)).unwrap();
    }

    #[test]
    fn a_run_given_back_across_the_seam_of_extra_ram_and_lending_is_credited_per_region() {
        let extra = [FrameRun::span(4096, 4608)];
        let lending = FrameRun::span(4608, 4672);
        let (sim, dom, mut hv, mut scrub) = guest();
        let mut config = Config::new(&RAM, Policy::Ballast);
        config.extra = &extra;
        config.lending = Some(lending);
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        core.set_target(4608 - 8);
        run_until_idle(&mut core, &mut hv, &mut scrub, 0, 10);
        assert_eq!(
            core.frame_state(Gfn(4600)),
            Some(FrameState::Ballooned),
            "the last extra frames stay ballooned"
        );
        let mut out = [FrameRun::default(); MAX_GRANT_RUNS];
        let granted = core
            .alloc_unpopulated(ClientId(0), ask(72), 0, &mut out)
            .unwrap();
        assert_eq!(granted, AllocOutcome::Granted { runs: 2 });
        assert_eq!(&out[..2], &[lending, FrameRun::span(4600, 4608)]);
        core.check_invariant(sim.tot_pages(dom)).unwrap();
        let across = FrameRun::span(4600, lending.end());
        assert_eq!(core.free_unpopulated(ClientId(0), &[across]), Ok(72));
        core.check_invariant(sim.tot_pages(dom)).unwrap();
        assert_eq!(core.stats().lent_pages, 0);
        assert_eq!(core.client(ClientId(0)).unwrap().lent, 0);
        core.alloc_unpopulated(ClientId(1), ask(72), 0, &mut out)
            .unwrap();
        assert_eq!(core.client_died(ClientId(1)), Ok(72));
        core.check_invariant(sim.tot_pages(dom)).unwrap();
        run_until_idle(&mut core, &mut hv, &mut scrub, 0, 10);
        assert_eq!(sim.tot_pages(dom), Some(4600));
    }

    #[test]
    fn quotas_bound_what_a_client_holds_and_death_reclaims_it() {
        let (sim, dom, mut hv, mut scrub) = guest();
        let mut words = std::vec::Vec::new();
        let mut core = ballooned(&mut words, &mut hv, &mut scrub, 3072);
        core.set_client_quota(ClientId(2), 100).unwrap();
        let mut out = [FrameRun::default(); MAX_GRANT_RUNS];
        core.alloc_unpopulated(ClientId(2), ask(60), 0, &mut out)
            .unwrap();
        assert_eq!(
            core.alloc_unpopulated(ClientId(2), ask(41), 0, &mut out),
            Err(LendError::QuotaExceeded)
        );
        core.alloc_unpopulated(ClientId(2), ask(40), 0, &mut out)
            .unwrap();
        let bad_runs = AllocRequest {
            frames: 1,
            below: None,
            max_runs: 0,
        };
        assert_eq!(
            core.alloc_unpopulated(ClientId(0), bad_runs, 0, &mut out),
            Err(LendError::BadRunCount)
        );
        let never = AllocRequest {
            frames: 10,
            below: Some(Gfn(5)),
            max_runs: 1,
        };
        assert_eq!(
            core.alloc_unpopulated(ClientId(0), never, 0, &mut out),
            Err(LendError::NeverSatisfiable)
        );
        assert_eq!(core.stats().lent_pages, 100);
        assert_eq!(core.client_died(ClientId(2)), Ok(100));
        assert_eq!(core.stats().lent_pages, 0);
        assert_eq!(
            core.frame_state(Gfn(LENDING.start())),
            Some(FrameState::LendingFree)
        );
        core.check_invariant(sim.tot_pages(dom)).unwrap();
        assert_eq!(core.client_died(ClientId(4)), Err(LendError::UnknownClient));
    }

    #[test]
    fn a_request_met_only_by_inflating_is_deferred_and_the_worker_does_not_fight_it() {
        let (sim, dom, mut hv, mut scrub) = guest();
        let config = Config::new(&RAM, Policy::Ballast);
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut out = [FrameRun::default(); MAX_GRANT_RUNS];
        let request = AllocRequest {
            frames: 600,
            below: Some(Gfn(2048)),
            max_runs: 4,
        };
        let AllocOutcome::Pending(ticket) = core
            .alloc_unpopulated(ClientId(1), request, 0, &mut out)
            .unwrap()
        else {
            panic!("a fully populated guest cannot lend at once")
        };
        assert_eq!(core.take_settled(&mut out), None);
        let (steps, now) = run_until_idle(&mut core, &mut hv, &mut scrub, 0, 20);
        assert_eq!(steps.iter().map(|s| s.settled).sum::<usize>(), 1);
        let settled = core.take_settled(&mut out).unwrap();
        assert_eq!((settled.ticket, settled.client), (ticket, ClientId(1)));
        let runs = settled.result.unwrap();
        assert!(out[..runs].iter().all(|r| r.end() <= 2048));
        assert_eq!(out[..runs].iter().map(|r| r.frames).sum::<u64>(), 600);
        assert_eq!(core.stats().current_pages, 4096 - 600);
        let (again, _) = run_until_idle(&mut core, &mut hv, &mut scrub, now, 20);
        assert_eq!(again.iter().map(|s| s.frames_moved).sum::<u64>(), 0);
        assert_eq!(core.free_unpopulated(ClientId(1), &out[..runs]), Ok(600));
        run_until_idle(&mut core, &mut hv, &mut scrub, now, 20);
        assert_eq!(sim.tot_pages(dom), Some(4096));
    }

    #[test]
    fn a_deferred_request_times_out_when_the_balloon_cannot_grow() {
        let (sim, dom, mut hv, mut scrub) = guest();
        for call in 0..4 {
            sim.inject(Fault::Shorten { call, completed: 0 });
        }
        let config = Config::new(&RAM, Policy::Seed);
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut out = [FrameRun::default(); MAX_GRANT_RUNS];
        let outcome = core
            .alloc_unpopulated(ClientId(0), ask(10), 0, &mut out)
            .unwrap();
        assert!(matches!(outcome, AllocOutcome::Pending(_)));
        let first = core.balloon_step(&mut HypervisorPort::new(&mut hv), &mut scrub, 0);
        assert_eq!(first.state, BpState::EAgain);
        let late = core.balloon_step(&mut HypervisorPort::new(&mut hv), &mut scrub, 5_000_000_000);
        assert_eq!(late.settled, 1);
        let settled = core.take_settled(&mut out).unwrap();
        assert_eq!(settled.result, Err(LendError::TimedOut));
        assert_eq!(core.client(ClientId(0)).unwrap().waiting, 0);
        assert_eq!(core.stats().counters.deferred_timed_out, 1);
        core.check_invariant(sim.tot_pages(dom)).unwrap();
    }

    #[test]
    fn a_request_no_inflation_can_serve_waits_without_draining_memory() {
        let (sim, dom, mut hv, mut scrub) = guest();
        let reserved = [FrameRun::span(0, 1000)];
        let mut config = Config::new(&RAM, Policy::Ballast);
        config.reserved = &reserved;
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut out = [FrameRun::default(); MAX_GRANT_RUNS];
        let low = |frames| AllocRequest {
            frames,
            below: Some(Gfn(1100)),
            max_runs: 4,
        };
        core.alloc_unpopulated(ClientId(0), low(100), 0, &mut out)
            .unwrap();
        run_until_idle(&mut core, &mut hv, &mut scrub, 0, 20);
        assert!(core.take_settled(&mut out).unwrap().result.is_ok());
        assert_eq!(sim.tot_pages(dom), Some(3996));
        let outcome = core
            .alloc_unpopulated(ClientId(1), low(50), 0, &mut out)
            .unwrap();
        assert!(matches!(outcome, AllocOutcome::Pending(_)));
        let (steps, _) = run_until_idle(&mut core, &mut hv, &mut scrub, 0, 20);
        assert_eq!(steps[0].state, BpState::Wait);
        assert_eq!(steps.iter().map(|s| s.frames_moved).sum::<u64>(), 0);
        assert_eq!(sim.tot_pages(dom), Some(3996));
        assert_eq!(
            core.take_settled(&mut out).unwrap().result,
            Err(LendError::TimedOut)
        );
    }

    #[test]
    fn a_dead_clients_kept_runs_stay_lent_until_given_back() {
        let (sim, dom, mut hv, mut scrub) = guest();
        let mut words = std::vec::Vec::new();
        let mut core = ballooned(&mut words, &mut hv, &mut scrub, 3072);
        let mut out = [FrameRun::default(); MAX_GRANT_RUNS];
        let mut loans = std::vec::Vec::new();
        for frames in [8, 16, 4] {
            core.alloc_unpopulated(ClientId(0), ask(frames), 0, &mut out)
                .unwrap();
            loans.push(out[0]);
        }
        assert_eq!(
            core.delivered_runs(ClientId(0))
                .collect::<std::vec::Vec<_>>(),
            loans
        );
        let before = core.stats();
        assert_eq!(
            core.check_free_unpopulated(ClientId(0), &loans[..1]),
            Ok(())
        );
        assert_eq!(
            core.check_free_unpopulated(ClientId(1), &loans[..1]),
            Err(LendError::NotOwner)
        );
        assert_eq!(core.stats(), before, "a check changes nothing");

        let kept = loans[1];
        assert_eq!(
            core.client_died_keeping(ClientId(0), |run| *run == kept),
            Ok(12)
        );
        let account = *core.client(ClientId(0)).unwrap();
        assert_eq!((account.lent, account.runs, account.waiting), (16, 1, 0));
        assert_eq!(
            core.frame_state(kept.first),
            Some(FrameState::Lent(ClientId(0)))
        );
        assert_eq!(
            core.frame_state(loans[0].first),
            Some(FrameState::LendingFree)
        );
        core.check_invariant(sim.tot_pages(dom)).unwrap();
        core.alloc_unpopulated(ClientId(1), ask(64), 0, &mut out)
            .unwrap();
        assert!(
            out.iter().all(|run| !run.overlaps(&kept)),
            "a kept run is lent to nobody else"
        );
        assert_eq!(core.free_unpopulated(ClientId(0), &[kept]), Ok(16));
        assert_eq!(core.client(ClientId(0)).unwrap().lent, 0);
        core.check_invariant(sim.tot_pages(dom)).unwrap();
    }
}
