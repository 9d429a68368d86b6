//! A server PD's loop: wait on the endpoint (its bound notification included), hand each call to
//! [`Handler::protected`] with the badge, the message and the lease, answer it when the handler
//! answers, save its reply capability when the handler keeps the token, deliver notification
//! bits and the runtime's own timer to [`Handler::notified`], and turn the root task's
//! client-died message into [`Handler::client_died`].
//!
//! The answer to the call in hand goes out with the next wait (`ReplyRecv`, one system call for
//! both); a kept token's call is answered later by `Send` on its reply slot. With a timer set, the
//! server cannot block: it polls (`NBRecv`), yields to the other PDs, and reads the clock until
//! the deadline passes.

use crate::kernel::{
    Badge, EndpointId, Handler, IncomingCall, IpcError, LeaseAccess, LeaseDescriptor, LeaseId,
    NotificationBits, ReplyToken, Sys, MESSAGE_BYTES,
};
use crate::lease::check_access;
use crate::tables::{ComponentId, ComponentKind, Tables};

use super::kernel::{KernelError, MessageInfo, Received, Sel4Kernel, MESSAGE_REGISTERS};
use super::pd::Pd;
use super::regions;
use super::replies::ReplySlots;
use super::wire::{self, Arrival, Sel4Abi};
use super::Sel4Error;

/// What one turn of the loop did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// Nothing arrived (a wake-up with nothing pending).
    Nothing,
    /// A call from this badge ran the handler.
    Call(Badge),
    /// A call was answered with this error without reaching the handler (malformed, or every
    /// reply slot held).
    Refused(IpcError),
    /// Notification bits ran the handler.
    Notified(NotificationBits),
    /// The timer's deadline passed and ran the handler.
    Timer,
    /// The root task reported this client dead; the handler forgot it.
    ClientDied(Badge),
    /// The root task sent a message of no known form (answered empty).
    RootMessage,
}

/// An answer waiting to go out.
#[derive(Clone, Copy, Debug)]
struct Answer {
    label: u64,
    len: usize,
    bytes: [u8; MESSAGE_BYTES],
}

impl Answer {
    fn of(message: &[u8]) -> Answer {
        let mut answer = Answer::failed(IpcError::ReplyTooLong);
        if let Some(into) = answer.bytes.get_mut(..message.len()) {
            into.copy_from_slice(message);
            answer.label = wire::LABEL_OK;
            answer.len = message.len();
        }
        answer
    }

    fn failed(error: IpcError) -> Answer {
        Answer {
            label: error as u64,
            len: 0,
            bytes: [0; MESSAGE_BYTES],
        }
    }

    fn empty() -> Answer {
        Answer::of(&[])
    }

    /// Put it in `registers`; the info to send it with.
    fn load(&self, registers: &mut [u64; MESSAGE_REGISTERS]) -> MessageInfo {
        if self.label != wire::LABEL_OK {
            return MessageInfo {
                label: self.label,
                length: 0,
            };
        }
        wire::put(registers, self.label, &self.bytes[..self.len], None)
            .unwrap_or_else(wire::error_reply)
    }
}

/// The server's state besides its handler.
#[derive(Debug)]
struct State<'t, 'r, K, const REPLIES: usize> {
    pd: Pd<'t, 'r, K>,
    abi: Sel4Abi,
    replies: ReplySlots<REPLIES>,
    /// Calls answered through a saved reply capability (kept past their handler), so far.
    answered_late: u64,
    timer: Option<u64>,
    /// The answer to the call in hand, sent with the next wait.
    answer: Option<Answer>,
}

/// A server PD's runtime: one handler, `REPLIES` reply slots (calls in hand or answered later,
/// at once).
#[derive(Debug)]
pub struct Sel4Server<'t, 'r, K, const REPLIES: usize> {
    state: State<'t, 'r, K, REPLIES>,
}

