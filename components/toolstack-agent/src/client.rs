//! The xenstore client state machine: a bounded queue of requests, a few of them in flight,
//! replies matched to their request by `req_id`, and watch events taken whenever they come. It
//! moves bytes between its buffers and the ring as far as the ring allows and picks up where it
//! stopped on the next call; anything malformed from the daemon is an [`ErrorReport`].

use ballast_xen::ring::xenstore::{XsdSockmsg, XENSTORE_PAYLOAD_MAX, XSD_SOCKMSG_SIZE};
use ballast_xen::ring::{RingError, SharedPage, XenstoreRing};
use heapless::{Deque, Vec};
use zerocopy::IntoBytes;

use crate::error::{AgentError, ErrorReport};
use crate::wire::{self, MessageType};

/// The longest request payload the client carries: the agent's paths and values are short, the
/// longest is the write of a grant answer (its path and [`crate::GRANT_ANSWER_MAX`] bytes).
pub const REQUEST_PAYLOAD_MAX: usize = 352;

const PAYLOAD_MAX: usize = XENSTORE_PAYLOAD_MAX as usize;

/// A request waiting for its turn on the ring, with the tag its reply will carry.
#[derive(Debug)]
struct Request<T> {
    tag: T,
    kind: MessageType,
    payload: Vec<u8, REQUEST_PAYLOAD_MAX>,
}

/// A complete message from the daemon: a reply to one of our requests or a watch event. The
/// payload is borrowed from the client until the next call.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<'a, T> {
    /// The reply to the request tagged `tag`: of the request's own type, or `Error`.
    Reply {
        /// The request's tag.
        tag: T,
        /// The reply's type.
        kind: MessageType,
        /// The reply's payload.
        payload: &'a [u8],
    },
    /// A watch fired for `path`; `token` is the one given when the watch was registered.
    WatchEvent {
        /// The path that changed.
        path: &'a str,
        /// The watch's token.
        token: &'a str,
    },
}

/// The client side of the xenstore protocol, for requests tagged with `T`: at most `QUEUE`
/// requests waiting and `IN_FLIGHT` sent and not answered.
#[derive(Debug)]
pub struct Client<T, const QUEUE: usize, const IN_FLIGHT: usize> {
    queue: Deque<Request<T>, QUEUE>,
    /// Bytes of the queue's head (header and payload) already in the ring.
    head_sent: usize,
    /// The `req_id` of the queue's head, given when its first byte went out.
    head_req_id: u32,
    in_flight: Vec<(u32, T), IN_FLIGHT>,
    /// Requests that will get no usable reply (the stream was resynchronised or the reply was
    /// garbage): the owner decides whether to ask again.
    lost: Vec<T, IN_FLIGHT>,
    last_req_id: u32,
    header: [u8; XSD_SOCKMSG_SIZE],
    header_have: usize,
    payload: [u8; PAYLOAD_MAX],
    payload_have: usize,
    /// Bytes were written or consumed since the last `take_notify`.
    notify: bool,
}

