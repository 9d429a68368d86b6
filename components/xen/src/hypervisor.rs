//! The `Hypervisor` trait: the calls the hypercall gateway makes, with Xen's return conventions
//! in the types. Implemented by the real backends and by `ballast-xen-sim`.

use crate::abi::{EventPort, ShutdownReason};
use crate::{ExtentOrder, Gfn, MemFlags, ReservationOp};

/// An errno Xen returned (the positive value; Xen returns its negation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct XenErrno(pub i32);

impl XenErrno {
    /// `EPERM`.
    pub const EPERM: XenErrno = XenErrno(1);
    /// `ESRCH`: no such domain.
    pub const ESRCH: XenErrno = XenErrno(3);
    /// `EFAULT`: a bad guest pointer.
    pub const EFAULT: XenErrno = XenErrno(14);
    /// `EINVAL`.
    pub const EINVAL: XenErrno = XenErrno(22);
    /// `ENOSYS`: an unknown command.
    pub const ENOSYS: XenErrno = XenErrno(38);

    /// Decode a raw hypercall return value: negative values are errnos.
    pub const fn check(raw: i64) -> Result<u64, XenErrno> {
        if raw < 0 {
            Err(XenErrno(raw.unsigned_abs() as i32))
        } else {
            Ok(raw as u64)
        }
    }
}

/// The answer to a reservation op: how many extents, from the start of the list, Xen completed.
///
/// Xen never reports an errno for ops 0, 1 and 6; a short count is the failure. A raw value that
/// is negative or larger than the list is not trusted: it counts as 0 completed extents and is
/// kept in `anomaly` so that callers can report it.
/// Measured: `docs/XEN-BEHAVIOUR.md#short-count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completed {
    /// Extents completed: a prefix of the list.
    pub extents: usize,
    /// A raw return value that broke the convention, if any.
    pub anomaly: Option<i64>,
}

impl Completed {
    /// Interpret the raw return of a reservation op over `requested` extents.
    pub const fn from_raw(raw: i64, requested: usize) -> Completed {
        if raw < 0 || raw as u64 > requested as u64 {
            Completed {
                extents: 0,
                anomaly: Some(raw),
            }
        } else {
            Completed {
                extents: raw as usize,
                anomaly: None,
            }
        }
    }

    /// All of `requested` extents completed.
    pub const fn all(requested: usize) -> Completed {
        Completed {
            extents: requested,
            anomaly: None,
        }
    }

    /// Whether fewer than `requested` extents completed.
    pub const fn is_short(&self, requested: usize) -> bool {
        self.extents < requested
    }
}

/// The hypervisor calls ballast needs, always on the calling domain (`DOMID_SELF`).
///
/// Implementations do not validate policy (alignment, ownership, maximum order): that is the
/// gateway's job. They pass the request to Xen and report its answer faithfully.
pub trait Hypervisor {
    /// Run `op` over `frames`, one extent of `order` per entry. Returns the completed prefix.
    /// For [`ReservationOp::Increase`], Xen may write frame numbers back into `frames`.
    fn reservation(
        &mut self,
        op: ReservationOp,
        order: ExtentOrder,
        flags: MemFlags,
        frames: &mut [Gfn],
    ) -> Completed;

    /// `XENMEM_current_reservation`: the domain's current page count.
    fn current_reservation(&mut self) -> Result<u64, XenErrno>;

    /// `XENMEM_maximum_reservation`: the domain's page limit.
    fn maximum_reservation(&mut self) -> Result<u64, XenErrno>;

    /// Write bytes to the Xen console.
    fn console_write(&mut self, bytes: &[u8]) -> Result<(), XenErrno>;

    /// `EVTCHNOP_send`: notify the other end of the domain's event channel `port`. Xen answers
    /// `EINVAL` for a port that is not bound.
    fn event_send(&mut self, port: EventPort) -> Result<(), XenErrno>;

    /// `SCHEDOP_shutdown` with `reason`. On real Xen a shutdown that Xen accepts stops every vCPU
    /// of the domain, so this returns only with Xen's refusal; a simulated Xen records the
    /// shutdown and returns `Ok`.
    fn shutdown(&mut self, reason: ShutdownReason) -> Result<(), XenErrno>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_convention_returns_count_as_nothing_done_and_are_reported() {
        assert_eq!(
            Completed::from_raw(3, 4),
            Completed {
                extents: 3,
                anomaly: None
            }
        );
        assert_eq!(
            Completed::from_raw(-14, 4),
            Completed {
                extents: 0,
                anomaly: Some(-14)
            }
        );
        assert_eq!(
            Completed::from_raw(5, 4),
            Completed {
                extents: 0,
                anomaly: Some(5)
            }
        );
        assert!(Completed::from_raw(3, 4).is_short(4));
        assert!(!Completed::all(4).is_short(4));
    }

    #[test]
    fn errnos_are_negated_returns() {
        assert_eq!(XenErrno::check(-3), Err(XenErrno::ESRCH));
        assert_eq!(XenErrno::check(32768), Ok(32768));
    }
}
