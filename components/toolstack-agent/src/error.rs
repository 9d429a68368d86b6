//! What went wrong, as the agent reports it: [`AgentError`] says what, [`ErrorReport`] adds the
//! xenstore key concerned and the offending number. None of them stops the agent.

use ballast_xen::ring::RingError;

use crate::keys::Key;
use crate::wire::{PayloadError, XsErrno};

/// What went wrong. C-like, nonzero. The [`ErrorReport`]'s `detail` is documented per variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AgentError {
    /// The daemon set the ring's `error` field: it has stopped serving this ring (the
    /// server-death case). Detail: the field's value.
    DaemonFailed = 1,
    /// A ring's producer index is more than the ring's size ahead of its consumer index:
    /// nothing moved. Detail: 0.
    RingProducerTooFarAhead = 2,
    /// A ring's consumer index is ahead of its producer index: nothing moved. Detail: 0.
    RingConsumerAheadOfProducer = 3,
    /// A message header announced more than `XENSTORE_PAYLOAD_MAX` bytes: the ring's contents
    /// were dropped and the requests in flight are asked again. Detail: the length.
    PayloadTooLong = 4,
    /// A message of a type the agent does not know; skipped. Detail: the type.
    UnknownMessageType = 5,
    /// A reply to no request in flight; skipped. Detail: the `req_id`.
    UnexpectedReqId = 6,
    /// A reply of another type than its request's (and not `XS_ERROR`). Detail: the type.
    WrongReplyType = 7,
    /// A string that must end with NUL does not, or a payload has more or fewer strings than
    /// its type says. Detail: 0.
    MissingNul = 8,
    /// A value or string is not UTF-8. Detail: 0.
    NotUtf8 = 9,
    /// A value that must be a decimal number is not one. Detail: 0.
    NotANumber = 10,
    /// An `XS_ERROR` reply names no errno of `xs_wire.h`. Detail: 0.
    UnknownErrno = 11,
    /// A write or watch was acknowledged with something other than `OK`. Detail: 0.
    NotOk = 12,
    /// The daemon refused a request (`XS_ERROR`). Detail: the [`XsErrno`], as a number.
    Refused = 13,
    /// A watch event with a token the agent never registered. Detail: 0.
    UnknownWatchToken = 14,
    /// `control/shutdown` asks for something the agent does not do (it is not acknowledged).
    /// Detail: 0.
    UnknownShutdownRequest = 15,
    /// `memory/target` is above `memory/static-max`: passed on all the same (the memory server
    /// decides). Detail: the target in KiB.
    TargetAboveStaticMax = 16,
    /// The request queue is full; the request was dropped. Detail: 0.
    QueueFull = 17,
    /// A request's payload is longer than the client carries; it was dropped. Detail: 0.
    RequestTooLong = 18,
    /// `data/ballast/grant-offer` is not an offer (`ballast_grant_offer::Offer`): ignored.
    /// Detail: the `OfferError`, as a number.
    BadGrantOffer = 19,
}

/// One error, with the key it concerns (if any) and a number whose meaning [`AgentError`]
/// documents per variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErrorReport {
    /// What went wrong.
    pub error: AgentError,
    /// The key whose request or reply it was.
    pub key: Option<Key>,
    /// The offending number.
    pub detail: u64,
}

impl ErrorReport {
    /// `error` with `detail`, about no key.
    pub const fn new(error: AgentError, detail: u64) -> ErrorReport {
        ErrorReport {
            error,
            key: None,
            detail,
        }
    }

    /// The same report about `key`.
    pub const fn about(self, key: Key) -> ErrorReport {
        ErrorReport {
            key: Some(key),
            ..self
        }
    }

    /// The same report with `detail`.
    pub const fn detail(self, detail: u64) -> ErrorReport {
        ErrorReport { detail, ..self }
    }

    /// The errno of a [`AgentError::Refused`] report.
    pub fn errno(&self) -> Option<XsErrno> {
        match self.error {
            AgentError::Refused => XsErrno::from_code(self.detail),
            _ => None,
        }
    }
}

impl From<RingError> for ErrorReport {
    fn from(error: RingError) -> ErrorReport {
        let error = match error {
            RingError::ProducerTooFarAhead => AgentError::RingProducerTooFarAhead,
            RingError::ConsumerAheadOfProducer => AgentError::RingConsumerAheadOfProducer,
        };
        ErrorReport::new(error, 0)
    }
}

impl From<PayloadError> for ErrorReport {
    fn from(error: PayloadError) -> ErrorReport {
        let error = match error {
            PayloadError::MissingNul => AgentError::MissingNul,
            PayloadError::NotUtf8 => AgentError::NotUtf8,
            PayloadError::NotANumber => AgentError::NotANumber,
            PayloadError::UnknownErrno => AgentError::UnknownErrno,
            PayloadError::NotOk => AgentError::NotOk,
        };
        ErrorReport::new(error, 0)
    }
}

impl From<XsErrno> for ErrorReport {
    fn from(errno: XsErrno) -> ErrorReport {
        ErrorReport::new(AgentError::Refused, errno as u64)
    }
}
