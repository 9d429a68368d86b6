//! The region table: the managed guest-physical space cut into RAM (one bitmap bit per frame,
//! reserved frames inside it included: `reserved` holds those) and lending (never populated, no
//! bits) regions, sorted by frame number, and the storage their bits take: the populated bitmap
//! (in the form `populated` chooses) and, after it, one bit per 512 populated-bitmap bits (a
//! 2 MiB chunk) saying whether it is clean. The table holds the configuration's ranges, never one per reserved run, so its size
//! does not limit how fragmented the guest's RAM may be.

use heapless::Vec;

use crate::bitmap::WORD_BITS;
use crate::config::{Config, ConfigError};
use crate::populated::{partial_ends, Layout};
use crate::reserved::WORDS_PER_RUN;
use ballast_xen::FrameRun;
use ballast_xen::FRAMES_PER_SUPERPAGE;

/// Most regions a configuration may produce (RAM, extra, growth and lending ranges together;
/// reserved runs are not regions).
pub const MAX_REGIONS: usize = 32;

/// What a region's frames are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// RAM (its reserved runs included); frame `f` is bit `bit_base + (f - first)` of the
    /// populated bitmap.
    /// `bit_base` is congruent to `first` modulo 512, so a 2 MiB chunk maps to whole words and
    /// its frames of one region to one clean-chunk bit.
    Ram {
        /// Bit of the region's first frame.
        bit_base: u64,
        /// A boot-time extra region or the growth range (unpopulated at start).
        extra: bool,
    },
    /// Unpopulated space reserved for lending.
    Lending,
}

/// One region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Its frames.
    pub run: FrameRun,
    /// What they are.
    pub kind: RegionKind,
}

impl Region {
    /// The bitmap bit of frame `gfn` (which must lie in this RAM region).
    pub fn bit(&self, gfn: u64) -> Option<u64> {
        match self.kind {
            RegionKind::Ram { bit_base, .. } if self.run.contains(gfn) => {
                // `gfn` is in the run, and the run's bits lie inside the bitmap.
                Some(bit_base.saturating_add(gfn.saturating_sub(self.run.start())))
            }
            _ => None,
        }
    }
}

/// The sorted, non-overlapping region table.
#[derive(Debug)]
pub struct Regions {
    list: Vec<Region, MAX_REGIONS>,
    bits: u64,
    chunk_words: usize,
}

fn push(
    list: &mut Vec<Region, MAX_REGIONS>,
    run: FrameRun,
    kind: RegionKind,
) -> Result<(), ConfigError> {
    list.push(Region { run, kind })
        .map_err(|_| ConfigError::TooManyRegions)
}

impl Regions {
    /// Build the table from a configuration, checking it.
    pub fn build(config: &Config<'_>) -> Result<Regions, ConfigError> {
        let all = config
            .ram
            .iter()
            .chain(config.extra)
            .chain(config.growth.iter())
            .chain(config.lending.iter());
        if all.clone().any(|r| !r.is_valid()) {
            return Err(ConfigError::EmptyOrWrappingRange);
        }
        let mut list = Vec::new();
        let boot = config.ram.iter().map(|run| (run, false));
        let extra = config.extra.iter().chain(config.growth.iter());
        for (run, extra) in boot.chain(extra.map(|run| (run, true))) {
            push(&mut list, *run, RegionKind::Ram { bit_base: 0, extra })?;
        }
        if let Some(lending) = config.lending {
            push(&mut list, lending, RegionKind::Lending)?;
        }
        list.sort_unstable_by_key(|r| r.run.start());
        if list.windows(2).any(|w| w[0].run.end() > w[1].run.start()) {
            return Err(ConfigError::OverlappingRanges);
        }
        let mut next_bit = 0u64;
        for region in list.iter_mut() {
            if let RegionKind::Ram { extra, .. } = region.kind {
                let chunk = FRAMES_PER_SUPERPAGE;
                // The bits to skip so that the region's first frame and its bit share their offset
                // in a chunk: (start - next_bit) mod 512, which modulo 2^64 arithmetic gives
                // exactly (512 divides 2^64), so the wrapping subtraction is the intended one.
                let shift = region.run.start().wrapping_sub(next_bit) % chunk;
                let bit_base = next_bit.saturating_add(shift);
                region.kind = RegionKind::Ram { bit_base, extra };
                next_bit = bit_base.saturating_add(region.run.frames);
            }
        }
        let words_for = |bits: u64| usize::try_from(bits.div_ceil(WORD_BITS)).unwrap_or(usize::MAX);
        Ok(Regions {
            list,
            bits: next_bit,
            chunk_words: words_for(next_bit.div_ceil(FRAMES_PER_SUPERPAGE)),
        })
    }

