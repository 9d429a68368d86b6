//! Xen as the scenario reaches it through the hypercall gateway: every reservation is one IPC
//! call with the frame list in the lent region, every query, event send or shutdown one call,
//! through the generated `Hypercall` client stubs, so that the gateway's checks (capability,
//! order, alignment, owned ranges) pass on every request before Xen sees it. A refusal is logged and reads as nothing
//! done, which the scenario's checks catch.

use ballast_interfaces::hypercall::{HypercallClient, HypercallError};
use ballast_interfaces::support::CallError;
use ballast_ipc::{LeaseId, Sys};
use ballast_memory_server::{lend_frame_list, reserve_through_gateway, GatewayCallError};
use ballast_xen::abi::{EventPort, ShutdownReason};
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
    /// The largest extent order the gateway lets through (the manifest's `xen.max_extent_order`).
    max_order: u8,
    /// Calls the gateway refused or the transport failed.
    pub failures: u32,
}

impl core::fmt::Debug for GatewayXen<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GatewayXen")
            .field("gateway", &self.gateway)
            .field("frame_list", &self.frame_list)
            .field("max_order", &self.max_order)
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
    /// Calls through `gateway` from the component behind `sys`, lending `frame_list`; the gateway
    /// lets extents of at most `max_order` through (the manifest's `xen.max_extent_order`).
    pub fn new(
        sys: &'s mut dyn Sys,
        gateway: HypercallClient,
        frame_list: LeaseId,
        max_order: u8,
    ) -> Self {
        GatewayXen {
            sys,
            gateway,
            frame_list,
            max_order,
            failures: 0,
        }
    }

    /// Ask the gateway to release `frames` (extents of `order`) of domain `domid`; returns the
    /// gateway's refusal (`None` if it let the call through or failed otherwise).
    pub fn release_refused(
        &mut self,
        domid: u16,
        order: u8,
        frames: &[Gfn],
    ) -> Option<HypercallError> {
        let lease = lend_frame_list(self.sys, self.frame_list, frames.as_bytes())?;
        match self
            .gateway
            .decrease_reservation(self.sys, 0, domid, order, lease)
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
        ask(&self.gateway, self.sys).map_err(|error| self.refused(what, error))
    }

    /// A call the gateway refused or the transport failed: counted, logged, and read as `EPERM`.
    fn refused(&mut self, what: &str, error: CallError<HypercallError>) -> XenErrno {
        self.failures += 1;
        log_failure(what, error);
        XenErrno::EPERM
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

    fn event_send(&mut self, port: EventPort) -> Result<(), XenErrno> {
        let sent = self.gateway.event_send(self.sys, port);
        sent.map_err(|error| self.refused("event_send", error))
    }

    fn shutdown(&mut self, reason: ShutdownReason) -> Result<(), XenErrno> {
        let stopped = self.gateway.shutdown(self.sys, reason.raw());
        stopped.map_err(|error| self.refused("shutdown", error))
    }
}

/// One request a compromised memory server might make, and the refusal it must get.
struct Attempt {
    /// What it tries, in log lines.
    case: &'static str,
    domid: u16,
    order: u8,
    frames: [Gfn; 2],
    /// How many of `frames` the request lists.
    listed: usize,
    expected: HypercallError,
}

/// The gateway's checks are on, against a stand-in for a compromised memory server (the scenario
/// calls with the memory server's badge and nothing more): each request below is refused with its
/// typed error before Xen sees it, and Xen's count, read through the gateway before and after, does
/// not move. Each asks to release frames:
///
/// - `foreign_frame`: the frame just past the hole, outside every range the caller owns (nobody
///   owns it and Xen does not back it);
/// - `foreign_domain`: the first frame of its own RAM, but of domain 0;
/// - `order_too_large`: one extent of one order above the manifest's limit, aligned to it, in its
///   own RAM;
/// - `not_owned`: its own first frame and, after it, the frame past the hole: refused whole, so
///   that not even the owned frame goes.
pub(super) fn refuse_compromised(xen: &mut GatewayXen<'_>, checks: &mut Checks, layout: Layout) {
    checks.context = "gateway";
    let (own, unowned) = (Gfn(layout.free.start()), Gfn(layout.hole.end()));
    let too_large = xen.max_order.saturating_add(1);
    let aligned = Gfn(layout
        .free
        .start()
        .next_multiple_of(1u64 << too_large.min(63)));
    let attempts = [
        Attempt {
            case: "foreign_frame",
            domid: DOMID_SELF,
            order: 0,
            frames: [unowned, unowned],
            listed: 1,
            expected: HypercallError::FrameNotOwned,
        },
        Attempt {
            case: "foreign_domain",
            domid: 0,
            order: 0,
            frames: [own, own],
            listed: 1,
            expected: HypercallError::ForeignDomain,
        },
        Attempt {
            case: "order_too_large",
            domid: DOMID_SELF,
            order: too_large,
            frames: [aligned, aligned],
            listed: 1,
            expected: HypercallError::OrderTooLarge,
        },
        Attempt {
            case: "not_owned",
            domid: DOMID_SELF,
            order: 0,
            frames: [own, unowned],
            listed: 2,
            expected: HypercallError::FrameNotOwned,
        },
    ];
    for attempt in attempts {
        let before = xen.current_reservation().unwrap_or(0);
        let frames = &attempt.frames[..attempt.listed];
        let refusal = xen.release_refused(attempt.domid, attempt.order, frames);
        let after = xen.current_reservation().unwrap_or(0);
        let last = frames.last().map_or(0, |gfn| gfn.0);
        defmt::info!(
            "gateway_refusal case={=str} gfn={=u64:#x} frames={=usize} domid={=u16} order={=u8} error={=u16} expected={=u16} before={=u64} after={=u64}",
            attempt.case,
            last,
            frames.len(),
            attempt.domid,
            attempt.order,
            refusal.map_or(0, |error| error as u16),
            attempt.expected as u16,
            before,
            after
        );
        checks.expect(attempt.case, refusal == Some(attempt.expected));
        checks.expect_eq("refusal_reached_no_xen", after, before);
    }
}
