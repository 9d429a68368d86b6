//! The gateway as an IPC server: the generated `HypercallServer` over [`Gateway`], the permission
//! view dispatch checks first, and the `Handler` a runtime runs.
//!
//! The frame list arrives as the lease bytes and is viewed in place as `[Gfn]` (zerocopy), so Xen
//! reads the caller's list and writes back into it without a copy. A lease that is empty, not a
//! whole number of 8-byte frame numbers, or not 8-byte aligned is refused with `BadFrameList`.

use ballast_interfaces::hypercall::{
    self, CurrentReservationReply, CurrentReservationResponder, HypercallError, HypercallOp,
    HypercallServer, MaximumReservationReply, MaximumReservationResponder, ReservationReply,
    ReservationResponder,
};
use ballast_interfaces::support::{Answer, Permissions, ReadWriteLease};
use ballast_ipc::{Badge, Handler, IncomingCall, NotificationBits, Sys};
use ballast_xen::{Completed, Gfn, Hypervisor};
use heapless::Vec;
use zerocopy::FromBytes;

use crate::{Gateway, GatewayError, GatewayOp, OpSet, Policy, QueryError};

/// The wire error a refusal travels as. The interface folds a few of the gateway's reasons
/// together: an unknown caller is not permitted, and flags are part of the op.
pub const fn wire_error(error: GatewayError) -> HypercallError {
    match error {
        GatewayError::UnknownCaller | GatewayError::NotPermitted => HypercallError::NotPermitted,
        GatewayError::ForeignDomain => HypercallError::ForeignDomain,
        GatewayError::UnknownOp | GatewayError::BadFlags => HypercallError::BadOp,
        GatewayError::OrderTooLarge => HypercallError::OrderTooLarge,
        GatewayError::TooManyFrames => HypercallError::TooManyFrames,
        GatewayError::Misaligned => HypercallError::Misaligned,
        GatewayError::NotOwned => HypercallError::FrameNotOwned,
        GatewayError::DuplicateFrame => HypercallError::DuplicateFrame,
    }
}

/// The gateway ops an op of the `Hypercall` interface covers: a manifest granting `reservation`
/// grants increase, decrease and populate (the IDL's `xen.reservation` capability); each query
/// grants itself. For building a [`Policy`] from a manifest's `uses.Hypercall.ops`.
pub const fn ops_of(op: HypercallOp) -> OpSet {
    match op {
        HypercallOp::Reservation => OpSet::of(&[
            GatewayOp::Increase,
            GatewayOp::Decrease,
            GatewayOp::Populate,
        ]),
        HypercallOp::CurrentReservation => OpSet::of(&[GatewayOp::Current]),
        HypercallOp::MaximumReservation => OpSet::of(&[GatewayOp::Maximum]),
    }
}

const fn query_wire_error(error: QueryError) -> HypercallError {
    match error {
        QueryError::Refused(reason) => wire_error(reason),
        QueryError::Xen(_) => HypercallError::XenErrno,
    }
}

const fn reservation_reply(completed: Completed) -> ReservationReply {
    let (anomaly, has_anomaly) = match completed.anomaly {
        Some(raw) => (raw as u64, true),
        None => (0, false),
    };
    ReservationReply {
        completed: completed.extents as u64,
        anomaly,
        has_anomaly,
    }
}

/// Who may call which op of the `Hypercall` interface, as the gateway's policy says: an op is
/// allowed if the caller holds any gateway op it covers ([`ops_of`]; for `reservation` the
/// gateway then checks the exact one). A copy, so that dispatch can hold it while the gateway runs.
#[derive(Clone, Debug)]
pub struct PolicyPermissions<const CALLERS: usize> {
    callers: Vec<(Badge, OpSet), CALLERS>,
}

impl<const CALLERS: usize> PolicyPermissions<CALLERS> {
    /// The permission view of `policy`.
    pub fn of<const RANGES: usize>(policy: &Policy<CALLERS, RANGES>) -> PolicyPermissions<CALLERS> {
        let callers = policy
            .callers()
            .iter()
            .map(|caller| (caller.badge(), caller.ops()))
            .collect();
        PolicyPermissions { callers }
    }
}

impl<const CALLERS: usize> Permissions for PolicyPermissions<CALLERS> {
    fn allows(&self, badge: Badge, interface: u16, op: u16) -> bool {
        let Some((_, ops)) = self.callers.iter().find(|(known, _)| *known == badge) else {
            return false;
        };
        if interface != hypercall::INTERFACE_ID {
            return false;
        }
        HypercallOp::try_from(op).is_ok_and(|op| ops.intersects(ops_of(op)))
    }
}

