//! The agent against a small xenstored stand-in on a second thread, sharing a page of host memory
//! (atomics) as the xenstore ring, with a channel for each event-channel direction. The stand-in
//! keeps a store of relative paths, enforces what a guest may write, registers watches (firing
//! each once at once, as xenstored does) and fires them on writes; the test plays the toolstack
//! (`xl mem-set`, `xl mem-max`, `xl shutdown`, and dom0's grant offers) through it and the glue's
//! side of the agent (the memory server's and the backend's answers). Then the stand-in turns hostile: a garbage length, a reply index jumped past the
//! ring, replies to unknown requests and of unknown types, `EACCES` for the agent's writes. The
//! agent reports each as a typed error, never panics, and goes on working.

use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use ballast_grant_offer::{Answer, Mode, Offer, OfferError, Outcome};
use ballast_interfaces::balloon_control::BalloonControlError;
use ballast_toolstack_agent::wire::XsErrno;
use ballast_toolstack_agent::{Action, Agent, AgentError, ErrorReport, Key, ShutdownReason};
use ballast_xen::ring::xenstore::{
    XenstoreDomainInterface, XsdSockmsg, REPLIES, REQUESTS, XSD_SOCKMSG_SIZE, XS_ERROR, XS_READ,
    XS_WATCH, XS_WATCH_EVENT, XS_WRITE,
};
use ballast_xen::ring::{AtomicPage, SharedPage, XenstoreRing};
use zerocopy::{FromBytes, IntoBytes};

/// What the stand-in is told: the guest notified it, the toolstack acts, or a hostile move.
enum DaemonInput {
    GuestNotified,
    ToolstackWrite(&'static str, &'static str),
    GarbageLength,
    JumpReplyIndex,
    RestoreReplyIndex,
    ReplyToNobody,
    UnknownType,
    RefuseGuestWrites(bool),
    Stop,
}

type Store = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// The xenstored stand-in: one domain's view, paths relative to its home.
struct Daemon<'p> {
    page: &'p AtomicPage,
    store: Store,
    to_guest: Sender<()>,
    watches: Vec<(String, String)>,
    /// Request bytes read and not yet a whole message.
    incoming: Vec<u8>,
    /// Reply bytes not yet in the ring (it was full, or its index is hostile).
    outgoing: Vec<u8>,
    refuse_guest_writes: bool,
    saved_reply_index: Option<u32>,
}

