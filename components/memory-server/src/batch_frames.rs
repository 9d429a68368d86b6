//! Picking the frames of the next batch in each direction: whole 2 MiB chunks where superpages
//! are allowed, single frames otherwise, from address ranges taken in order of preference
//! (release prefers frames below the deferred requests' limit, populating leaves them last).

use ballast_xen::{ExtentOrder, ReservationOp, FRAMES_PER_SUPERPAGE, SUPERPAGE_ORDER};

use crate::balloon::BalloonCore;
use crate::config::Policy;
use crate::scan::{Collector, Pieces, Scan};

/// Collect whole chunks a batch of `op` takes (free ones to release, ballooned ones to
/// populate) whose first frame lies in `[lo, hi)`.
fn take_chunks<const L: usize>(
    scan: &Scan<'_, '_, L>,
    op: ReservationOp,
    out: &mut Collector<'_>,
    (lo, hi): (u64, u64),
) {
    match op {
        ReservationOp::Decrease => scan.free_chunks(out, lo, hi),
        _ => scan.ballooned_chunks(out, lo, hi),
    }
}

/// Collect single frames a batch of `op` takes in `[lo, hi)` from the pieces `which` selects.
fn take_frames<const L: usize>(
    scan: &Scan<'_, '_, L>,
    op: ReservationOp,
    out: &mut Collector<'_>,
    (lo, hi): (u64, u64),
    which: Pieces,
) {
    match op {
        ReservationOp::Decrease => scan.free_frames(out, lo, hi, which),
        _ => scan.ballooned_frames(out, lo, hi, which),
    }
}

impl<const LENT: usize, const CLIENTS: usize, const PENDING: usize>
    BalloonCore<'_, LENT, CLIENTS, PENDING>
{
    /// Whether the next batch of `op` may use superpages for `want` frames.
    fn superpage_batch(&self, op: ReservationOp, want: u64) -> bool {
        self.superpages && !self.fallback.failed(op) && want >= FRAMES_PER_SUPERPAGE
    }

    /// Which pieces single frames come from first.
    fn first_pieces(&self) -> Pieces {
        match self.policy {
            Policy::Seed => Pieces::All,
            Policy::Ballast => Pieces::Partial,
        }
    }

    /// The next deflation batch in the frame list: its order and length.
    /// Frames at or above `keep_below` go first, so that the frames deferred requests limited to
    /// low memory can use stay in the balloon.
    pub(crate) fn collect_ballooned(
        &mut self,
        want: u64,
        keep_below: Option<u64>,
    ) -> (ExtentOrder, usize) {
        let split = keep_below.unwrap_or(0);
        let chunk_split = split.div_ceil(FRAMES_PER_SUPERPAGE) * FRAMES_PER_SUPERPAGE;
        self.collect(
            ReservationOp::Populate,
            want,
            &[(chunk_split, u64::MAX), (0, chunk_split)],
            &[(split, u64::MAX), (0, split)],
        )
    }

    /// The next inflation batch in the frame list: its order and length.
    /// Frames below `below` go first (with `only_below`, only they), so that deferred requests
    /// limited to low memory find room.
    pub(crate) fn collect_free(
        &mut self,
        want: u64,
        below: Option<u64>,
        only_below: bool,
    ) -> (ExtentOrder, usize) {
        let split = below.unwrap_or(u64::MAX);
        let chunk_split = split - split % FRAMES_PER_SUPERPAGE;
        let passes = if only_below { 1 } else { 2 };
        self.collect(
            ReservationOp::Decrease,
            want,
            &[(0, chunk_split), (chunk_split, u64::MAX)][..passes],
            &[(0, split), (split, u64::MAX)][..passes],
        )
    }

    /// The next batch of `op` in the frame list, at most `want` frames: its order and length.
    /// Whole 2 MiB chunks whose first frame lies in `chunk_ranges` (in turn) where superpages
    /// are allowed, otherwise single frames from `frame_ranges` (in turn).
    fn collect(
        &mut self,
        op: ReservationOp,
        want: u64,
        chunk_ranges: &[(u64, u64)],
        frame_ranges: &[(u64, u64)],
    ) -> (ExtentOrder, usize) {
        let scan = Scan {
            regions: &self.regions,
            bitmap: &self.bitmap,
            lent: &self.lent,
        };
        if self.superpage_batch(op, want) {
            let max = (want / FRAMES_PER_SUPERPAGE) as usize;
            let mut out = Collector::new(&mut self.list, max.min(self.batch_extents));
            for &range in chunk_ranges {
                take_chunks(&scan, op, &mut out, range);
            }
            if !out.is_empty() {
                return (SUPERPAGE_ORDER, out.len());
            }
        }
        let first = self.first_pieces();
        let mut out = Collector::new(
            &mut self.list,
            (want.min(self.batch_extents as u64)) as usize,
        );
        for &range in frame_ranges {
            take_frames(&scan, op, &mut out, range, first);
            if first == Pieces::Partial {
                take_frames(&scan, op, &mut out, range, Pieces::Whole);
            }
        }
        (ExtentOrder::PAGE, out.len())
    }
}
