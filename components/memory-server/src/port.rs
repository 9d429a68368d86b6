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

/// Why a reservation through the gateway did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayCallError {
    /// The frame list does not fit the region it is lent in.
    FrameListTooLarge,
    /// The gateway refused the call, or the transport failed.
    Call(CallError<HypercallError>),
}

/// Copy `bytes` to the start of region `frame_list` (owned by the caller) and describe them as a
/// read-write lease; `None` if the region is not the caller's or too small.
pub fn lend_frame_list(
    sys: &mut dyn Sys,
    frame_list: LeaseId,
    bytes: &[u8],
) -> Option<LeaseDescriptor> {
    let window = sys.own_region(frame_list)?.get_mut(..bytes.len())?;
    window.copy_from_slice(bytes);
    Some(LeaseDescriptor {
        region: frame_list.0,
        writable: 1,
        offset: 0,
        len: u32::try_from(bytes.len()).ok()?,
        reserved: 0,
    })
}

/// One reservation through the gateway: `frames` lent in region `frame_list` with the call of the
/// `Hypercall` op for `op`, and copied back afterwards (Xen writes frame numbers back for an
/// increase). Xen's answer is a prefix of the list, or an anomaly when it broke the convention.
pub fn reserve_through_gateway(
    sys: &mut dyn Sys,
    gateway: &HypercallClient,
    frame_list: LeaseId,
    (op, order, flags): (ReservationOp, ExtentOrder, MemFlags),
    frames: &mut [Gfn],
) -> Result<Completed, GatewayCallError> {
    let requested = frames.len();
    let bytes = frames.as_mut_bytes();
    let lease =
        lend_frame_list(sys, frame_list, bytes).ok_or(GatewayCallError::FrameListTooLarge)?;
    let (flags, order) = (flags.raw(), order.get());
    // One `Hypercall` op per Xen operation; the three share one reply layout.
    let reply = match op {
        ReservationOp::Increase => gateway
            .increase_reservation(sys, flags, DOMID_SELF, order, lease)
            .map(|r| (r.completed, r.anomaly, r.has_anomaly)),
        ReservationOp::Decrease => gateway
            .decrease_reservation(sys, flags, DOMID_SELF, order, lease)
            .map(|r| (r.completed, r.anomaly, r.has_anomaly)),
        ReservationOp::Populate => gateway
            .populate_physmap(sys, flags, DOMID_SELF, order, lease)
            .map(|r| (r.completed, r.anomaly, r.has_anomaly)),
    };
    let (completed, anomaly, has_anomaly) = reply.map_err(GatewayCallError::Call)?;
    if let Some(region) = sys.own_region(frame_list) {
        bytes.copy_from_slice(&region[..bytes.len()]);
    }
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

impl ReservationPort for GatewayPort<'_> {
    fn reservation(
        &mut self,
        op: ReservationOp,
        order: ExtentOrder,
        flags: MemFlags,
        frames: &mut [Gfn],
    ) -> Result<Completed, PortError> {
        reserve_through_gateway(
            self.sys,
            &self.gateway,
            self.frame_list,
            (op, order, flags),
            frames,
        )
        .map_err(|error| match error {
            GatewayCallError::FrameListTooLarge => PortError::Refused,
            GatewayCallError::Call(error) => port_error(error),
        })
    }

    fn current_reservation(&mut self) -> Result<u64, PortError> {
        self.gateway
            .current_reservation(self.sys)
            .map(|reply| reply.pages)
            .map_err(port_error)
    }
}
