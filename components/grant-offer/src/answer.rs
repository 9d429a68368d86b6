//! The answer the domU writes under [`crate::keys::ANSWER_KEY`]: `round=<r> outcome=<token>
//! pages=<n> mapped=<n> checked=<n> borrow_us=<u> map_us=<u> check_us=<u> unmap_us=<u>
//! give_back_us=<u>`, the fields in this order, single spaces.

use core::fmt::{self, Write};

use crate::{decimal, Outcome, MAX_TEXT};

/// One round's answer: its outcome, how far the domU got, and how long each step took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The round of the offer this answers.
    pub round: u32,
    /// What happened.
    pub outcome: Outcome,
    /// Pages in the offer.
    pub pages: u32,
    /// Grants the domU had mapped (before unmapping).
    pub mapped: u32,
    /// Pages whose 512 words all held the pattern.
    pub checked: u32,
    /// Microseconds to borrow the frames.
    pub borrow_us: u64,
    /// Microseconds for the batched map.
    pub map_us: u64,
    /// Microseconds to check every page and write the answers.
    pub check_us: u64,
    /// Microseconds for the batched unmap.
    pub unmap_us: u64,
    /// Microseconds to give the frames back.
    pub give_back_us: u64,
}

/// Why an answer text is not an answer: the first field missing, mislabelled or malformed. Zero
/// is reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum AnswerError {
    /// Longer than xenstore's payload ([`MAX_TEXT`]).
    TooLong = 1,
    /// `round=` missing, or not a `u32` decimal, or 0.
    BadRound = 2,
    /// `outcome=` missing, or not an [`Outcome`] token.
    BadOutcome = 3,
    /// `pages=` missing or malformed.
    BadPages = 4,
    /// `mapped=` missing or malformed.
    BadMapped = 5,
    /// `checked=` missing or malformed.
    BadChecked = 6,
    /// `borrow_us=` missing or malformed.
    BadBorrowUs = 7,
    /// `map_us=` missing or malformed.
    BadMapUs = 8,
    /// `check_us=` missing or malformed.
    BadCheckUs = 9,
    /// `unmap_us=` missing or malformed.
    BadUnmapUs = 10,
    /// `give_back_us=` missing or malformed.
    BadGiveBackUs = 11,
    /// Anything after `give_back_us=`.
    TrailingText = 12,
}

/// The text of field `label`'s value from the next word, or `error`.
fn field<'a>(
    words: &mut impl Iterator<Item = &'a str>,
    label: &str,
    error: AnswerError,
) -> Result<&'a str, AnswerError> {
    words
        .next()
        .and_then(|word| word.strip_prefix(label))
        .and_then(|rest| rest.strip_prefix('='))
        .ok_or(error)
}

fn count<'a>(
    words: &mut impl Iterator<Item = &'a str>,
    label: &str,
    error: AnswerError,
) -> Result<u32, AnswerError> {
    decimal::u32_of(field(words, label, error)?).ok_or(error)
}

fn micros<'a>(
    words: &mut impl Iterator<Item = &'a str>,
    label: &str,
    error: AnswerError,
) -> Result<u64, AnswerError> {
    decimal::unsigned(field(words, label, error)?).ok_or(error)
}

impl Answer {
    /// Parses an answer text; anything but the exact format is an [`AnswerError`].
    pub fn parse(text: &str) -> Result<Answer, AnswerError> {
        if text.len() > MAX_TEXT {
            return Err(AnswerError::TooLong);
        }
        let words = &mut text.split(' ');
        let round = count(words, "round", AnswerError::BadRound)?;
        if round == 0 {
            return Err(AnswerError::BadRound);
        }
        let outcome = Outcome::parse(field(words, "outcome", AnswerError::BadOutcome)?)
            .ok_or(AnswerError::BadOutcome)?;
        let answer = Answer {
            round,
            outcome,
            pages: count(words, "pages", AnswerError::BadPages)?,
            mapped: count(words, "mapped", AnswerError::BadMapped)?,
            checked: count(words, "checked", AnswerError::BadChecked)?,
            borrow_us: micros(words, "borrow_us", AnswerError::BadBorrowUs)?,
            map_us: micros(words, "map_us", AnswerError::BadMapUs)?,
            check_us: micros(words, "check_us", AnswerError::BadCheckUs)?,
            unmap_us: micros(words, "unmap_us", AnswerError::BadUnmapUs)?,
            give_back_us: micros(words, "give_back_us", AnswerError::BadGiveBackUs)?,
        };
        match words.next() {
            Some(_) => Err(AnswerError::TrailingText),
            None => Ok(answer),
        }
    }

    /// The answer to round `round` of `pages` pages with `outcome`, before any step was done
    /// (nothing mapped or checked, no time spent yet).
    pub fn before_any_step(round: u32, pages: u32, outcome: Outcome) -> Answer {
        Answer {
            round,
            outcome,
            pages,
            mapped: 0,
            checked: 0,
            borrow_us: 0,
            map_us: 0,
            check_us: 0,
            unmap_us: 0,
            give_back_us: 0,
        }
    }

