//! The deterministic runtime: every component on one thread, a seeded scheduler choosing which
//! ready component runs next, simulated time that jumps to the next timer when nothing is ready,
//! and a trace, so that any interleaving replays from its seed. Drivers (tests, scenarios)
//! submit external calls and collect replies asynchronously, kill components, move the clock,
//! check an invariant after every step through a hook, and charge each step the simulated time
//! it took through another.

mod rng;
mod sys;
mod trace;
mod view;
mod world;

use std::any::Any;

pub use trace::{CallId, TraceEntry};
pub use view::{InvariantViolation, RunReport, StepRecord, StepView};

use crate::checked_tables::{place_handlers, CheckedTables, TablesError};
use crate::kernel::{
    EndpointId, Handler, IncomingCall, IpcError, LeaseDescriptor, LeaseId, NotificationBits,
    ReplyToken, MESSAGE_BYTES,
};
use crate::lease::check_lend;
use crate::tables::{ComponentId, ComponentKind, EndpointKind};
use crate::RuntimeError;

use rng::SplitMix64;
use sys::{signal, SimSys};
use world::{Inbound, Origin, QueuedCall, Unanswered, World};

/// A handler the deterministic runtime can also hand back for inspection.
pub trait SimHandler: Handler + Any {
    /// For [`DeterministicRuntime::handler`].
    fn as_any(&self) -> &dyn Any;
    /// For [`DeterministicRuntime::handler_mut`].
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Handler + Any> SimHandler for T {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The check run after every step; an `Err` stops the run.
pub type StepHook = Box<dyn FnMut(&StepView<'_>) -> Result<(), String>>;

/// Asked after every step how long it took, in simulated nanoseconds: the clock moves on by
/// that much before anything else runs (a driver's model of the work the step did).
pub type ChargeHook = Box<dyn FnMut(&StepRecord) -> u64>;

/// A composition running on one thread under a seeded scheduler.
pub struct DeterministicRuntime {
    world: World,
    handlers: Vec<Option<Box<dyn SimHandler>>>,
    rng: SplitMix64,
    hook: Option<StepHook>,
    charge: Option<ChargeHook>,
}

impl core::fmt::Debug for DeterministicRuntime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeterministicRuntime")
            .field("now_ns", &self.world.now_ns)
            .field("steps", &self.world.steps)
            .finish_non_exhaustive()
    }
}

impl DeterministicRuntime {
    /// Set up `tables` with one handler per handler component; `seed` picks the
    /// interleaving.
    pub fn new(
        tables: CheckedTables,
        handlers: Vec<(ComponentId, Box<dyn SimHandler>)>,
        seed: u64,
    ) -> Result<DeterministicRuntime, TablesError> {
        let handlers = place_handlers(&tables, handlers)?;
        Ok(DeterministicRuntime {
            world: World::new(tables),
            handlers,
            rng: SplitMix64::new(seed),
            hook: None,
            charge: None,
        })
    }

    /// Run `hook` after every step from now on.
    pub fn set_step_hook(&mut self, hook: StepHook) {
        self.hook = Some(hook);
    }

    /// Ask `charge` after every step from now on how long the step took, and move the clock on
    /// by it (the step's record keeps the time it started at).
    pub fn set_charge_hook(&mut self, charge: ChargeHook) {
        self.charge = Some(charge);
    }

    /// Queue a call from external component `client` through its capability `endpoint`,
    /// lending `lease` if given. The answer is collected with [`Self::take_reply`].
    pub fn submit_call(
        &mut self,
        client: ComponentId,
        endpoint: EndpointId,
        request: &[u8],
        lease: Option<LeaseDescriptor>,
    ) -> Result<CallId, IpcError> {
        if self.world.tables.kind(client) != Some(ComponentKind::External) {
            return Err(IpcError::NoSuchEndpoint);
        }
        if !self.world.is_alive(client) {
            return Err(IpcError::ServerDied);
        }
        let capability = *self
            .world
            .tables
            .capability(client, endpoint)
            .filter(|c| c.kind == EndpointKind::Call)
            .ok_or(IpcError::NoSuchEndpoint)?;
        if request.len() > MESSAGE_BYTES {
            return Err(IpcError::MessageTooLong);
        }
        if let Some(lease) = &lease {
            check_lend(&self.world.tables, client, lease)?;
            if self.world.lends(client, lease.region) {
                return Err(IpcError::BadLease);
            }
        }
        if !self.world.is_alive(capability.server) {
            return Err(IpcError::ServerDied);
        }
        let call = CallId(self.world.next_call);
        // One id per call: a `u64` count of calls cannot reach 2^64.
        self.world.next_call = self.world.next_call.saturating_add(1);
        self.world.trace.push(TraceEntry::Submitted {
            call,
            client,
            server: capability.server,
            badge: capability.badge,
        });
        self.world.components[capability.server.index()]
            .inbox
            .push_back(Inbound::Call(QueuedCall {
                call,
                caller: client,
                badge: capability.badge,
                message: request.to_vec(),
                lease,
            }));
        Ok(call)
    }