impl<'t, 'r, K: Sel4Kernel, const REPLIES: usize> Sel4Server<'t, 'r, K, REPLIES> {
    /// The runtime of handler component `me` of `tables` over `kernel`, which must map exactly
    /// the regions `me` owns or is granted, with `scratch` for read-only leases (as large as the
    /// largest region it is granted).
    pub fn new(
        mut kernel: K,
        abi: Sel4Abi,
        tables: Tables<'t>,
        me: ComponentId,
        scratch: &'r mut [u8],
    ) -> Result<Self, Sel4Error> {
        super::check_component(&tables, me, ComponentKind::Handler)?;
        super::check_badges(&tables, me, &abi)?;
        if REPLIES == 0 || REPLIES > usize::from(u16::MAX) {
            return Err(Sel4Error::ReplySlots);
        }
        regions::check_mappings(&mut kernel, &tables, me, scratch.len())?;
        Ok(Sel4Server {
            state: State {
                pd: Pd {
                    kernel,
                    tables,
                    me,
                    scratch,
                },
                abi,
                replies: ReplySlots::new(),
                answered_late: 0,
                timer: None,
                answer: None,
            },
        })
    }

    /// Wait for the next event (sending the answer to the last call first) and hand it to
    /// `handler`.
    pub fn run_once(&mut self, handler: &mut dyn Handler) -> Served {
        let state = &mut self.state;
        let Some(received) = state.wait() else {
            return state.fire_timer(handler);
        };
        let registers = state.pd.kernel.message_registers();
        match wire::arrival(&state.abi, received, registers) {
            Arrival::Nothing => Served::Nothing,
            Arrival::Call(badge) => state.deliver(handler, badge, received.info),
            Arrival::Notified(bits) => {
                handler.notified(&mut ServerSys { state }, bits);
                Served::Notified(bits)
            }
            Arrival::ClientDied(badge) => state.bury(handler, badge),
            Arrival::RootMessage => {
                state.answer = Some(Answer::empty());
                Served::RootMessage
            }
        }
    }

    /// Calls held: in hand, or kept by the handler and saved.
    pub fn held_calls(&self) -> usize {
        self.state.replies.held_count()
    }

    /// Calls answered through a saved reply capability (kept past their handler), so far.
    pub fn answered_late(&self) -> u64 {
        self.state.answered_late
    }

    /// The kernel as the server's own code reaches it outside a call, before it serves (a PD
    /// that first plays a part of its own): it calls through its capabilities and lends its
    /// regions; it holds no call, so nothing it could answer. A timer it sets is the runtime's.
    pub fn sys(&mut self) -> impl Sys + use<'_, 't, 'r, K, REPLIES> {
        ServerSys {
            state: &mut self.state,
        }
    }
}

impl<K: Sel4Kernel, const REPLIES: usize> State<'_, '_, K, REPLIES> {
    /// Send the pending answer and wait: blocked without a timer; polling and yielding with one,
    /// `None` once its deadline has passed.
    fn wait(&mut self) -> Option<Received> {
        let kernel = &mut self.pd.kernel;
        let answer = self
            .answer
            .take()
            .map(|a| a.load(kernel.message_registers()));
        let Some(deadline) = self.timer else {
            return Some(match answer {
                Some(info) => kernel.reply_recv(info),
                None => kernel.recv(),
            });
        };
        if let Some(info) = answer {
            kernel.reply(info);
        }
        loop {
            if kernel.now_ns() >= deadline {
                return None;
            }
            let received = kernel.nb_recv();
            if received.badge != 0 {
                return Some(received);
            }
            kernel.yield_now();
        }
    }

    fn fire_timer(&mut self, handler: &mut dyn Handler) -> Served {
        self.timer = None;
        handler.notified(&mut ServerSys { state: self }, NotificationBits::TIMER);
        Served::Timer
    }

    /// A call from `badge`: to the handler with a token, its reply capability saved if the
    /// handler kept the token.
    fn deliver(&mut self, handler: &mut dyn Handler, badge: Badge, info: MessageInfo) -> Served {
        let mut message = [0u8; MESSAGE_BYTES];
        let registers = self.pd.kernel.message_registers();
        let (len, lease) = match wire::take(registers, info, &mut message) {
            Ok(taken) => taken,
            Err(error) => return self.refuse(error),
        };
        let Some(token) = self.replies.open(badge, lease) else {
            return self.refuse(IpcError::WouldBlock);
        };
        let call = IncomingCall {
            badge,
            message: &message[..len],
            lease,
            reply: ReplyToken::from_runtime(token),
        };
        handler.protected(&mut ServerSys { state: self }, call);
        if let Some((slot, _)) = self.replies.held(token) {
            self.save(slot);
        }
        Served::Call(badge)
    }

