//! The configuration the caller builds from the manifest: which frames the server manages, the
//! policy (seed or ballast), batch size, the seed's tunables, clients and the pending queue.

use ballast_xen::{ExtentOrder, FrameRun, Gfn, SUPERPAGE_ORDER};

/// Most entries a frame list may hold: one 4 KiB page of `xen_pfn_t`, as in the seed.
pub const MAX_BATCH_EXTENTS: usize = 512;

/// Which algorithm the worker runs. Both exist so that every benchmark runs them side by side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    /// The reference driver: order-0 extents only, lowest ballooned frames repopulated first.
    Seed,
    /// 2 MiB extents wherever a chunk is wholly free or wholly ballooned, 4 KiB otherwise, and
    /// single frames taken from partly used chunks first so whole chunks stay whole.
    Ballast,
}

impl Policy {
    /// The names manifests, the command line and reports spell the policies with.
    pub const NAMES: [&'static str; 2] = [Policy::Ballast.name(), Policy::Seed.name()];

    /// The policy's name: `"seed"` or `"ballast"`.
    pub const fn name(self) -> &'static str {
        match self {
            Policy::Seed => "seed",
            Policy::Ballast => "ballast",
        }
    }

    /// The policy called `name`, if any.
    pub fn named(name: &str) -> Option<Policy> {
        [Policy::Seed, Policy::Ballast]
            .into_iter()
            .find(|policy| policy.name() == name)
    }
}

/// Which form the populated bitmap takes (`populated`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PopulatedForm {
    /// The smaller of the two for the configuration (the default).
    Smaller,
    /// One bit per frame, whatever its size.
    Direct,
    /// Two bits per 2 MiB chunk and a block only for mixed chunks, whatever its size.
    ChunkSummary,
}

/// Spare blocks of the chunk summary's pool by default: chunks the worker may hold mixed at once
/// besides those holding a region's end or a reserved frame (each has its own block). Every
/// scenario of the simulator stays below it; the worker waits instead of going past it.
pub const DEFAULT_MIXED_CHUNK_BLOCKS: usize = 64;

/// The seed's worker tunables, with the seed's meaning and defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tunables {
    /// Upper bound of the doubling retry delay, in seconds (seed: `max_schedule_delay`, 32).
    pub max_schedule_delay_s: u32,
    /// Failed batches in a row after which the worker gives up until the next target
    /// (seed: `max_retry_count`; 0 = retry forever).
    pub max_retry_count: u32,
}

impl Default for Tunables {
    fn default() -> Tunables {
        Tunables {
            max_schedule_delay_s: 32,
            max_retry_count: 0,
        }
    }
}

/// Everything the core needs to know, sized from the manifest by the caller.
#[derive(Clone, Copy, Debug)]
pub struct Config<'c> {
    /// Guest RAM the server manages, populated at start.
    pub ram: &'c [FrameRun],
    /// Parts of `ram` that belong to others (the image, other components): always populated,
    /// never ballooned. Disjoint, in any order, as many as the storage is sized for
    /// ([`Config::bitmap_words`]): a used frame in every 2 MiB chunk can be described.
    pub reserved: &'c [FrameRun],
    /// Boot-time extra regions: guest-physical space outside `ram`, unpopulated at start and
    /// added to the balloon (the seed's `xen_extra_mem`).
    pub extra: &'c [FrameRun],
    /// Guest-physical space above boot memory (every RAM and extra frame) that the domain may
    /// grow into once the toolstack raises its maximum: frames never populated at start, held
    /// as ballooned like `extra`, populated only after every lower ballooned frame (deflation
    /// goes lowest first) and released before any lower frame (inflation goes highest first),
    /// so that the domain leaves the space it did not boot with first.
    pub growth: Option<FrameRun>,
    /// Unpopulated space beyond RAM kept for lending to clients; lent before any RAM frame.
    pub lending: Option<FrameRun>,
    /// The worker's algorithm.
    pub policy: Policy,
    /// Extents per reservation call (the frame list length; the seed uses 512).
    pub batch_extents: usize,
    /// Largest extent order the gateway accepts for this server (the domU default is 9).
    pub max_order: ExtentOrder,
    /// Frames below this one count as low memory in the statistics (the seed's lowmem).
    pub lowmem_limit: Gfn,
    /// The seed's tunables.
    pub tunables: Tunables,
    /// Frames a client may hold lent or requested at once, unless set per client.
    pub default_client_quota: u64,
    /// Lent runs one client may hold at once (the manifest's `max_lent_runs_per_client`): its
    /// share of the lent-run table, so that no client can fill the table for the others.
    pub max_lent_runs_per_client: usize,
    /// How long a deferred allocation waits before it times out, in nanoseconds.
    pub pending_timeout_ns: u64,
    /// The form of the populated bitmap.
    pub populated_form: PopulatedForm,
    /// Spare blocks of the chunk summary's pool: chunks the worker may hold mixed at once
    /// besides those holding a region's end or a reserved frame. At least 1. A batch that would
    /// need more leaves those frames for later; when none can be picked the worker waits
    /// ([`BpState::Wait`](crate::BpState), counted in `Counters::pool_waits`).
    pub mixed_chunk_blocks: usize,
}

