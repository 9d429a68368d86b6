//! The memory server of a composition: its configuration (layout, policy, batch size, tunables
//! from the manifest), its client accounts (every driver client, with its badge and quota), and
//! its wiring to the gateway. The target hands in the RAM it knows and the storage it sized.

use ballast_interfaces::support::Permissions;
use ballast_ipc::{EndpointId, LeaseId};
use ballast_memory_server::{ClientBinding, MemoryServer, Wiring};
use ballast_memory_server_core::{
    BalloonCore, ClientId, Config, FrameRun, FrameScrubber, Policy, PopulatedForm, Storage,
    Tunables,
};
use ballast_xen::{ExtentOrder, Gfn};
use heapless::Vec;

use crate::{AssemblyError, Composition, Kind, RamSource};

/// Frames below this one count as low memory in the statistics: the first 4 GiB, the range
/// 32-bit DMA and the seed's `balloon_stats.balloon_low` are about.
pub const LOWMEM_LIMIT: Gfn = Gfn(1 << 20);

/// The RAM the memory server manages, as the target knows it.
#[derive(Clone, Copy, Debug)]
pub struct ServerRam<'r> {
    /// Every populated RAM run.
    pub ram: &'r [FrameRun],
    /// The parts of them in use by others, never ballooned.
    pub reserved: &'r [FrameRun],
}

/// The memory server's configuration. `policy` overrides the manifest's (the simulator and the
/// benchmarks run both policies over one manifest).
pub fn config<'r>(
    composition: &Composition,
    ram: ServerRam<'r>,
    policy: Option<Policy>,
) -> Result<Config<'r>, AssemblyError> {
    let sizing = &composition.server;
    let memory = &composition.memory;
    let max_order =
        ExtentOrder::new(composition.xen.max_extent_order).ok_or(AssemblyError::OrderTooLarge)?;
    Ok(Config {
        ram: ram.ram,
        reserved: ram.reserved,
        extra: memory.boot_extra,
        growth: memory.growth,
        lending: Some(memory.unpopulated),
        policy: policy.unwrap_or(sizing.policy),
        batch_extents: sizing.batch_size as usize,
        max_order,
        lowmem_limit: LOWMEM_LIMIT,
        tunables: Tunables {
            max_schedule_delay_s: sizing.max_schedule_delay_s,
            max_retry_count: sizing.max_retry_count,
        },
        default_client_quota: 0,
        max_lent_runs_per_client: usize::from(sizing.max_lent_runs_per_client),
        // A `u32` of milliseconds in nanoseconds fits in 52 bits.
        pending_timeout_ns: u64::from(sizing.pending_timeout_ms).saturating_mul(1_000_000),
        populated_form: PopulatedForm::Smaller,
        // A `u32` fits in `usize` on every target the memory server runs on.
        mixed_chunk_blocks: usize::try_from(sizing.mixed_chunk_blocks).unwrap_or(usize::MAX),
    })
}

/// What the memory server's assembly checks that the composition alone decides, before any target
/// builds it: a growth range only for a target that can reach it, the configuration over the
/// manifest's RAM (for a target that learns its RAM at boot, all of it below the ceiling), as the
/// core checks it when it is built, and the wiring to the gateway. Returns the words of bitmap storage that RAM needs. `ballast check` and every build
/// run this, so a manifest the server would refuse is refused before an image exists.
pub fn check(composition: &Composition) -> Result<usize, AssemblyError> {
    let memory = &composition.memory;
    let below_ceiling = [FrameRun::span(0, memory.ram_ceiling.unwrap_or(0))];
    let ram = match memory.ram_source {
        RamSource::Manifest => memory.ram,
        RamSource::BootMap => &below_ceiling,
    };
    let ram = ServerRam { ram, reserved: &[] };
    if memory.growth.is_some() && !composition.target.reaches_growth() {
        return Err(AssemblyError::GrowthUnreachable);
    }
    gateway_link(composition)?;
    config(composition, ram, None)?
        .check_with_reserved(memory.reserved.iter().map(|reserved| reserved.run))
        .map_err(AssemblyError::Memory)
}

