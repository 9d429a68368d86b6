//! The hypercall gateway of a composition: every component holding an endpoint to the gateway is a
//! caller, allowed the hypercall ops its grants name; the memory server owns the RAM the target
//! hands it plus the boot-extra and growth ranges, less the reserved ranges, which no caller may
//! own ([`memory_server_runs`], which the targets' frame access covers too). When it sends lend
//! notices, it also lends from the manifest's lending range (`memory.unpopulated`), which no caller
//! owns: nothing can ever populate it, so a grant mapped there never lands on populated RAM. A
//! driver holding `grant_map` may map grants of the domains its `grant_domains` list, and no
//! others. The event-channel ports a caller may send on are known only at run time: the image
//! gives them at boot ([`Gateway::allow_event_port`], with the badge [`caller_badge`] finds).

use core::borrow::BorrowMut;

use ballast_hypercall::{ranges_without, CallerGrant, CallerTable, Gateway, Limits, LENT_RUNS};
use ballast_interfaces::hypercall::{HypercallOp, INTERFACE_ID};
use ballast_ipc::Badge;
use ballast_xen::{FrameRun, GrantTable, Hypervisor};
use heapless::Vec;

use crate::{AssemblyError, Composition, Endpoint, Kind};

/// The gateway over `hypervisor`, its memory-server caller owning [`memory_server_runs`] of `ram`
/// (the RAM the target knows: the manifest's, or the free RAM found at boot), its page state in
/// `bitmap` (at least [`Capacities::gateway_bitmap_words`](crate::Capacities) words) with the
/// frames of `populated` (what Xen holds populated at boot: `ram`, or a part of it) set.
pub fn gateway<B, H, const CALLERS: usize, const RANGES: usize, const FRAMES: usize>(
    composition: &Composition,
    hypervisor: H,
    (ram, populated): (&[FrameRun], &[FrameRun]),
    bitmap: B,
) -> Result<Gateway<B, H, CALLERS, RANGES, FRAMES>, AssemblyError>
where
    B: BorrowMut<[u64]>,
    H: Hypervisor + GrantTable,
{
    let table = caller_table::<CALLERS, RANGES>(composition, ram)?;
    Gateway::new(hypervisor, table, bitmap, populated).map_err(AssemblyError::Gateway)
}

/// The gateway's caller table: the checks, without the hypervisor.
pub fn caller_table<const CALLERS: usize, const RANGES: usize>(
    composition: &Composition,
    ram: &[FrameRun],
) -> Result<CallerTable<CALLERS, RANGES>, AssemblyError> {
    let gateway = composition
        .first_of(Kind::HypercallGateway)
        .ok_or(AssemblyError::MissingComponent)?;
    let memory = composition
        .first_of(Kind::MemoryServer)
        .ok_or(AssemblyError::MissingComponent)?;
    let reserved = reserved_runs::<RANGES>(composition)?;
    let memory_ranges = memory_server_runs::<RANGES>(composition, ram)?;
    let callers = composition
        .endpoints
        .iter()
        .filter(|endpoint| endpoint.server == gateway.id);
    let mut grants: Vec<CallerGrant<'_>, CALLERS> = Vec::new();
    for endpoint in callers {
        let ranges: &[FrameRun] = if endpoint.client == memory.id {
            &memory_ranges
        } else {
            &[]
        };
        let grant = CallerGrant {
            badge: Badge(endpoint.badge),
            ops: granted_ops(endpoint),
            ranges,
        };
        grants.push(grant).map_err(|_| AssemblyError::Capacity)?;
    }
    let limits = Limits {
        max_order: composition.xen.max_extent_order,
        max_frames_per_call: composition.xen.max_frames_per_call as usize,
        own_domid: None,
    };
    let mut table = CallerTable::new(limits, &grants, &reserved).map_err(AssemblyError::Gateway)?;
    let memory_endpoint =
        (composition.endpoint(memory.id, gateway.id)).ok_or(AssemblyError::MissingEndpoint)?;
    if granted_ops(memory_endpoint).contains(&(HypercallOp::LendNotice as u16)) {
        let lending = composition.memory.unpopulated;
        table
            .allow_lending(Badge(memory_endpoint.badge), lending)
            .map_err(AssemblyError::Gateway)?;
    }
    let mut mappers = 0usize;
    for endpoint in (composition.endpoints.iter()).filter(|endpoint| endpoint.server == gateway.id)
    {
        if granted_ops(endpoint).contains(&(HypercallOp::GrantMap as u16)) {
            // At most one per endpoint.
            mappers = mappers.saturating_add(1);
        }
        for &domid in endpoint.grant_domains {
            table
                .allow_grant_domain(Badge(endpoint.badge), domid)
                .map_err(AssemblyError::Gateway)?;
        }
    }
    // The gateway's loan table must hold every run the memory server can lend its grant mappers.
    let per_client = usize::from(composition.server.max_lent_runs_per_client);
    if mappers.saturating_mul(per_client) > LENT_RUNS {
        return Err(AssemblyError::Capacity);
    }
    Ok(table)
}

