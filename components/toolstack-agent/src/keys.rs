//! The xenstore keys the agent reads, watches and writes, all relative to the domain's home
//! (`/local/domain/<domid>/`, which xenstored prepends to relative paths), and the status it
//! reports.
//!
//! # What the agent writes, for the toolstack and the admin
//!
//! A guest may write only under its `data/` (`memory/` and `control/feature-*` belong to the
//! toolstack), so the reports live under `data/ballast/`; read them with
//! `xenstore-read /local/domain/<domid>/data/ballast/status`:
//!
//! | key | value |
//! |---|---|
//! | `data/ballast/target-pages` | the target the memory server steers to, in 4 KiB pages, decimal: `memory/target` / 4, or the limit it was clamped to |
//! | `data/ballast/status` | `ballooning` (target accepted, moving), `reached` (the domain holds `target-pages`), `clamped:<why>` (the server steers to `target-pages` instead of the target asked for), `refused:<why>` (the server refused the target; `target-pages` is the previous one) |
//! | `data/ballast/grant-answer` | the backend's answer to the latest grant offer (`ballast_grant_offer::Answer`) |
//!
//! and watches `data/ballast/grant-offer`, which a granting domain (dom0) writes
//! (`ballast_grant_offer::Offer`); an offer of a round already served is not served again.
//!
//! `<why>` is the memory server's `BalloonControl` error: `TargetTooLow`, `TargetTooHigh`,
//! `Busy`, `XenUnavailable`, `ServerRestarted` (or `BadTunables`, which `set_target` never
//! answers). `target-pages` is always written before `status`, so a reader who sees `reached`
//! finds the target it reached.
//!
//! The agent also writes `""` to `control/shutdown` to acknowledge a shutdown request: `xl`
//! waits for that ("guest didn't acknowledge control request").

use ballast_interfaces::balloon_control::BalloonControlError;
use heapless::Vec;

/// A key the agent uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// `memory/static-max`: the domain's maximum in KiB, watched (token `static-max`): `xl
    /// mem-max` changes it while the domain runs.
    StaticMax,
    /// `memory/target`: the toolstack's target in KiB, watched (token `target`).
    Target,
    /// `control/shutdown`: `poweroff`, `reboot`, ... from `xl shutdown` and friends, watched
    /// (token `shutdown`) and acknowledged by writing `""`.
    Shutdown,
    /// `data/ballast/status`: see the module's table.
    Status,
    /// `data/ballast/target-pages`: see the module's table.
    TargetPages,
    /// `data/ballast/grant-offer`: a granting domain's offer of grants for the domain's backend
    /// (`ballast_grant_offer`), watched (token `grant-offer`); absent until dom0 writes one.
    GrantOffer,
    /// `data/ballast/grant-answer`: the backend's answer to the latest offer.
    GrantAnswer,
}

impl Key {
    /// The path, relative to the domain's home.
    pub const fn path(self) -> &'static str {
        match self {
            Key::StaticMax => "memory/static-max",
            Key::Target => "memory/target",
            Key::Shutdown => "control/shutdown",
            Key::Status => "data/ballast/status",
            Key::TargetPages => "data/ballast/target-pages",
            Key::GrantOffer => ballast_grant_offer::keys::OFFER_KEY,
            Key::GrantAnswer => ballast_grant_offer::keys::ANSWER_KEY,
        }
    }
}

/// A watched key and its token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Watched {
    /// `memory/static-max`.
    StaticMax,
    /// `memory/target`.
    Target,
    /// `control/shutdown`.
    Shutdown,
    /// `data/ballast/grant-offer`.
    GrantOffer,
}

impl Watched {
    /// Every watch, in the order the agent registers them: static-max before the target, so
    /// the maximum is read before the boot target it bounds (xenstored answers in order).
    pub const ALL: [Watched; 4] = [
        Watched::StaticMax,
        Watched::Target,
        Watched::Shutdown,
        Watched::GrantOffer,
    ];

    /// The key watched.
    pub const fn key(self) -> Key {
        match self {
            Watched::StaticMax => Key::StaticMax,
            Watched::Target => Key::Target,
            Watched::Shutdown => Key::Shutdown,
            Watched::GrantOffer => Key::GrantOffer,
        }
    }

    /// The token its events carry.
    pub const fn token(self) -> &'static str {
        match self {
            Watched::StaticMax => "static-max",
            Watched::Target => "target",
            Watched::Shutdown => "shutdown",
            Watched::GrantOffer => "grant-offer",
        }
    }

    /// The watch whose events carry `token`.
    pub fn from_token(token: &str) -> Option<Watched> {
        Watched::ALL
            .into_iter()
            .find(|watched| watched.token() == token)
    }
}

/// What `data/ballast/status` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The memory server accepted the target and works towards it.
    Ballooning,
    /// The domain holds the target.
    Reached,
    /// The memory server steers to another target than asked for, because of this refusal.
    Clamped(BalloonControlError),
    /// The memory server refused the target.
    Refused(BalloonControlError),
}

/// The longest status value.
pub const STATUS_MAX: usize = 32;

impl Status {
    /// The value written to `data/ballast/status`.
    pub fn value(self) -> Vec<u8, STATUS_MAX> {
        let (state, why) = match self {
            Status::Ballooning => ("ballooning", None),
            Status::Reached => ("reached", None),
            Status::Clamped(why) => ("clamped", Some(why)),
            Status::Refused(why) => ("refused", Some(why)),
        };
        let mut value = Vec::new();
        // Every state and error name fits in STATUS_MAX (checked by the test below).
        let _ = value.extend_from_slice(state.as_bytes());
        if let Some(why) = why {
            let _ = value.push(b':');
            let _ = value.extend_from_slice(error_name(why).as_bytes());
        }
        value
    }
}

/// The name of a `BalloonControl` error, as the IDL spells it.
pub const fn error_name(error: BalloonControlError) -> &'static str {
    match error {
        BalloonControlError::TargetTooLow => "TargetTooLow",
        BalloonControlError::TargetTooHigh => "TargetTooHigh",
        BalloonControlError::BadTunables => "BadTunables",
        BalloonControlError::Busy => "Busy",
        BalloonControlError::XenUnavailable => "XenUnavailable",
        BalloonControlError::ServerRestarted => "ServerRestarted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ERRORS: [BalloonControlError; 6] = [
        BalloonControlError::TargetTooLow,
        BalloonControlError::TargetTooHigh,
        BalloonControlError::BadTunables,
        BalloonControlError::Busy,
        BalloonControlError::XenUnavailable,
        BalloonControlError::ServerRestarted,
    ];

    #[test]
    fn every_status_fits_and_reads_as_documented() {
        assert_eq!(Status::Ballooning.value(), b"ballooning");
        assert_eq!(Status::Reached.value(), b"reached");
        assert_eq!(
            Status::Refused(BalloonControlError::TargetTooLow).value(),
            b"refused:TargetTooLow"
        );
        for why in ERRORS {
            for status in [Status::Clamped(why), Status::Refused(why)] {
                let value = status.value();
                assert!(value.ends_with(error_name(why).as_bytes()), "{status:?}");
                assert!(value.len() < STATUS_MAX);
            }
        }
    }

    #[test]
    fn tokens_name_their_watch() {
        for watched in Watched::ALL {
            assert_eq!(Watched::from_token(watched.token()), Some(watched));
        }
        assert_eq!(Watched::from_token("memory/target"), None);
    }
}
