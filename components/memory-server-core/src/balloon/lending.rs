//! Lending unpopulated frames to clients (the seed's alloc/free_xenballooned_pages, reshaped):
//! the lending range first, then ballooned RAM lowest first; per-client quotas and ownership
//! (kept by the lending book); deferred requests answered by the worker; reclaim on client
//! death.

use super::BalloonCore;
use crate::book::{LendError, Plan, Settled, MAX_GRANT_RUNS};
use crate::lent_table::{ClientId, Ticket};
use crate::pending::{AllocRequest, PendingState};
use ballast_xen::FrameRun;

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

impl<const LENT: usize, const CLIENTS: usize, const PENDING: usize>
    BalloonCore<'_, LENT, CLIENTS, PENDING>
{
    /// Set how many frames `client` may hold lent or requested at once.
    pub fn set_client_quota(&mut self, client: ClientId, frames: u64) -> Result<(), LendError> {
        self.book.set_quota(client, frames)
    }

    /// Find `request.frames` unpopulated, unlent frames in at most `request.max_runs` runs:
    /// the lending range first, then ballooned RAM lowest first.
    fn plan(&self, request: &AllocRequest) -> Option<Plan> {
        let mut plan = Plan::new();
        let mut left = request.frames;
        let limit = request.below.map_or(u64::MAX, |g| g.0);
        let mut take = |a: u64, b: u64| {
            let frames = (b - a).min(left);
            if plan.len() >= request.max_runs || plan.push(FrameRun::span(a, a + frames)).is_err() {
                return false;
            }
            left -= frames;
            left > 0
        };
        let scan = self.pages.scan(self.book.lent());
        if scan.lending_runs(0, limit, &mut take) && !self.list.is_in_flight() {
            scan.ballooned_runs(0, limit, &mut take);
        }
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
        if let Some(plan) = self.plan(&request) {
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

    /// Reclaim everything of a dead client: its lent frames go back to the balloon or the
    /// lending range, its deferred requests are dropped. Returns the frames reclaimed.
    pub fn client_died(&mut self, client: ClientId) -> Result<u64, LendError> {
        let reclaimed = self.book.forget(client, &self.pages)?;
        self.schedule.resume();
        Ok(reclaimed)
    }

    /// Time out waiting requests whose deadline has passed. Returns how many.
    pub(super) fn expire(&mut self, now_ns: u64) -> usize {
        let expired = self.book.expire(now_ns);
        self.counters.deferred_timed_out += expired as u64;
        expired
    }

    /// Grant waiting requests that can be met now, oldest first. Returns how many.
    pub(super) fn grant_waiting(&mut self) -> usize {
        let mut granted = 0;
        let mut index = 0;
        while let Some(entry) = self.book.deferred(index) {
            index += 1;
            if entry.state != PendingState::Waiting {
                continue;
            }
            let Some(plan) = self.plan(&entry.request) else {
                continue;
            };
            if self.book.grant(&entry, &plan, &self.pages).is_err() {
                continue;
            }
            self.counters.deferred_granted += 1;
            granted += 1;
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
        let mut config = Config::new(&RAM, Policy::Ballast);
        config.lending = Some(LENDING);
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
}
