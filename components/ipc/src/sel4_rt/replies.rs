//! The server's reply slots: the call in hand holds one from delivery, and keeps it when the
//! handler keeps its token (the runtime then saves the caller's reply capability there). A token
//! names its slot and the slot's generation, which moves on every time the slot is freed, so a
//! token kept past its call's end (answered, or its client dead) can never reach a later caller
//! of the same slot.

use crate::kernel::{Badge, LeaseDescriptor};

/// Bits of a token that name the slot.
const SLOT_BITS: u32 = 16;

/// A call a slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HeldCall {
    /// The caller's badge.
    pub badge: Badge,
    /// The lease it lent.
    pub lease: Option<LeaseDescriptor>,
    /// Whether its reply capability has been moved into the slot (else it is the call in hand,
    /// its reply capability still in the caller slot).
    pub saved: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    generation: u64,
    call: Option<HeldCall>,
}

/// `REPLIES` reply slots.
#[derive(Debug)]
pub(crate) struct ReplySlots<const REPLIES: usize> {
    slots: [Slot; REPLIES],
}

impl<const REPLIES: usize> ReplySlots<REPLIES> {
    pub fn new() -> ReplySlots<REPLIES> {
        ReplySlots {
            slots: [Slot::default(); REPLIES],
        }
    }

    fn token(index: usize, generation: u64) -> u64 {
        generation << SLOT_BITS | index as u64
    }

    /// Take a free slot for a call arriving from `badge`; its token, or `None` if every slot is
    /// held.
    pub fn open(&mut self, badge: Badge, lease: Option<LeaseDescriptor>) -> Option<u64> {
        let (index, slot) = (self.slots.iter_mut().enumerate()).find(|(_, s)| s.call.is_none())?;
        slot.call = Some(HeldCall {
            badge,
            lease,
            saved: false,
        });
        Some(Self::token(index, slot.generation))
    }

    /// The slot index and call of `token`, if it is still held.
    pub fn held(&self, token: u64) -> Option<(u16, HeldCall)> {
        let index = usize::try_from(token & ((1 << SLOT_BITS) - 1)).ok()?;
        let slot = self.slots.get(index)?;
        let call = slot
            .call
            .filter(|_| slot.generation == token >> SLOT_BITS)?;
        Some((index as u16, call))
    }

    /// Mark the call of slot `index` as saved there.
    pub fn mark_saved(&mut self, index: u16) {
        if let Some(call) = self
            .slots
            .get_mut(usize::from(index))
            .and_then(|s| s.call.as_mut())
        {
            call.saved = true;
        }
    }

    /// Free slot `index`: its token goes stale.
    pub fn free(&mut self, index: u16) {
        if let Some(slot) = self.slots.get_mut(usize::from(index)) {
            slot.call = None;
            slot.generation = slot.generation.wrapping_add(1) & (u64::MAX >> SLOT_BITS);
        }
    }

    /// The slots holding a saved call from `badge`.
    pub fn saved_from(&self, badge: Badge) -> impl Iterator<Item = u16> + '_ {
        (self.slots.iter().enumerate())
            .filter(move |(_, s)| s.call.is_some_and(|c| c.saved && c.badge == badge))
            .map(|(index, _)| index as u16)
    }

    /// The leases lent by calls from `badge` still held.
    pub fn leases_of(&self, badge: Badge) -> impl Iterator<Item = &LeaseDescriptor> + '_ {
        (self.slots.iter())
            .filter_map(|s| s.call.as_ref())
            .filter(move |c| c.badge == badge)
            .filter_map(|c| c.lease.as_ref())
    }

    /// Calls held, saved or in hand.
    pub fn held_count(&self) -> usize {
        self.slots.iter().filter(|s| s.call.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_slot_until_the_slot_is_freed() {
        let mut slots = ReplySlots::<2>::new();
        let first = slots.open(Badge(1), None).expect("free");
        let second = slots.open(Badge(2), None).expect("free");
        assert_eq!(slots.open(Badge(3), None), None, "both held");
        assert_eq!(
            slots.held(first).map(|(i, c)| (i, c.badge)),
            Some((0, Badge(1)))
        );
        slots.free(0);
        assert_eq!(slots.held(first), None, "stale once freed");
        let reused = slots.open(Badge(3), None).expect("slot 0 again");
        assert_ne!(reused, first, "a new generation");
        assert_eq!(
            slots.held(first),
            None,
            "the old token does not reach the new caller"
        );
        assert_eq!(slots.held(reused).map(|(i, _)| i), Some(0));
        assert_eq!(slots.held(second).map(|(i, _)| i), Some(1));
        assert_eq!(slots.held(u64::from(u16::MAX)), None, "no such slot");
    }

    #[test]
    fn saved_calls_and_leases_are_found_by_badge() {
        let mut slots = ReplySlots::<3>::new();
        let lease = LeaseDescriptor {
            region: 1,
            writable: 0,
            offset: 0,
            len: 8,
            reserved: 0,
        };
        slots.open(Badge(1), Some(lease)).expect("free");
        slots.open(Badge(2), None).expect("free");
        slots.open(Badge(1), None).expect("free");
        slots.mark_saved(0);
        slots.mark_saved(1);
        assert_eq!(slots.saved_from(Badge(1)).collect::<Vec<_>>(), [0]);
        assert_eq!(slots.leases_of(Badge(1)).collect::<Vec<_>>(), [&lease]);
        assert_eq!(slots.leases_of(Badge(2)).count(), 0);
        assert_eq!(slots.held_count(), 3);
    }
}
