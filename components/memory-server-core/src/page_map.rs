//! The page map: the managed frames as regions (RAM, lending) and the reserved runs inside RAM,
//! the populated bitmap over RAM (a reserved frame's bit stays clear; direct or as the chunk
//! summary, `populated`, whose chunks holding a region's end or a reserved frame it pins at
//! start), the counts kept in step
//! with it, including the baseline that relates the model's populated count to Xen's, the clean
//! chunks, and the bounds the searches start from.
//!
//! The floor and the ceiling spare every search a pass over the frames it cannot take: no
//! unpopulated RAM frame lies below the floor, no populated one at or above the ceiling. Any
//! frame the map clears moves the floor down to it, any frame it sets moves the ceiling up past
//! it, and before a batch is picked [`PageMap::settle_bounds`] moves each in over the frames in
//! the other state. A search for ballooned frames from the floor therefore finds exactly what
//! one from frame 0 would (lowest first, as the seed), and one for free frames below the
//! ceiling what one from the top would, so the choice of frames is unchanged and only the pass
//! over the rest is gone. A frame released behind the floor pulls it back; the bounds never
//! wrap.
//!
//! A chunk is 512 bits of the populated bitmap: the frames of one RAM region in one aligned 2 MiB
//! (`regions` aligns the bits so); the partial chunks at the ends of two regions may share one
//! (coarser, never wrong: the test for emptiness and the clean bit both cover the 512 bits).
//! It is clean when no frame the model holds populated in it can
//! hold the guest's data: each was populated by the server's own populate call and nobody has
//! been able to write it since. Every chunk starts dirty (the RAM populated at boot holds
//! whatever the guest and its builder put there); only [`PageMap::populate`] makes one clean,
//! when the server populates into a chunk with no populated frame. Nothing in the server hands a
//! populated frame to anyone (clients borrow unpopulated frames; the gateway lets no one else
//! populate the server's RAM; a grant mapped into a borrowed frame is the granter's page, and
//! the gfn is empty again once it is unmapped), and Xen maps a fresh page at every gfn it
//! populates (`docs/XEN-BEHAVIOUR.md#populate-populated-leaks`), so a clean chunk's frames can go
//! back to Xen without a scrub. A path that ever lets someone write a populated frame must clear
//! its chunk's bit before the frame is reachable; none does today.

use crate::balloon::InvariantViolation;
use crate::bitmap::Bitmap;
use crate::config::{Config, ConfigError};
use crate::lent_table::LentTable;
use crate::populated::Populated;
use crate::regions::{is_lending, is_ram, Region, RegionKind, Regions};
use crate::reserved::ReservedRuns;
use crate::scan::Scan;
use crate::storage::Storage;
use ballast_xen::{FrameRun, FRAMES_PER_SUPERPAGE};

/// A frame count as a signed number, saturating (counts from outside may be anything).
pub(crate) fn signed(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// Where a run of frames lies in the page map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// Not inside one managed region.
    Outside,
    /// Inside a reserved region.
    Reserved,
    /// Inside the lending range.
    Lending,
    /// Inside one RAM region.
    Ram {
        /// Every frame of the run is unpopulated.
        unpopulated: bool,
    },
}

/// The managed frames and their populated state.
#[derive(Debug)]
pub(crate) struct PageMap<W> {
    regions: Regions,
    reserved: ReservedRuns<W>,
    bitmap: Populated<W>,
    /// One bit per chunk of `bitmap`: set when the chunk is clean.
    clean: Bitmap<W>,
    ram_frames: u64,
    reserved_frames: u64,
    lending_frames: u64,
    populated_ram: u64,
    /// Frames below this one count as low memory in the statistics.
    lowmem_limit: u64,
    /// Xen's page count minus the model's, once measured.
    baseline: Option<i64>,
    /// No unpopulated RAM frame (lent or not) lies below this one: the searches for ballooned
    /// frames start here instead of at frame 0. Clearing a bit below it lowers it;
    /// [`PageMap::settle_bounds`] moves it up to the first unpopulated frame.
    floor: u64,
    /// No populated RAM frame lies at or above this one: the searches for free frames start
    /// here instead of at the top. Setting a bit above it raises it;
    /// [`PageMap::settle_bounds`] moves it down to just above the last populated frame.
    ceiling: u64,
}

