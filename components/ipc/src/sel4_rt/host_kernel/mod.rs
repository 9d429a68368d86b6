//! seL4 5.0's IPC as the runtime meets it, on host threads (feature `std`), so that the seL4
//! runtime is tested against the kernel's behaviour rather than a stand-in: endpoints with
//! queues of callers and receivers, badged capabilities, one reply capability per call in the
//! receiver's caller slot (deleted by its next receive), `SaveCaller` into reply slots, `Send` on
//! a saved reply, notifications bound to a server's thread and delivered through its receive,
//! `NBRecv`, and thread death as the kernel handles it (a dead caller's reply capability is
//! deleted wherever it sits). [`HostKernel::compose`] plays the root task: it gives every
//! component its objects, capabilities and region mappings from the composition, and
//! [`HostRoot::kill`] reports a death as the root task does.
//!
//! Regions are shared memory: every PD that maps one works on its own view of it, which the model
//! makes coherent at every kernel entry (what a PD wrote goes to the region, and its next access
//! reads the region afresh). The lease protocol guarantees that no two PDs touch a region between
//! two kernel entries (the lender waits in its call while the borrower works), so each sees what
//! the other wrote, as through one mapping.
//!
//! Time is virtual: it moves by [`YIELD_TICK_NS`] on every `yield`, the one thing a PD does
//! while it waits for a deadline, so timers expire as fast as the host runs and in the same
//! order on every run.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::kernel::{EndpointId, IpcError};
use crate::tables::{ComponentId, ComponentKind, EndpointKind, Tables};

use super::kernel::{KernelError, MessageInfo, Received, Sel4Kernel, MESSAGE_REGISTERS};
use super::wire::{self, Sel4Abi};

/// How far the clock moves on every `yield`.
pub const YIELD_TICK_NS: u64 = 1_000_000;
/// How long a thread may stay blocked before the model calls it a hang and panics.
const HANG: Duration = Duration::from_secs(60);

/// A capability as the model keeps it.
#[derive(Clone, Copy, Debug)]
enum Cap {
    Endpoint { endpoint: usize, badge: u64 },
    Notification { notification: usize, badge: u64 },
}

/// A thread's state, as seL4 names them.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ThreadState {
    Running,
    BlockedOnReceive,
    BlockedOnSend {
        endpoint: usize,
        badge: u64,
        call: bool,
        info: MessageInfo,
        registers: Vec<u64>,
    },
    BlockedOnReply,
    BlockedOnNotification,
    Inactive,
}

/// What woke a blocked thread.
#[derive(Debug)]
struct Delivery {
    received: Received,
    /// The message registers transferred (none for a signal).
    registers: Vec<u64>,
}

#[derive(Debug)]
struct Tcb {
    name: String,
    state: ThreadState,
    /// The caller slot: the thread a reply capability answers.
    caller: Option<usize>,
    /// Reply slots of the thread's CNode.
    reply_slots: Vec<Option<usize>>,
    caps: Vec<(EndpointId, Cap)>,
    endpoint: Option<usize>,
    bound: Option<usize>,
    delivered: Option<Delivery>,
    dead: bool,
}

#[derive(Debug, Default)]
struct Endpoint {
    senders: VecDeque<usize>,
    receivers: VecDeque<usize>,
}

#[derive(Debug, Default)]
struct Notification {
    word: u64,
    bound: Option<usize>,
}

#[derive(Debug, Default)]
struct Model {
    threads: Vec<Tcb>,
    endpoints: Vec<Endpoint>,
    notifications: Vec<Notification>,
    /// The regions' memory, per composition, in region-table order.
    regions: Vec<Vec<Vec<u8>>>,
    now_ns: u64,
    stopping: bool,
}

/// A region as one PD maps it: its view of the region's memory.
#[derive(Debug)]
struct Mapping {
    /// The region's place in [`Model::regions`].
    composition: usize,
    index: usize,
    writable: bool,
    view: Vec<u8>,
    /// Whether `view` holds the region's memory as of the last kernel entry.
    loaded: bool,
    /// Whether the PD may have written `view` since.
    dirty: bool,
}

