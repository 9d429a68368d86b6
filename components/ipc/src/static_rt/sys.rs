//! The kernel as a component sees it in the static runtime: a handler's [`Sys`] and an external
//! component's. A call runs the callee's handler inline (calls are acyclic, so it is never already
//! running); the answer waits in the call's slot until the caller takes it.

use crate::kernel::{
    Badge, EndpointId, Handler, IncomingCall, IpcError, LeaseAccess, LeaseDescriptor, LeaseId,
    NotificationBits, ReplyToken, Sys, MESSAGE_BYTES,
};
use crate::lease::{check_access, check_lend};
use crate::tables::{ComponentId, ComponentKind, EndpointKind};

use super::kernel::{Kernel, Message};
use super::tables::{capability, kind};
use super::{Clock, HandlerSlot};

/// Deliver a call from `caller` through its capability `endpoint` to the server's handler, run
/// inline; returns the call's token (answered or not).
pub(crate) fn deliver_call<
    'h,
    C: Clock,
    const COMPONENTS: usize,
    const REGIONS: usize,
    const CALLS: usize,
>(
    kernel: &mut Kernel<'_, '_, C, COMPONENTS, REGIONS, CALLS>,
    handlers: &mut [HandlerSlot<'h>],
    caller: ComponentId,
    endpoint: EndpointId,
    request: &[u8],
    lease: Option<LeaseDescriptor>,
) -> Result<u64, IpcError> {
    let capability = *capability(&kernel.tables, caller, endpoint)
        .filter(|c| c.kind == EndpointKind::Call)
        .ok_or(IpcError::NoSuchEndpoint)?;
    if request.len() > MESSAGE_BYTES {
        return Err(IpcError::MessageTooLong);
    }
    if let Some(lease) = &lease {
        check_lend(&kernel.tables, caller, lease)?;
    }
    let server = capability.server;
    if !kernel.is_alive(server) {
        return Err(IpcError::ServerDied);
    }
    let slot = handlers
        .get_mut(server.index())
        .ok_or(IpcError::NoSuchEndpoint)?;
    let handler = slot.take().ok_or(IpcError::WouldBlock)?;
    let Some(token) = kernel.open_call(server, caller, capability.badge, lease) else {
        handlers[server.index()] = Some(handler);
        return Err(IpcError::WouldBlock);
    };
    run_protected(
        kernel,
        handlers,
        server,
        handler,
        capability.badge,
        request,
        lease,
        token,
    );
    Ok(token)
}

#[allow(clippy::too_many_arguments)]
fn run_protected<
    'h,
    C: Clock,
    const COMPONENTS: usize,
    const REGIONS: usize,
    const CALLS: usize,
>(
    kernel: &mut Kernel<'_, '_, C, COMPONENTS, REGIONS, CALLS>,
    handlers: &mut [HandlerSlot<'h>],
    server: ComponentId,
    handler: &'h mut (dyn Handler + 'h),
    badge: Badge,
    message: &[u8],
    lease: Option<LeaseDescriptor>,
    token: u64,
) {
    let mut sys = StaticSys {
        kernel: &mut *kernel,
        handlers: &mut *handlers,
        me: server,
    };
    let call = IncomingCall {
        badge,
        message,
        lease,
        reply: ReplyToken::from_runtime(token),
    };
    handler.protected(&mut sys, call);
    handlers[server.index()] = Some(handler);
}

/// The answer to the call of `token` copied into `reply`, or `WouldBlock` (the call forgotten)
/// if the server kept the token.
pub(crate) fn collect<C, const COMPONENTS: usize, const REGIONS: usize, const CALLS: usize>(
    kernel: &mut Kernel<'_, '_, C, COMPONENTS, REGIONS, CALLS>,
    token: u64,
    reply: &mut [u8],
) -> Option<Result<usize, IpcError>> {
    let answer = kernel.take_answer(token)?;
    Some(answer.and_then(|message| copy_reply(&message, reply)))
}

pub(crate) fn copy_reply(message: &Message, reply: &mut [u8]) -> Result<usize, IpcError> {
    let bytes = message.as_bytes();
    let into = reply.get_mut(..bytes.len()).ok_or(IpcError::ReplyTooLong)?;
    into.copy_from_slice(bytes);
    Ok(bytes.len())
}

/// A handler's view of the kernel while it runs.
pub(crate) struct StaticSys<
    'a,
    'h,
    't,
    'r,
    C,
    const COMPONENTS: usize,
    const REGIONS: usize,
    const CALLS: usize,
> {
    pub kernel: &'a mut Kernel<'t, 'r, C, COMPONENTS, REGIONS, CALLS>,
    /// Every handler; the running ones are taken out.
    pub handlers: &'a mut [HandlerSlot<'h>],
    pub me: ComponentId,
}

