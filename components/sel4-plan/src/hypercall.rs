//! The hypercall capabilities: which Xen call each allows, and how its badge names it.
//!
//! The kernel's hypercall capability carries a badge `(hypercall << 32) | sub_op`; invoking it
//! makes the call only if x16 (the hypercall number) equals `badge >> 32` and x0 (the sub-op)
//! equals `badge & 0xffff_ffff`. Badge 0, the root task's unbadged master, allows nothing. The
//! gateway gets one capability per Xen call behind an op of the `Hypercall` interface some caller
//! of it is granted in the manifest, and nothing else holds one. The memory server's lend and
//! return notices make no Xen call and need no capability.

use ballast_interfaces::hypercall::HypercallOp;
use ballast_xen::abi::{
    CONSOLEIO_WRITE, EVTCHNOP_SEND, HYPERVISOR_CONSOLE_IO, HYPERVISOR_EVENT_CHANNEL_OP,
    HYPERVISOR_MEMORY_OP, HYPERVISOR_SCHED_OP, SCHEDOP_SHUTDOWN, XENMEM_CURRENT_RESERVATION,
    XENMEM_DECREASE_RESERVATION, XENMEM_INCREASE_RESERVATION, XENMEM_MAXIMUM_RESERVATION,
    XENMEM_POPULATE_PHYSMAP,
};
use ballast_xen::grant::{
    GNTTABOP_MAP_GRANT_REF, GNTTABOP_UNMAP_GRANT_REF, HYPERVISOR_GRANT_TABLE_OP,
};

use crate::cspace::Slot;

/// One Xen call: a hypercall number and the sub-operation in its first argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct XenCall {
    /// The hypercall number (x16).
    pub hypercall: u32,
    /// The sub-operation (x0).
    pub sub_op: u32,
}

impl XenCall {
    /// `console_io(CONSOLEIO_write)`.
    pub const CONSOLE_WRITE: XenCall = XenCall {
        hypercall: HYPERVISOR_CONSOLE_IO,
        sub_op: CONSOLEIO_WRITE,
    };

    /// `memory_op(XENMEM_populate_physmap)`.
    pub const POPULATE_PHYSMAP: XenCall = XenCall::memory_op(XENMEM_POPULATE_PHYSMAP);

    /// `memory_op(sub_op)`.
    pub const fn memory_op(sub_op: u32) -> XenCall {
        XenCall {
            hypercall: HYPERVISOR_MEMORY_OP,
            sub_op,
        }
    }

    /// The Xen call behind an op of the `Hypercall` interface (none for the lend and return
    /// notices, which the gateway answers from its own book).
    pub const fn of(op: HypercallOp) -> Option<XenCall> {
        Some(match op {
            HypercallOp::CurrentReservation => XenCall::memory_op(XENMEM_CURRENT_RESERVATION),
            HypercallOp::MaximumReservation => XenCall::memory_op(XENMEM_MAXIMUM_RESERVATION),
            HypercallOp::IncreaseReservation => XenCall::memory_op(XENMEM_INCREASE_RESERVATION),
            HypercallOp::DecreaseReservation => XenCall::memory_op(XENMEM_DECREASE_RESERVATION),
            HypercallOp::PopulatePhysmap => XenCall::POPULATE_PHYSMAP,
            HypercallOp::EventSend => XenCall {
                hypercall: HYPERVISOR_EVENT_CHANNEL_OP,
                sub_op: EVTCHNOP_SEND,
            },
            HypercallOp::Shutdown => XenCall {
                hypercall: HYPERVISOR_SCHED_OP,
                sub_op: SCHEDOP_SHUTDOWN,
            },
            HypercallOp::GrantMap => XenCall {
                hypercall: HYPERVISOR_GRANT_TABLE_OP,
                sub_op: GNTTABOP_MAP_GRANT_REF,
            },
            HypercallOp::GrantUnmap => XenCall {
                hypercall: HYPERVISOR_GRANT_TABLE_OP,
                sub_op: GNTTABOP_UNMAP_GRANT_REF,
            },
            HypercallOp::LendNotice | HypercallOp::ReturnNotice => return None,
        })
    }

    /// The badge of the capability that allows this call.
    pub const fn badge(self) -> u64 {
        ((self.hypercall as u64) << 32) | self.sub_op as u64
    }

    /// The call a capability badged `badge` allows (none for badge 0, the master).
    pub const fn from_badge(badge: u64) -> Option<XenCall> {
        if badge == 0 {
            None
        } else {
            Some(XenCall {
                hypercall: (badge >> 32) as u32,
                sub_op: badge as u32,
            })
        }
    }
}

/// One hypercall capability in the gateway's CSpace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HypercallCap {
    /// The call it allows.
    pub call: XenCall,
    /// Where it sits.
    pub slot: Slot,
}

impl HypercallCap {
    /// Its badge.
    pub const fn badge(&self) -> u64 {
        self.call.badge()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_name_the_hypercall_above_the_sub_op() {
        let call = |op| XenCall::of(op).expect("a Xen call");
        let decrease = call(HypercallOp::DecreaseReservation);
        assert_eq!(decrease.badge(), (12 << 32) | 1);
        assert_eq!(call(HypercallOp::IncreaseReservation).badge(), 12 << 32);
        assert_eq!(
            call(HypercallOp::CurrentReservation).badge(),
            (12 << 32) | 3
        );
        assert_eq!(
            call(HypercallOp::MaximumReservation).badge(),
            (12 << 32) | 4
        );
        assert_eq!(call(HypercallOp::PopulatePhysmap).badge(), (12 << 32) | 6);
        assert_eq!(call(HypercallOp::EventSend).badge(), (32 << 32) | 4);
        assert_eq!(call(HypercallOp::Shutdown).badge(), (29 << 32) | 2);
        assert_eq!(call(HypercallOp::GrantMap).badge(), 20 << 32);
        assert_eq!(call(HypercallOp::GrantUnmap).badge(), (20 << 32) | 1);
        assert_eq!(XenCall::of(HypercallOp::LendNotice), None);
        assert_eq!(XenCall::of(HypercallOp::ReturnNotice), None);
        assert_eq!(XenCall::CONSOLE_WRITE.badge(), 18 << 32);
        assert_eq!(XenCall::from_badge(decrease.badge()), Some(decrease));
        assert_eq!(XenCall::from_badge(0), None);
    }

    #[test]
    fn every_op_is_a_distinct_call() {
        for (index, op) in HypercallOp::ALL.iter().enumerate() {
            for other in &HypercallOp::ALL[index + 1..] {
                if let (Some(call), Some(other_call)) = (XenCall::of(*op), XenCall::of(*other)) {
                    assert_ne!(call, other_call, "{op:?} {other:?}");
                }
            }
        }
    }
}
