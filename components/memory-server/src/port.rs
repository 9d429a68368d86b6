//! The core's `ReservationPort` over IPC: each batch is one call to the hypercall gateway with the
//! frame list in the lease region the memory server shares with it.

use ballast_interfaces::hypercall::{HypercallClient, HypercallError};
use ballast_interfaces::support::CallError;
use ballast_ipc::{LeaseDescriptor, LeaseId, Sys};
use ballast_xen::{Completed, ExtentOrder, Gfn, MemFlags, ReservationOp, DOMID_SELF};
use zerocopy::IntoBytes;

use ballast_memory_server_core::{PortError, ReservationPort};

/// A reservation port for the duration of one handler invocation.
pub struct GatewayPort<'s> {
    sys: &'s mut dyn Sys,
    gateway: HypercallClient,
    frame_list: LeaseId,
}

impl<'s> GatewayPort<'s> {
    /// A port calling `gateway`, lending `frame_list` (a region this component owns).
    pub fn new(sys: &'s mut dyn Sys, gateway: HypercallClient, frame_list: LeaseId) -> Self {
        GatewayPort {
            sys,
            gateway,
            frame_list,
        }
    }
}

impl core::fmt::Debug for GatewayPort<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GatewayPort")
            .field("frame_list", &self.frame_list)
            .finish_non_exhaustive()
    }
}

fn port_error(error: CallError<HypercallError>) -> PortError {
    match error {
        CallError::Interface(HypercallError::ServerRestarted) | CallError::Transport(_) => {
            PortError::GatewayDied
        }
        CallError::Interface(HypercallError::XenErrno) => PortError::Hypervisor,
        CallError::Interface(_) | CallError::Protocol(_) => PortError::Refused,
    }
}

impl ReservationPort for GatewayPort<'_> {
    fn reservation(
        &mut self,
        op: ReservationOp,
        order: ExtentOrder,
        flags: MemFlags,
        frames: &mut [Gfn],
    ) -> Result<Completed, PortError> {
        let bytes = frames.as_mut_bytes();
        let region = self
            .sys
            .own_region(self.frame_list)
            .ok_or(PortError::Refused)?;
        let window = region.get_mut(..bytes.len()).ok_or(PortError::Refused)?;
        window.copy_from_slice(bytes);
        let lease = LeaseDescriptor {
            region: self.frame_list.0,
            writable: 1,
            offset: 0,
            len: bytes.len() as u32,
            reserved: 0,
        };
        let (flags, order) = (flags.raw(), order.get());
        // One `Hypercall` op per Xen operation; the three share one reply layout.
        let reply = match op {
            ReservationOp::Increase => self
                .gateway
                .increase_reservation(self.sys, flags, DOMID_SELF, order, lease)
                .map(|r| (r.completed, r.anomaly, r.has_anomaly)),
            ReservationOp::Decrease => self
                .gateway
                .decrease_reservation(self.sys, flags, DOMID_SELF, order, lease)
                .map(|r| (r.completed, r.anomaly, r.has_anomaly)),
            ReservationOp::Populate => self
                .gateway
                .populate_physmap(self.sys, flags, DOMID_SELF, order, lease)
                .map(|r| (r.completed, r.anomaly, r.has_anomaly)),
        };
        let (completed, anomaly, has_anomaly) = reply.map_err(port_error)?;
        // Xen writes frame numbers back for increase_reservation: keep the list in step.
        if let Some(region) = self.sys.own_region(self.frame_list) {
            bytes.copy_from_slice(&region[..bytes.len()]);
        }
        let requested = frames.len();
        Ok(match (has_anomaly, usize::try_from(completed)) {
            (true, _) => Completed::from_raw(anomaly as i64, requested),
            (false, Ok(done)) if done <= requested => Completed {
                extents: done,
                anomaly: None,
            },
            (false, _) => Completed {
                extents: 0,
                anomaly: Some(completed as i64),
            },
        })
    }

    fn current_reservation(&mut self) -> Result<u64, PortError> {
        self.gateway
            .current_reservation(self.sys)
            .map(|reply| reply.pages)
            .map_err(port_error)
    }
}
