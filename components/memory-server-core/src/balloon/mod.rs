//! The balloon core: one statically sized value owning the page map, the lending book, the
//! steering (target and batch shape), the retry schedule, the frame list and the counters. Its
//! methods are split by concern: the worker, batches and their frames, the in-flight batch,
//! lending, tuning and the invariant.

mod batch_frames;
mod batches;
mod boot;
mod in_flight;
mod invariant;
mod lending;
mod tuning;
mod worker;

use ballast_xen::{FrameRun, Gfn};

pub use self::boot::BootReport;
pub use self::invariant::InvariantViolation;
pub use self::lending::AllocOutcome;
pub use self::tuning::TuningError;
pub use self::worker::StepOutcome;

use self::boot::Boot;
use crate::book::{ClientAccount, LendingBook};
use crate::config::{Config, ConfigError, Policy};
use crate::frame_list::FrameList;
use crate::lent_table::ClientId;
use crate::page_map::{signed, PageMap, Place};
use crate::ports::{PortError, ReservationPort};
use crate::schedule::Schedule;
use crate::stats::{Counters, Stats};
use crate::steering::Steering;
use crate::storage::Storage;

/// The state of one managed frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameState {
    /// Populated, the server's: can be ballooned out.
    PopulatedFree,
    /// Populated and someone else's.
    Reserved,
    /// Unpopulated, in the balloon.
    Ballooned,
    /// Unpopulated, lent to a client.
    Lent(ClientId),
    /// Inside a batch whose outcome is not known yet.
    InFlight,
    /// Unpopulated lending space, not lent.
    LendingFree,
}

/// The balloon core, holding at most `LENT` lent runs, `CLIENTS` clients and `PENDING`
/// deferred requests, over a populated bitmap in caller-provided storage `W` (borrowed, or owned
/// and freed with the core).
#[derive(Debug)]
pub struct BalloonCore<W, const LENT: usize, const CLIENTS: usize, const PENDING: usize> {
    /// Regions, the populated bitmap, the frame counts and the baseline against Xen.
    pages: PageMap<W>,
    /// Lent runs, client accounts and deferred requests.
    book: LendingBook<LENT, CLIENTS, PENDING>,
    /// The target, the policy and the batch shape.
    steering: Steering,
    /// The retry delay and what holds the worker back.
    schedule: Schedule,
    /// The frame list of the batch and its in-flight part.
    list: FrameList,
    /// Where the start against Xen is.
    boot: Boot,
    counters: Counters,
}

