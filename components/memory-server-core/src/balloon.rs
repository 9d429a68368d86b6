//! The balloon core: the page model (bitmap, regions, lent runs, the in-flight batch), the
//! target, clients and deferred requests in one statically sized value. The worker, lending and
//! invariant checks are in their own modules.

use ballast_xen::{ExtentOrder, Gfn, ReservationOp};

use crate::bitmap::Bitmap;
use crate::config::{Config, ConfigError, Policy, MAX_BATCH_EXTENTS};
use crate::lent_table::{ClientId, LentTable};
use crate::pending::PendingQueue;
use crate::ports::{PortError, ReservationPort};
use crate::regions::{is_lending, is_ram, RegionKind, Regions};
use crate::scan::Scan;
use crate::schedule::Schedule;
use crate::stats::{Counters, Stats};

/// A frame count as a signed number, saturating (counts from outside may be anything).
pub(crate) fn signed(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A client's account: its quota and what it holds or waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAccount {
    /// Most frames it may hold lent or requested at once.
    pub quota: u64,
    /// Frames lent to it.
    pub lent: u64,
    /// Frames its deferred requests still wait for.
    pub waiting: u64,
}

/// The last batch, while the state of some of its extents is unknown (the call's transport
/// failed, its answer broke the convention, or a failed superpage extent has not been probed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InFlight {
    /// What the batch did.
    pub op: ReservationOp,
    /// Its extent order.
    pub order: ExtentOrder,
    /// Index of the first extent of unknown state in the batch list.
    pub from: usize,
    /// Extents of unknown state.
    pub count: usize,
}

impl InFlight {
    /// Frames of unknown state.
    pub fn frames(&self) -> u64 {
        self.count as u64 * self.order.frames()
    }
}

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

/// Whether superpage calls failed, per direction, since the last target (then 4 KiB is used).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SuperpageFallback {
    /// Populating 2 MiB extents failed.
    pub populate: bool,
    /// Releasing 2 MiB extents failed.
    pub release: bool,
}

impl SuperpageFallback {
    /// Whether 2 MiB extents failed for batches of `op`.
    pub(crate) fn failed(&self, op: ReservationOp) -> bool {
        match op {
            ReservationOp::Decrease => self.release,
            _ => self.populate,
        }
    }

    /// Note that 2 MiB extents failed for batches of `op`.
    pub(crate) fn fail(&mut self, op: ReservationOp) {
        match op {
            ReservationOp::Decrease => self.release = true,
            _ => self.populate = true,
        }
    }
}

/// The balloon core, holding at most `LENT` lent runs, `CLIENTS` clients and `PENDING`
/// deferred requests, over a populated bitmap in caller-provided storage.
#[derive(Debug)]
pub struct BalloonCore<'a, const LENT: usize, const CLIENTS: usize, const PENDING: usize> {
    pub(crate) policy: Policy,
    pub(crate) superpages: bool,
    pub(crate) max_order: ExtentOrder,
    pub(crate) batch_extents: usize,
    pub(crate) lowmem_limit: u64,
    pub(crate) pending_timeout_ns: u64,
    pub(crate) regions: Regions,
    pub(crate) bitmap: Bitmap<'a>,
    pub(crate) ram_frames: u64,
    pub(crate) reserved_frames: u64,
    pub(crate) lending_frames: u64,
    pub(crate) populated_ram: u64,
    pub(crate) lent_ram: u64,
    pub(crate) lent_lending: u64,
    pub(crate) target: u64,
    pub(crate) baseline: Option<i64>,
    pub(crate) schedule: Schedule,
    pub(crate) retry_at_ns: Option<u64>,
    pub(crate) cancelled: bool,
    pub(crate) fallback: SuperpageFallback,
    pub(crate) lent: LentTable<LENT>,
    pub(crate) clients: [ClientAccount; CLIENTS],
    pub(crate) pending: PendingQueue<PENDING>,
    pub(crate) list: [Gfn; MAX_BATCH_EXTENTS],
    pub(crate) in_flight: Option<InFlight>,
    pub(crate) counters: Counters,
}

