//! The components of the image's manifest as the image builds them: the hypercall gateway
//! over the real backend with the policy the manifest grants (owned ranges: the free RAM the image
//! found, less the manifest's reserved ranges), and the memory server over that RAM, its lending
//! range and the manifest's sizing. Capacities are fixed here; the manifest's numbers must fit.

use core::cell::Cell;

use ballast_hypercall::{ranges_without, CallerGrant, Gateway, GfnRange, Limits, Policy};
use ballast_interfaces::hypercall;
use ballast_ipc::static_rt::StaticRuntime;
use ballast_ipc::{Badge, ComponentId};
use ballast_memory_server::{ClientBinding, MemoryServer, Wiring};
use ballast_memory_server_core::{
    BalloonCore, ClientId, Config, FrameRun, FrameScrubber, Policy as BalloonPolicy, Tunables,
};
use ballast_xen::backend::{RawHypercall, XenHypercalls};
use ballast_xen::{ExtentOrder, Gfn};

use crate::composition::{
    self, ManifestPermissions, Role, ServerPolicy, BOOT_EXTRA, COMPONENT_COUNT, GRANTS,
    RAM_CEILING, REGION_COUNT, RESERVED, SERVER, UNPOPULATED, XEN,
};
use crate::scenario::{FrameMemory, FrameRange, Layout};

/// Callers the gateway's table holds.
pub const GATEWAY_CALLERS: usize = 4;
/// Owned ranges per caller.
pub const GATEWAY_RANGES: usize = 8;
/// Extents per call the gateway can check.
pub const GATEWAY_FRAMES: usize = 512;
/// Lent runs the memory server tracks, over all clients.
pub const LENT_RUNS: usize = 256;
/// Client accounts.
pub const CLIENTS: usize = 4;
/// Deferred requests.
pub const PENDING: usize = 8;
/// Words of the memory server's bitmap storage (1 MiB of frames per 256 words).
pub const STORAGE_WORDS: usize = 16 * 1024;
/// Calls delivered and not yet answered, nested or deferred.
pub const CALLS: usize = 8;
/// RAM runs (and reserved runs) the memory server is given.
pub const RAM_RUNS: usize = 16;

/// The guest's RAM as the memory server models it: every RAM run of the boot map (below the
/// ceiling), and within it, reserved (in use by others: firmware, the image, its stack, Xen's boot
/// data) everything but the free RAM it manages.
#[derive(Debug, Default)]
pub struct ServerRam {
    /// RAM runs.
    pub ram: heapless::Vec<FrameRun, RAM_RUNS>,
    /// The parts of them the server must never balloon.
    pub reserved: heapless::Vec<FrameRun, RAM_RUNS>,
}

/// The server's RAM from the boot map's RAM regions (byte ranges) and the free RAM `free`.
pub fn server_ram(
    ram_regions: impl Iterator<Item = (u64, u64)>,
    free: FrameRange,
) -> Option<ServerRam> {
    let page = 4096;
    let free_end = free.first + free.frames;
    let mut server = ServerRam::default();
    for (start, end) in ram_regions {
        let (first, last) = (start.div_ceil(page), end / page);
        if last <= first {
            continue;
        }
        server.ram.push(FrameRun::span(first, last)).ok()?;
        let below = (first, last.min(free.first));
        let above = (first.max(free_end), last);
        for (from, to) in [below, above] {
            if from < to {
                server.reserved.push(FrameRun::span(from, to)).ok()?;
            }
        }
    }
    Some(server)
}

/// The gateway the image hosts, over the image's hypercall instruction `R`.
pub type ImageGateway<R> =
    Gateway<XenHypercalls<R>, GATEWAY_CALLERS, GATEWAY_RANGES, GATEWAY_FRAMES>;
/// The memory server the image hosts, scrubbing through `S`.
pub type ImageMemory<'a, S> = MemoryServer<'a, S, ManifestPermissions, LENT_RUNS, CLIENTS, PENDING>;
/// The static runtime the image runs the composition on.
pub type Runtime<'h, 'r, C> = StaticRuntime<'r, 'h, 'r, C, COMPONENT_COUNT, REGION_COUNT, CALLS>;

/// Why a component could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum SetupError {
    /// The composition lacks a component, endpoint or region the image wires.
    Wiring = 1,
    /// The gateway refused its policy (the code is the `PolicyError`).
    GatewayPolicy,
    /// The memory server refused its configuration.
    MemoryConfig,
    /// The manifest's sizing exceeds the image's capacities.
    Capacity,
}

impl From<composition::WiringError> for SetupError {
    fn from(_: composition::WiringError) -> SetupError {
        SetupError::Wiring
    }
}

