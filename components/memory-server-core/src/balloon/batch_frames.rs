//! Picking the frames of the next batch in each direction: whole 2 MiB chunks where superpages
//! are allowed, single frames otherwise, from address ranges taken in order of preference
//! (release prefers frames below the deferred requests' limit, populating leaves them last).
//!
//! Over the chunk summary, the batch keeps within the pool's free blocks: single frames enter a
//! uniform chunk only with a block charged for it (`scan`), and the ranges after one where a
//! chunk was passed over are not searched; a batch of 2 MiB releases needs one
//! free block (Xen may free part of the extent it fails on, which the probe then finds mixed),
//! one of 2 MiB populates none (an extent is populated whole or not at all, and the books count
//! whole extents only).

use ballast_xen::{ExtentOrder, ReservationOp, FRAMES_PER_SUPERPAGE, SUPERPAGE_ORDER};

use super::BalloonCore;
use crate::scan::{Collector, Pieces, Scan};
use crate::Storage;

/// The next batch picked: its order and length, and whether frames were left out for want of a
/// free block of the chunk summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Picked {
    /// The extents' order.
    pub order: ExtentOrder,
    /// Extents in the frame list.
    pub count: usize,
    /// Frames were left out because the summary's pool had no block for their chunk.
    pub pool_full: bool,
}

/// Collect whole chunks a batch of `op` takes (free ones to release, ballooned ones to
/// populate) whose first frame lies in `[lo, hi)`.
fn take_chunks<W: Storage, const L: usize>(
    scan: &Scan<'_, W, L>,
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
fn take_frames<W: Storage, const L: usize>(
    scan: &Scan<'_, W, L>,
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

impl<W: Storage, const LENT: usize, const CLIENTS: usize, const PENDING: usize>
    BalloonCore<W, LENT, CLIENTS, PENDING>
{
    /// The next deflation batch in the frame list: its order and length.
    /// Frames at or above `keep_below` go first, so that the frames deferred requests limited to
    /// low memory can use stay in the balloon.
    pub(super) fn collect_ballooned(&mut self, want: u64, keep_below: Option<u64>) -> Picked {
        let split = keep_below.unwrap_or(0);
        // A limit in the last, partial chunk of the gfn space rounds up past it: no chunk is kept.
        let chunk_split = split
            .checked_next_multiple_of(FRAMES_PER_SUPERPAGE)
            .unwrap_or(u64::MAX);
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
    pub(super) fn collect_free(
        &mut self,
        want: u64,
        below: Option<u64>,
        only_below: bool,
    ) -> Picked {
        let split = below.unwrap_or(u64::MAX);
        // Rounded down to a chunk: the remainder is at most `split`.
        let chunk_split = split.saturating_sub(split % FRAMES_PER_SUPERPAGE);
        let passes = if only_below { 1 } else { 2 };
        self.collect(
            ReservationOp::Decrease,
            want,
            &[(0, chunk_split), (chunk_split, u64::MAX)][..passes],
            &[(0, split), (split, u64::MAX)][..passes],
        )
    }

    /// The next batch of `op` in the frame list, at most `want` frames. Whole 2 MiB chunks
    /// whose first frame lies in `chunk_ranges` (in turn) where superpages are allowed,
    /// otherwise single frames from `frame_ranges` (in turn), within the summary's free blocks.
    fn collect(
        &mut self,
        op: ReservationOp,
        want: u64,
        chunk_ranges: &[(u64, u64)],
        frame_ranges: &[(u64, u64)],
    ) -> Picked {
        self.pages.settle_bounds();
        let scan = self.pages.scan(self.book.lent());
        let batch_extents = self.steering.batch_extents();
        let blocks = self.pages.free_blocks();
        let superpages = self.steering.superpage_batch(op, want);
        let superpages_fit = op != ReservationOp::Decrease || blocks != Some(0);
        if superpages && superpages_fit {
            let max = (want / FRAMES_PER_SUPERPAGE) as usize;
            let mut out = self.list.collector(max.min(batch_extents));
            for &range in chunk_ranges {
                take_chunks(&scan, op, &mut out, range);
            }
            if !out.is_empty() {
                return Picked {
                    order: SUPERPAGE_ORDER,
                    count: out.len(),
                    pool_full: false,
                };
            }
        }
        let first = self.steering.first_pieces();
        let mut out = (self.list)
            .collector((want.min(batch_extents as u64)) as usize)
            .with_blocks(blocks);
        for &range in frame_ranges {
            take_frames(&scan, op, &mut out, range, first);
            if first == Pieces::Partial {
                take_frames(&scan, op, &mut out, range, Pieces::Whole);
            }
            // A range with frames left out for want of a block is not done: the next, less
            // wanted range (frames kept for deferred requests) waits for it.
            if out.pool_full() {
                break;
            }
        }
        Picked {
            order: ExtentOrder::PAGE,
            count: out.len(),
            pool_full: out.pool_full() || (superpages && !superpages_fit),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use ballast_xen::{ExtentOrder, SUPERPAGE_ORDER};

    use crate::test_support::{domain, run_until_idle, scrubber, Core};
    use crate::{Config, FrameRun, Policy};

    const RAM: [FrameRun; 1] = [FrameRun::span(0, 4096)];

    /// A client may ask for frames at or below any gfn, up to the last but one: the limit of the
    /// deferred request (`max_gfn + 1`) can then lie in the last, partial chunk of the gfn space.
    #[test]
    fn a_limit_at_the_top_of_the_gfn_space_still_gives_a_batch() {
        let (sim, dom, mut hv) = domain(0..4096, 8192, 1 << 16);
        let config = Config::new(&RAM, Policy::Ballast);
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut core = Core::new(&config, &mut words).unwrap();
        let mut scrub = scrubber(&sim, dom);
        core.set_target(1024);
        run_until_idle(&mut core, &mut hv, &mut scrub, 0, 100);
        for limit in [u64::MAX, u64::MAX - 1, u64::MAX - 511] {
            let picked = core.collect_ballooned(3072, Some(limit));
            assert_eq!(
                (picked.order, picked.count),
                (SUPERPAGE_ORDER, 6),
                "limit {limit:#x}"
            );
        }
        let picked = core.collect_ballooned(100, Some(u64::MAX));
        assert_eq!((picked.order, picked.count), (ExtentOrder::PAGE, 100));
    }
}