#[derive(Debug, Default)]
struct Shared {
    model: Mutex<Model>,
    changed: Condvar,
}

/// The kernel of a set of PDs on host threads.
#[derive(Clone, Debug, Default)]
pub struct HostKernel {
    shared: Arc<Shared>,
}

/// One PD's thread: its kernel calls and its IPC buffer. Moved to the thread that runs the PD.
#[derive(Debug)]
pub struct HostPd {
    shared: Arc<Shared>,
    thread: usize,
    registers: Box<[u64; MESSAGE_REGISTERS]>,
    /// Per region of the composition, how this PD maps it.
    mappings: Vec<Option<Mapping>>,
}

/// The PDs of a composition, as [`HostKernel::compose`] built them.
#[derive(Debug)]
pub struct Composed {
    /// One PD per component, in component order.
    pub pds: Vec<Option<HostPd>>,
    /// The root task, holding a capability to every server's endpoint.
    pub root: HostRoot,
}

/// The root task's side: reports a component's death to the servers it called.
#[derive(Debug)]
pub struct HostRoot {
    pd: HostPd,
    abi: Sel4Abi,
    /// Per component, the thread of its PD.
    threads: Vec<usize>,
    /// Per client, the (server, badge) of every call capability it holds.
    calls: Vec<Vec<(ComponentId, u32)>>,
}

impl HostKernel {
    /// A kernel with no objects yet.
    pub fn new() -> HostKernel {
        HostKernel::default()
    }

    fn lock(&self) -> MutexGuard<'_, Model> {
        lock(&self.shared)
    }

    /// Build one PD per component of `tables` as the root task does: every PD a notification
    /// bound to its thread, a server an endpoint and `reply_slots(component)` reply slots; every
    /// call capability is badged `abi.endpoint_badge(badge)`, every notification capability with
    /// its bits; the root task gets a capability with `abi.root_task_badge` to every server's
    /// endpoint, as `EndpointId(server)`.
    pub fn compose(
        &self,
        tables: &Tables<'_>,
        abi: Sel4Abi,
        reply_slots: impl Fn(ComponentId) -> usize,
    ) -> Composed {
        let mut model = self.lock();
        let first = model.threads.len();
        let mut servers = Vec::new();
        let mut notifications = Vec::new();
        for (index, spec) in tables.components.iter().enumerate() {
            let endpoint = (spec.kind == ComponentKind::Handler).then(|| {
                model.endpoints.push(Endpoint::default());
                model.endpoints.len().saturating_sub(1)
            });
            let thread = model.threads.len();
            let notification = model.notifications.len();
            model.notifications.push(Notification {
                word: 0,
                bound: Some(thread),
            });
            servers.push(endpoint);
            notifications.push(notification);
            model.threads.push(Tcb {
                name: spec.name.to_string(),
                state: ThreadState::Running,
                caller: None,
                reply_slots: vec![None; reply_slots(ComponentId(index as u16))],
                caps: Vec::new(),
                endpoint,
                bound: Some(notification),
                delivered: None,
                dead: false,
            });
        }
        let threads: Vec<usize> = (first..model.threads.len()).collect();
        let mut calls = vec![Vec::new(); tables.components.len()];
        for spec in tables.endpoints {
            let cap = match (spec.kind, servers[spec.server.index()]) {
                (EndpointKind::Call, Some(endpoint)) => {
                    calls[spec.client.index()].push((spec.server, spec.badge.0));
                    Cap::Endpoint {
                        endpoint,
                        badge: abi.endpoint_badge(spec.badge),
                    }
                }
                (EndpointKind::Call, None) => continue,
                (EndpointKind::Notify, _) => Cap::Notification {
                    notification: notifications[spec.server.index()],
                    badge: u64::from(spec.badge.0),
                },
            };
            model.threads[threads[spec.client.index()]]
                .caps
                .push((spec.id, cap));
        }
        let root_caps = (servers.iter().enumerate())
            .filter_map(|(index, endpoint)| Some((index, (*endpoint)?)))
            .map(|(index, endpoint)| {
                let cap = Cap::Endpoint {
                    endpoint,
                    badge: abi.root_task_badge,
                };
                (EndpointId(index as u16), cap)
            })
            .collect();
        let root = model.threads.len();
        model.threads.push(Tcb {
            name: "root".to_string(),
            state: ThreadState::Running,
            caller: None,
            reply_slots: Vec::new(),
            caps: root_caps,
            endpoint: None,
            bound: None,
            delivered: None,
            dead: false,
        });
        let composition = model.regions.len();
        model.regions.push(
            (tables.regions.iter())
                .map(|region| vec![0; region.size as usize])
                .collect(),
        );
        drop(model);
        let pds = (threads.iter().enumerate())
            .map(|(index, &thread)| {
                let mut pd = self.pd(thread);
                pd.mappings = mappings(tables, ComponentId(index as u16), composition);
                Some(pd)
            })
            .collect();
        Composed {
            pds,
            root: HostRoot {
                pd: self.pd(root),
                abi,
                threads,
                calls,
            },
        }
    }

    fn pd(&self, thread: usize) -> HostPd {
        HostPd {
            shared: Arc::clone(&self.shared),
            thread,
            registers: Box::new([0; MESSAGE_REGISTERS]),
            mappings: Vec::new(),
        }
    }

    /// Wake every blocked thread with nothing (a receive returns badge 0, a call fails with
    /// `ServerDied`), and every later block too, so that the PDs' threads can be joined.
    pub fn stop(&self) {
        self.lock().stopping = true;
        self.shared.changed.notify_all();
    }

    /// Whether [`Self::stop`] was called.
    pub fn stopped(&self) -> bool {
        self.lock().stopping
    }

    /// The clock.
    pub fn now_ns(&self) -> u64 {
        self.lock().now_ns
    }
}

