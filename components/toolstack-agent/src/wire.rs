//! The xenstore wire format as the agent speaks it: the message types it sends and accepts, the
//! errno names of `XS_ERROR` replies, and the strict parsing of payloads (NUL-separated strings,
//! UTF-8, decimal numbers). The numbers and the header layout come from `ballast_xen::ring::xenstore`,
//! which the `c_headers` test checks against `xs_wire.h`.

use ballast_xen::ring::xenstore::{XS_ERROR, XS_READ, XS_WATCH, XS_WATCH_EVENT, XS_WRITE};

/// The message types the agent sends or accepts; any other type on the ring is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum MessageType {
    /// Read a node's value.
    Read = XS_READ,
    /// Register a watch on a path, with a token echoed in its events.
    Watch = XS_WATCH,
    /// Write a node's value.
    Write = XS_WRITE,
    /// A watch fired (asynchronous: request id 0, no request behind it).
    WatchEvent = XS_WATCH_EVENT,
    /// A request failed; the payload names the errno.
    Error = XS_ERROR,
}

impl MessageType {
    /// The type whose number is `raw`, if the agent knows it.
    pub const fn from_raw(raw: u32) -> Option<MessageType> {
        match raw {
            XS_READ => Some(MessageType::Read),
            XS_WATCH => Some(MessageType::Watch),
            XS_WRITE => Some(MessageType::Write),
            XS_WATCH_EVENT => Some(MessageType::WatchEvent),
            XS_ERROR => Some(MessageType::Error),
            _ => None,
        }
    }
}

/// The errno an `XS_ERROR` reply names, in `xs_wire.h`'s order (`xsd_errors`). C-like, nonzero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(clippy::upper_case_acronyms)]
pub enum XsErrno {
    /// Invalid argument.
    EINVAL = 1,
    /// Permission denied (a write outside what the guest may write).
    EACCES = 2,
    /// The node exists.
    EEXIST = 3,
    /// The node is a directory.
    EISDIR = 4,
    /// No such node.
    ENOENT = 5,
    /// The daemon is out of memory.
    ENOMEM = 6,
    /// The domain's quota is used up.
    ENOSPC = 7,
    /// I/O error.
    EIO = 8,
    /// The directory is not empty.
    ENOTEMPTY = 9,
    /// The daemon does not implement the request.
    ENOSYS = 10,
    /// Read-only.
    EROFS = 11,
    /// Busy.
    EBUSY = 12,
    /// Try again (a transaction conflicted).
    EAGAIN = 13,
    /// Already connected.
    EISCONN = 14,
    /// Too big (a path or value above the limits).
    E2BIG = 15,
    /// Not permitted.
    EPERM = 16,
}

impl XsErrno {
    const ALL: [XsErrno; 16] = [
        XsErrno::EINVAL,
        XsErrno::EACCES,
        XsErrno::EEXIST,
        XsErrno::EISDIR,
        XsErrno::ENOENT,
        XsErrno::ENOMEM,
        XsErrno::ENOSPC,
        XsErrno::EIO,
        XsErrno::ENOTEMPTY,
        XsErrno::ENOSYS,
        XsErrno::EROFS,
        XsErrno::EBUSY,
        XsErrno::EAGAIN,
        XsErrno::EISCONN,
        XsErrno::E2BIG,
        XsErrno::EPERM,
    ];

    /// The name xenstored writes (`"EACCES"`).
    pub const fn name(self) -> &'static str {
        match self {
            XsErrno::EINVAL => "EINVAL",
            XsErrno::EACCES => "EACCES",
            XsErrno::EEXIST => "EEXIST",
            XsErrno::EISDIR => "EISDIR",
            XsErrno::ENOENT => "ENOENT",
            XsErrno::ENOMEM => "ENOMEM",
            XsErrno::ENOSPC => "ENOSPC",
            XsErrno::EIO => "EIO",
            XsErrno::ENOTEMPTY => "ENOTEMPTY",
            XsErrno::ENOSYS => "ENOSYS",
            XsErrno::EROFS => "EROFS",
            XsErrno::EBUSY => "EBUSY",
            XsErrno::EAGAIN => "EAGAIN",
            XsErrno::EISCONN => "EISCONN",
            XsErrno::E2BIG => "E2BIG",
            XsErrno::EPERM => "EPERM",
        }
    }

    /// The errno whose code (`errno as u64`) is `code`.
    pub fn from_code(code: u64) -> Option<XsErrno> {
        XsErrno::ALL.into_iter().find(|errno| *errno as u64 == code)
    }

    /// The errno an `XS_ERROR` payload names (one NUL-terminated string), if it is one of
    /// `xs_wire.h`'s.
    pub fn from_payload(payload: &[u8]) -> Result<XsErrno, PayloadError> {
        let [name] = nul_terminated::<1>(payload)?;
        XsErrno::ALL
            .into_iter()
            .find(|errno| errno.name() == name)
            .ok_or(PayloadError::UnknownErrno)
    }
}