    /// The answer to `call`, once there is one (taken: a second ask gives `None`).
    pub fn take_reply(&mut self, call: CallId) -> Option<Result<Vec<u8>, IpcError>> {
        self.world.replies.remove(&call)
    }

    /// Raise `bits` through notification capability `endpoint` of external component `from`.
    pub fn notify(
        &mut self,
        from: ComponentId,
        endpoint: EndpointId,
        bits: NotificationBits,
    ) -> Result<(), IpcError> {
        if self.world.tables.kind(from) != Some(ComponentKind::External) {
            return Err(IpcError::NoSuchEndpoint);
        }
        signal(&mut self.world, from, endpoint, bits)
    }

    /// The notification bits raised on external component `component` since it last took them
    /// (how its driver waits for a signal); `None` if `component` is not an external component.
    pub fn take_notified(&mut self, component: ComponentId) -> Option<NotificationBits> {
        if self.world.tables.kind(component) != Some(ComponentKind::External) {
            return None;
        }
        let state = self.world.components.get_mut(component.index())?;
        Some(NotificationBits(std::mem::take(&mut state.bits)))
    }

    /// Kill `component` (see [`crate::host::HostRuntime::kill`] for what its peers see).
    pub fn kill(&mut self, component: ComponentId) -> Result<(), RuntimeError> {
        match self.world.components.get(component.index()) {
            None => Err(RuntimeError::UnknownComponent),
            Some(c) if !c.alive => Err(RuntimeError::AlreadyDead),
            Some(_) => {
                self.world.kill(component);
                Ok(())
            }
        }
    }

    /// Whether `component` is alive.
    pub fn is_alive(&self, component: ComponentId) -> bool {
        self.world.is_alive(component)
    }

    /// The simulated clock.
    pub fn now_ns(&self) -> u64 {
        self.world.now_ns
    }

    /// Move the clock forward by `ns` (timers that pass become ready; nothing runs).
    pub fn advance_time(&mut self, ns: u64) {
        self.world.now_ns = self.world.now_ns.saturating_add(ns);
        self.world.trace.push(TraceEntry::TimeAdvanced {
            to_ns: self.world.now_ns,
        });
    }

    /// A region's bytes (the driver sees every region, between steps).
    pub fn region(&mut self, id: LeaseId) -> Option<&mut [u8]> {
        let index = self.world.tables.region_index(id)?;
        self.world.regions.get_mut(index).map(Vec::as_mut_slice)
    }

    /// The handler of `component`, if it is a `T`.
    pub fn handler<T: Any>(&self, component: ComponentId) -> Option<&T> {
        view::downcast(&self.handlers, component)
    }

    /// The handler of `component`, mutably, if it is a `T`.
    pub fn handler_mut<T: Any>(&mut self, component: ComponentId) -> Option<&mut T> {
        let handler = self.handlers.get_mut(component.index())?.as_mut()?;
        handler.as_any_mut().downcast_mut()
    }

    /// Everything that happened so far.
    pub fn trace(&self) -> &[TraceEntry] {
        &self.world.trace
    }

    /// The trace as text, one entry a line: equal seeds give equal bytes.
    pub fn trace_text(&self) -> String {
        trace::render(&self.world.trace)
    }

    /// How many steps have run.
    pub fn steps(&self) -> u64 {
        self.world.steps
    }

    /// The checked tables being run.
    pub fn tables(&self) -> &CheckedTables {
        &self.world.tables
    }

    /// Run one step: deliver one event to one ready component, jumping the clock to the next
    /// timer if nothing is ready. `Ok(None)` if nothing is ready and no timer is set.
    pub fn step(&mut self) -> Result<Option<StepRecord>, InvariantViolation> {
        self.step_before(None)
    }

    /// Run up to `steps` steps; stops early when idle.
    pub fn run_steps(&mut self, steps: u64) -> Result<RunReport, InvariantViolation> {
        self.run(steps, None)
    }

    /// Run until nothing is ready and no timer is set, or `max_steps` have run.
    pub fn run_until_idle(&mut self, max_steps: u64) -> Result<RunReport, InvariantViolation> {
        self.run(max_steps, None)
    }

