//! The gateway as an IPC server: the generated `HypercallServer` over the gateway, one method per
//! Xen operation, with the gateway's caller table as the permission check dispatch runs first, and the
//! `Handler` a runtime runs.
//!
//! An errno from Xen travels as `HypercallError::XenErrno`: error replies carry no body, so its
//! value stays in the gateway (counted per op and caller as a Xen error).
//!
//! The frame list arrives as the lease bytes and is viewed in place as `[Gfn]` (zerocopy), so Xen
//! reads the caller's list and writes back into it without a copy. A lease that is empty, not a
//! whole number of 8-byte frame numbers, or not 8-byte aligned is refused with `BadFrameList`.
//! A grant lease is viewed the same way as entries ([`ballast_interfaces::grants`]); the gateway copies
//! each into its own buffer before checking it. One that is empty, not a whole number of entries
//! or misaligned is refused with `BadGrantList`.

use core::borrow::BorrowMut;

use ballast_interfaces::hypercall::{
    self, CurrentReservationReply, CurrentReservationResponder, DecreaseReservationReply,
    DecreaseReservationResponder, EventSendResponder, GrantMapReply, GrantMapResponder,
    GrantUnmapReply, GrantUnmapResponder, HypercallError, HypercallServer,
    IncreaseReservationReply, IncreaseReservationResponder, LendNoticeResponder,
    MaximumReservationReply, MaximumReservationResponder, PopulatePhysmapReply,
    PopulatePhysmapResponder, ReturnNoticeResponder, ShutdownResponder,
};
use ballast_interfaces::support::{Answer, ReadWriteLease};
use ballast_ipc::{Badge, Handler, IncomingCall, NotificationBits, Sys};
use ballast_xen::grant::GrantTable;
use ballast_xen::{Completed, Gfn, Hypervisor, ReservationOp};
use zerocopy::FromBytes;

use ballast_interfaces::grants::{GrantMapEntry, GrantUnmapEntry};

use crate::gateway::Serving;
use crate::{Gateway, GatewayError, QueryError};

/// The wire error a refusal travels as. The interface folds a few of the gateway's reasons
/// together: an unknown caller is not permitted, flags are part of the op, and a grant entry's
/// bad flags make a bad grant list.
pub const fn wire_error(error: GatewayError) -> HypercallError {
    match error {
        GatewayError::UnknownCaller | GatewayError::NotPermitted => HypercallError::NotPermitted,
        GatewayError::ForeignDomain => HypercallError::ForeignDomain,
        GatewayError::BadFlags => HypercallError::BadOp,
        GatewayError::OrderTooLarge => HypercallError::OrderTooLarge,
        GatewayError::TooManyFrames => HypercallError::TooManyFrames,
        GatewayError::Misaligned => HypercallError::Misaligned,
        GatewayError::NotOwned => HypercallError::FrameNotOwned,
        GatewayError::DuplicateFrame => HypercallError::DuplicateFrame,
        GatewayError::PortNotAllowed => HypercallError::PortNotAllowed,
        GatewayError::BadShutdownReason => HypercallError::BadShutdownReason,
        GatewayError::FrameNotLent => HypercallError::FrameNotLent,
        GatewayError::FrameMapped => HypercallError::FrameMapped,
        GatewayError::BadGrantEntry => HypercallError::BadGrantList,
        GatewayError::UnknownHandle => HypercallError::UnknownHandle,
        GatewayError::TooManyGrants => HypercallError::TooManyGrants,
        GatewayError::AlreadyLent => HypercallError::AlreadyLent,
        GatewayError::BadBorrower => HypercallError::BadBorrower,
        GatewayError::DomainNotAllowed => HypercallError::DomainNotAllowed,
        GatewayError::FramePopulated => HypercallError::FramePopulated,
        GatewayError::FrameNotPopulated => HypercallError::FrameNotPopulated,
    }
}

const fn query_wire_error(error: QueryError) -> HypercallError {
    match error {
        QueryError::Refused(reason) => wire_error(reason),
        QueryError::Xen(_) => HypercallError::XenErrno,
    }
}

/// What Xen completed, as the reply fields of the three reservation ops carry it: the count, and
/// the raw return value as bits when Xen broke the convention.
const fn completed_fields(completed: Completed) -> (u64, u64, bool) {
    match completed.anomaly {
        Some(raw) => (completed.extents as u64, raw as u64, true),
        None => (completed.extents as u64, 0, false),
    }
}

