//! A 512-bit map of one 2 MiB chunk's 4 KiB frames, with range operations that work a word at a
//! time (never a bit at a time), for chunks that are neither empty nor wholly populated.

/// Frames in one chunk: one bit each.
pub const CHUNK_FRAMES: u64 = 512;
const WORDS: usize = (CHUNK_FRAMES / 64) as usize;

/// Which frames of a chunk are populated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkBits([u64; WORDS]);

/// The first bit of word `word` (`word < 8`, so at most 448: the product cannot saturate).
fn word_base(word: usize) -> u64 {
    (word as u64).saturating_mul(64)
}

/// The mask of bits `[lo, hi)` that fall in word `word`, or 0. Every value here is a bit of one
/// chunk, at most 512, so nothing saturates.
fn word_mask(word: usize, lo: u64, hi: u64) -> u64 {
    let base = word_base(word);
    let a = lo.max(base);
    let b = hi.min(base.saturating_add(64));
    if a >= b {
        return 0;
    }
    // 1 to 64 bits wide, starting 0 to 63 bits into the word.
    let ones = u64::MAX >> 64u64.saturating_sub(b.saturating_sub(a));
    ones << a.saturating_sub(base)
}

/// The words that bits `[lo, hi)` touch (`lo < hi <= 512`).
fn words(lo: u64, hi: u64) -> core::ops::RangeInclusive<usize> {
    (lo / 64) as usize..=(hi.saturating_sub(1) / 64) as usize
}

impl ChunkBits {
    /// No frame populated.
    pub const fn empty() -> ChunkBits {
        ChunkBits([0; WORDS])
    }

    /// Every frame populated.
    pub const fn full() -> ChunkBits {
        ChunkBits([u64::MAX; WORDS])
    }

    /// Populated frames in `[lo, hi)`.
    pub fn count(&self, lo: u64, hi: u64) -> u64 {
        if lo >= hi {
            return 0;
        }
        words(lo, hi)
            .map(|w| (self.0[w] & word_mask(w, lo, hi)).count_ones() as u64)
            .sum()
    }

    /// Mark `[lo, hi)` populated.
    pub fn set(&mut self, lo: u64, hi: u64) {
        if lo < hi {
            for w in words(lo, hi) {
                self.0[w] |= word_mask(w, lo, hi);
            }
        }
    }

    /// Mark `[lo, hi)` unpopulated.
    pub fn clear(&mut self, lo: u64, hi: u64) {
        if lo < hi {
            for w in words(lo, hi) {
                self.0[w] &= !word_mask(w, lo, hi);
            }
        }
    }

    /// The first unpopulated frame in `[lo, hi)`.
    pub fn first_zero(&self, lo: u64, hi: u64) -> Option<u64> {
        if lo >= hi {
            return None;
        }
        words(lo, hi).find_map(|w| {
            let holes = !self.0[w] & word_mask(w, lo, hi);
            (holes != 0).then(|| word_base(w).saturating_add(u64::from(holes.trailing_zeros())))
        })
    }

    /// Whether every frame is populated.
    pub fn is_full(&self) -> bool {
        self.0.iter().all(|w| *w == u64::MAX)
    }

    /// Whether no frame is populated.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_across_word_boundaries_count_exactly() {
        let mut bits = ChunkBits::empty();
        bits.set(60, 130);
        assert_eq!(bits.count(0, 512), 70);
        assert_eq!(bits.count(64, 128), 64);
        assert_eq!(bits.first_zero(60, 200), Some(130));
        assert_eq!(bits.first_zero(60, 130), None);
        assert_eq!(
            (bits.count(59, 60), bits.count(60, 61), bits.count(129, 131)),
            (0, 1, 1)
        );
        bits.clear(100, 101);
        assert_eq!(bits.first_zero(60, 512), Some(100));
        assert_eq!(bits.count(0, 512), 69);
    }

    #[test]
    fn full_and_empty_are_recognised() {
        let mut bits = ChunkBits::full();
        assert!(bits.is_full());
        bits.clear(0, 512);
        assert!(bits.is_empty());
        bits.set(511, 512);
        assert_eq!(bits.first_zero(0, 512), Some(0));
        assert_eq!(bits.count(0, 512), 1);
        assert_eq!(bits.count(5, 5), 0);
    }
}
