//! What the granted pages hold: dom0 fills every word with [`pattern`], the domU checks every word
//! and then writes [`answer`] into word [`ANSWER_WORD`] of each page.
//!
//! Each value is a bijective scramble of `(round, page, word)` (62 bits: the round, the page's low
//! 20 bits, a 10-bit word field where the answer takes field 512), placed in bits 1..=62 with bit 0
//! set and bit 63 clear: so values are distinct for distinct rounds, pages below 2^20 and words,
//! the answer differs from every pattern word, and no value is 0 (what a fresh frame reads) or all
//! ones (what a ballooned-out frame reads).

/// Bytes in a granted page.
pub const PAGE_BYTES: usize = 4096;

/// Little-endian `u64` words in a granted page.
pub const WORDS_PER_PAGE: usize = PAGE_BYTES / 8;

/// The word of each page the domU overwrites with [`answer`] once all words checked.
pub const ANSWER_WORD: usize = WORDS_PER_PAGE - 1;

const BITS: u32 = 62;
const MASK: u64 = (1 << BITS) - 1;
const PAGE_MASK: u64 = (1 << 20) - 1;
/// The word field [`answer`] uses: past every pattern word.
const ANSWER_FIELD: u64 = WORDS_PER_PAGE as u64;

/// Word `word` (0..[`WORDS_PER_PAGE`]) of page `page` in round `round`, as dom0 fills it.
pub fn pattern(round: u32, page: u32, word: usize) -> u64 {
    value(round, page, word as u64 & (ANSWER_FIELD - 1))
}

/// What the domU writes into word [`ANSWER_WORD`] of page `page` after checking round `round`.
pub fn answer(round: u32, page: u32) -> u64 {
    value(round, page, ANSWER_FIELD)
}

fn value(round: u32, page: u32, field: u64) -> u64 {
    let packed = (u64::from(round) << 30) | ((u64::from(page) & PAGE_MASK) << 10) | field;
    (scramble(packed) << 1) | 1
}

/// A bijection on 62-bit values (xor, odd multiply and xorshift, all modulo 2^62) so neighbouring
/// words differ in many bits.
fn scramble(packed: u64) -> u64 {
    let mut x = (packed ^ 0x2545_f491_4f6c_dd1d) & MASK;
    x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15) & MASK;
    x ^= x >> 29;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9) & MASK;
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::collections::HashSet;

    use super::*;

    #[test]
    fn a_page_words_and_answer_are_distinct_and_never_blank() {
        let mut seen = HashSet::new();
        for round in [1, 2, 7, u32::MAX] {
            for page in [0, 1, 255, (1 << 20) - 1] {
                for word in 0..WORDS_PER_PAGE {
                    let value = pattern(round, page, word);
                    assert!(value != 0 && value != u64::MAX);
                    assert!(seen.insert(value), "round {round} page {page} word {word}");
                }
                let value = answer(round, page);
                assert!(value != 0 && value != u64::MAX);
                assert!(seen.insert(value), "answer of round {round} page {page}");
            }
        }
    }

    #[test]
    fn rounds_two_hundred_fifty_six_pages_are_all_distinct() {
        let mut seen = HashSet::new();
        for round in 1..=8 {
            for page in 0..256 {
                for word in 0..WORDS_PER_PAGE {
                    assert!(seen.insert(pattern(round, page, word)));
                }
                assert!(seen.insert(answer(round, page)));
            }
        }
    }

    #[test]
    fn the_answer_word_is_the_pages_last() {
        assert_eq!(ANSWER_WORD, 511);
        assert_eq!(WORDS_PER_PAGE * 8, PAGE_BYTES);
    }
}
