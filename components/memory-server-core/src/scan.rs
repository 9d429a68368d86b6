//! Finding frames by state: ballooned-and-unlent runs, free lending space, and the candidates of
//! the next batch (whole 2 MiB chunks where possible, single frames otherwise). Whole chunks are
//! tested a word at a time; single frames are taken from partly used chunks first when asked,
//! so that whole chunks stay whole for superpage extents. A search for ballooned frames starts
//! at the page map's floor and one for free frames at its ceiling (`page_map`); reserved
//! frames, whose bits are clear, are stepped over like lent runs, with a cursor that moves up
//! with the search.
//!
//! Over the chunk summary, a batch can leave mixed any uniform chunk it takes single frames
//! from (a short call stops anywhere), so the collector charges one of the pool's free blocks
//! for each such chunk, and passes over the chunk when none is left: the pool can then never
//! run out while the batch is accounted. (A chunk met again after other chunks, as when a
//! range split cuts it, is charged again: never too few.)

use ballast_xen::{FrameRun, Gfn, FRAMES_PER_SUPERPAGE};

use crate::lent_table::LentTable;
use crate::populated::Populated;
use crate::regions::{Region, RegionKind, Regions};
use crate::reserved::ReservedRuns;
use crate::storage::Storage;

/// Frames in a 2 MiB chunk.
const CHUNK: u64 = FRAMES_PER_SUPERPAGE;

/// A read-only view of the page model for searching.
#[derive(Debug)]
pub struct Scan<'s, W, const L: usize> {
    /// The region table.
    pub regions: &'s Regions,
    /// The populated bitmap.
    pub bitmap: &'s Populated<W>,
    /// The lent runs.
    pub lent: &'s LentTable<L>,
    /// The reserved runs (their bits are clear: neither ballooned nor free).
    pub reserved: &'s ReservedRuns<W>,
    /// No unpopulated RAM frame lies below it: searches for ballooned frames start there.
    pub floor: u64,
    /// No populated RAM frame lies at or above it: searches for free frames end there.
    pub ceiling: u64,
}

/// Fills a frame list up to a limit.
#[derive(Debug)]
pub struct Collector<'l> {
    list: &'l mut [Gfn],
    len: usize,
    max: usize,
    /// Blocks left for uniform chunks the batch enters (`None`: no limit).
    blocks: Option<usize>,
    /// The last chunk a block was charged for.
    charged: Option<u64>,
    /// A chunk was passed over for want of a block.
    pool_full: bool,
}

impl<'l> Collector<'l> {
    /// Collect at most `max` entries into `list`, from chunks of any state.
    pub fn new(list: &'l mut [Gfn], max: usize) -> Collector<'l> {
        let max = max.min(list.len());
        Collector {
            list,
            len: 0,
            max,
            blocks: None,
            charged: None,
            pool_full: false,
        }
    }

    /// Enter at most `blocks` uniform chunks (`None`: any number).
    pub fn with_blocks(mut self, blocks: Option<usize>) -> Collector<'l> {
        self.blocks = blocks;
        self
    }

    /// Whether frames of chunk `chunk` may join: yes if it takes no block (`needs_block`
    /// false) or its block is charged already, else if one is left, which it is charged.
    fn enter(&mut self, chunk: u64, needs_block: bool) -> bool {
        if !needs_block || self.charged == Some(chunk) {
            return true;
        }
        match self.blocks {
            None => true,
            Some(0) => {
                self.pool_full = true;
                false
            }
            Some(left) => {
                // Above 0.
                self.blocks = Some(left.saturating_sub(1));
                self.charged = Some(chunk);
                true
            }
        }
    }

    /// Whether a chunk was passed over for want of a block.
    pub fn pool_full(&self) -> bool {
        self.pool_full
    }

    /// Add an entry; false once the list is full.
    fn push(&mut self, gfn: u64) -> bool {
        if self.len < self.max {
            self.list[self.len] = Gfn(gfn);
            // Below `max`, which is at most the list's length.
            self.len = self.len.saturating_add(1);
        }
        self.len < self.max
    }