/// The bytes of a lease `me` borrows from the caller behind `badge`: the region itself when
/// writable, else a copy in the scratch buffer, so that a read-only lease cannot be written.
fn borrowed_bytes<'k, C, const COMPONENTS: usize, const REGIONS: usize, const CALLS: usize>(
    kernel: &'k mut Kernel<'_, '_, C, COMPONENTS, REGIONS, CALLS>,
    me: ComponentId,
    badge: Badge,
    lease: &LeaseDescriptor,
) -> Result<&'k mut [u8], IpcError> {
    let lent = kernel
        .calls
        .iter()
        .flatten()
        .filter(|c| c.server == me && c.badge == badge && c.answer.is_none())
        .filter_map(|c| c.lease.as_ref());
    let window = check_access(&kernel.tables, me, badge, lease, lent)?;
    let region = kernel
        .regions
        .get_mut(window.region)
        .and_then(Option::as_deref_mut)
        .ok_or(IpcError::BadLease)?;
    let bytes = region.get_mut(window.bytes).ok_or(IpcError::BadLease)?;
    if window.writable {
        return Ok(bytes);
    }
    let copy = kernel
        .scratch
        .get_mut(..bytes.len())
        .ok_or(IpcError::BadLease)?;
    copy.copy_from_slice(bytes);
    Ok(copy)
}

fn own_region_bytes<'k, C, const COMPONENTS: usize, const REGIONS: usize, const CALLS: usize>(
    kernel: &'k mut Kernel<'_, '_, C, COMPONENTS, REGIONS, CALLS>,
    me: ComponentId,
    region: LeaseId,
) -> Option<&'k mut [u8]> {
    let owned = kernel
        .tables
        .regions
        .iter()
        .any(|r| r.id == region && r.owner == me);
    if !owned {
        return None;
    }
    kernel.region(region)
}

fn reply_message(message: &[u8]) -> Result<Message, IpcError> {
    Message::copy_of(message).ok_or(IpcError::ReplyTooLong)
}

impl<C: Clock, const COMPONENTS: usize, const REGIONS: usize, const CALLS: usize> LeaseAccess
    for StaticSys<'_, '_, '_, '_, C, COMPONENTS, REGIONS, CALLS>
{
    fn lease_bytes(
        &mut self,
        badge: Badge,
        lease: &LeaseDescriptor,
    ) -> Result<&mut [u8], IpcError> {
        borrowed_bytes(self.kernel, self.me, badge, lease)
    }
}

