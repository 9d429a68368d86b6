//! The frame list of a batch (one page of frame numbers, as in the seed) and the part of the
//! last batch whose outcome is not known yet: extents of a call lost in transport or answered
//! out of convention, or a failed superpage extent not yet probed.

use ballast_xen::{ExtentOrder, FrameRun, Gfn, ReservationOp};

use crate::balloon::InvariantViolation;
use crate::config::MAX_BATCH_EXTENTS;
use crate::lent_table::LentTable;
use crate::page_map::{PageMap, Place};
use crate::scan::Collector;
use crate::storage::Storage;

/// The extents of the last batch whose state is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InFlight {
    /// What the batch did.
    pub op: ReservationOp,
    /// Its extent order.
    pub order: ExtentOrder,
    /// Index of the first extent of unknown state in the frame list.
    pub from: usize,
    /// Extents of unknown state.
    pub count: usize,
}

impl InFlight {
    /// Frames of unknown state.
    pub fn frames(&self) -> u64 {
        // At most MAX_BATCH_EXTENTS extents of at most 2^18 frames each.
        (self.count as u64).saturating_mul(self.order.frames())
    }
}

/// The frame list and its in-flight part.
#[derive(Debug)]
pub(crate) struct FrameList {
    entries: [Gfn; MAX_BATCH_EXTENTS],
    in_flight: Option<InFlight>,
}

impl FrameList {
    /// An empty list, nothing in flight.
    pub fn new() -> FrameList {
        FrameList {
            entries: [Gfn(0); MAX_BATCH_EXTENTS],
            in_flight: None,
        }
    }

    /// A collector filling at most `max` entries from the start.
    pub fn collector(&mut self, max: usize) -> Collector<'_> {
        Collector::new(&mut self.entries, max)
    }

    /// Extents `[from, from + count)`.
    pub fn extents(&self, from: usize, count: usize) -> &[Gfn] {
        &self.entries[from..][..count]
    }

    /// The first `count` extents, for the reservation call to write back.
    pub fn extents_mut(&mut self, count: usize) -> &mut [Gfn] {
        &mut self.entries[..count]
    }

    /// Whether some extents are in flight.
    pub fn is_in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Mark extents `[from, from + count)` of a batch of `op` and `order` as in flight.
    pub fn set_in_flight(
        &mut self,
        op: ReservationOp,
        order: ExtentOrder,
        from: usize,
        count: usize,
    ) {
        self.in_flight = Some(InFlight {
            op,
            order,
            from,
            count,
        });
    }

    /// The in-flight part, no longer in flight.
    pub fn take_in_flight(&mut self) -> Option<InFlight> {
        self.in_flight.take()
    }

    /// Frames in flight.
    pub fn in_flight_frames(&self) -> u64 {
        self.in_flight.map_or(0, |f| f.frames())
    }

    /// Whether frame `gfn` is in flight.
    pub fn in_flight_holds(&self, gfn: u64) -> bool {
        self.in_flight.is_some_and(|f| {
            self.extents(f.from, f.count)
                .iter()
                // Extents in flight lie in managed space, below 2^40 frames.
                .any(|e| e.0 <= gfn && gfn < e.0.saturating_add(f.order.frames()))
        })
    }

    /// Frames in flight inside `[lo, hi)`.
    pub fn in_flight_frames_in(&self, lo: u64, hi: u64) -> u64 {
        let Some(flight) = self.in_flight else {
            return 0;
        };
        let frames = flight.order.frames();
        self.extents(flight.from, flight.count)
            .iter()
            .map(|e| {
                (e.0.saturating_add(frames))
                    .min(hi)
                    .saturating_sub(e.0.max(lo))
            })
            .sum()
    }

    /// Check that every frame in flight is unpopulated, unlent RAM; returns the frames in flight.
    pub fn check<const L: usize>(
        &self,
        pages: &PageMap<impl Storage>,
        lent: &LentTable<L>,
    ) -> Result<u64, InvariantViolation> {
        let Some(flight) = self.in_flight else {
            return Ok(0);
        };
        let frames = flight.order.frames();
        for entry in self
            .entries
            .get(flight.from..)
            .and_then(|rest| rest.get(..flight.count))
            .ok_or(InvariantViolation::InFlight)?
        {
            let run = FrameRun::new(*entry, frames);
            if pages.place(run) != (Place::Ram { unpopulated: true }) || lent.any_in(run) {
                return Err(InvariantViolation::InFlight);
            }
        }
        Ok(flight.frames())
    }
}

#[cfg(test)]
mod tests {
    use ballast_xen::SUPERPAGE_ORDER;

    use super::*;

    #[test]
    fn in_flight_frames_are_located_by_their_extents() {
        let mut list = FrameList::new();
        list.extents_mut(3)
            .copy_from_slice(&[Gfn(0), Gfn(512), Gfn(2048)]);
        assert_eq!(
            (list.in_flight_frames(), list.in_flight_holds(0)),
            (0, false)
        );
        list.set_in_flight(ReservationOp::Decrease, SUPERPAGE_ORDER, 1, 2);
        assert_eq!(list.in_flight_frames(), 1024);
        assert!(!list.in_flight_holds(511) && list.in_flight_holds(512));
        assert!(list.in_flight_holds(2559) && !list.in_flight_holds(2560));
        assert_eq!(list.in_flight_frames_in(0, 1024), 512);
        assert_eq!(list.in_flight_frames_in(600, 2100), 424 + 52);
        assert_eq!(list.take_in_flight().map(|f| f.frames()), Some(1024));
        assert!(!list.is_in_flight());
    }
}