impl<T: Copy + PartialEq, const QUEUE: usize, const IN_FLIGHT: usize> Default
    for Client<T, QUEUE, IN_FLIGHT>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + PartialEq, const QUEUE: usize, const IN_FLIGHT: usize> Client<T, QUEUE, IN_FLIGHT> {
    /// A client with nothing queued.
    pub const fn new() -> Self {
        Client {
            queue: Deque::new(),
            head_sent: 0,
            head_req_id: 0,
            in_flight: Vec::new(),
            lost: Vec::new(),
            last_req_id: 0,
            header: [0; XSD_SOCKMSG_SIZE],
            header_have: 0,
            payload: [0; PAYLOAD_MAX],
            payload_have: 0,
            notify: false,
        }
    }

    /// Queue a request of `kind` whose payload is `parts` concatenated. A request with the same
    /// tag still waiting (not begun on the ring) is replaced instead: the latest wins, in the
    /// earlier one's place.
    pub fn queue(&mut self, tag: T, kind: MessageType, parts: &[&[u8]]) -> Result<(), AgentError> {
        let mut payload = Vec::new();
        for part in parts {
            payload
                .extend_from_slice(part)
                .map_err(|()| AgentError::RequestTooLong)?;
        }
        let begun = usize::from(self.head_sent > 0);
        if let Some(waiting) = self
            .queue
            .iter_mut()
            .skip(begun)
            .find(|request| request.tag == tag)
        {
            waiting.kind = kind;
            waiting.payload = payload;
            return Ok(());
        }
        self.queue
            .push_back(Request { tag, kind, payload })
            .map_err(|_| AgentError::QueueFull)
    }

    /// Whether a request tagged `tag` has been sent and not answered yet.
    pub fn in_flight(&self, tag: T) -> bool {
        self.in_flight.iter().any(|(_, waiting)| *waiting == tag)
    }

    /// A request that will get no usable reply, for the owner to ask again if it likes.
    pub fn take_lost(&mut self) -> Option<T> {
        self.lost.pop()
    }

    /// Whether bytes were written to or consumed from the ring since the last call: the daemon
    /// must then be notified through the event channel.
    pub fn take_notify(&mut self) -> bool {
        core::mem::take(&mut self.notify)
    }

    /// Write queued requests into the ring while it has room and fewer than `IN_FLIGHT` are
    /// unanswered; a request the ring cannot take whole continues on the next call.
    pub fn send<P: SharedPage>(&mut self, ring: &mut XenstoreRing<P>) -> Result<(), RingError> {
        while !self.queue.is_empty() {
            if self.head_sent == 0 {
                if self.in_flight.is_full() {
                    return Ok(());
                }
                self.head_req_id = self.next_req_id();
            }
            let Some(head) = self.queue.front() else {
                return Ok(());
            };
            let header = XsdSockmsg {
                kind: head.kind as u32,
                req_id: self.head_req_id,
                tx_id: 0,
                len: head.payload.len() as u32,
            };
            // A payload holds at most XENSTORE_PAYLOAD_MAX bytes.
            let total = XSD_SOCKMSG_SIZE.saturating_add(head.payload.len());
            while self.head_sent < total {
                let rest = match self.head_sent.checked_sub(XSD_SOCKMSG_SIZE) {
                    None => &header.as_bytes()[self.head_sent..],
                    Some(into_payload) => &head.payload[into_payload..],
                };
                let written = ring.send(rest)?;
                if written == 0 {
                    return Ok(());
                }
                // The ring wrote at most `rest`, so this stays at most `total`.
                self.head_sent = self.head_sent.saturating_add(written);
                self.notify = true;
            }
            let tag = head.tag;
            self.queue.pop_front();
            self.head_sent = 0;
            // Room was checked before the request's first byte went out.
            let _ = self.in_flight.push((self.head_req_id, tag));
        }
        Ok(())
    }

    /// Take bytes from the ring until one message is complete, and return it; `None` if the
    /// ring holds no complete message yet (what it held is kept for the next call).
    pub fn receive<P: SharedPage>(
        &mut self,
        ring: &mut XenstoreRing<P>,
    ) -> Result<Option<Received<'_, T>>, ErrorReport> {
        if self.header_have < XSD_SOCKMSG_SIZE {
            // `take` fills at most the header's missing bytes.
            self.header_have = self
                .header_have
                .saturating_add(self.take(ring, Part::Header)?);
            if self.header_have < XSD_SOCKMSG_SIZE {
                return Ok(None);
            }
        }
        let header: XsdSockmsg = zerocopy::transmute!(self.header);
        if header.len > XENSTORE_PAYLOAD_MAX {
            self.resynchronise(ring);
            return Err(ErrorReport::new(
                AgentError::PayloadTooLong,
                header.len.into(),
            ));
        }
        let len = header.len as usize;
        if self.payload_have < len {
            // `take` fills at most the payload's missing bytes.
            let taken = self.take(ring, Part::Payload(len))?;
            self.payload_have = self.payload_have.saturating_add(taken);
            if self.payload_have < len {
                return Ok(None);
            }
        }
        self.header_have = 0;
        self.payload_have = 0;
        let payload = &self.payload[..len];
        let kind = MessageType::from_raw(header.kind);
        let request = self
            .in_flight
            .iter()
            .position(|(req_id, _)| *req_id == header.req_id && header.req_id != 0);
        match (kind, request) {
            (Some(MessageType::WatchEvent), _) => {
                let [path, token] = wire::nul_terminated::<2>(payload)?;
                Ok(Some(Received::WatchEvent { path, token }))
            }
            (Some(kind), Some(index)) => {
                let (_, tag) = self.in_flight.swap_remove(index);
                Ok(Some(Received::Reply { tag, kind, payload }))
            }
            (None, Some(index)) => {
                let (_, tag) = self.in_flight.swap_remove(index);
                let _ = self.lost.push(tag);
                Err(ErrorReport::new(
                    AgentError::UnknownMessageType,
                    header.kind.into(),
                ))
            }
            (None, None) => Err(ErrorReport::new(
                AgentError::UnknownMessageType,
                header.kind.into(),
            )),
            (Some(_), None) => Err(ErrorReport::new(
                AgentError::UnexpectedReqId,
                header.req_id.into(),
            )),
        }
    }

    /// Read what the ring holds of the header, or of a payload of `len` bytes.
    fn take<P: SharedPage>(
        &mut self,
        ring: &mut XenstoreRing<P>,
        part: Part,
    ) -> Result<usize, ErrorReport> {
        let buffer = match part {
            Part::Header => &mut self.header[self.header_have..],
            Part::Payload(len) => &mut self.payload[self.payload_have..len],
        };
        let read = ring.receive(buffer).map_err(ErrorReport::from)?;
        self.notify |= read > 0;
        Ok(read)
    }

    /// After a header with an impossible length the message boundaries are lost: drop what the
    /// ring holds, start again at the next byte the daemon writes, and count every request in
    /// flight as lost (its reply may have been among the dropped bytes).
    fn resynchronise<P: SharedPage>(&mut self, ring: &mut XenstoreRing<P>) {
        while let Ok(read @ 1..) = ring.receive(&mut self.payload) {
            self.notify |= read > 0;
        }
        self.header_have = 0;
        self.payload_have = 0;
        while let Some((_, tag)) = self.in_flight.pop() {
            let _ = self.lost.push(tag);
        }
    }

    /// A fresh request id: never 0 (watch events carry 0) and never one still in flight.
    fn next_req_id(&mut self) -> u32 {
        loop {
            self.last_req_id = self.last_req_id.wrapping_add(1);
            let candidate = self.last_req_id;
            if candidate != 0 && !self.in_flight.iter().any(|(id, _)| *id == candidate) {
                return candidate;
            }
        }
    }
}

