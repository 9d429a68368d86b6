//! The toolstack agent: what the domain's xenstore keys mean for the memory server. It watches
//! `memory/static-max` (which `xl mem-max` changes), `memory/target` and `control/shutdown`,
//! turns a new target into [`Action::SetTarget`] and an acknowledged shutdown request into
//! [`Action::Shutdown`], and writes the memory server's answers under `data/ballast/` (see
//! [`crate::keys`]). As the domain's one xenstore client it also relays a backend's handshake:
//! it watches the grant offer a granting domain writes (`ballast_grant_offer`), hands each new
//! one over ([`Action::GrantOffer`]) and writes the backend's answer.

use ballast_grant_offer::{Answer, Offer, OfferError};
use ballast_interfaces::balloon_control::BalloonControlError;
use ballast_xen::ring::{SharedPage, XenstoreRing};
use heapless::{Deque, String};

use crate::client::{Client, Received};
use crate::error::{AgentError, ErrorReport};
use crate::keys::{Key, Status, Watched};
use crate::wire::{self, MessageType, XsErrno};

/// Requests waiting at most: every distinct request the agent makes can wait at once (the
/// client replaces a waiting request by a newer one with the same purpose).
const QUEUE: usize = 12;
/// Requests sent and not answered at most.
const IN_FLIGHT: usize = 4;
/// Error reports kept until the glue takes them; older ones are dropped and counted.
const ERRORS: usize = 8;
/// The longest grant answer the agent writes (an [`Answer`] with every field at its widest).
pub const GRANT_ANSWER_MAX: usize = 320;
const _: () = assert!(
    crate::client::REQUEST_PAYLOAD_MAX
        >= ballast_grant_offer::keys::ANSWER_KEY.len() + 1 + GRANT_ANSWER_MAX
);

/// What the glue must do for the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send the xenstore event channel: the agent wrote requests or consumed replies.
    NotifyPeer,
    /// Shut the domain down (`SCHEDOP_shutdown`); the request is already acknowledged.
    Shutdown(ShutdownReason),
    /// Call `BalloonControl::set_target(pages)`, then tell the agent the answer
    /// ([`Agent::accepted`], [`Agent::clamped`] or [`Agent::refused`]), and [`Agent::reached`]
    /// once the domain holds the target.
    SetTarget {
        /// The target in 4 KiB pages: `memory/target` (KiB) / 4, rounded down.
        pages: u64,
    },
    /// A new grant offer waits: take it ([`Agent::take_grant_offer`]), serve it with the
    /// backend, and hand the answer back ([`Agent::grant_answered`]). Repeated until taken.
    GrantOffer,
}

/// Why the toolstack wants the domain down, as `control/shutdown` says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShutdownReason {
    /// `poweroff` (`xl shutdown`): `SHUTDOWN_poweroff`.
    Poweroff,
    /// `halt`: Linux powers off, and so does ballast (`SHUTDOWN_poweroff`).
    Halt,
    /// `reboot` (`xl reboot`): `SHUTDOWN_reboot`.
    Reboot,
    /// `crash`: `SHUTDOWN_crash`.
    Crash,
}

impl ShutdownReason {
    const ALL: [ShutdownReason; 4] = [
        ShutdownReason::Poweroff,
        ShutdownReason::Halt,
        ShutdownReason::Reboot,
        ShutdownReason::Crash,
    ];

    /// The word in `control/shutdown`.
    pub const fn word(self) -> &'static str {
        match self {
            ShutdownReason::Poweroff => "poweroff",
            ShutdownReason::Halt => "halt",
            ShutdownReason::Reboot => "reboot",
            ShutdownReason::Crash => "crash",
        }
    }
}

/// What a request was for; its reply is interpreted accordingly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Read(Key),
    Watch(Watched),
    AcknowledgeShutdown(ShutdownReason),
    Report(Key),
}

/// A reply or event taken off the ring, interpreted while its payload was borrowed.
// An offer is large (256 grant references), and there is no heap to box it in: it moves once,
// from the ring to the agent.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
enum Incoming {
    Number(Key, u64),
    GrantOffer(Result<Offer, OfferError>),
    ShutdownRequest(Option<ShutdownReason>),
    Done(Purpose),
    Failed(Purpose, ErrorReport),
    Event(Watched),
    Error(ErrorReport),
}

