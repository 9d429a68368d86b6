//! The two phases a run can have, each on its own static runtime over the composition of the
//! image's manifest:
//!
//! - Xen facts (`balloon`, `smoke`): the scenario stands in for the memory server (its badge,
//!   its frame-list region) and calls the real gateway through the generated `Hypercall` stubs,
//!   the gateway's checks active, owning the free RAM the image found and the hole it populates
//!   past the maximum. This phase shows what only direct frame access can: ballooned frames read
//!   as all ones, scrubbing, the short count past the maximum, raw timings.
//! - Components (`balloon`, `components`): the gateway, the memory server, the test client and
//!   the control component, exactly as the manifest wires them; the control component plays the
//!   scenario.

use ballast_interfaces::hypercall::{HypercallClient, HypercallError};
use ballast_ipc::static_rt::{Clock, StaticError, StaticRuntime};
use ballast_ipc::{ComponentId, Handler, LeaseId, Tables};
use core::cell::Cell;

use ballast_memory_server_core::FrameScrubber;
use ballast_xen::backend::{RawHypercall, XenHypercalls};
use ballast_xen::{Gfn, Hypervisor};

use ballast_system::{Kind, ManifestPermissions};

use crate::composition::{self, COMPOSITION, REGION_BYTES, REGION_COUNT, TABLES};
use ballast_frame_access::FrameMemory;

use crate::scenario::{self, components, Checks, GatewayXen, Layout, Platform};
use crate::system::{self, ImageGateway, MemoryParts, Runtime, SetupError, STORAGE_WORDS};

/// Region memory and the scratch buffer of one runtime.
struct RegionMemory {
    regions: [[u8; REGION_BYTES]; REGION_COUNT],
    scratch: [u8; REGION_BYTES],
}

impl RegionMemory {
    fn new() -> RegionMemory {
        RegionMemory {
            regions: [[0; REGION_BYTES]; REGION_COUNT],
            scratch: [0; REGION_BYTES],
        }
    }
}

