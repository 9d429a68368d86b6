//! A PD's CSpace: one CNode, and what sits in which slot.
//!
//! seL4 5.0 facts this layout relies on:
//! - A capability pointer is a 64-bit word resolved from the thread's CSpace root: the CNode's
//!   guard is matched against the top bits, then `radix` bits index the slot. With a guard of
//!   [`CNODE_GUARD_BITS`] zero bits and a radix of [`CNODE_RADIX_BITS`], a slot's number is its
//!   capability pointer. The guard is set when the root task mints the CNode capability it installs
//!   as the thread's CSpace root (5.0's CNode cap data: guard size and guard value).
//! - Slot 0 stays empty: a null capability pointer names nothing.
//! - Without the MCS extensions (5.0's default), a thread's fault endpoint is a capability pointer
//!   looked up in the faulting thread's own CSpace when the fault happens, so each PD holds the
//!   badged capability to the root task's fault endpoint in [`FAULT_ENDPOINT`].
//! - A reply capability is implicit in the receiving thread; a server that answers later moves it
//!   into a slot of its own CNode (`seL4_CNode_SaveCaller`) and answers by sending to that slot.
//!   The reply slots are those; a reply token is the slot's number.

use crate::PlanError;

/// Index bits of every PD's CNode: 256 slots.
pub const CNODE_RADIX_BITS: u8 = 8;
/// Slots in every PD's CNode.
pub const CNODE_SLOTS: u16 = 1 << CNODE_RADIX_BITS;
/// Guard bits of every PD's CNode (value 0): guard and radix together consume a whole 64-bit
/// capability pointer.
pub const CNODE_GUARD_BITS: u8 = 64 - CNODE_RADIX_BITS;

/// The capability data that gives a PD's CSpace root its guard ([`CNODE_GUARD_BITS`] bits, value
/// 0), passed as `cspace_root_data` to `TCB_Configure` or as the badge of a CNode mint. 5.0's
/// `cnode_capdata` word holds the guard size in bits 2..8 and the guard in bits 8..26.
pub const CNODE_GUARD_DATA: u64 = (CNODE_GUARD_BITS as u64) << 2;

/// One slot of a PD's CNode; its number is the capability pointer the PD uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(pub u16);

impl Slot {
    /// The capability pointer that names this slot in the PD's CSpace.
    pub const fn cptr(self) -> u64 {
        self.0 as u64
    }
}

/// The PD's own TCB.
pub const TCB: Slot = Slot(1);
/// The PD's own CNode (its CSpace root, with the guard above).
pub const CNODE: Slot = Slot(2);
/// The PD's own VSpace (its page global directory).
pub const VSPACE: Slot = Slot(3);
/// The root task's fault endpoint, badged with the PD's fault badge
/// ([`crate::faults::fault_badge`]); the kernel sends the PD's faults through it.
pub const FAULT_ENDPOINT: Slot = Slot(4);
/// The endpoint the PD serves (empty in a PD that serves nothing): it receives calls here.
pub const ENDPOINT: Slot = Slot(5);
/// The PD's notification, bound to its TCB: notification bits (the timer's among them) arrive
/// while it waits on [`ENDPOINT`].
pub const NOTIFICATION: Slot = Slot(6);
/// The first slot past the fixed ones: the reply slots start here.
pub const FIRST_REPLY: Slot = Slot(7);

/// Reply slots of a server that answers every call at once (the gateway): the call in hand.
pub const IMMEDIATE_REPLY_SLOTS: u16 = 1;

/// Where one PD's capabilities sit past the fixed slots: reply slots, then one slot per endpoint
/// it holds in `EndpointId` order (its call endpoints, then its notification capabilities), then
/// its hypercall capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CSpaceLayout {
    /// Slots for saved reply capabilities, from [`FIRST_REPLY`].
    pub reply_slots: u16,
    /// Endpoints the PD holds: call endpoints and notification capabilities.
    pub endpoints: u16,
    /// Hypercall capabilities (the gateway only).
    pub hypercalls: u16,
}