/// The agent: a xenstore client and the balloon's side of the toolstack's keys.
///
/// # Pages, as `xl list` counts them
///
/// [`Action::SetTarget`] asks for `memory/target` / 4 pages: ballast's memory server counts the
/// domain's pages as Xen's reservation counts them (`current_reservation`, what `xl list` shows),
/// so the domain ends where the admin asked. Linux's rule for PVH/HVM domUs is different: it
/// balloons out `static-max - target` from its memory map, so the RAM it keeps is the target and
/// Xen's reservation is the target plus the handful of special pages outside the RAM map
/// (xenstore and console rings, ...). Ballast's rule counts those pages inside the target, so it
/// ends within that handful of pages of Linux's, below it; holding no more than the target Xen's
/// populate-on-demand accounting was set to, it never leaves more PoD entries than the cache.
#[derive(Debug)]
pub struct Agent {
    client: Client<Purpose, QUEUE, IN_FLIGHT>,
    static_max_kib: Option<u64>,
    /// A watch fired while the read of its key was in flight: read again once it is answered.
    stale: [bool; Watched::ALL.len()],
    status: Option<Status>,
    target_pages: Option<u64>,
    notify: bool,
    shutdown: Option<ShutdownReason>,
    target: Option<u64>,
    errors: Deque<ErrorReport, ERRORS>,
    errors_dropped: u64,
    /// The newest offer not taken yet.
    grant_offer: Option<Offer>,
    /// The newest round handed over: an offer of this round or older is stale (a watch that
    /// fired again for the same text) and is not served twice.
    last_grant_round: u32,
    /// The latest grant answer, kept to write again if its write was lost.
    grant_answer: String<GRANT_ANSWER_MAX>,
}

impl Default for Agent {
    fn default() -> Self {
        Agent::new()
    }
}

impl Agent {
    /// An agent with its start queued: watch `memory/static-max`, `memory/target`,
    /// `control/shutdown` and the grant offer (each watch fires once at once, so the maximum, the
    /// boot target, any pending shutdown request and any offer are read too). Nothing reaches the
    /// ring before [`poll`](Self::poll).
    pub fn new() -> Agent {
        let mut agent = Agent {
            client: Client::new(),
            static_max_kib: None,
            stale: [false; Watched::ALL.len()],
            status: None,
            target_pages: None,
            notify: false,
            shutdown: None,
            target: None,
            errors: Deque::new(),
            errors_dropped: 0,
            grant_offer: None,
            last_grant_round: 0,
            grant_answer: String::new(),
        };
        for watched in Watched::ALL {
            agent.watch(watched);
        }
        agent
    }

    /// Move bytes between the agent and the ring: send what is queued, take every complete
    /// reply and event, act on them. Call it when the xenstore event channel fires and after
    /// each call that reports to the agent; then take the [`next_action`](Self::next_action)s
    /// and [`next_error`](Self::next_error)s. A bad ring changes nothing and is reported once per
    /// call (a bad request ring does not stop the replies from being read).
    pub fn poll<P: SharedPage>(&mut self, ring: &mut XenstoreRing<P>) {
        if let Some(error) = ring.server_error() {
            self.report(ErrorReport::new(AgentError::DaemonFailed, error.into()));
            return;
        }
        let mut sending = true;
        loop {
            if sending {
                if let Err(error) = self.client.send(ring) {
                    self.report(error.into());
                    sending = false;
                }
            }
            let incoming = match self.client.receive(ring) {
                Ok(Some(received)) => interpret(received),
                Ok(None) => break,
                Err(report) if is_ring_error(report.error) => {
                    self.report(report);
                    break;
                }
                Err(report) => {
                    self.report(report);
                    self.ask_again_for_lost();
                    continue;
                }
            };
            self.act(incoming);
            self.ask_again_for_lost();
        }
        self.notify |= self.client.take_notify();
    }

    /// The next thing the glue must do, if any: [`Action::NotifyPeer`] first, then a shutdown,
    /// then the latest target (an older target not taken yet is replaced, never queued), then a
    /// grant offer.
    pub fn next_action(&mut self) -> Option<Action> {
        if core::mem::take(&mut self.notify) {
            Some(Action::NotifyPeer)
        } else if let Some(reason) = self.shutdown.take() {
            Some(Action::Shutdown(reason))
        } else if let Some(pages) = self.target.take() {
            Some(Action::SetTarget { pages })
        } else {
            self.grant_offer.is_some().then_some(Action::GrantOffer)
        }
    }

    /// The newest grant offer, once ([`Action::GrantOffer`]).
    pub fn take_grant_offer(&mut self) -> Option<Offer> {
        self.grant_offer.take()
    }

