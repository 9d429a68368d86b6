//! The deterministic runtime's state apart from the handlers: per-component queues, notification
//! words, timers and unanswered calls; region memory; the simulated clock; external replies and
//! the trace.

use std::collections::{BTreeMap, VecDeque};

use crate::checked_tables::CheckedTables;
use crate::kernel::{Badge, IpcError, LeaseDescriptor, NotificationBits};
use crate::tables::{ComponentId, ComponentKind, EndpointKind};

use super::trace::{CallId, TraceEntry};

/// A queued external call.
#[derive(Debug)]
pub(crate) struct QueuedCall {
    pub call: CallId,
    pub caller: ComponentId,
    pub badge: Badge,
    pub message: Vec<u8>,
    pub lease: Option<LeaseDescriptor>,
}

/// What waits in a component's queue, in arrival order.
#[derive(Debug)]
pub(crate) enum Inbound {
    Call(QueuedCall),
    ClientDied(Badge),
}

/// Who is waiting for the answer to a call a handler holds the token of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    External(CallId),
    /// A handler running an inline call right now.
    Inline,
}

/// A call delivered to a handler and not yet answered.
#[derive(Debug)]
pub(crate) struct Unanswered {
    pub caller: ComponentId,
    pub badge: Badge,
    pub lease: Option<LeaseDescriptor>,
    pub origin: Origin,
}

#[derive(Debug, Default)]
pub(crate) struct ComponentSim {
    pub alive: bool,
    pub inbox: VecDeque<Inbound>,
    pub bits: u32,
    pub timer: Option<u64>,
    /// By reply token.
    pub unanswered: BTreeMap<u64, Unanswered>,
}

#[derive(Debug)]
pub(crate) struct World {
    pub tables: CheckedTables,
    pub components: Vec<ComponentSim>,
    /// Parallel to `tables.regions()`.
    pub regions: Vec<Vec<u8>>,
    /// The copy a read-only lease is handed out as.
    pub scratch: Vec<u8>,
    pub now_ns: u64,
    pub steps: u64,
    pub next_token: u64,
    pub next_call: u64,
    /// Answers to external calls, until the driver takes them.
    pub replies: BTreeMap<CallId, Result<Vec<u8>, IpcError>>,
    /// Answers to inline calls, by token, until the caller takes them.
    pub inline_replies: BTreeMap<u64, Result<Vec<u8>, IpcError>>,
    pub trace: Vec<TraceEntry>,
}

impl World {
    pub fn new(tables: CheckedTables) -> World {
        let components = tables
            .component_ids()
            .map(|_| ComponentSim {
                alive: true,
                ..ComponentSim::default()
            })
            .collect();
        let regions = tables
            .regions()
            .iter()
            .map(|r| vec![0; r.size as usize])
            .collect();
        World {
            tables,
            components,
            regions,
            scratch: Vec::new(),
            now_ns: 0,
            steps: 0,
            next_token: 1,
            next_call: 1,
            replies: BTreeMap::new(),
            inline_replies: BTreeMap::new(),
            trace: Vec::new(),
        }
    }

    pub fn component(&mut self, id: ComponentId) -> Option<&mut ComponentSim> {
        self.components.get_mut(id.index())
    }

    pub fn is_alive(&self, id: ComponentId) -> bool {
        self.components.get(id.index()).is_some_and(|c| c.alive)
    }

    pub fn take_token(&mut self) -> u64 {
        let token = self.next_token;
        // One token per call: a `u64` count of calls cannot reach 2^64.
        self.next_token = self.next_token.saturating_add(1);
        token
    }

    /// Raise the timer bit of every component whose deadline has passed.
    pub fn expire_timers(&mut self) {
        let now = self.now_ns;
        for component in &mut self.components {
            if component.alive && component.timer.is_some_and(|t| t <= now) {
                component.timer = None;
                component.bits |= NotificationBits::TIMER.0;
            }
        }
    }

    /// Handler components with something to deliver, in id order.
    pub fn ready(&self) -> Vec<ComponentId> {
        self.tables
            .component_ids()
            .filter(|&id| {
                let component = &self.components[id.index()];
                component.alive
                    && self.tables.kind(id) == Some(ComponentKind::Handler)
                    && (component.bits != 0 || !component.inbox.is_empty())
            })
            .collect()
    }

    /// The earliest pending timer of a live component.
    pub fn next_deadline(&self) -> Option<u64> {
        self.components
            .iter()
            .filter(|c| c.alive)
            .filter_map(|c| c.timer)
            .min()
    }

    /// Record the answer to a call, for whoever waits on it.
    pub fn answer(&mut self, server: ComponentId, token: u64, outcome: Result<Vec<u8>, IpcError>) {
        let Some(unanswered) = self
            .component(server)
            .and_then(|c| c.unanswered.remove(&token))
        else {
            self.trace.push(TraceEntry::ReplyDropped { server, token });
            return;
        };
        self.trace.push(TraceEntry::Replied {
            server,
            token,
            outcome: outcome.clone(),
        });
        match unanswered.origin {
            Origin::External(call) => {
                self.replies.insert(call, outcome);
            }
            Origin::Inline => {
                self.inline_replies.insert(token, outcome);
            }
        }
    }

    /// Whether `client` already lends `region` in a call not yet answered.
    pub fn lends(&self, client: ComponentId, region: u16) -> bool {
        let lent = |lease: &Option<LeaseDescriptor>| lease.is_some_and(|l| l.region == region);
        self.components.iter().any(|component| {
            let queued = component.inbox.iter().any(|inbound| {
                matches!(inbound, Inbound::Call(call) if call.caller == client && lent(&call.lease))
            });
            let delivered = component
                .unanswered
                .values()
                .any(|u| u.caller == client && lent(&u.lease));
            queued || delivered
        })
    }

    /// Kill `victim`: void its calls everywhere (external ones fail with `ServerDied`), tell its
    /// servers, and fail every call it was serving.
    pub fn kill(&mut self, victim: ComponentId) {
        self.trace.push(TraceEntry::Killed { component: victim });
        let mut failed: Vec<CallId> = Vec::new();
        for component in &mut self.components {
            component.inbox.retain(|inbound| match inbound {
                Inbound::Call(call) if call.caller == victim => {
                    failed.push(call.call);
                    false
                }
                _ => true,
            });
            component.unanswered.retain(|_, u| {
                if u.caller != victim {
                    return true;
                }
                if let Origin::External(call) = u.origin {
                    failed.push(call);
                }
                false
            });
        }
        if let Some(dead) = self.component(victim) {
            dead.alive = false;
            dead.bits = 0;
            dead.timer = None;
            for inbound in std::mem::take(&mut dead.inbox) {
                if let Inbound::Call(call) = inbound {
                    failed.push(call.call);
                }
            }
            for (_, unanswered) in std::mem::take(&mut dead.unanswered) {
                if let Origin::External(call) = unanswered.origin {
                    failed.push(call);
                }
            }
        }
        for call in failed {
            self.replies.insert(call, Err(IpcError::ServerDied));
        }
        let servers: Vec<(ComponentId, Badge)> = self
            .tables
            .capabilities(victim)
            .iter()
            .filter(|c| c.kind == EndpointKind::Call)
            .map(|c| (c.server, c.badge))
            .collect();
        for (server, badge) in servers {
            if let Some(server) = self.component(server).filter(|s| s.alive) {
                server.inbox.push_back(Inbound::ClientDied(badge));
            }
        }
    }
}
