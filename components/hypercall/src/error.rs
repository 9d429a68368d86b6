//! Why the gateway refused a request, what a query, an event send, a shutdown or a grant batch
//! can fail with, and why the image could not give a caller an event-channel port.

use ballast_xen::XenErrno;

/// A refused request. Nothing reached Xen. C-like, nonzero; the variants are listed in the order
/// the gateway checks them (those of `event_send`, `shutdown` and the grant ops last: new values
/// go at the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum GatewayError {
    /// The badge is not in the caller table.
    UnknownCaller = 1,
    /// The caller does not hold the capability for this op.
    NotPermitted = 2,
    /// The domid is neither `DOMID_SELF` nor the guest's own configured id.
    ForeignDomain = 3,
    /// `mem_flags` asks for populate-on-demand or sets a bit Xen does not define.
    BadFlags = 4,
    /// The extent order is above the configured maximum.
    OrderTooLarge = 5,
    /// The list holds more extents than one call may carry.
    TooManyFrames = 6,
    /// A frame is not the first frame of an extent of the requested order.
    Misaligned = 7,
    /// An extent does not lie wholly inside one range the caller owns.
    NotOwned = 8,
    /// A populate list names the same extent twice (Xen would map it twice and leak a page).
    DuplicateFrame = 9,
    /// The event-channel port is not one the image gave the caller at boot.
    PortNotAllowed = 10,
    /// The shutdown reason is not poweroff, reboot or crash (see
    /// [`ballast_xen::abi::ShutdownReason`]): suspend needs a suspend record ballast does not keep.
    BadShutdownReason = 11,
    /// A grant map names a gfn outside every run the memory server lent to the caller, or a
    /// return notice a run not lent to the borrower named.
    FrameNotLent = 12,
    /// A frame holds a mapped grant: it may not take a second mapping, go back to the memory
    /// server, or be populated or released, until unmapped.
    FrameMapped = 13,
    /// A grant entry sets a flag bit other than read-only.
    BadGrantEntry = 14,
    /// An unmap names a handle the caller holds no mapping under, or names one twice.
    UnknownHandle = 15,
    /// The gateway's table of mapped grants or of lent runs has no room for the request.
    TooManyGrants = 16,
    /// A lend notice names frames already lent, or a reservation call frames lent to a driver.
    AlreadyLent = 17,
    /// A lend or return notice names a borrower that is not a caller holding `grant_map`, or an
    /// empty or wrapping run.
    BadBorrower = 18,
    /// A grant map names a granting domain the manifest does not list for the caller.
    DomainNotAllowed = 19,
    /// A populate names a frame Xen holds populated (Xen would map a fresh page there and leak
    /// the old one), or a frame whose state waits for a reading of Xen's count.
    FramePopulated = 20,
    /// A release names a frame Xen does not hold populated, or a frame whose state waits for a
    /// reading of Xen's count.
    FrameNotPopulated = 21,
}

impl GatewayError {
    /// Every variant, in check order.
    pub const ALL: [GatewayError; 21] = [
        GatewayError::UnknownCaller,
        GatewayError::NotPermitted,
        GatewayError::ForeignDomain,
        GatewayError::BadFlags,
        GatewayError::OrderTooLarge,
        GatewayError::TooManyFrames,
        GatewayError::Misaligned,
        GatewayError::NotOwned,
        GatewayError::DuplicateFrame,
        GatewayError::PortNotAllowed,
        GatewayError::BadShutdownReason,
        GatewayError::FrameNotLent,
        GatewayError::FrameMapped,
        GatewayError::BadGrantEntry,
        GatewayError::UnknownHandle,
        GatewayError::TooManyGrants,
        GatewayError::AlreadyLent,
        GatewayError::BadBorrower,
        GatewayError::DomainNotAllowed,
        GatewayError::FramePopulated,
        GatewayError::FrameNotPopulated,
    ];
    /// Number of variants.
    pub const COUNT: usize = GatewayError::ALL.len();

