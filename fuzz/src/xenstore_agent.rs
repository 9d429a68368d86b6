//! The toolstack agent (`ballast-toolstack-agent`) against a hostile xenstore daemon: the fuzzer
//! plays xenstored and may answer the agent's requests with any type, id and payload, fire watch
//! events for any path and token, write raw bytes into the reply ring, overwrite any word of the
//! shared page (the indexes included) and raise the daemon's error, while the glue answers the
//! agent's actions as the memory-server app does. The agent must never panic, and a ring whose
//! indexes are inconsistent must not be moved by it.

use core::mem::offset_of;

use arbitrary::Arbitrary;
use ballast_grant_offer::{Answer, Outcome};
use ballast_interfaces::balloon_control::BalloonControlError;
use ballast_toolstack_agent::{Action, Agent};
use ballast_xen::ring::xenstore::{
    XenstoreDomainInterface, XsdSockmsg, REPLIES, REQUESTS, XSD_SOCKMSG_SIZE, XS_ERROR,
    XS_WATCH_EVENT,
};
use ballast_xen::ring::{AtomicPage, SharedPage, XenstoreRing};
use ballast_xen::PAGE_SIZE;
use zerocopy::{FromBytes, IntoBytes};

const REQ_PROD: usize = offset_of!(XenstoreDomainInterface, req_prod);
const RSP_CONS: usize = offset_of!(XenstoreDomainInterface, rsp_cons);
const ERROR: usize = offset_of!(XenstoreDomainInterface, error);

/// The paths and tokens the agent watches, and one it does not.
const WATCHED: [(&[u8], &[u8]); 5] = [
    (b"memory/static-max", b"static-max"),
    (b"memory/target", b"target"),
    (b"control/shutdown", b"shutdown"),
    (b"data/ballast/grant-offer", b"grant-offer"),
    (b"device/vbd", b"vbd"),
];

/// Moves one input may make.
const MAX_MOVES: usize = 256;

/// One move of the daemon or the glue.
#[derive(Arbitrary, Debug)]
enum Move {
    /// The agent polls the ring.
    Poll,
    /// The daemon takes every request the agent wrote.
    TakeRequests,
    /// The daemon answers the `nth` request it took (or `req_id` when there is none) with a
    /// message of type `kind` (`None`: the request's own type).
    Reply {
        nth: u8,
        kind: Option<u32>,
        payload: Vec<u8>,
    },
    /// The daemon answers a request with `XS_ERROR` and `errno`.
    Error { nth: u8, errno: Vec<u8> },
    /// The daemon fires a watch: one of [`WATCHED`] or a path and token of its own.
    Event {
        watched: u8,
        own: Option<(Vec<u8>, Vec<u8>)>,
    },
    /// The daemon writes bytes into the reply ring as they are.
    Raw { bytes: Vec<u8> },
    /// The daemon stores `value` as the `u32` at `word` (of the page's 1024).
    Store { word: u16, value: u32 },
    /// The daemon raises its error word.
    DaemonError { value: u32 },
    /// The glue takes the agent's actions and answers them with `answer`.
    Act { answer: GlueAnswer },
}

/// How the glue answers a target or an offer.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum GlueAnswer {
    Accepted { pages: u64 },
    Clamped { pages: u64, why: u8 },
    Refused { why: u8 },
    Reached { pages: u64 },
}

fn control_error(why: u8) -> BalloonControlError {
    BalloonControlError::try_from(u16::from(why % 6 + 1)).expect("1..=6 are errors")
}

/// The daemon's side: the requests it took, by id and type.
struct Daemon<'p> {
    page: &'p AtomicPage,
    requests: Vec<XsdSockmsg>,
}