impl HostRoot {
    /// `component` faulted: the kernel cancels what its thread was blocked in (a reply
    /// capability to it is deleted wherever it sits), and the root task sends every server it
    /// held a call capability to the client-died message with its badge there (a `Call`, so
    /// each server has run `client_died` when this returns). Returns the servers told.
    pub fn kill(&mut self, component: ComponentId) -> usize {
        let Some(&thread) = self.threads.get(component.index()) else {
            return 0;
        };
        {
            let mut model = lock(&self.pd.shared);
            kill_thread(&mut model, thread);
        }
        self.pd.shared.changed.notify_all();
        let servers = self.calls[component.index()].clone();
        for &(server, badge) in &servers {
            let info =
                wire::put_client_died(&self.abi, crate::Badge(badge), &mut *self.pd.registers);
            // The root task's capability to every server is `EndpointId(server)`.
            let _ = self.pd.call(EndpointId(server.0), info);
        }
        servers.len()
    }
}

/// The regions `me` maps, as the root task maps them: read-write what it owns or is granted for
/// writing, read-only what it is granted for reading.
fn mappings(tables: &Tables<'_>, me: ComponentId, composition: usize) -> Vec<Option<Mapping>> {
    (tables.regions.iter().enumerate())
        .map(|(index, region)| {
            let writable = if region.owner == me {
                true
            } else {
                (tables.grants.iter())
                    .find(|g| g.region == region.id && g.component == me)?
                    .writable
            };
            Some(Mapping {
                composition,
                index,
                writable,
                view: vec![0; region.size as usize],
                loaded: false,
                dirty: false,
            })
        })
        .collect()
}

