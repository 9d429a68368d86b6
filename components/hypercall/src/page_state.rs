//! What the gateway knows of its callers' RAM: one bit per frame of every range a caller owns,
//! set while Xen holds the frame populated. Seeded at boot from the RAM the image found populated,
//! then kept in step with Xen's answers: the completed prefix of each populate and release (whole
//! extents), and, where Xen's answer leaves the state of frames unknown (a release of extents of
//! order > 0 that failed part-way, which may have freed the failed extent's leading pages; an
//! answer out of convention), the next reading of Xen's count settles them, as the memory server
//! settles its own books (`docs/XEN-BEHAVIOUR.md#failed-superpage-decrease`).
//!
//! With it the gateway refuses a populate naming a populated frame (Xen would map a fresh page
//! there and the old one would leak: `docs/XEN-BEHAVIOUR.md#populate-populated-leaks`) and a
//! release naming an unpopulated one, and, while some frames are unsettled, any reservation: the
//! memory server reads the count before it moves anything else.
//!
//! The storage is the caller's (`bitmap_words` words, sized from the manifest like the memory
//! server's bitmap), borrowed or owned (then freed with the gateway): the frames of the callers'
//! ranges, in table order, packed one bit each.

use core::borrow::BorrowMut;

use ballast_xen::{Completed, ExtentOrder, FrameRun, Gfn, ReservationOp};

use crate::caller_table::CallerTable;

/// Words of storage for the frames `table`'s callers own: one bit per frame.
pub fn bitmap_words<const CALLERS: usize, const RANGES: usize>(
    table: &CallerTable<CALLERS, RANGES>,
) -> u64 {
    owned_frames(table).div_ceil(64)
}

fn owned_frames<const CALLERS: usize, const RANGES: usize>(
    table: &CallerTable<CALLERS, RANGES>,
) -> u64 {
    (table.callers().iter())
        .flat_map(|caller| caller.ranges())
        .fold(0u64, |sum, range| sum.saturating_add(range.frames))
}

/// The frames of the last call whose outcome Xen's answer left unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Unsettled {
    /// The op that was made.
    pub(crate) op: ReservationOp,
    /// Its extent order.
    pub(crate) order: ExtentOrder,
    /// The caller (table index) whose ranges hold the extents.
    pub(crate) caller: usize,
    /// How many extents, kept in the gateway's list buffer.
    pub(crate) extents: usize,
}

/// The bitmap and what settles it.
#[derive(Debug)]
pub(crate) struct PageState<B> {
    /// The storage, of which the first `words` words are the bits.
    storage: B,
    words: usize,
    /// Xen's count as the gateway knows it: the last reading, moved by every completion since
    /// (without the unsettled extents).
    count: Option<u64>,
    unsettled: Option<Unsettled>,
}

/// Why a reservation's list does not match the page state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// A populate names a populated frame, or one whose state is unsettled.
    Populated,
    /// A release names an unpopulated frame, or one whose state is unsettled.
    NotPopulated,
}

impl<B: BorrowMut<[u64]>> PageState<B> {
    /// The state over `bits` for `table`'s owned frames, those inside `populated` set. `None` if
    /// `bits` is too small.
    pub(crate) fn new<const CALLERS: usize, const RANGES: usize>(
        mut storage: B,
        table: &CallerTable<CALLERS, RANGES>,
        populated: &[FrameRun],
    ) -> Option<PageState<B>> {
        let words = usize::try_from(bitmap_words(table)).ok()?;
        storage.borrow_mut().get_mut(..words)?.fill(0);
        let mut state = PageState {
            storage,
            words,
            count: None,
            unsettled: None,
        };
        let mut base: u64 = 0;
        for range in table.callers().iter().flat_map(|caller| caller.ranges()) {
            for seeded in populated {
                let first = range.start().max(seeded.start());
                let end = range.end().min(seeded.end());
                if first < end {
                    // Inside `range`: below its end, so the offsets fit.
                    let at = base.saturating_add(first.saturating_sub(range.start()));
                    state.fill(at, end.saturating_sub(first), true);
                }
            }
            base = base.saturating_add(range.frames);
        }
        Some(state)
    }

