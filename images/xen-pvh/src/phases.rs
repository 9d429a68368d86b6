//! The two phases a run can have, each on its own static runtime over the composition of
//! `manifests/xen-pvh.toml`:
//!
//! - Xen facts (`balloon`, `smoke`): the scenario stands in for the memory server (its badge,
//!   its frame-list region) and calls the real gateway through the generated `Hypercall` stubs,
//!   the gateway's checks active, owning the free RAM the image found and the hole it populates
//!   past the maximum. This phase shows what only direct frame access can: ballooned frames read
//!   as all ones, scrubbing, the short count past the maximum, raw timings.
//! - Components (`balloon`, `components`): the gateway, the memory server, the test client and
//!   the control component, exactly as the manifest wires them; the control component plays the
//!   scenario.
#![forbid(unsafe_code)]

use ballast_interfaces::hypercall::{HypercallClient, HypercallError};
use ballast_ipc::static_rt::{StaticError, StaticRuntime};
use ballast_ipc::{ComponentId, Handler, LeaseId, Tables};
use ballast_xen::backend::x86_64::X86Hypercall;
use ballast_xen::backend::XenHypercalls;
use ballast_xen::{Gfn, Hypervisor};

use crate::clock::Tsc;
use crate::composition::{self, ManifestPermissions, Role, REGION_BYTES, REGION_COUNT, TABLES};
use crate::memory::ScenarioRam;
use crate::scenario::{self, components, Checks, GatewayXen, Layout};
use crate::system::{self, MemoryParts, PvhGateway, Runtime, SetupError, STORAGE_WORDS};

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

fn runtime<'h, 'r>(
    tables: Tables<'r>,
    clock: Tsc,
    handlers: impl IntoIterator<Item = (ComponentId, &'h mut (dyn Handler + 'h))>,
    memory: &'r mut RegionMemory,
) -> Result<Runtime<'h, 'r, Tsc>, SetupError> {
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

fn log_gateway(phase: &str, gateway: &PvhGateway) {
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

/// Run Xen-facts scenario `name` through the gateway, the scenario standing in for the memory
/// server.
pub fn xen_facts(
    name: &str,
    hypercall: X86Hypercall,
    layout: Layout,
    ram: &mut ScenarioRam,
    clock: &Tsc,
) -> Result<Checks, SetupError> {
    let memory = composition::component(Role::MemoryServer)?;
    let gateway_id = composition::component(Role::HypercallGateway)?;
    let (endpoint, badge) = composition::endpoint(memory, gateway_id)?;
    let frame_list: LeaseId = composition::region(memory, gateway_id)?;
    let mut gateway = system::gateway(hypercall, gateway_id, badge, &[layout.free, layout.hole])?;
    let stand_in = composition::StandIn::new(memory);
    let mut region_memory = RegionMemory::new();
    let checks = {
        let handlers: [(ComponentId, &mut dyn Handler); 1] = [(gateway_id, &mut gateway)];
        let tables = stand_in.tables();
        let mut rt = runtime(tables, *clock, handlers, &mut region_memory)?;
        let mut sys = rt.external(memory).map_err(|_| SetupError::Wiring)?;
        let mut xen = GatewayXen::new(&mut sys, HypercallClient::new(endpoint), frame_list);
        let checks = scenario::run(name, &mut xen, ram, clock, layout);
        if xen.failures > 0 {
            defmt::error!("gateway calls failed: {=u32}", xen.failures);
        }
        checks.map(|mut checks| {
            refuse_unowned(&mut xen, &mut checks);
            checks
        })
    };
    log_gateway("xen_facts", &gateway);
    checks.map_err(|error| {
        defmt::error!("scenario {=str}: {}", name, error);
        SetupError::Wiring
    })
}

/// A frame of the manifest's reserved low memory, below the image (nothing of the image lives
/// there, so even a gateway that let the request through would break nothing).
const UNOWNED_FRAME: Gfn = Gfn(0x80);

/// The gateway's checks are on: a frame the caller does not own is refused before Xen sees it.
fn refuse_unowned(xen: &mut GatewayXen<'_>, checks: &mut Checks) {
    checks.context = "gateway";
    let before = xen.current_reservation().unwrap_or(0);
    let refusal = xen.release_unowned(UNOWNED_FRAME);
    let after = xen.current_reservation().unwrap_or(0);
    defmt::info!(
        "gateway_refusal gfn={=u64:#x} error={=u16} before={=u64} after={=u64}",
        UNOWNED_FRAME.0,
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

/// Run the components phase: every component of the manifest, the control one playing.
pub fn components(
    hypercall: X86Hypercall,
    layout: Layout,
    ram_regions: impl Iterator<Item = (u64, u64)>,
    clock: &Tsc,
) -> Result<Checks, SetupError> {
    for (index, component) in composition::COMPONENTS.iter().enumerate() {
        defmt::info!(
            "component id={=usize} name={=str} role={}",
            index,
            component.name,
            component.role
        );
    }
    let memory = composition::component(Role::MemoryServer)?;
    let gateway_id = composition::component(Role::HypercallGateway)?;
    let control = composition::component(Role::ControlAgent)?;
    let client = composition::component(Role::DriverClient)?;
    let (_, badge) = composition::endpoint(memory, gateway_id)?;
    let cast = components::Cast {
        control: (control, composition::endpoint(control, memory)?.0),
        client: (
            client,
            composition::endpoint(client, memory)?.0,
            composition::region(client, memory)?,
        ),
    };
    let mut gateway = system::gateway(hypercall, gateway_id, badge, &[layout.free])?;
    let ram = system::server_ram(ram_regions, layout.free).ok_or(SetupError::Capacity)?;
    let mut storage = [0u64; STORAGE_WORDS];
    let mut bindings = heapless::Vec::new();
    let permissions = ManifestPermissions { server: memory };
    let parts = MemoryParts {
        storage: &mut storage,
        bindings: &mut bindings,
        permissions: &permissions,
    };
    let mut server = system::memory_server(&ram, parts, ScenarioRam::new(&layout))?;
    let mut region_memory = RegionMemory::new();
    let checks = {
        let handlers: [(ComponentId, &mut dyn Handler); 2] =
            [(gateway_id, &mut gateway), (memory, &mut server)];
        let mut rt = runtime(TABLES, *clock, handlers, &mut region_memory)?;
        let mut direct = XenHypercalls::new(hypercall);
        components::run(&mut rt, &mut direct, clock, cast)
    };
    log_gateway("components", &gateway);
    Ok(checks)
}