impl Daemon<'_> {
    fn run(mut self, inputs: Receiver<DaemonInput>) {
        for input in inputs {
            match input {
                DaemonInput::GuestNotified => self.serve(),
                DaemonInput::ToolstackWrite(path, value) => self.write(path, value.as_bytes()),
                DaemonInput::GarbageLength => self.outgoing.extend_from_slice(
                    XsdSockmsg {
                        kind: XS_READ,
                        req_id: 1,
                        tx_id: 0,
                        len: u32::MAX,
                    }
                    .as_bytes(),
                ),
                DaemonInput::JumpReplyIndex => {
                    let index = offset_of_rsp_prod();
                    let producer = self.page.load_u32(index);
                    self.saved_reply_index = Some(producer);
                    let mut page = self.page;
                    page.store_u32(index, producer.wrapping_add(5000));
                }
                DaemonInput::RestoreReplyIndex => {
                    let producer = self.saved_reply_index.take().unwrap();
                    let mut page = self.page;
                    page.store_u32(offset_of_rsp_prod(), producer);
                }
                DaemonInput::ReplyToNobody => self.message(XS_READ, 0xdead, b"1"),
                DaemonInput::UnknownType => self.message(999, 0, b"what\0"),
                DaemonInput::RefuseGuestWrites(refuse) => self.refuse_guest_writes = refuse,
                DaemonInput::Stop => return,
            }
            self.flush();
        }
    }

    /// Take the guest's requests and answer every whole one.
    fn serve(&mut self) {
        let mut page = self.page;
        let mut bytes = [0u8; 1024];
        let read = REQUESTS.consume(&mut page, &mut bytes).unwrap();
        self.incoming.extend_from_slice(&bytes[..read]);
        while self.incoming.len() >= XSD_SOCKMSG_SIZE {
            let header = XsdSockmsg::read_from_bytes(&self.incoming[..XSD_SOCKMSG_SIZE]).unwrap();
            let end = XSD_SOCKMSG_SIZE + header.len as usize;
            if self.incoming.len() < end {
                break;
            }
            let payload: Vec<u8> = self.incoming.drain(..end).skip(XSD_SOCKMSG_SIZE).collect();
            self.request(header, &payload);
        }
    }

    fn request(&mut self, header: XsdSockmsg, payload: &[u8]) {
        let mut strings = payload.split(|&byte| byte == 0);
        let path = String::from_utf8(strings.next().unwrap().to_vec()).unwrap();
        match header.kind {
            XS_READ => {
                let value = self.store.lock().unwrap().get(&path).cloned();
                match value {
                    Some(value) => self.message(XS_READ, header.req_id, &value),
                    None => self.message(XS_ERROR, header.req_id, b"ENOENT\0"),
                }
            }
            XS_WRITE => {
                let value = &payload[path.len() + 1..];
                let allowed = path.starts_with("data/") || path == "control/shutdown";
                if !allowed || (self.refuse_guest_writes && path.starts_with("data/")) {
                    self.message(XS_ERROR, header.req_id, b"EACCES\0");
                } else {
                    self.message(XS_WRITE, header.req_id, b"OK\0");
                    self.write(&path, value);
                }
            }
            XS_WATCH => {
                let token = String::from_utf8(strings.next().unwrap().to_vec()).unwrap();
                self.message(XS_WATCH, header.req_id, b"OK\0");
                self.event(&path, &token);
                self.watches.push((path, token));
            }
            _ => self.message(XS_ERROR, header.req_id, b"EINVAL\0"),
        }
    }

    /// Store `value` at `path` and fire the watches on it.
    fn write(&mut self, path: &str, value: &[u8]) {
        self.store
            .lock()
            .unwrap()
            .insert(path.to_string(), value.to_vec());
        let fired: Vec<(String, String)> = self
            .watches
            .iter()
            .filter(|(watched, _)| path == watched || path.starts_with(&format!("{watched}/")))
            .cloned()
            .collect();
        for (_, token) in fired {
            self.event(path, &token);
        }
    }

    fn event(&mut self, path: &str, token: &str) {
        self.message(XS_WATCH_EVENT, 0, format!("{path}\0{token}\0").as_bytes());
    }

    fn message(&mut self, kind: u32, req_id: u32, payload: &[u8]) {
        let header = XsdSockmsg {
            kind,
            req_id,
            tx_id: 0,
            len: payload.len() as u32,
        };
        self.outgoing.extend_from_slice(header.as_bytes());
        self.outgoing.extend_from_slice(payload);
    }

    /// Put what fits of the replies into the ring and notify the guest.
    fn flush(&mut self) {
        let mut page = self.page;
        if let Ok(written) = REPLIES.produce(&mut page, &self.outgoing) {
            self.outgoing.drain(..written);
        }
        let _ = self.to_guest.send(());
    }
}

fn offset_of_rsp_prod() -> usize {
    std::mem::offset_of!(XenstoreDomainInterface, rsp_prod)
}

/// The glue's side: the agent, its ring, the memory server's answers, what it was told to do.
struct Guest<'p> {
    agent: Agent,
    ring: XenstoreRing<&'p AtomicPage>,
    to_daemon: Sender<DaemonInput>,
    from_daemon: Receiver<()>,
    store: Store,
    errors: Vec<ErrorReport>,
    targets: Vec<u64>,
    shutdown: Option<ShutdownReason>,
    offers: Vec<Offer>,
}

/// The memory server's floor and its maximum (boot memory and a growth range), in pages.
const FLOOR_PAGES: u64 = 16384;
const MAX_PAGES: u64 = 196_608;

