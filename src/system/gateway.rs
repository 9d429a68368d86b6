//! The hypercall gateway of a simulated system: its policy table from the manifest (the memory
//! server may call what its grants name, on RAM and boot-extra frames minus the reserved ones),
//! over the simulated domain's hypervisor.

use ballast_hypercall::{ranges_without, CallerGrant, Gateway, GfnRange, Limits, Policy};
use ballast_interfaces::hypercall::INTERFACE_ID;
use ballast_ipc::Badge;
use ballast_xen::Gfn;
use ballast_xen_sim::SimHypervisor;

use super::SystemError;
use crate::manifest::Composition;

/// Callers the gateway's table holds.
pub const GATEWAY_CALLERS: usize = 4;
/// Owned ranges per caller.
pub const GATEWAY_RANGES: usize = 32;
/// Frames per call.
pub const GATEWAY_FRAMES: usize = 512;

/// The gateway as the simulator runs it.
pub type GatewayHandler = Gateway<SimHypervisor, GATEWAY_CALLERS, GATEWAY_RANGES, GATEWAY_FRAMES>;

fn gfn_ranges(ranges: impl Iterator<Item = (u64, u64)>) -> Vec<GfnRange> {
    ranges
        .filter_map(|(start, end)| GfnRange::new(Gfn(start), end.saturating_sub(start)))
        .collect()
}

/// The gateway of `composition`, with the memory server as its one caller.
pub fn build(
    composition: &Composition,
    gateway: u16,
    memory_server: u16,
    hypervisor: SimHypervisor,
) -> Result<GatewayHandler, SystemError> {
    let endpoint = composition
        .endpoints
        .iter()
        .find(|e| e.client == memory_server && e.server == gateway)
        .ok_or_else(|| {
            SystemError("the memory server holds no capability to the gateway".into())
        })?;
    let ops: Vec<u16> = (endpoint.grants.iter())
        .filter(|grant| grant.interface == INTERFACE_ID)
        .flat_map(|grant| grant.ops.iter().copied())
        .collect();

    let memory = &composition.memory;
    let owned = gfn_ranges(
        memory
            .ram
            .iter()
            .chain(memory.boot_extra.iter())
            .map(|r| (r.start, r.end)),
    );
    let reserved = gfn_ranges(memory.reserved.iter().map(|r| (r.start, r.end)));
    let ranges = ranges_without::<GATEWAY_RANGES>(&owned, &reserved).map_err(|error| {
        SystemError(format!(
            "the memory server's frames do not fit the gateway's table: {error:?}"
        ))
    })?;
    let policy = Policy::new(
        Limits {
            max_order: composition.xen.max_extent_order,
            max_frames_per_call: composition.xen.max_frames_per_call as usize,
            own_domid: None,
        },
        &[CallerGrant {
            badge: Badge(endpoint.badge),
            ops: &ops,
            ranges: &ranges,
        }],
        &reserved,
    )
    .map_err(|error| SystemError(format!("the gateway's policy is refused: {error:?}")))?;
    Gateway::new(hypervisor, policy)
        .map_err(|error| SystemError(format!("the gateway cannot be built: {error:?}")))
}