impl<W: Storage, const LENT: usize, const CLIENTS: usize, const PENDING: usize>
    BalloonCore<W, LENT, CLIENTS, PENDING>
{
    /// Build the core for `config` over `storage` (at least [`Config::bitmap_words`] words):
    /// what [`Config::check`] refuses, and storage too small, is refused.
    /// RAM starts populated, extra regions ballooned, the target equal to the current count.
    pub fn new(config: &Config<'_>, storage: W) -> Result<Self, ConfigError> {
        config.check()?;
        let pages = PageMap::new(config, storage)?;
        Ok(BalloonCore {
            steering: Steering::new(config, pages.current_pages()),
            pages,
            book: LendingBook::new(
                config.default_client_quota,
                config.max_lent_runs_per_client,
                config.pending_timeout_ns,
            ),
            schedule: Schedule::new(config.tunables),
            list: FrameList::new(),
            boot: Boot::Fresh,
            counters: Counters::default(),
        })
    }

    /// Compare the model with Xen now; resolve an in-flight batch if there is one. Returns the
    /// drift (Xen's count minus the model's; 0 when they agree), also kept in the counters.
    pub fn reconcile<P: ReservationPort>(&mut self, port: &mut P) -> Result<i64, PortError> {
        if !self.pages.has_baseline() {
            self.start(port)?;
        }
        if self.list.is_in_flight() {
            self.resolve_in_flight(port)?;
        }
        let xen = self.probe(port)?;
        let drift = signed(xen).saturating_sub(self.pages.expected_xen());
        self.counters.drift = drift;
        Ok(drift)
    }

    /// Ask Xen for its page count, counting the call.
    fn probe<P: ReservationPort>(&mut self, port: &mut P) -> Result<u64, PortError> {
        crate::stats::add(&mut self.counters.probe_calls, 1);
        port.current_reservation()
    }

    /// Set the target, in populated pages (the seed's `balloon_set_new_target`). Clears the
    /// retry delay, a cancellation and the superpage fallback so the worker starts afresh.
    pub fn set_target(&mut self, pages: u64) {
        self.steering.set_target(pages);
        self.schedule.restart();
    }

    /// The largest target the server could ever reach, in its pages: every frame it could
    /// populate (RAM, extra, growth) and the reserved ones. The glue refuses a target above it
    /// (`TargetTooHigh`); one at or below it is kept, and steered to as far as the lent frames
    /// and deferred requests leave room.
    pub fn max_target_pages(&self) -> u64 {
        self.pages.total_pages()
    }

    /// Ballooned, unlent RAM frames, known to be unpopulated.
    fn ballooned(&self) -> u64 {
        // RAM frames partition into these (the invariant checks it): none goes below zero.
        self.pages
            .ram_frames()
            .saturating_sub(self.pages.populated_ram())
            .saturating_sub(self.book.lent_ram())
            .saturating_sub(self.list.in_flight_frames())
    }

    /// The state of frame `gfn`, or `None` if the server does not manage it.
    pub fn frame_state(&self, gfn: Gfn) -> Option<FrameState> {
        let state = match self.pages.place(FrameRun::new(gfn, 1)) {
            Place::Outside => return None,
            Place::Reserved => FrameState::Reserved,
            Place::Lending => FrameState::LendingFree,
            Place::Ram { .. } if self.list.in_flight_holds(gfn.0) => FrameState::InFlight,
            Place::Ram { unpopulated: false } => FrameState::PopulatedFree,
            Place::Ram { unpopulated: true } => FrameState::Ballooned,
        };
        Some(self.book.owner(gfn.0).map_or(state, FrameState::Lent))
    }

    /// Bytes of state: the storage (populated bitmap or chunk summary, clean chunks, reserved
    /// runs) plus the fixed tables (region table, lent runs, clients, pending queue, frame
    /// list, counters), i.e. the size of this value and its storage.
    pub fn state_bytes(&self) -> usize {
        // Storage in memory and the size of a value: their sum fits.
        self.pages
            .bitmap_bytes()
            .saturating_add(core::mem::size_of::<Self>())
    }

    /// Bytes of storage: the populated bitmap (direct, or the chunk summary's states and pool),
    /// the clean chunks and the reserved runs. All but the pool grow with managed memory.
    pub fn bitmap_bytes(&self) -> usize {
        self.pages.bitmap_bytes()
    }

    /// Bytes of the chunk summary's pool of blocks, part of [`BalloonCore::bitmap_bytes`] (0
    /// for the direct bitmap): sized by the configuration (`Config::mixed_chunk_blocks` and
    /// the chunks the layout pins), not by memory.
    pub fn pool_bytes(&self) -> usize {
        self.pages.pool_bytes()
    }

    /// The worker's policy.
    pub fn policy(&self) -> Policy {
        self.steering.policy()
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> Stats {
        let scan = self.pages.scan(self.book.lent());
        let limit = self.pages.lowmem_limit();
        // Frames in flight are ballooned in the bitmap until settled: a subset of those counted.
        let balloon_low = (scan.count_ballooned(0, limit))
            .saturating_sub(self.list.in_flight_frames_in(0, limit));
        let balloon_high = (scan.count_ballooned(limit, u64::MAX))
            .saturating_sub(self.list.in_flight_frames_in(limit, u64::MAX));
        let tunables = self.schedule.tunables();
        Stats {
            current_pages: self.pages.current_pages(),
            target_pages: self.steering.target(),
            reachable_target_pages: self.reachable_target(),
            total_pages: self.pages.total_pages(),
            balloon_low,
            balloon_high,
            lent_pages: self.book.lent_pages(),
            // Frames within the clients' quotas: the sum fits.
            target_unpopulated: (self.book.lent_pages()).saturating_add(self.book.waiting_frames()),
            in_flight_pages: self.list.in_flight_frames(),
            schedule_delay_s: self.schedule.delay_s(),
            max_schedule_delay_s: tunables.max_schedule_delay_s,
            retry_count: self.schedule.retry_count(),
            max_retry_count: tunables.max_retry_count,
            counters: self.counters,
        }
    }

    /// The account of `client`, if it is one.
    pub fn client(&self, client: ClientId) -> Option<&ClientAccount> {
        self.book.client(client)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use ballast_xen::Gfn;

    use super::*;
    use crate::config::{PopulatedForm, DEFAULT_MIXED_CHUNK_BLOCKS, MAX_BATCH_EXTENTS};
    use crate::test_support::{domain, run_until_idle, Core, SimScrubber};
    use crate::{BpState, FrameRun};

    const GIB: u64 = 1 << 18;

    #[test]
    fn state_costs_bits_per_frame_or_per_chunk_plus_fixed_tables() {
        let ram = [FrameRun::span(0, 4 * GIB)];
        let mut config = Config::new(&ram, Policy::Ballast);
        let chunks = 4 * GIB / 512;
        for (form, bitmap) in [
            (PopulatedForm::Direct, 4 * GIB / 8),
            (
                PopulatedForm::Smaller,
                chunks * 2 / 8 + DEFAULT_MIXED_CHUNK_BLOCKS as u64 * 72,
            ),
        ] {
            config.populated_form = form;
            let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
            let core = BalloonCore::<&mut [u64], 256, 16, 32>::new(&config, &mut words).unwrap();
            assert_eq!(
                core.bitmap_bytes() as u64,
                bitmap + chunks / 8,
                "{form:?}: the populated bitmap, then a clean bit per chunk"
            );
            assert_eq!(
                core.state_bytes() - core.bitmap_bytes(),
                core::mem::size_of_val(&core)
            );
            std::println!(
                "state for 4 GiB, {form:?}: bitmap {} B ({} B per GiB), fixed tables {} B",
                core.bitmap_bytes(),
                core.bitmap_bytes() as u64 / 4,
                core.state_bytes() - core.bitmap_bytes()
            );
        }
    }

    #[test]
    fn bad_configurations_are_refused() {
        let ram = [FrameRun::span(0, 1024)];
        let mut config = Config::new(&ram, Policy::Seed);
        let mut words = [0u64; 17];
        config.batch_extents = 0;
        assert_eq!(
            Core::new(&config, &mut words).err(),
            Some(ConfigError::BadBatchSize)
        );
        config.batch_extents = MAX_BATCH_EXTENTS + 1;
        assert_eq!(
            Core::new(&config, &mut words).err(),
            Some(ConfigError::BadBatchSize)
        );
        config.batch_extents = 8;
        config.tunables.max_schedule_delay_s = 0;
        assert_eq!(
            Core::new(&config, &mut words).err(),
            Some(ConfigError::BadTunables)
        );
        config.tunables.max_schedule_delay_s = 32;
        config.max_lent_runs_per_client = 0;
        assert_eq!(
            Core::new(&config, &mut words).err(),
            Some(ConfigError::NoLentRuns)
        );
        config.max_lent_runs_per_client = 1;
        assert_eq!(
            Core::new(&config, &mut words[..16]).err(),
            Some(ConfigError::StorageTooSmall)
        );
        assert!(Core::new(&config, &mut words).is_ok());
    }

    #[test]
    fn reserved_frames_are_never_ballooned_and_absurd_targets_are_capped() {
        let ram = [FrameRun::span(0, 1024)];
        let reserved = [FrameRun::span(0, 100)];
        let mut config = Config::new(&ram, Policy::Ballast);
        config.reserved = &reserved;
        let (sim, dom, mut hv) = domain(0..1024, 2048, 1 << 12);
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut scrub = SimScrubber {
            sim: sim.clone(),
            dom,
        };
        core.set_target(0);
        let (steps, now) = run_until_idle(&mut core, &mut hv, &mut scrub, 0, 5);
        let last = steps.last().unwrap();
        assert_eq!(
            (last.state, last.next_run_ns),
            (BpState::Done, None),
            "a target below the reserved frames is steered to as far as it goes, then the \
             worker stops instead of retrying a release that can never happen"
        );
        assert_eq!(sim.tot_pages(dom), Some(100));
        assert_eq!(
            (
                core.stats().target_pages,
                core.stats().reachable_target_pages
            ),
            (0, 100)
        );
        assert_eq!(core.frame_state(Gfn(50)), Some(FrameState::Reserved));
        core.set_target(u64::MAX);
        run_until_idle(&mut core, &mut hv, &mut scrub, now, 20);
        assert_eq!(sim.tot_pages(dom), Some(1024));
        let stats = core.stats();
        assert_eq!(
            (stats.target_pages, stats.reachable_target_pages),
            (u64::MAX, 1024)
        );
        assert_eq!(core.max_target_pages(), 1024);
        assert_eq!(core.frame_state(Gfn(5000)), None);
    }
}
