//! The composition of the image's manifest, compiled in by the build script through
//! `ballast-manifest` (`manifests/xen-pvh.toml` on x86-64, `manifests/xen-arm64.toml` on arm64),
//! the capacities it sizes the image with, and the lookups the image wires its components with.

use ballast_ipc::{
    Badge, ComponentId, ComponentKind, ComponentSpec, EndpointId, EndpointSpec, LeaseId, Tables,
};
use ballast_system::{Capacities, Composition, Kind};

mod generated {
    include!(concat!(env!("OUT_DIR"), "/composition.rs"));
}

/// The image's composition.
pub const COMPOSITION: Composition = generated::COMPOSITION;
/// What the image's tables are sized for.
pub const CAPACITY: Capacities = Capacities::of(&COMPOSITION);
/// The IPC tables the static runtime runs from.
pub const TABLES: Tables<'static> = COMPOSITION.ipc;
/// Components in the tables.
pub const COMPONENT_COUNT: usize = CAPACITY.components;
/// Regions in the tables.
pub const REGION_COUNT: usize = CAPACITY.regions;
/// The largest region, in bytes (the scratch buffer for read-only leases).
pub const REGION_BYTES: usize = CAPACITY.region_bytes;
/// Endpoints in the tables.
pub const ENDPOINT_COUNT: usize = CAPACITY.endpoints;

/// Why the composition does not have what the image hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum WiringError {
    /// No component has this kind.
    MissingKind = 1,
    /// A component lacks the capability to call a server it needs.
    MissingEndpoint,
    /// No region is shared between two components that need one.
    MissingRegion,
}

/// The component of `kind` (the first, in id order).
pub fn component(kind: Kind) -> Result<ComponentId, WiringError> {
    COMPOSITION
        .first_of(kind)
        .map(|component| ComponentId(component.id))
        .ok_or(WiringError::MissingKind)
}

/// The endpoint `client` calls `server` through, and its badge.
pub fn endpoint(
    client: ComponentId,
    server: ComponentId,
) -> Result<(EndpointId, Badge), WiringError> {
    COMPOSITION
        .capability(client.0, server.0)
        .ok_or(WiringError::MissingEndpoint)
}

/// The region `lender` lends to `borrower`.
pub fn region(lender: ComponentId, borrower: ComponentId) -> Result<LeaseId, WiringError> {
    COMPOSITION
        .lease(lender.0, borrower.0)
        .map(|(id, _)| id)
        .ok_or(WiringError::MissingRegion)
}

/// The tables with one component driven from outside, for a phase in which the scenario plays it
/// (it calls what the component may call, with its badge and its regions); the endpoints that
/// lead to it are left out, since nothing answers them.
#[derive(Debug)]
pub struct StandIn {
    components: [ComponentSpec<'static>; COMPONENT_COUNT],
    endpoints: [EndpointSpec; ENDPOINT_COUNT],
    kept: usize,
}

impl StandIn {
    /// The tables with `stand_in` external.
    pub fn new(stand_in: ComponentId) -> StandIn {
        let mut components: [ComponentSpec<'static>; COMPONENT_COUNT] =
            core::array::from_fn(|at| TABLES.components[at]);
        if let Some(spec) = components.get_mut(stand_in.index()) {
            spec.kind = ComponentKind::External;
        }
        let mut endpoints: [EndpointSpec; ENDPOINT_COUNT] =
            core::array::from_fn(|at| TABLES.endpoints[at]);
        let mut kept = 0;
        for at in 0..ENDPOINT_COUNT {
            if endpoints[at].server != stand_in {
                endpoints[kept] = endpoints[at];
                kept += 1;
            }
        }
        StandIn {
            components,
            endpoints,
            kept,
        }
    }

    /// The tables, borrowed.
    pub fn tables(&self) -> Tables<'_> {
        Tables {
            components: &self.components,
            endpoints: &self.endpoints[..self.kept],
            ..TABLES
        }
    }
}