impl Daemon<'_> {
    fn take_requests(&mut self) {
        let mut bytes = vec![0u8; 1024];
        let Ok(read) = REQUESTS.consume(&mut self.page, &mut bytes) else {
            return;
        };
        let mut rest = &bytes[..read];
        while let Ok((header, _)) = XsdSockmsg::read_from_prefix(rest) {
            self.requests.push(header);
            let end = (XSD_SOCKMSG_SIZE + header.len as usize).min(rest.len());
            rest = &rest[end..];
        }
    }

    fn message(&mut self, kind: u32, req_id: u32, payload: &[u8]) {
        let header = XsdSockmsg {
            kind,
            req_id,
            tx_id: 0,
            len: payload.len() as u32,
        };
        self.raw(header.as_bytes());
        self.raw(payload);
    }

    fn raw(&mut self, bytes: &[u8]) {
        let _ = REPLIES.produce(&mut self.page, bytes);
    }

    fn request(&self, nth: u8) -> Option<XsdSockmsg> {
        let count = self.requests.len();
        (count > 0).then(|| self.requests[usize::from(nth) % count])
    }
}

/// Play the moves `data` decodes to.
pub fn run(data: &[u8]) {
    let shared = AtomicPage::new();
    let page = &shared;
    let mut ring = XenstoreRing::new(page);
    let mut agent = Agent::new();
    let mut daemon = Daemon {
        page,
        requests: Vec::new(),
    };
    for step in crate::decode_all::<Move>(data, MAX_MOVES) {
        match step {
            Move::Poll => {
                let requests_bad = REQUESTS.filled(&page).is_err();
                let replies_bad = REPLIES.filled(&page).is_err();
                let (req_prod, rsp_cons) = (page.load_u32(REQ_PROD), page.load_u32(RSP_CONS));
                agent.poll(&mut ring);
                if requests_bad {
                    assert_eq!(
                        page.load_u32(REQ_PROD),
                        req_prod,
                        "a bad request ring moved"
                    );
                }
                if replies_bad {
                    assert_eq!(page.load_u32(RSP_CONS), rsp_cons, "a bad reply ring moved");
                }
            }
            Move::TakeRequests => daemon.take_requests(),
            Move::Reply { nth, kind, payload } => {
                let request = daemon.request(nth).unwrap_or_default();
                daemon.message(kind.unwrap_or(request.kind), request.req_id, &payload);
            }
            Move::Error { nth, errno } => {
                let request = daemon.request(nth).unwrap_or_default();
                daemon.message(XS_ERROR, request.req_id, &errno);
            }
            Move::Event { watched, own } => {
                let (path, token) = match &own {
                    Some((path, token)) => (&path[..], &token[..]),
                    None => WATCHED[usize::from(watched) % WATCHED.len()],
                };
                let payload = [path, b"\0", token, b"\0"].concat();
                daemon.message(XS_WATCH_EVENT, 0, &payload);
            }
            Move::Raw { bytes } => daemon.raw(&bytes),
            Move::Store { word, value } => {
                let mut side = page;
                side.store_u32(usize::from(word) % (PAGE_SIZE / 4) * 4, value);
            }
            Move::DaemonError { value } => {
                let mut side = page;
                side.store_u32(ERROR, value);
            }
            Move::Act { answer } => act(&mut agent, answer),
        }
    }
}

/// The glue: take every action and error, answer targets and offers with `answer`.
fn act(agent: &mut Agent, answer: GlueAnswer) {
    while let Some(action) = agent.next_action() {
        match action {
            Action::NotifyPeer | Action::Shutdown(_) => {}
            Action::SetTarget { .. } => match answer {
                GlueAnswer::Accepted { pages } => agent.accepted(pages),
                GlueAnswer::Clamped { pages, why } => agent.clamped(pages, control_error(why)),
                GlueAnswer::Refused { why } => agent.refused(control_error(why)),
                GlueAnswer::Reached { pages } => agent.reached(pages),
            },
            Action::GrantOffer => {
                if let Some(offer) = agent.take_grant_offer() {
                    let pages = offer.refs.len() as u32;
                    agent.grant_answered(&Answer::before_any_step(offer.round, pages, Outcome::Ok));
                }
            }
        }
    }
    while agent.next_error().is_some() {}
}
