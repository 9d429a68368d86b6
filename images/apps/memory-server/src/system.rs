//! The components of the image's manifest as the apps build them, through the one assembly
//! (`ballast_system`): the hypercall gateway over the real backend, owning the RAM the memory
//! server manages (the free RAM the image found and the manifest's boot-extra and growth ranges,
//! less its reserved ranges: [`server_runs`], which the image's frame access covers), and the
//! memory server over the boot map's RAM, its lending range and the manifest's sizing, both on
//! the static IPC runtime. Every capacity comes from the composition.

use core::cell::Cell;

use ballast_frame_access::FrameMemory;
use ballast_hypercall::{Counters, Gateway};
use ballast_interfaces::hypercall::HypercallOp;
use ballast_ipc::static_rt::{self, StaticError, StaticRuntime};
use ballast_ipc::{Badge, ComponentId, Handler, IncomingCall, NotificationBits, Sys, Tables};
use ballast_memory_server::MemoryServer;
use ballast_memory_server_core::FrameScrubber;
use ballast_system::memory::{ServerParts, ServerRam};
use ballast_system::{AssemblyError, Kind, ManifestPermissions};
use ballast_xen::backend::{RawHypercall, XenHypercalls};
use ballast_xen::{FrameRun, Gfn};

use crate::composition::{self, CAPACITY, COMPOSITION, REGION_BYTES, REGION_COUNT, TABLES};

/// Words of the memory server's bitmap storage.
const STORAGE_WORDS: usize = CAPACITY.bitmap_words;
/// Words of the gateway's page state, one bit per frame the memory server may own.
pub const GATEWAY_STORAGE_WORDS: usize = CAPACITY.gateway_bitmap_words;
/// Calls delivered and not yet answered, nested or deferred.
pub const CALLS: usize = 8;
/// RAM runs (and reserved runs) the memory server is given.
const RAM_RUNS: usize = CAPACITY.ram_runs;

/// The guest's RAM as the memory server models it: every RAM run of the boot map (below the
/// ceiling), and within it, reserved (in use by others: firmware, the image, its stack, Xen's boot
/// data) everything but the free RAM it manages.
#[derive(Debug, Default)]
struct BootRam {
    /// RAM runs.
    ram: heapless::Vec<FrameRun, RAM_RUNS>,
    /// The parts of them the server must never balloon.
    reserved: heapless::Vec<FrameRun, RAM_RUNS>,
}

impl BootRam {
    /// The runs as the assembly takes them.
    fn runs(&self) -> ServerRam<'_> {
        ServerRam {
            ram: &self.ram,
            reserved: &self.reserved,
        }
    }
}

/// The server's RAM from the boot map's RAM regions (byte ranges) and the RAM it manages.
fn server_ram(ram_regions: impl Iterator<Item = (u64, u64)>, free: FrameRun) -> Option<BootRam> {
    let page = 4096;
    let free_end = free.end();
    let mut server = BootRam::default();
    for (start, end) in ram_regions {
        let (first, last) = (start.div_ceil(page), end / page);
        if last <= first {
            continue;
        }
        server.ram.push(FrameRun::span(first, last)).ok()?;
        let below = (first, last.min(free.start()));
        let above = (first.max(free_end), last);
        for (from, to) in [below, above] {
            if from < to {
                server.reserved.push(FrameRun::span(from, to)).ok()?;
            }
        }
    }
    Some(server)
}

/// The gateway the image hosts, over the image's hypercall instruction `R`, its page state in
/// storage of lifetime `'s`.
pub type ImageGateway<'s, R> = Gateway<
    &'s mut [u64],
    XenHypercalls<R>,
    { CAPACITY.gateway_callers },
    { CAPACITY.gateway_ranges },
    { CAPACITY.gateway_frames },
>;
/// The memory server the image hosts, its bitmap in storage of lifetime `'a`, scrubbing through
/// `S`.
type ImageMemory<'a, S> = MemoryServer<
    &'a mut [u64],
    S,
    ManifestPermissions,
    { CAPACITY.lent_runs },
    { CAPACITY.clients },
    { CAPACITY.pending },