fn lock(shared: &Shared) -> MutexGuard<'_, Model> {
    shared
        .model
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The kernel's side of a thread's death: out of every queue, its reply capabilities deleted.
fn kill_thread(model: &mut Model, thread: usize) {
    for endpoint in &mut model.endpoints {
        endpoint.senders.retain(|&t| t != thread);
        endpoint.receivers.retain(|&t| t != thread);
    }
    for tcb in &mut model.threads {
        if tcb.caller == Some(thread) {
            tcb.caller = None;
        }
        for slot in &mut tcb.reply_slots {
            if *slot == Some(thread) {
                *slot = None;
            }
        }
    }
    let tcb = &mut model.threads[thread];
    tcb.state = ThreadState::Inactive;
    tcb.dead = true;
}

/// Hand `delivery` to blocked thread `thread` and make it run.
fn wake(model: &mut Model, thread: usize, delivery: Delivery) {
    let tcb = &mut model.threads[thread];
    tcb.state = ThreadState::Running;
    tcb.delivered = Some(delivery);
}

/// Answer `target` if it waits for a reply.
fn reply_to(model: &mut Model, target: usize, info: MessageInfo, registers: &[u64]) {
    if model.threads[target].state == ThreadState::BlockedOnReply {
        let delivery = Delivery {
            received: Received { badge: 0, info },
            registers: registers[..info.length.min(MESSAGE_REGISTERS)].to_vec(),
        };
        wake(model, target, delivery);
    }
}

/// A message from `sender` reaches `receiver`: a call leaves its reply capability in the
/// receiver's caller slot, a send lets the sender run on.
fn transfer(model: &mut Model, sender: usize, receiver: usize, message: ThreadState) {
    let ThreadState::BlockedOnSend {
        badge,
        call,
        info,
        registers,
        ..
    } = message
    else {
        return;
    };
    wake(
        model,
        receiver,
        Delivery {
            received: Received { badge, info },
            registers,
        },
    );
    if call {
        model.threads[receiver].caller = Some(sender);
        model.threads[sender].state = ThreadState::BlockedOnReply;
    } else {
        wake(
            model,
            sender,
            Delivery {
                received: Received::default(),
                registers: Vec::new(),
            },
        );
    }
}

impl HostPd {
    fn lock(&self) -> MutexGuard<'_, Model> {
        lock(&self.shared)
    }

    /// A kernel entry: what this PD wrote to its regions reaches them, and its next access reads
    /// them afresh.
    fn sync(&mut self, model: &mut Model) {
        for mapping in self.mappings.iter_mut().flatten() {
            if mapping.dirty {
                model.regions[mapping.composition][mapping.index].copy_from_slice(&mapping.view);
            }
            mapping.loaded = false;
            mapping.dirty = false;
        }
    }

    /// Enter the kernel: lock the model and sync the regions.
    fn enter(&mut self) -> MutexGuard<'_, Model> {
        let shared = Arc::clone(&self.shared);
        let mut model = lock(&shared);
        self.sync(&mut model);
        drop(model);
        self.lock()
    }

    /// This PD's view of region `index`, loaded if stale.
    fn view(&mut self, index: usize) -> Option<&mut Mapping> {
        let shared = Arc::clone(&self.shared);
        let mapping = self.mappings.get_mut(index)?.as_mut()?;
        if !mapping.loaded {
            let model = lock(&shared);
            mapping
                .view
                .copy_from_slice(&model.regions[mapping.composition][mapping.index]);
            mapping.loaded = true;
        }
        Some(mapping)
    }

    /// Block until something is delivered to this thread; `None` when the kernel is stopping.
    fn block<'a>(&'a self, mut model: MutexGuard<'a, Model>) -> Option<Delivery> {
        let since = Instant::now();
        loop {
            let tcb = &mut model.threads[self.thread];
            if let Some(delivery) = tcb.delivered.take() {
                return Some(delivery);
            }
            assert!(!tcb.dead, "{} ran on after it was killed", tcb.name);
            if model.stopping {
                let me = self.thread;
                for endpoint in &mut model.endpoints {
                    endpoint.senders.retain(|&t| t != me);
                    endpoint.receivers.retain(|&t| t != me);
                }
                model.threads[me].state = ThreadState::Running;
                return None;
            }
            assert!(
                since.elapsed() < HANG,
                "{} blocked for {HANG:?} in {:?}",
                model.threads[self.thread].name,
                model.threads[self.thread].state
            );
            model = self
                .shared
                .changed
                .wait_timeout(model, Duration::from_millis(100))
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// Take `delivery` into this thread's registers; its badge and info.
    fn accept(&mut self, delivery: Delivery) -> Received {
        self.registers[..delivery.registers.len()].copy_from_slice(&delivery.registers);
        delivery.received
    }

    /// A receive on this PD's endpoint, `info` left in the info register (what a signal returns).
    fn receive(&mut self, blocking: bool, info: MessageInfo) -> Received {
        let me = self.thread;
        let shared = Arc::clone(&self.shared);
        let mut model = lock(&shared);
        self.sync(&mut model);
        model.threads[me].caller = None;
        if let Some(notification) = model.threads[me].bound {
            let word = std::mem::take(&mut model.notifications[notification].word);
            if word != 0 {
                return Received { badge: word, info };
            }
        }
        let endpoint = model.threads[me]
            .endpoint
            .expect("a PD without an endpoint does not receive on one");
        if let Some(sender) = model.endpoints[endpoint].senders.pop_front() {
            let message = std::mem::replace(&mut model.threads[sender].state, ThreadState::Running);
            transfer(&mut model, sender, me, message);
            let delivery = model.threads[me].delivered.take().expect("just delivered");
            drop(model);
            shared.changed.notify_all();
            return self.accept(delivery);
        }
        if !blocking {
            return Received::default();
        }
        model.threads[me].state = ThreadState::BlockedOnReceive;
        model.endpoints[endpoint].receivers.push_back(me);
        let delivery = self.block(model);
        match delivery {
            Some(delivery) => self.accept(delivery),
            None => Received::default(),
        }
    }
}

