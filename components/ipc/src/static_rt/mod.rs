//! The static runtime: a whole composition on one thread with no heap, for bare-metal images
//! (the Xen PVH image first). The same shape as the deterministic runtime: a call from a handler
//! runs the callee's handler inline; a server may keep a reply token and answer later; timers run
//! against a clock the image provides; notifications are delivered between calls; leases are
//! windows of regions in memory the image placed, checked against the composition [`Tables`].
//! Every capacity is a const generic: `COMPONENTS`, `REGIONS`, and `CALLS`, the calls delivered
//! and not yet taken back by their callers (nested inline calls and deferred replies count).
//!
//! External components (a scenario, a test client, a control agent the image plays) call through
//! [`StaticRuntime::external`], whose calls block until answered while the runtime delivers
//! timers and notifications, waiting on the clock when nothing else is ready; the bits other
//! components raise on one are kept until the image takes them ([`StaticRuntime::take_notified`]).

mod kernel;
mod sys;
pub(crate) mod tables;

#[cfg(test)]
mod tests;

pub use sys::ExternalSys;

use crate::kernel::{EndpointId, Handler, IpcError, LeaseDescriptor, LeaseId, NotificationBits};
use crate::tables::{ComponentId, ComponentKind, EndpointKind, Tables};

use kernel::{place_regions, ComponentState, Kernel};
use sys::{collect, deliver_call, is_external, StaticSys};

/// Time as the image keeps it.
pub trait Clock {
    /// Monotonic nanoseconds.
    fn now_ns(&self) -> u64;

    /// Return once `deadline_ns` has passed (the runtime has nothing else to do until then).
    /// The default spins on [`Clock::now_ns`]; an image may halt until a timer interrupt.
    fn wait_until(&self, deadline_ns: u64) {
        while self.now_ns() < deadline_ns {
            core::hint::spin_loop();
        }
    }
}

/// Why the static runtime refused its tables, handlers or memory, or a driver's request.
/// C-like, nonzero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum StaticError {
    /// More components than `COMPONENTS` (or than a [`ComponentId`] can number).
    TooManyComponents = 1,
    /// More regions than `REGIONS`.
    TooManyRegions = 2,
    /// A table, handler or driver names a component that is not in the component table.
    UnknownComponent = 3,
    /// A client holds two capabilities with the same endpoint id.
    DuplicateEndpoint = 4,
    /// Two call endpoints of one server carry the same badge.
    DuplicateBadge = 5,
    /// Calls form a cycle (a handler could end up calling itself).
    CallCycle = 6,
    /// A call endpoint leads to an external component, which has no handler to answer (a
    /// notification may: the image takes the bits for it).
    ExternalServer = 7,
    /// Two regions share an id.
    DuplicateRegion = 8,
    /// A grant or region memory names a region that is not declared.
    UnknownRegion = 9,
    /// A component is granted a region twice, or is granted its own region.
    DuplicateGrant = 10,
    /// A handler component was given no handler.
    MissingHandler = 11,
    /// A handler was given for an external component.
    HandlerForExternal = 12,
    /// Two handlers were given for one component.
    DuplicateHandler = 13,
    /// A region was given no memory.
    MissingRegionMemory = 14,
    /// A region was given memory twice.
    DuplicateRegionMemory = 15,
    /// A region's memory is not exactly its declared size.
    RegionSizeMismatch = 16,
    /// The scratch buffer is smaller than a region that may be lent read-only.
    ScratchTooSmall = 17,
    /// The component was already dead.
    AlreadyDead = 18,
}

/// A handler's place: `None` while it runs (or for an external component).
pub type HandlerSlot<'h> = Option<&'h mut (dyn Handler + 'h)>;

/// A composition on one thread, in fixed memory.
pub struct StaticRuntime<
    't,
    'h,
    'r,
    C,
    const COMPONENTS: usize,
    const REGIONS: usize,
    const CALLS: usize,
> {
    kernel: Kernel<'t, 'r, C, COMPONENTS, REGIONS, CALLS>,
    handlers: [HandlerSlot<'h>; COMPONENTS],
}

impl<C, const COMPONENTS: usize, const REGIONS: usize, const CALLS: usize> core::fmt::Debug
    for StaticRuntime<'_, '_, '_, C, COMPONENTS, REGIONS, CALLS>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let outstanding = self.kernel.calls.iter().flatten().count();
        f.debug_struct("StaticRuntime")
            .field("components", &self.kernel.tables.components.len())
            .field("outstanding_calls", &outstanding)
            .finish_non_exhaustive()
    }
}