    /// Bits of the populated bitmap the table needs.
    pub fn bits(&self) -> u64 {
        self.bits
    }

    /// The populated bitmap's layout for `config` with the reserved runs `reserved` (checked):
    /// a summary's pool holds a block for each chunk [`Regions::fragile_bits`] gives, counted
    /// run by run (in any order, so a chunk two runs share counts twice), and the spare blocks.
    pub fn layout(&self, config: &Config<'_>, reserved: impl Iterator<Item = FrameRun>) -> Layout {
        let pinned = self.fragile_bits(reserved).count();
        Layout::new(config, self.bits, pinned)
    }

    /// A bit in each chunk the batches may leave mixed whatever they do, region by region,
    /// then run by run of `reserved`: a chunk holding a RAM region's end (bits of no frame, or
    /// of another region, beside it) or part of a reserved run (bits that stay clear). The
    /// chunk summary pins them.
    pub fn fragile_bits<'r>(
        &'r self,
        reserved: impl Iterator<Item = FrameRun> + 'r,
    ) -> impl Iterator<Item = u64> + 'r {
        let ram = (self.list.iter()).filter_map(|r| Some((r.bit(r.run.start())?, r.run.frames)));
        let reserved = reserved.filter_map(|run| {
            let bit = self.find(run.start())?.bit(run.start())?;
            Some((bit, run.frames))
        });
        ram.chain(reserved)
            .flat_map(|(first, frames)| partial_ends(first, frames))
            .flatten()
    }

    /// Words of clean-chunk storage the table needs: one bit per 512 populated-bitmap bits.
    pub fn chunk_words(&self) -> usize {
        self.chunk_words
    }

    /// Words of storage for the bitmaps of `layout` and `reserved` reserved runs.
    pub fn storage_words(&self, layout: Layout, reserved: usize) -> usize {
        // Words of storage in memory: a sum past `usize::MAX` saturates and no storage fits it.
        layout
            .words
            .saturating_add(self.chunk_words)
            .saturating_add(reserved.saturating_mul(WORDS_PER_RUN))
    }

    /// The regions, sorted by frame number.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Region> + Clone {
        self.list.iter()
    }

    /// The region holding frame `gfn`.
    pub fn find(&self, gfn: u64) -> Option<&Region> {
        let index = self.list.partition_point(|r| r.run.end() <= gfn);
        self.list.get(index).filter(|r| r.run.contains(gfn))
    }

    /// The parts of `run` inside each region it overlaps, in order, with their region: a run
    /// crossing a seam between regions comes back cut at the seam (gaps are left out).
    pub fn pieces(&self, run: FrameRun) -> impl Iterator<Item = (FrameRun, &Region)> {
        let first = self.list.partition_point(|r| r.run.end() <= run.start());
        self.list[first..]
            .iter()
            .take_while(move |r| r.run.start() < run.end())
            .map(move |r| {
                let piece =
                    FrameRun::span(r.run.start().max(run.start()), r.run.end().min(run.end()));
                (piece, r)
            })
    }

    /// Frames in regions whose kind passes `kind`.
    pub fn frames(&self, kind: impl Fn(&RegionKind) -> bool) -> u64 {
        self.list
            .iter()
            .filter(|r| kind(&r.kind))
            .map(|r| r.run.frames)
            .sum()
    }
}