impl Guest<'_> {
    /// Poll the agent and do what it asks, as the glue would.
    fn step(&mut self) {
        self.agent.poll(&mut self.ring);
        while let Some(action) = self.agent.next_action() {
            match action {
                Action::NotifyPeer => self.to_daemon.send(DaemonInput::GuestNotified).unwrap(),
                Action::Shutdown(reason) => self.shutdown = Some(reason),
                Action::SetTarget { pages } => {
                    self.targets.push(pages);
                    if pages < FLOOR_PAGES {
                        self.agent
                            .clamped(FLOOR_PAGES, BalloonControlError::TargetTooLow);
                    } else if pages > MAX_PAGES {
                        self.agent.refused(BalloonControlError::TargetTooHigh);
                    } else {
                        self.agent.accepted(pages);
                        self.agent.reached(pages);
                    }
                    self.agent.poll(&mut self.ring);
                }
                Action::GrantOffer => {
                    let offer = self.agent.take_grant_offer().unwrap();
                    self.agent.grant_answered(&backend_answer(&offer));
                    self.offers.push(offer);
                    self.agent.poll(&mut self.ring);
                }
            }
        }
        self.errors
            .extend(std::iter::from_fn(|| self.agent.next_error()));
    }

    /// Step on every notification until `done` holds.
    fn until(&mut self, what: &str, done: impl Fn(&Self) -> bool) {
        loop {
            self.step();
            if done(self) {
                return;
            }
            self.from_daemon
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("the agent never got to: {what}"));
        }
    }

    fn value(&self, path: &str) -> Option<String> {
        let store = self.store.lock().unwrap();
        store
            .get(path)
            .map(|value| String::from_utf8(value.clone()).unwrap())
    }

    fn reports(&self) -> (Option<String>, Option<String>) {
        (
            self.value("data/ballast/target-pages"),
            self.value("data/ballast/status"),
        )
    }

    fn has_error(&self, error: AgentError) -> bool {
        self.errors.iter().any(|report| report.error == error)
    }

    fn toolstack(&self, input: DaemonInput) {
        self.to_daemon.send(input).unwrap();
    }
}

/// What a backend answers an offer with, as far as the agent is concerned: every page served,
/// a death for `die-mapped`.
fn backend_answer(offer: &Offer) -> Answer {
    let pages = offer.refs.len() as u32;
    let outcome = match offer.mode {
        Mode::DieMapped => Outcome::Died { unmapped: pages },
        _ => Outcome::Ok,
    };
    Answer {
        round: offer.round,
        outcome,
        pages,
        mapped: pages,
        checked: pages,
        borrow_us: 1,
        map_us: 2,
        check_us: 3,
        unmap_us: 4,
        give_back_us: u64::MAX,
    }
}

fn reported(pages: &str, status: &str) -> (Option<String>, Option<String>) {
    (Some(pages.to_string()), Some(status.to_string()))
}

#[test]
fn the_agent_follows_the_toolstack_and_survives_a_hostile_daemon() {
    let page = AtomicPage::new();
    let store: Store = Arc::default();
    for (path, value) in [
        ("memory/static-max", "524288"),
        ("memory/target", "262144"),
        ("control/shutdown", ""),
    ] {
        store
            .lock()
            .unwrap()
            .insert(path.to_string(), value.as_bytes().to_vec());
    }
    let (to_daemon, daemon_inputs) = channel();
    let (to_guest, from_daemon) = channel();
    thread::scope(|scope| {
        let daemon = Daemon {
            page: &page,
            store: store.clone(),
            to_guest,
            watches: Vec::new(),
            incoming: Vec::new(),
            outgoing: Vec::new(),
            refuse_guest_writes: false,
            saved_reply_index: None,
        };
        scope.spawn(move || daemon.run(daemon_inputs));
        let mut guest = Guest {
            agent: Agent::new(),
            ring: XenstoreRing::new(&page),
            to_daemon,
            from_daemon,
            store,
            errors: Vec::new(),
            targets: Vec::new(),
            shutdown: None,
            offers: Vec::new(),
        };
        follows_the_toolstack(&mut guest);
        relays_grant_offers(&mut guest);
        survives_a_hostile_daemon(&mut guest);
        guest.toolstack(DaemonInput::ToolstackWrite("control/shutdown", "poweroff"));
        guest.until("the shutdown", |guest| guest.shutdown.is_some());
        assert_eq!(guest.shutdown, Some(ShutdownReason::Poweroff));
        assert_eq!(
            guest.value("control/shutdown").as_deref(),
            Some(""),
            "acknowledged"
        );
        every_error_was_reported_once(&guest);
        guest.toolstack(DaemonInput::Stop);
    });
}