>;
/// The static runtime the image runs the composition on.
pub type Runtime<'h, 'r, C> =
    StaticRuntime<'r, 'h, 'r, C, { CAPACITY.components }, { CAPACITY.regions }, CALLS>;

/// Why a component could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum SetupError {
    /// The composition lacks a component, endpoint or region the image wires.
    Wiring = 1,
    /// The gateway refused its caller table (the code is the `CallerTableError`).
    GatewayCallerTable,
    /// The memory server refused its configuration.
    MemoryConfig,
    /// The manifest's sizing exceeds the image's capacities.
    Capacity,
}

impl From<AssemblyError> for SetupError {
    fn from(error: AssemblyError) -> SetupError {
        defmt::error!("assembly refused: {=str}", error.describe());
        match error {
            AssemblyError::Gateway(_) => SetupError::GatewayCallerTable,
            AssemblyError::Memory(_)
            | AssemblyError::OrderTooLarge
            | AssemblyError::GrowthUnreachable => SetupError::MemoryConfig,
            AssemblyError::Capacity => SetupError::Capacity,
            AssemblyError::MissingComponent
            | AssemblyError::MissingEndpoint
            | AssemblyError::MissingRegion => SetupError::Wiring,
        }
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

/// The RAM the memory server manages (and the gateway lets it release): `free`, the largest free
/// run of RAM the image found, less the manifest's reserved ranges, cut to whole 2 MiB chunks;
/// provided the boot map's RAM (whose regions end at `ram_ends`, byte addresses) ends at or below
/// the manifest's `ram_ceiling`. Logged for the host.
pub fn managed_ram(
    free: FrameRun,
    ram_ends: impl Iterator<Item = u64>,
) -> Result<FrameRun, LayoutError> {
    if !ram_below_ceiling(ram_ends) {
        return Err(LayoutError::RamPastCeiling);
    }
    let managed = without_reserved(free).ok_or(LayoutError::AllFreeRamReserved)?;
    defmt::info!(
        "managed_ram first={=u64:#x} frames={=u64}",
        managed.start(),
        managed.frames
    );
    Ok(managed)
}

/// Whether every RAM region of the boot map ends at or below the manifest's `ram_ceiling`
/// (which keeps RAM clear of the lending range).
fn ram_below_ceiling(mut ram_ends: impl Iterator<Item = u64>) -> bool {
    let page = 4096;
    COMPOSITION
        .memory
        .ram_ceiling
        .is_none_or(|ceiling| ram_ends.all(|end| end.div_ceil(page) <= ceiling))
}

/// `free` less the manifest's reserved ranges, cut to whole 2 MiB chunks.
fn without_reserved(free: FrameRun) -> Option<FrameRun> {
    let superpage = ballast_xen::SUPERPAGE_ORDER.frames();
    let start = (COMPOSITION.memory.reserved.iter())
        .map(|reserved| reserved.run)
        .filter(|run| run.overlaps(&free))
        .map(|run| run.end())
        .fold(free.start(), u64::max)
        .div_ceil(superpage)
        * superpage;
    let end = free.end();
    (start < end).then(|| FrameRun::new(Gfn(start), (end - start) / superpage * superpage))
}

/// Runs the memory server owns: at most as many as the gateway's ranges.
pub const SERVER_RUNS: usize = CAPACITY.gateway_ranges;

/// Every frame the memory server owns, which the image's frame access must reach (the server
/// scrubs each before it goes back to Xen): `managed` and the manifest's boot-extra and growth
/// ranges, less its reserved ranges, as the gateway lets the server release and populate them.
pub fn server_runs(managed: FrameRun) -> Result<heapless::Vec<FrameRun, SERVER_RUNS>, SetupError> {
    ballast_system::gateway::memory_server_runs(&COMPOSITION, &[managed]).map_err(SetupError::from)
}

/// The gateway over `hypercall`, its memory-server caller owning `owned` (and the boot-extra
/// ranges) less the manifest's reserved ranges, of which `populated` is what Xen holds populated
/// now; its page state in `bitmap` ([`GATEWAY_STORAGE_WORDS`] words).
pub fn gateway<'s, R: RawHypercall>(
    hypercall: R,
    (owned, populated): (&[FrameRun], &[FrameRun]),
    bitmap: &'s mut [u64],
) -> Result<ImageGateway<'s, R>, SetupError> {
    ballast_system::gateway::gateway(
        &COMPOSITION,
        XenHypercalls::new(hypercall),
        (owned, populated),
        bitmap,
    )
    .map_err(SetupError::from)
}