    /// The backend answered an offer: write `answer` to `data/ballast/grant-answer`.
    pub fn grant_answered(&mut self, answer: &Answer) {
        self.grant_answer.clear();
        if answer.write(&mut self.grant_answer).is_err() {
            // Wider than the fields allow (not possible with GRANT_ANSWER_MAX): a cut answer
            // would lie, so none is written.
            self.grant_answer.clear();
            self.report(ErrorReport::new(AgentError::RequestTooLong, 0).about(Key::GrantAnswer));
            return;
        }
        self.write_report(Key::GrantAnswer);
    }

    /// The oldest error report not taken yet.
    pub fn next_error(&mut self) -> Option<ErrorReport> {
        self.errors.pop_front()
    }

    /// Error reports dropped because the glue did not take them in time.
    pub fn errors_dropped(&self) -> u64 {
        self.errors_dropped
    }

    /// `memory/static-max` in KiB, as last read (it is read again whenever it changes).
    pub fn static_max_kib(&self) -> Option<u64> {
        self.static_max_kib
    }

    /// The memory server accepted a target of `pages` and works towards it.
    pub fn accepted(&mut self, pages: u64) {
        self.publish(Some(pages), Status::Ballooning);
    }

    /// The memory server steers to `pages` instead of the target asked for, because the target
    /// was refused with `why` (the glue retried at the limit).
    pub fn clamped(&mut self, pages: u64, why: BalloonControlError) {
        self.publish(Some(pages), Status::Clamped(why));
    }

    /// The memory server refused the target with `why`; it keeps its previous target.
    pub fn refused(&mut self, why: BalloonControlError) {
        self.publish(None, Status::Refused(why));
    }

    /// The domain holds `pages`, the target.
    pub fn reached(&mut self, pages: u64) {
        self.publish(Some(pages), Status::Reached);
    }

    /// Queue the report writes: `target-pages` (if given) before `status`.
    fn publish(&mut self, pages: Option<u64>, status: Status) {
        if pages.is_some() {
            self.target_pages = pages;
            self.write_report(Key::TargetPages);
        }
        self.status = Some(status);
        self.write_report(Key::Status);
    }

    /// Queue the write of `key` (`Status`, `TargetPages` or `GrantAnswer`) with its latest
    /// value.
    fn write_report(&mut self, key: Key) {
        let mut digits = [0u8; 20];
        let status = self.status.map(Status::value);
        let answer = core::mem::take(&mut self.grant_answer);
        let value = match (key, self.target_pages, &status) {
            (Key::TargetPages, Some(pages), _) => Some(decimal(pages, &mut digits)),
            (Key::Status, _, Some(status)) => Some(&status[..]),
            (Key::GrantAnswer, _, _) if !answer.is_empty() => Some(answer.as_bytes()),
            _ => None,
        };
        if let Some(value) = value {
            self.write(Purpose::Report(key), value);
        }
        self.grant_answer = answer;
    }

    fn write(&mut self, purpose: Purpose, value: &[u8]) {
        let path = purpose.key().path().as_bytes();
        self.queue(purpose, MessageType::Write, &[path, b"\0", value]);
    }

    fn read(&mut self, key: Key) {
        let path = key.path().as_bytes();
        self.queue(Purpose::Read(key), MessageType::Read, &[path, b"\0"]);
    }

    fn watch(&mut self, watched: Watched) {
        let path = watched.key().path().as_bytes();
        let token = watched.token().as_bytes();
        let parts: [&[u8]; 4] = [path, b"\0", token, b"\0"];
        self.queue(Purpose::Watch(watched), MessageType::Watch, &parts);
    }

    fn queue(&mut self, purpose: Purpose, kind: MessageType, parts: &[&[u8]]) {
        if let Err(error) = self.client.queue(purpose, kind, parts) {
            self.report(ErrorReport::new(error, 0).about(purpose.key()));
        }
    }

