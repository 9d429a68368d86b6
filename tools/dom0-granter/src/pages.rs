//! What the granted pages must hold: dom0 fills every word with the handshake's pattern; once
//! the domU checked and answered them (outcome `ok`, or `give-back-refused`: the refused give-back
//! comes after the answer) each page holds the pattern in words 0..511 and the domU's answer in
//! word 511; after any other outcome the whole pattern, untouched.

use ballast_grant_offer::{answer, pattern, Outcome, ANSWER_WORD, WORDS_PER_PAGE};

/// Whether the domU wrote its answer into every page in a round with `outcome`: it checks and
/// answers all pages before it gives the frames back, and writes nothing on any other failure.
pub fn answered(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Ok | Outcome::GiveBackRefused(_))
}

/// What word `word` of page `page` must hold in round `round`, once the domU `answered` or not.
pub fn expected(round: u32, page: u32, word: usize, answered: bool) -> u64 {
    if answered && word == ANSWER_WORD {
        answer(round, page)
    } else {
        pattern(round, page, word)
    }
}

/// Fills page `page` of round `round` through `write(word, value)`.
pub fn fill(round: u32, page: u32, mut write: impl FnMut(usize, u64)) {
    for word in 0..WORDS_PER_PAGE {
        write(word, pattern(round, page, word));
    }
}

/// Whether every word of page `page`, read through `read(word)`, holds what it must.
pub fn holds(round: u32, page: u32, answered: bool, read: impl Fn(usize) -> u64) -> bool {
    (0..WORDS_PER_PAGE).all(|word| read(word) == expected(round, page, word, answered))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(round: u32, page: u32) -> [u64; WORDS_PER_PAGE] {
        let mut words = [0; WORDS_PER_PAGE];
        fill(round, page, |word, value| words[word] = value);
        words
    }

    #[test]
    fn a_filled_page_holds_the_pattern_and_not_an_answer() {
        let words = filled(3, 2);
        assert!(holds(3, 2, false, |word| words[word]));
        assert!(!holds(3, 2, true, |word| words[word]));
        assert!(!holds(4, 2, false, |word| words[word]));
        assert!(!holds(3, 1, false, |word| words[word]));
    }

    #[test]
    fn an_answered_page_holds_the_answer_in_its_last_word_only() {
        let mut words = filled(1, 0);
        words[ANSWER_WORD] = answer(1, 0);
        assert!(holds(1, 0, true, |word| words[word]));
        assert!(!holds(1, 0, false, |word| words[word]));
        words[0] ^= 1;
        assert!(!holds(1, 0, true, |word| words[word]));
    }

    #[test]
    fn only_a_checked_round_leaves_answers() {
        let name = |text| Outcome::name(text).unwrap();
        assert!(answered(&Outcome::Ok));
        assert!(answered(&Outcome::GiveBackRefused(name("FrameMapped"))));
        for outcome in [
            Outcome::Refused(name("FrameNotLent")),
            Outcome::GrantStatus {
                index: 2,
                status: -1,
            },
            Outcome::Died { unmapped: 4 },
            Outcome::Error(name("PatternMismatch")),
        ] {
            assert!(!answered(&outcome), "{outcome}");
        }
    }

    #[test]
    fn fresh_and_ballooned_pages_hold_nothing_expected() {
        assert!(!holds(1, 0, false, |_| 0));
        assert!(!holds(1, 0, true, |_| u64::MAX));
    }
}
