//! The ballast memory server component: the balloon core (`ballast-memory-server-core`) behind
//! the `Balloon` (driver clients) and `BalloonControl` (toolstack) IPC interfaces, calling the
//! hypercall gateway through `Hypercall`. The IPC glue only: every decision is the core's, and
//! the runtime owns the loop.
//!
//! The worker runs on the component's timer: an event that changes the credit (a target, a
//! free, a deferred request, a client's death) arms it for now, and each expiry runs ONE
//! bounded batch, so calls from clients are answered between batches.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

mod balloon_api;
mod control_api;
mod notices;
mod port;
mod requests;

use ballast_interfaces::balloon::{AllocUnpopulatedResponder, BalloonError};
use ballast_interfaces::hypercall::HypercallClient;
use ballast_interfaces::support::{Answer, Permissions, ReplyMessage};
use ballast_interfaces::{balloon, balloon_control};
use ballast_ipc::{
    Badge, EndpointId, Handler, IncomingCall, LeaseId, MessageHeader, NotificationBits,
    ReplyObserved, Sys,
};
use heapless::Vec;
use zerocopy::FromBytes;

pub use notices::{NoticeCounters, QUARANTINE_MAX_RETRY_NS, QUARANTINE_RETRY_NS};
pub use port::{lend_frame_list, reserve_through_gateway, GatewayCallError, GatewayPort};
pub use requests::RequestCounters;

use ballast_memory_server_core::{
    BalloonCore, BootReport, BpState, ClientId, FrameRun, FrameScrubber, Storage, Ticket,
    MAX_GRANT_RUNS,
};

/// How a client's badge maps to the core's client account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientBinding {
    /// The badge its `Balloon` capability carries.
    pub badge: Badge,
    /// Its account in the core.
    pub client: ClientId,
    /// Frames it may hold lent or requested at once.
    pub quota: u64,
    /// The badge its capability to the gateway carries, if it may map grants there
    /// (`grant_map`): the memory server then tells the gateway of every run it lends it and
    /// every run that comes back.
    pub gateway_badge: Option<Badge>,
}

/// Where the memory server's peers are, from the composition tables: at most `CLIENTS` driver
/// clients.
#[derive(Clone, Debug)]
pub struct Wiring<const CLIENTS: usize> {
    /// The endpoint of the hypercall gateway.
    pub gateway: EndpointId,
    /// The region shared with the gateway that carries frame lists.
    pub frame_list: LeaseId,
    /// The driver clients.
    pub clients: Vec<ClientBinding, CLIENTS>,
}

/// A deferred allocation: who asked and how to answer.
#[derive(Debug)]
struct Waiting {
    ticket: Ticket,
    client: ClientId,
    responder: AllocUnpopulatedResponder,
}

/// The memory server: core (over storage `W`), wiring, scrubber, permissions `P` and the replies
/// it owes. It owns all of them: dropping it drops what `W` owns.
pub struct MemoryServer<W, S, P, const LENT: usize, const CLIENTS: usize, const PENDING: usize> {
    core: BalloonCore<W, LENT, CLIENTS, PENDING>,
    wiring: Wiring<CLIENTS>,
    scrubber: S,
    permissions: P,
    waiting: Vec<Waiting, PENDING>,
    /// Runs of dead clients the gateway has not taken back yet (a grant may be mapped in them).
    quarantine: notices::Quarantine<LENT>,
    notices: NoticeCounters,
    requests: RequestCounters,
    /// The baseline against Xen's `current_reservation` has been taken.
    started: bool,
    last_state: BpState,
}

impl<W: Storage, S, P, const LENT: usize, const CLIENTS: usize, const PENDING: usize>
    core::fmt::Debug for MemoryServer<W, S, P, LENT, CLIENTS, PENDING>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemoryServer")
            .field("stats", &self.core.stats())
            .field("waiting", &self.waiting.len())
            .finish_non_exhaustive()
    }
}

impl<W, S, P, const LENT: usize, const CLIENTS: usize, const PENDING: usize>
    MemoryServer<W, S, P, LENT, CLIENTS, PENDING>
