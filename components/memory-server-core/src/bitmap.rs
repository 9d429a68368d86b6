//! A bitmap in storage the caller sizes from the manifest: the direct form of the populated
//! bitmap (one bit per managed RAM frame), the clean chunks, and the per-frame blocks of the
//! chunk summary (`chunk_map`), which use the operations on plain words. Every operation works a
//! word (64 frames) at a time, so a 2 MiB chunk costs 8 words.

use core::borrow::BorrowMut;

/// Bits in one storage word.
pub const WORD_BITS: u64 = 64;

/// A bitmap over caller-provided words `W` (borrowed or owned). Bit `i` lives in word `i / 64`,
/// bit `i % 64`.
#[derive(Debug)]
pub struct Bitmap<W> {
    words: W,
}

/// The mask of bits `[lo, hi)` inside one word (`0 <= lo < hi <= 64`).
const fn mask(lo: u64, hi: u64) -> u64 {
    let upper = if hi == WORD_BITS {
        u64::MAX
    } else {
        !(u64::MAX << hi)
    };
    upper & (u64::MAX << lo)
}

/// The first bit of the word holding bit `at`.
const fn word_base(at: u64) -> u64 {
    at & !(WORD_BITS - 1)
}

/// Calls `f(word_index, mask)` for each word the bit range `[start, start + len)` touches,
/// until `f` returns false; returns false if stopped. (Bit ranges lie inside the storage, so
/// `start + len` and the next word's base never reach 2^64; the base of the word holding `at`
/// is at most `at`, below `end`.)
fn for_words(start: u64, len: u64, mut f: impl FnMut(usize, u64) -> bool) -> bool {
    let end = start.saturating_add(len);
    let mut at = start;
    while at < end {
        let word = at / WORD_BITS;
        let base = word_base(at);
        let lo = at % WORD_BITS;
        let hi = end.saturating_sub(base).min(WORD_BITS);
        if !f(word as usize, mask(lo, hi)) {
            return false;
        }
        at = base.saturating_add(WORD_BITS);
    }
    true
}

/// Set every bit of `[start, start + len)` of `words` to `value`.
pub fn set_range(words: &mut [u64], start: u64, len: u64, value: bool) {
    for_words(start, len, |w, m| {
        if value {
            words[w] |= m;
        } else {
            words[w] &= !m;
        }
        true
    });
}

/// Number of set bits in `[start, start + len)` of `words`.
pub fn count_ones(words: &[u64], start: u64, len: u64) -> u64 {
    let mut total = 0u64;
    for_words(start, len, |w, m| {
        // At most `len` in all.
        total = total.saturating_add(u64::from((words[w] & m).count_ones()));
        true
    });
    total
}

/// Whether every bit of `[start, start + len)` of `words` equals `value`.
pub fn all(words: &[u64], start: u64, len: u64, value: bool) -> bool {
    for_words(start, len, |w, m| {
        let bits = words[w] & m;
        if value {
            bits == m
        } else {
            bits == 0
        }
    })
}

/// Word `word` of `words` as seen when looking for `value` (so that a set bit means "matches").
fn matching(words: &[u64], word: usize, value: bool) -> u64 {
    if value {
        words[word]
    } else {
        !words[word]
    }
}

/// The lowest bit in `[start, end)` of `words` equal to `value`. The words after the first are
/// looked at with one comparison each: the statistics and the invariant scan every managed frame
/// through here.
pub fn find_first(words: &[u64], start: u64, end: u64, value: bool) -> Option<u64> {
    if start >= end {
        return None;
    }
    // Looking for clear bits is looking for set bits in the complement.
    let flip = if value { 0 } else { u64::MAX };
    let first = (start / WORD_BITS) as usize;
    // `end` is above `start`, so at least 1.
    let last = (end.saturating_sub(1) / WORD_BITS) as usize;
    let head = (words[first] ^ flip) & mask(start % WORD_BITS, WORD_BITS);
    let (word, bits) = if head != 0 {
        (first, head)
    } else {
        // Word indexes of the storage: `first + 1` is at most its length.
        let next = first.saturating_add(1);
        let skip = words[next..=last].iter().position(|&w| w != flip)?;
        let word = next.saturating_add(skip);
        (word, words[word] ^ flip)
    };
    // A bit of the storage: below 2^64.
    let bit = (word as u64)
        .saturating_mul(WORD_BITS)
        .saturating_add(u64::from(bits.trailing_zeros()));
    (bit < end).then_some(bit)
}