impl<'t, 'h, 'r, C: Clock, const COMPONENTS: usize, const REGIONS: usize, const CALLS: usize>
    StaticRuntime<'t, 'h, 'r, C, COMPONENTS, REGIONS, CALLS>
{
    /// Check `tables` and set them up with one handler per handler component, the memory of every
    /// region (exactly its size), and `scratch`, which must hold the largest region a component
    /// may borrow read-only.
    pub fn new(
        tables: Tables<'t>,
        clock: C,
        handlers: impl IntoIterator<Item = (ComponentId, &'h mut (dyn Handler + 'h))>,
        regions: impl IntoIterator<Item = (LeaseId, &'r mut [u8])>,
        scratch: &'r mut [u8],
    ) -> Result<Self, StaticError> {
        tables::check::<COMPONENTS, REGIONS>(&tables)?;
        let mut slots: [HandlerSlot<'h>; COMPONENTS] = [const { None }; COMPONENTS];
        for (component, handler) in handlers {
            match tables::kind(&tables, component) {
                None => return Err(StaticError::UnknownComponent),
                Some(ComponentKind::External) => return Err(StaticError::HandlerForExternal),
                Some(ComponentKind::Handler) => {}
            }
            if slots[component.index()].replace(handler).is_some() {
                return Err(StaticError::DuplicateHandler);
            }
        }
        let unhandled = tables
            .components
            .iter()
            .zip(&slots)
            .any(|(spec, slot)| spec.kind == ComponentKind::Handler && slot.is_none());
        if unhandled {
            return Err(StaticError::MissingHandler);
        }
        let read_only_bytes = tables
            .grants
            .iter()
            .filter_map(|grant| tables.regions.iter().find(|r| r.id == grant.region))
            .map(|region| region.size as usize)
            .max()
            .unwrap_or(0);
        if scratch.len() < read_only_bytes {
            return Err(StaticError::ScratchTooSmall);
        }
        let regions = place_regions::<REGIONS>(&tables, regions)?;
        let alive = ComponentState {
            alive: true,
            bits: 0,
            timer: None,
        };
        Ok(StaticRuntime {
            kernel: Kernel {
                tables,
                clock,
                components: [alive; COMPONENTS],
                regions,
                scratch,
                calls: [None; CALLS],
                next_token: 1,
            },
            handlers: slots,
        })
    }

    /// The kernel as external component `client` sees it (for generated client stubs).
    pub fn external(
        &mut self,
        client: ComponentId,
    ) -> Result<ExternalSys<'_, 'h, 't, 'r, C, COMPONENTS, REGIONS, CALLS>, StaticError> {
        match tables::kind(&self.kernel.tables, client) {
            None => Err(StaticError::UnknownComponent),
            Some(ComponentKind::Handler) => Err(StaticError::HandlerForExternal),
            Some(ComponentKind::External) => Ok(ExternalSys {
                runtime: self,
                me: client,
            }),
        }
    }

    /// A call from external component `client` through its capability `endpoint`, lending
    /// `lease` if given; blocks until answered (delivering timers and notifications meanwhile)
    /// and returns the reply's length in `reply`. `WouldBlock` if the server kept the token and
    /// nothing is left that could make it answer (no notification pending, no timer set).
    pub fn call(
        &mut self,
        client: ComponentId,
        endpoint: EndpointId,
        request: &[u8],
        lease: Option<LeaseDescriptor>,
        reply: &mut [u8],
    ) -> Result<usize, IpcError> {
        let token = self.submit_call(client, endpoint, request, lease)?;
        loop {
            if let Some(outcome) = collect(&mut self.kernel, token, reply) {
                return outcome;
            }
            if !self.wait_for_event() {
                self.kernel.abandon(token);
                return Err(IpcError::WouldBlock);
            }
        }
    }

    /// Deliver a call from external component `client` now and return its token, without waiting
    /// for the answer; [`Self::take_reply`] collects it.
    pub fn submit_call(
        &mut self,
        client: ComponentId,
        endpoint: EndpointId,
        request: &[u8],
        lease: Option<LeaseDescriptor>,
    ) -> Result<u64, IpcError> {
        if !is_external(&self.kernel.tables, client) {
            return Err(IpcError::NoSuchEndpoint);
        }
        if !self.kernel.is_alive(client) {
            return Err(IpcError::ServerDied);
        }
        if lease.is_some_and(|lease| self.kernel.lends(client, lease.region)) {
            return Err(IpcError::BadLease);
        }
        deliver_call(
            &mut self.kernel,
            &mut self.handlers,
            client,
            endpoint,
            request,
            lease,
        )
    }

    /// The answer to the call of `token`, copied into `reply`, once there is one (taken: a second
    /// ask gives `None`).
    pub fn take_reply(&mut self, token: u64, reply: &mut [u8]) -> Option<Result<usize, IpcError>> {
        collect(&mut self.kernel, token, reply)
    }

    /// Raise `bits` through notification capability `endpoint` of external component `from`.
    pub fn notify(
        &mut self,
        from: ComponentId,
        endpoint: EndpointId,
        bits: NotificationBits,
    ) -> Result<(), IpcError> {
        if !is_external(&self.kernel.tables, from) {
            return Err(IpcError::NoSuchEndpoint);
        }
        self.kernel.signal(from, endpoint, bits)
    }

    /// The notification bits raised on external component `component` since it last took them
    /// (how the image's driver of that component waits for a signal); `None` if `component` is
    /// not an external component.
    pub fn take_notified(&mut self, component: ComponentId) -> Option<NotificationBits> {
        if !is_external(&self.kernel.tables, component) {
            return None;
        }
        let state = self.kernel.components.get_mut(component.index())?;
        Some(NotificationBits(core::mem::take(&mut state.bits)))
    }

    /// Deliver every timer that has passed and every pending notification, once per component
    /// in id order; returns how many handlers ran.
    pub fn poll(&mut self) -> usize {
        self.kernel.expire_timers();
        let mut delivered: usize = 0;
        for index in 0..self.kernel.tables.components.len().min(COMPONENTS) {
            let state = &mut self.kernel.components[index];
            if !state.alive || state.bits == 0 {
                continue;
            }
            let Some(handler) = self.handlers[index].take() else {
                continue;
            };
            let bits = core::mem::take(&mut self.kernel.components[index].bits);
            let me = ComponentId(index as u16);
            let mut sys = StaticSys {
                kernel: &mut self.kernel,
                handlers: &mut self.handlers,
                me,
            };
            handler.notified(&mut sys, NotificationBits(bits));
            self.handlers[index] = Some(handler);
            // At most one per component.
            delivered = delivered.saturating_add(1);
        }
        delivered
    }

    /// Run until nothing is pending and no timer is set, or the clock passes `until_ns` (checked
    /// between rounds of deliveries, so a handler that keeps re-arming its timer cannot hold the
    /// loop); waits on the clock for timers. Returns whether it stopped idle.
    pub fn run_until_idle(&mut self, until_ns: u64) -> bool {
        loop {
            if self.poll() > 0 {
                if self.kernel.clock.now_ns() > until_ns {
                    return false;
                }
                continue;
            }
            match self.kernel.next_deadline() {
                None => return true,
                Some(deadline) if deadline > until_ns => return false,
                Some(deadline) => self.kernel.clock.wait_until(deadline),
            }
        }
    }

    /// Deliver what is ready, or wait for the next timer and deliver it; `false` if nothing is
    /// ready and no timer is set.
    fn wait_for_event(&mut self) -> bool {
        if self.poll() > 0 {
            return true;
        }
        let Some(deadline) = self.kernel.next_deadline() else {
            return false;
        };
        self.kernel.clock.wait_until(deadline);
        self.poll();
        true
    }

    /// Kill `component`: the calls it made are void (a later answer is dropped), the calls it was
    /// serving fail with `ServerDied`, and every server it held a call capability to runs
    /// `client_died` with that capability's badge, now.
    pub fn kill(&mut self, component: ComponentId) -> Result<(), StaticError> {
        let state = self
            .kernel
            .components
            .get_mut(component.index())
            .filter(|_| component.index() < self.kernel.tables.components.len())
            .ok_or(StaticError::UnknownComponent)?;
        if !state.alive {
            return Err(StaticError::AlreadyDead);
        }
        *state = ComponentState {
            alive: false,
            bits: 0,
            timer: None,
        };
        for slot in &mut self.kernel.calls {
            match slot {
                Some(call) if call.caller == component => *slot = None,
                Some(call) if call.server == component && call.answer.is_none() => {
                    call.answer = Some(Err(IpcError::ServerDied));
                }
                _ => {}
            }
        }
        let tables = self.kernel.tables;
        let held = tables
            .endpoints
            .iter()
            .filter(|e| e.client == component && e.kind == EndpointKind::Call);
        for endpoint in held {
            let server = endpoint.server;
            if !self.kernel.is_alive(server) {
                continue;
            }
            let Some(handler) = self.handlers[server.index()].take() else {
                continue;
            };
            let mut sys = StaticSys {
                kernel: &mut self.kernel,
                handlers: &mut self.handlers,
                me: server,
            };
            handler.client_died(&mut sys, endpoint.badge);
            self.handlers[server.index()] = Some(handler);
        }
        Ok(())
    }

    /// Whether `component` is alive.
    pub fn is_alive(&self, component: ComponentId) -> bool {
        self.kernel.is_alive(component)
    }

    /// A region's bytes (the driver sees every region, between calls).
    pub fn region(&mut self, id: LeaseId) -> Option<&mut [u8]> {
        self.kernel.region(id)
    }

    /// The clock's time.
    pub fn now_ns(&self) -> u64 {
        self.kernel.clock.now_ns()
    }

    /// The earliest timer a live component has set (the image sleeps until then, or until an
    /// event wakes it, once `run_until_idle` has delivered everything ready).
    pub fn next_deadline(&self) -> Option<u64> {
        self.kernel.next_deadline()
    }

    /// The tables being run.
    pub fn tables(&self) -> &Tables<'t> {
        &self.kernel.tables
    }

    /// Calls delivered and not yet taken back by their callers.
    pub fn outstanding_calls(&self) -> usize {
        self.kernel.calls.iter().flatten().count()
    }
}
