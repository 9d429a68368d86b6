//! One component's thread in the host runtime: it waits for calls, notifications, client deaths
//! and its timer, and runs the handler with a [`Sys`] backed by the shared state.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use crate::kernel::{
    Badge, EndpointId, Handler, IncomingCall, IpcError, LeaseAccess, LeaseDescriptor, LeaseId,
    NotificationBits, ReplyToken, Sys,
};
use crate::lease::check_access;
use crate::tables::ComponentId;

use super::shared::{Caller, Event, Message, ReplyRoute, Shared};

/// A call the handler has received and not yet answered.
#[derive(Debug)]
struct Pending {
    badge: Badge,
    lease: Option<LeaseDescriptor>,
    route: ReplyRoute,
}

/// What the thread keeps between handler invocations.
#[derive(Debug)]
struct ComponentState {
    caller: Caller,
    pending: HashMap<u64, Pending>,
    next_token: u64,
    timer: Option<Instant>,
    /// The copy a read-only lease is handed out as, so writes never reach the region.
    scratch: Vec<u8>,
}

/// What a thread waits for next: an event, or its timer.
enum Wakeup {
    Event(Event),
    Timer,
}

/// The thread body: runs until the component is killed or the runtime stops. Unanswered calls
/// are answered with [`IpcError::ServerDied`] as their routes drop.
pub(crate) fn run(
    shared: Arc<Shared>,
    me: ComponentId,
    mut handler: Box<dyn Handler + Send>,
    inbox: Receiver<Event>,
    caller: Caller,
) {
    let Some(slot) = shared.slot(me) else {
        return;
    };
    let mut state = ComponentState {
        caller,
        pending: HashMap::new(),
        next_token: 1,
        timer: None,
        scratch: Vec::new(),
    };
    while slot.is_alive() {
        let Some(wakeup) = next_wakeup(&inbox, state.timer) else {
            return;
        };
        let mut sys = HostSys {
            shared: &shared,
            me,
            state: &mut state,
            held: None,
        };
        match wakeup {
            Wakeup::Event(Event::Stop) => return,
            Wakeup::Event(Event::Call(envelope)) => {
                let caller_alive = shared.slot(envelope.caller).is_some_and(|s| s.is_alive());
                if !caller_alive {
                    continue;
                }
                let token = sys.state.next_token;
                // One token per call: a `u64` count of calls cannot reach 2^64.
                sys.state.next_token = sys.state.next_token.saturating_add(1);
                sys.state.pending.insert(
                    token,
                    Pending {
                        badge: envelope.badge,
                        lease: envelope.lease,
                        route: envelope.route,
                    },
                );
                let call = IncomingCall {
                    badge: envelope.badge,
                    message: envelope.message.as_slice(),
                    lease: envelope.lease,
                    reply: ReplyToken::from_runtime(token),
                };
                handler.protected(&mut sys, call);
            }
            Wakeup::Event(Event::Wake) => {
                let bits = slot.bits.swap(0, Ordering::AcqRel);
                if bits != 0 {
                    handler.notified(&mut sys, NotificationBits(bits));
                }
            }
            Wakeup::Event(Event::ClientDied(badge)) => {
                sys.state
                    .pending
                    .retain(|_, pending| pending.badge != badge);
                handler.client_died(&mut sys, badge);
            }
            Wakeup::Timer => {
                sys.state.timer = None;
                let bits = slot.bits.swap(0, Ordering::AcqRel) | NotificationBits::TIMER.0;
                handler.notified(&mut sys, NotificationBits(bits));
            }
        }
    }
}

/// Block for the next event, or until the timer's deadline (which wins once passed).
fn next_wakeup(inbox: &Receiver<Event>, timer: Option<Instant>) -> Option<Wakeup> {
    let Some(deadline) = timer else {
        return inbox.recv().ok().map(Wakeup::Event);
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if left == Duration::ZERO {
        return Some(Wakeup::Timer);
    }
    match inbox.recv_timeout(left) {
        Ok(event) => Some(Wakeup::Event(event)),
        Err(RecvTimeoutError::Timeout) => Some(Wakeup::Timer),
        Err(RecvTimeoutError::Disconnected) => None,
    }
}

/// The kernel as one handler invocation sees it.
struct HostSys<'a> {
    shared: &'a Shared,
    me: ComponentId,
    state: &'a mut ComponentState,
    /// The region lock behind the slice last handed out; released by the next kernel call.
    held: Option<MutexGuard<'a, Box<[u8]>>>,
}

impl HostSys<'_> {
    /// A killed component's handler runs to its end, but the kernel no longer serves it.
    fn alive(&self) -> bool {
        self.shared.slot(self.me).is_some_and(|s| s.is_alive())
    }
}

impl LeaseAccess for HostSys<'_> {
    fn lease_bytes(
        &mut self,
        badge: Badge,
        lease: &LeaseDescriptor,
    ) -> Result<&mut [u8], IpcError> {
        self.held = None;
        let lent = self
            .state
            .pending
            .values()
            .filter(|pending| pending.badge == badge)
            .filter_map(|pending| pending.lease.as_ref());
        let window = check_access(&self.shared.tables, self.me, badge, lease, lent)?;
        let guard = self
            .shared
            .lock_region(window.region)
            .ok_or(IpcError::BadLease)?;
        if window.writable {
            let held = self.held.insert(guard);
            return held.get_mut(window.bytes).ok_or(IpcError::BadLease);
        }
        let bytes = guard.get(window.bytes).ok_or(IpcError::BadLease)?;
        self.state.scratch.clear();
        self.state.scratch.extend_from_slice(bytes);
        Ok(&mut self.state.scratch)
    }
}

impl Sys for HostSys<'_> {
    fn reply(&mut self, token: ReplyToken, message: &[u8]) {
        self.held = None;
        if !self.alive() {
            // Its callers learn of its death when the thread ends and their routes drop.
            return;
        }
        if let Some(pending) = self.state.pending.remove(&token.raw()) {
            pending
                .route
                .answer(Message::new(message).ok_or(IpcError::ReplyTooLong));
        }
    }

    fn call(
        &mut self,
        endpoint: EndpointId,
        request: &[u8],
        lease: Option<LeaseDescriptor>,
        reply: &mut [u8],
    ) -> Result<usize, IpcError> {
        self.held = None;
        self.state
            .caller
            .call(self.shared, endpoint, request, lease, reply)
    }

    fn own_region(&mut self, region: LeaseId) -> Option<&mut [u8]> {
        self.held = None;
        if !self.alive() {
            return None;
        }
        let index = self.shared.tables.region_index(region)?;
        if self.shared.tables.regions()[index].owner != self.me {
            return None;
        }
        let held = self.held.insert(self.shared.lock_region(index)?);
        Some(&mut held[..])
    }

    fn notify(&mut self, endpoint: EndpointId, bits: NotificationBits) -> Result<(), IpcError> {
        self.held = None;
        self.shared.notify(self.me, endpoint, bits)
    }

    fn now_ns(&self) -> u64 {
        self.shared.now_ns()
    }

    fn set_timer(&mut self, deadline_ns: u64) {
        self.held = None;
        // A deadline past what the clock can represent never comes.
        self.state.timer = self
            .shared
            .epoch
            .checked_add(Duration::from_nanos(deadline_ns));
    }
}
