//! The xenstore ring and wire format of `xs_wire.h`: `struct xenstore_domain_interface`, the
//! message header `struct xsd_sockmsg`, the message types and limits, and [`XenstoreRing`], the
//! guest's side of the ring (it writes requests, reads replies and watch events). The
//! `c_headers` test checks every value and offset here against Debian's headers.

use core::mem::offset_of;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{ByteRing, RingError, SharedPage};

/// `XENSTORE_RING_SIZE`: bytes in each direction of the ring.
pub const XENSTORE_RING_SIZE: u32 = 1024;
/// `XENSTORE_PAYLOAD_MAX`: the most bytes a message may carry after its header.
pub const XENSTORE_PAYLOAD_MAX: u32 = 4096;

/// `XS_DIRECTORY`.
pub const XS_DIRECTORY: u32 = 1;
/// `XS_READ`.
pub const XS_READ: u32 = 2;
/// `XS_WATCH`.
pub const XS_WATCH: u32 = 4;
/// `XS_UNWATCH`.
pub const XS_UNWATCH: u32 = 5;
/// `XS_WRITE`.
pub const XS_WRITE: u32 = 11;
/// `XS_RM`.
pub const XS_RM: u32 = 13;
/// `XS_WATCH_EVENT`: an asynchronous message, with no request behind it.
pub const XS_WATCH_EVENT: u32 = 15;
/// `XS_ERROR`: the reply to a failed request; the payload names the errno (`"EACCES"`).
pub const XS_ERROR: u32 = 16;

/// `XENSTORE_SERVER_FEATURE_ERROR`: the server uses the interface's `error` field.
pub const XENSTORE_SERVER_FEATURE_ERROR: u32 = 2;
/// `XENSTORE_CONNECTED`: the steady state of the `connection` field.
pub const XENSTORE_CONNECTED: u32 = 0;
/// `XENSTORE_ERROR_NONE`: the `error` field when all is well.
pub const XENSTORE_ERROR_NONE: u32 = 0;

/// `struct xenstore_domain_interface`: the whole shared page's layout (the rest of the page is
/// unused).
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct XenstoreDomainInterface {
    /// Requests to the xenstore daemon.
    pub req: [u8; XENSTORE_RING_SIZE as usize],
    /// Replies and watch events from it.
    pub rsp: [u8; XENSTORE_RING_SIZE as usize],
    /// How far the daemon has read `req`.
    pub req_cons: u32,
    /// How far the guest has written `req`.
    pub req_prod: u32,
    /// How far the guest has read `rsp`.
    pub rsp_cons: u32,
    /// How far the daemon has written `rsp`.
    pub rsp_prod: u32,
    /// The daemon's feature bits (`XENSTORE_SERVER_FEATURE_*`).
    pub server_features: u32,
    /// `XENSTORE_CONNECTED` or `XENSTORE_RECONNECT`.
    pub connection: u32,
    /// `XENSTORE_ERROR_*`, set by the daemon when the guest broke the protocol.
    pub error: u32,
}

/// `struct xsd_sockmsg`: the 16-byte header before every message's payload, in both directions.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XsdSockmsg {
    /// The message type (`XS_*`).
    pub kind: u32,
    /// Chosen by the requester, echoed in the reply; 0 in a watch event.
    pub req_id: u32,
    /// The transaction, 0 for none.
    pub tx_id: u32,
    /// Bytes of payload that follow (at most [`XENSTORE_PAYLOAD_MAX`]).
    pub len: u32,
}

/// The size of [`XsdSockmsg`].
pub const XSD_SOCKMSG_SIZE: usize = core::mem::size_of::<XsdSockmsg>();

const _: () = assert!(XSD_SOCKMSG_SIZE == 16);

/// The request ring: the guest produces, the daemon consumes.
pub const REQUESTS: ByteRing = ByteRing::new(
    offset_of!(XenstoreDomainInterface, req),
    XENSTORE_RING_SIZE,
    offset_of!(XenstoreDomainInterface, req_cons),
    offset_of!(XenstoreDomainInterface, req_prod),
);

/// The reply ring: the daemon produces, the guest consumes.
pub const REPLIES: ByteRing = ByteRing::new(
    offset_of!(XenstoreDomainInterface, rsp),
    XENSTORE_RING_SIZE,
    offset_of!(XenstoreDomainInterface, rsp_cons),
    offset_of!(XenstoreDomainInterface, rsp_prod),
);