impl<'a, const LENT: usize, const CLIENTS: usize, const PENDING: usize>
    BalloonCore<'a, LENT, CLIENTS, PENDING>
{
    /// Build the core for `config` over `storage` (at least [`Config::bitmap_words`] words).
    /// RAM starts populated, extra regions ballooned, the target equal to the current count.
    pub fn new(config: &Config<'_>, storage: &'a mut [u64]) -> Result<Self, ConfigError> {
        if config.batch_extents == 0 || config.batch_extents > MAX_BATCH_EXTENTS {
            return Err(ConfigError::BadBatchSize);
        }
        if config.tunables.max_schedule_delay_s == 0 {
            return Err(ConfigError::BadTunables);
        }
        let regions = Regions::build(config)?;
        let words = storage
            .get_mut(..regions.words())
            .ok_or(ConfigError::StorageTooSmall)?;
        let mut bitmap = Bitmap::new(words);
        let mut populated_ram = 0;
        for region in regions.iter() {
            if let RegionKind::Ram {
                bit_base,
                extra: false,
            } = region.kind
            {
                bitmap.set_range(bit_base, region.run.frames, true);
                populated_ram += region.run.frames;
            }
        }
        let reserved_frames = regions.frames(|k| *k == RegionKind::Reserved);
        Ok(BalloonCore {
            policy: config.policy,
            superpages: config.superpages(),
            max_order: config.max_order,
            batch_extents: config.batch_extents,
            lowmem_limit: config.lowmem_limit.0,
            pending_timeout_ns: config.pending_timeout_ns,
            ram_frames: regions.frames(is_ram),
            lending_frames: regions.frames(is_lending),
            reserved_frames,
            regions,
            bitmap,
            populated_ram,
            lent_ram: 0,
            lent_lending: 0,
            target: reserved_frames + populated_ram,
            baseline: None,
            schedule: Schedule::new(config.tunables),
            retry_at_ns: None,
            cancelled: false,
            fallback: SuperpageFallback::default(),
            lent: LentTable::default(),
            clients: [ClientAccount {
                quota: config.default_client_quota,
                lent: 0,
                waiting: 0,
            }; CLIENTS],
            pending: PendingQueue::default(),
            list: [Gfn(0); MAX_BATCH_EXTENTS],
            in_flight: None,
            counters: Counters::default(),
        })
    }

    /// Take the baseline: Xen's page count minus the model's. Every later comparison with
    /// `current_reservation` is relative to it. The worker does this itself on its first step.
    pub fn start<P: ReservationPort>(&mut self, port: &mut P) -> Result<(), PortError> {
        let xen = self.probe(port)?;
        self.baseline = Some(signed(xen).saturating_sub(signed(self.current_pages())));
        Ok(())
    }

    /// Compare the model with Xen now; resolve an in-flight batch if there is one. Returns the
    /// drift (Xen's count minus the model's; 0 when they agree), also kept in the counters.
    pub fn reconcile<P: ReservationPort>(&mut self, port: &mut P) -> Result<i64, PortError> {
        if self.baseline.is_none() {
            self.start(port)?;
        }
        if self.in_flight.is_some() {
            self.resolve_in_flight(port)?;
        }
        let xen = self.probe(port)?;
        let drift = signed(xen).saturating_sub(self.expected_xen());
        self.counters.drift = drift;
        Ok(drift)
    }

    /// Ask Xen for its page count, counting the call.
    pub(crate) fn probe<P: ReservationPort>(&mut self, port: &mut P) -> Result<u64, PortError> {
        self.counters.probe_calls += 1;
        port.current_reservation()
    }

    /// What Xen's page count should be by the model (in-flight frames counted as unpopulated).
    pub(crate) fn expected_xen(&self) -> i64 {
        signed(self.current_pages()).saturating_add(self.baseline.unwrap_or(0))
    }

    /// Set the target, in populated pages (the seed's `balloon_set_new_target`). Clears the
    /// retry delay, a cancellation and the superpage fallback so the worker starts afresh.
    pub fn set_target(&mut self, pages: u64) {
        self.target = pages;
        self.retry_at_ns = None;
        self.cancelled = false;
        self.fallback = SuperpageFallback::default();
    }

    /// The requested target.
    pub fn target(&self) -> u64 {
        self.target
    }

    /// Populated frames: reserved and populated RAM (frames in flight not counted).
    pub fn current_pages(&self) -> u64 {
        self.reserved_frames + self.populated_ram
    }

    /// Ballooned, unlent RAM frames, known to be unpopulated.
    pub(crate) fn ballooned(&self) -> u64 {
        self.ram_frames
            - self.populated_ram
            - self.lent_ram
            - self.in_flight.map_or(0, |f| f.frames())
    }

    /// A search view of the model.
    pub(crate) fn scan(&self) -> Scan<'_, 'a, LENT> {
        Scan {
            regions: &self.regions,
            bitmap: &self.bitmap,
            lent: &self.lent,
        }
    }

    /// Whether `gfn` is listed in the in-flight part of the batch.
    fn in_flight_holds(&self, gfn: u64) -> bool {
        self.in_flight.is_some_and(|f| {
            self.list[f.from..f.from + f.count]
                .iter()
                .any(|e| e.0 <= gfn && gfn < e.0 + f.order.frames())
        })
    }

    /// Frames of the in-flight batch inside `[lo, hi)`.
    fn in_flight_frames_in(&self, lo: u64, hi: u64) -> u64 {
        let Some(flight) = self.in_flight else {
            return 0;
        };
        let frames = flight.order.frames();
        let extents = &self.list[flight.from..flight.from + flight.count];
        extents
            .iter()
            .map(|e| (e.0 + frames).min(hi).saturating_sub(e.0.max(lo)))
            .sum()
    }

    /// The state of frame `gfn`, or `None` if the server does not manage it.
    pub fn frame_state(&self, gfn: Gfn) -> Option<FrameState> {
        let region = self.regions.find(gfn.0)?;
        if let Some(owner) = self
            .lent
            .overlapping(crate::run::FrameRun::new(gfn, 1))
            .next()
        {
            return Some(FrameState::Lent(owner.client));
        }
        Some(match region.kind {
            RegionKind::Reserved => FrameState::Reserved,
            RegionKind::Lending => FrameState::LendingFree,
            RegionKind::Ram { .. } if self.in_flight_holds(gfn.0) => FrameState::InFlight,
            RegionKind::Ram { .. } => match region.bit(gfn.0).map(|b| self.bitmap.get(b)) {
                Some(true) => FrameState::PopulatedFree,
                _ => FrameState::Ballooned,
            },
        })
    }

    /// Bytes of state: the bitmap plus the fixed tables (region table, lent runs, clients,
    /// pending queue, frame list, counters), i.e. the size of this value and its storage.
    pub fn state_bytes(&self) -> usize {
        self.bitmap.bytes() + core::mem::size_of::<Self>()
    }

    /// Bytes of state that grow with managed memory: the populated bitmap.
    pub fn bitmap_bytes(&self) -> usize {
        self.bitmap.bytes()
    }

    /// The worker's policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> Stats {
        let scan = self.scan();
        let limit = self.lowmem_limit;
        let balloon_low = scan.count_ballooned(0, limit) - self.in_flight_frames_in(0, limit);
        let balloon_high =
            scan.count_ballooned(limit, u64::MAX) - self.in_flight_frames_in(limit, u64::MAX);
        let waiting: u64 = self.clients.iter().map(|c| c.waiting).sum();
        Stats {
            current_pages: self.current_pages(),
            target_pages: self.target,
            reachable_target_pages: self.reachable_target(),
            total_pages: self.reserved_frames + self.ram_frames,
            balloon_low,
            balloon_high,
            lent_pages: self.lent_ram + self.lent_lending,
            target_unpopulated: self.lent_ram + self.lent_lending + waiting,
            in_flight_pages: self.in_flight.map_or(0, |f| f.frames()),
            schedule_delay_s: self.schedule.delay_s,
            max_schedule_delay_s: self.schedule.tunables.max_schedule_delay_s,
            retry_count: self.schedule.retry_count,
            max_retry_count: self.schedule.tunables.max_retry_count,
            counters: self.counters,
        }
    }

    /// The account of `client`, if it is one.
    pub fn client(&self, client: ClientId) -> Option<&ClientAccount> {
        self.clients.get(usize::from(client.0))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use ballast_xen::Gfn;

    use super::*;
    use crate::test_support::{domain, run_until_idle, Core, SimScrubber};
    use crate::{BpState, FrameRun};

    const GIB: u64 = 1 << 18;

    #[test]
    fn state_costs_one_bit_per_managed_frame_plus_fixed_tables() {
        let ram = [FrameRun::span(0, 4 * GIB)];
        let config = Config::new(&ram, Policy::Ballast);
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let core = BalloonCore::<'_, 256, 16, 32>::new(&config, &mut words).unwrap();
        assert_eq!(core.bitmap_bytes() as u64, 4 * GIB / 8);
        assert_eq!(
            core.state_bytes() - core.bitmap_bytes(),
            core::mem::size_of_val(&core)
        );
        std::println!(
            "state for 4 GiB: bitmap {} B ({} B per GiB), fixed tables {} B",
            core.bitmap_bytes(),
            core.bitmap_bytes() as u64 / 4,
            core.state_bytes() - core.bitmap_bytes()
        );
    }

    #[test]
    fn bad_configurations_are_refused() {
        let ram = [FrameRun::span(0, 1024)];
        let mut config = Config::new(&ram, Policy::Seed);
        let mut words = [0u64; 16];
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
        assert_eq!(
            Core::new(&config, &mut words[..15]).err(),
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
        assert_eq!(steps.last().unwrap().state, BpState::EAgain);
        assert_eq!(sim.tot_pages(dom), Some(100));
        assert_eq!(core.frame_state(Gfn(50)), Some(FrameState::Reserved));
        core.set_target(u64::MAX);
        run_until_idle(&mut core, &mut hv, &mut scrub, now, 20);
        assert_eq!(sim.tot_pages(dom), Some(1024));
        let stats = core.stats();
        assert_eq!(
            (stats.target_pages, stats.reachable_target_pages),
            (u64::MAX, 1024)
        );
        assert_eq!(core.frame_state(Gfn(5000)), None);
    }
}