/// Which buffer [`Client::take`] fills.
#[derive(Clone, Copy, Debug)]
enum Part {
    Header,
    Payload(usize),
}

#[cfg(test)]
mod tests {
    use ballast_xen::ring::xenstore::{
        XenstoreDomainInterface, XS_ERROR, XS_READ, XS_WATCH_EVENT, XS_WRITE,
    };
    use ballast_xen::ring::AtomicPage;
    use core::mem::offset_of;

    use super::*;
    use crate::test_daemon::Daemon;

    type TestClient = Client<u8, 4, 2>;

    fn setup(page: &AtomicPage) -> (TestClient, XenstoreRing<&AtomicPage>, Daemon<'_>) {
        (Client::new(), XenstoreRing::new(page), Daemon { page })
    }

    #[test]
    fn a_request_goes_out_framed_as_xs_wire_says() {
        let page = AtomicPage::new();
        let (mut client, mut ring, mut daemon) = setup(&page);
        client
            .queue(7, MessageType::Read, &[b"memory/target", b"\0"])
            .unwrap();
        client.send(&mut ring).unwrap();
        assert!(client.take_notify());
        let requests = daemon.requests();
        assert_eq!(requests.len(), 1);
        let header = requests[0].header;
        assert_eq!((header.kind, header.tx_id, header.len), (XS_READ, 0, 14));
        assert_ne!(header.req_id, 0);
        assert_eq!(requests[0].payload, b"memory/target\0");
        assert!(client.in_flight(7));
    }