    /// Run everything due up to simulated time `time_ns` (at most `max_steps` steps), then
    /// leave the clock there. A step's charge may carry the clock past `time_ns`: the run stops
    /// after that step, not idle, with the clock where the charge left it.
    pub fn run_until_time(
        &mut self,
        time_ns: u64,
        max_steps: u64,
    ) -> Result<RunReport, InvariantViolation> {
        let report = self.run(max_steps, Some(time_ns))?;
        if report.idle && self.world.now_ns < time_ns {
            self.world.now_ns = time_ns;
            self.world
                .trace
                .push(TraceEntry::TimeAdvanced { to_ns: time_ns });
        }
        Ok(report)
    }

    fn run(&mut self, max_steps: u64, until: Option<u64>) -> Result<RunReport, InvariantViolation> {
        let mut steps = 0;
        while steps < max_steps {
            if until.is_some_and(|limit| self.world.now_ns > limit) {
                // A charged step carried the clock past the limit: the driver acts first.
                return Ok(RunReport { steps, idle: false });
            }
            if self.step_before(until)?.is_none() {
                return Ok(RunReport { steps, idle: true });
            }
            // One per step: a `u64` count of steps cannot reach 2^64.
            steps = steps.saturating_add(1);
        }
        Ok(RunReport { steps, idle: false })
    }

    /// One step, never moving the clock past `until`.
    fn step_before(
        &mut self,
        until: Option<u64>,
    ) -> Result<Option<StepRecord>, InvariantViolation> {
        self.world.expire_timers();
        let mut ready = self.world.ready();
        if ready.is_empty() {
            let Some(deadline) = self.world.next_deadline() else {
                return Ok(None);
            };
            if until.is_some_and(|limit| deadline > limit) {
                return Ok(None);
            }
            if deadline > self.world.now_ns {
                self.world.now_ns = deadline;
                self.world
                    .trace
                    .push(TraceEntry::TimeAdvanced { to_ns: deadline });
            }
            self.world.expire_timers();
            ready = self.world.ready();
        }
        let Some(&component) = ready.get(self.rng.below(ready.len())) else {
            return Ok(None);
        };
        let record = self.deliver(component);
        let took_ns = self.charge.as_mut().map_or(0, |charge| charge(&record));
        if took_ns > 0 {
            self.advance_time(took_ns);
        }
        if let Some(hook) = self.hook.as_mut() {
            let view = StepView::new(&self.world, &self.handlers, record);
            hook(&view).map_err(|message| InvariantViolation {
                step: record.step,
                message,
            })?;
        }
        Ok(Some(record))
    }

    /// Hand `component` its notification bits or the head of its queue (a coin decides when
    /// both wait).
    fn deliver(&mut self, component: ComponentId) -> StepRecord {
        let step = self.world.steps;
        // One per step: a `u64` count of steps cannot reach 2^64.
        self.world.steps = self.world.steps.saturating_add(1);
        let record = StepRecord {
            step,
            component,
            now_ns: self.world.now_ns,
        };
        let index = component.index();
        let Some(mut handler) = self.handlers.get_mut(index).and_then(Option::take) else {
            return record;
        };
        let state = &mut self.world.components[index];
        let bits_first = match (state.bits != 0, state.inbox.is_empty()) {
            (true, false) => self.rng.coin(),
            (bits, _) => bits,
        };
        let mut sys = SimSys {
            world: &mut self.world,
            handlers: &mut self.handlers,
            me: component,
        };
        if bits_first {
            let bits = std::mem::take(&mut sys.world.components[index].bits);
            sys.world.trace.push(TraceEntry::Notified {
                step,
                component,
                bits,
            });
            handler.notified(&mut sys, NotificationBits(bits));
        } else {
            match sys.world.components[index].inbox.pop_front() {
                Some(Inbound::Call(call)) => {
                    let token = sys.world.take_token();
                    sys.world.trace.push(TraceEntry::Delivered {
                        step,
                        server: component,
                        token,
                        badge: call.badge,
                        message: call.message.clone(),
                    });
                    sys.world.components[index].unanswered.insert(
                        token,
                        Unanswered {
                            caller: call.caller,
                            badge: call.badge,
                            lease: call.lease,
                            origin: Origin::External(call.call),
                        },
                    );
                    let incoming = IncomingCall {
                        badge: call.badge,
                        message: &call.message,
                        lease: call.lease,
                        reply: ReplyToken::from_runtime(token),
                    };
                    handler.protected(&mut sys, incoming);
                }
                Some(Inbound::ClientDied(badge)) => {
                    sys.world.trace.push(TraceEntry::ClientDied {
                        step,
                        server: component,
                        badge,
                    });
                    handler.client_died(&mut sys, badge);
                }
                None => {}
            }
        }
        self.handlers[index] = Some(handler);
        record
    }
}
