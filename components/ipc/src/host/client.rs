//! The handle an external thread (a test, the simulator's driver, a toolstack agent) uses to act
//! as an external component: call endpoints with its badges, notify, take the bits others raised
//! on it, fill its own regions.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use crate::kernel::{EndpointId, IpcError, LeaseDescriptor, LeaseId, NotificationBits};
use crate::tables::ComponentId;

use super::shared::{Caller, Shared};

/// One external component, driven from an ordinary thread. Calls block that thread.
#[derive(Debug)]
pub struct ClientHandle {
    pub(super) shared: Arc<Shared>,
    pub(super) caller: Caller,
}

impl ClientHandle {
    /// The component this handle acts as.
    pub fn component(&self) -> ComponentId {
        self.caller.me
    }

    /// Call `endpoint` (as numbered for this component), lending `lease` if given, and block
    /// until the reply, which is copied into `reply`; returns its length. Fails with
    /// [`IpcError::ServerDied`] if the server dies meanwhile or this component was killed.
    pub fn call(
        &mut self,
        endpoint: EndpointId,
        request: &[u8],
        lease: Option<LeaseDescriptor>,
        reply: &mut [u8],
    ) -> Result<usize, IpcError> {
        self.caller
            .call(&self.shared, endpoint, request, lease, reply)
    }

    /// Raise `bits` on the component behind notification capability `endpoint`.
    pub fn notify(&mut self, endpoint: EndpointId, bits: NotificationBits) -> Result<(), IpcError> {
        self.shared.notify(self.caller.me, endpoint, bits)
    }

    /// The notification bits raised on this component since it last took them (a driver that
    /// waits for a signal polls this between its own work).
    pub fn take_notified(&self) -> NotificationBits {
        let slot = self.shared.slot(self.caller.me);
        NotificationBits(slot.map_or(0, |slot| slot.bits.swap(0, Ordering::AcqRel)))
    }

    /// The bytes of a region this component owns (to fill before lending, or read after).
    pub fn region(&mut self, id: LeaseId) -> Option<RegionBytes<'_>> {
        let index = self.shared.tables.region_index(id)?;
        if self.shared.tables.regions()[index].owner != self.caller.me {
            return None;
        }
        Some(RegionBytes {
            guard: self.shared.lock_region(index)?,
        })
    }
}

/// A region's bytes, locked for as long as this lives.
#[derive(Debug)]
pub struct RegionBytes<'a> {
    guard: MutexGuard<'a, Box<[u8]>>,
}

impl Deref for RegionBytes<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.guard
    }
}

impl DerefMut for RegionBytes<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.guard
    }
}