    #[test]
    fn replies_find_their_requests_in_any_order_and_events_come_between() {
        let page = AtomicPage::new();
        let (mut client, mut ring, mut daemon) = setup(&page);
        client.queue(1, MessageType::Read, &[b"a\0"]).unwrap();
        client
            .queue(2, MessageType::Write, &[b"b\0", b"v"])
            .unwrap();
        client.send(&mut ring).unwrap();
        let requests = daemon.requests();
        let ids = [requests[0].header.req_id, requests[1].header.req_id];
        daemon.reply(XS_WRITE, ids[1], b"OK\0");
        daemon.reply(XS_WATCH_EVENT, 0, b"memory/target\0target\0");
        daemon.reply(XS_READ, ids[0], b"42");
        let expected = [
            Received::Reply {
                tag: 2,
                kind: MessageType::Write,
                payload: &b"OK\0"[..],
            },
            Received::WatchEvent {
                path: "memory/target",
                token: "target",
            },
            Received::Reply {
                tag: 1,
                kind: MessageType::Read,
                payload: &b"42"[..],
            },
        ];
        for want in expected {
            assert_eq!(client.receive(&mut ring).unwrap(), Some(want));
        }
        assert_eq!(client.receive(&mut ring).unwrap(), None);
        assert!(!client.in_flight(1) && !client.in_flight(2));
    }

    #[test]
    fn messages_split_anywhere_are_put_back_together() {
        let page = AtomicPage::new();
        let (mut client, mut ring, mut daemon) = setup(&page);
        let header = XsdSockmsg {
            kind: XS_WATCH_EVENT,
            req_id: 0,
            tx_id: 0,
            len: 9,
        };
        let mut message = [0u8; 25];
        message[..16].copy_from_slice(header.as_bytes());
        message[16..].copy_from_slice(b"x/y\0tok\0\0");
        for piece in message.chunks(5) {
            assert_eq!(client.receive(&mut ring).unwrap(), None);
            daemon.raw(piece);
        }
        assert_eq!(
            client.receive(&mut ring),
            Err(ErrorReport::new(AgentError::MissingNul, 0)),
            "three strings where a watch event has two"
        );
    }

    #[test]
    fn a_request_the_ring_cannot_take_whole_goes_out_in_pieces() {
        let page = AtomicPage::new();
        let (mut client, mut ring, mut daemon) = setup(&page);
        let mut side = &page;
        let req_prod = offset_of!(XenstoreDomainInterface, req_prod);
        side.store_u32(req_prod, 1020);
        client
            .queue(3, MessageType::Read, &[b"memory/static-max\0"])
            .unwrap();
        client.send(&mut ring).unwrap();
        assert_eq!(side.load_u32(req_prod), 1024, "four header bytes fit");
        assert!(!client.in_flight(3));
        side.store_u32(offset_of!(XenstoreDomainInterface, req_cons), 1020);
        client.send(&mut ring).unwrap();
        assert!(client.in_flight(3));
        let requests = daemon.requests();
        assert_eq!(requests[0].payload, b"memory/static-max\0");
    }

    #[test]
    fn no_more_than_in_flight_requests_are_unanswered() {
        let page = AtomicPage::new();
        let (mut client, mut ring, mut daemon) = setup(&page);
        for tag in 1..=3 {
            client.queue(tag, MessageType::Read, &[b"k\0"]).unwrap();
        }
        client.send(&mut ring).unwrap();
        let first = daemon.requests();
        assert_eq!(first.len(), 2);
        daemon.reply(XS_READ, first[0].header.req_id, b"1");
        assert!(client.receive(&mut ring).unwrap().is_some());
        client.send(&mut ring).unwrap();
        assert_eq!(daemon.requests().len(), 1);
        assert!(client.in_flight(3));
    }

