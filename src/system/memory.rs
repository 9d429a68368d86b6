//! The memory server of a simulated system: the core's configuration from the manifest, the
//! client bindings (badge, account, quota), and the server over the simulated domain's scrubber.

use ballast_ipc::{EndpointId, LeaseId};
use ballast_memory_server::{ClientBinding, MemoryServer, Wiring};
use ballast_memory_server_core::{BalloonCore, ClientId, Config, FrameRun, Policy, Tunables};
use ballast_xen::{ExtentOrder, Gfn};

use super::{ExternalCap, ManifestPermissions, SimScrubber, SystemError};
use crate::manifest::{Composition, Policy as ManifestPolicy};

/// Lent runs the simulator's memory server can track, across all clients.
pub const LENT_RUNS: usize = 2048;
/// Client accounts.
pub const CLIENTS: usize = 64;
/// Deferred requests.
pub const PENDING: usize = 64;

/// The memory server as the simulator runs it.
pub type MemoryHandler =
    MemoryServer<'static, SimScrubber, ManifestPermissions, LENT_RUNS, CLIENTS, PENDING>;

/// Which algorithm to run: the manifest's, or one chosen on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimPolicy {
    /// As the manifest says.
    FromManifest,
    /// Ballast's superpage-first policy.
    Ballast,
    /// The seed's: order 0, 512 frames per call.
    Seed,
}

fn runs(ranges: impl Iterator<Item = (u64, u64)>) -> &'static [FrameRun] {
    Vec::leak(
        ranges
            .map(|(start, end)| FrameRun::span(start, end))
            .collect(),
    )
}

/// The memory server of `composition`. Its state lives as long as the process: the runtimes
/// need `'static` handlers.
pub fn build(
    composition: &'static Composition,
    memory_server: u16,
    gateway: u16,
    clients: &[ExternalCap],
    policy: SimPolicy,
    scrubber: SimScrubber,
) -> Result<MemoryHandler, SystemError> {
    let memory = &composition.memory;
    let sizing = &composition.memory_server;
    let lent_runs = usize::from(sizing.max_clients) * usize::from(sizing.max_lent_runs_per_client);
    if clients.len() > CLIENTS
        || usize::from(sizing.pending_depth) > PENDING
        || lent_runs > LENT_RUNS
    {
        return Err(SystemError(format!(
            "the simulator's memory server holds at most {CLIENTS} clients, {LENT_RUNS} lent runs and \
             {PENDING} deferred requests"
        )));
    }
    let config = Config {
        ram: runs(memory.ram.iter().map(|r| (r.start, r.end))),
        reserved: runs(memory.reserved.iter().map(|r| (r.start, r.end))),
        extra: runs(memory.boot_extra.iter().map(|r| (r.start, r.end))),
        lending: Some(FrameRun::span(
            memory.unpopulated.start,
            memory.unpopulated.end,
        )),
        policy: match (policy, sizing.policy) {
            (SimPolicy::Ballast, _) | (SimPolicy::FromManifest, ManifestPolicy::Ballast) => {
                Policy::Ballast
            }
            (SimPolicy::Seed, _) | (SimPolicy::FromManifest, ManifestPolicy::Seed) => Policy::Seed,
        },
        batch_extents: sizing.batch_size as usize,
        max_order: ExtentOrder::new(composition.xen.max_extent_order)
            .ok_or_else(|| SystemError("xen.max_extent_order is out of range".into()))?,
        lowmem_limit: Gfn(1 << 20),
        tunables: Tunables {
            max_schedule_delay_s: sizing.max_schedule_delay_s,
            max_retry_count: sizing.max_retry_count,
        },
        default_client_quota: 0,
        pending_timeout_ns: u64::from(sizing.pending_timeout_ms) * 1_000_000,
    };
    let words = config
        .bitmap_words()
        .map_err(|error| SystemError(format!("the memory server refuses the layout: {error:?}")))?;
    let storage = Vec::leak(vec![0u64; words]);
    let core = BalloonCore::new(&config, storage)
        .map_err(|error| SystemError(format!("the memory server refuses the layout: {error:?}")))?;
    let bindings: &'static [ClientBinding] = Vec::leak(
        clients
            .iter()
            .enumerate()
            .map(|(index, cap)| ClientBinding {
                badge: cap.badge,
                client: ClientId(index as u16),
                quota: composition.components[usize::from(cap.component.0)].max_lent_frames,
            })
            .collect(),
    );
    let frame_list = composition
        .regions
        .iter()
        .find(|r| r.lender == memory_server && r.sharers.contains(&gateway))
        .ok_or_else(|| {
            SystemError(
                "no region carries frame lists from the memory server to the gateway".into(),
            )
        })?;
    let gateway_endpoint = composition
        .endpoints
        .iter()
        .find(|e| e.client == memory_server && e.server == gateway)
        .ok_or_else(|| {
            SystemError("the memory server holds no capability to the gateway".into())
        })?;
    let permissions: &'static ManifestPermissions = Box::leak(Box::new(ManifestPermissions::new(
        composition,
        memory_server,
    )));
    let wiring = Wiring {
        gateway: EndpointId(gateway_endpoint.id),
        frame_list: LeaseId(frame_list.id),
        clients: bindings,
    };
    Ok(MemoryServer::new(core, wiring, scrubber, permissions))
}