/// The errors, in order; a hostile ring index is reported on every poll while it lasts.
fn every_error_was_reported_once(guest: &Guest<'_>) {
    let mut errors = guest.errors.clone();
    errors.dedup();
    let refused = |key| ErrorReport::from(XsErrno::EACCES).about(key);
    assert_eq!(
        errors,
        [
            ErrorReport::new(AgentError::TargetAboveStaticMax, 1_048_576).about(Key::Target),
            ErrorReport::new(AgentError::NotANumber, 0).about(Key::Target),
            ErrorReport::new(AgentError::BadGrantOffer, OfferError::NoRefs as u64)
                .about(Key::GrantOffer),
            ErrorReport::new(AgentError::PayloadTooLong, u32::MAX.into()),
            ErrorReport::new(AgentError::RingProducerTooFarAhead, 0),
            ErrorReport::new(AgentError::UnexpectedReqId, 0xdead),
            ErrorReport::new(AgentError::UnknownMessageType, 999),
            refused(Key::TargetPages),
            refused(Key::Status),
        ]
    );
    assert_eq!(
        guest.targets,
        [65536, 32768, 8192, 262_144, 196_608, 131_072, 49152, 40960, 65536, 57344]
    );
}

/// Boot target, `xl mem-set` down and up, below the floor, above static-max, `xl mem-max` up and
/// a target within the new maximum, back down, a bad value.
fn follows_the_toolstack(guest: &mut Guest<'_>) {
    guest.until("the boot target", |guest| {
        guest.reports() == reported("65536", "reached")
    });
    assert_eq!(guest.agent.static_max_kib(), Some(524_288));
    assert_eq!(guest.targets, [65536]);
    guest.toolstack(DaemonInput::ToolstackWrite("memory/target", "131072"));
    guest.until("mem-set 128", |guest| {
        guest.reports() == reported("32768", "reached")
    });
    guest.toolstack(DaemonInput::ToolstackWrite("memory/target", "32768"));
    guest.until("the floor", |guest| {
        guest.reports() == reported("16384", "clamped:TargetTooLow")
    });
    guest.toolstack(DaemonInput::ToolstackWrite("memory/target", "1048576"));
    guest.until("a target above static-max", |guest| {
        guest.reports() == reported("16384", "refused:TargetTooHigh")
    });
    assert!(guest.errors.contains(
        &ErrorReport::new(AgentError::TargetAboveStaticMax, 1_048_576).about(Key::Target)
    ));
    guest.toolstack(DaemonInput::ToolstackWrite("memory/static-max", "786432"));
    guest.until("xl mem-max 768", |guest| {
        guest.agent.static_max_kib() == Some(786_432)
    });
    guest.toolstack(DaemonInput::ToolstackWrite("memory/target", "786432"));
    guest.until(
        "a target above the boot maximum, within the new one",
        |guest| guest.reports() == reported("196608", "reached"),
    );
    guest.toolstack(DaemonInput::ToolstackWrite("memory/target", "524288"));
    guest.toolstack(DaemonInput::ToolstackWrite("memory/static-max", "524288"));
    guest.until("back to the boot maximum", |guest| {
        guest.reports() == reported("131072", "reached")
            && guest.agent.static_max_kib() == Some(524_288)
    });
    guest.toolstack(DaemonInput::ToolstackWrite("memory/target", "lots"));
    guest.until("a target that is no number", |guest| {
        guest.has_error(AgentError::NotANumber)
    });
    assert_eq!(
        guest.targets,
        [65536, 32768, 8192, 262_144, 196_608, 131_072]
    );
}