impl<C: Clock, const COMPONENTS: usize, const REGIONS: usize, const CALLS: usize> Sys
    for StaticSys<'_, '_, '_, '_, C, COMPONENTS, REGIONS, CALLS>
{
    fn reply(&mut self, token: ReplyToken, message: &[u8]) {
        self.kernel
            .answer(self.me, token.raw(), reply_message(message));
    }

    fn call(
        &mut self,
        endpoint: EndpointId,
        request: &[u8],
        lease: Option<LeaseDescriptor>,
        reply: &mut [u8],
    ) -> Result<usize, IpcError> {
        let token = deliver_call(
            self.kernel,
            self.handlers,
            self.me,
            endpoint,
            request,
            lease,
        )?;
        collect(self.kernel, token, reply).unwrap_or_else(|| {
            self.kernel.abandon(token);
            Err(IpcError::WouldBlock)
        })
    }

    fn own_region(&mut self, region: LeaseId) -> Option<&mut [u8]> {
        own_region_bytes(self.kernel, self.me, region)
    }

    fn notify(&mut self, endpoint: EndpointId, bits: NotificationBits) -> Result<(), IpcError> {
        self.kernel.signal(self.me, endpoint, bits)
    }

    fn now_ns(&self) -> u64 {
        self.kernel.clock.now_ns()
    }

    fn set_timer(&mut self, deadline_ns: u64) {
        if let Some(state) = self.kernel.components.get_mut(self.me.index()) {
            state.timer = Some(deadline_ns);
        }
    }
}

/// An external component's view of the kernel (a scenario, a test client, a control agent driven
/// by the image): its calls block until answered, the runtime delivering timers and notifications
/// meanwhile, so that a server's deferred reply can arrive. Generated client stubs take it as
/// their `&mut dyn Sys`.
pub struct ExternalSys<
    'a,
    'h,
    't,
    'r,
    C,
    const COMPONENTS: usize,
    const REGIONS: usize,
    const CALLS: usize,
> {
    pub(crate) runtime: &'a mut super::StaticRuntime<'t, 'h, 'r, C, COMPONENTS, REGIONS, CALLS>,
    pub(crate) me: ComponentId,
}

impl<C, const COMPONENTS: usize, const REGIONS: usize, const CALLS: usize> core::fmt::Debug
    for ExternalSys<'_, '_, '_, '_, C, COMPONENTS, REGIONS, CALLS>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ExternalSys")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl<C: Clock, const COMPONENTS: usize, const REGIONS: usize, const CALLS: usize> LeaseAccess
    for ExternalSys<'_, '_, '_, '_, C, COMPONENTS, REGIONS, CALLS>
{
    /// An external component is never called, so it never borrows: always `BadLease`.
    fn lease_bytes(
        &mut self,
        badge: Badge,
        lease: &LeaseDescriptor,
    ) -> Result<&mut [u8], IpcError> {
        borrowed_bytes(&mut self.runtime.kernel, self.me, badge, lease)
    }
}

impl<C: Clock, const COMPONENTS: usize, const REGIONS: usize, const CALLS: usize> Sys
    for ExternalSys<'_, '_, '_, '_, C, COMPONENTS, REGIONS, CALLS>
{
    /// An external component holds no reply tokens: nothing to answer.
    fn reply(&mut self, token: ReplyToken, message: &[u8]) {
        self.runtime
            .kernel
            .answer(self.me, token.raw(), reply_message(message));
    }

    fn call(
        &mut self,
        endpoint: EndpointId,
        request: &[u8],
        lease: Option<LeaseDescriptor>,
        reply: &mut [u8],
    ) -> Result<usize, IpcError> {
        self.runtime.call(self.me, endpoint, request, lease, reply)
    }

    fn own_region(&mut self, region: LeaseId) -> Option<&mut [u8]> {
        own_region_bytes(&mut self.runtime.kernel, self.me, region)
    }

    fn notify(&mut self, endpoint: EndpointId, bits: NotificationBits) -> Result<(), IpcError> {
        self.runtime.notify(self.me, endpoint, bits)
    }

    fn now_ns(&self) -> u64 {
        self.runtime.kernel.clock.now_ns()
    }

    /// An external component receives no notifications: a timer would never reach it.
    fn set_timer(&mut self, _deadline_ns: u64) {}
}

/// Whether `component` is one the image drives from outside.
pub(crate) fn is_external(tables: &crate::tables::Tables<'_>, component: ComponentId) -> bool {
    kind(tables, component) == Some(ComponentKind::External)
}
