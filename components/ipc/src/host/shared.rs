//! What the threads of the host runtime share: the checked tables, each component's inbox,
//! notification word, liveness and reply channel, and the region memory; plus the call path
//! every caller (component thread or external client) takes.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::checked_tables::CheckedTables;
use crate::kernel::{
    Badge, EndpointId, IpcError, LeaseDescriptor, NotificationBits, MESSAGE_BYTES,
};
use crate::lease::check_lend;
use crate::tables::{ComponentId, EndpointKind};

/// A message carried by value (no allocation per call).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Message {
    len: usize,
    bytes: [u8; MESSAGE_BYTES],
}

impl Message {
    /// Copies `bytes`, refusing more than [`MESSAGE_BYTES`].
    pub fn new(bytes: &[u8]) -> Option<Message> {
        let mut message = Message {
            len: bytes.len(),
            bytes: [0; MESSAGE_BYTES],
        };
        message.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(message)
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// An answer travelling back to a caller, tagged with the caller's call number.
#[derive(Debug)]
pub(crate) struct Reply {
    pub seq: u64,
    pub outcome: Result<Message, IpcError>,
}

/// Where the answer to one call goes. Dropping it unanswered (the server died, or its inbox
/// was torn down) tells the caller [`IpcError::ServerDied`].
#[derive(Debug)]
pub(crate) struct ReplyRoute {
    to: Option<Sender<Reply>>,
    seq: u64,
}

impl ReplyRoute {
    pub fn answer(mut self, outcome: Result<Message, IpcError>) {
        if let Some(to) = self.to.take() {
            // A caller that has gone away needs no answer.
            let _ = to.send(Reply {
                seq: self.seq,
                outcome,
            });
        }
    }
}

impl Drop for ReplyRoute {
    fn drop(&mut self) {
        if let Some(to) = self.to.take() {
            let _ = to.send(Reply {
                seq: self.seq,
                outcome: Err(IpcError::ServerDied),
            });
        }
    }
}

/// A call on its way to a server.
#[derive(Debug)]
pub(crate) struct CallEnvelope {
    pub badge: Badge,
    pub caller: ComponentId,
    pub message: Message,
    pub lease: Option<LeaseDescriptor>,
    pub route: ReplyRoute,
}

/// What a component thread waits for.
#[derive(Debug)]
pub(crate) enum Event {
    Call(CallEnvelope),
    /// The notification word went from empty to non-empty.
    Wake,
    ClientDied(Badge),
    Stop,
}

/// One component's shared state.
#[derive(Debug)]
pub(crate) struct Slot {
    /// `None` for external components, which are never called.
    pub inbox: Option<Sender<Event>>,
    pub bits: AtomicU32,
    pub alive: AtomicBool,
    /// Where replies to this component's own calls arrive.
    pub replies: Sender<Reply>,
}

impl Slot {
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub tables: CheckedTables,
    pub slots: Vec<Slot>,
    /// Parallel to `tables.regions()`. One lock per region: the borrower holds it only
    /// while its handler uses the bytes, never across a kernel call.
    pub regions: Vec<Mutex<Box<[u8]>>>,
    pub epoch: Instant,
}

impl Shared {
    pub fn slot(&self, component: ComponentId) -> Option<&Slot> {
        self.slots.get(component.index())
    }

    pub fn lock_region(&self, index: usize) -> Option<MutexGuard<'_, Box<[u8]>>> {
        let region = self.regions.get(index)?;
        Some(region.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Raise `bits` (never the timer bit) on the component `from` may signal through `endpoint`.
    pub fn notify(
        &self,
        from: ComponentId,
        endpoint: EndpointId,
        bits: NotificationBits,
    ) -> Result<(), IpcError> {
        if !self.slot(from).is_some_and(Slot::is_alive) {
            return Err(IpcError::ServerDied);
        }
        let capability = self
            .tables
            .capability(from, endpoint)
            .filter(|c| c.kind == EndpointKind::Notify)
            .ok_or(IpcError::NoSuchEndpoint)?;
        let target = self
            .slot(capability.server)
            .ok_or(IpcError::NoSuchEndpoint)?;
        if !target.is_alive() {
            return Err(IpcError::ServerDied);
        }
        let bits = bits.0 & !NotificationBits::TIMER.0;
        if bits != 0 && target.bits.fetch_or(bits, Ordering::AcqRel) == 0 {
            if let Some(inbox) = &target.inbox {
                // A target whose thread has ended is dead; nothing to wake.
                let _ = inbox.send(Event::Wake);
            }
        }
        Ok(())
    }
}

/// The calling side of one component: its reply channel and call counter.
#[derive(Debug)]
pub(crate) struct Caller {
    pub me: ComponentId,
    pub replies: Receiver<Reply>,
    pub seq: u64,
}

impl Caller {
    /// Call `endpoint` and block until the server answers, dies, or this component is killed.
    pub fn call(
        &mut self,
        shared: &Shared,
        endpoint: EndpointId,
        request: &[u8],
        lease: Option<LeaseDescriptor>,
        reply: &mut [u8],
    ) -> Result<usize, IpcError> {
        let me = shared.slot(self.me).ok_or(IpcError::NoSuchEndpoint)?;
        if !me.is_alive() {
            return Err(IpcError::ServerDied);
        }
        let capability = shared
            .tables
            .capability(self.me, endpoint)
            .filter(|c| c.kind == EndpointKind::Call)
            .ok_or(IpcError::NoSuchEndpoint)?;
        let message = Message::new(request).ok_or(IpcError::MessageTooLong)?;
        if let Some(lease) = &lease {
            check_lend(&shared.tables, self.me, lease)?;
        }
        let server = shared
            .slot(capability.server)
            .ok_or(IpcError::NoSuchEndpoint)?;
        let inbox = server.inbox.as_ref().ok_or(IpcError::NoSuchEndpoint)?;
        if !server.is_alive() {
            return Err(IpcError::ServerDied);
        }
        // One per call: a `u64` count of calls cannot reach 2^64.
        self.seq = self.seq.saturating_add(1);
        let envelope = CallEnvelope {
            badge: capability.badge,
            caller: self.me,
            message,
            lease,
            route: ReplyRoute {
                to: Some(me.replies.clone()),
                seq: self.seq,
            },
        };
        inbox
            .send(Event::Call(envelope))
            .map_err(|_| IpcError::ServerDied)?;
        loop {
            let answer = self.replies.recv().map_err(|_| IpcError::ServerDied)?;
            if !me.is_alive() {
                return Err(IpcError::ServerDied);
            }
            if answer.seq != self.seq {
                continue;
            }
            let message = answer.outcome?;
            let bytes = message.as_slice();
            let into = reply.get_mut(..bytes.len()).ok_or(IpcError::ReplyTooLong)?;
            into.copy_from_slice(bytes);
            return Ok(bytes.len());
        }
    }
}
