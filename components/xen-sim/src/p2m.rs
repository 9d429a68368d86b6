//! One domain's P2M as the simulator needs it: which gfns are populated, and which 2 MiB chunks
//! are still mapped by one intact superpage entry.
//!
//! Two levels, so that a 1 TiB guest costs about a byte per 2 MiB: a directory of leaves holding
//! one state byte per chunk (empty, intact superpage, full of 4 KiB entries, partial), and a
//! 512-bit map only for the chunks that are partial. Every operation costs per chunk it touches.
//!
//! The arithmetic saturates where it cannot overflow, and each site says why: a piece of a range
//! never reaches past the range's end, and the counts are of frames below [`GFN_LIMIT`], whose
//! sum fits a u64 many times over.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use crate::bitmap::{ChunkBits, CHUNK_FRAMES};

pub use ballast_xen::GFN_LIMIT;

const LEAF_CHUNKS: usize = 4096;
/// `LEAF_CHUNKS` as a chunk number.
const CHUNKS_PER_LEAF: u64 = LEAF_CHUNKS as u64;
/// Frames per leaf.
const LEAF_FRAMES: u64 = CHUNKS_PER_LEAF * CHUNK_FRAMES;

/// The state of one 2 MiB chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Chunk {
    /// No frame populated.
    Empty,
    /// Every frame populated and mapped by one 2 MiB entry.
    Superpage,
    /// Every frame populated, mapped by 4 KiB entries.
    Full,
    /// Some frames populated; the bits live in the side table.
    Partial,
}

/// What an insertion found and did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inserted {
    /// Frames of the range that were already populated (their old pages leak).
    pub already_populated: u64,
    /// Chunks that became intact superpages.
    pub formed: u64,
    /// Intact superpages broken into 4 KiB entries.
    pub shattered: u64,
}

/// What a removal did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    /// Frames that were populated and are not any more.
    pub frames: u64,
    /// Intact superpages broken while some of their frames stay populated.
    pub shattered: u64,
}

/// The states of `LEAF_CHUNKS` consecutive chunks, with how many are not empty.
#[derive(Debug)]
struct Leaf {
    states: [Chunk; LEAF_CHUNKS],
    used: usize,
}

/// The P2M of one domain.
#[derive(Debug, Default)]
pub struct P2m {
    leaves: BTreeMap<u64, Box<Leaf>>,
    partial: HashMap<u64, Box<ChunkBits>>,
    populated: u64,
    intact: u64,
}

/// One chunk's share of a frame range: chunk index and the frames `[lo, hi)` inside it.
#[derive(Clone, Copy, Debug)]
struct Piece {
    chunk: u64,
    lo: u64,
    hi: u64,
}

impl Piece {
    fn is_whole(&self) -> bool {
        self.lo == 0 && self.hi == CHUNK_FRAMES
    }

    /// `lo <= hi <= 512`.
    fn len(&self) -> u64 {
        self.hi.saturating_sub(self.lo)
    }

    fn first_gfn(&self) -> u64 {
        chunk_start(self.chunk).saturating_add(self.lo)
    }
}

/// The first frame of `chunk`: the chunk was cut from a frame number, so this is at most that.
fn chunk_start(chunk: u64) -> u64 {
    chunk.saturating_mul(CHUNK_FRAMES)
}

/// Split `range` at chunk boundaries.
fn pieces(range: Range<u64>) -> impl Iterator<Item = Piece> {
    let mut at = range.start;
    core::iter::from_fn(move || {
        if at >= range.end {
            return None;
        }
        let chunk = at / CHUNK_FRAMES;
        let lo = at % CHUNK_FRAMES;
        // The chunk starts at or below `at`, below the range's end.
        let hi = range
            .end
            .saturating_sub(chunk_start(chunk))
            .min(CHUNK_FRAMES);
        at = chunk_start(chunk).saturating_add(hi);
        Some(Piece { chunk, lo, hi })
    })
}

impl P2m {
    /// Frames populated in the whole P2M.
    pub fn populated(&self) -> u64 {
        self.populated
    }

    /// Chunks mapped by an intact superpage.
    pub fn intact(&self) -> u64 {
        self.intact
    }

    fn state(&self, chunk: u64) -> Chunk {
        let leaf = chunk / CHUNKS_PER_LEAF;
        self.leaves.get(&leaf).map_or(Chunk::Empty, |l| {
            l.states[(chunk % CHUNKS_PER_LEAF) as usize]
        })
    }