/// Why a payload does not say what its message type promises. C-like, nonzero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PayloadError {
    /// A string that must end with NUL does not, or there are more or fewer strings than due.
    MissingNul = 1,
    /// A string is not UTF-8.
    NotUtf8 = 2,
    /// A value that must be a decimal number of pages or KiB is not one (or does not fit 64 bits).
    NotANumber = 3,
    /// An `XS_ERROR` reply names no errno of `xs_wire.h`.
    UnknownErrno = 4,
    /// An acknowledgement is something other than `OK`.
    NotOk = 5,
}

/// Exactly `N` NUL-terminated UTF-8 strings filling `payload`.
pub fn nul_terminated<const N: usize>(payload: &[u8]) -> Result<[&str; N], PayloadError> {
    let mut strings = [""; N];
    let mut rest = payload;
    for string in &mut strings {
        let end = rest
            .iter()
            .position(|&byte| byte == 0)
            .ok_or(PayloadError::MissingNul)?;
        *string = core::str::from_utf8(&rest[..end]).map_err(|_| PayloadError::NotUtf8)?;
        // Past the string and its NUL (found at `end`).
        rest = &rest[end..][1..];
    }
    if rest.is_empty() {
        Ok(strings)
    } else {
        Err(PayloadError::MissingNul)
    }
}

/// A node's value as text: the reply to `XS_READ` carries the bytes as written, without a NUL.
pub fn text(value: &[u8]) -> Result<&str, PayloadError> {
    core::str::from_utf8(value).map_err(|_| PayloadError::NotUtf8)
}

/// A node's value as a decimal number: ASCII digits only, at least one, fitting in 64 bits.
pub fn decimal(value: &[u8]) -> Result<u64, PayloadError> {
    if value.is_empty() {
        return Err(PayloadError::NotANumber);
    }
    value.iter().try_fold(0u64, |number, &byte| {
        let digit = byte.checked_sub(b'0').filter(|digit| *digit <= 9);
        digit
            .and_then(|digit| number.checked_mul(10)?.checked_add(u64::from(digit)))
            .ok_or(PayloadError::NotANumber)
    })
}

/// The reply to `XS_WRITE` and `XS_WATCH`: `OK` and its NUL.
pub fn ok(payload: &[u8]) -> Result<(), PayloadError> {
    match nul_terminated::<1>(payload)? {
        ["OK"] => Ok(()),
        _ => Err(PayloadError::NotOk),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_events_are_two_nul_terminated_strings() {
        assert_eq!(
            nul_terminated::<2>(b"memory/target\0target\0"),
            Ok(["memory/target", "target"])
        );
        assert_eq!(
            nul_terminated::<2>(b"memory/target\0target"),
            Err(PayloadError::MissingNul)
        );
        assert_eq!(
            nul_terminated::<2>(b"a\0b\0c\0"),
            Err(PayloadError::MissingNul)
        );
        assert_eq!(
            nul_terminated::<2>(b"\xff\0b\0"),
            Err(PayloadError::NotUtf8)
        );
    }

    #[test]
    fn numbers_are_plain_decimal_and_fit_64_bits() {
        assert_eq!(decimal(b"131072"), Ok(131_072));
        assert_eq!(decimal(b"18446744073709551615"), Ok(u64::MAX));
        for bad in [
            &b""[..],
            b"18446744073709551616",
            b"12a",
            b"-1",
            b" 1",
            b"1\0",
        ] {
            assert_eq!(decimal(bad), Err(PayloadError::NotANumber), "{bad:?}");
        }
    }

    #[test]
    fn error_replies_name_an_errno_of_xs_wire() {
        assert_eq!(XsErrno::from_payload(b"EACCES\0"), Ok(XsErrno::EACCES));
        assert_eq!(XsErrno::from_payload(b"EPERM\0"), Ok(XsErrno::EPERM));
        assert_eq!(
            XsErrno::from_payload(b"EWHAT\0"),
            Err(PayloadError::UnknownErrno)
        );
        assert_eq!(
            XsErrno::from_payload(b"EACCES"),
            Err(PayloadError::MissingNul)
        );
        for errno in XsErrno::ALL {
            let mut payload = [0u8; 16];
            payload[..errno.name().len()].copy_from_slice(errno.name().as_bytes());
            assert_eq!(
                XsErrno::from_payload(&payload[..=errno.name().len()]),
                Ok(errno)
            );
        }
    }

    #[test]
    fn acknowledgements_are_ok() {
        assert_eq!(ok(b"OK\0"), Ok(()));
        assert_eq!(ok(b"KO\0"), Err(PayloadError::NotOk));
        assert_eq!(ok(b"OK"), Err(PayloadError::MissingNul));
    }

    #[test]
    fn only_the_agents_types_are_known() {
        for kind in [
            MessageType::Read,
            MessageType::Watch,
            MessageType::Write,
            MessageType::WatchEvent,
            MessageType::Error,
        ] {
            assert_eq!(MessageType::from_raw(kind as u32), Some(kind));
        }
        assert_eq!(MessageType::from_raw(0xffff), None);
        assert_eq!(MessageType::from_raw(1), None);
    }
}