impl Sel4Kernel for HostPd {
    fn message_registers(&mut self) -> &mut [u64; MESSAGE_REGISTERS] {
        &mut self.registers
    }

    fn recv(&mut self) -> Received {
        self.receive(true, MessageInfo::default())
    }

    fn nb_recv(&mut self) -> Received {
        self.receive(false, MessageInfo::default())
    }

    fn reply_recv(&mut self, reply: MessageInfo) -> Received {
        self.reply(reply);
        self.receive(true, reply)
    }

    fn reply(&mut self, reply: MessageInfo) {
        let thread = self.thread;
        let registers = self.registers.to_vec();
        let mut model = self.enter();
        if let Some(caller) = model.threads[thread].caller.take() {
            reply_to(&mut model, caller, reply, &registers);
        }
        drop(model);
        self.shared.changed.notify_all();
    }

    fn save_caller(&mut self, slot: u16) -> Result<(), KernelError> {
        let thread = self.thread;
        let mut model = self.enter();
        let tcb = &mut model.threads[thread];
        let caller = tcb.caller;
        let target = tcb
            .reply_slots
            .get_mut(usize::from(slot))
            .ok_or(KernelError::RangeError)?;
        if target.is_some() {
            return Err(KernelError::DeleteFirst);
        }
        *target = caller;
        tcb.caller = None;
        Ok(())
    }

    fn delete_saved(&mut self, slot: u16) -> Result<(), KernelError> {
        let thread = self.thread;
        let mut model = self.enter();
        let target = model.threads[thread]
            .reply_slots
            .get_mut(usize::from(slot))
            .ok_or(KernelError::RangeError)?;
        *target = None;
        Ok(())
    }

    fn send_saved(&mut self, slot: u16, reply: MessageInfo) {
        let thread = self.thread;
        let registers = self.registers.to_vec();
        let mut model = self.enter();
        let saved = model.threads[thread]
            .reply_slots
            .get_mut(usize::from(slot))
            .and_then(Option::take);
        if let Some(caller) = saved {
            reply_to(&mut model, caller, reply, &registers);
        }
        drop(model);
        self.shared.changed.notify_all();
    }

