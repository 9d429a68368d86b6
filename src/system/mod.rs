//! A runnable system from a manifest: the simulated Xen domain the manifest describes, the
//! hypercall gateway over it, the memory server, and the capabilities of the external
//! components (driver clients, the toolstack agent) that tests and scenarios drive.
//! The same handlers run on the host-thread runtime and the deterministic one. Each handler owns
//! its storage on the heap: dropping the system (the runtime holding its handlers) frees it.

mod heap_words;
mod scrub;

use ballast_hypercall::Gateway;
use ballast_ipc::deterministic::SimHandler;
use ballast_ipc::{Badge, ComponentId, EndpointId, Handler, LeaseId};
use ballast_memory_server::MemoryServer;
use ballast_memory_server_core::FrameRun;
use ballast_system::memory::{ServerParts, ServerRam};
use ballast_system::{AssemblyError, Composition, Kind, ManifestPermissions, Policy};
use ballast_xen_sim::{
    DomId, DomainConfig, HostConfig, PodBoot, SimHypervisor, XenSim, DOMU_MAX_ORDER,
};

use crate::composition::HOST;

pub use heap_words::HeapWords;
pub use scrub::SimScrubber;

/// The gateway as the host runs it, sized for every composition compiled into the host.
pub type GatewayHandler = Gateway<
    Box<[u64]>,
    SimHypervisor,
    { HOST.gateway_callers },
    { HOST.gateway_ranges },
    { HOST.gateway_frames },
>;

/// The memory server as the host runs it, sized for every composition compiled into the host.
pub type MemoryHandler = MemoryServer<
    HeapWords,
    SimScrubber,
    ManifestPermissions,
    { HOST.lent_runs },
    { HOST.clients },
    { HOST.pending },
>;

/// Why a manifest cannot be run in the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemError(pub String);

impl std::fmt::Display for SystemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SystemError {}

impl From<AssemblyError> for SystemError {
    fn from(error: AssemblyError) -> SystemError {
        SystemError(error.to_string())
    }
}

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

/// How the simulated domain is built on populate-on-demand (as `xl create` does with `memory`
/// below `maxmem`): the manifest's RAM is the memory map, Xen backs `boot_pages` of it. The
/// reserved runs (firmware tables, the image) are what Xen populated for real inside RAM, and
/// `special_pages` real pages (xenstore and console rings, ...) lie above every managed range;
/// Xen's maximum gets them on top of the manifest's, as the toolstack's slack does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodBuild {
    /// `tot_pages` after the build (`memory`).
    pub boot_pages: u64,
    /// Real pages outside the memory map.
    pub special_pages: u64,
}

/// Build the simulated domain and the handlers of `composition` (a `sim` image); `policy`
/// overrides the manifest's.
pub fn build(
    composition: &'static Composition,
    policy: Option<Policy>,
    seed: u64,
) -> Result<Parts, SystemError> {
    build_on(composition, policy, seed, None)
}

