//! The populated bitmap in one of two forms, chosen when the core is built from the
//! configuration: the direct bitmap (one bit per frame) or the chunk summary (`chunk_map`: two
//! bits per 2 MiB chunk and a block only for mixed chunks), the smaller of the two unless the
//! configuration forces one. The summary needs a block for good for every chunk that holds a
//! bit of no frame (a region's ends) or of a reserved frame, and a spare block for every chunk
//! a batch may leave mixed (`Config::mixed_chunk_blocks`); so a layout with a reserved frame in
//! most chunks costs more as a summary, and keeps the direct bitmap.

use crate::bitmap::{Bitmap, WORD_BITS};
use crate::chunk_map::{self, ChunkMap, PoolFull};
use crate::config::{Config, PopulatedForm};
use crate::storage::Storage;
use ballast_xen::FRAMES_PER_SUPERPAGE;

/// The form chosen for a configuration, and the words of storage it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The words of storage.
    pub words: usize,
    /// `None` for the direct bitmap; the pool's blocks for the summary.
    pub blocks: Option<usize>,
}

impl Layout {
    /// The layout for `bits` bits of bitmap with at most `pinned` chunks to pin, as `config`
    /// asks.
    pub fn new(config: &Config<'_>, bits: u64, pinned: usize) -> Layout {
        let direct = Layout {
            words: usize::try_from(bits.div_ceil(WORD_BITS)).unwrap_or(usize::MAX),
            blocks: None,
        };
        let blocks = pinned.saturating_add(config.mixed_chunk_blocks);
        let chunks = bits.div_ceil(FRAMES_PER_SUPERPAGE);
        let summary = Layout {
            words: chunk_map::words(chunks, blocks),
            blocks: Some(blocks),
        };
        match config.populated_form {
            PopulatedForm::Direct => direct,
            PopulatedForm::ChunkSummary => summary,
            PopulatedForm::Smaller if summary.words < direct.words => summary,
            PopulatedForm::Smaller => direct,
        }
    }
}

/// The populated bitmap, in the form its layout chose, over the caller's storage `W`.
#[derive(Debug)]
pub enum Populated<W> {
    /// One bit per frame.
    Direct(Bitmap<W>),
    /// Chunk states and blocks for mixed chunks.
    Summary(ChunkMap<W>),
}

impl<W: Storage> Populated<W> {
    /// The bitmap of `layout` over `words` (its words), all clear, for `bits` bits.
    pub fn new(layout: Layout, words: W, bits: u64) -> Populated<W> {
        match layout.blocks {
            None => Populated::Direct(Bitmap::new(words)),
            Some(_) => {
                Populated::Summary(ChunkMap::new(words, bits.div_ceil(FRAMES_PER_SUPERPAGE)))
            }
        }
    }

    /// Bits it holds (at least those asked for).
    pub fn bits(&self) -> u64 {
        match self {
            Populated::Direct(map) => map.bits(),
            Populated::Summary(map) => map.bits(),
        }
    }

    /// Bytes of storage.
    pub fn bytes(&self) -> usize {
        match self {
            Populated::Direct(map) => map.bytes(),
            Populated::Summary(map) => map.bytes(),
        }
    }

    /// Bytes of the summary's pool (0 for the direct bitmap): sized by the configuration, not by
    /// memory.
    pub fn pool_bytes(&self) -> usize {
        match self {
            Populated::Direct(_) => 0,
            Populated::Summary(map) => map.pool_bytes(),
        }
    }

    /// Set every bit of `[start, start + len)` to `value`; refused, changing nothing, if the
    /// summary's pool lacks a block for it (the batches never ask for that: see `scan`).
    pub fn set_range(&mut self, start: u64, len: u64, value: bool) -> Result<(), PoolFull> {
        match self {
            Populated::Direct(map) => {
                map.set_range(start, len, value);
                Ok(())
            }
            Populated::Summary(map) => map.set_range(start, len, value),
        }
    }

    /// Number of set bits in `[start, start + len)`.
    pub fn count_ones(&self, start: u64, len: u64) -> u64 {
        match self {
            Populated::Direct(map) => map.count_ones(start, len),
            Populated::Summary(map) => map.count_ones(start, len),
        }
    }

    /// Whether every bit of `[start, start + len)` equals `value`.
    pub fn all(&self, start: u64, len: u64, value: bool) -> bool {
        match self {
            Populated::Direct(map) => map.all(start, len, value),
            Populated::Summary(map) => map.all(start, len, value),
        }
    }

    /// The lowest bit in `[start, end)` equal to `value`.
    pub fn find_first(&self, start: u64, end: u64, value: bool) -> Option<u64> {
        match self {
            Populated::Direct(map) => map.find_first(start, end, value),
            Populated::Summary(map) => map.find_first(start, end, value),
        }
    }

    /// The highest bit in `[start, end)` equal to `value`.
    pub fn find_last(&self, start: u64, end: u64, value: bool) -> Option<u64> {
        match self {
            Populated::Direct(map) => map.find_last(start, end, value),
            Populated::Summary(map) => map.find_last(start, end, value),
        }
    }

    /// Blocks a batch may still take for chunks it leaves mixed: `None` for the direct bitmap,
    /// which needs none.
    pub fn free_blocks(&self) -> Option<usize> {
        match self {
            Populated::Direct(_) => None,
            Populated::Summary(map) => Some(map.free_blocks()),
        }
    }

    /// Whether changing some bits of the chunk holding bit `bit` may take a block: it is
    /// uniform in the summary.
    pub fn needs_block(&self, bit: u64) -> bool {
        match self {
            Populated::Direct(_) => false,
            Populated::Summary(map) => !map.is_mixed(bit / FRAMES_PER_SUPERPAGE),
        }
    }

    /// Give the chunk holding bit `bit` a block for good (the summary only).
    pub fn pin(&mut self, bit: u64) -> Result<(), PoolFull> {
        match self {
            Populated::Direct(_) => Ok(()),
            Populated::Summary(map) => map.pin(bit / FRAMES_PER_SUPERPAGE),
        }
    }

    /// Whether the chunk holding bit `bit` has its block for good (always, for the direct
    /// bitmap, which holds every bit).
    pub fn is_pinned(&self, bit: u64) -> bool {
        match self {
            Populated::Direct(_) => true,
            Populated::Summary(map) => map.is_pinned(bit / FRAMES_PER_SUPERPAGE),
        }
    }

    /// Whether the summary is consistent (`ChunkMap::is_consistent`); the direct bitmap always
    /// is.
    pub fn is_consistent(&self) -> bool {
        match self {
            Populated::Direct(_) => true,
            Populated::Summary(map) => map.is_consistent(),
        }
    }
}

/// The first and the last bit of the `frames` bits from `first`, each where it leaves its chunk
/// partly covered; the last only if in another chunk than the first.
pub fn partial_ends(first: u64, frames: u64) -> [Option<u64>; 2] {
    // Bits of the bitmap: the end is below 2^64, and at least 1 past `first`.
    let end = first.saturating_add(frames);
    let last = end.saturating_sub(1);
    let first_partial = !first.is_multiple_of(FRAMES_PER_SUPERPAGE);
    let end_partial = !end.is_multiple_of(FRAMES_PER_SUPERPAGE);
    let same_chunk = first / FRAMES_PER_SUPERPAGE == last / FRAMES_PER_SUPERPAGE;
    [
        Some(first).filter(|_| first_partial || (same_chunk && end_partial)),
        Some(last).filter(|_| !same_chunk && end_partial),
    ]
}