    /// The wire code (nonzero).
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The variant a wire code names, if any.
    pub const fn from_code(code: u16) -> Option<GatewayError> {
        // Codes start at 1; 0 is reserved and has no variant.
        match (code as usize).checked_sub(1) {
            Some(index) if index < GatewayError::COUNT => Some(GatewayError::ALL[index]),
            _ => None,
        }
    }

    /// Dense index, `0..COUNT`.
    pub(crate) const fn index(self) -> usize {
        // Every variant's code is at least 1 (0 is reserved).
        (self as usize).saturating_sub(1)
    }
}

/// Why `current_reservation`, `maximum_reservation`, `event_send`, `shutdown`, a grant batch or a
/// lend or return notice gave no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueryError {
    /// The gateway refused the caller; Xen was not asked.
    Refused(GatewayError),
    /// Xen answered with this errno.
    Xen(XenErrno),
}

impl From<GatewayError> for QueryError {
    fn from(error: GatewayError) -> QueryError {
        QueryError::Refused(error)
    }
}

/// Why the image could not give a caller an event-channel port
/// ([`crate::Gateway::allow_event_port`]). C-like, nonzero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum EventPortError {
    /// The badge is not in the caller table.
    UnknownCaller = 1,
    /// The caller does not hold the `event_send` capability: a port would be of no use to it.
    NotPermitted = 2,
    /// Port 0, which Xen never binds (an unset `HVM_PARAM_*_EVTCHN` reads 0).
    ZeroPort = 3,
    /// The caller already has [`crate::EVENT_PORTS_PER_CALLER`] ports.
    TooManyPorts = 4,
}

/// A caller table the gateway will not run with. C-like, nonzero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum CallerTableError {
    /// More callers than the table's `CALLERS` capacity.
    TooManyCallers = 1,
    /// A caller, or the protected set, has more ranges than the `RANGES` capacity.
    TooManyRanges = 2,
    /// Two entries carry the same badge.
    DuplicateBadge = 3,
    /// Two ranges (of one caller or of two) share a frame: a frame has one owner.
    OverlappingRanges = 4,
    /// A caller's range overlaps a protected range (the gateway's or the image's own pages).
    ProtectedOverlap = 5,
    /// The configured maximum extent order is above what [`ballast_xen::ExtentOrder`] admits.
    OrderTooLarge = 6,
    /// The configured maximum frames per call is zero or above the gateway's `FRAMES` capacity.
    BadFramesPerCall = 7,
    /// A grant names an op id the `Hypercall` interface does not have.
    UnknownOp = 8,
    /// A caller's range is empty or wraps the frame space (what [`ballast_xen::FrameRun::checked`]
    /// refuses).
    BadRange = 9,
    /// A lending range or a grant domain names a badge that is not in the table.
    UnknownCaller = 10,
    /// A lending range given to a caller without `lend_notice`, or a grant domain to one without
    /// `grant_map`.
    NotPermitted = 11,
    /// A grant domain is `DOMID_SELF` or another id Xen reserves (0x7ff0 and up).
    BadGrantDomain = 12,
    /// A caller was given more than [`crate::GRANT_DOMAINS_PER_CALLER`] grant domains.
    TooManyGrantDomains = 13,
    /// The page-state storage is smaller than the callers' ranges need
    /// ([`crate::bitmap_words`]).
    BitmapTooSmall = 14,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_nonzero_and_round_trip() {
        assert_eq!(GatewayError::from_code(0), None);
        assert_eq!(
            GatewayError::from_code(GatewayError::COUNT as u16 + 1),
            None
        );
        for (i, error) in GatewayError::ALL.into_iter().enumerate() {
            assert_eq!(error.code() as usize, i + 1);
            assert_eq!(error.index(), i);
            assert_eq!(GatewayError::from_code(error.code()), Some(error));
        }
    }

    #[test]
    fn a_refusal_converts_into_a_query_error() {
        let error: QueryError = GatewayError::NotPermitted.into();
        assert_eq!(error, QueryError::Refused(GatewayError::NotPermitted));
    }
}