impl CSpaceLayout {
    /// The layout, if it fits one CNode.
    pub const fn new(
        reply_slots: u16,
        endpoints: u16,
        hypercalls: u16,
    ) -> Result<CSpaceLayout, PlanError> {
        let used = FIRST_REPLY.0 as u32 + reply_slots as u32 + endpoints as u32 + hypercalls as u32;
        if used > CNODE_SLOTS as u32 {
            return Err(PlanError::CSpaceFull);
        }
        Ok(CSpaceLayout {
            reply_slots,
            endpoints,
            hypercalls,
        })
    }

    /// Reply slot `index` (`0..reply_slots`).
    pub const fn reply(&self, index: u16) -> Option<Slot> {
        if index < self.reply_slots {
            Some(Slot(FIRST_REPLY.0 + index))
        } else {
            None
        }
    }

    /// Whether `slot` is one of the reply slots (a reply token names one).
    pub const fn is_reply(&self, slot: Slot) -> bool {
        slot.0 >= FIRST_REPLY.0 && slot.0 < FIRST_REPLY.0 + self.reply_slots
    }

    /// The slot of the `index`-th endpoint the PD holds (`0..endpoints`).
    pub const fn endpoint(&self, index: u16) -> Option<Slot> {
        if index < self.endpoints {
            Some(Slot(FIRST_REPLY.0 + self.reply_slots + index))
        } else {
            None
        }
    }

    /// The slot of the `index`-th hypercall capability (`0..hypercalls`).
    pub const fn hypercall(&self, index: u16) -> Option<Slot> {
        if index < self.hypercalls {
            Some(Slot(
                FIRST_REPLY.0 + self.reply_slots + self.endpoints + index,
            ))
        } else {
            None
        }
    }

    /// The first slot nothing occupies.
    pub const fn first_free(&self) -> Slot {
        Slot(FIRST_REPLY.0 + self.reply_slots + self.endpoints + self.hypercalls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_and_radix_consume_a_whole_capability_pointer() {
        assert_eq!(
            u32::from(CNODE_GUARD_BITS) + u32::from(CNODE_RADIX_BITS),
            64
        );
        assert_eq!(CNODE_SLOTS, 256);
        assert_eq!((CNODE_GUARD_DATA >> 2) & 0x3f, 56);
        assert_eq!(CNODE_GUARD_DATA >> 8, 0, "guard value 0");
    }

    #[test]
    fn reply_endpoint_and_hypercall_slots_follow_each_other_without_overlap() {
        let layout = CSpaceLayout::new(9, 2, 4).expect("fits");
        assert_eq!(layout.reply(0), Some(FIRST_REPLY));
        assert_eq!(layout.reply(8), Some(Slot(15)));
        assert_eq!(layout.reply(9), None);
        assert!(layout.is_reply(Slot(15)) && !layout.is_reply(Slot(16)));
        assert!(!layout.is_reply(NOTIFICATION));
        assert_eq!(layout.endpoint(0), Some(Slot(16)));
        assert_eq!(layout.endpoint(1), Some(Slot(17)));
        assert_eq!(layout.endpoint(2), None);
        assert_eq!(layout.hypercall(0), Some(Slot(18)));
        assert_eq!(layout.hypercall(3), Some(Slot(21)));
        assert_eq!(layout.hypercall(4), None);
        assert_eq!(layout.first_free(), Slot(22));
    }

    #[test]
    fn a_layout_past_the_cnode_is_refused() {
        let fixed = FIRST_REPLY.0;
        assert!(CSpaceLayout::new(CNODE_SLOTS - fixed, 0, 0).is_ok());
        assert_eq!(
            CSpaceLayout::new(CNODE_SLOTS - fixed, 1, 0),
            Err(PlanError::CSpaceFull)
        );
        assert_eq!(
            CSpaceLayout::new(u16::MAX, u16::MAX, u16::MAX),
            Err(PlanError::CSpaceFull)
        );
    }
}