/// [`build`], the domain built on populate-on-demand if `pod` says so.
pub fn build_on(
    composition: &'static Composition,
    policy: Option<Policy>,
    seed: u64,
    pod: Option<PodBuild>,
) -> Result<Parts, SystemError> {
    let sim = composition.sim.ok_or_else(|| {
        SystemError(format!(
            "image `{}` has no [sim] section: it cannot run in the simulator",
            composition.image
        ))
    })?;
    if !HOST.holds(composition) {
        return Err(SystemError(format!(
            "image `{}` needs larger tables than the host was compiled with ({HOST:?}); \
             add its manifest to build.rs's HOST_MANIFESTS",
            composition.image
        )));
    }
    let memory = &composition.memory;
    let xen = XenSim::new(HostConfig {
        free_pages: sim.host_free_pages,
        seed,
        ..HostConfig::default()
    });
    let domain = DomainConfig {
        ram: memory
            .ram
            .iter()
            .map(|run| run.start()..run.end())
            .collect(),
        max_pages: sim.domain_max_pages,
        // Xen's own limit, not the manifest's (ballast's policy, enforced by the gateway).
        max_order: DOMU_MAX_ORDER,
    };
    let created = match pod {
        None if sim.dom0 => xen.create_dom0(domain),
        None => xen.try_create_domain(domain),
        Some(_) if sim.dom0 => {
            return Err(SystemError(
                "a dom0 cannot be built on populate-on-demand: give the scenario no `pod`, or \
                 the manifest's `[sim]` no `dom0`"
                    .into(),
            ))
        }
        Some(pod) => {
            let top = memory
                .ram
                .iter()
                .chain(memory.boot_extra)
                .chain(memory.growth.iter())
                .chain(core::iter::once(&memory.unpopulated))
                .map(|run| run.end())
                .max()
                .unwrap_or(0);
            let boot = PodBoot {
                target_pages: pod.boot_pages,
                real_ram: memory
                    .reserved
                    .iter()
                    .map(|r| r.run.start()..r.run.end())
                    .collect(),
                special: core::iter::once(top..top + pod.special_pages).collect(),
            };
            let max_pages = domain.max_pages + pod.special_pages;
            xen.try_create_pod_domain(
                DomainConfig {
                    max_pages,
                    ..domain
                },
                &boot,
            )
        }
    };
    let dom = created.map_err(|error| {
        SystemError(format!("the simulated domain cannot be created: {error:?}"))
    })?;
    let boot_pages = memory.ram.iter().map(|run| run.frames).sum();

    let gateway = composition
        .first_of(Kind::HypercallGateway)
        .ok_or_else(|| SystemError("no hypercall gateway".into()))?;
    let memory_server = composition
        .first_of(Kind::MemoryServer)
        .ok_or_else(|| SystemError("no memory server".into()))?;
    let external = |client: u16| -> Result<ExternalCap, SystemError> {
        let component = &composition.components[usize::from(client)];
        let (endpoint, badge) = composition
            .capability(client, memory_server.id)
            .ok_or_else(|| {
                SystemError(format!(
                    "`{}` holds no capability to the memory server",
                    component.name
                ))
            })?;
        Ok(ExternalCap {
            name: component.name.to_string(),
            component: ComponentId(client),
            endpoint,
            badge,
            region: composition.lease(client, memory_server.id),
        })
    };
    let clients = composition
        .all_of(Kind::DriverClient)
        .map(|c| external(c.id))
        .collect::<Result<Vec<_>, _>>()?;
    let control = external(
        composition
            .first_of(Kind::ControlAgent)
            .ok_or_else(|| SystemError("no control agent".into()))?
            .id,
    )?;

    let gateway_bitmap =
        vec![0u64; ballast_system::Capacities::of(composition).gateway_bitmap_words]
            .into_boxed_slice();
    let gateway_handler = ballast_system::gateway::gateway(
        composition,
        xen.hypervisor(dom),
        (memory.ram, memory.ram),
        gateway_bitmap,
    )?;
    let memory_handler = memory_server_of(composition, policy, SimScrubber::new(xen.clone(), dom))?;
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

/// The memory server of `composition`, owning its storage, accounts and permissions.
fn memory_server_of(
    composition: &'static Composition,
    policy: Option<Policy>,
    scrubber: SimScrubber,
) -> Result<MemoryHandler, SystemError> {
    let reserved: Vec<FrameRun> = composition
        .memory
        .reserved
        .iter()
        .map(|reserved| reserved.run)
        .collect();
    let ram = ServerRam {
        ram: composition.memory.ram,
        reserved: &reserved,
    };
    let config = ballast_system::memory::config(composition, ram, policy)?;
    let words = config
        .bitmap_words()
        .map_err(|error| SystemError(format!("the memory server refuses the layout: {error:?}")))?;
    let accounts = ballast_system::memory::client_accounts::<{ HOST.clients }>(composition)?;
    let memory_server = composition
        .first_of(Kind::MemoryServer)
        .ok_or(AssemblyError::MissingComponent)?;
    let parts = ServerParts {
        storage: HeapWords::zeroed(words),
        accounts,
        permissions: ManifestPermissions::new(composition, memory_server.id),
    };
    Ok(ballast_system::memory::memory_server(
        composition,
        &config,
        parts,
        scrubber,
    )?)
}