impl<W: Storage> PageMap<W> {
    /// The map for `config` over `storage`: RAM populated, extra regions and growth ballooned,
    /// every chunk dirty, the search bounds settled (one pass over the bitmap, at boot).
    pub fn new(config: &Config<'_>, storage: W) -> Result<Self, ConfigError> {
        let regions = Regions::build(config)?;
        let count = crate::reserved::check(config.ram, config.reserved.iter().copied())?;
        let layout = regions.layout(config, config.reserved.iter().copied());
        let needed = regions.storage_words(layout, count);
        if storage.borrow().len() < needed {
            return Err(ConfigError::StorageTooSmall);
        }
        let (words, _) = storage.split_words(needed);
        let (words, rest) = words.split_words(layout.words);
        let (chunk_words, reserved_words) = rest.split_words(regions.chunk_words());
        let reserved = ReservedRuns::new(reserved_words, config.reserved);
        let mut bitmap = Populated::new(layout, words, regions.bits());
        // The layout holds a block for each: pinning cannot run out, nor can the ranges below,
        // which then take no block (whole chunks, or pinned ones).
        for bit in regions.fragile_bits(reserved.iter()) {
            bitmap.pin(bit).map_err(|_| ConfigError::StorageTooSmall)?;
        }
        let mut populated_ram: u64 = 0;
        for region in regions.iter() {
            if let RegionKind::Ram {
                bit_base,
                extra: false,
            } = region.kind
            {
                (bitmap.set_range(bit_base, region.run.frames, true))
                    .map_err(|_| ConfigError::StorageTooSmall)?;
                // Managed frames lie below 2^40 (the layout's check): their sum fits.
                populated_ram = populated_ram.saturating_add(region.run.frames);
            }
        }
        for run in reserved.iter() {
            if let Some(bit) = regions.find(run.start()).and_then(|r| r.bit(run.start())) {
                (bitmap.set_range(bit, run.frames, false))
                    .map_err(|_| ConfigError::StorageTooSmall)?;
            }
        }
        let mut map = PageMap {
            // The reserved frames lie in boot RAM (the check): neither count goes below zero.
            ram_frames: regions.frames(is_ram).saturating_sub(reserved.frames()),
            reserved_frames: reserved.frames(),
            lending_frames: regions.frames(is_lending),
            lowmem_limit: config.lowmem_limit.0,
            populated_ram: populated_ram.saturating_sub(reserved.frames()),
            regions,
            reserved,
            bitmap,
            clean: Bitmap::new(chunk_words),
            baseline: None,
            floor: 0,
            ceiling: u64::MAX,
        };
        map.settle_bounds();
        Ok(map)
    }

    /// Populated frames: reserved and populated RAM.
    pub fn current_pages(&self) -> u64 {
        // Both count managed frames, below 2^40 each.
        self.reserved_frames.saturating_add(self.populated_ram)
    }

    /// Frames that could be populated: reserved and RAM (extra regions and growth included).
    pub fn total_pages(&self) -> u64 {
        // Both count managed frames, below 2^40 each.
        self.reserved_frames.saturating_add(self.ram_frames)
    }

    /// RAM frames (extra regions and growth included).
    pub fn ram_frames(&self) -> u64 {
        self.ram_frames
    }

    /// Populated RAM frames.
    pub fn populated_ram(&self) -> u64 {
        self.populated_ram
    }

    /// Frames of the lending range.
    pub fn lending_frames(&self) -> u64 {
        self.lending_frames
    }

    /// The first frame above low memory.
    pub fn lowmem_limit(&self) -> u64 {
        self.lowmem_limit
    }

    /// Take the baseline from Xen's page count `xen`.
    pub fn take_baseline(&mut self, xen: u64) {
        self.baseline = Some(signed(xen).saturating_sub(signed(self.current_pages())));
    }

    /// Whether the baseline has been taken.
    pub fn has_baseline(&self) -> bool {
        self.baseline.is_some()
    }

    /// The baseline, 0 before it is taken.
    pub fn domain_offset(&self) -> i64 {
        self.baseline.unwrap_or(0)
    }

    /// What Xen's page count should be by the model.
    pub fn expected_xen(&self) -> i64 {
        signed(self.current_pages()).saturating_add(self.domain_offset())
    }