/// Whether the manifest's sizing fits the capacities a target compiled the server with.
pub fn fits<const LENT: usize, const CLIENTS: usize, const PENDING: usize>(
    composition: &Composition,
) -> Result<(), AssemblyError> {
    let sizing = &composition.server;
    // Two `u16`s: the product fits in 32 bits.
    let lent_runs = usize::from(sizing.max_clients)
        .saturating_mul(usize::from(sizing.max_lent_runs_per_client));
    let clients = composition.all_of(Kind::DriverClient).count();
    if clients > CLIENTS
        || usize::from(sizing.max_clients) > CLIENTS
        || usize::from(sizing.pending_depth) > PENDING
        || lent_runs > LENT
    {
        return Err(AssemblyError::Capacity);
    }
    Ok(())
}

/// One account per driver client, in id order: its badge on the memory server, its quota, and its
/// badge on the gateway if it may map grants there (the memory server then sends the gateway a
/// notice of every run it lends it and gets back).
pub fn client_accounts<const CLIENTS: usize>(
    composition: &Composition,
) -> Result<Vec<ClientBinding, CLIENTS>, AssemblyError> {
    let memory = composition
        .first_of(Kind::MemoryServer)
        .ok_or(AssemblyError::MissingComponent)?;
    let mut accounts = Vec::new();
    for (index, client) in composition.all_of(Kind::DriverClient).enumerate() {
        let (_, badge) = composition
            .capability(client.id, memory.id)
            .ok_or(AssemblyError::MissingEndpoint)?;
        let account = ClientBinding {
            badge,
            client: ClientId(u16::try_from(index).map_err(|_| AssemblyError::Capacity)?),
            quota: client.max_lent_frames,
            gateway_badge: crate::gateway::grant_mapper_badge(composition, client.id),
        };
        accounts
            .push(account)
            .map_err(|_| AssemblyError::Capacity)?;
    }
    Ok(accounts)
}

/// The memory server's endpoint to the gateway and the frame-list region it lends there.
pub fn gateway_link(composition: &Composition) -> Result<(EndpointId, LeaseId), AssemblyError> {
    let memory = composition
        .first_of(Kind::MemoryServer)
        .ok_or(AssemblyError::MissingComponent)?;
    let gateway = composition
        .first_of(Kind::HypercallGateway)
        .ok_or(AssemblyError::MissingComponent)?;
    let (endpoint, _) = composition
        .capability(memory.id, gateway.id)
        .ok_or(AssemblyError::MissingEndpoint)?;
    let (frame_list, _) = composition
        .lease(memory.id, gateway.id)
        .ok_or(AssemblyError::MissingRegion)?;
    Ok((endpoint, frame_list))
}

/// What the target provides for the server, all of which the server then owns: its bitmap
/// storage (borrowed from the target's static memory, or owned by the host's heap), the accounts
/// [`client_accounts`] made, and the dispatch permissions.
#[derive(Debug)]
pub struct ServerParts<W, P, const CLIENTS: usize> {
    /// The core's bitmap storage (at least [`Config::bitmap_words`] words).
    pub storage: W,
    /// The client accounts.
    pub accounts: Vec<ClientBinding, CLIENTS>,
    /// Who may call what on the memory server.
    pub permissions: P,
}

/// The memory server of `composition` with `config`, scrubbing through `scrubber`.
pub fn memory_server<W, S, P, const LENT: usize, const CLIENTS: usize, const PENDING: usize>(
    composition: &Composition,
    config: &Config<'_>,
    parts: ServerParts<W, P, CLIENTS>,
    scrubber: S,
) -> Result<MemoryServer<W, S, P, LENT, CLIENTS, PENDING>, AssemblyError>
where
    W: Storage,
    S: FrameScrubber,
    P: Permissions + Copy,
{
    fits::<LENT, CLIENTS, PENDING>(composition)?;
    let (gateway, frame_list) = gateway_link(composition)?;
    let core = BalloonCore::new(config, parts.storage).map_err(AssemblyError::Memory)?;
    let wiring = Wiring {
        gateway,
        frame_list,
        clients: parts.accounts,
    };
    Ok(MemoryServer::new(core, wiring, scrubber, parts.permissions))
}