    #[test]
    fn a_waiting_request_is_replaced_by_a_newer_one_with_its_tag() {
        let page = AtomicPage::new();
        let (mut client, mut ring, mut daemon) = setup(&page);
        client
            .queue(1, MessageType::Write, &[b"k\0", b"old"])
            .unwrap();
        client
            .queue(2, MessageType::Write, &[b"j\0", b"x"])
            .unwrap();
        client
            .queue(1, MessageType::Write, &[b"k\0", b"new"])
            .unwrap();
        client.queue(3, MessageType::Read, &[b"k\0"]).unwrap();
        client.queue(4, MessageType::Read, &[b"k\0"]).unwrap();
        assert_eq!(
            client.queue(5, MessageType::Read, &[b"k\0"]),
            Err(AgentError::QueueFull)
        );
        assert_eq!(
            client.queue(1, MessageType::Read, &[&[b'x'; REQUEST_PAYLOAD_MAX + 1]]),
            Err(AgentError::RequestTooLong)
        );
        client.send(&mut ring).unwrap();
        let requests = daemon.requests();
        assert_eq!(requests[0].payload, b"k\0new");
        assert_eq!(requests[1].payload, b"j\0x");
    }

    #[test]
    fn an_impossible_length_drops_the_ring_and_loses_the_requests_in_flight() {
        let page = AtomicPage::new();
        let (mut client, mut ring, mut daemon) = setup(&page);
        client.queue(9, MessageType::Read, &[b"k\0"]).unwrap();
        client.send(&mut ring).unwrap();
        let req_id = daemon.requests()[0].header.req_id;
        page_len(&page, 5000);
        daemon.reply(XS_READ, req_id, &[b'1'; 100]);
        assert_eq!(
            client.receive(&mut ring),
            Err(ErrorReport::new(AgentError::PayloadTooLong, 5000))
        );
        assert_eq!(ring.replies_waiting(), Ok(0));
        assert_eq!(client.take_lost(), Some(9));
        assert_eq!(client.take_lost(), None);
        daemon.reply(XS_WATCH_EVENT, 0, b"p\0t\0");
        assert!(matches!(
            client.receive(&mut ring),
            Ok(Some(Received::WatchEvent { .. }))
        ));
    }

    #[test]
    fn replies_nobody_asked_for_and_unknown_types_are_skipped() {
        let page = AtomicPage::new();
        let (mut client, mut ring, mut daemon) = setup(&page);
        client.queue(4, MessageType::Write, &[b"k\0"]).unwrap();
        client.send(&mut ring).unwrap();
        let req_id = daemon.requests()[0].header.req_id;
        daemon.reply(XS_ERROR, req_id + 1, b"EACCES\0");
        daemon.reply(0x55, 0, b"??");
        daemon.reply(0x56, req_id, b"");
        daemon.reply(XS_WRITE, req_id, b"OK\0");
        assert_eq!(
            client.receive(&mut ring),
            Err(ErrorReport::new(
                AgentError::UnexpectedReqId,
                u64::from(req_id + 1)
            ))
        );
        assert_eq!(
            client.receive(&mut ring),
            Err(ErrorReport::new(AgentError::UnknownMessageType, 0x55))
        );
        assert_eq!(
            client.receive(&mut ring),
            Err(ErrorReport::new(AgentError::UnknownMessageType, 0x56))
        );
        assert_eq!(client.take_lost(), Some(4), "its only reply was garbage");
        assert_eq!(
            client.receive(&mut ring),
            Err(ErrorReport::new(AgentError::UnexpectedReqId, req_id.into())),
            "the request is no longer in flight"
        );
    }

    #[test]
    fn a_hostile_reply_index_is_an_error_that_consumes_nothing() {
        let page = AtomicPage::new();
        let (mut client, mut ring, _daemon) = setup(&page);
        let mut side = &page;
        side.store_u32(offset_of!(XenstoreDomainInterface, rsp_prod), 5000);
        assert_eq!(
            client.receive(&mut ring),
            Err(ErrorReport::new(AgentError::RingProducerTooFarAhead, 0))
        );
        assert_eq!(
            side.load_u32(offset_of!(XenstoreDomainInterface, rsp_cons)),
            0
        );
        assert!(!client.take_notify());
    }

    /// Write a header announcing `len` bytes (and nothing after it).
    fn page_len(page: &AtomicPage, len: u32) {
        let header = XsdSockmsg {
            kind: XS_READ,
            req_id: 1,
            tx_id: 0,
            len,
        };
        Daemon { page }.raw(header.as_bytes());
    }
}