impl<H: Hypervisor, const CALLERS: usize, const RANGES: usize, const FRAMES: usize> HypercallServer
    for Gateway<H, CALLERS, RANGES, FRAMES>
{
    fn reservation(
        &mut self,
        sys: &mut dyn Sys,
        badge: Badge,
        op: u8,
        extent_order: u8,
        mem_flags: u32,
        domid: u16,
        frames: ReadWriteLease,
        reply: ReservationResponder,
    ) -> Answer {
        let bytes = frames.bytes(sys).unwrap_or_default();
        let list = match <[Gfn]>::mut_from_bytes(bytes) {
            Ok(list) if !list.is_empty() => list,
            _ => {
                self.count_bad_frame_list();
                return reply.err(HypercallError::BadFrameList).into();
            }
        };
        match Gateway::reservation(self, badge, op, extent_order, mem_flags, domid, list) {
            Ok(completed) => reply.ok(reservation_reply(completed)).into(),
            Err(error) => reply.err(wire_error(error)).into(),
        }
    }

    fn current_reservation(
        &mut self,
        _: &mut dyn Sys,
        badge: Badge,
        reply: CurrentReservationResponder,
    ) -> Answer {
        match Gateway::current_reservation(self, badge) {
            Ok(pages) => reply.ok(CurrentReservationReply { pages }).into(),
            Err(error) => reply.err(query_wire_error(error)).into(),
        }
    }

    fn maximum_reservation(
        &mut self,
        _: &mut dyn Sys,
        badge: Badge,
        reply: MaximumReservationResponder,
    ) -> Answer {
        match Gateway::maximum_reservation(self, badge) {
            Ok(pages) => reply.ok(MaximumReservationReply { pages }).into(),
            Err(error) => reply.err(query_wire_error(error)).into(),
        }
    }
}

impl<H: Hypervisor, const CALLERS: usize, const RANGES: usize, const FRAMES: usize> Handler
    for Gateway<H, CALLERS, RANGES, FRAMES>
{
    fn protected(&mut self, sys: &mut dyn Sys, call: IncomingCall<'_>) {
        let permissions = PolicyPermissions::of(self.policy());
        if hypercall::dispatch(self, sys, call, &permissions).is_err() {
            self.count_protocol_rejection();
        }
    }

    /// The gateway sets no timer and is signalled by no one: every request is a call.
    fn notified(&mut self, _: &mut dyn Sys, _: NotificationBits) {}

    /// The gateway keeps nothing per client between calls (no deferred replies, no frames held),
    /// so a dead client leaves nothing to reclaim.
    fn client_died(&mut self, _: &mut dyn Sys, _: Badge) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CallerGrant, Limits};

    #[test]
    fn every_refusal_has_a_wire_error_and_same_named_ones_keep_their_name() {
        for error in GatewayError::ALL {
            let wire = wire_error(error);
            assert_ne!(wire, HypercallError::ServerRestarted);
            assert_ne!(wire, HypercallError::XenErrno);
        }
        assert_eq!(
            wire_error(GatewayError::NotOwned),
            HypercallError::FrameNotOwned
        );
        assert_eq!(
            wire_error(GatewayError::UnknownCaller),
            HypercallError::NotPermitted
        );
        assert_eq!(wire_error(GatewayError::BadFlags), HypercallError::BadOp);
        assert_eq!(
            wire_error(GatewayError::DuplicateFrame),
            HypercallError::DuplicateFrame
        );
        let errno = QueryError::Xen(ballast_xen::XenErrno::ESRCH);
        assert_eq!(query_wire_error(errno), HypercallError::XenErrno);
    }

    #[test]
    fn an_anomaly_travels_as_its_raw_bits() {
        let reply = reservation_reply(Completed {
            extents: 0,
            anomaly: Some(-14),
        });
        assert_eq!(
            (reply.completed, reply.anomaly as i64, reply.has_anomaly),
            (0, -14, true)
        );
        let reply = reservation_reply(Completed {
            extents: 7,
            anomaly: None,
        });
        assert_eq!(
            (reply.completed, reply.anomaly, reply.has_anomaly),
            (7, 0, false)
        );
    }

    #[test]
    fn interface_ops_cover_every_gateway_op_once() {
        let covered = HypercallOp::ALL.map(ops_of);
        for op in GatewayOp::ALL {
            assert_eq!(
                covered.iter().filter(|set| set.contains(op)).count(),
                1,
                "{op:?}"
            );
        }
    }

    #[test]
    fn permissions_follow_the_policy() {
        let id = hypercall::INTERFACE_ID;
        let [reservation, current, maximum] = HypercallOp::ALL.map(|op| op as u16);
        let grants = [
            CallerGrant {
                badge: Badge(1),
                ops: OpSet::of(&[GatewayOp::Populate]),
                ranges: &[],
            },
            CallerGrant {
                badge: Badge(2),
                ops: OpSet::of(&[GatewayOp::Maximum]),
                ranges: &[],
            },
        ];
        let limits = Limits {
            max_order: 0,
            max_frames_per_call: 1,
            own_domid: None,
        };
        let policy = Policy::<2, 1>::new(limits, &grants, &[]).expect("valid policy");
        let permissions = PolicyPermissions::of(&policy);
        assert!(permissions.allows(Badge(1), id, reservation));
        assert!(!permissions.allows(Badge(1), id, current));
        assert!(!permissions.allows(Badge(2), id, reservation));
        assert!(permissions.allows(Badge(2), id, maximum));
        assert!(!permissions.allows(Badge(2), id, current));
        assert!(!permissions.allows(Badge(3), id, maximum));
        assert!(!permissions.allows(Badge(2), id + 1, maximum));
        assert!(!permissions.allows(Badge(2), id, 0));
    }
}