where
    W: Storage,
    S: FrameScrubber,
    P: Permissions + Copy,
{
    /// A server over `core`; quotas of the wiring's clients are applied to the core.
    pub fn new(
        mut core: BalloonCore<W, LENT, CLIENTS, PENDING>,
        wiring: Wiring<CLIENTS>,
        scrubber: S,
        permissions: P,
    ) -> Self {
        for binding in &wiring.clients {
            // A client outside the core's table keeps no quota: its calls fail `NotOwner`.
            let _ = core.set_client_quota(binding.client, binding.quota);
        }
        MemoryServer {
            core,
            wiring,
            scrubber,
            permissions,
            waiting: Vec::new(),
            quarantine: notices::Quarantine::new(),
            notices: NoticeCounters::default(),
            requests: RequestCounters::default(),
            started: false,
            last_state: BpState::Done,
        }
    }

    /// The core, for statistics and the invariant check.
    pub fn core(&self) -> &BalloonCore<W, LENT, CLIENTS, PENDING> {
        &self.core
    }

    /// The calls this server took, answered and saw voided by their caller's death (also in
    /// `stats`).
    pub fn request_counters(&self) -> RequestCounters {
        self.requests
    }

    /// The notices sent to the gateway, counted.
    pub fn notice_counters(&self) -> NoticeCounters {
        self.notices
    }

    /// The runs in quarantine now: lent to dead clients, waiting for the gateway to release them.
    pub fn quarantined_runs(&self) -> usize {
        self.quarantine.len()
    }

    /// What the start against Xen did, once the server has started (it starts on its first
    /// call or notification): on a populate-on-demand boot, the frames it released unscrubbed
    /// before anything touched them and the settling batches; for the image's log.
    pub fn boot_report(&self) -> Option<BootReport> {
        self.core.boot_report()
    }

    fn client_of(&self, badge: Badge) -> Option<ClientId> {
        self.wiring
            .clients
            .iter()
            .find(|b| b.badge == badge)
            .map(|b| b.client)
    }

    fn port<'s>(&self, sys: &'s mut dyn Sys) -> GatewayPort<'s> {
        GatewayPort::new(
            sys,
            HypercallClient::new(self.wiring.gateway),
            self.wiring.frame_list,
        )
    }

    /// Take the baseline against Xen once, before the first decision (and before any call is
    /// answered: on a populate-on-demand boot the start first gives Xen back the frames it does
    /// not back, see [`MemoryServer::boot_report`]). A start that fails is resumed at the next
    /// call or notification.
    fn ensure_started(&mut self, sys: &mut dyn Sys) {
        if !self.started {
            let mut port = self.port(sys);
            self.started = self.core.start(&mut port).is_ok();
        }
    }

    /// Answer the current call, then run a worker step: for calls that change the credit (a
    /// target, a free, a deferred request, new tunables), answered before the step's work.
    fn answer_then_step(&mut self, sys: &mut dyn Sys, reply: ReplyMessage) -> Answer {
        reply.send(sys);
        self.run_step(sys);
        Answer::Sent
    }

    /// The quarantine's retry if one is due, one bounded batch, then the replies it settled, then
    /// the next timer (no later than the next retry while anything is quarantined).
    fn run_step(&mut self, sys: &mut dyn Sys) {
        if self.quarantine.due(sys.now_ns()) {
            self.retry_quarantine(sys);
        }
        let now = sys.now_ns();
        let mut port = GatewayPort::new(
            sys,
            HypercallClient::new(self.wiring.gateway),
            self.wiring.frame_list,
        );
        let outcome = self.core.balloon_step(&mut port, &mut self.scrubber, now);
        self.last_state = outcome.state;
        self.answer_settled(sys);
        let next = match (outcome.next_run_ns, self.quarantine.next_retry_ns()) {
            (Some(worker), Some(retry)) => Some(worker.min(retry)),
            (worker, retry) => worker.or(retry),
        };
        if let Some(next) = next {
            sys.set_timer(next);
        }
    }

    /// Answer every deferred request the core has settled.
    fn answer_settled(&mut self, sys: &mut dyn Sys) {
        let mut runs = [FrameRun::default(); MAX_GRANT_RUNS];
        while let Some(settled) = self.core.take_settled(&mut runs) {
            let Some(index) = self.waiting.iter().position(|w| w.ticket == settled.ticket) else {
                continue;
            };
            let waiting = self.waiting.swap_remove(index);
            let granted = match settled.result {
                Ok(count) => match self.notify_lent(sys, waiting.client, &runs[..count]) {
                    Ok(()) => Ok(&runs[..count]),
                    Err(_) => Err(BalloonError::QueueFull),
                },
                Err(error) => Err(balloon_api::balloon_error(error)),
            };
            if !balloon_api::answer_deferred(sys, waiting.responder, granted) {
                // The runs never reached the client: take them back rather than strand them.
                if let Ok(undelivered) = granted {
                    self.take_back(sys, waiting.client, undelivered);
                }
            }
        }
    }
}

impl<W, S, P, const LENT: usize, const CLIENTS: usize, const PENDING: usize> Handler
    for MemoryServer<W, S, P, LENT, CLIENTS, PENDING>
where
    W: Storage,
    S: FrameScrubber,
    P: Permissions + Copy,
{
    fn protected(&mut self, sys: &mut dyn Sys, call: IncomingCall<'_>) {
        self.requests.taken = self.requests.taken.saturating_add(1);
        let mut answered: u64 = 0;
        let sys = &mut ReplyObserved::new(sys, |_| answered = answered.saturating_add(1));
        self.ensure_started(sys);
        let interface =
            MessageHeader::read_from_prefix(call.message).map(|(header, _)| header.interface);
        // A rejected call has been answered by dispatch with its protocol error; nothing changed.
        let permissions = self.permissions;
        let _ = match interface {
            Ok(balloon_control::INTERFACE_ID) => {
                balloon_control::dispatch(self, sys, call, &permissions)
            }
            _ => balloon::dispatch(self, sys, call, &permissions),
        };
        self.requests.answered = self.requests.answered.saturating_add(answered);
    }

    fn notified(&mut self, sys: &mut dyn Sys, bits: NotificationBits) {
        let mut answered: u64 = 0;
        let sys = &mut ReplyObserved::new(sys, |_| answered = answered.saturating_add(1));
        self.ensure_started(sys);
        if bits.contains(NotificationBits::TIMER) {
            self.run_step(sys);
        }
        self.requests.answered = self.requests.answered.saturating_add(answered);
    }

    fn client_died(&mut self, sys: &mut dyn Sys, badge: Badge) {
        let Some(client) = self.client_of(badge) else {
            return;
        };
        // Its deferred replies are void: the runtime drops tokens of the dead.
        let before = self.waiting.len();
        self.waiting.retain(|w| w.client != client);
        // `retain` only removes.
        let voided = before.saturating_sub(self.waiting.len()) as u64;
        self.requests.voided = self.requests.voided.saturating_add(voided);
        let mut answered: u64 = 0;
        let sys = &mut ReplyObserved::new(sys, |_| answered = answered.saturating_add(1));
        self.ensure_started(sys);
        self.reclaim(sys, client);
        self.run_step(sys);
        self.requests.answered = self.requests.answered.saturating_add(answered);
    }
}