    /// Set (`populated`) or clear frames `[first, first + frames)` (inside one RAM region),
    /// keeping the populated count in step.
    pub fn mark(&mut self, first: u64, frames: u64, populated: bool) {
        let Some(bit) = self.regions.find(first).and_then(|r| r.bit(first)) else {
            return;
        };
        let before = self.bitmap.count_ones(bit, frames);
        if self.bitmap.set_range(bit, frames, populated).is_err() {
            // Refused for want of a block: the summary remembers it, and the invariant fails.
            return;
        }
        // `before` counts set bits of these `frames`, all of them counted in `populated_ram`.
        if populated {
            let added = frames.saturating_sub(before);
            self.populated_ram = self.populated_ram.saturating_add(added);
            // Frames of one region: the end is below 2^40.
            self.ceiling = self.ceiling.max(first.saturating_add(frames));
        } else {
            self.populated_ram = self.populated_ram.saturating_sub(before);
            self.floor = self.floor.min(first);
        }
    }

    /// Move the search bounds as far in as they go: the floor up to the lowest unpopulated RAM
    /// frame, the ceiling down to just above the highest populated one. A bound only passes
    /// frames in the other state, so each move costs the frames it passes once, and a search
    /// that starts at a bound finds exactly what a search from frame 0 (or the top) would.
    pub fn settle_bounds(&mut self) {
        self.floor = self.first_unpopulated(self.floor);
        self.ceiling = self.populated_end(self.ceiling);
    }

    /// The lowest unpopulated, unreserved RAM frame at or above `from` (`u64::MAX` if none).
    /// The reserved runs are walked with a cursor as the search goes up.
    fn first_unpopulated(&self, from: u64) -> u64 {
        let mut reserved = self
            .reserved
            .overlapping(FrameRun::span(from, u64::MAX))
            .peekable();
        for region in self.regions.iter().filter(|r| r.run.end() > from) {
            let mut at = region.run.start().max(from);
            while let Some(bit) = region.bit(at) {
                // The frames' bits lie inside the bitmap: `bit + (end - at)` fits.
                let end_bit = bit.saturating_add(region.run.end().saturating_sub(at));
                let Some(found) = self.bitmap.find_first(bit, end_bit, false) else {
                    break;
                };
                let gfn = at.saturating_add(found.saturating_sub(bit));
                while reserved.next_if(|r| r.end() <= gfn).is_some() {}
                match reserved.peek() {
                    Some(run) if run.start() <= gfn => at = run.end(),
                    _ => return gfn,
                }
            }
        }
        u64::MAX
    }

    /// Just above the highest populated RAM frame below `below` (0 if none).
    fn populated_end(&self, below: u64) -> u64 {
        for region in self.regions.iter().rev().filter(|r| r.run.start() < below) {
            let start = region.run.start();
            let Some(bit) = region.bit(start) else {
                continue;
            };
            let end = region.run.end().min(below);
            // As above; the bit found is at or after `bit`, the frame below `end`.
            let end_bit = bit.saturating_add(end.saturating_sub(start));
            if let Some(found) = self.bitmap.find_last(bit, end_bit, true) {
                return start
                    .saturating_add(found.saturating_sub(bit))
                    .saturating_add(1);
            }
        }
        0
    }

    /// The server populated frames `[first, first + frames)` (inside one RAM region, unpopulated
    /// before): set them, and make clean each chunk they enter that held no populated frame.
    pub fn populate(&mut self, first: u64, frames: u64) {
        let Some(bit) = self.regions.find(first).and_then(|r| r.bit(first)) else {
            return;
        };
        // The frames' bits lie inside the bitmap, so these sums stay below its size; `at` is
        // inside its chunk, which starts at or before it and ends after it.
        let end = bit.saturating_add(frames);
        let mut at = bit;
        while at < end {
            let chunk = at / FRAMES_PER_SUPERPAGE;
            let chunk_start = chunk.saturating_mul(FRAMES_PER_SUPERPAGE);
            let chunk_bits =
                FRAMES_PER_SUPERPAGE.min(self.bitmap.bits().saturating_sub(chunk_start));
            let chunk_end = (chunk_start.saturating_add(FRAMES_PER_SUPERPAGE)).min(end);
            if self.bitmap.all(chunk_start, chunk_bits, false) {
                self.clean.set_range(chunk, 1, true);
            }
            let frames_here = chunk_end.saturating_sub(at);
            let before = self.bitmap.count_ones(at, frames_here);
            if self.bitmap.set_range(at, frames_here, true).is_err() {
                // As in `mark`.
                return;
            }
            let added = frames_here.saturating_sub(before);
            self.populated_ram = self.populated_ram.saturating_add(added);
            at = chunk_end;
        }
        // Frames of one region: the end is below 2^40.
        self.ceiling = self.ceiling.max(first.saturating_add(frames));
    }

