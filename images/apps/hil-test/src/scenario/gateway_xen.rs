//! Xen as the scenario reaches it through the hypercall gateway: every reservation is one IPC
//! call with the frame list in the lent region, every query one call, through the generated
//! `Hypercall` client stubs, so that the gateway's checks (capability, order, alignment, owned
//! ranges) pass on every request before Xen sees it. A refusal is logged and reads as nothing
//! done, which the scenario's checks catch.

use ballast_interfaces::hypercall::{HypercallClient, HypercallError};
use ballast_interfaces::support::CallError;
use ballast_ipc::{LeaseId, Sys};
use ballast_memory_server::{lend_frame_list, reserve_through_gateway, GatewayCallError};
use ballast_xen::{
    Completed, ExtentOrder, Gfn, Hypervisor, MemFlags, ReservationOp, XenErrno, DOMID_SELF,
};
use zerocopy::IntoBytes;

use super::{Checks, Layout};

/// The gateway, called by the component the scenario stands in for.
pub struct GatewayXen<'s> {
    sys: &'s mut dyn Sys,
    gateway: HypercallClient,
    frame_list: LeaseId,
    /// Calls the gateway refused or the transport failed.
    pub failures: u32,
}

impl core::fmt::Debug for GatewayXen<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GatewayXen")
            .field("gateway", &self.gateway)
            .field("frame_list", &self.frame_list)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

fn log_failure(what: &str, error: CallError<HypercallError>) {
    match error {
        CallError::Interface(error) => {
            defmt::error!("gateway {=str} refused: error={=u16}", what, error as u16)
        }
        CallError::Protocol(error) => {
            defmt::error!("gateway {=str} protocol error={=u16}", what, error as u16)
        }
        CallError::Transport(error) => {
            defmt::error!("gateway {=str} transport error={=u16}", what, error as u16)
        }
    }
}

impl<'s> GatewayXen<'s> {
    /// Calls through `gateway` from the component behind `sys`, lending `frame_list`.
    pub fn new(sys: &'s mut dyn Sys, gateway: HypercallClient, frame_list: LeaseId) -> Self {
        GatewayXen {
            sys,
            gateway,
            frame_list,
            failures: 0,
        }
    }

    /// Ask the gateway to release one frame the caller does not own; returns the gateway's
    /// refusal (`None` if it let the call through or failed otherwise).
    pub fn release_unowned(&mut self, gfn: Gfn) -> Option<HypercallError> {
        let lease = lend_frame_list(self.sys, self.frame_list, [gfn].as_bytes())?;
        match self
            .gateway
            .decrease_reservation(self.sys, 0, DOMID_SELF, 0, lease)
        {
            Err(CallError::Interface(error)) => Some(error),
            _ => None,
        }
    }

    fn query(
        &mut self,
        what: &str,
        ask: fn(&HypercallClient, &mut dyn Sys) -> Result<u64, CallError<HypercallError>>,
    ) -> Result<u64, XenErrno> {
        ask(&self.gateway, self.sys).map_err(|error| {
            self.failures += 1;
            log_failure(what, error);
            XenErrno::EPERM
        })
    }
}

impl Hypervisor for GatewayXen<'_> {
    fn reservation(
        &mut self,
        op: ReservationOp,
        order: ExtentOrder,
        flags: MemFlags,
        frames: &mut [Gfn],
    ) -> Completed {
        let call = (op, order, flags);
        match reserve_through_gateway(self.sys, &self.gateway, self.frame_list, call, frames) {
            Ok(completed) => completed,
            Err(error) => {
                self.failures += 1;
                match error {
                    GatewayCallError::FrameListTooLarge => defmt::error!(
                        "frame list of {=usize} frames does not fit its region",
                        frames.len()
                    ),
                    GatewayCallError::Call(error) => log_failure("reservation", error),
                }
                Completed {
                    extents: 0,
                    anomaly: None,
                }
            }
        }
    }

    fn current_reservation(&mut self) -> Result<u64, XenErrno> {
        self.query("current_reservation", |gateway, sys| {
            gateway.current_reservation(sys).map(|reply| reply.pages)
        })
    }

    fn maximum_reservation(&mut self) -> Result<u64, XenErrno> {
        self.query("maximum_reservation", |gateway, sys| {
            gateway.maximum_reservation(sys).map(|reply| reply.pages)
        })
    }

    /// The gateway serves no console: the image logs through its own.
    fn console_write(&mut self, _bytes: &[u8]) -> Result<(), XenErrno> {
        Err(XenErrno::ENOSYS)
    }
}

/// The gateway's checks are on: a frame the caller does not own is refused before Xen sees it.
/// The frame is the one just past the hole, which nobody owns and Xen does not back, so even a
/// gateway that let the request through would break nothing.
pub(super) fn refuse_unowned(xen: &mut GatewayXen<'_>, checks: &mut Checks, layout: Layout) {
    checks.context = "gateway";
    let unowned = Gfn(layout.hole.end());
    let before = xen.current_reservation().unwrap_or(0);
    let refusal = xen.release_unowned(unowned);
    let after = xen.current_reservation().unwrap_or(0);
    defmt::info!(
        "gateway_refusal gfn={=u64:#x} error={=u16} before={=u64} after={=u64}",
        unowned.0,
        refusal.map_or(0, |error| error as u16),
        before,
        after
    );
    checks.expect(
        "refuses_frames_not_owned",
        refusal == Some(HypercallError::FrameNotOwned),
    );
    checks.expect_eq("refusal_reached_no_xen", after, before);
}
