//! The capacities a target compiles its components with (the const generics of the gateway, the
//! memory server and the runtimes), computed at compile time from the composition it compiles
//! in: the manifest sizes everything, nothing is a number picked by hand. (The `const` loops step
//! their index with `saturating_add`: it stays below a slice's length, so it never saturates.)

use ballast_memory_server_core::MIXED_CHUNK_BLOCK_WORDS;

use crate::{Composition, Kind, RamSource};

/// The most RAM runs an image reads from the boot memory map (E820 or device tree) it is handed.
pub const BOOT_MAP_RAM_RUNS: usize = 16;

/// One of the [`Capacities`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capacity {
    /// [`Capacities::components`].
    Components,
    /// [`Capacities::endpoints`].
    Endpoints,
    /// [`Capacities::regions`].
    Regions,
    /// [`Capacities::region_bytes`].
    RegionBytes,
    /// [`Capacities::clients`].
    Clients,
    /// [`Capacities::lent_runs`].
    LentRuns,
    /// [`Capacities::pending`].
    Pending,
    /// [`Capacities::gateway_callers`].
    GatewayCallers,
    /// [`Capacities::gateway_ranges`].
    GatewayRanges,
    /// [`Capacities::gateway_frames`].
    GatewayFrames,
    /// [`Capacities::ram_runs`].
    RamRuns,
    /// [`Capacities::bitmap_words`].
    BitmapWords,
    /// [`Capacities::gateway_bitmap_words`].
    GatewayBitmapWords,
}

/// Table sizes for one composition, or the largest of several a target may run. Each is computed
/// with saturating arithmetic from the manifest's values: a size past `usize::MAX` reads as more
/// than any target holds, so it is refused, never wrapped to a small one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacities {
    /// Components.
    pub components: usize,
    /// Endpoints.
    pub endpoints: usize,
    /// Shared regions.
    pub regions: usize,
    /// The largest shared region, in bytes.
    pub region_bytes: usize,
    /// Client accounts of the memory server (`memory_server.max_clients`).
    pub clients: usize,
    /// Lent runs the memory server tracks over all clients
    /// (`max_clients * max_lent_runs_per_client`).
    pub lent_runs: usize,
    /// Deferred requests (`memory_server.pending_depth`).
    pub pending: usize,
    /// Callers in the gateway's caller table (components with an endpoint to it).
    pub gateway_callers: usize,
    /// Ranges per gateway caller: RAM runs and boot-extra ranges, each of which a reserved range
    /// may split in two.
    pub gateway_ranges: usize,
    /// Extents one hypercall may carry (`xen.max_frames_per_call`).
    pub gateway_frames: usize,
    /// RAM runs the memory server is given.
    pub ram_runs: usize,
    /// Words of the memory server's storage: the populated bitmap over every managed frame (RAM
    /// up to its ceiling, boot-extra, lending) plus two 2 MiB chunks of alignment slack per
    /// region (reserved runs are not regions), in the smaller of its forms (one bit per frame,
    /// or the chunk summary: two bits per 2 MiB chunk and a pool of blocks, two per region and
    /// per reserved run and the core's default spare ones), one bit per 2 MiB (the clean
    /// chunks), and two words per reserved run (the core's sorted table of them: the
    /// manifest's, and one per RAM run for those an image finds in its boot map).
    pub bitmap_words: usize,
    /// Words of the gateway's page state: one bit per frame the memory server may own (RAM up
    /// to its ceiling, boot-extra, growth; never the lending range).
    pub gateway_bitmap_words: usize,
}