    /// Whether every chunk of frames `[first, first + frames)` (inside one RAM region) is clean:
    /// they can go back to Xen unscrubbed.
    pub fn is_clean(&self, first: u64, frames: u64) -> bool {
        let Some(bit) = self.regions.find(first).and_then(|r| r.bit(first)) else {
            return false;
        };
        // The frames' bits lie inside the bitmap: the last one is at or after the first.
        let chunk = bit / FRAMES_PER_SUPERPAGE;
        let last = bit.saturating_add(frames.max(1)).saturating_sub(1) / FRAMES_PER_SUPERPAGE;
        self.clean
            .all(chunk, last.saturating_sub(chunk).saturating_add(1), true)
    }

    /// A search view of the map with the lent runs `lent`.
    pub fn scan<'s, const L: usize>(&'s self, lent: &'s LentTable<L>) -> Scan<'s, W, L> {
        Scan {
            regions: &self.regions,
            bitmap: &self.bitmap,
            lent,
            reserved: &self.reserved,
            floor: self.floor,
            ceiling: self.ceiling,
        }
    }

    /// The parts of `run` inside each managed region, cut at the seams between regions.
    pub fn pieces(&self, run: FrameRun) -> impl Iterator<Item = (FrameRun, &Region)> {
        self.regions.pieces(run)
    }

    /// Where `run` lies.
    pub fn place(&self, run: FrameRun) -> Place {
        let Some(region) = self
            .regions
            .find(run.start())
            .filter(|r| r.run.contains_run(&run))
        else {
            return Place::Outside;
        };
        match region.kind {
            RegionKind::Lending => Place::Lending,
            RegionKind::Ram { .. } if self.reserved.holds(run) => Place::Reserved,
            RegionKind::Ram { .. } if self.reserved.any_in(run) => Place::Outside,
            RegionKind::Ram { .. } => match region.bit(run.start()) {
                Some(bit) => Place::Ram {
                    unpopulated: self.bitmap.all(bit, run.frames, false),
                },
                None => Place::Outside,
            },
        }
    }

    /// Frames below `limit` that are not reserved: lending space and RAM.
    pub fn unreserved_below(&self, limit: u64) -> u64 {
        let managed: u64 = (self.regions.iter())
            .map(|r| r.run.end().min(limit).saturating_sub(r.run.start()))
            .sum();
        // The reserved frames below `limit` are among the RAM frames below it.
        managed.saturating_sub(self.reserved.frames_below(limit))
    }

    /// The RAM region holding frame `gfn`.
    pub fn ram_region(&self, gfn: u64) -> Option<FrameRun> {
        (self.regions.find(gfn))
            .filter(|region| is_ram(&region.kind))
            .map(|region| region.run)
    }

    /// Blocks a batch may take for chunks it leaves mixed; `None` for the direct bitmap, which
    /// needs none.
    pub fn free_blocks(&self) -> Option<usize> {
        self.bitmap.free_blocks()
    }

    /// Bytes of the chunk summary's pool of blocks, part of [`PageMap::bitmap_bytes`] (0 for the
    /// direct bitmap).
    pub fn pool_bytes(&self) -> usize {
        self.bitmap.pool_bytes()
    }

    /// Bytes of storage: the populated bitmap, the clean chunks and the reserved runs.
    pub fn bitmap_bytes(&self) -> usize {
        // All are storage in memory: their sum fits.
        (self.bitmap.bytes())
            .saturating_add(self.clean.bytes())
            .saturating_add(self.reserved.bytes())
    }

