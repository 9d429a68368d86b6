//! The outcome token of an answer: `ok`, or what refused or failed, without spaces.

use core::fmt;

use crate::decimal;

/// The longest name an outcome carries (an error enum variant, or the `error:` text).
pub const MAX_NAME: usize = 48;

/// A name inside an outcome token: 1..=[`MAX_NAME`] printable ASCII characters, no space.
pub type Name = heapless::String<MAX_NAME>;

/// What happened in a round, as the domU reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `ok`: every page mapped, checked and answered; unmapped and given back.
    Ok,
    /// `refused:<GatewayError>`: the gateway refused the map before Xen saw it.
    Refused(Name),
    /// `grant-status:<index>:<status>`: Xen failed batch entry `index` with `GNTST_*` `status`; the
    /// other entries that mapped were unmapped and every frame given back.
    GrantStatus {
        /// The failed entry's index in the batch (the page's index in the offer).
        index: u32,
        /// Xen's `GNTST_*` status for it.
        status: i16,
    },
    /// `give-back-refused:<BalloonError>`: mode give-back-mapped's first give-back was refused;
    /// unmapping and the second give-back then succeeded.
    GiveBackRefused(Name),
    /// `died:unmapped=<n>`: mode die-mapped's driver died with its grants mapped; the gateway
    /// unmapped `n` of them and the memory server took the frames back.
    Died {
        /// Grants the gateway unmapped for the dead driver.
        unmapped: u32,
    },
    /// `error:<what>`: anything else went wrong.
    Error(Name),
}

impl Outcome {
    /// Parses an outcome token; `None` if it is none of the forms above.
    pub fn parse(token: &str) -> Option<Outcome> {
        if token == "ok" {
            return Some(Outcome::Ok);
        }
        let (kind, rest) = token.split_once(':')?;
        match kind {
            "refused" => name(rest).map(Outcome::Refused),
            "give-back-refused" => name(rest).map(Outcome::GiveBackRefused),
            "error" => name(rest).map(Outcome::Error),
            "grant-status" => {
                let (index, status) = rest.split_once(':')?;
                Some(Outcome::GrantStatus {
                    index: decimal::u32_of(index)?,
                    status: decimal::i16_of(status)?,
                })
            }
            "died" => {
                let unmapped = decimal::u32_of(rest.strip_prefix("unmapped=")?)?;
                Some(Outcome::Died { unmapped })
            }
            _ => None,
        }
    }

    /// Builds a `Name` from `text`, if it is a valid name (see [`Name`]).
    pub fn name(text: &str) -> Option<Name> {
        name(text)
    }
}

fn name(text: &str) -> Option<Name> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_graphic()) {
        return None;
    }
    Name::try_from(text).ok()
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Refused(name) => write!(f, "refused:{name}"),
            Outcome::GrantStatus { index, status } => write!(f, "grant-status:{index}:{status}"),
            Outcome::GiveBackRefused(name) => write!(f, "give-back-refused:{name}"),
            Outcome::Died { unmapped } => write!(f, "died:unmapped={unmapped}"),
            Outcome::Error(what) => write!(f, "error:{what}"),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::ToString;

    use super::*;

    fn named(text: &str) -> Name {
        Outcome::name(text).unwrap()
    }

    #[test]
    fn every_documented_token_round_trips() {
        let cases = [
            ("ok", Outcome::Ok),
            (
                "refused:FrameNotLent",
                Outcome::Refused(named("FrameNotLent")),
            ),
            (
                "refused:DomainNotAllowed",
                Outcome::Refused(named("DomainNotAllowed")),
            ),
            (
                "grant-status:2:-4",
                Outcome::GrantStatus {
                    index: 2,
                    status: -4,
                },
            ),
            (
                "give-back-refused:FrameMapped",
                Outcome::GiveBackRefused(named("FrameMapped")),
            ),
            ("died:unmapped=4", Outcome::Died { unmapped: 4 }),
            (
                "error:borrow:OutOfFrames",
                Outcome::Error(named("borrow:OutOfFrames")),
            ),
        ];
        for (token, outcome) in cases {
            assert_eq!(Outcome::parse(token), Some(outcome.clone()), "{token}");
            assert_eq!(outcome.to_string(), token);
        }
    }

    #[test]
    fn malformed_tokens_are_none() {
        for token in [
            "",
            "OK",
            "ok:",
            "refused",
            "refused:",
            "refused:Frame Mapped",
            "grant-status:2",
            "grant-status:x:-4",
            "grant-status:2:-40000",
            "died:4",
            "died:unmapped=",
            "timeout",
            "unknown:thing",
        ] {
            assert_eq!(Outcome::parse(token), None, "{token:?}");
        }
    }

    #[test]
    fn names_past_the_limit_are_refused() {
        let long = "x".repeat(MAX_NAME + 1);
        assert_eq!(Outcome::name(&long), None);
        assert!(Outcome::name(&long[1..]).is_some());
    }
}