/// The frames the memory server owns: `ram` (the RAM the target knows: the manifest's, or the
/// free RAM found at boot), the boot-extra ranges and the growth range, less the reserved ranges.
/// The gateway lets the memory server release and populate exactly these, and the server scrubs
/// each of them before it goes back to Xen: the target's frame access must reach all of them (the
/// static images map them; a target that cannot map one refuses to start).
pub fn memory_server_runs<const RANGES: usize>(
    composition: &Composition,
    ram: &[FrameRun],
) -> Result<Vec<FrameRun, RANGES>, AssemblyError> {
    let memory = &composition.memory;
    let owned: Vec<FrameRun, RANGES> = valid_runs(
        (ram.iter().chain(memory.boot_extra))
            .chain(memory.growth.iter())
            .copied(),
    )?;
    let reserved = reserved_runs::<RANGES>(composition)?;
    ranges_without::<RANGES>(&owned, &reserved).map_err(AssemblyError::Gateway)
}

/// The manifest's reserved ranges, which no caller may own.
fn reserved_runs<const RANGES: usize>(
    composition: &Composition,
) -> Result<Vec<FrameRun, RANGES>, AssemblyError> {
    valid_runs(
        composition
            .memory
            .reserved
            .iter()
            .map(|reserved| reserved.run),
    )
}

/// The badge component `client` calls the gateway with, if it holds an endpoint to it: the caller
/// the image names when it gives it an event-channel port ([`Gateway::allow_event_port`]).
pub fn caller_badge(composition: &Composition, client: u16) -> Option<Badge> {
    let gateway = composition.first_of(Kind::HypercallGateway)?;
    let endpoint = composition.endpoint(client, gateway.id)?;
    Some(Badge(endpoint.badge))
}

/// The badge component `client` calls the gateway with, if it may map grants there (it holds
/// `grant_map`): the borrower the memory server names in its lend and return notices.
pub fn grant_mapper_badge(composition: &Composition, client: u16) -> Option<Badge> {
    let gateway = composition.first_of(Kind::HypercallGateway)?;
    let endpoint = composition.endpoint(client, gateway.id)?;
    let maps = granted_ops(endpoint).contains(&(HypercallOp::GrantMap as u16));
    maps.then_some(Badge(endpoint.badge))
}

/// The `Hypercall` op ids `endpoint`'s grants name (none if it holds no `Hypercall` grant).
fn granted_ops(endpoint: &Endpoint) -> &'static [u16] {
    endpoint
        .grants
        .iter()
        .find(|grant| grant.interface == INTERFACE_ID)
        .map_or(&[], |grant| grant.ops)
}

/// The valid ones of `runs`, as the gateway takes them (empty or wrapping runs are dropped).
fn valid_runs<const N: usize>(
    runs: impl Iterator<Item = FrameRun>,
) -> Result<Vec<FrameRun, N>, AssemblyError> {
    let mut valid = Vec::new();
    for run in runs.filter(FrameRun::is_valid) {
        valid.push(run).map_err(|_| AssemblyError::Capacity)?;
    }
    Ok(valid)
}