impl<
        B: BorrowMut<[u64]>,
        H: Hypervisor + GrantTable,
        const CALLERS: usize,
        const RANGES: usize,
        const FRAMES: usize,
    > Serving<'_, B, H, CALLERS, RANGES, FRAMES>
{
    /// One reservation op over the frame list in the caller's lease.
    #[allow(clippy::too_many_arguments)]
    fn serve_reservation(
        &mut self,
        sys: &mut dyn Sys,
        badge: Badge,
        op: ReservationOp,
        mem_flags: u32,
        domid: u16,
        extent_order: u8,
        frames: ReadWriteLease,
    ) -> Result<(u64, u64, bool), HypercallError> {
        let list = match frames.bytes(sys).map(<[Gfn]>::mut_from_bytes) {
            Ok(Ok(list)) if !list.is_empty() => list,
            _ => {
                self.count_bad_frame_list();
                return Err(HypercallError::BadFrameList);
            }
        };
        self.reservation(badge, op, extent_order, mem_flags, domid, list)
            .map(completed_fields)
            .map_err(wire_error)
    }
}

impl<
        B: BorrowMut<[u64]>,
        H: Hypervisor + GrantTable,
        const CALLERS: usize,
        const RANGES: usize,
        const FRAMES: usize,
    > HypercallServer for Serving<'_, B, H, CALLERS, RANGES, FRAMES>
{
    fn current_reservation(
        &mut self,
        _: &mut dyn Sys,
        badge: Badge,
        reply: CurrentReservationResponder,
    ) -> Answer {
        match Serving::current_reservation(self, badge) {
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
        match Serving::maximum_reservation(self, badge) {
            Ok(pages) => reply.ok(MaximumReservationReply { pages }).into(),
            Err(error) => reply.err(query_wire_error(error)).into(),
        }
    }

    fn increase_reservation(
        &mut self,
        sys: &mut dyn Sys,
        badge: Badge,
        mem_flags: u32,
        domid: u16,
        extent_order: u8,
        frames: ReadWriteLease,
        reply: IncreaseReservationResponder,
    ) -> Answer {
        let op = ReservationOp::Increase;
        match self.serve_reservation(sys, badge, op, mem_flags, domid, extent_order, frames) {
            Ok((completed, anomaly, has_anomaly)) => reply
                .ok(IncreaseReservationReply {
                    completed,
                    anomaly,
                    has_anomaly,
                })
                .into(),
            Err(error) => reply.err(error).into(),
        }
    }

    fn decrease_reservation(
        &mut self,
        sys: &mut dyn Sys,
        badge: Badge,
        mem_flags: u32,
        domid: u16,
        extent_order: u8,
        frames: ReadWriteLease,
        reply: DecreaseReservationResponder,
    ) -> Answer {
        let op = ReservationOp::Decrease;
        match self.serve_reservation(sys, badge, op, mem_flags, domid, extent_order, frames) {
            Ok((completed, anomaly, has_anomaly)) => reply
                .ok(DecreaseReservationReply {
                    completed,
                    anomaly,
                    has_anomaly,
                })
                .into(),
            Err(error) => reply.err(error).into(),
        }
    }

    fn populate_physmap(
        &mut self,
        sys: &mut dyn Sys,
        badge: Badge,
        mem_flags: u32,
        domid: u16,
        extent_order: u8,
        frames: ReadWriteLease,
        reply: PopulatePhysmapResponder,
    ) -> Answer {
        let op = ReservationOp::Populate;
        match self.serve_reservation(sys, badge, op, mem_flags, domid, extent_order, frames) {
            Ok((completed, anomaly, has_anomaly)) => reply
                .ok(PopulatePhysmapReply {
                    completed,
                    anomaly,
                    has_anomaly,
                })
                .into(),
            Err(error) => reply.err(error).into(),
        }
    }

    fn event_send(
        &mut self,
        _: &mut dyn Sys,
        badge: Badge,
        port: u32,
        reply: EventSendResponder,
    ) -> Answer {
        match Serving::event_send(self, badge, port) {
            Ok(()) => reply.ok().into(),
            Err(error) => reply.err(query_wire_error(error)).into(),
        }
    }

    fn shutdown(
        &mut self,
        _: &mut dyn Sys,
        badge: Badge,
        reason: u32,
        reply: ShutdownResponder,
    ) -> Answer {
        match Serving::shutdown(self, badge, reason) {
            Ok(()) => reply.ok().into(),
            Err(error) => reply.err(query_wire_error(error)).into(),
        }
    }

    fn grant_map(
        &mut self,
        sys: &mut dyn Sys,
        badge: Badge,
        domid: u16,
        entries: ReadWriteLease,
        reply: GrantMapResponder,
    ) -> Answer {
        let list = match entries.bytes(sys).map(<[GrantMapEntry]>::mut_from_bytes) {
            Ok(Ok(list)) if !list.is_empty() => list,
            _ => {
                self.count_bad_frame_list();
                return reply.err(HypercallError::BadGrantList).into();
            }
        };
        match Serving::grant_map(self, badge, domid, list) {
            Ok(mapped) => reply.ok(GrantMapReply { mapped }).into(),
            Err(error) => reply.err(query_wire_error(error)).into(),
        }
    }

    fn grant_unmap(
        &mut self,
        sys: &mut dyn Sys,
        badge: Badge,
        entries: ReadWriteLease,
        reply: GrantUnmapResponder,
    ) -> Answer {
        let list = match entries.bytes(sys).map(<[GrantUnmapEntry]>::mut_from_bytes) {
            Ok(Ok(list)) if !list.is_empty() => list,
            _ => {
                self.count_bad_frame_list();
                return reply.err(HypercallError::BadGrantList).into();
            }
        };
        match Serving::grant_unmap(self, badge, list) {
            Ok(unmapped) => reply.ok(GrantUnmapReply { unmapped }).into(),
            Err(error) => reply.err(query_wire_error(error)).into(),
        }
    }

    fn lend_notice(
        &mut self,
        _: &mut dyn Sys,
        badge: Badge,
        borrower: u32,
        first_gfn: u64,
        count: u64,
        reply: LendNoticeResponder,
    ) -> Answer {
        match Serving::lend_notice(self, badge, borrower, first_gfn, count) {
            Ok(()) => reply.ok().into(),
            Err(error) => reply.err(query_wire_error(error)).into(),
        }
    }

    fn return_notice(
        &mut self,
        _: &mut dyn Sys,
        badge: Badge,
        borrower: u32,
        first_gfn: u64,
        count: u64,
        reply: ReturnNoticeResponder,
    ) -> Answer {
        match Serving::return_notice(self, badge, borrower, first_gfn, count) {
            Ok(()) => reply.ok().into(),
            Err(error) => reply.err(query_wire_error(error)).into(),
        }
    }
}

impl<
        B: BorrowMut<[u64]>,
        H: Hypervisor + GrantTable,
        const CALLERS: usize,
        const RANGES: usize,
        const FRAMES: usize,
    > Handler for Gateway<B, H, CALLERS, RANGES, FRAMES>
{
    /// Dispatch checks the call against the caller table (the caller holds the op), the gateway then
    /// checks the request; the table is read in place, never copied.
    fn protected(&mut self, sys: &mut dyn Sys, call: IncomingCall<'_>) {
        let (mut serving, table) = self.serving();
        if hypercall::dispatch(&mut serving, sys, call, table).is_err() {
            self.count_protocol_rejection();
        }
    }

    /// The gateway sets no timer and is signalled by no one: every request is a call.
    fn notified(&mut self, _: &mut dyn Sys, _: NotificationBits) {}

    /// The gateway keeps no deferred replies; what a dead client leaves is the grants it mapped.
    /// They are unmapped here, so that the frames it borrowed hold nothing of another domain when
    /// the memory server takes them back (its return notice is refused while any mapping stays).
    fn client_died(&mut self, _: &mut dyn Sys, badge: Badge) {
        self.unmap_all(badge);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_interfaces::hypercall::HypercallOp;

    use crate::op_of;

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
        assert_eq!(
            wire_error(GatewayError::PortNotAllowed),
            HypercallError::PortNotAllowed
        );
        assert_eq!(
            wire_error(GatewayError::BadShutdownReason),
            HypercallError::BadShutdownReason
        );
        assert_eq!(
            wire_error(GatewayError::BadGrantEntry),
            HypercallError::BadGrantList
        );
        assert_eq!(
            wire_error(GatewayError::FrameNotLent),
            HypercallError::FrameNotLent
        );
        let errno = QueryError::Xen(ballast_xen::XenErrno::ESRCH);
        assert_eq!(query_wire_error(errno), HypercallError::XenErrno);
    }

    #[test]
    fn an_anomaly_travels_as_its_raw_bits() {
        let (completed, anomaly, has_anomaly) = completed_fields(Completed {
            extents: 0,
            anomaly: Some(-14),
        });
        assert_eq!((completed, anomaly as i64, has_anomaly), (0, -14, true));
        let fields = completed_fields(Completed {
            extents: 7,
            anomaly: None,
        });
        assert_eq!(fields, (7, 0, false));
    }

    #[test]
    fn each_xen_operation_is_its_own_op() {
        let ops = [
            ReservationOp::Increase,
            ReservationOp::Decrease,
            ReservationOp::Populate,
        ]
        .map(op_of);
        assert_eq!(
            ops,
            [
                HypercallOp::IncreaseReservation,
                HypercallOp::DecreaseReservation,
                HypercallOp::PopulatePhysmap
            ]
        );
    }
}