    fn set_state(&mut self, chunk: u64, state: Chunk) {
        let old = self.state(chunk);
        if old == state {
            return;
        }
        // Counts of chunks in the state they leave or enter: exact.
        if old == Chunk::Superpage {
            self.intact = self.intact.saturating_sub(1);
        }
        if state == Chunk::Superpage {
            self.intact = self.intact.saturating_add(1);
        }
        if old == Chunk::Partial {
            self.partial.remove(&chunk);
        }
        let leaf = chunk / CHUNKS_PER_LEAF;
        let slot = (chunk % CHUNKS_PER_LEAF) as usize;
        let l = self.leaves.entry(leaf).or_insert_with(|| {
            Box::new(Leaf {
                states: [Chunk::Empty; LEAF_CHUNKS],
                used: 0,
            })
        });
        l.states[slot] = state;
        // At most `LEAF_CHUNKS`, and a chunk leaves `Empty` before it can return to it.
        match (old, state) {
            (Chunk::Empty, _) => l.used = l.used.saturating_add(1),
            (_, Chunk::Empty) => l.used = l.used.saturating_sub(1),
            _ => {}
        }
        if l.used == 0 {
            self.leaves.remove(&leaf);
        }
    }

    /// Change the frame bits of `chunk` with `edit`, then settle the state they amount to. A
    /// partial chunk's bits are edited in place.
    fn edit_bits(&mut self, chunk: u64, edit: impl FnOnce(&mut ChunkBits)) {
        let bits = match self.partial.get_mut(&chunk) {
            Some(bits) => {
                edit(bits);
                if !bits.is_empty() && !bits.is_full() {
                    return;
                }
                (**bits).clone()
            }
            None => {
                let mut bits = self.bits(chunk);
                edit(&mut bits);
                bits
            }
        };
        if bits.is_empty() {
            self.set_state(chunk, Chunk::Empty);
        } else if bits.is_full() {
            self.set_state(chunk, Chunk::Full);
        } else {
            self.set_state(chunk, Chunk::Partial);
            self.partial.insert(chunk, Box::new(bits));
        }
    }

    fn bits(&self, chunk: u64) -> ChunkBits {
        match self.state(chunk) {
            Chunk::Empty => ChunkBits::empty(),
            Chunk::Superpage | Chunk::Full => ChunkBits::full(),
            Chunk::Partial => self
                .partial
                .get(&chunk)
                .map_or_else(ChunkBits::empty, |b| (**b).clone()),
        }
    }

    fn count_piece(&self, p: Piece) -> u64 {
        match self.state(p.chunk) {
            Chunk::Empty => 0,
            Chunk::Superpage | Chunk::Full => p.len(),
            Chunk::Partial => self
                .partial
                .get(&p.chunk)
                .map_or(0, |b| b.count(p.lo, p.hi)),
        }
    }

    /// Whether `gfn` is populated.
    pub fn is_populated(&self, gfn: u64) -> bool {
        self.count(gfn..gfn.saturating_add(1)) == 1
    }

    /// Whether chunk `chunk` (frames `chunk * 512 ..`) is mapped by an intact superpage.
    pub fn is_intact(&self, chunk: u64) -> bool {
        self.state(chunk) == Chunk::Superpage
    }

    /// Populated frames in `range`. Costs per leaf present in the range, so that a range over
    /// the whole gfn space is cheap.
    pub fn count(&self, range: Range<u64>) -> u64 {
        if range.start >= range.end {
            return 0;
        }
        let leaves = range.start / LEAF_FRAMES..=range.end.saturating_sub(1) / LEAF_FRAMES;
        // Leaves exist only below `GFN_LIMIT`: a leaf's frames and the count are far from u64's end.
        self.leaves
            .range(leaves)
            .map(|(leaf, _)| {
                let first = leaf.saturating_mul(LEAF_FRAMES);
                let within =
                    range.start.max(first)..range.end.min(first.saturating_add(LEAF_FRAMES));
                pieces(within)
                    .map(|p| self.count_piece(p))
                    .fold(0, u64::saturating_add)
            })
            .fold(0, u64::saturating_add)
    }

    /// The first unpopulated frame in `range`, if any.
    pub fn first_hole(&self, range: Range<u64>) -> Option<u64> {
        pieces(range).find_map(|p| match self.state(p.chunk) {
            Chunk::Empty => Some(p.first_gfn()),
            Chunk::Superpage | Chunk::Full => None,
            Chunk::Partial => self.partial.get(&p.chunk).map_or(Some(p.first_gfn()), |b| {
                b.first_zero(p.lo, p.hi)
                    .map(|bit| chunk_start(p.chunk).saturating_add(bit))
            }),
        })
    }

    /// Populate `range`. Whole chunks become intact superpages when `superpages` (the mapping was
    /// made with 2 MiB entries); everything else is mapped with 4 KiB entries.
    pub fn insert(&mut self, range: Range<u64>, superpages: bool) -> Inserted {
        let mut done = Inserted::default();
        for p in pieces(range) {
            // Counts of frames and chunks below `GFN_LIMIT`; `before` is at most the piece.
            let before = self.count_piece(p);
            done.already_populated = done.already_populated.saturating_add(before);
            let was = self.state(p.chunk);
            if p.is_whole() && superpages {
                if was != Chunk::Superpage {
                    done.formed = done.formed.saturating_add(1);
                }
                self.set_state(p.chunk, Chunk::Superpage);
            } else {
                if was == Chunk::Superpage {
                    done.shattered = done.shattered.saturating_add(1);
                }
                self.edit_bits(p.chunk, |bits| bits.set(p.lo, p.hi));
            }
            self.populated = self
                .populated
                .saturating_add(p.len().saturating_sub(before));
        }
        done
    }

