//! The grant handshake's shared words between the dom0 granter (`tools/dom0-granter`) and the
//! ballast domU's driver component, so the two sides cannot drift: the xenstore [`keys`], the
//! [`Offer`] dom0 publishes, the [`Answer`] the domU writes back, and the [`pattern`] the granted
//! pages hold. `no_std`, no allocation, no unsafe; every text from the other side is parsed into a
//! typed error, never a panic.
//!
//! # One round
//!
//! ```text
//! dom0:  allocate N writable grants to the domU, fill every page with pattern(round, page, word)
//!        write OFFER_KEY   = "<round> <mode> <granter> <ref> <ref> ..."
//! domU:  borrow N frames, map the N refs into them, check all 512 words of every page,
//!        write answer(round, page) into word ANSWER_WORD of every page (nothing on any failure),
//!        unmap, give the frames back
//!        write ANSWER_KEY  = "round=<r> outcome=<token> pages=<n> mapped=<n> checked=<n> ..."
//! dom0:  wait for the answer of its round, check every page, deallocate the grants
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

mod answer;
mod decimal;
pub mod keys;
mod mode;
mod offer;
mod outcome;
mod pattern;

pub use answer::{Answer, AnswerError};
pub use mode::Mode;
pub use offer::{Offer, OfferError, MAX_REFS};
pub use outcome::{Name, Outcome, MAX_NAME};
pub use pattern::{answer, pattern, ANSWER_WORD, PAGE_BYTES, WORDS_PER_PAGE};

/// The largest value xenstore stores under one key (`XENSTORE_PAYLOAD_MAX`); every offer and
/// answer text fits in it.
pub const MAX_TEXT: usize = 4096;
