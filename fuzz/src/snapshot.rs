//! What "changed nothing" means for the IPC targets: everything a refused message could have
//! touched, taken before and after it and compared. Xen's side (xen-sim's page counts, call
//! counters, leaks, host pool, grant mappings), the memory server's (statistics with every
//! counter, each client's account and delivered runs, deferred requests, quarantine, the notices
//! it sent the gateway) and the gateway's (grants mapped, frames lent per borrower, its page
//! state), and the bytes
//! of every shared region.

use std::ops::Range;

use ballast::system::{GatewayHandler, MemoryHandler};
use ballast_ipc::deterministic::DeterministicRuntime;
use ballast_ipc::{Badge, LeaseId};
use ballast_memory_server::NoticeCounters;
use ballast_memory_server_core::{ClientAccount, ClientId, FrameRun, Stats};
use ballast_xen_sim::{Counters, DomId, XenSim};

/// Xen's side of a domain.
#[derive(Debug, PartialEq, Eq)]
pub struct XenView {
    tot_pages: Option<u64>,
    populated: Option<u64>,
    counters: Option<Counters>,
    leaked: Option<u64>,
    host_free: u64,
    grant_mappings: usize,
}

impl XenView {
    /// `dom` on `xen`, its populated frames counted over `frames`.
    pub fn of(xen: &XenSim, dom: DomId, frames: Range<u64>) -> XenView {
        XenView {
            tot_pages: xen.tot_pages(dom),
            populated: xen.populated_count(dom, frames),
            counters: xen.counters(dom),
            leaked: xen.leaked_pages(dom),
            host_free: xen.host_free_pages(),
            grant_mappings: xen.grant_mappings(dom),
        }
    }
}

/// The memory server's state as its public accessors show it.
#[derive(Debug, PartialEq, Eq)]
pub struct MemoryView {
    stats: Stats,
    accounts: Vec<Option<ClientAccount>>,
    delivered: Vec<Vec<FrameRun>>,
    waiting: usize,
    quarantined: usize,
    notices: NoticeCounters,
}

impl MemoryView {
    /// The server's state, for its first `clients` clients.
    pub fn of(server: &MemoryHandler, clients: u16) -> MemoryView {
        let core = server.core();
        MemoryView {
            stats: core.stats(),
            accounts: (0..clients)
                .map(|c| core.client(ClientId(c)).copied())
                .collect(),
            delivered: (0..clients)
                .map(|c| core.delivered_runs(ClientId(c)).collect())
                .collect(),
            waiting: core.waiting_requests(),
            quarantined: server.quarantined_runs(),
            notices: server.notice_counters(),
        }
    }
}

/// The gateway's state apart from its refusal counters (which count the refusal itself).
#[derive(Debug, PartialEq, Eq)]
pub struct GatewayView {
    grants_mapped: usize,
    lent_frames: Vec<u64>,
    populated: Vec<u64>,
}

impl GatewayView {
    /// The gateway's state, with the frames lent to each of `borrowers`.
    pub fn of(gateway: &GatewayHandler, borrowers: &[Badge]) -> GatewayView {
        GatewayView {
            grants_mapped: gateway.grants_mapped(),
            lent_frames: borrowers.iter().map(|&b| gateway.lent_frames(b)).collect(),
            populated: gateway.populated_bits().to_vec(),
        }
    }
}

/// A server's state and the bytes of every shared region.
#[derive(Debug)]
pub struct View<S> {
    /// What the server's accessors and xen-sim show.
    pub state: S,
    /// Each region's bytes.
    pub regions: Vec<Vec<u8>>,
}

/// Panic, naming what changed, unless `after` is `before`: `reply` was a refusal.
pub fn assert_same<S: PartialEq + core::fmt::Debug>(
    before: &View<S>,
    after: &View<S>,
    reply: &impl core::fmt::Debug,
) {
    assert!(
        before.state == after.state,
        "a refused call ({reply:?}) changed the state:\nbefore {:?}\nafter  {:?}",
        before.state,
        after.state
    );
    for (region, (was, is)) in before.regions.iter().zip(&after.regions).enumerate() {
        if was == is {
            continue;
        }
        if let Some(at) = was.iter().zip(is).position(|(a, b)| a != b) {
            let end = (at + 32).min(was.len());
            panic!(
                "a refused call ({reply:?}) changed region {region} from byte {at}: {:?} -> {:?}",
                &was[at..end],
                &is[at..end]
            );
        }
    }
}

/// The bytes of every region `regions` names.
pub fn regions(runtime: &mut DeterministicRuntime, regions: &[LeaseId]) -> Vec<Vec<u8>> {
    regions
        .iter()
        .map(|&id| runtime.region(id).map(|r| r.to_vec()).unwrap_or_default())
        .collect()
}