    /// Whether no more entries fit.
    fn full(&self) -> bool {
        self.len >= self.max
    }

    /// Entries collected.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Which chunks a pass of single-frame collection takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pieces {
    /// Every piece.
    All,
    /// Only pieces that are not whole chunks in the wanted state.
    Partial,
    /// Only whole chunks in the wanted state.
    Whole,
}

impl Pieces {
    fn takes(self, whole: bool) -> bool {
        match self {
            Pieces::All => true,
            Pieces::Partial => !whole,
            Pieces::Whole => whole,
        }
    }
}

/// The chunk-aligned pieces of `[lo, hi)`, ascending.
fn pieces(lo: u64, hi: u64) -> impl DoubleEndedIterator<Item = (u64, u64)> {
    let first = lo / CHUNK;
    let last = hi.div_ceil(CHUNK);
    (first..last)
        .map(move |c| {
            let start = c.saturating_mul(CHUNK);
            (start.max(lo), start.saturating_add(CHUNK).min(hi))
        })
        .filter(|(a, b)| a < b)
}

/// The distance from a RAM region's frame numbers to its bitmap bits (modulo 2^64: a region's
/// bits may start below its first frame number).
#[derive(Clone, Copy, Debug)]
struct Shift(u64);

impl Shift {
    fn bit(self, gfn: u64) -> u64 {
        gfn.wrapping_add(self.0)
    }

    fn gfn(self, bit: u64) -> u64 {
        bit.wrapping_sub(self.0)
    }
}

/// The part of a RAM region inside `[lo, hi)` with its bit base, if any.
fn clip(region: &Region, lo: u64, hi: u64) -> Option<(u64, u64, Shift)> {
    let RegionKind::Ram { bit_base, .. } = region.kind else {
        return None;
    };
    let start = region.run.start().max(lo);
    let end = region.run.end().min(hi);
    (start < end).then(|| (start, end, Shift(bit_base.wrapping_sub(region.run.start()))))
}