/// The highest bit in `[start, end)` of `words` equal to `value`.
pub fn find_last(words: &[u64], start: u64, end: u64, value: bool) -> Option<u64> {
    let mut top = end;
    // `top` is above `start`, so at least 1, and above the base of the word below it.
    while let Some(last) = top.checked_sub(1).filter(|_| top > start) {
        let base = word_base(last);
        let lo = start.saturating_sub(base);
        let bits = matching(words, (last / WORD_BITS) as usize, value)
            & mask(lo, top.saturating_sub(base));
        if bits != 0 {
            return Some(base | u64::from(bits.ilog2()));
        }
        top = base;
    }
    None
}

impl<W: BorrowMut<[u64]>> Bitmap<W> {
    /// A bitmap over `words`, all bits cleared.
    pub fn new(mut words: W) -> Bitmap<W> {
        words.borrow_mut().fill(0);
        Bitmap { words }
    }

    /// The words.
    fn words(&self) -> &[u64] {
        self.words.borrow()
    }

    /// Bits it holds.
    pub fn bits(&self) -> u64 {
        // Words of memory, 64 bits each: fewer than 2^64 bits.
        (self.words().len() as u64).saturating_mul(WORD_BITS)
    }

    /// Bytes of storage.
    pub fn bytes(&self) -> usize {
        core::mem::size_of_val(self.words())
    }

    /// Set every bit of `[start, start + len)` to `value`.
    pub fn set_range(&mut self, start: u64, len: u64, value: bool) {
        set_range(self.words.borrow_mut(), start, len, value);
    }

    /// Number of set bits in `[start, start + len)`.
    pub fn count_ones(&self, start: u64, len: u64) -> u64 {
        count_ones(self.words(), start, len)
    }

    /// Whether every bit of `[start, start + len)` equals `value`.
    pub fn all(&self, start: u64, len: u64, value: bool) -> bool {
        all(self.words(), start, len, value)
    }

    /// The lowest bit in `[start, end)` equal to `value`.
    pub fn find_first(&self, start: u64, end: u64, value: bool) -> Option<u64> {
        find_first(self.words(), start, end, value)
    }

    /// The highest bit in `[start, end)` equal to `value`.
    pub fn find_last(&self, start: u64, end: u64, value: bool) -> Option<u64> {
        find_last(self.words(), start, end, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cross_word_boundaries() {
        let mut words = [0u64; 4];
        let mut map = Bitmap::new(&mut words[..]);
        map.set_range(60, 70, true);
        assert_eq!(map.count_ones(0, 256), 70);
        assert!(map.all(60, 70, true));
        assert!(!map.all(59, 2, true));
        assert!(map.all(0, 60, false));
        assert!(map.all(129, 1, true) && map.all(130, 1, false));
        assert_eq!(map.find_first(0, 256, true), Some(60));
        assert_eq!(map.find_last(0, 256, true), Some(129));
        assert_eq!(map.find_first(60, 256, false), Some(130));
        assert_eq!(map.find_last(0, 100, false), Some(59));
        map.set_range(64, 64, false);
        assert_eq!(map.count_ones(0, 256), 6);
        assert_eq!(map.find_first(64, 128, true), None);
        assert_eq!(map.find_last(64, 128, true), None);
    }

    #[test]
    fn find_first_agrees_with_a_bit_by_bit_search() {
        let mut words = [0u64; 4];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (start, len) = ((state >> 8) % 256, (state >> 20) % 40);
            let mut map = Bitmap::new(&mut words[..]);
            map.set_range(start, len.min(256 - start), state & 1 == 1);
            map.set_range((state >> 32) % 200, (state >> 40) % 56, state & 2 == 2);
            for (lo, hi) in [
                (0, 256),
                (start, 256),
                (start / 2, start),
                (63, 129),
                (64, 128),
            ] {
                for value in [false, true] {
                    let slow = (lo..hi).find(|&b| map.all(b, 1, value));
                    assert_eq!(map.find_first(lo, hi, value), slow, "{lo}..{hi} {value}");
                }
            }
        }
    }

    #[test]
    fn whole_words_and_the_last_bit() {
        let mut words = [0u64; 2];
        let mut map = Bitmap::new(&mut words[..]);
        map.set_range(0, 128, true);
        assert!(map.all(0, 128, true));
        assert_eq!(map.find_last(0, 128, true), Some(127));
        assert_eq!(map.find_first(0, 128, false), None);
        map.set_range(127, 1, false);
        assert_eq!(map.find_last(0, 128, false), Some(127));
        assert_eq!(map.bytes(), 16);
    }
}
