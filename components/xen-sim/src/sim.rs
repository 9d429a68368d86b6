//! `XenSim`: the cheap, shareable handle to one simulated host, with the raw `memory_op` entry,
//! domain set-up and everything tests inspect.

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use ballast_xen::abi::DOMID_SELF;

use crate::config::{DomId, DomainConfig, HostConfig};
use crate::cost::CostModel;
use crate::counters::Counters;
use crate::domain::Domain;
use crate::error::SimError;
use crate::faults::{Fault, StandingFaults};
use crate::host_pool::HostPool;
use crate::hypervisor::SimHypervisor;
use crate::memory_op::MemoryOpArg;
use crate::state::State;

/// What a ballooned gfn reads as in a PVH guest (`docs/XEN-BEHAVIOUR.md#ballooned-read-x86`).
pub const BALLOONED_READ: u64 = u64::MAX;

/// A simulated Xen host. Clones share the same host.
#[derive(Clone)]
pub struct XenSim {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for XenSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("XenSim")
            .field("domains", &s.domains.len())
            .field("host_free_pages", &s.pool.free_pages())
            .field("next_call", &s.faults.next_call())
            .finish()
    }
}

impl XenSim {
    /// A host with `config.free_pages` free and no domains.
    pub fn new(config: HostConfig) -> XenSim {
        XenSim {
            state: Arc::new(Mutex::new(State::new(config))),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves the state consistent per operation.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn with_domain<T>(&self, dom: DomId, f: impl FnOnce(&Domain) -> T) -> Option<T> {
        self.lock().domains.get(&dom.0).map(f)
    }

    pub(crate) fn with_domain_mut<T>(
        &self,
        dom: DomId,
        f: impl FnOnce(&mut Domain) -> T,
    ) -> Result<T, SimError> {
        self.lock()
            .domains
            .get_mut(&dom.0)
            .map(f)
            .ok_or(SimError::NoSuchDomain)
    }

    /// Create a domain with its boot memory populated (not taken from the host pool).
    pub fn try_create_domain(&self, config: DomainConfig) -> Result<DomId, SimError> {
        self.add_domain(|pool| Domain::boot(&config, pool))
    }

    /// Build a domain with `build` (its boot memory placed by the pool) and give it the next id.
    pub(crate) fn add_domain(
        &self,
        build: impl FnOnce(&mut HostPool) -> Result<Domain, SimError>,
    ) -> Result<DomId, SimError> {
        let mut s = self.lock();
        let id = s.next_domid;
        let next = id.checked_add(1).filter(|_| id < DOMID_SELF);
        let Some(next) = next else {
            return Err(SimError::DomainIdsExhausted);
        };
        let domain = build(&mut s.pool)?;
        // Below 2^40 frames a domain, fewer than 2^15 domains: only a host given nearly 2^64 free
        // pages could saturate, and `max_page` then still says "every address".
        s.max_page = s.max_page.saturating_add(domain.tot_pages);
        s.domains.insert(id, domain);
        s.next_domid = next;
        Ok(DomId(id))
    }

    /// Create domain 0, the hardware and control domain, as Xen builds it at boot: id 0 (calls
    /// may name it by that id or by `DOMID_SELF`), privileged, extents up to
    /// [`crate::DOM0_MAX_ORDER`], its boot memory populated (not taken from the host pool). A
    /// host has one: a second is refused.
    pub fn create_dom0(&self, config: DomainConfig) -> Result<DomId, SimError> {
        let mut s = self.lock();
        if s.domains.contains_key(&0) {
            return Err(SimError::Dom0Exists);
        }
        let mut domain = Domain::boot(&config, &mut s.pool)?;
        domain.privileged = true;
        domain.hardware = true;
        s.max_page = s.max_page.saturating_add(domain.tot_pages);
        s.domains.insert(0, domain);
        Ok(DomId(0))
    }

    /// Create a domain with its boot memory populated (not taken from the host pool). Ids start
    /// at 1 and are never reused.
    ///
    /// # Panics
    /// When all 32751 domain ids below `DOMID_SELF` have been used; see
    /// [`XenSim::try_create_domain`].
    pub fn create_domain(&self, config: DomainConfig) -> DomId {
        match self.try_create_domain(config) {
            Ok(id) => id,
            Err(e) => panic!("create_domain: {e}"),
        }
    }

    /// Destroy a domain: all its pages go back to the host pool, scrubbed (Xen scrubs the pages
    /// of a dying domain).
    pub fn destroy_domain(&self, dom: DomId) -> Result<(), SimError> {
        let mut s = self.lock();
        let domain = s.domains.remove(&dom.0).ok_or(SimError::NoSuchDomain)?;
        s.events.remove(&dom.0);
        s.grants.remove(&dom.0);
        domain.release_all(&mut s.pool);
        Ok(())
    }

    /// Make `dom` a control domain (or not): it may then act on other domains, name NUMA nodes
    /// and use extents up to [`crate::CTLDOM_MAX_ORDER`], as dom0 can.
    pub fn set_privileged(&self, dom: DomId, privileged: bool) -> Result<(), SimError> {
        self.with_domain_mut(dom, |d| d.privileged = privileged)
    }

    /// The `Hypervisor` backend of domain `dom`: every call is issued as `DOMID_SELF` by `dom`.
    pub fn hypervisor(&self, dom: DomId) -> SimHypervisor {
        SimHypervisor::new(self.clone(), dom)
    }

    /// `HYPERVISOR_memory_op(cmd, arg)` issued by domain `caller`, answered as Xen 4.17 answers
    /// it. A caller that does not exist gets `-ESRCH`.
    pub fn memory_op(&self, caller: DomId, cmd: u64, arg: MemoryOpArg<'_>) -> i64 {
        self.lock().memory_op(caller.0, cmd, arg)
    }

    /// Record console output of `dom`.
    pub fn console_write(&self, dom: DomId, bytes: &[u8]) -> Result<(), SimError> {
        self.with_domain_mut(dom, |d| d.console_write(bytes))
    }

    /// The most recent console output of `dom` (up to 64 KiB).
    pub fn console_output(&self, dom: DomId) -> Option<Vec<u8>> {
        self.with_domain(dom, |d| d.console.clone())
    }

    /// `tot_pages`: what `XENMEM_current_reservation` answers.
    pub fn tot_pages(&self, dom: DomId) -> Option<u64> {
        self.with_domain(dom, |d| d.tot_pages)
    }

    /// `max_pages`: what `XENMEM_maximum_reservation` answers.
    pub fn max_pages(&self, dom: DomId) -> Option<u64> {
        self.with_domain(dom, |d| d.max_pages)
    }

    /// The largest extent order `dom` may use in its reservation calls (Xen's `max_order()`).
    pub fn extent_order_limit(&self, dom: DomId) -> Option<u8> {
        self.with_domain(dom, Domain::extent_order_limit)
    }

    /// Set `max_pages` (as the toolstack's `xl mem-max` does). Pages already above it stay.
    pub fn set_max_pages(&self, dom: DomId, max_pages: u64) -> Result<(), SimError> {
        self.with_domain_mut(dom, |d| d.max_pages = max_pages)
    }

    /// Whether `gfn` of `dom` is populated (a PoD entry counts: the guest sees memory there).
    pub fn is_populated(&self, dom: DomId, gfn: u64) -> Option<bool> {
        self.with_domain(dom, |d| d.p2m.is_populated(gfn) || d.pod.is_entry(gfn))
    }

    /// Populated gfns of `dom` in `gfns` (PoD entries included).
    pub fn populated_count(&self, dom: DomId, gfns: Range<u64>) -> Option<u64> {
        self.with_domain(dom, |d| {
            // Populated gfns and PoD entries are disjoint gfns: the sum is at most 2^40.
            d.p2m.count(gfns.clone()).saturating_add(d.pod.count(gfns))
        })
    }

    /// The machine frame (MFN) behind populated `gfn` of `dom`, if any.
    pub fn machine_frame(&self, dom: DomId, gfn: u64) -> Option<u64> {
        self.with_domain(dom, |d| d.frames.mfn(gfn)).flatten()
    }

    /// Whether 2 MiB chunk `chunk` (gfns `chunk * 512 ..`) of `dom` is mapped by an intact
    /// superpage.
    pub fn superpage_intact(&self, dom: DomId, chunk: u64) -> Option<bool> {
        self.with_domain(dom, |d| d.p2m.is_intact(chunk))
    }

    /// Free pages in the host pool.
    pub fn host_free_pages(&self) -> u64 {
        self.lock().pool.free_pages()
    }

    /// The counters of `dom`.
    pub fn counters(&self, dom: DomId) -> Option<Counters> {
        self.with_domain(dom, |d| d.counters())
    }

    /// Pages `dom` owns that no gfn maps any more, lost by populating over populated gfns.
    pub fn leaked_pages(&self, dom: DomId) -> Option<u64> {
        self.with_domain(dom, |d| d.leaked)
    }

    /// Pages increase_reservation gave `dom` without a gfn.
    pub fn gfnless_pages(&self, dom: DomId) -> Option<u64> {
        self.with_domain(dom, |d| d.gfnless)
    }

    /// Fill populated page `gfn` of `dom` with `word` (0 is a scrubbed page). A PoD entry is
    /// backed from the cache first; with the cache empty the domain crashes.
    pub fn write_page(&self, dom: DomId, gfn: u64, word: u64) -> Result<(), SimError> {
        self.with_domain_mut(dom, |d| {
            d.touch(gfn..gfn.saturating_add(1))
                .map_err(|_| SimError::DomainCrashed)?;
            if d.p2m.is_populated(gfn) {
                d.contents.write(gfn, word);
                Ok(())
            } else {
                Err(SimError::NotPopulated)
            }
        })?
    }

    /// The guest zeroes the pages at `gfns` of `dom` (a scrub): they read 0 afterwards. The
    /// simulator's work is per page ever written in the range, not per page of the range (and
    /// per chunk holding PoD entries, which the stores back from the cache: with the cache empty
    /// the domain crashes); the guest's time, charged by the cost model, is per page of the range.
    pub fn zero_pages(&self, dom: DomId, gfns: Range<u64>) -> Result<(), SimError> {
        let pages = gfns.end.saturating_sub(gfns.start);
        let mut s = self.lock();
        let d = s.domains.get_mut(&dom.0).ok_or(SimError::NoSuchDomain)?;
        d.touch(gfns.clone()).map_err(|_| SimError::DomainCrashed)?;
        d.contents.take(gfns);
        let took = s.costs.scrub_ns(pages);
        s.charge(dom.0, took);
        Ok(())
    }

    /// Charge calls and scrubs by `costs` from now on ([`CostModel::X86_64`] until set).
    pub fn set_cost_model(&self, costs: CostModel) {
        self.lock().costs = costs;
    }

    /// The cost model in force.
    pub fn cost_model(&self) -> CostModel {
        self.lock().costs
    }

    /// The time `dom` has spent in `memory_op` calls and scrubbing pages since the last call of
    /// this (by the cost model); the count starts again from 0.
    pub fn take_busy_ns(&self, dom: DomId) -> u64 {
        self.lock().busy_ns.remove(&dom.0).unwrap_or(0)
    }

    /// The fill word of `gfn` of `dom`: what the page holds if populated, all ones if not. A PoD
    /// entry is backed from the cache first (and reads 0); `None` if there is no such domain or
    /// it has crashed (also by this read, with the PoD cache empty).
    pub fn read_page(&self, dom: DomId, gfn: u64) -> Option<u64> {
        self.with_domain_mut(dom, |d| {
            d.touch(gfn..gfn.saturating_add(1)).ok()?;
            Some(if d.p2m.is_populated(gfn) {
                d.contents.read(gfn)
            } else {
                BALLOONED_READ
            })
        })
        .ok()
        .flatten()
    }

    /// Plan a fault (see [`Fault`] for how calls are numbered).
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.plan(fault);
    }

    /// Replace the standing faults (see [`StandingFaults`]).
    pub fn set_standing_faults(&self, standing: StandingFaults) {
        self.lock().faults.set_standing(standing);
    }

    /// Set the probability of a random fault per reservation call.
    pub fn set_random_fault_probability(&self, probability: f64) {
        self.lock().faults.set_probability(probability);
    }

    /// The number the next reservation call (op 0, 1 or 6) will get.
    pub fn next_call(&self) -> u64 {
        self.lock().faults.next_call()
    }

    /// Approximate heap bytes the simulator holds (P2Ms, contents, stale pool contents).
    pub fn footprint_bytes(&self) -> usize {
        let s = self.lock();
        s.domains
            .values()
            .map(Domain::footprint_bytes)
            .fold(s.pool.footprint_bytes(), usize::saturating_add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handle_is_shared_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<XenSim>();
        let sim = XenSim::new(HostConfig {
            free_pages: 7,
            ..HostConfig::default()
        });
        let other = sim.clone();
        let d = other.create_domain(DomainConfig::domu(0..4, 8));
        assert_eq!(sim.tot_pages(d), Some(4));
        assert_eq!(d, DomId(1));
        assert_eq!(sim.tot_pages(DomId(9)), None);
    }

    #[test]
    fn pages_are_written_only_where_populated_and_holes_read_all_ones() {
        let sim = XenSim::new(HostConfig::default());
        let d = sim.create_domain(DomainConfig::domu(0..4, 8));
        assert_eq!(sim.write_page(d, 2, 0x55), Ok(()));
        assert_eq!(sim.read_page(d, 2), Some(0x55));
        assert_eq!(sim.read_page(d, 3), Some(0));
        assert_eq!(sim.write_page(d, 4, 1), Err(SimError::NotPopulated));
        assert_eq!(sim.read_page(d, 4), Some(BALLOONED_READ));
        assert_eq!(sim.write_page(DomId(5), 0, 1), Err(SimError::NoSuchDomain));
    }

    #[test]
    fn a_destroyed_domain_returns_its_pages_scrubbed() {
        let sim = XenSim::new(HostConfig {
            free_pages: 10,
            ..HostConfig::default()
        });
        let d = sim.create_domain(DomainConfig::domu(0..4, 8));
        sim.write_page(d, 0, 9).unwrap();
        assert_eq!(sim.destroy_domain(d), Ok(()));
        assert_eq!(sim.host_free_pages(), 14);
        assert_eq!(sim.destroy_domain(d), Err(SimError::NoSuchDomain));
        assert_eq!(sim.memory_op(d, 3, MemoryOpArg::Domid(DOMID_SELF)), -3);
    }
}