    /// Unpopulate `range` (frames already unpopulated stay so).
    pub fn remove(&mut self, range: Range<u64>) -> Removed {
        let mut done = Removed::default();
        for p in pieces(range) {
            let before = self.count_piece(p);
            if before == 0 {
                continue;
            }
            if p.is_whole() {
                self.set_state(p.chunk, Chunk::Empty);
            } else {
                if self.state(p.chunk) == Chunk::Superpage {
                    done.shattered = done.shattered.saturating_add(1);
                }
                self.edit_bits(p.chunk, |bits| bits.clear(p.lo, p.hi));
            }
            // `before` frames were populated, so counted in `populated`.
            done.frames = done.frames.saturating_add(before);
            self.populated = self.populated.saturating_sub(before);
        }
        done
    }

    /// Approximate heap bytes this P2M holds.
    pub fn footprint_bytes(&self) -> usize {
        let leaf = core::mem::size_of::<Leaf>().saturating_add(48);
        let partial = core::mem::size_of::<ChunkBits>().saturating_add(32);
        self.leaves
            .len()
            .saturating_mul(leaf)
            .saturating_add(self.partial.capacity().saturating_mul(partial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_chunks_inserted_as_superpages_are_intact_and_4k_fills_are_not() {
        let mut p2m = P2m::default();
        let done = p2m.insert(0..1024 + 10, true);
        assert_eq!(
            done,
            Inserted {
                already_populated: 0,
                formed: 2,
                shattered: 0
            }
        );
        assert!(p2m.is_intact(0) && p2m.is_intact(1) && !p2m.is_intact(2));
        assert_eq!(p2m.populated(), 1034);
        p2m.insert(1034..1536, false);
        assert!(!p2m.is_intact(2));
        assert_eq!(p2m.count(1024..1536), 512);
        assert_eq!(p2m.intact(), 2);
    }

    #[test]
    fn removing_one_frame_shatters_and_reinserting_it_does_not_reform() {
        let mut p2m = P2m::default();
        p2m.insert(512..1024, true);
        assert_eq!(
            p2m.remove(700..701),
            Removed {
                frames: 1,
                shattered: 1
            }
        );
        assert!(!p2m.is_intact(1));
        assert_eq!(p2m.first_hole(512..1024), Some(700));
        p2m.insert(700..701, false);
        assert_eq!(p2m.first_hole(512..1024), None);
        assert!(!p2m.is_intact(1));
        assert_eq!(
            p2m.insert(512..1024, true),
            Inserted {
                already_populated: 512,
                formed: 1,
                shattered: 0
            }
        );
        assert!(p2m.is_intact(1));
    }

    #[test]
    fn removing_a_whole_chunk_empties_it_without_counting_a_shatter() {
        let mut p2m = P2m::default();
        p2m.insert(0..512, true);
        assert_eq!(
            p2m.remove(0..600),
            Removed {
                frames: 512,
                shattered: 0
            }
        );
        assert_eq!(p2m.populated(), 0);
        assert_eq!(p2m.intact(), 0);
        assert_eq!(p2m.first_hole(0..512), Some(0));
        assert_eq!(p2m.footprint_bytes(), 0);
    }

    #[test]
    fn populating_part_of_a_superpage_again_shatters_it() {
        let mut p2m = P2m::default();
        p2m.insert(0..512, true);
        assert_eq!(
            p2m.insert(3..4, false),
            Inserted {
                already_populated: 1,
                formed: 0,
                shattered: 1
            }
        );
        assert_eq!(p2m.populated(), 512);
        assert!(!p2m.is_intact(0));
    }

    #[test]
    fn counting_the_whole_gfn_space_visits_only_what_exists() {
        let mut p2m = P2m::default();
        p2m.insert(5..10, false);
        p2m.insert(GFN_LIMIT - 512..GFN_LIMIT, true);
        assert_eq!(p2m.count(0..u64::MAX), 517);
        assert_eq!(p2m.count(7..GFN_LIMIT - 1), 3 + 511);
        assert_eq!(p2m.count(10..10), 0);
    }

    #[test]
    fn holes_are_found_across_chunks() {
        let mut p2m = P2m::default();
        p2m.insert(100..600, false);
        assert_eq!(p2m.first_hole(100..600), None);
        assert_eq!(p2m.first_hole(100..601), Some(600));
        assert_eq!(p2m.first_hole(99..600), Some(99));
        assert!(p2m.is_populated(599) && !p2m.is_populated(600));
    }
}
