//! The ports the core calls out through, defined here so the core stays free of IPC and Xen
//! calling conventions: reservation calls (the gateway, in production) and frame scrubbing.
//! [`HypervisorPort`] drives the core straight against any `Hypervisor`, for tests and benches.

use ballast_xen::{Completed, ExtentOrder, Gfn, Hypervisor, MemFlags, ReservationOp};

/// Why a port call failed. C-like, nonzero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PortError {
    /// The gateway refused the call before reaching Xen (capability, order, alignment, range):
    /// nothing changed.
    Refused = 1,
    /// The gateway died or the transport failed during the call: Xen may have done any prefix.
    GatewayDied = 2,
    /// Xen answered an errno (only `current_reservation` can).
    Hypervisor = 3,
}

/// Reservation calls as the core needs them. Implemented by the IPC glue (a call to the gateway
/// with the frame list in a lease) and by [`HypervisorPort`].
pub trait ReservationPort {
    /// Run `op` over `frames` (one extent of `order` each) and report the completed prefix.
    fn reservation(
        &mut self,
        op: ReservationOp,
        order: ExtentOrder,
        flags: MemFlags,
        frames: &mut [Gfn],
    ) -> Result<Completed, PortError>;

    /// The domain's current page count (`XENMEM_current_reservation`).
    fn current_reservation(&mut self) -> Result<u64, PortError>;
}

/// Zeroes frames before they go back to Xen (Xen does not scrub: `docs/XEN-BEHAVIOUR.md#no-scrub`).
pub trait FrameScrubber {
    /// Zero `frames` frames starting at `first`.
    fn scrub(&mut self, first: Gfn, frames: u64);
}

/// A [`ReservationPort`] that calls a [`Hypervisor`] directly.
#[derive(Debug)]
pub struct HypervisorPort<'h, H: Hypervisor> {
    hypervisor: &'h mut H,
}

impl<'h, H: Hypervisor> HypervisorPort<'h, H> {
    /// A port over `hypervisor`.
    pub fn new(hypervisor: &'h mut H) -> Self {
        HypervisorPort { hypervisor }
    }
}

impl<H: Hypervisor> ReservationPort for HypervisorPort<'_, H> {
    fn reservation(
        &mut self,
        op: ReservationOp,
        order: ExtentOrder,
        flags: MemFlags,
        frames: &mut [Gfn],
    ) -> Result<Completed, PortError> {
        Ok(self.hypervisor.reservation(op, order, flags, frames))
    }

    fn current_reservation(&mut self) -> Result<u64, PortError> {
        self.hypervisor
            .current_reservation()
            .map_err(|_| PortError::Hypervisor)
    }
}