/// Why the layout the image found does not fit its manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum LayoutError {
    /// RAM of the boot map reaches past the manifest's `ram_ceiling` (into the lending range).
    RamPastCeiling = 1,
    /// The manifest's reserved ranges cover all the free RAM the image found.
    AllFreeRamReserved,
}

/// `layout` as the manifest allows it: RAM (whose regions end at `ram_ends`, byte addresses)
/// must end at or below the manifest's `ram_ceiling`, and the free RAM loses the manifest's
/// reserved ranges and is cut to whole 2 MiB chunks. Logs the layout for the host.
pub fn fit_layout(
    mut layout: Layout,
    ram_ends: impl Iterator<Item = u64>,
) -> Result<Layout, LayoutError> {
    if !ram_below_ceiling(ram_ends) {
        return Err(LayoutError::RamPastCeiling);
    }
    layout.free = managed_ram(layout.free).ok_or(LayoutError::AllFreeRamReserved)?;
    defmt::info!(
        "layout free_first={=u64:#x} free_frames={=u64} hole_first={=u64:#x} hole_frames={=u64}",
        layout.free.first,
        layout.free.frames,
        layout.hole.first,
        layout.hole.frames
    );
    Ok(layout)
}

/// Whether every RAM region of the boot map ends at or below the manifest's `ram_ceiling`
/// (which keeps RAM clear of the lending range).
fn ram_below_ceiling(mut ram_ends: impl Iterator<Item = u64>) -> bool {
    let page = 4096;
    RAM_CEILING.is_none_or(|ceiling| ram_ends.all(|end| end.div_ceil(page) <= ceiling))
}

/// `range` as a gateway range.
fn gfn_range(first: u64, frames: u64) -> Option<GfnRange> {
    GfnRange::new(Gfn(first), frames)
}

/// The manifest's reserved ranges.
fn reserved() -> heapless::Vec<GfnRange, GATEWAY_RANGES> {
    RESERVED
        .iter()
        .filter_map(|&(start, end)| gfn_range(start, end.saturating_sub(start)))
        .collect()
}

/// `free` less the manifest's reserved ranges, cut to whole 2 MiB chunks: the RAM the memory
/// server (or the scenario standing in for it) owns.
fn managed_ram(free: FrameRange) -> Option<FrameRange> {
    let superpage = ballast_xen::SUPERPAGE_ORDER.frames();
    let start = RESERVED
        .iter()
        .filter(|&&(start, end)| start < free.first + free.frames && free.first < end)
        .map(|&(_, end)| end)
        .fold(free.first, u64::max)
        .div_ceil(superpage)
        * superpage;
    let end = free.first + free.frames;
    (start < end).then(|| FrameRange {
        first: start,
        frames: (end - start) / superpage * superpage,
    })
}

/// The gateway over `hypercall`, whose one caller `client` may call what its grants name on
/// `owned`.
pub fn gateway<R: RawHypercall>(
    hypercall: R,
    gateway: ComponentId,
    client: Badge,
    owned: &[FrameRange],
) -> Result<ImageGateway<R>, SetupError> {
    // The caller's permission is the set of `Hypercall` op ids its grant names.
    let granted: &[u16] = GRANTS
        .iter()
        .find(|g| {
            g.server == gateway.0 && g.badge == client.0 && g.interface == hypercall::INTERFACE_ID
        })
        .map_or(&[], |g| g.ops);
    let boot_extra = BOOT_EXTRA
        .iter()
        .filter_map(|&(start, end)| gfn_range(start, end.saturating_sub(start)));
    let owned: heapless::Vec<GfnRange, GATEWAY_RANGES> = owned
        .iter()
        .filter_map(|range| gfn_range(range.first, range.frames))
        .chain(boot_extra)
        .collect();
    let reserved = reserved();
    let ranges = ranges_without::<GATEWAY_RANGES>(&owned, &reserved).map_err(|error| {
        defmt::error!("gateway ranges refused: {=u8}", error as u8);
        SetupError::GatewayPolicy
    })?;
    let limits = Limits {
        max_order: XEN.max_extent_order,
        max_frames_per_call: XEN.max_frames_per_call as usize,
        own_domid: None,
    };
    let grant = CallerGrant {
        badge: client,
        ops: granted,
        ranges: &ranges,
    };
    let policy = Policy::new(limits, &[grant], &reserved).map_err(|error| {
        defmt::error!("gateway policy refused: {=u8}", error as u8);
        SetupError::GatewayPolicy
    })?;
    Gateway::new(XenHypercalls::new(hypercall), policy).map_err(|error| {
        defmt::error!("gateway refused its capacity: {=u8}", error as u8);
        SetupError::GatewayPolicy
    })
}

