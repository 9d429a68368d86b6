//! The three reservation ops, extent by extent, as `increase_reservation`, `decrease_reservation`
//! (with `guest_remove_page`) and `populate_physmap` do them for an auto-translated guest. Each
//! returns the index of the first extent it did not complete; what an extent it failed had
//! already done stays done.

use crate::domain::Domain;
use crate::faults::CallFaults;
use crate::frames::MfnRun;
use crate::host_pool::{HostPool, Stale};
use crate::memory_op::{AllocFlags, Reservation};
use crate::p2m::GFN_LIMIT;
use crate::state::State;
use ballast_xen::ReservationOp;

/// `alloc_domheap_pages(d, order, memflags)` followed by the accounting check of `assign_pages`:
/// the whole extent or nothing; its first machine frame and the stale contents of its pages.
fn allocate(
    pool: &mut HostPool,
    dom: &Domain,
    order: u32,
    flags: AllocFlags,
    faults: &CallFaults,
) -> Option<(u64, Stale)> {
    let count = 1u64 << order;
    let no_contiguous = faults.fragmented && order > 0;
    let impossible = !pool.could_hold(order, flags.address_bits);
    let no_such_node = flags.exact_node.is_some_and(|node| node != 0);
    if faults.exhausted || no_contiguous || impossible || no_such_node || !dom.has_room_for(count) {
        return None;
    }
    pool.alloc(order, flags.address_bits)
}

impl State {
    /// Run `op` on domain `target` from extent `start`; returns the index reached.
    pub(crate) fn run_reservation(
        &mut self,
        target: u16,
        op: ReservationOp,
        r: &Reservation<'_>,
        start: u64,
        flags: AllocFlags,
        faults: &CallFaults,
    ) -> u64 {
        let Some(dom) = self.domains.get_mut(&target) else {
            return start;
        };
        let pool = &mut self.pool;
        // The caller refused orders above the domain's limit (at most `XEN_MAX_ORDER`), so an
        // extent has at most 2^18 pages, and `i` counts up from `start` below `nr_extents`.
        let order = r.extent_order;
        let count = 1u64 << order;
        let mut i = start;
        while i < r.nr_extents {
            let faulted_here = faults.stop_after == Some(i.saturating_sub(start));
            let completed = match op {
                ReservationOp::Increase => {
                    // An auto-translated guest's list is neither read nor written: NULL is fine.
                    !faulted_here
                        && match allocate(pool, dom, order, flags, faults) {
                            Some((mfn, _)) => {
                                dom.unmapped.push(MfnRun {
                                    gfn: 0,
                                    mfn,
                                    len: count,
                                    descending: false,
                                });
                                // Allocated under `max_pages`: none of these sums saturates.
                                dom.tot_pages = dom.tot_pages.saturating_add(count);
                                dom.gfnless = dom.gfnless.saturating_add(count);
                                let counters = &mut dom.counters;
                                counters.pages_increased =
                                    counters.pages_increased.saturating_add(count);
                                counters.extents_increased =
                                    counters.extents_increased.saturating_add(1);
                                true
                            }
                            None => false,
                        }
                }
                ReservationOp::Populate => {
                    !faulted_here
                        && match r.extent_start.read(i) {
                            Some(gfn) => populate_extent(pool, dom, gfn, order, flags, faults),
                            None => false,
                        }
                }
                ReservationOp::Decrease => match r.extent_start.read(i) {
                    Some(gfn) => {
                        let limit = faulted_here
                            .then_some(faults.pages_into_failure.min(count.saturating_sub(1)));
                        decrease_extent(pool, dom, gfn, count, limit)
                    }
                    None => false,
                },
            };
            if !completed {
                break;
            }
            i = i.saturating_add(1);
        }
        i
    }
}

/// One extent of `populate_physmap`: allocate it whole, then map it at `gfn`.
fn populate_extent(
    pool: &mut HostPool,
    dom: &mut Domain,
    gfn: u64,
    order: u32,
    flags: AllocFlags,
    faults: &CallFaults,
) -> bool {
    let count = 1u64 << order;
    let Some(end) = gfn.checked_add(count).filter(|end| *end <= GFN_LIMIT) else {
        return false;
    };
    let Some((mfn, contents)) = allocate(pool, dom, order, flags, faults) else {
        return false;
    };
    let superpages = order >= 9 && gfn.is_multiple_of(512);
    dom.drop_pod_entries(gfn..end);
    dom.map(gfn..end, superpages, mfn, contents);
    dom.counters.extents_populated = dom.counters.extents_populated.saturating_add(1);
    true
}

/// One extent of `decrease_reservation`: remove its pages in order until one is not populated
/// (or, under an injected fault, after `limit` pages). Pages removed before the failure stay
/// removed.
fn decrease_extent(
    pool: &mut HostPool,
    dom: &mut Domain,
    gfn: u64,
    count: u64,
    limit: Option<u64>,
) -> bool {
    if dom.has_pod_entries() {
        return dom.pod_decrease_extent(pool, gfn, count, limit);
    }
    let end = gfn.saturating_add(count).min(GFN_LIMIT).max(gfn);
    let mut upto = dom.p2m.first_hole(gfn..end).unwrap_or(end);
    if let Some(limit) = limit {
        upto = upto.min(gfn.saturating_add(limit));
    }
    dom.release(gfn..upto, pool);
    // `upto` lies in `[gfn, gfn + count]`.
    let completed = upto.saturating_sub(gfn) == count;
    if completed {
        dom.counters.extents_decreased = dom.counters.extents_decreased.saturating_add(1);
    }
    completed
}
