//! A synchronous xenstore daemon side for the unit tests: takes the requests the client wrote
//! and writes replies and events, byte for byte as xenstored frames them.

extern crate std;

use std::vec::Vec;

use ballast_xen::ring::xenstore::{XsdSockmsg, REPLIES, REQUESTS, XSD_SOCKMSG_SIZE};
use ballast_xen::ring::AtomicPage;
use zerocopy::{FromBytes, IntoBytes};

/// A request as the daemon read it.
#[derive(Debug)]
pub struct Request {
    pub header: XsdSockmsg,
    pub payload: Vec<u8>,
}

/// The daemon's side of a ring in an [`AtomicPage`].
pub struct Daemon<'p> {
    pub page: &'p AtomicPage,
}

impl Daemon<'_> {
    /// Every complete request in the ring.
    pub fn requests(&mut self) -> Vec<Request> {
        let mut bytes = std::vec![0u8; 1024];
        let read = REQUESTS.consume(&mut self.page, &mut bytes).unwrap();
        bytes.truncate(read);
        let mut requests = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let header = XsdSockmsg::read_from_bytes(&rest[..XSD_SOCKMSG_SIZE]).unwrap();
            let end = XSD_SOCKMSG_SIZE + header.len as usize;
            let payload = rest[XSD_SOCKMSG_SIZE..end].to_vec();
            requests.push(Request { header, payload });
            rest = &rest[end..];
        }
        requests
    }

    /// Write a message of `kind` for `req_id`.
    pub fn reply(&mut self, kind: u32, req_id: u32, payload: &[u8]) {
        let header = XsdSockmsg {
            kind,
            req_id,
            tx_id: 0,
            len: payload.len() as u32,
        };
        self.raw(header.as_bytes());
        self.raw(payload);
    }

    /// Write bytes into the reply ring as they are.
    pub fn raw(&mut self, bytes: &[u8]) {
        assert_eq!(REPLIES.produce(&mut self.page, bytes).unwrap(), bytes.len());
    }
}