/// What the memory server is built from, besides its RAM.
#[derive(Debug)]
pub struct MemoryParts<'a> {
    /// The bitmap storage.
    pub storage: &'a mut [u64],
    /// Client bindings, filled by [`memory_server`].
    pub bindings: &'a mut heapless::Vec<ClientBinding, CLIENTS>,
    /// The dispatch permissions of the memory server.
    pub permissions: &'a ManifestPermissions,
}

/// The memory server of the manifest over `ram`, scrubbing through `scrubber`.
pub fn memory_server<'a, S: FrameScrubber>(
    ram: &'a ServerRam,
    parts: MemoryParts<'a>,
    scrubber: S,
) -> Result<ImageMemory<'a, S>, SetupError> {
    let memory = composition::component(Role::MemoryServer)?;
    let gateway = composition::component(Role::HypercallGateway)?;
    if usize::from(SERVER.pending_depth) > PENDING
        || usize::from(SERVER.max_clients) > CLIENTS
        || usize::from(SERVER.max_clients) * usize::from(SERVER.max_lent_runs_per_client)
            > LENT_RUNS
    {
        return Err(SetupError::Capacity);
    }
    let max_order = ExtentOrder::new(XEN.max_extent_order).ok_or(SetupError::MemoryConfig)?;
    let extra: heapless::Vec<FrameRun, 8> = BOOT_EXTRA
        .iter()
        .map(|&(start, end)| FrameRun::span(start, end))
        .collect();
    let config = Config {
        ram: &ram.ram,
        reserved: &ram.reserved,
        extra: &extra,
        lending: Some(FrameRun::span(UNPOPULATED.0, UNPOPULATED.1)),
        policy: match SERVER.policy {
            ServerPolicy::Ballast => BalloonPolicy::Ballast,
            ServerPolicy::Seed => BalloonPolicy::Seed,
        },
        batch_extents: SERVER.batch_size as usize,
        max_order,
        lowmem_limit: Gfn(1 << 20),
        tunables: Tunables {
            max_schedule_delay_s: SERVER.max_schedule_delay_s,
            max_retry_count: SERVER.max_retry_count,
        },
        default_client_quota: 0,
        pending_timeout_ns: u64::from(SERVER.pending_timeout_ms) * 1_000_000,
    };
    let MemoryParts {
        storage,
        bindings,
        permissions,
    } = parts;
    let core = BalloonCore::new(&config, storage).map_err(|error| {
        defmt::error!("memory server configuration refused: {=u8}", error as u8);
        SetupError::MemoryConfig
    })?;
    let clients = composition::COMPONENTS
        .iter()
        .enumerate()
        .filter(|(_, c)| c.role == Role::DriverClient);
    for (index, (id, client)) in clients.enumerate() {
        let (_, badge) = composition::endpoint(ComponentId(id as u16), memory)?;
        let binding = ClientBinding {
            badge,
            client: ClientId(index as u16),
            quota: client.max_lent_frames,
        };
        bindings.push(binding).map_err(|_| SetupError::Capacity)?;
    }
    let bindings: &'a heapless::Vec<ClientBinding, CLIENTS> = bindings;
    let wiring = Wiring {
        gateway: composition::endpoint(memory, gateway)?.0,
        frame_list: composition::region(memory, gateway)?,
        clients: bindings,
    };
    Ok(MemoryServer::new(core, wiring, scrubber, permissions))
}

/// The memory server scrubs through the image's checked frame access: a frame outside the
/// scenario's RAM is not written, and the attempt is logged and counted (the server's frames all
/// lie inside it, so any count fails the run: the frame went back to Xen unscrubbed).
#[derive(Debug)]
pub struct Scrubber<'r, M: FrameMemory> {
    memory: M,
    refused: &'r Cell<u32>,
}

impl<'r, M: FrameMemory> Scrubber<'r, M> {
    /// Scrub through `memory`, counting refusals in `refused`.
    pub fn new(memory: M, refused: &'r Cell<u32>) -> Scrubber<'r, M> {
        Scrubber { memory, refused }
    }
}

impl<M: FrameMemory> FrameScrubber for Scrubber<'_, M> {
    fn scrub(&mut self, first: Gfn, frames: u64) {
        let range = FrameRange {
            first: first.0,
            frames,
        };
        if let Err(error) = self.memory.fill(range, 0) {
            self.refused.set(self.refused.get().saturating_add(1));
            defmt::error!(
                "scrub refused first={=u64:#x} frames={=u64}: {}",
                first.0,
                frames,
                error
            );
        }
    }
}
