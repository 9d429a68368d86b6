//! The root task's own CNode: its free slots, handed out in order (nothing is ever deleted).

use crate::RootError;

/// The free slots `[next, end)` of the root task's CNode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slots {
    next: u64,
    end: u64,
}

impl Slots {
    /// The free slots `[start, end)` (the boot information's `empty` region).
    pub const fn new(start: u64, end: u64) -> Slots {
        Slots { next: start, end }
    }

    /// `count` consecutive free slots; the first one's number.
    pub fn take(&mut self, count: u64) -> Result<u64, RootError> {
        let first = self.next;
        let next = first.checked_add(count).ok_or(RootError::OutOfSlots)?;
        if next > self.end {
            return Err(RootError::OutOfSlots);
        }
        self.next = next;
        Ok(first)
    }

    /// Slots still free.
    pub const fn left(&self) -> u64 {
        self.end - self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_handed_out_in_order_until_none_is_left() {
        let mut slots = Slots::new(100, 104);
        assert_eq!(slots.take(1), Ok(100));
        assert_eq!(slots.take(2), Ok(101));
        assert_eq!(slots.left(), 1);
        assert_eq!(slots.take(2), Err(RootError::OutOfSlots));
        assert_eq!(slots.take(1), Ok(103));
        assert_eq!(slots.take(1), Err(RootError::OutOfSlots));
        assert_eq!(slots.take(u64::MAX), Err(RootError::OutOfSlots));
    }
}