fn runtime<'h, 'r, K: Clock>(
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

fn log_gateway<R: RawHypercall>(phase: &str, gateway: &ImageGateway<R>) {
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

/// What an image hands the phases: its hypercall instruction and clock, where the scenario may
/// work, and what its Xen does where the platforms differ.
#[derive(Clone, Copy, Debug)]
pub struct Machine<'k, R, K> {
    /// The hypercall instruction (the gateway's backend; Xen's count is also read through it,
    /// apart from the components, to check them).
    pub hypercall: R,
    /// The clock of the timings and of the runtime's timers.
    pub clock: &'k K,
    /// Where the scenario may work.
    pub layout: Layout,
    /// Where the platform's Xen differs.
    pub platform: Platform,
}

/// Play the phases of a scenario on `machine` after the image's own `checks`, and log the tally;
/// whether every check passed (a phase that could not be set up is logged and fails the run).
/// `memory` is the access to the layout's free frames (the Xen facts' scenario uses it, then the
/// memory server scrubs through it); `ram_regions` are the boot map's RAM regions, byte ranges.
pub fn play<R: RawHypercall + Copy, M: FrameMemory, K: Clock + Copy>(
    machine: Machine<'_, R, K>,
    phases: scenario::Phases,
    memory: M,
    ram_regions: impl Iterator<Item = (u64, u64)>,
    mut checks: Checks,
) -> bool {
    match play_phases(machine, phases, memory, ram_regions, &mut checks) {
        Ok(()) => checks.report(),
        Err((phase, error)) => {
            defmt::error!("phase {=str} not run: {}", phase, error);
            false
        }
    }
}

/// The phases of [`play`]; the phase that could not be set up, and why.
fn play_phases<R: RawHypercall + Copy, M: FrameMemory, K: Clock + Copy>(
    machine: Machine<'_, R, K>,
    phases: scenario::Phases,
    mut memory: M,
    ram_regions: impl Iterator<Item = (u64, u64)>,
    checks: &mut Checks,
) -> Result<(), (&'static str, SetupError)> {
    let Machine {
        hypercall,
        clock,
        layout,
        platform,
    } = machine;
    if let Some(name) = phases.xen_facts {
        let phase = xen_facts(name, hypercall, (layout, platform), &mut memory, clock);
        checks.absorb(&phase.map_err(|error| ("xen_facts", error))?);
    }
    if phases.components {
        let refused = Cell::new(0);
        let scrubber = system::Scrubber::new(memory, &refused);
        let phase = components(hypercall, (layout, scrubber), ram_regions, clock);
        checks.absorb(&phase.map_err(|error| ("components", error))?);
        checks.context = "components";
        checks.expect_eq("scrubs_refused", u64::from(refused.get()), 0);
    }
    Ok(())
}

/// Run Xen-facts scenario `name` through the gateway, the scenario standing in for the memory
/// server.
fn xen_facts<R: RawHypercall, M: FrameMemory, K: Clock + Copy>(
    name: &str,
    hypercall: R,
    (layout, platform): (Layout, Platform),
    ram: &mut M,
    clock: &K,
) -> Result<Checks, SetupError> {
    let memory = composition::component(Kind::MemoryServer)?;
    let gateway_id = composition::component(Kind::HypercallGateway)?;
    let (endpoint, _) = composition::endpoint(memory, gateway_id)?;
    let frame_list: LeaseId = composition::region(memory, gateway_id)?;
    let mut gateway = system::gateway(hypercall, &[layout.free, layout.hole])?;
    let stand_in = composition::StandIn::new(memory);
    let mut region_memory = RegionMemory::new();
    let checks = {
        let handlers: [(ComponentId, &mut dyn Handler); 1] = [(gateway_id, &mut gateway)];
        let tables = stand_in.tables();
        let mut rt = runtime(tables, *clock, handlers, &mut region_memory)?;
        let mut sys = rt.external(memory).map_err(|_| SetupError::Wiring)?;
        let mut xen = GatewayXen::new(&mut sys, HypercallClient::new(endpoint), frame_list);
        let checks = scenario::run(name, &mut xen, ram, clock, layout, platform);
        if xen.failures > 0 {
            defmt::error!("gateway calls failed: {=u32}", xen.failures);
        }
        checks.map(|mut checks| {
            refuse_unowned(&mut xen, &mut checks, layout);
            checks
        })
    };
    log_gateway("xen_facts", &gateway);
    checks.map_err(|error| {
        defmt::error!("scenario {=str}: {}", name, error);
        SetupError::Wiring
    })
}

/// The gateway's checks are on: a frame the caller does not own is refused before Xen sees it.
/// The frame is the one just past the hole, which nobody owns and Xen does not back, so even a
/// gateway that let the request through would break nothing.
fn refuse_unowned(xen: &mut GatewayXen<'_>, checks: &mut Checks, layout: Layout) {
    checks.context = "gateway";
    let unowned = Gfn(layout.hole.first + layout.hole.frames);
    let before = xen.current_reservation().unwrap_or(0);
    let refusal = xen.release_unowned(unowned);
    let after = xen.current_reservation().unwrap_or(0);
    defmt::info!(
        "gateway_refusal gfn={=u64:#x} error={=u16} before={=u64} after={=u64}",
        unowned.0,
        refusal.map_or(0, |error| error as u16),
        before,
        after
    );
    checks.expect(
        "refuses_frames_not_owned",
        refusal == Some(HypercallError::FrameNotOwned),
    );
    checks.expect_eq("refusal_reached_no_xen", after, before);
}

/// Run the components phase: every component of the manifest, the control one playing; the
/// memory server scrubs through `scrubber`.
fn components<R: RawHypercall + Copy, S: FrameScrubber, K: Clock + Copy>(
    hypercall: R,
    (layout, scrubber): (Layout, S),
    ram_regions: impl Iterator<Item = (u64, u64)>,
    clock: &K,
) -> Result<Checks, SetupError> {
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
    let control = composition::component(Kind::ControlAgent)?;
    let client = composition::component(Kind::DriverClient)?;
    let cast = components::Cast {
        control: (control, composition::endpoint(control, memory)?.0),
        client: (
            client,
            composition::endpoint(client, memory)?.0,
            composition::region(client, memory)?,
        ),
    };
    let mut gateway = system::gateway(hypercall, &[layout.free])?;
    let ram = system::server_ram(ram_regions, layout.free).ok_or(SetupError::Capacity)?;
    let mut storage = [0u64; STORAGE_WORDS];
    let mut accounts = heapless::Vec::new();
    let permissions = ManifestPermissions::new(&COMPOSITION, memory.0);
    let parts = MemoryParts {
        storage: &mut storage,
        accounts: &mut accounts,
        permissions: &permissions,
    };
    let mut server = system::memory_server(&ram, parts, scrubber)?;
    let mut region_memory = RegionMemory::new();
    let checks = {
        let handlers: [(ComponentId, &mut dyn Handler); 2] =
            [(gateway_id, &mut gateway), (memory, &mut server)];
        let mut rt = runtime(TABLES, *clock, handlers, &mut region_memory)?;
        let mut direct = XenHypercalls::new(hypercall);
        components::run(&mut rt, &mut direct, cast)
    };
    log_gateway("components", &gateway);
    Ok(checks)
}