    fn act(&mut self, incoming: Incoming) {
        match incoming {
            Incoming::Event(watched) => self.watch_fired(watched),
            Incoming::Error(report) => self.report(report),
            Incoming::Number(Key::StaticMax, kib) => {
                self.static_max_kib = Some(kib);
                self.read_again_if_stale(Watched::StaticMax);
            }
            Incoming::GrantOffer(offer) => {
                self.grant_offer_read(offer);
                self.read_again_if_stale(Watched::GrantOffer);
            }
            // The only other key read as a number.
            Incoming::Number(_, kib) => {
                self.target_read(kib);
                self.read_again_if_stale(Watched::Target);
            }
            Incoming::ShutdownRequest(request) => {
                if let Some(reason) = request {
                    self.write(Purpose::AcknowledgeShutdown(reason), b"");
                }
                self.read_again_if_stale(Watched::Shutdown);
            }
            Incoming::Done(Purpose::AcknowledgeShutdown(reason)) => self.shutdown = Some(reason),
            Incoming::Done(_) => {}
            // No offer yet: the watch fires once at registration, before any offer exists.
            Incoming::Failed(purpose @ Purpose::Read(Key::GrantOffer), report)
                if report.errno() == Some(XsErrno::ENOENT) =>
            {
                self.failed(purpose);
            }
            Incoming::Failed(purpose, report) => {
                self.report(report);
                self.failed(purpose);
            }
        }
    }

    /// An offer was read: kept if it is of a newer round than any handed over.
    fn grant_offer_read(&mut self, offer: Result<Offer, OfferError>) {
        match offer {
            Ok(offer) if offer.round > self.last_grant_round => {
                self.last_grant_round = offer.round;
                self.grant_offer = Some(offer);
            }
            Ok(_) => {}
            Err(error) => self.report(
                ErrorReport::new(AgentError::BadGrantOffer, error as u64).about(Key::GrantOffer),
            ),
        }
    }

    fn target_read(&mut self, kib: u64) {
        if self.static_max_kib.is_some_and(|max| kib > max) {
            self.report(ErrorReport::new(AgentError::TargetAboveStaticMax, kib).about(Key::Target));
        }
        self.target = Some(kib / 4);
    }

    /// A request got an error or no usable reply: what still matters is done anyway.
    fn failed(&mut self, purpose: Purpose) {
        match purpose {
            Purpose::Read(Key::StaticMax) => self.read_again_if_stale(Watched::StaticMax),
            Purpose::Read(Key::Target) => self.read_again_if_stale(Watched::Target),
            Purpose::Read(Key::Shutdown) => self.read_again_if_stale(Watched::Shutdown),
            Purpose::Read(Key::GrantOffer) => self.read_again_if_stale(Watched::GrantOffer),
            // The toolstack asked; an unacknowledged shutdown is still a shutdown.
            Purpose::AcknowledgeShutdown(reason) => self.shutdown = Some(reason),
            Purpose::Read(_) | Purpose::Watch(_) | Purpose::Report(_) => {}
        }
    }

    /// Requests whose replies were lost: asked again, except an acknowledgement (it may have
    /// landed; the shutdown goes ahead).
    fn ask_again_for_lost(&mut self) {
        while let Some(purpose) = self.client.take_lost() {
            match purpose {
                Purpose::Read(key) => self.read(key),
                Purpose::Watch(watched) => self.watch(watched),
                Purpose::AcknowledgeShutdown(reason) => self.shutdown = Some(reason),
                Purpose::Report(key) => self.write_report(key),
            }
        }
    }

    fn watch_fired(&mut self, watched: Watched) {
        if self.client.in_flight(Purpose::Read(watched.key())) {
            self.stale[watched as usize] = true;
        } else {
            self.read(watched.key());
        }
    }

    fn read_again_if_stale(&mut self, watched: Watched) {
        if core::mem::take(&mut self.stale[watched as usize]) {
            self.read(watched.key());
        }
    }

    fn report(&mut self, report: ErrorReport) {
        if self.errors.is_full() {
            self.errors.pop_front();
            // One per report dropped: a `u64` count of them cannot reach 2^64.
            self.errors_dropped = self.errors_dropped.saturating_add(1);
        }
        let _ = self.errors.push_back(report);
    }
}

impl Purpose {
    fn key(self) -> Key {
        match self {
            Purpose::Read(key) | Purpose::Report(key) => key,
            Purpose::Watch(watched) => watched.key(),
            Purpose::AcknowledgeShutdown(_) => Key::Shutdown,
        }
    }

    /// The reply type a successful answer carries.
    fn reply_type(self) -> MessageType {
        match self {
            Purpose::Read(_) => MessageType::Read,
            Purpose::Watch(_) => MessageType::Watch,
            Purpose::AcknowledgeShutdown(_) | Purpose::Report(_) => MessageType::Write,
        }
    }
}