impl<'c> Config<'c> {
    /// A configuration for `ram` with the defaults of `policy` and nothing reserved, extra,
    /// growth or lent; clients limited by their quota and the lent-run table alone.
    pub const fn new(ram: &'c [FrameRun], policy: Policy) -> Config<'c> {
        Config {
            ram,
            reserved: &[],
            extra: &[],
            growth: None,
            lending: None,
            policy,
            batch_extents: MAX_BATCH_EXTENTS,
            max_order: SUPERPAGE_ORDER,
            lowmem_limit: Gfn(1 << 20),
            tunables: Tunables {
                max_schedule_delay_s: 32,
                max_retry_count: 0,
            },
            default_client_quota: u64::MAX,
            max_lent_runs_per_client: usize::MAX,
            pending_timeout_ns: 5_000_000_000,
            populated_form: PopulatedForm::Smaller,
            mixed_chunk_blocks: DEFAULT_MIXED_CHUNK_BLOCKS,
        }
    }

    /// Check everything [`BalloonCore::new`](crate::BalloonCore::new) checks but the storage, and
    /// return the words of storage it needs: manifests are checked with this before anything is
    /// built, and the core refuses the same configurations when it is built.
    pub fn check(&self) -> Result<usize, ConfigError> {
        self.check_with_reserved(self.reserved.iter().copied())
    }

    /// [`Config::check`] with the reserved runs `reserved` in place of `self.reserved`, for a
    /// caller that holds them in another form (a composition's named ranges): the one check,
    /// whatever holds the runs.
    pub fn check_with_reserved(
        &self,
        reserved: impl Iterator<Item = FrameRun> + Clone,
    ) -> Result<usize, ConfigError> {
        if self.batch_extents == 0 || self.batch_extents > MAX_BATCH_EXTENTS {
            return Err(ConfigError::BadBatchSize);
        }
        if self.tunables.max_schedule_delay_s == 0 {
            return Err(ConfigError::BadTunables);
        }
        if self.max_lent_runs_per_client == 0 {
            return Err(ConfigError::NoLentRuns);
        }
        if self.mixed_chunk_blocks == 0 {
            return Err(ConfigError::NoMixedChunkBlocks);
        }
        if let Some(growth) = self.growth {
            let boot_end = self.ram.iter().chain(self.extra).map(FrameRun::end).max();
            if boot_end.is_some_and(|end| growth.start() < end) {
                return Err(ConfigError::GrowthBelowBootMemory);
            }
        }
        self.storage_words_with(reserved)
    }

    /// Whether the worker may use 2 MiB extents.
    pub fn superpages(&self) -> bool {
        self.policy == Policy::Ballast && self.max_order >= SUPERPAGE_ORDER
    }
}

/// Why a configuration was refused. Nothing is built from a refused configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ConfigError {
    /// A range is empty or wraps the frame space.
    EmptyOrWrappingRange = 1,
    /// Two ranges (RAM, extra, growth, lending; or two reserved runs) overlap.
    OverlappingRanges = 2,
    /// A reserved range is not inside one RAM range.
    ReservedOutsideRam = 3,
    /// More RAM, extra, growth and lending ranges than the region table holds.
    TooManyRegions = 4,
    /// The bitmap storage is smaller than [`Config::bitmap_words`] asks for.
    StorageTooSmall = 5,
    /// `batch_extents` is 0 or above [`MAX_BATCH_EXTENTS`].
    BadBatchSize = 6,
    /// `max_schedule_delay_s` is 0.
    BadTunables = 7,
    /// `max_lent_runs_per_client` is 0: no client could borrow.
    NoLentRuns = 8,
    /// The growth range starts below the end of a RAM or extra range: growth is space above
    /// boot memory, given back before it.
    GrowthBelowBootMemory = 9,
    /// `mixed_chunk_blocks` is 0: no batch could leave a chunk mixed.
    NoMixedChunkBlocks = 10,
}

#[cfg(test)]
mod tests {
    use super::{Config, ConfigError, FrameRun, Policy};

    #[test]
    fn every_policy_is_found_by_its_name_and_nothing_else_is() {
        for name in Policy::NAMES {
            assert_eq!(Policy::named(name).map(Policy::name), Some(name));
        }
        assert_eq!(Policy::named("Seed"), None);
        assert_eq!(Policy::named(""), None);
    }

    #[test]
    fn growth_must_lie_above_ram_and_extra() {
        let ram = [FrameRun::span(0, 4096)];
        let extra = [FrameRun::span(8192, 8704)];
        let mut config = Config::new(&ram, Policy::Ballast);
        config.extra = &extra;
        config.growth = Some(FrameRun::span(4096, 4608));
        assert_eq!(config.check(), Err(ConfigError::GrowthBelowBootMemory));
        config.growth = Some(FrameRun::span(8704, 9216));
        assert!(config.check().is_ok());
        config.lending = Some(FrameRun::span(9000, 10000));
        assert_eq!(config.check(), Err(ConfigError::OverlappingRanges));
    }
}
