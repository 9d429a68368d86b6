//! Helpers shared by the integration tests: raw reservation calls as a guest would issue them.

#![allow(dead_code)]

use ballast_xen::abi::DOMID_SELF;
use ballast_xen::Gfn;
use ballast_xen_sim::{
    DomId, DomainConfig, ExtentList, HostConfig, MemoryOpArg, Reservation, XenSim,
};

/// `XENMEM_increase_reservation`.
pub const INCREASE: u64 = 0;
/// `XENMEM_decrease_reservation`.
pub const DECREASE: u64 = 1;
/// `XENMEM_populate_physmap`.
pub const POPULATE: u64 = 6;

/// A reservation call on DOMID_SELF over `gfns`, one extent of `order` each.
pub fn call(sim: &XenSim, dom: DomId, op: u64, order: u32, gfns: &[u64]) -> i64 {
    call_with(sim, dom, op, 0, order, 0, DOMID_SELF, gfns)
}

/// A reservation call with every field chosen.
#[allow(clippy::too_many_arguments)]
pub fn call_with(
    sim: &XenSim,
    dom: DomId,
    op: u64,
    start: u64,
    order: u32,
    mem_flags: u32,
    domid: u16,
    gfns: &[u64],
) -> i64 {
    let mut frames: Vec<Gfn> = gfns.iter().map(|g| Gfn(*g)).collect();
    let r = Reservation {
        nr_extents: frames.len() as u64,
        extent_start: ExtentList::Frames(&mut frames),
        extent_order: order,
        mem_flags,
        domid,
    };
    sim.memory_op(dom, op | (start << 6), MemoryOpArg::Reservation(r))
}

/// A reservation whose list is given as is (NULL, bad, or any length) with `nr_extents`.
pub fn call_list(
    sim: &XenSim,
    dom: DomId,
    op: u64,
    order: u32,
    list: ExtentList<'_>,
    nr_extents: u64,
) -> i64 {
    let r = Reservation {
        extent_start: list,
        nr_extents,
        extent_order: order,
        mem_flags: 0,
        domid: DOMID_SELF,
    };
    sim.memory_op(dom, op, MemoryOpArg::Reservation(r))
}

/// `XENMEM_current_reservation` (3) or `XENMEM_maximum_reservation` (4) on `domid`.
pub fn query(sim: &XenSim, dom: DomId, op: u64, domid: u16) -> i64 {
    sim.memory_op(dom, op, MemoryOpArg::Domid(domid))
}

/// The x86 probe's dom0 (docs/XEN-BEHAVIOUR.md): current 32768 pages, maximum 65536, plenty free.
pub fn facts_host() -> (XenSim, DomId) {
    let sim = XenSim::new(HostConfig {
        free_pages: 1 << 20,
        ..HostConfig::default()
    });
    let dom = sim.create_domain(DomainConfig::domu(0..32768, 65536));
    (sim, dom)
}

/// `count` consecutive gfns from `first`.
pub fn run(first: u64, count: u64) -> Vec<u64> {
    (first..first + count).collect()
}
