//! The kernel as a handler sees it in the deterministic runtime. A call to another component
//! runs that component's handler inline (calls are acyclic, so it is never already running).

use crate::kernel::{
    Badge, EndpointId, IncomingCall, IpcError, LeaseAccess, LeaseDescriptor, LeaseId,
    NotificationBits, ReplyToken, Sys, MESSAGE_BYTES,
};
use crate::lease::{check_access, check_lend};
use crate::tables::{ComponentId, EndpointKind};

use super::trace::TraceEntry;
use super::world::{Origin, Unanswered, World};
use super::SimHandler;

pub(crate) struct SimSys<'a> {
    pub world: &'a mut World,
    /// Every component's handler; the running ones are taken out.
    pub handlers: &'a mut [Option<Box<dyn SimHandler>>],
    pub me: ComponentId,
}

impl LeaseAccess for SimSys<'_> {
    fn lease_bytes(
        &mut self,
        badge: Badge,
        lease: &LeaseDescriptor,
    ) -> Result<&mut [u8], IpcError> {
        let me = self.me.index();
        let lent = self.world.components[me]
            .unanswered
            .values()
            .filter(|u| u.badge == badge)
            .filter_map(|u| u.lease.as_ref());
        let window = check_access(&self.world.tables, self.me, badge, lease, lent)?;
        let region = self
            .world
            .regions
            .get_mut(window.region)
            .ok_or(IpcError::BadLease)?;
        let bytes = region.get_mut(window.bytes).ok_or(IpcError::BadLease)?;
        if window.writable {
            return Ok(bytes);
        }
        self.world.scratch.clear();
        self.world.scratch.extend_from_slice(bytes);
        Ok(&mut self.world.scratch)
    }
}

impl Sys for SimSys<'_> {
    fn reply(&mut self, token: ReplyToken, message: &[u8]) {
        let outcome = if message.len() > MESSAGE_BYTES {
            Err(IpcError::ReplyTooLong)
        } else {
            Ok(message.to_vec())
        };
        self.world.answer(self.me, token.raw(), outcome);
    }

    fn call(
        &mut self,
        endpoint: EndpointId,
        request: &[u8],
        lease: Option<LeaseDescriptor>,
        reply: &mut [u8],
    ) -> Result<usize, IpcError> {
        let capability = *self
            .world
            .tables
            .capability(self.me, endpoint)
            .filter(|c| c.kind == EndpointKind::Call)
            .ok_or(IpcError::NoSuchEndpoint)?;
        if request.len() > MESSAGE_BYTES {
            return Err(IpcError::MessageTooLong);
        }
        if let Some(lease) = &lease {
            check_lend(&self.world.tables, self.me, lease)?;
        }
        let server = capability.server;
        if !self.world.is_alive(server) {
            return Err(IpcError::ServerDied);
        }
        let slot = self
            .handlers
            .get_mut(server.index())
            .ok_or(IpcError::NoSuchEndpoint)?;
        let mut handler = slot.take().ok_or(IpcError::WouldBlock)?;
        let token = self.world.take_token();
        self.world.components[server.index()].unanswered.insert(
            token,
            Unanswered {
                caller: self.me,
                badge: capability.badge,
                lease,
                origin: Origin::Inline,
            },
        );
        self.world.trace.push(TraceEntry::InlineCall {
            caller: self.me,
            server,
            token,
            badge: capability.badge,
            message: request.to_vec(),
        });
        let mut callee = SimSys {
            world: &mut *self.world,
            handlers: &mut *self.handlers,
            me: server,
        };
        let call = IncomingCall {
            badge: capability.badge,
            message: request,
            lease,
            reply: ReplyToken::from_runtime(token),
        };
        handler.protected(&mut callee, call);
        self.handlers[server.index()] = Some(handler);
        let Some(outcome) = self.world.inline_replies.remove(&token) else {
            self.world.components[server.index()]
                .unanswered
                .remove(&token);
            self.world
                .trace
                .push(TraceEntry::WouldBlock { server, token });
            return Err(IpcError::WouldBlock);
        };
        let answer = outcome?;
        let into = reply
            .get_mut(..answer.len())
            .ok_or(IpcError::ReplyTooLong)?;
        into.copy_from_slice(&answer);
        Ok(answer.len())
    }

    fn own_region(&mut self, region: LeaseId) -> Option<&mut [u8]> {
        let index = self.world.tables.region_index(region)?;
        if self.world.tables.regions()[index].owner != self.me {
            return None;
        }
        self.world.regions.get_mut(index).map(Vec::as_mut_slice)
    }

    fn notify(&mut self, endpoint: EndpointId, bits: NotificationBits) -> Result<(), IpcError> {
        signal(self.world, self.me, endpoint, bits)
    }

    fn now_ns(&self) -> u64 {
        self.world.now_ns
    }

    fn set_timer(&mut self, deadline_ns: u64) {
        self.world.components[self.me.index()].timer = Some(deadline_ns);
    }
}

/// Raise `bits` (never the timer bit) on the component `from` may signal through `endpoint`.
pub(crate) fn signal(
    world: &mut World,
    from: ComponentId,
    endpoint: EndpointId,
    bits: NotificationBits,
) -> Result<(), IpcError> {
    if !world.is_alive(from) {
        return Err(IpcError::ServerDied);
    }
    let to = world
        .tables
        .capability(from, endpoint)
        .filter(|c| c.kind == EndpointKind::Notify)
        .ok_or(IpcError::NoSuchEndpoint)?
        .server;
    let bits = bits.0 & !NotificationBits::TIMER.0;
    let target = world
        .component(to)
        .filter(|c| c.alive)
        .ok_or(IpcError::ServerDied)?;
    target.bits |= bits;
    world.trace.push(TraceEntry::Signalled { from, to, bits });
    Ok(())
}
