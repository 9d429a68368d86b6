//! A runnable system from a manifest: the simulated Xen domain the manifest describes, the
//! hypercall gateway over it, the memory server, and the capabilities of the external
//! components (driver clients, the toolstack agent) that tests and scenarios drive.
//! The same handlers run on the host-thread runtime and the deterministic one.

mod gateway;
mod memory;
mod permissions;
mod scrub;

use std::ops::Range;

use ballast_ipc::deterministic::SimHandler;
use ballast_ipc::{Badge, ComponentId, EndpointId, Handler, LeaseId};
use ballast_xen_sim::{DomId, DomainConfig, HostConfig, XenSim};

use crate::manifest::{Composition, Kind};

pub use gateway::{GatewayHandler, GATEWAY_CALLERS, GATEWAY_FRAMES, GATEWAY_RANGES};
pub use memory::{MemoryHandler, SimPolicy, CLIENTS, LENT_RUNS, PENDING};
pub use permissions::ManifestPermissions;
pub use scrub::SimScrubber;

/// Why a manifest cannot be run in the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemError(pub String);

impl std::fmt::Display for SystemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SystemError {}

/// How an external component reaches a server: its capability and the region it lends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalCap {
    /// The component's name in the manifest.
    pub name: String,
    /// The component.
    pub component: ComponentId,
    /// Its endpoint to the server, in its own numbering.
    pub endpoint: EndpointId,
    /// The badge that endpoint carries.
    pub badge: Badge,
    /// The region it lends on its calls, if any.
    pub region: Option<(LeaseId, u32)>,
}

/// The parts of a composed system that drivers need to find.
#[derive(Debug, Clone)]
pub struct SystemMap {
    /// The simulated host.
    pub xen: XenSim,
    /// The guest domain.
    pub dom: DomId,
    /// The gateway component.
    pub gateway: ComponentId,
    /// The memory server component.
    pub memory: ComponentId,
    /// Driver clients, in id order.
    pub clients: Vec<ExternalCap>,
    /// The toolstack agent's capability to the memory server.
    pub control: ExternalCap,
    /// Pages the guest holds at boot (RAM).
    pub boot_pages: u64,
}

/// Handlers boxed for the host-thread runtime.
pub type HostHandlers = Vec<(ComponentId, Box<dyn Handler + Send>)>;
/// Handlers boxed for the deterministic runtime.
pub type SimHandlers = Vec<(ComponentId, Box<dyn SimHandler>)>;

/// Handlers for every component that serves something, and the map of the system.
pub struct Parts {
    /// The hypercall gateway.
    pub gateway: GatewayHandler,
    /// The memory server.
    pub memory: MemoryHandler,
    /// Where everything is.
    pub map: SystemMap,
}

impl Parts {
    /// The handlers, boxed for the host-thread runtime.
    pub fn into_host(self) -> (HostHandlers, SystemMap) {
        let handlers: HostHandlers = vec![
            (self.map.gateway, Box::new(self.gateway)),
            (self.map.memory, Box::new(self.memory)),
        ];
        (handlers, self.map)
    }

    /// The handlers, boxed for the deterministic runtime.
    pub fn into_deterministic(self) -> (SimHandlers, SystemMap) {
        let handlers: SimHandlers = vec![
            (self.map.gateway, Box::new(self.gateway)),
            (self.map.memory, Box::new(self.memory)),
        ];
        (handlers, self.map)
    }
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("map", &self.map)
            .finish_non_exhaustive()
    }
}

fn ranges_of(ranges: &[crate::manifest::GfnRange]) -> Vec<Range<u64>> {
    ranges.iter().map(|r| r.start..r.end).collect()
}

/// Build the simulated domain and the handlers of `composition` (a `sim` image).
pub fn build(
    composition: &'static Composition,
    policy: SimPolicy,
    seed: u64,
) -> Result<Parts, SystemError> {
    let sim = composition.sim.ok_or_else(|| {
        SystemError(format!(
            "image `{}` has no [sim] section: it cannot run in the simulator",
            composition.image
        ))
    })?;
    let memory = &composition.memory;
    let xen = XenSim::new(HostConfig {
        free_pages: sim.host_free_pages,
        seed,
        ..HostConfig::default()
    });
    let dom = xen
        .try_create_domain(DomainConfig {
            ram: ranges_of(&memory.ram),
            max_pages: sim.domain_max_pages,
            max_order: composition.xen.max_extent_order,
        })
        .map_err(|error| {
            SystemError(format!("the simulated domain cannot be created: {error:?}"))
        })?;
    let boot_pages = memory.ram.iter().map(|r| r.end - r.start).sum();

    let find = |kind: Kind| composition.components.iter().find(|c| c.kind == kind);
    let gateway =
        find(Kind::HypercallGateway).ok_or_else(|| SystemError("no hypercall gateway".into()))?;
    let memory_server =
        find(Kind::MemoryServer).ok_or_else(|| SystemError("no memory server".into()))?;
    let external = |client: u16| -> Result<ExternalCap, SystemError> {
        let component = &composition.components[usize::from(client)];
        let endpoint = composition
            .endpoints
            .iter()
            .find(|e| e.client == client && e.server == memory_server.id)
            .ok_or_else(|| {
                SystemError(format!(
                    "`{}` holds no capability to the memory server",
                    component.name
                ))
            })?;
        let region = composition
            .regions
            .iter()
            .find(|r| r.lender == client && r.sharers.contains(&memory_server.id))
            .map(|r| (LeaseId(r.id), u32::try_from(r.size).unwrap_or(u32::MAX)));
        Ok(ExternalCap {
            name: component.name.to_string(),
            component: ComponentId(client),
            endpoint: EndpointId(endpoint.id),
            badge: Badge(endpoint.badge),
            region,
        })
    };
    let clients = (composition.components.iter())
        .filter(|c| c.kind == Kind::DriverClient)
        .map(|c| external(c.id))
        .collect::<Result<Vec<_>, _>>()?;
    let control = external(
        find(Kind::ControlAgent)
            .ok_or_else(|| SystemError("no control agent".into()))?
            .id,
    )?;

    let gateway_handler = gateway::build(
        composition,
        gateway.id,
        memory_server.id,
        xen.hypervisor(dom),
    )?;
    let memory_handler = memory::build(
        composition,
        memory_server.id,
        gateway.id,
        &clients,
        policy,
        SimScrubber::new(xen.clone(), dom),
    )?;
    Ok(Parts {
        gateway: gateway_handler,
        memory: memory_handler,
        map: SystemMap {
            xen,
            dom,
            gateway: ComponentId(gateway.id),
            memory: ComponentId(memory_server.id),
            clients,
            control,
            boot_pages,
        },
    })
}