    fn call(
        &mut self,
        endpoint: EndpointId,
        request: MessageInfo,
    ) -> Result<MessageInfo, IpcError> {
        let me = self.thread;
        let shared = Arc::clone(&self.shared);
        let mut model = lock(&shared);
        self.sync(&mut model);
        let cap = model.threads[me]
            .caps
            .iter()
            .find(|(id, _)| *id == endpoint)
            .map(|(_, cap)| *cap);
        let Some(Cap::Endpoint {
            endpoint: object,
            badge,
        }) = cap
        else {
            return Err(IpcError::NoSuchEndpoint);
        };
        let message = ThreadState::BlockedOnSend {
            endpoint: object,
            badge,
            call: true,
            info: request,
            registers: self.registers[..request.length.min(MESSAGE_REGISTERS)].to_vec(),
        };
        if let Some(receiver) = model.endpoints[object].receivers.pop_front() {
            transfer(&mut model, me, receiver, message);
            shared.changed.notify_all();
        } else {
            model.threads[me].state = message;
            model.endpoints[object].senders.push_back(me);
        }
        let delivery = self.block(model).ok_or(IpcError::ServerDied)?;
        Ok(self.accept(delivery).info)
    }

    fn signal(&mut self, endpoint: EndpointId) -> Result<(), IpcError> {
        let thread = self.thread;
        let mut model = self.enter();
        let cap = model.threads[thread]
            .caps
            .iter()
            .find(|(id, _)| *id == endpoint)
            .map(|(_, cap)| *cap);
        let Some(Cap::Notification {
            notification,
            badge,
        }) = cap
        else {
            return Err(IpcError::NoSuchEndpoint);
        };
        model.notifications[notification].word |= badge;
        if let Some(bound) = model.notifications[notification].bound {
            let state = &model.threads[bound].state;
            if *state == ThreadState::BlockedOnReceive
                || *state == ThreadState::BlockedOnNotification
            {
                let word = std::mem::take(&mut model.notifications[notification].word);
                for endpoint in &mut model.endpoints {
                    endpoint.receivers.retain(|&t| t != bound);
                }
                let delivery = Delivery {
                    received: Received {
                        badge: word,
                        info: MessageInfo::default(),
                    },
                    registers: Vec::new(),
                };
                wake(&mut model, bound, delivery);
            }
        }
        drop(model);
        self.shared.changed.notify_all();
        Ok(())
    }

    fn wait_notification(&mut self) -> u64 {
        let me = self.thread;
        let shared = Arc::clone(&self.shared);
        let mut model = lock(&shared);
        self.sync(&mut model);
        let notification = model.threads[me]
            .bound
            .expect("every PD has its notification");
        let word = std::mem::take(&mut model.notifications[notification].word);
        if word != 0 {
            return word;
        }
        model.threads[me].state = ThreadState::BlockedOnNotification;
        match self.block(model) {
            Some(delivery) => self.accept(delivery).badge,
            None => 0,
        }
    }

    fn poll_notification(&mut self) -> u64 {
        let me = self.thread;
        let mut model = self.enter();
        let notification = model.threads[me]
            .bound
            .expect("every PD has its notification");
        std::mem::take(&mut model.notifications[notification].word)
    }

    fn yield_now(&mut self) {
        {
            let mut model = self.enter();
            model.now_ns = model.now_ns.saturating_add(YIELD_TICK_NS);
        }
        std::thread::yield_now();
    }

    fn now_ns(&self) -> u64 {
        self.lock().now_ns
    }

    fn region_mut(&mut self, index: usize) -> Option<&mut [u8]> {
        let mapping = self.view(index).filter(|m| m.writable)?;
        mapping.dirty = true;
        Some(&mut mapping.view)
    }

    fn region(&mut self, index: usize) -> Option<&[u8]> {
        self.view(index).map(|mapping| &mapping.view[..])
    }
}

#[cfg(test)]
mod tests;