    fn refuse(&mut self, error: IpcError) -> Served {
        self.answer = Some(Answer::failed(error));
        Served::Refused(error)
    }

    /// Move the caller's reply capability into reply slot `slot` (emptied first if a capability
    /// was left there); if the kernel refuses, answer the caller now that its call would block.
    fn save(&mut self, slot: u16) {
        let kernel = &mut self.pd.kernel;
        let saved = match kernel.save_caller(slot) {
            Err(KernelError::DeleteFirst) => kernel
                .delete_saved(slot)
                .and_then(|()| kernel.save_caller(slot)),
            other => other,
        };
        match saved {
            Ok(()) => self.replies.mark_saved(slot),
            Err(_) => {
                self.replies.free(slot);
                self.answer = Some(Answer::failed(IpcError::WouldBlock));
            }
        }
    }

    /// The root task reports the client behind `badge` dead: its saved calls are void (the
    /// kernel deleted their reply capabilities with it; the slots are emptied for reuse), the
    /// handler forgets it, and the root task's message is answered.
    fn bury(&mut self, handler: &mut dyn Handler, badge: Badge) -> Served {
        loop {
            let Some(slot) = self.replies.saved_from(badge).next() else {
                break;
            };
            // An already empty slot stays empty: nothing is left to fail on.
            let _ = self.pd.kernel.delete_saved(slot);
            self.replies.free(slot);
        }
        handler.client_died(&mut ServerSys { state: self }, badge);
        self.answer = Some(Answer::empty());
        Served::ClientDied(badge)
    }
}

/// The kernel as the server's handler sees it while it runs.
struct ServerSys<'s, 't, 'r, K, const REPLIES: usize> {
    state: &'s mut State<'t, 'r, K, REPLIES>,
}

impl<K: Sel4Kernel, const REPLIES: usize> LeaseAccess for ServerSys<'_, '_, '_, K, REPLIES> {
    fn lease_bytes(
        &mut self,
        badge: Badge,
        lease: &LeaseDescriptor,
    ) -> Result<&mut [u8], IpcError> {
        let State { pd, replies, .. } = &mut *self.state;
        let window = check_access(&pd.tables, pd.me, badge, lease, replies.leases_of(badge))?;
        regions::borrowed(&mut pd.kernel, pd.scratch, window)
    }
}

impl<K: Sel4Kernel, const REPLIES: usize> Sys for ServerSys<'_, '_, '_, K, REPLIES> {
    fn reply(&mut self, token: ReplyToken, message: &[u8]) {
        let state = &mut *self.state;
        let Some((slot, call)) = state.replies.held(token.raw()) else {
            return;
        };
        let answer = Answer::of(message);
        state.replies.free(slot);
        if call.saved {
            let info = answer.load(state.pd.kernel.message_registers());
            state.pd.kernel.send_saved(slot, info);
            // One per reply sent: a `u64` count of them cannot reach 2^64.
            state.answered_late = state.answered_late.saturating_add(1);
        } else {
            state.answer = Some(answer);
        }
    }

    fn call(
        &mut self,
        endpoint: EndpointId,
        request: &[u8],
        lease: Option<LeaseDescriptor>,
        reply: &mut [u8],
    ) -> Result<usize, IpcError> {
        self.state.pd.call(endpoint, request, lease, reply)
    }

    fn own_region(&mut self, region: LeaseId) -> Option<&mut [u8]> {
        self.state.pd.own_region(region)
    }

    fn notify(&mut self, endpoint: EndpointId, bits: NotificationBits) -> Result<(), IpcError> {
        self.state.pd.notify(endpoint, bits)
    }

    fn now_ns(&self) -> u64 {
        self.state.pd.kernel.now_ns()
    }

    fn set_timer(&mut self, deadline_ns: u64) {
        self.state.timer = Some(deadline_ns);
    }
}
