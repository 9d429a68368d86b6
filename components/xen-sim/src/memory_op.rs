//! The raw `memory_op` entry, modelled on `do_memory_op` in Xen's `common/memory.c`: the argument
//! forms Xen sees (pointers that may be NULL or bad), the continuation start in the command bits
//! above `MEMOP_EXTENT_SHIFT`, the domain lookup with its permission check, `mem_flags` decoding,
//! and the return conventions (extent counts for ops 0, 1, 6; errnos for the rest).

use ballast_xen::abi::{
    DOMID_SELF, MEMOP_CMD_MASK, MEMOP_EXTENT_SHIFT, XENMEM_CURRENT_RESERVATION,
    XENMEM_DECREASE_RESERVATION, XENMEM_INCREASE_RESERVATION, XENMEM_MAXIMUM_RAM_PAGE,
    XENMEM_MAXIMUM_RESERVATION, XENMEM_POPULATE_PHYSMAP,
};
use ballast_xen::mem_flags::{
    XENMEMF_EXACT_NODE_REQUEST, XENMEMF_POPULATE_ON_DEMAND, XENMEMF_VNODE,
};
use ballast_xen::{Gfn, ReservationOp, XenErrno, PAGE_SHIFT};

use crate::state::State;

/// `extent_start` of a reservation, as the guest passed it.
#[derive(Debug)]
pub enum ExtentList<'a> {
    /// A NULL handle.
    Null,
    /// A pointer Xen cannot read or write.
    Bad,
    /// A readable, writable list. If shorter than `nr_extents`, reading past its end faults: as
    /// for any PVH guest, Xen checks the list only as it reads it, so the extents before the
    /// fault are done.
    Frames(&'a mut [Gfn]),
}

impl ExtentList<'_> {
    /// Entry `index`, or `None` where reading it faults.
    pub(crate) fn read(&self, index: u64) -> Option<u64> {
        match self {
            ExtentList::Frames(frames) => usize::try_from(index)
                .ok()
                .and_then(|i| frames.get(i))
                .map(|g| g.0),
            ExtentList::Null | ExtentList::Bad => None,
        }
    }
}

/// `struct xen_memory_reservation` with its list pointer made explicit.
#[derive(Debug)]
pub struct Reservation<'a> {
    /// The extent list.
    pub extent_start: ExtentList<'a>,
    /// `nr_extents`.
    pub nr_extents: u64,
    /// `extent_order`.
    pub extent_order: u32,
    /// `mem_flags`.
    pub mem_flags: u32,
    /// `domid`.
    pub domid: u16,
}

/// The second argument of `memory_op`, as the command would read it.
#[derive(Debug)]
pub enum MemoryOpArg<'a> {
    /// A readable `xen_memory_reservation` (ops 0, 1, 6).
    Reservation(Reservation<'a>),
    /// A readable `domid_t` (ops 3, 4).
    Domid(u16),
    /// A pointer Xen cannot read. (An argument of the wrong kind for the command counts as this.)
    BadPointer,
}

/// Xen's raw answers for the errnos `memory_op` gives: the negated errno.
const RAW_EPERM: i64 = -(XenErrno::EPERM.0 as i64);
const RAW_ESRCH: i64 = -(XenErrno::ESRCH.0 as i64);
const RAW_EFAULT: i64 = -(XenErrno::EFAULT.0 as i64);
const RAW_EINVAL: i64 = -(XenErrno::EINVAL.0 as i64);
const RAW_ENOSYS: i64 = -(XenErrno::ENOSYS.0 as i64);

/// `MAX_NUMNODES` of a default x86 build.
const MAX_NUMNODES: u32 = 64;

/// The largest `nr_extents` whose continuation fits in the command (`UINT_MAX >> 6`).
const MAX_NR_EXTENTS: u64 = (u32::MAX >> MEMOP_EXTENT_SHIFT) as u64;

/// The allocation constraints `construct_memop_from_reservation` derives from `mem_flags`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AllocFlags {
    /// Allocate below `2^bits` bytes.
    pub address_bits: Option<u8>,
    /// Allocate on exactly this node.
    pub exact_node: Option<u32>,
}

/// How the target domain of a call resolved.
enum Target {
    Found(u16),
    Unknown,
    Denied,
}

impl State {
    /// `do_memory_op(cmd, arg)` issued by domain `caller`.
    pub fn memory_op(&mut self, caller: u16, cmd: u64, arg: MemoryOpArg<'_>) -> i64 {
        let start = cmd >> MEMOP_EXTENT_SHIFT;
        let op = (cmd & MEMOP_CMD_MASK as u64) as u32;
        let Some(caller_dom) = self.domains.get_mut(&caller) else {
            return RAW_ESRCH;
        };
        if caller_dom.pod.crashed().is_some() {
            // A crashed domain runs no more: nothing it could ask reaches Xen.
            return RAW_ESRCH;
        }
        // Counters of calls and extents: a u64 does not fill in any run, so saturating is exact.
        let counters = &mut caller_dom.counters;
        match op {
            XENMEM_INCREASE_RESERVATION => {
                counters.increase_calls = counters.increase_calls.saturating_add(1)
            }
            XENMEM_DECREASE_RESERVATION => {
                counters.decrease_calls = counters.decrease_calls.saturating_add(1)
            }
            XENMEM_POPULATE_PHYSMAP => {
                counters.populate_calls = counters.populate_calls.saturating_add(1)
            }
            XENMEM_CURRENT_RESERVATION => {
                counters.current_calls = counters.current_calls.saturating_add(1)
            }
            XENMEM_MAXIMUM_RESERVATION => {
                counters.maximum_calls = counters.maximum_calls.saturating_add(1)
            }
            _ => counters.other_calls = counters.other_calls.saturating_add(1),
        }
        let order = match &arg {
            MemoryOpArg::Reservation(r) => r.extent_order,
            _ => 0,
        };
        let answer = self.answer(caller, op, start, arg);
        let reservation = ReservationOp::from_raw(op);
        let completed = match reservation {
            Some(_) => u64::try_from(answer).map_or(0, |reached| reached.saturating_sub(start)),
            None => 0,
        };
        let took = self
            .costs
            .call_ns(reservation, order, completed)
            .saturating_add(self.costs.guest_call_ns(reservation));
        self.charge(caller, took);
        answer
    }