/// What a message means for the agent, decided while its payload is borrowed.
fn interpret(received: Received<'_, Purpose>) -> Incoming {
    let (purpose, kind, payload) = match received {
        Received::WatchEvent { token, .. } => {
            return match Watched::from_token(token) {
                Some(watched) => Incoming::Event(watched),
                None => Incoming::Error(ErrorReport::new(AgentError::UnknownWatchToken, 0)),
            }
        }
        Received::Reply { tag, kind, payload } => (tag, kind, payload),
    };
    let answer = if kind == MessageType::Error {
        Err(match XsErrno::from_payload(payload) {
            Ok(errno) => errno.into(),
            Err(error) => error.into(),
        })
    } else if kind != purpose.reply_type() {
        Err(ErrorReport::new(AgentError::WrongReplyType, kind as u64))
    } else {
        match purpose {
            Purpose::Read(Key::Shutdown) => shutdown_request(payload),
            Purpose::Read(Key::GrantOffer) => wire::text(payload)
                .map(|text| Incoming::GrantOffer(Offer::parse(text)))
                .map_err(ErrorReport::from),
            Purpose::Read(key) => wire::decimal(payload)
                .map(|number| Incoming::Number(key, number))
                .map_err(ErrorReport::from),
            _ => wire::ok(payload)
                .map(|()| Incoming::Done(purpose))
                .map_err(ErrorReport::from),
        }
    };
    answer.unwrap_or_else(|report| Incoming::Failed(purpose, report.about(purpose.key())))
}

/// The value of `control/shutdown`: empty (nothing asked, or our own acknowledgement) or one of
/// the words the agent knows.
fn shutdown_request(value: &[u8]) -> Result<Incoming, ErrorReport> {
    let word = wire::text(value)?;
    if word.is_empty() {
        return Ok(Incoming::ShutdownRequest(None));
    }
    ShutdownReason::ALL
        .into_iter()
        .find(|reason| reason.word() == word)
        .map(|reason| Incoming::ShutdownRequest(Some(reason)))
        .ok_or(ErrorReport::new(AgentError::UnknownShutdownRequest, 0))
}

fn is_ring_error(error: AgentError) -> bool {
    matches!(
        error,
        AgentError::RingProducerTooFarAhead | AgentError::RingConsumerAheadOfProducer
    )
}

/// `number` in decimal, in `digits` (a `u64` has at most 20 digits).
fn decimal(mut number: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut start = digits.len();
    for (at, digit) in digits.iter_mut().enumerate().rev() {
        *digit = b"0123456789"[(number % 10) as usize];
        number /= 10;
        start = at;
        if number == 0 {
            break;
        }
    }
    &digits[start..]
}

#[cfg(test)]
mod tests {
    extern crate std;

    use ballast_xen::ring::xenstore::{XS_ERROR, XS_READ, XS_WATCH, XS_WATCH_EVENT, XS_WRITE};
    use ballast_xen::ring::AtomicPage;
    use std::vec::Vec;

    use super::*;
    use crate::test_daemon::{Daemon, Request};

    #[test]
    fn the_widest_grant_answer_fits() {
        let name =
            ballast_grant_offer::Name::try_from("X".repeat(ballast_grant_offer::MAX_NAME).as_str())
                .unwrap();
        let widest = Answer {
            round: u32::MAX,
            outcome: ballast_grant_offer::Outcome::GiveBackRefused(name),
            pages: u32::MAX,
            mapped: u32::MAX,
            checked: u32::MAX,
            borrow_us: u64::MAX,
            map_us: u64::MAX,
            check_us: u64::MAX,
            unmap_us: u64::MAX,
            give_back_us: u64::MAX,
        };
        let mut text: String<GRANT_ANSWER_MAX> = String::new();
        widest.write(&mut text).unwrap();
        assert_eq!(Answer::parse(&text), Ok(widest));
    }