impl<W: Storage, const L: usize> Scan<'_, W, L> {
    /// Calls `f(start, end)` for each maximal run of ballooned, unlent RAM frames inside
    /// `[lo, hi)`, ascending, until `f` returns false. Returns false if stopped.
    pub fn ballooned_runs(&self, lo: u64, hi: u64, mut f: impl FnMut(u64, u64) -> bool) -> bool {
        self.regions
            .iter()
            .filter_map(|r| clip(r, lo.max(self.floor), hi))
            .all(|(start, end, offset)| self.ballooned_in(start, end, offset, &mut f))
    }

    fn ballooned_in(
        &self,
        start: u64,
        end: u64,
        offset: Shift,
        f: &mut impl FnMut(u64, u64) -> bool,
    ) -> bool {
        let mut lent = self.lent.runs_ending_after(start).peekable();
        let mut reserved = self
            .reserved
            .overlapping(FrameRun::span(start, end))
            .peekable();
        let mut at = start;
        while at < end {
            let Some(bit) = self
                .bitmap
                .find_first(offset.bit(at), offset.bit(end), false)
            else {
                return true;
            };
            let gfn = offset.gfn(bit);
            while lent.next_if(|r| r.end() <= gfn).is_some() {}
            while reserved.next_if(|r| r.end() <= gfn).is_some() {}
            let (next_lent, next_reserved) = (lent.peek().copied(), reserved.peek().copied());
            if let Some(run) = next_lent.filter(|r| r.start() <= gfn) {
                at = run.end();
                continue;
            }
            if let Some(run) = next_reserved.filter(|r| r.start() <= gfn) {
                at = run.end();
                continue;
            }
            let zeros_end = self
                .bitmap
                .find_first(bit, offset.bit(end), true)
                .map_or(end, |b| offset.gfn(b));
            let run_end = zeros_end
                .min(next_lent.map_or(end, |r| r.start()))
                .min(next_reserved.map_or(end, |r| r.start()));
            if !f(gfn, run_end) {
                return false;
            }
            at = run_end;
        }
        true
    }

    /// Calls `f(start, end)` for each free (unlent) run of the lending range inside `[lo, hi)`.
    pub fn lending_runs(&self, lo: u64, hi: u64, mut f: impl FnMut(u64, u64) -> bool) -> bool {
        for region in self
            .regions
            .iter()
            .filter(|r| r.kind == RegionKind::Lending)
        {
            let start = region.run.start().max(lo);
            let end = region.run.end().min(hi);
            if start >= end {
                continue;
            }
            let mut at = start;
            for run in self.lent.overlapping(FrameRun::span(start, end)) {
                if run.run.start() > at && !f(at, run.run.start()) {
                    return false;
                }
                at = at.max(run.run.end());
            }
            if at < end && !f(at, end) {
                return false;
            }
        }
        true
    }

    /// Ballooned, unlent RAM frames inside `[lo, hi)`.
    pub fn count_ballooned(&self, lo: u64, hi: u64) -> u64 {
        let mut total: u64 = 0;
        self.ballooned_runs(lo, hi, |a, b| {
            // Runs of managed frames, below 2^40 in all: `a < b` and the sum fits.
            total = total.saturating_add(b.saturating_sub(a));
            true
        });
        total
    }

    /// Free lending frames inside `[lo, hi)`.
    pub fn count_lending(&self, lo: u64, hi: u64) -> u64 {
        let mut total: u64 = 0;
        self.lending_runs(lo, hi, |a, b| {
            // Runs of managed frames, below 2^40 in all: `a < b` and the sum fits.
            total = total.saturating_add(b.saturating_sub(a));
            true
        });
        total
    }

    /// Collect wholly populated, server-owned 2 MiB chunks whose first frame lies in
    /// `[lo, hi)`, highest first.
    pub fn free_chunks(&self, out: &mut Collector<'_>, lo: u64, hi: u64) {
        for (start, end, offset) in self
            .regions
            .iter()
            .rev()
            .filter_map(|r| clip(r, 0, self.ceiling))
        {
            let first = start.div_ceil(CHUNK).max(lo.div_ceil(CHUNK));
            let last = (end / CHUNK).min(hi.div_ceil(CHUNK));
            for chunk in (first..last).rev() {
                // Chunk numbers come from frame numbers divided by CHUNK: the product fits.
                let gfn = chunk.saturating_mul(CHUNK);
                if gfn.saturating_add(CHUNK) <= end
                    && self.bitmap.all(offset.bit(gfn), CHUNK, true)
                    && !out.push(gfn)
                {
                    return;
                }
            }
        }
    }

    /// Collect single populated, server-owned frames in `[lo, hi)`, highest first, from the
    /// pieces `which` selects.
    pub fn free_frames(&self, out: &mut Collector<'_>, lo: u64, hi: u64, which: Pieces) {
        let hi = hi.min(self.ceiling);
        for (start, end, offset) in self.regions.iter().rev().filter_map(|r| clip(r, lo, hi)) {
            for (a, b) in pieces(start, end).rev() {
                let whole =
                    a.checked_add(CHUNK) == Some(b) && self.bitmap.all(offset.bit(a), CHUNK, true);
                if !which.takes(whole) {
                    continue;
                }
                let mut top = offset.bit(b);
                let mut entered = false;
                while let Some(bit) = self.bitmap.find_last(offset.bit(a), top, true) {
                    entered = entered || out.enter(bit / CHUNK, self.bitmap.needs_block(bit));
                    if !entered {
                        break;
                    }
                    if !out.push(offset.gfn(bit)) {
                        return;
                    }
                    top = bit;
                }
            }
        }
    }

    /// Whether the 2 MiB chunk at `gfn` (inside the RAM region with bit offset `offset`) is
    /// wholly ballooned, none of it lent or reserved.
    fn chunk_ballooned(&self, gfn: u64, offset: Shift) -> bool {
        let chunk = FrameRun::span(gfn, gfn.saturating_add(CHUNK));
        self.bitmap.all(offset.bit(gfn), CHUNK, false)
            && !self.lent.any_in(chunk)
            && !self.reserved.any_in(chunk)
    }

    /// Collect wholly ballooned, unlent 2 MiB chunks whose first frame lies in `[lo, hi)`,
    /// lowest first.
    pub fn ballooned_chunks(&self, out: &mut Collector<'_>, lo: u64, hi: u64) {
        for (start, end, offset) in
            (self.regions.iter()).filter_map(|r| clip(r, self.floor, u64::MAX))
        {
            let first = start.div_ceil(CHUNK).max(lo.div_ceil(CHUNK));
            for chunk in first..(end / CHUNK).min(hi.div_ceil(CHUNK)) {
                // Chunk numbers come from frame numbers divided by CHUNK: the product fits.
                let gfn = chunk.saturating_mul(CHUNK);
                if self.chunk_ballooned(gfn, offset) && !out.push(gfn) {
                    return;
                }
            }
        }
    }

    /// Collect single ballooned, unlent frames in `[lo, hi)`, lowest first, from the pieces
    /// `which` selects.
    pub fn ballooned_frames(&self, out: &mut Collector<'_>, lo: u64, hi: u64, which: Pieces) {
        let lo = lo.max(self.floor);
        for (start, end, offset) in self.regions.iter().filter_map(|r| clip(r, lo, hi)) {
            for (a, b) in pieces(start, end) {
                let whole = a.checked_add(CHUNK) == Some(b) && self.chunk_ballooned(a, offset);
                if !which.takes(whole) {
                    continue;
                }
                let bit = offset.bit(a);
                let needs_block = self.bitmap.needs_block(bit);
                let mut passed_over = false;
                let more = self.ballooned_in(a, b, offset, &mut |x, y| {
                    passed_over = !out.enter(bit / CHUNK, needs_block);
                    !passed_over && (x..y).all(|g| out.push(g))
                });
                if passed_over {
                    continue;
                }
                if !more || out.full() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::config::{Config, Policy};
    use crate::lent_table::ClientId;

    fn model(words: &mut [u64]) -> (Regions, Populated<&mut [u64]>) {
        const RAM: [FrameRun; 1] = [FrameRun::span(0, 2048)];
        const LENDING: FrameRun = FrameRun::span(8192, 8292);
        let mut config = Config::new(&RAM, Policy::Ballast);
        config.lending = Some(LENDING);
        let regions = Regions::build(&config).unwrap();
        let layout = regions.layout(&config, core::iter::empty());
        let mut bitmap = Populated::new(layout, &mut words[..layout.words], regions.bits());
        bitmap.set_range(0, 2048, true).unwrap();
        (regions, bitmap)
    }

    /// A scan with no bound narrowing it.
    fn unbounded<'s, 'b>(
        regions: &'s Regions,
        bitmap: &'s Populated<&'b mut [u64]>,
        lent: &'s LentTable<4>,
        reserved: &'s ReservedRuns<&'b mut [u64]>,
    ) -> Scan<'s, &'b mut [u64], 4> {
        Scan {
            regions,
            bitmap,
            lent,
            reserved,
            floor: 0,
            ceiling: u64::MAX,
        }
    }

    #[test]
    fn whole_chunks_come_highest_first_when_inflating_and_lowest_first_when_deflating() {
        let mut words = [0u64; 32];
        let (regions, mut bitmap) = model(&mut words);
        bitmap.set_range(700, 1, false).unwrap();
        let lent = LentTable::<4>::default();
        let mut no_words = [0u64; 0];
        let reserved = ReservedRuns::new(&mut no_words[..], &[]);
        let scan = unbounded(&regions, &bitmap, &lent, &reserved);
        let mut list = [Gfn(0); 8];
        let mut out = Collector::new(&mut list, 8);
        scan.free_chunks(&mut out, 0, u64::MAX);
        assert_eq!(&list[..3], &[Gfn(1536), Gfn(1024), Gfn(0)]);
        let mut out = Collector::new(&mut list, 2);
        scan.free_frames(&mut out, 0, u64::MAX, Pieces::Partial);
        assert_eq!(&list[..2], &[Gfn(1023), Gfn(1022)]);
        let mut out = Collector::new(&mut list, 1);
        scan.free_chunks(&mut out, 0, 1024);
        assert_eq!(list[0], Gfn(0));
    }

    #[test]
    fn lent_frames_are_neither_ballooned_nor_free_lending_space() {
        let mut words = [0u64; 32];
        let (regions, mut bitmap) = model(&mut words);
        bitmap.set_range(0, 1024, false).unwrap();
        let mut lent = LentTable::<4>::default();
        lent.insert(FrameRun::span(10, 20), ClientId(0), None)
            .unwrap();
        lent.insert(FrameRun::span(8200, 8210), ClientId(0), None)
            .unwrap();
        let mut no_words = [0u64; 0];
        let reserved = ReservedRuns::new(&mut no_words[..], &[]);
        let scan = unbounded(&regions, &bitmap, &lent, &reserved);
        assert_eq!(scan.count_ballooned(0, u64::MAX), 1014);
        assert_eq!(scan.count_ballooned(0, 15), 10);
        assert_eq!(scan.count_lending(0, u64::MAX), 90);
        let mut list = [Gfn(0); 4];
        let mut out = Collector::new(&mut list, 4);
        scan.ballooned_chunks(&mut out, 0, u64::MAX);
        assert_eq!(out.len(), 1);
        assert_eq!(list[0], Gfn(512));
        let mut out = Collector::new(&mut list, 4);
        scan.ballooned_frames(&mut out, 0, u64::MAX, Pieces::Partial);
        assert_eq!(&list[..4], &[Gfn(0), Gfn(1), Gfn(2), Gfn(3)]);
        let mut out = Collector::new(&mut list, 4);
        scan.ballooned_frames(&mut out, 0, u64::MAX, Pieces::Whole);
        assert_eq!(list[0], Gfn(512));
    }

    #[test]
    fn reserved_frames_are_neither_ballooned_nor_free_and_spoil_whole_chunks() {
        let mut words = [0u64; 32];
        let (regions, mut bitmap) = model(&mut words);
        bitmap.set_range(0, 2048, false).unwrap();
        bitmap.set_range(1536, 512, true).unwrap();
        let lent = LentTable::<4>::default();
        let mut reserved_words = [0u64; 4];
        let runs = [FrameRun::span(1000, 1001), FrameRun::span(5, 7)];
        let reserved = ReservedRuns::new(&mut reserved_words[..], &runs);
        let scan = unbounded(&regions, &bitmap, &lent, &reserved);
        assert_eq!(scan.count_ballooned(0, u64::MAX), 1536 - 3);
        let mut runs = std::vec::Vec::new();
        scan.ballooned_runs(0, 1536, |a, b| {
            runs.push((a, b));
            true
        });
        assert_eq!(runs, [(0, 5), (7, 1000), (1001, 1536)]);
        let mut list = [Gfn(0); 4];
        let mut out = Collector::new(&mut list, 4);
        scan.ballooned_chunks(&mut out, 0, u64::MAX);
        assert_eq!((out.len(), list[0]), (1, Gfn(1024)));
        let mut out = Collector::new(&mut list, 4);
        scan.ballooned_frames(&mut out, 0, u64::MAX, Pieces::Partial);
        assert_eq!(&list[..4], &[Gfn(0), Gfn(1), Gfn(2), Gfn(3)]);
        let mut out = Collector::new(&mut list, 4);
        scan.free_chunks(&mut out, 0, u64::MAX);
        assert_eq!((out.len(), list[0]), (1, Gfn(1536)));
    }
}