/// The memory server of the manifest over `ram`, its bitmap in `storage`, its dispatch
/// permissions `permissions`, scrubbing through `scrubber`.
fn memory_server<'a, S: FrameScrubber>(
    ram: &BootRam,
    (storage, permissions): (&'a mut [u64], ManifestPermissions),
    scrubber: S,
) -> Result<ImageMemory<'a, S>, SetupError> {
    let config = ballast_system::memory::config(&COMPOSITION, ram.runs(), None)?;
    let parts = ServerParts {
        storage,
        accounts: ballast_system::memory::client_accounts(&COMPOSITION)?,
        permissions,
    };
    Ok(ballast_system::memory::memory_server(
        &COMPOSITION,
        &config,
        parts,
        scrubber,
    )?)
}

/// The memory server scrubs through the image's checked frame access: a frame outside the RAM it
/// manages is not written, and the attempt is logged and counted (the server's frames all lie
/// inside it, so any count means a frame went back to Xen unscrubbed).
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
        if let Err(error) = self.memory.fill(FrameRun::new(first, frames), 0) {
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

/// Region memory and the scratch buffer of one runtime.
#[derive(Debug)]
pub struct RegionMemory {
    regions: [[u8; REGION_BYTES]; REGION_COUNT],
    scratch: [u8; REGION_BYTES],
}

impl RegionMemory {
    /// Zeroed memory for every region of the composition.
    pub fn new() -> RegionMemory {
        RegionMemory {
            regions: [[0; REGION_BYTES]; REGION_COUNT],
            scratch: [0; REGION_BYTES],
        }
    }
}

impl Default for RegionMemory {
    fn default() -> RegionMemory {
        RegionMemory::new()
    }
}

/// The static runtime over `tables` (the composition's, or a phase's variant of them) with
/// `handlers`, its regions in `memory`.
pub fn runtime<'h, 'r, K: static_rt::Clock>(
    tables: Tables<'r>,
    clock: K,
    handlers: impl IntoIterator<Item = (ComponentId, &'h mut (dyn Handler + 'h))>,
    memory: &'r mut RegionMemory,
) -> Result<Runtime<'h, 'r, K>, SetupError> {
    let regions = tables
        .regions
        .iter()
        .zip(memory.regions.iter_mut())
        .filter_map(|(spec, bytes)| Some((spec.id, bytes.get_mut(..spec.size as usize)?)));
    StaticRuntime::new(tables, clock, handlers, regions, &mut memory.scratch).map_err(
        |error: StaticError| {
            defmt::error!(
                "the static runtime refused the composition: {=u16}",
                error as u16
            );
            SetupError::Wiring
        },
    )
}

/// Log the gateway's counters after `phase` (a `gateway` line the host checks).
pub fn log_gateway<R: RawHypercall>(phase: &str, gateway: &ImageGateway<'_, R>) {
    let total = gateway.counters().total();
    defmt::info!(
        "gateway phase={=str} calls={=u64} hypercalls={=u64} rejections={=u64} protocol_rejections={=u64}",
        phase,
        total.calls,
        total.hypercalls,
        total.rejections.total(),
        gateway.counters().protocol_rejections()
    );
}

/// The gateway's grant counters, as the app reads them while the runtime holds the gateway.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantFigures {
    /// `grant_map`'s counters.
    pub map: Counters,
    /// `grant_unmap`'s counters.
    pub unmap: Counters,
}

/// The gateway on the runtime, publishing its grant counters after every call it serves and
/// every client death it handles (so the app can log the gateway's own figures for a phase).
struct PublishingGateway<'g, 's, 'c, R: RawHypercall> {
    gateway: &'g mut ImageGateway<'s, R>,
    figures: &'c Cell<GrantFigures>,
}

