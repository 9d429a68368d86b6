//! Everything the simulator holds behind its lock: the host pool, the domains, the fault state.

use std::collections::BTreeMap;

use crate::config::HostConfig;
use crate::cost::CostModel;
use crate::domain::Domain;
use crate::events::DomainEvents;
use crate::faults::FaultState;
use crate::grants::DomainGrants;
use crate::host_pool::HostPool;

/// The simulated hypervisor's state.
#[derive(Debug)]
pub struct State {
    /// Free host memory, shared by all domains.
    pub pool: HostPool,
    /// Domains by id.
    pub domains: BTreeMap<u16, Domain>,
    /// Planned and random faults, and the call counter.
    pub faults: FaultState,
    /// `max_page`: frames the host knows of (free pool plus boot memory handed out).
    pub max_page: u64,
    /// The id the next domain gets.
    pub next_domid: u16,
    /// Event channels and shutdowns, by domain id (made on a domain's first use of them).
    pub(crate) events: BTreeMap<u16, DomainEvents>,
    /// Grant tables and grant mappings, by domain id (made on a domain's first use of them).
    pub(crate) grants: BTreeMap<u16, DomainGrants>,
    /// What calls and scrubs cost in time.
    pub(crate) costs: CostModel,
    /// Time each domain spent in Xen or scrubbing since it was last taken, by domain id.
    pub(crate) busy_ns: BTreeMap<u16, u64>,
}

impl State {
    /// A host with no domains.
    pub fn new(config: HostConfig) -> State {
        State {
            pool: HostPool::new(
                config.free_pages,
                config.low_memory_bits,
                config.largest_free_order,
            ),
            domains: BTreeMap::new(),
            faults: FaultState::new(config.seed, config.faults, config.random_fault_probability),
            max_page: config.free_pages,
            next_domid: 1,
            events: BTreeMap::new(),
            grants: BTreeMap::new(),
            costs: CostModel::default(),
            busy_ns: BTreeMap::new(),
        }
    }

    /// Add `ns` to the time domain `dom` has spent.
    pub(crate) fn charge(&mut self, dom: u16, ns: u64) {
        let busy = self.busy_ns.entry(dom).or_default();
        *busy = busy.saturating_add(ns);
    }
}