impl Capacities {
    /// The capacities `composition` needs.
    pub const fn of(composition: &Composition) -> Capacities {
        let memory = &composition.memory;
        let ram_runs = match memory.ram_source {
            RamSource::Manifest => memory.ram.len(),
            RamSource::BootMap => BOOT_MAP_RAM_RUNS,
        };
        let server = &composition.server;
        Capacities {
            components: composition.components.len(),
            endpoints: composition.endpoints.len(),
            regions: composition.regions.len(),
            region_bytes: largest_region(composition),
            clients: server.max_clients as usize,
            lent_runs: (server.max_clients as usize)
                .saturating_mul(server.max_lent_runs_per_client as usize),
            pending: server.pending_depth as usize,
            gateway_callers: gateway_callers(composition),
            gateway_ranges: ram_runs
                .saturating_add(memory.boot_extra.len())
                .saturating_add(growth_runs(memory))
                .saturating_add(memory.reserved.len()),
            gateway_frames: composition.xen.max_frames_per_call as usize,
            ram_runs,
            bitmap_words: bitmap_words(composition, ram_runs),
            gateway_bitmap_words: gateway_bitmap_words(composition),
        }
    }

    /// Each capacity the larger of the two: a target that runs either composition.
    pub const fn max(self, other: Capacities) -> Capacities {
        Capacities {
            components: larger(self.components, other.components),
            endpoints: larger(self.endpoints, other.endpoints),
            regions: larger(self.regions, other.regions),
            region_bytes: larger(self.region_bytes, other.region_bytes),
            clients: larger(self.clients, other.clients),
            lent_runs: larger(self.lent_runs, other.lent_runs),
            pending: larger(self.pending, other.pending),
            gateway_callers: larger(self.gateway_callers, other.gateway_callers),
            gateway_ranges: larger(self.gateway_ranges, other.gateway_ranges),
            gateway_frames: larger(self.gateway_frames, other.gateway_frames),
            ram_runs: larger(self.ram_runs, other.ram_runs),
            bitmap_words: larger(self.bitmap_words, other.bitmap_words),
            gateway_bitmap_words: larger(self.gateway_bitmap_words, other.gateway_bitmap_words),
        }
    }

    /// Each capacity, with its value here and in `other`.
    pub const fn pairs(&self, other: &Capacities) -> [(Capacity, usize, usize); 13] {
        [
            (Capacity::Components, self.components, other.components),
            (Capacity::Endpoints, self.endpoints, other.endpoints),
            (Capacity::Regions, self.regions, other.regions),
            (Capacity::RegionBytes, self.region_bytes, other.region_bytes),
            (Capacity::Clients, self.clients, other.clients),
            (Capacity::LentRuns, self.lent_runs, other.lent_runs),
            (Capacity::Pending, self.pending, other.pending),
            (
                Capacity::GatewayCallers,
                self.gateway_callers,
                other.gateway_callers,
            ),
            (
                Capacity::GatewayRanges,
                self.gateway_ranges,
                other.gateway_ranges,
            ),
            (
                Capacity::GatewayFrames,
                self.gateway_frames,
                other.gateway_frames,
            ),
            (Capacity::RamRuns, self.ram_runs, other.ram_runs),
            (Capacity::BitmapWords, self.bitmap_words, other.bitmap_words),
            (
                Capacity::GatewayBitmapWords,
                self.gateway_bitmap_words,
                other.gateway_bitmap_words,
            ),
        ]
    }

    /// Whether a target compiled with these capacities can run `composition`.
    pub const fn holds(&self, composition: &Composition) -> bool {
        let pairs = Capacities::of(composition).pairs(self);
        let mut at = 0;
        while at < pairs.len() {
            let (_, needed, held) = pairs[at];
            if needed > held {
                return false;
            }
            at = at.saturating_add(1);
        }
        true
    }

    /// What `composition` needs beyond these capacities: each capacity short, with what it needs
    /// and what these hold. Empty exactly when [`Capacities::holds`].
    pub fn shortfalls(
        &self,
        composition: &Composition,
    ) -> impl Iterator<Item = (Capacity, usize, usize)> {
        Capacities::of(composition)
            .pairs(self)
            .into_iter()
            .filter(|(_, needed, held)| needed > held)
    }
}