    /// The answer to `memory_op` command `op` from extent `start`.
    fn answer(&mut self, caller: u16, op: u32, start: u64, arg: MemoryOpArg<'_>) -> i64 {
        match (ReservationOp::from_raw(op), op) {
            (Some(op), _) => self.reservation_op(caller, op, start, arg),
            (None, XENMEM_CURRENT_RESERVATION | XENMEM_MAXIMUM_RESERVATION) => {
                self.reservation_query(caller, op, start, arg)
            }
            (None, XENMEM_MAXIMUM_RAM_PAGE) if start != 0 => RAW_EINVAL,
            (None, XENMEM_MAXIMUM_RAM_PAGE) => self.max_page as i64,
            (None, _) => RAW_ENOSYS,
        }
    }

    fn target(&self, caller: u16, domid: u16) -> Target {
        let id = if domid == DOMID_SELF { caller } else { domid };
        let privileged = self.domains.get(&caller).is_some_and(|d| d.privileged);
        match self.domains.contains_key(&id) {
            false => Target::Unknown,
            true if id == caller || privileged => Target::Found(id),
            true => Target::Denied,
        }
    }

    fn reservation_query(&mut self, caller: u16, op: u32, start: u64, arg: MemoryOpArg<'_>) -> i64 {
        if start != 0 {
            return RAW_EINVAL;
        }
        let MemoryOpArg::Domid(domid) = arg else {
            return RAW_EFAULT;
        };
        match self.target(caller, domid) {
            Target::Unknown => RAW_ESRCH,
            Target::Denied => RAW_EPERM,
            Target::Found(id) => {
                let d = &self.domains[&id];
                (if op == XENMEM_CURRENT_RESERVATION {
                    d.tot_pages
                } else {
                    d.max_pages
                }) as i64
            }
        }
    }

    fn reservation_op(
        &mut self,
        caller: u16,
        op: ReservationOp,
        start: u64,
        arg: MemoryOpArg<'_>,
    ) -> i64 {
        let (remaining, order) = match &arg {
            MemoryOpArg::Reservation(r) => (r.nr_extents.saturating_sub(start), r.extent_order),
            _ => (0, 0),
        };
        let faults = self.faults.begin_call(remaining, order);
        if faults.any() {
            if let Some(d) = self.domains.get_mut(&caller) {
                d.counters.faulted_calls = d.counters.faulted_calls.saturating_add(1);
            }
        }
        let MemoryOpArg::Reservation(r) = arg else {
            return start as i64;
        };
        if r.nr_extents > MAX_NR_EXTENTS || start >= r.nr_extents {
            return start as i64;
        }
        let Target::Found(target) = self.target(caller, r.domid) else {
            return start as i64;
        };
        let caller_dom = &self.domains[&caller];
        // Xen checks the order against the caller's limit, not the target's.
        let (privileged, max_order) = (caller_dom.privileged, caller_dom.extent_order_limit());
        let Some(flags) = self.alloc_flags(r.mem_flags, privileged) else {
            return start as i64;
        };
        let pod = op == ReservationOp::Populate && r.mem_flags & XENMEMF_POPULATE_ON_DEMAND != 0;
        let done = if pod || r.extent_order > max_order as u32 {
            start
        } else {
            self.run_reservation(target, op, &r, start, flags, &faults)
        };
        if done < r.nr_extents {
            if let Some(d) = self.domains.get_mut(&caller) {
                d.counters.short_calls = d.counters.short_calls.saturating_add(1);
            }
        }
        done as i64
    }

    /// `construct_memop_from_reservation`: `None` where Xen answers `-EINVAL` (and the call
    /// returns its start).
    fn alloc_flags(&self, mem_flags: u32, privileged: bool) -> Option<AllocFlags> {
        let mut flags = AllocFlags::default();
        let bits = (mem_flags & 0xff) as u8;
        // At most 64 + 12: neither step can overflow.
        let host_bits = u64::BITS
            .saturating_sub(self.max_page.saturating_sub(1).leading_zeros())
            .saturating_add(PAGE_SHIFT);
        if bits != 0 && (bits as u32) < host_bits {
            if bits as u32 <= PAGE_SHIFT {
                return None;
            }
            flags.address_bits = Some(bits);
        }
        if mem_flags & XENMEMF_VNODE != 0 {
            // No simulated domain has a virtual NUMA topology: Xen ignores the node then.
            return Some(flags);
        }
        let node_field = (mem_flags >> 8) & 0xff;
        let exact = mem_flags & XENMEMF_EXACT_NODE_REQUEST != 0;
        // The field holds the node plus one; 0 names none.
        let Some(node) = node_field.checked_sub(1) else {
            return Some(flags);
        };
        if privileged {
            if node >= MAX_NUMNODES {
                return None;
            }
            if exact {
                flags.exact_node = Some(node);
            }
        } else if exact {
            return None;
        }
        Some(flags)
    }
}
