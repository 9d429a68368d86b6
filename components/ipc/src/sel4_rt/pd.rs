//! What every PD's runtime does the same way, server or not: its calls (the capability and the
//! lease checked against the composition before the kernel sees them, the reply read back),
//! its notifications, its own regions and its clock.

use crate::kernel::{EndpointId, IpcError, LeaseDescriptor, LeaseId, NotificationBits};
use crate::lease::check_lend;
use crate::static_rt::tables::capability;
use crate::tables::{ComponentId, EndpointKind, Tables};

use super::kernel::Sel4Kernel;
use super::{regions, wire};

/// One PD: its kernel, the composition, who it is, and where read-only leases are copied.
#[derive(Debug)]
pub(crate) struct Pd<'t, 'r, K> {
    pub kernel: K,
    pub tables: Tables<'t>,
    pub me: ComponentId,
    pub scratch: &'r mut [u8],
}

impl<K: Sel4Kernel> Pd<'_, '_, K> {
    /// Call through capability `endpoint`, lending `lease` (a window of a region this PD owns);
    /// the reply's length in `reply`.
    pub fn call(
        &mut self,
        endpoint: EndpointId,
        request: &[u8],
        lease: Option<LeaseDescriptor>,
        reply: &mut [u8],
    ) -> Result<usize, IpcError> {
        capability(&self.tables, self.me, endpoint)
            .filter(|c| c.kind == EndpointKind::Call)
            .ok_or(IpcError::NoSuchEndpoint)?;
        if let Some(lease) = &lease {
            check_lend(&self.tables, self.me, lease)?;
        }
        let registers = self.kernel.message_registers();
        let info = wire::put(registers, wire::LABEL_CALL, request, lease.as_ref())?;
        let answer = self.kernel.call(endpoint, info)?;
        wire::take_reply(self.kernel.message_registers(), answer, reply)
    }

    /// Raise `bits` through notification capability `endpoint`. On seL4 the bits a signal raises
    /// are its capability's badge, which the root task mints from the composition: `bits` must be
    /// exactly those (else this PD holds no capability that raises them).
    pub fn notify(&mut self, endpoint: EndpointId, bits: NotificationBits) -> Result<(), IpcError> {
        capability(&self.tables, self.me, endpoint)
            .filter(|c| c.kind == EndpointKind::Notify && c.badge.0 == bits.0)
            .ok_or(IpcError::NoSuchEndpoint)?;
        self.kernel.signal(endpoint)
    }

    /// The bytes of a region this PD owns.
    pub fn own_region(&mut self, region: LeaseId) -> Option<&mut [u8]> {
        regions::owned(&mut self.kernel, &self.tables, self.me, region)
    }
}