/// Whether a region kind is RAM (bitmap-backed).
pub fn is_ram(kind: &RegionKind) -> bool {
    matches!(kind, RegionKind::Ram { .. })
}

/// Whether a region kind is the lending range.
pub fn is_lending(kind: &RegionKind) -> bool {
    matches!(kind, RegionKind::Lending)
}

impl Config<'_> {
    /// Words of `u64` storage the core needs for this configuration: the populated bitmap (one
    /// bit per RAM frame, or as the chunk summary two bits per 2 MiB chunk and the pool of
    /// blocks for mixed chunks, whichever is smaller), the clean chunks (one bit per 2 MiB) and
    /// the reserved runs ([`WORDS_PER_RUN`] words each).
    pub fn bitmap_words(&self) -> Result<usize, ConfigError> {
        self.storage_words_with(self.reserved.iter().copied())
    }

    /// [`Config::bitmap_words`] with the reserved runs `reserved` in place of `self.reserved`.
    pub(crate) fn storage_words_with(
        &self,
        reserved: impl Iterator<Item = FrameRun> + Clone,
    ) -> Result<usize, ConfigError> {
        let regions = Regions::build(self)?;
        let count = crate::reserved::check(self.ram, reserved.clone())?;
        Ok(regions.storage_words(regions.layout(self, reserved), count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Policy;
    use ballast_xen::Gfn;

    #[test]
    fn reserved_runs_stay_in_ram_and_bits_keep_chunk_alignment() {
        let ram = [FrameRun::span(0, 2048)];
        let reserved = [FrameRun::span(100, 200)];
        let extra = [FrameRun::span(4096 + 100, 4096 + 512)];
        let mut config = Config::new(&ram, Policy::Ballast);
        config.reserved = &reserved;
        config.extra = &extra;
        config.lending = Some(FrameRun::new(Gfn(1 << 20), 1024));
        let regions = Regions::build(&config).unwrap();
        let kinds: heapless::Vec<_, 8> = regions.iter().map(|r| r.kind).collect();
        assert_eq!(kinds.len(), 3);
        assert!(is_ram(&regions.find(150).unwrap().kind));
        assert_eq!(regions.find(3000), None);
        for gfn in [0u64, 99, 150, 200, 512, 2047, 4196, 4600] {
            let bit = regions.find(gfn).unwrap().bit(gfn).unwrap();
            assert_eq!(bit % 512, gfn % 512);
        }
        assert_eq!(regions.frames(is_ram), 2048 + 412);
        assert_eq!(regions.frames(is_lending), 1024);
        assert!(regions.bits() >= regions.frames(is_ram));
        let layout = regions.layout(&config, reserved.iter().copied());
        assert_eq!(
            layout.blocks, None,
            "a small layout keeps the direct bitmap"
        );
        assert_eq!(layout.words as u64, regions.bits().div_ceil(64));
        assert_eq!(
            config.bitmap_words(),
            Ok(layout.words + regions.chunk_words() + WORDS_PER_RUN)
        );
        assert_eq!(regions.chunk_words(), 1);
    }

    #[test]
    fn bad_ranges_are_refused() {
        let ram = [FrameRun::span(0, 100), FrameRun::span(50, 150)];
        assert_eq!(
            Config::new(&ram, Policy::Seed).bitmap_words(),
            Err(ConfigError::OverlappingRanges)
        );
        let ram = [FrameRun::span(0, 100)];
        let reserved = [FrameRun::span(90, 110)];
        let mut config = Config::new(&ram, Policy::Seed);
        config.reserved = &reserved;
        assert_eq!(config.bitmap_words(), Err(ConfigError::ReservedOutsideRam));
        let empty = [FrameRun::span(5, 5)];
        assert_eq!(
            Config::new(&empty, Policy::Seed).bitmap_words(),
            Err(ConfigError::EmptyOrWrappingRange)
        );
    }
}