    /// Writes the answer's text, the exact format [`Answer::parse`] reads.
    pub fn write(&self, out: &mut impl Write) -> fmt::Result {
        write!(
            out,
            "round={} outcome={} pages={} mapped={} checked={} borrow_us={} map_us={} \
             check_us={} unmap_us={} give_back_us={}",
            self.round,
            self.outcome,
            self.pages,
            self.mapped,
            self.checked,
            self.borrow_us,
            self.map_us,
            self.check_us,
            self.unmap_us,
            self.give_back_us
        )
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::String;

    use proptest::prelude::*;

    use super::*;

    const OK_256: &str = "round=2 outcome=ok pages=256 mapped=256 checked=256 borrow_us=310 \
                          map_us=1200 check_us=95 unmap_us=800 give_back_us=2100";

    fn text_of(answer: &Answer) -> String {
        let mut text = String::new();
        answer.write(&mut text).unwrap();
        text
    }

    #[test]
    fn parses_and_writes_the_documented_format() {
        let answer = Answer::parse(OK_256).unwrap();
        assert_eq!(answer.round, 2);
        assert_eq!(answer.outcome, Outcome::Ok);
        assert_eq!(
            (answer.pages, answer.mapped, answer.checked),
            (256, 256, 256)
        );
        assert_eq!(
            (
                answer.borrow_us,
                answer.map_us,
                answer.check_us,
                answer.unmap_us,
                answer.give_back_us
            ),
            (310, 1200, 95, 800, 2100)
        );
        assert_eq!(text_of(&answer), OK_256);
    }

    #[test]
    fn each_malformed_field_has_its_error() {
        let fields = [
            ("round=2", AnswerError::BadRound),
            ("outcome=ok", AnswerError::BadOutcome),
            ("pages=256", AnswerError::BadPages),
            ("mapped=256", AnswerError::BadMapped),
            ("checked=256", AnswerError::BadChecked),
            ("borrow_us=310", AnswerError::BadBorrowUs),
            ("map_us=1200", AnswerError::BadMapUs),
            ("check_us=95", AnswerError::BadCheckUs),
            ("unmap_us=800", AnswerError::BadUnmapUs),
            ("give_back_us=2100", AnswerError::BadGiveBackUs),
        ];
        for (word, error) in fields {
            let (label, _) = word.split_once('=').unwrap();
            for broken in [
                std::format!("{label}=x"),
                std::format!("{label}="),
                std::format!("{label}x=1"),
                String::from("other=1"),
            ] {
                let text = OK_256.replace(word, &broken);
                assert_eq!(Answer::parse(&text), Err(error), "{text}");
            }
            let missing = OK_256.replace(&std::format!("{word} "), "");
            let missing = missing.replace(&std::format!(" {word}"), "");
            assert_eq!(Answer::parse(&missing), Err(error), "{missing}");
        }
        assert_eq!(
            Answer::parse(&OK_256.replace("round=2", "round=0")),
            Err(AnswerError::BadRound)
        );
        assert_eq!(
            Answer::parse(&std::format!("{OK_256} extra=1")),
            Err(AnswerError::TrailingText)
        );
        assert_eq!(
            Answer::parse(&std::format!("{OK_256} ")),
            Err(AnswerError::TrailingText)
        );
    }

    fn any_outcome() -> impl Strategy<Value = Outcome> {
        let name = "[!-~]{1,48}".prop_map(|text| Outcome::name(&text).unwrap());
        prop_oneof![
            Just(Outcome::Ok),
            name.clone().prop_map(Outcome::Refused),
            (any::<u32>(), any::<i16>())
                .prop_map(|(index, status)| Outcome::GrantStatus { index, status }),
            name.clone().prop_map(Outcome::GiveBackRefused),
            any::<u32>().prop_map(|unmapped| Outcome::Died { unmapped }),
            name.prop_map(Outcome::Error),
        ]
    }

    fn any_answer() -> impl Strategy<Value = Answer> {
        (
            1..=u32::MAX,
            any_outcome(),
            any::<(u32, u32, u32)>(),
            any::<(u64, u64, u64, u64, u64)>(),
        )
            .prop_map(|(round, outcome, counts, times)| Answer {
                round,
                outcome,
                pages: counts.0,
                mapped: counts.1,
                checked: counts.2,
                borrow_us: times.0,
                map_us: times.1,
                check_us: times.2,
                unmap_us: times.3,
                give_back_us: times.4,
            })
    }

    proptest! {
        #[test]
        fn every_answer_round_trips(answer in any_answer()) {
            let text = text_of(&answer);
            prop_assert!(text.len() <= MAX_TEXT);
            prop_assert_eq!(Answer::parse(&text), Ok(answer));
        }

        #[test]
        fn any_text_parses_or_errs_without_panicking(text in ".{0,200}") {
            let _ = Answer::parse(&text);
        }

        #[test]
        fn answer_like_text_parses_or_errs_without_panicking(
            text in "(round=[0-9]{0,3} )?outcome=[a-z:=0-9-]{0,20}( [a-z_]{0,12}=[0-9]{0,4}){0,9}"
        ) {
            if let Ok(answer) = Answer::parse(&text) {
                prop_assert_eq!(text_of(&answer), text);
            }
        }
    }
}