    struct Fixture<'p> {
        agent: Agent,
        ring: XenstoreRing<&'p AtomicPage>,
        daemon: Daemon<'p>,
        /// Errors taken by `requests` and not yet returned by `poll`.
        errors: Vec<ErrorReport>,
    }

    impl<'p> Fixture<'p> {
        fn new(page: &'p AtomicPage) -> Self {
            Fixture {
                agent: Agent::new(),
                ring: XenstoreRing::new(page),
                daemon: Daemon { page },
                errors: Vec::new(),
            }
        }

        /// Poll, and take every action and error (with those `requests` took).
        fn poll(&mut self) -> (Vec<Action>, Vec<ErrorReport>) {
            self.agent.poll(&mut self.ring);
            let actions = core::iter::from_fn(|| self.agent.next_action()).collect();
            self.errors
                .extend(core::iter::from_fn(|| self.agent.next_error()));
            (actions, core::mem::take(&mut self.errors))
        }

        /// Poll and return the requests that reached the daemon; errors wait for `poll`.
        fn requests(&mut self) -> Vec<Request> {
            let (_, errors) = self.poll();
            self.errors = errors;
            self.daemon.requests()
        }

        /// Start: static-max is `static_max`, the target `target`, no shutdown asked.
        fn start(&mut self, static_max: &[u8], target: &[u8]) -> (Vec<Action>, Vec<ErrorReport>) {
            let start = self.requests();
            let watches = [
                &b"memory/static-max\0static-max\0"[..],
                b"memory/target\0target\0",
                b"control/shutdown\0shutdown\0",
                b"data/ballast/grant-offer\0grant-offer\0",
            ];
            assert_eq!(kinds(&start), [XS_WATCH; 4]);
            for (watch, event) in start.iter().zip(watches) {
                assert_eq!(watch.payload, event);
                self.daemon.reply(XS_WATCH, watch.header.req_id, b"OK\0");
                self.daemon.reply(XS_WATCH_EVENT, 0, event);
            }
            let reads = self.requests();
            assert_eq!(kinds(&reads), [XS_READ; 4]);
            assert_eq!(reads[0].payload, b"memory/static-max\0");
            assert_eq!(reads[1].payload, b"memory/target\0");
            assert_eq!(reads[2].payload, b"control/shutdown\0");
            assert_eq!(reads[3].payload, b"data/ballast/grant-offer\0");
            self.daemon
                .reply(XS_READ, reads[0].header.req_id, static_max);
            self.daemon.reply(XS_READ, reads[1].header.req_id, target);
            self.daemon.reply(XS_READ, reads[2].header.req_id, b"");
            // No offer yet: xenstored answers ENOENT, which is not an error for the agent.
            self.daemon
                .reply(XS_ERROR, reads[3].header.req_id, b"ENOENT\0");
            self.poll()
        }

        /// The toolstack writes `memory/<key>` = `value` (the watch fires), and the agent reads it.
        fn toolstack_writes(&mut self, key: &str, value: &[u8]) -> (Vec<Action>, Vec<ErrorReport>) {
            let path = std::format!("memory/{key}");
            let event = std::format!("{path}\0{key}\0");
            self.daemon.reply(XS_WATCH_EVENT, 0, event.as_bytes());
            let read = self.requests();
            assert_eq!(kinds(&read), [XS_READ]);
            assert_eq!(read[0].payload, std::format!("{path}\0").as_bytes());
            self.daemon.reply(XS_READ, read[0].header.req_id, value);
            self.poll()
        }
    }

    fn kinds(requests: &[Request]) -> Vec<u32> {
        requests.iter().map(|request| request.header.kind).collect()
    }

    #[test]
    fn the_boot_target_becomes_set_target_in_pages() {
        let page = AtomicPage::new();
        let mut fixture = Fixture::new(&page);
        let (actions, errors) = fixture.start(b"524288", b"262144");
        assert_eq!(
            actions,
            [Action::NotifyPeer, Action::SetTarget { pages: 65536 }]
        );
        assert_eq!(errors, []);
        assert_eq!(fixture.agent.static_max_kib(), Some(524_288));
    }

    #[test]
    fn a_target_above_static_max_is_passed_on_and_noted() {
        let page = AtomicPage::new();
        let mut fixture = Fixture::new(&page);
        let (actions, errors) = fixture.start(b"131072", b"262144");
        assert_eq!(actions[1], Action::SetTarget { pages: 65536 });
        assert_eq!(
            errors,
            [ErrorReport::new(AgentError::TargetAboveStaticMax, 262_144).about(Key::Target)]
        );
    }

    #[test]
    fn xl_mem_max_is_followed_so_a_target_within_the_new_maximum_is_not_noted() {
        let page = AtomicPage::new();
        let mut fixture = Fixture::new(&page);
        fixture.start(b"524288", b"262144");
        let (actions, errors) = fixture.toolstack_writes("static-max", b"786432");
        assert_eq!(
            (actions, errors),
            (std::vec![Action::NotifyPeer], std::vec![])
        );
        assert_eq!(fixture.agent.static_max_kib(), Some(786_432));
        let (actions, errors) = fixture.toolstack_writes("target", b"786432");
        assert_eq!(
            actions,
            [Action::NotifyPeer, Action::SetTarget { pages: 196_608 }]
        );
        assert_eq!(errors, [], "within the new maximum");
        fixture.toolstack_writes("static-max", b"524288");
        let (actions, errors) = fixture.toolstack_writes("target", b"786432");
        assert_eq!(actions[1], Action::SetTarget { pages: 196_608 });
        assert_eq!(
            errors,
            [ErrorReport::new(AgentError::TargetAboveStaticMax, 786_432).about(Key::Target)],
            "above the maximum once lowered again"
        );
    }

    #[test]
    fn static_max_changed_during_its_read_is_read_again_and_a_bad_one_keeps_the_last() {
        let page = AtomicPage::new();
        let mut fixture = Fixture::new(&page);
        fixture.start(b"524288", b"262144");
        let event = b"memory/static-max\0static-max\0";
        fixture.daemon.reply(XS_WATCH_EVENT, 0, event);
        let read = fixture.requests();
        fixture.daemon.reply(XS_WATCH_EVENT, 0, event);
        fixture
            .daemon
            .reply(XS_READ, read[0].header.req_id, b"655360");
        let again = fixture.requests();
        assert_eq!(again[0].payload, b"memory/static-max\0", "read again");
        assert_eq!(fixture.agent.static_max_kib(), Some(655_360));
        fixture
            .daemon
            .reply(XS_READ, again[0].header.req_id, b"786432");
        fixture.poll();
        assert_eq!(fixture.agent.static_max_kib(), Some(786_432));
        let (actions, errors) = fixture.toolstack_writes("static-max", b"big");
        assert_eq!(actions, [Action::NotifyPeer]);
        assert_eq!(
            errors,
            [ErrorReport::new(AgentError::NotANumber, 0).about(Key::StaticMax)]
        );
        assert_eq!(fixture.agent.static_max_kib(), Some(786_432), "kept");
    }

    #[test]
    fn the_latest_target_wins_and_an_event_during_a_read_reads_again() {
        let page = AtomicPage::new();
        let mut fixture = Fixture::new(&page);
        fixture.start(b"524288", b"262144");
        fixture
            .daemon
            .reply(XS_WATCH_EVENT, 0, b"memory/target\0target\0");
        let read = fixture.requests();
        assert_eq!(read[0].payload, b"memory/target\0");
        fixture
            .daemon
            .reply(XS_WATCH_EVENT, 0, b"memory/target\0target\0");
        fixture
            .daemon
            .reply(XS_READ, read[0].header.req_id, b"131072");
        fixture.agent.poll(&mut fixture.ring);
        let again = fixture.daemon.requests();
        assert_eq!(again[0].payload, b"memory/target\0", "read again");
        fixture
            .daemon
            .reply(XS_READ, again[0].header.req_id, b"65536");
        let (actions, _) = fixture.poll();
        assert_eq!(
            actions,
            [Action::NotifyPeer, Action::SetTarget { pages: 16384 }]
        );
    }

    #[test]
    fn a_shutdown_request_is_acknowledged_before_it_is_acted_on() {
        let page = AtomicPage::new();
        let mut fixture = Fixture::new(&page);
        fixture.start(b"524288", b"262144");
        fixture
            .daemon
            .reply(XS_WATCH_EVENT, 0, b"control/shutdown\0shutdown\0");
        let read = fixture.requests();
        fixture
            .daemon
            .reply(XS_READ, read[0].header.req_id, b"poweroff");
        let (actions, _) = fixture.poll();
        assert_eq!(actions, [Action::NotifyPeer]);
        let ack = fixture.daemon.requests();
        assert_eq!(kinds(&ack), [XS_WRITE]);
        assert_eq!(ack[0].payload, b"control/shutdown\0");
        fixture
            .daemon
            .reply(XS_WRITE, ack[0].header.req_id, b"OK\0");
        let (actions, _) = fixture.poll();
        assert_eq!(
            actions,
            [
                Action::NotifyPeer,
                Action::Shutdown(ShutdownReason::Poweroff)
            ]
        );
    }

    #[test]
    fn an_unknown_shutdown_request_is_reported_and_not_acknowledged() {
        let page = AtomicPage::new();
        let mut fixture = Fixture::new(&page);
        fixture.start(b"524288", b"262144");
        fixture
            .daemon
            .reply(XS_WATCH_EVENT, 0, b"control/shutdown\0shutdown\0");
        let read = fixture.requests();
        fixture
            .daemon
            .reply(XS_READ, read[0].header.req_id, b"suspend");
        let (actions, errors) = fixture.poll();
        assert_eq!(actions, [Action::NotifyPeer]);
        assert_eq!(
            errors,
            [ErrorReport::new(AgentError::UnknownShutdownRequest, 0).about(Key::Shutdown)]
        );
        assert_eq!(fixture.daemon.requests().len(), 0);
    }

    #[test]
    fn reports_write_target_pages_before_status_and_only_the_latest() {
        let page = AtomicPage::new();
        let mut fixture = Fixture::new(&page);
        fixture.start(b"524288", b"262144");
        fixture.agent.accepted(65536);
        fixture.agent.reached(65536);
        let writes = fixture.requests();
        assert_eq!(kinds(&writes), [XS_WRITE, XS_WRITE]);
        assert_eq!(writes[0].payload, b"data/ballast/target-pages\x0065536");
        assert_eq!(writes[1].payload, b"data/ballast/status\0reached");
        fixture
            .daemon
            .reply(XS_WRITE, writes[0].header.req_id, b"OK\0");
        fixture
            .daemon
            .reply(XS_WRITE, writes[1].header.req_id, b"OK\0");
        fixture.agent.refused(BalloonControlError::TargetTooLow);
        let (_, errors) = fixture.poll();
        assert_eq!(errors, []);
        let refusal = fixture.daemon.requests();
        assert_eq!(refusal.len(), 1);
        assert_eq!(
            refusal[0].payload,
            b"data/ballast/status\0refused:TargetTooLow"
        );
        fixture
            .agent
            .clamped(1024, BalloonControlError::TargetTooLow);
        let clamp = fixture.requests();
        assert_eq!(clamp[0].payload, b"data/ballast/target-pages\x001024");
        assert_eq!(
            clamp[1].payload,
            b"data/ballast/status\0clamped:TargetTooLow"
        );
    }

    #[test]
    fn error_replies_and_bad_values_are_reported_with_their_key() {
        let page = AtomicPage::new();
        let mut fixture = Fixture::new(&page);
        let (actions, errors) = fixture.start(b"lots", b"12\xff");
        assert_eq!(actions, [Action::NotifyPeer]);
        assert_eq!(
            errors,
            [
                ErrorReport::new(AgentError::NotANumber, 0).about(Key::StaticMax),
                ErrorReport::new(AgentError::NotANumber, 0).about(Key::Target),
            ]
        );
        fixture.agent.accepted(3);
        let writes = fixture.requests();
        fixture
            .daemon
            .reply(XS_ERROR, writes[0].header.req_id, b"EACCES\0");
        fixture
            .daemon
            .reply(XS_READ, writes[1].header.req_id, b"OK\0");
        let (_, errors) = fixture.poll();
        assert_eq!(
            errors,
            [
                ErrorReport::from(XsErrno::EACCES).about(Key::TargetPages),
                ErrorReport::new(AgentError::WrongReplyType, XS_READ.into()).about(Key::Status),
            ]
        );
        assert_eq!(errors[0].errno(), Some(XsErrno::EACCES));
    }

    #[test]
    fn replies_lost_to_a_garbage_length_are_asked_again() {
        let page = AtomicPage::new();
        let mut fixture = Fixture::new(&page);
        let start = fixture.requests();
        fixture.daemon.raw(&[0xff; 16]);
        let (_, errors) = fixture.poll();
        assert_eq!(
            errors,
            [ErrorReport::new(AgentError::PayloadTooLong, 0xffff_ffff)]
        );
        let again = fixture.daemon.requests();
        assert_eq!(kinds(&again), kinds(&start));
        for (first, second) in start.iter().zip(&again) {
            assert_eq!(first.payload, second.payload);
        }
    }

    #[test]
    fn errors_beyond_the_log_are_counted() {
        let page = AtomicPage::new();
        let mut fixture = Fixture::new(&page);
        for _ in 0..ERRORS + 3 {
            fixture
                .daemon
                .reply(XS_WATCH_EVENT, 0, b"memory/target\0nobody\0");
        }
        fixture.agent.poll(&mut fixture.ring);
        assert_eq!(fixture.agent.errors_dropped(), 3);
        assert_eq!(
            fixture.agent.next_error(),
            Some(ErrorReport::new(AgentError::UnknownWatchToken, 0))
        );
    }
}