/// dom0 offers grants: each new round is handed over once and its answer written; the same
/// round written again is not served twice; a malformed offer is a typed error and no action.
fn relays_grant_offers(guest: &mut Guest<'_>) {
    const OFFER: &str = "data/ballast/grant-offer";
    guest.toolstack(DaemonInput::ToolstackWrite(OFFER, "1 check 0 11 12 13"));
    guest.until("the first offer's answer", |guest| {
        guest.value("data/ballast/grant-answer").is_some()
    });
    assert_eq!(
        guest.value("data/ballast/grant-answer").as_deref(),
        Some(
            "round=1 outcome=ok pages=3 mapped=3 checked=3 borrow_us=1 map_us=2 check_us=3 \
             unmap_us=4 give_back_us=18446744073709551615"
        )
    );
    guest.toolstack(DaemonInput::ToolstackWrite(OFFER, "1 check 0 11 12 13"));
    guest.toolstack(DaemonInput::ToolstackWrite(OFFER, "2 check 0"));
    guest.until("a malformed offer", |guest| {
        guest.has_error(AgentError::BadGrantOffer)
    });
    guest.toolstack(DaemonInput::ToolstackWrite(OFFER, "3 die-mapped 0 7"));
    guest.until("the death round's answer", |guest| {
        guest
            .value("data/ballast/grant-answer")
            .is_some_and(|answer| answer.starts_with("round=3 outcome=died:unmapped=1 "))
    });
    let rounds: Vec<u32> = guest.offers.iter().map(|offer| offer.round).collect();
    assert_eq!(
        rounds,
        [1, 3],
        "round 1 again and the malformed round 2 not served"
    );
    assert_eq!(guest.offers[1].refs, [7]);
}

/// Garbage length, a jumped reply index, replies to nobody, unknown types, refused writes.
fn survives_a_hostile_daemon(guest: &mut Guest<'_>) {
    guest.toolstack(DaemonInput::GarbageLength);
    guest.until("a garbage length", |guest| {
        guest.has_error(AgentError::PayloadTooLong)
    });
    guest.toolstack(DaemonInput::ToolstackWrite("memory/target", "196608"));
    guest.until("mem-set after the garbage", |guest| {
        guest.reports() == reported("49152", "reached")
    });

    guest.toolstack(DaemonInput::JumpReplyIndex);
    guest.until("a reply index past the ring", |guest| {
        guest.has_error(AgentError::RingProducerTooFarAhead)
    });
    guest.toolstack(DaemonInput::ToolstackWrite("memory/target", "163840"));
    guest.toolstack(DaemonInput::RestoreReplyIndex);
    guest.until("mem-set once the index is back", |guest| {
        guest.reports() == reported("40960", "reached")
    });

    guest.toolstack(DaemonInput::ReplyToNobody);
    guest.toolstack(DaemonInput::UnknownType);
    guest.until("a reply to nobody and an unknown type", |guest| {
        guest.has_error(AgentError::UnexpectedReqId)
            && guest.has_error(AgentError::UnknownMessageType)
    });

    guest.toolstack(DaemonInput::RefuseGuestWrites(true));
    guest.toolstack(DaemonInput::ToolstackWrite("memory/target", "262144"));
    guest.until("refused writes", |guest| {
        guest
            .errors
            .iter()
            .filter(|report| report.errno() == Some(XsErrno::EACCES))
            .count()
            == 2
    });
    assert_eq!(
        guest.reports(),
        reported("40960", "reached"),
        "nothing written"
    );
    guest.toolstack(DaemonInput::RefuseGuestWrites(false));
    guest.toolstack(DaemonInput::ToolstackWrite("memory/target", "229376"));
    guest.until("mem-set once writes go through", |guest| {
        guest.reports() == reported("57344", "reached")
    });
    assert_eq!(guest.targets.last(), Some(&57344));
}
