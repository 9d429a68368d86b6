//! The composition of the image's manifest, compiled in by the build script through
//! `ballast-manifest` (`manifests/xen-pvh.toml` on x86-64, `manifests/xen-arm64.toml` on arm64),
//! the capacities it sizes the image with, and the lookups the apps wire components with.

use ballast_ipc::{Badge, ComponentId, EndpointId, LeaseId, Tables};
use ballast_system::{AssemblyError, Capacities, Composition, Kind};

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

/// The component of `kind` (the first, in id order).
pub fn component(kind: Kind) -> Result<ComponentId, AssemblyError> {
    COMPOSITION
        .first_of(kind)
        .map(|component| ComponentId(component.id))
        .ok_or(AssemblyError::MissingComponent)
}

/// The endpoint `client` calls `server` through, and its badge.
pub fn endpoint(
    client: ComponentId,
    server: ComponentId,
) -> Result<(EndpointId, Badge), AssemblyError> {
    COMPOSITION
        .capability(client.0, server.0)
        .ok_or(AssemblyError::MissingEndpoint)
}

/// The region `lender` lends to `borrower`.
pub fn region(lender: ComponentId, borrower: ComponentId) -> Result<LeaseId, AssemblyError> {
    COMPOSITION
        .lease(lender.0, borrower.0)
        .map(|(id, _)| id)
        .ok_or(AssemblyError::MissingRegion)
}