    /// Xen's count as the gateway knows it, if it has read one.
    pub(crate) fn count(&self) -> Option<u64> {
        self.count
    }

    /// The bits, one per owned frame in table order.
    pub(crate) fn bits(&self) -> &[u64] {
        &self.storage.borrow()[..self.words]
    }

    /// The bits, to change.
    fn bits_mut(&mut self) -> &mut [u64] {
        &mut self.storage.borrow_mut()[..self.words]
    }

    /// The first bit of the extent at `first` (which lies in one range `caller` owns, checked).
    fn bit_of<const CALLERS: usize, const RANGES: usize>(
        table: &CallerTable<CALLERS, RANGES>,
        caller: usize,
        first: Gfn,
    ) -> Option<u64> {
        let mut base: u64 = 0;
        for (index, entry) in table.callers().iter().enumerate() {
            for range in entry.ranges() {
                if index == caller && range.contains(first.0) {
                    return Some(base.saturating_add(first.0.saturating_sub(range.start())));
                }
                base = base.saturating_add(range.frames);
            }
        }
        None
    }

    /// Whether the frames of `list` (extents of `order`, owned by `caller`) may go to Xen in `op`:
    /// a populate only of unpopulated frames, a release only of populated ones.
    pub(crate) fn check<const CALLERS: usize, const RANGES: usize>(
        &self,
        table: &CallerTable<CALLERS, RANGES>,
        caller: usize,
        op: ReservationOp,
        order: ExtentOrder,
        list: &[Gfn],
    ) -> Result<(), Mismatch> {
        let (want, mismatch) = match op {
            ReservationOp::Populate => (false, Mismatch::Populated),
            ReservationOp::Decrease => (true, Mismatch::NotPopulated),
            ReservationOp::Increase => return Ok(()),
        };
        if self.unsettled.is_some() {
            return Err(mismatch);
        }
        let frames = order.frames();
        for first in list {
            let at = Self::bit_of(table, caller, *first).ok_or(mismatch)?;
            if !self.all(at, frames, want) {
                return Err(mismatch);
            }
        }
        Ok(())
    }