impl<R: RawHypercall> PublishingGateway<'_, '_, '_, R> {
    fn publish(&self) {
        let counters = self.gateway.counters();
        self.figures.set(GrantFigures {
            map: *counters.op(HypercallOp::GrantMap),
            unmap: *counters.op(HypercallOp::GrantUnmap),
        });
    }
}

impl<R: RawHypercall> Handler for PublishingGateway<'_, '_, '_, R> {
    fn protected(&mut self, sys: &mut dyn Sys, call: IncomingCall<'_>) {
        self.gateway.protected(sys, call);
        self.publish();
    }

    fn notified(&mut self, sys: &mut dyn Sys, bits: NotificationBits) {
        self.gateway.notified(sys, bits);
    }

    fn client_died(&mut self, sys: &mut dyn Sys, badge: Badge) {
        self.gateway.client_died(sys, badge);
        self.publish();
    }
}

/// What the composition's components run over: the image's hypercall instruction, the RAM the
/// memory server manages ([`managed_ram`]) and the boot map's RAM regions (byte ranges).
#[derive(Debug)]
pub struct Host<R, I> {
    /// The hypercall instruction, the gateway's backend.
    pub hypercall: R,
    /// The RAM the memory server manages.
    pub managed: FrameRun,
    /// The boot map's RAM regions, byte ranges.
    pub ram_regions: I,
    /// The event channel the control agent may send on through the gateway (a domU's xenstore
    /// channel, when the control agent is its toolstack agent).
    pub agent_event_port: Option<u32>,
}

/// Build the gateway and the memory server of the composition (logging each component of it),
/// put them on the static runtime with `clock`, and hand the runtime to `drive`, which plays the
/// composition's external components, with the gateway's grant counters as it publishes them;
/// the gateway's counters are logged as `phase` afterwards.
pub fn run_components<R, I, S, K, T>(
    phase: &str,
    host: Host<R, I>,
    scrubber: S,
    clock: K,
    drive: impl FnOnce(&mut Runtime<'_, '_, K>, &Cell<GrantFigures>) -> T,
) -> Result<T, SetupError>
where
    R: RawHypercall,
    I: Iterator<Item = (u64, u64)>,
    S: FrameScrubber,
    K: static_rt::Clock,
{
    for component in COMPOSITION.components {
        defmt::info!(
            "component id={=u16} name={=str} kind={=str}",
            component.id,
            component.name,
            component.kind.as_str()
        );
    }
    let memory = composition::component(Kind::MemoryServer)?;
    let gateway_id = composition::component(Kind::HypercallGateway)?;
    let mut gateway_bitmap = [0u64; GATEWAY_STORAGE_WORDS];
    let managed = [host.managed];
    let mut gateway = gateway(host.hypercall, (&managed, &managed), &mut gateway_bitmap)?;
    if let Some(port) = host.agent_event_port {
        let control = composition::component(Kind::ControlAgent)?;
        let (_, badge) = composition::endpoint(control, gateway_id)?;
        if gateway.allow_event_port(badge, port).is_err() {
            defmt::error!(
                "the gateway cannot let the control agent send on port {=u32}",
                port
            );
            return Err(SetupError::Wiring);
        }
    }
    let ram = server_ram(host.ram_regions, host.managed).ok_or(SetupError::Capacity)?;
    let mut storage = [0u64; STORAGE_WORDS];
    let permissions = ManifestPermissions::new(&COMPOSITION, memory.0);
    let mut server = memory_server(&ram, (&mut storage, permissions), scrubber)?;
    let mut region_memory = RegionMemory::new();
    let figures = Cell::new(GrantFigures::default());
    let driven = {
        let mut publishing = PublishingGateway {
            gateway: &mut gateway,
            figures: &figures,
        };
        let handlers: [(ComponentId, &mut dyn Handler); 2] =
            [(gateway_id, &mut publishing), (memory, &mut server)];
        let mut rt = runtime(TABLES, clock, handlers, &mut region_memory)?;
        drive(&mut rt, &figures)
    };
    log_gateway(phase, &gateway);
    Ok(driven)
}
