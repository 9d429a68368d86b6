//! The offer dom0 publishes under [`crate::keys::OFFER_KEY`]:
//! `<round> <mode> <granter-domid> <ref> <ref> ...`, ASCII decimal, single spaces.

use core::fmt::{self, Write};

use crate::{decimal, Mode, MAX_TEXT};

/// The most grant references one offer carries.
pub const MAX_REFS: usize = 256;

/// One round's offer: which pages, granted by whom, and what the domU does with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The round, from 1; the answer names it.
    pub round: u32,
    /// What the domU does with the grants.
    pub mode: Mode,
    /// The domain the grants are from, as the domU passes it to `GNTTABOP_map_grant_ref`.
    pub granter: u16,
    /// The grant references, one per page, in page order (1..=[`MAX_REFS`]).
    pub refs: heapless::Vec<u32, MAX_REFS>,
}

/// Why an offer text is not an offer. Zero is reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum OfferError {
    /// Longer than xenstore's payload ([`MAX_TEXT`]).
    TooLong = 1,
    /// The round is missing or not a `u32` decimal.
    BadRound = 2,
    /// Round 0: rounds count from 1.
    RoundZero = 3,
    /// The mode is missing or not one of [`Mode`]'s words.
    BadMode = 4,
    /// The granting domain is missing or not a `u16` decimal.
    BadGranter = 5,
    /// No grant reference at all.
    NoRefs = 6,
    /// A grant reference is empty (two spaces, a trailing space) or not a `u32` decimal.
    BadRef = 7,
    /// More than [`MAX_REFS`] grant references.
    TooManyRefs = 8,
}

impl Offer {
    /// Parses an offer text; anything but the exact format is an [`OfferError`].
    pub fn parse(text: &str) -> Result<Offer, OfferError> {
        if text.len() > MAX_TEXT {
            return Err(OfferError::TooLong);
        }
        let mut words = text.split(' ');
        let round = words
            .next()
            .and_then(decimal::u32_of)
            .ok_or(OfferError::BadRound)?;
        if round == 0 {
            return Err(OfferError::RoundZero);
        }
        let mode = words
            .next()
            .and_then(Mode::from_word)
            .ok_or(OfferError::BadMode)?;
        let granter = words
            .next()
            .and_then(decimal::unsigned)
            .and_then(|domid| u16::try_from(domid).ok())
            .ok_or(OfferError::BadGranter)?;
        let mut refs = heapless::Vec::new();
        for word in words {
            let grant_ref = decimal::u32_of(word).ok_or(OfferError::BadRef)?;
            refs.push(grant_ref).map_err(|_| OfferError::TooManyRefs)?;
        }
        if refs.is_empty() {
            return Err(OfferError::NoRefs);
        }
        Ok(Offer {
            round,
            mode,
            granter,
            refs,
        })
    }

    /// Writes the offer's text, the exact format [`Offer::parse`] reads.
    pub fn write(&self, out: &mut impl Write) -> fmt::Result {
        write!(out, "{} {} {}", self.round, self.mode, self.granter)?;
        for grant_ref in &self.refs {
            write!(out, " {grant_ref}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::String;

    use proptest::prelude::*;

    use super::*;

    fn offer(round: u32, mode: Mode, granter: u16, refs: &[u32]) -> Offer {
        Offer {
            round,
            mode,
            granter,
            refs: heapless::Vec::from_slice(refs).unwrap(),
        }
    }

    fn text_of(offer: &Offer) -> String {
        let mut text = String::new();
        offer.write(&mut text).unwrap();
        text
    }

    #[test]
    fn parses_the_documented_format() {
        assert_eq!(
            Offer::parse("3 check 0 8 9 10 11"),
            Ok(offer(3, Mode::Check, 0, &[8, 9, 10, 11]))
        );
        assert_eq!(
            Offer::parse("7 die-mapped 7 4294967295"),
            Ok(offer(7, Mode::DieMapped, 7, &[u32::MAX]))
        );
    }

    #[test]
    fn writes_single_spaces_and_no_trailing_text() {
        let text = text_of(&offer(2, Mode::GiveBackMapped, 0, &[1, 22, 333]));
        assert_eq!(text, "2 give-back-mapped 0 1 22 333");
    }

    #[test]
    fn each_malformed_part_has_its_error() {
        let cases = [
            ("", OfferError::BadRound),
            ("x check 0 1", OfferError::BadRound),
            ("4294967296 check 0 1", OfferError::BadRound),
            ("0 check 0 1", OfferError::RoundZero),
            ("1", OfferError::BadMode),
            ("1 Check 0 1", OfferError::BadMode),
            ("1 check", OfferError::BadGranter),
            ("1 check 65536 1", OfferError::BadGranter),
            ("1 check -1 1", OfferError::BadGranter),
            ("1 check 0", OfferError::NoRefs),
            ("1 check 0 ", OfferError::BadRef),
            ("1 check 0 1  2", OfferError::BadRef),
            ("1 check 0 1 2\n", OfferError::BadRef),
            ("1 check 0 4294967296", OfferError::BadRef),
            (" 1 check 0 1", OfferError::BadRound),
        ];
        for (text, error) in cases {
            assert_eq!(Offer::parse(text), Err(error), "{text:?}");
        }
    }

    #[test]
    fn the_most_refs_parse_and_one_more_does_not() {
        let mut text = String::from("1 check 0");
        for grant_ref in 0..MAX_REFS {
            text.push_str(&std::format!(" {grant_ref}"));
        }
        assert_eq!(Offer::parse(&text).unwrap().refs.len(), MAX_REFS);
        text.push_str(" 1");
        assert_eq!(Offer::parse(&text), Err(OfferError::TooManyRefs));
    }

    #[test]
    fn the_longest_offer_fits_xenstores_payload() {
        let refs = [u32::MAX; MAX_REFS];
        let longest = offer(u32::MAX, Mode::GiveBackMapped, u16::MAX, &refs);
        assert!(text_of(&longest).len() <= MAX_TEXT);
    }

    #[test]
    fn a_text_past_the_payload_is_too_long() {
        let text = "1".repeat(MAX_TEXT + 1);
        assert_eq!(Offer::parse(&text), Err(OfferError::TooLong));
    }

    fn any_offer() -> impl Strategy<Value = Offer> {
        (
            1..=u32::MAX,
            proptest::sample::select(Mode::ALL.to_vec()),
            any::<u16>(),
            proptest::collection::vec(any::<u32>(), 1..=MAX_REFS),
        )
            .prop_map(|(round, mode, granter, refs)| offer(round, mode, granter, &refs))
    }

    proptest! {
        #[test]
        fn every_offer_round_trips(offer in any_offer()) {
            prop_assert_eq!(Offer::parse(&text_of(&offer)), Ok(offer));
        }

        #[test]
        fn any_text_parses_or_errs_without_panicking(text in ".{0,64}") {
            let _ = Offer::parse(&text);
        }

        #[test]
        fn offer_like_text_parses_or_errs_without_panicking(
            text in "[0-9]{0,11}( [a-z-]{0,17})?( [0-9-]{0,6})?( [0-9 ]{0,40})?"
        ) {
            if let Ok(offer) = Offer::parse(&text) {
                prop_assert_eq!(text_of(&offer), text);
            }
        }
    }
}