    /// Xen answered `completed` to `op` over `list`: mark the completed prefix, and keep what
    /// it leaves unknown (in `unsettled_list`) until the next reading of the count.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn completed<const CALLERS: usize, const RANGES: usize>(
        &mut self,
        table: &CallerTable<CALLERS, RANGES>,
        caller: usize,
        op: ReservationOp,
        order: ExtentOrder,
        list: &[Gfn],
        completed: Completed,
        unsettled_list: &mut [Gfn],
    ) {
        let frames = order.frames();
        let done = if completed.anomaly.is_some() {
            0
        } else {
            completed.extents.min(list.len())
        };
        // At most a list's extents of 2^18 frames each.
        let moved = (done as u64).saturating_mul(frames);
        self.count = match op {
            ReservationOp::Decrease => self.count.map(|count| count.saturating_sub(moved)),
            ReservationOp::Populate | ReservationOp::Increase => {
                self.count.map(|count| count.saturating_add(moved))
            }
        };
        if op == ReservationOp::Increase {
            return;
        }
        let populated = op == ReservationOp::Populate;
        for first in &list[..done] {
            if let Some(at) = Self::bit_of(table, caller, *first) {
                self.fill(at, frames, populated);
            }
        }
        // Unknown: every extent after an answer out of convention; after a short release of
        // extents of order > 0, the failed one. A short populate maps nothing of its failed
        // extent, and a short release of single frames frees nothing of it.
        let unknown = match completed.anomaly {
            Some(_) => list,
            None if done < list.len() && !populated && order > ExtentOrder::PAGE => {
                &list[done..=done]
            }
            None => &[],
        };
        if let Some(kept) = unsettled_list.get_mut(..unknown.len()) {
            if !unknown.is_empty() {
                kept.copy_from_slice(unknown);
                self.unsettled = Some(Unsettled {
                    op,
                    order,
                    caller,
                    extents: unknown.len(),
                });
            }
        }
    }

    /// Xen read `count` pages: settle the unsettled extents (in `unsettled_list`) from the
    /// difference to the count the gateway expected. Xen works through a list in order: after a
    /// release the frames freed are the leading ones, after a populate whole leading extents.
    pub(crate) fn read_count<const CALLERS: usize, const RANGES: usize>(
        &mut self,
        table: &CallerTable<CALLERS, RANGES>,
        count: u64,
        unsettled_list: &[Gfn],
    ) {
        if let (Some(unsettled), Some(expected)) = (self.unsettled.take(), self.count) {
            let frames = unsettled.order.frames();
            let mut moved = match unsettled.op {
                ReservationOp::Decrease => expected.saturating_sub(count),
                _ => count.saturating_sub(expected),
            };
            for first in unsettled_list.iter().take(unsettled.extents) {
                let Some(at) = Self::bit_of(table, unsettled.caller, *first) else {
                    continue;
                };
                match unsettled.op {
                    ReservationOp::Decrease => {
                        let freed = moved.min(frames);
                        self.fill(at, freed, false);
                        moved = moved.saturating_sub(freed);
                    }
                    _ if moved >= frames => {
                        self.fill(at, frames, true);
                        moved = moved.saturating_sub(frames);
                    }
                    _ => break,
                }
            }
        }
        self.count = Some(count);
    }

    /// Whether bits `at .. at + len` all read `value`.
    fn all(&self, at: u64, len: u64, value: bool) -> bool {
        let mut bit = at;
        let end = at.saturating_add(len);
        while bit < end {
            let Some(word) = self.bits().get((bit / 64) as usize) else {
                return false;
            };
            let offset = bit % 64;
            let span = 64u64.saturating_sub(offset).min(end.saturating_sub(bit));
            let mask = span_mask(offset, span);
            let seen = if value { !*word } else { *word };
            if seen & mask != 0 {
                return false;
            }
            bit = bit.saturating_add(span);
        }
        true
    }

    /// Set bits `at .. at + len` to `value`.
    fn fill(&mut self, at: u64, len: u64, value: bool) {
        let mut bit = at;
        let end = at.saturating_add(len);
        while bit < end {
            let Some(word) = self.bits_mut().get_mut((bit / 64) as usize) else {
                return;
            };
            let offset = bit % 64;
            let span = 64u64.saturating_sub(offset).min(end.saturating_sub(bit));
            let mask = span_mask(offset, span);
            if value {
                *word |= mask;
            } else {
                *word &= !mask;
            }
            bit = bit.saturating_add(span);
        }
    }

    /// Whether the frame at `gfn` of `caller`'s ranges is populated, as the gateway knows it.
    pub(crate) fn is_populated<const CALLERS: usize, const RANGES: usize>(
        &self,
        table: &CallerTable<CALLERS, RANGES>,
        caller: usize,
        gfn: Gfn,
    ) -> Option<bool> {
        Self::bit_of(table, caller, gfn).map(|at| self.all(at, 1, true))
    }
}

/// `span` bits (1 to 64) from bit `offset` of a word (`offset + span <= 64`).
fn span_mask(offset: u64, span: u64) -> u64 {
    let ones = u64::MAX
        .checked_shr(64u64.saturating_sub(span) as u32)
        .unwrap_or(0);
    ones.checked_shl(offset as u32).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_cover_exactly_their_span() {
        assert_eq!(span_mask(0, 64), u64::MAX);
        assert_eq!(span_mask(0, 1), 1);
        assert_eq!(span_mask(63, 1), 1 << 63);
        assert_eq!(span_mask(4, 4), 0xf0);
    }
}
