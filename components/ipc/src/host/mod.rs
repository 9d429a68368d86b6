//! The host runtime: one OS thread per handler component, real blocking calls over channels,
//! deferred replies, a timer per component, shared regions as locked heap memory, and client
//! and server death. External components are driven through [`ClientHandle`]s.

mod client;
mod component;
mod shared;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

pub use client::{ClientHandle, RegionBytes};

use crate::checked_tables::{place_handlers, CheckedTables, TablesError};
use crate::kernel::Handler;
use crate::tables::{ComponentId, ComponentKind, EndpointKind};
use crate::RuntimeError;

use shared::{Caller, Event, Reply, Shared, Slot};

/// A composition running on OS threads. Dropping it stops every component and joins them.
#[derive(Debug)]
pub struct HostRuntime {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    /// The reply channels of external components, until their handles are taken.
    external: Vec<Option<Receiver<Reply>>>,
}

impl HostRuntime {
    /// Start every handler component of `tables` on its own thread, with the handler given
    /// for it (exactly one per handler component, none for external ones).
    pub fn start(
        tables: CheckedTables,
        handlers: Vec<(ComponentId, Box<dyn Handler + Send>)>,
    ) -> Result<HostRuntime, TablesError> {
        let handlers = place_handlers(&tables, handlers)?;
        let mut slots = Vec::with_capacity(handlers.len());
        let mut inboxes = Vec::with_capacity(handlers.len());
        let mut reply_channels = Vec::with_capacity(handlers.len());
        for component in tables.component_ids() {
            let (replies, reply_rx) = channel();
            reply_channels.push(Some(reply_rx));
            let inbox = match tables.kind(component) {
                Some(ComponentKind::Handler) => {
                    let (tx, rx) = channel();
                    inboxes.push(Some(rx));
                    Some(tx)
                }
                _ => {
                    inboxes.push(None);
                    None
                }
            };
            slots.push(Slot {
                inbox,
                bits: AtomicU32::new(0),
                alive: AtomicBool::new(true),
                replies,
            });
        }
        let regions = tables
            .regions()
            .iter()
            .map(|r| Mutex::new(vec![0u8; r.size as usize].into_boxed_slice()))
            .collect();
        let shared = Arc::new(Shared {
            tables,
            slots,
            regions,
            epoch: Instant::now(),
        });
        let mut runtime = HostRuntime {
            shared: Arc::clone(&shared),
            threads: Vec::new(),
            external: Vec::new(),
        };
        let parts = handlers.into_iter().zip(inboxes).zip(reply_channels);
        for (me, ((handler, inbox), replies)) in shared.tables.component_ids().zip(parts) {
            let (handler, inbox, replies) = match (handler, inbox, replies) {
                (Some(handler), Some(inbox), Some(replies)) => (handler, inbox, replies),
                (_, _, replies) => {
                    runtime.external.push(replies);
                    continue;
                }
            };
            runtime.external.push(None);
            let caller = Caller {
                me,
                replies,
                seq: 0,
            };
            let thread_shared = Arc::clone(&shared);
            let name = shared.tables.name(me).unwrap_or("component").to_owned();
            let thread = std::thread::Builder::new()
                .name(name)
                .spawn(move || component::run(thread_shared, me, handler, inbox, caller))
                .map_err(|_| TablesError::SpawnFailed)?;
            runtime.threads.push(thread);
        }
        Ok(runtime)
    }

    /// The handle for external component `component`; each is handed out once.
    pub fn client(&mut self, component: ComponentId) -> Result<ClientHandle, RuntimeError> {
        match self.shared.tables.kind(component) {
            None => return Err(RuntimeError::UnknownComponent),
            Some(ComponentKind::Handler) => return Err(RuntimeError::NotExternal),
            Some(ComponentKind::External) => {}
        }
        let replies = self
            .external
            .get_mut(component.index())
            .and_then(Option::take)
            .ok_or(RuntimeError::HandleTaken)?;
        Ok(ClientHandle {
            shared: Arc::clone(&self.shared),
            caller: Caller {
                me: component,
                replies,
                seq: 0,
            },
        })
    }

    /// Kill `component`: its servers get `client_died` with its badges and its outstanding
    /// reply tokens become void; its callers get [`crate::IpcError::ServerDied`]. A handler it
    /// is running goes on to its end with the kernel withdrawn: a call it is blocked in and
    /// later calls and notifications fail with `ServerDied`, leases with `BadLease`, its
    /// regions are refused and its replies dropped. Then its thread ends.
    pub fn kill(&self, component: ComponentId) -> Result<(), RuntimeError> {
        let slot = self
            .shared
            .slot(component)
            .ok_or(RuntimeError::UnknownComponent)?;
        if !slot.alive.swap(false, Ordering::AcqRel) {
            return Err(RuntimeError::AlreadyDead);
        }
        for capability in self.shared.tables.capabilities(component) {
            if capability.kind != EndpointKind::Call {
                continue;
            }
            let inbox = self
                .shared
                .slot(capability.server)
                .and_then(|s| s.inbox.as_ref());
            if let Some(inbox) = inbox {
                // A server that is gone needs no news.
                let _ = inbox.send(Event::ClientDied(capability.badge));
            }
        }
        stop(slot);
        Ok(())
    }

    /// Whether `component` is alive.
    pub fn is_alive(&self, component: ComponentId) -> bool {
        self.shared.slot(component).is_some_and(Slot::is_alive)
    }

    /// The runtime's clock, as handlers see it through `Sys::now_ns`.
    pub fn now_ns(&self) -> u64 {
        self.shared.now_ns()
    }

    /// The checked tables being run.
    pub fn tables(&self) -> &CheckedTables {
        &self.shared.tables
    }
}

/// Wake a dead component wherever it waits: in a call (a reply no call expects) or for its
/// next event.
fn stop(slot: &Slot) {
    let _ = slot.replies.send(Reply {
        seq: 0,
        outcome: Err(crate::IpcError::ServerDied),
    });
    if let Some(inbox) = &slot.inbox {
        let _ = inbox.send(Event::Stop);
    }
}

impl Drop for HostRuntime {
    fn drop(&mut self) {
        for slot in &self.shared.slots {
            slot.alive.store(false, Ordering::Release);
        }
        for slot in &self.shared.slots {
            stop(slot);
        }
        for thread in self.threads.drain(..) {
            // A handler that panicked has already reported it; the others have stopped.
            let _ = thread.join();
        }
    }
}