/// The guest's side of the xenstore ring. After sending or receiving, the caller notifies the
/// daemon through the xenstore event channel.
#[derive(Debug)]
pub struct XenstoreRing<P: SharedPage> {
    page: P,
}

impl<P: SharedPage> XenstoreRing<P> {
    /// The guest's side of the ring in `page`.
    pub fn new(page: P) -> Self {
        XenstoreRing { page }
    }

    /// Write as much of `bytes` into the request ring as fits; returns how many were written.
    pub fn send(&mut self, bytes: &[u8]) -> Result<usize, RingError> {
        REQUESTS.produce(&mut self.page, bytes)
    }

    /// Read as many reply bytes as `out` holds; returns how many were read.
    pub fn receive(&mut self, out: &mut [u8]) -> Result<usize, RingError> {
        REPLIES.consume(&mut self.page, out)
    }

    /// Bytes of the request ring free for [`send`](Self::send).
    pub fn request_space(&self) -> Result<u32, RingError> {
        REQUESTS.free(&self.page)
    }

    /// Reply bytes waiting for [`receive`](Self::receive).
    pub fn replies_waiting(&self) -> Result<u32, RingError> {
        REPLIES.filled(&self.page)
    }

    /// The daemon's `error` field if it announces it (`XENSTORE_SERVER_FEATURE_ERROR`) and it is
    /// set: the daemon has stopped serving this ring.
    pub fn server_error(&self) -> Option<u32> {
        let features = self
            .page
            .load_u32(offset_of!(XenstoreDomainInterface, server_features));
        let error = self
            .page
            .load_u32(offset_of!(XenstoreDomainInterface, error));
        (features & XENSTORE_SERVER_FEATURE_ERROR != 0 && error != XENSTORE_ERROR_NONE)
            .then_some(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::AtomicPage;

    #[test]
    fn requests_reach_the_daemon_and_replies_the_guest() {
        let page = AtomicPage::new();
        let mut guest = XenstoreRing::new(&page);
        let mut daemon = &page;
        assert_eq!(guest.send(b"request").unwrap(), 7);
        let mut seen = [0u8; 16];
        assert_eq!(REQUESTS.consume(&mut daemon, &mut seen).unwrap(), 7);
        assert_eq!(&seen[..7], b"request");
        assert_eq!(REPLIES.produce(&mut daemon, b"reply").unwrap(), 5);
        assert_eq!(guest.replies_waiting().unwrap(), 5);
        let mut out = [0u8; 3];
        assert_eq!(guest.receive(&mut out).unwrap(), 3);
        assert_eq!(&out, b"rep");
        assert_eq!(guest.request_space().unwrap(), XENSTORE_RING_SIZE);
    }

    #[test]
    fn the_error_field_counts_only_when_the_daemon_announces_it() {
        let page = AtomicPage::new();
        let guest = XenstoreRing::new(&page);
        let mut daemon = &page;
        daemon.store_u32(offset_of!(XenstoreDomainInterface, error), 2);
        assert_eq!(guest.server_error(), None);
        daemon.store_u32(
            offset_of!(XenstoreDomainInterface, server_features),
            XENSTORE_SERVER_FEATURE_ERROR,
        );
        assert_eq!(guest.server_error(), Some(2));
    }

    #[test]
    fn a_reply_index_jumped_past_the_ring_is_refused() {
        let page = AtomicPage::new();
        let mut guest = XenstoreRing::new(&page);
        let mut daemon = &page;
        daemon.store_u32(
            offset_of!(XenstoreDomainInterface, rsp_prod),
            XENSTORE_RING_SIZE + 1,
        );
        assert_eq!(
            guest.receive(&mut [0; 8]),
            Err(RingError::ProducerTooFarAhead)
        );
        daemon.store_u32(offset_of!(XenstoreDomainInterface, req_cons), 9);
        assert_eq!(guest.send(b"x"), Err(RingError::ConsumerAheadOfProducer));
        assert_eq!(
            page_index(&page, offset_of!(XenstoreDomainInterface, req_prod)),
            0
        );
    }

    fn page_index(page: &AtomicPage, offset: usize) -> u32 {
        (&page).load_u32(offset)
    }
}