const fn larger(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

const fn largest_region(composition: &Composition) -> usize {
    let mut largest = 0;
    let mut at = 0;
    while at < composition.regions.len() {
        largest = larger(largest, composition.regions[at].size as usize);
        at = at.saturating_add(1);
    }
    largest
}

/// Components holding an endpoint to the (first) gateway; at least one, so a table exists.
const fn gateway_callers(composition: &Composition) -> usize {
    let mut gateway = None;
    let mut at = 0;
    while at < composition.components.len() {
        if matches!(composition.components[at].kind, Kind::HypercallGateway) {
            gateway = Some(composition.components[at].id);
            break;
        }
        at = at.saturating_add(1);
    }
    let Some(gateway) = gateway else {
        return 1;
    };
    let mut callers: usize = 0;
    let mut at = 0;
    while at < composition.endpoints.len() {
        if composition.endpoints[at].server == gateway {
            callers = callers.saturating_add(1);
        }
        at = at.saturating_add(1);
    }
    larger(callers, 1)
}

/// Frames in 2 MiB: the alignment unit of the bitmap's regions.
const CHUNK_FRAMES: u64 = 512;

/// The growth range's runs: one or none.
const fn growth_runs(memory: &crate::MemoryLayout) -> usize {
    match memory.growth {
        Some(_) => 1,
        None => 0,
    }
}

const fn frames_of(runs: &[crate::FrameRun]) -> u64 {
    let mut frames: u64 = 0;
    let mut at = 0;
    while at < runs.len() {
        frames = frames.saturating_add(runs[at].frames);
        at = at.saturating_add(1);
    }
    frames
}

const fn gateway_bitmap_words(composition: &Composition) -> usize {
    let memory = &composition.memory;
    let ram_frames = match (memory.ram_source, memory.ram_ceiling) {
        (RamSource::BootMap, Some(ceiling)) => ceiling,
        _ => frames_of(memory.ram),
    };
    let growth_frames = match memory.growth {
        Some(growth) => growth.frames,
        None => 0,
    };
    let words = ram_frames
        .saturating_add(frames_of(memory.boot_extra))
        .saturating_add(growth_frames)
        .div_ceil(64);
    if words > usize::MAX as u64 {
        usize::MAX
    } else {
        words as usize
    }
}

const fn bitmap_words(composition: &Composition, ram_runs: usize) -> usize {
    let memory = &composition.memory;
    let ram_frames = match (memory.ram_source, memory.ram_ceiling) {
        (RamSource::BootMap, Some(ceiling)) => ceiling,
        _ => frames_of(memory.ram),
    };
    let regions = ram_runs
        .saturating_add(memory.boot_extra.len())
        .saturating_add(growth_runs(memory))
        .saturating_add(1);
    // The manifest's reserved runs, or those an image finds in its boot map (its table holds
    // `ram_runs` of them): either way no more than both together.
    let reserved_runs = memory.reserved.len().saturating_add(ram_runs) as u64;
    let growth_frames = match memory.growth {
        Some(growth) => growth.frames,
        None => 0,
    };
    let frames = ram_frames
        .saturating_add(frames_of(memory.boot_extra))
        .saturating_add(growth_frames)
        .saturating_add(memory.unpopulated.frames)
        .saturating_add((regions as u64).saturating_mul(2 * CHUNK_FRAMES));
    let chunks = frames.div_ceil(CHUNK_FRAMES);
    // The populated bitmap in the smaller of its forms (the core picks the smaller for the
    // layout it is given, which is no larger than this one): one bit per frame, or the chunk
    // summary's two bits per chunk and a pool of blocks, one for each end of each region and
    // reserved run (the chunks the core pins) and the spare ones.
    let direct = frames.div_ceil(64);
    let pinned = (regions as u64)
        .saturating_add(reserved_runs)
        .saturating_mul(2);
    let blocks = pinned.saturating_add(composition.server.mixed_chunk_blocks as u64);
    let summary = chunks
        .div_ceil(32)
        .saturating_add(blocks.saturating_mul(MIXED_CHUNK_BLOCK_WORDS as u64));
    let populated = if summary < direct { summary } else { direct };
    // Then the clean chunks, one bit per chunk, then the reserved runs, two words each.
    let words = populated
        .saturating_add(chunks.div_ceil(64))
        .saturating_add(reserved_runs.saturating_mul(2));
    // On a 32-bit host a count past `usize::MAX` words saturates too.
    if words > usize::MAX as u64 {
        usize::MAX
    } else {
        words as usize
    }
}