    /// Check that the populated count matches the bitmap (every reserved frame's bit clear),
    /// that no frame lies beyond the search bound of its state, and that the chunk summary is
    /// consistent with every chunk holding a region's end or a reserved frame pinned.
    pub fn check(&self) -> Result<(), InvariantViolation> {
        if !self.bitmap.is_consistent()
            || !(self.regions.fragile_bits(self.reserved.iter()))
                .all(|bit| self.bitmap.is_pinned(bit))
        {
            return Err(InvariantViolation::ChunkSummary);
        }
        let mut populated: u64 = 0;
        for region in self.regions.iter() {
            if let Some(bit) = region.bit(region.run.start()) {
                // Managed frames lie below 2^40: their sum fits.
                populated =
                    populated.saturating_add(self.bitmap.count_ones(bit, region.run.frames));
            }
        }
        if populated != self.populated_ram {
            return Err(InvariantViolation::PopulatedCount);
        }
        if self.first_unpopulated(0) < self.floor || self.populated_end(u64::MAX) > self.ceiling {
            return Err(InvariantViolation::SearchBounds);
        }
        let reserved_clear = self.reserved.iter().all(|run| {
            (self
                .regions
                .find(run.start())
                .and_then(|r| r.bit(run.start())))
            .is_some_and(|bit| self.bitmap.all(bit, run.frames, false))
        });
        if !reserved_clear {
            return Err(InvariantViolation::PopulatedCount);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::config::Policy;

    #[test]
    fn places_and_counts_follow_the_bitmap() {
        let ram = [FrameRun::span(0, 1024)];
        let reserved = [FrameRun::span(0, 64)];
        let mut config = Config::new(&ram, Policy::Seed);
        config.reserved = &reserved;
        config.lending = Some(FrameRun::span(4096, 4160));
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut pages = PageMap::new(&config, &mut words[..]).unwrap();
        assert_eq!((pages.current_pages(), pages.total_pages()), (1024, 1024));
        pages.mark(100, 10, false);
        pages.mark(105, 10, true);
        assert_eq!(pages.populated_ram(), 1024 - 64 - 5);
        pages.check().unwrap();
        let place = |first, end| pages.place(FrameRun::span(first, end));
        assert_eq!(place(100, 105), Place::Ram { unpopulated: true });
        assert_eq!(place(100, 106), Place::Ram { unpopulated: false });
        assert_eq!(place(10, 20), Place::Reserved);
        assert_eq!(place(4096, 4100), Place::Lending);
        assert_eq!(place(60, 70), Place::Outside);
        assert_eq!(place(2000, 2001), Place::Outside);
        let pieces: std::vec::Vec<_> = pages
            .pieces(FrameRun::span(1000, 4100))
            .map(|(piece, region)| (piece, region.kind))
            .collect();
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0].0, FrameRun::span(1000, 1024));
        assert_eq!(pieces[1], (FrameRun::span(4096, 4100), RegionKind::Lending));
        assert_eq!(pages.unreserved_below(100), 36);
        assert_eq!(pages.unreserved_below(u64::MAX), 960 + 64);
        assert_eq!((pages.has_baseline(), pages.domain_offset()), (false, 0));
        pages.take_baseline(1019 + 7);
        assert_eq!((pages.domain_offset(), pages.expected_xen()), (7, 1026));
    }

    #[test]
    fn a_chunk_turns_clean_only_when_the_server_populates_it_empty() {
        let ram = [FrameRun::span(0, 2048)];
        let reserved = [FrameRun::span(1500, 1600)];
        let mut config = Config::new(&ram, Policy::Ballast);
        config.reserved = &reserved;
        let mut words = std::vec![0u64; config.bitmap_words().unwrap()];
        let mut pages = PageMap::new(&config, &mut words[..]).unwrap();
        assert!(
            (0..2048).step_by(512).all(|f| !pages.is_clean(f, 1)),
            "RAM populated at boot is dirty"
        );
        pages.mark(512, 512, false);
        assert!(!pages.is_clean(512, 1), "emptied, still dirty");
        pages.populate(600, 1);
        assert!(pages.is_clean(512, 512), "populated empty by the server");
        pages.populate(512, 88);
        pages.populate(601, 423);
        assert!(pages.is_clean(512, 512));
        pages.mark(512, 100, false);
        pages.populate(512, 100);
        assert!(pages.is_clean(512, 512), "a clean chunk stays clean");
        pages.mark(0, 10, false);
        pages.populate(0, 10);
        assert!(
            !pages.is_clean(0, 1),
            "a chunk still holding boot frames stays dirty"
        );
        assert!(!pages.is_clean(512, 1024), "one dirty chunk in the run");
        pages.mark(1024, 476, false);
        pages.populate(1024, 476);
        assert!(
            pages.is_clean(1024, 476),
            "the reserved frames of a chunk are not the server's: its RAM frames decide"
        );
        pages.mark(1600, 448, false);
        pages.mark(1600, 1, true);
        pages.populate(1601, 447);
        assert!(
            !pages.is_clean(1600, 448),
            "populated by another path first: the chunk stays dirty"
        );
        assert_eq!(pages.populated_ram(), 2048 - 100);
        pages.check().unwrap();
        assert!(!pages.is_clean(5000, 1), "outside RAM");
    }
}
