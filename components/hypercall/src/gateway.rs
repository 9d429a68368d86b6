//! The gateway itself: the only holder of the Hypervisor backend. Every request is checked against
//! the policy table, in a fixed order, and reaches Xen only if every check passes.

use ballast_ipc::Badge;
use ballast_xen::{Completed, ExtentOrder, Gfn, Hypervisor, MemFlags, ReservationOp, XenErrno};

use crate::checks::{all_aligned, all_owned, has_repeat};
use crate::counters::{Attribution, GatewayCounters};
use crate::{GatewayError, GatewayOp, Policy, PolicyError, QueryError};

/// The hypercall gateway over backend `H`, for at most `CALLERS` callers of at most `RANGES`
/// ranges each, and lists of at most `FRAMES` extents (the policy's per-call maximum must fit).
#[derive(Debug)]
pub struct Gateway<H, const CALLERS: usize, const RANGES: usize, const FRAMES: usize> {
    hypervisor: H,
    policy: Policy<CALLERS, RANGES>,
    counters: GatewayCounters<CALLERS>,
    scratch: [Gfn; FRAMES],
}

impl<H: Hypervisor, const CALLERS: usize, const RANGES: usize, const FRAMES: usize>
    Gateway<H, CALLERS, RANGES, FRAMES>
{
    /// A gateway that owns `hypervisor` and enforces `policy`. Fails if the policy allows more
    /// extents per call than `FRAMES`.
    pub fn new(hypervisor: H, policy: Policy<CALLERS, RANGES>) -> Result<Self, PolicyError> {
        if policy.max_frames_per_call() > FRAMES {
            return Err(PolicyError::BadFramesPerCall);
        }
        let counters = GatewayCounters::new(policy.callers().iter().map(|caller| caller.badge()));
        Ok(Gateway {
            hypervisor,
            policy,
            counters,
            scratch: [Gfn(0); FRAMES],
        })
    }

    /// Run reservation `op` (0 increase, 1 decrease, 6 populate) for `caller` over `frames`, one
    /// extent of `order` each.
    ///
    /// Checked in this order, the first failure refusing the request before anything reaches
    /// Xen: the caller is in the table and holds the capability for the op; `domid` is this guest;
    /// the op is one of the three; the order is at most the configured maximum; the list is at
    /// most the configured length; every frame is aligned to its extent; every extent lies inside
    /// one range the caller owns; a populate list names no extent twice.
    ///
    /// An increase list is output only (Xen reads nothing from it and writes machine frames back
    /// for a non-translated guest), so the frame checks do not apply to it.
    ///
    /// An empty list completes 0 extents without a hypercall, as Xen would answer it. Otherwise
    /// Xen's answer is passed through exactly: a short count is Xen's failure report, not an error.
    pub fn reservation(
        &mut self,
        caller: Badge,
        op: u8,
        order: u8,
        mem_flags: u32,
        domid: u16,
        frames: &mut [Gfn],
    ) -> Result<Completed, GatewayError> {
        let decoded = ReservationOp::from_raw(u32::from(op));
        let known = self.policy.caller(caller).map(|(index, _)| index);
        let who = Attribution {
            op: decoded.map(GatewayOp::of_reservation),
            caller: known,
        };
        self.counters.call(who);
        let (op, order) = match self.check_reservation(caller, decoded, order, domid, frames) {
            Ok(checked) => checked,
            Err(reason) => {
                self.counters.rejection(who, reason);
                return Err(reason);
            }
        };
        let completed = if frames.is_empty() {
            Completed::all(0)
        } else {
            self.counters.hypercall(who);
            self.hypervisor
                .reservation(op, order, MemFlags::from_raw(mem_flags), frames)
        };
        self.counters.reservation(who, frames.len(), completed);
        Ok(completed)
    }

    fn check_reservation(
        &mut self,
        caller: Badge,
        op: Option<ReservationOp>,
        order: u8,
        domid: u16,
        frames: &[Gfn],
    ) -> Result<(ReservationOp, ExtentOrder), GatewayError> {
        let (_, entry) = self
            .policy
            .caller(caller)
            .ok_or(GatewayError::UnknownCaller)?;
        if op.is_some_and(|op| !entry.may(GatewayOp::of_reservation(op))) {
            return Err(GatewayError::NotPermitted);
        }
        if !self.policy.is_self(domid) {
            return Err(GatewayError::ForeignDomain);
        }
        let op = op.ok_or(GatewayError::UnknownOp)?;
        let order = ExtentOrder::new(order)
            .filter(|order| *order <= self.policy.max_order())
            .ok_or(GatewayError::OrderTooLarge)?;
        if frames.len() > self.policy.max_frames_per_call() {
            return Err(GatewayError::TooManyFrames);
        }
        if op == ReservationOp::Increase {
            return Ok((op, order));
        }
        if !all_aligned(frames, order) {
            return Err(GatewayError::Misaligned);
        }
        if !all_owned(frames, order, entry) {
            return Err(GatewayError::NotOwned);
        }
        if op == ReservationOp::Populate && has_repeat(frames, &mut self.scratch) {
            return Err(GatewayError::DuplicateFrame);
        }
        Ok((op, order))
    }

    /// `XENMEM_current_reservation` for `caller`: the guest's page count.
    pub fn current_reservation(&mut self, caller: Badge) -> Result<u64, QueryError> {
        self.query(caller, GatewayOp::Current, H::current_reservation)
    }

    /// `XENMEM_maximum_reservation` for `caller`: the guest's page limit.
    pub fn maximum_reservation(&mut self, caller: Badge) -> Result<u64, QueryError> {
        self.query(caller, GatewayOp::Maximum, H::maximum_reservation)
    }

    fn query(
        &mut self,
        caller: Badge,
        op: GatewayOp,
        ask: fn(&mut H) -> Result<u64, XenErrno>,
    ) -> Result<u64, QueryError> {
        let entry = self.policy.caller(caller);
        let who = Attribution {
            op: Some(op),
            caller: entry.map(|(index, _)| index),
        };
        self.counters.call(who);
        let refusal = match entry {
            None => Some(GatewayError::UnknownCaller),
            Some((_, entry)) if !entry.may(op) => Some(GatewayError::NotPermitted),
            Some(_) => None,
        };
        if let Some(reason) = refusal {
            self.counters.rejection(who, reason);
            return Err(QueryError::Refused(reason));
        }
        self.counters.hypercall(who);
        ask(&mut self.hypervisor).map_err(|errno| {
            self.counters.xen_error(who);
            QueryError::Xen(errno)
        })
    }

    /// The gateway's counters.
    pub fn counters(&self) -> &GatewayCounters<CALLERS> {
        &self.counters
    }

    /// The policy it enforces.
    pub fn policy(&self) -> &Policy<CALLERS, RANGES> {
        &self.policy
    }
}

#[cfg(test)]
mod tests {
    //! Until `ballast-xen-sim` lands, a counting backend stands in for Xen: it records how many
    //! calls reached it and answers with a fixed budget of extents.
    use core::cell::Cell;

    use super::*;
    use crate::{CallerGrant, GfnRange, Limits, OpSet};
    use ballast_xen::DOMID_SELF;

    struct CountingXen<'a> {
        calls: &'a Cell<u32>,
        budget: usize,
        current: Result<u64, XenErrno>,
    }

    impl Hypervisor for CountingXen<'_> {
        fn reservation(
            &mut self,
            _: ReservationOp,
            _: ExtentOrder,
            _: MemFlags,
            frames: &mut [Gfn],
        ) -> Completed {
            self.calls.set(self.calls.get() + 1);
            Completed {
                extents: frames.len().min(self.budget),
                anomaly: None,
            }
        }
        fn current_reservation(&mut self) -> Result<u64, XenErrno> {
            self.calls.set(self.calls.get() + 1);
            self.current
        }
        fn maximum_reservation(&mut self) -> Result<u64, XenErrno> {
            self.calls.set(self.calls.get() + 1);
            Err(XenErrno::ESRCH)
        }
        fn console_write(&mut self, _: &[u8]) -> Result<(), XenErrno> {
            Ok(())
        }
    }

    const SERVER: Badge = Badge(1);
    const READER: Badge = Badge(2);
    const STRANGER: Badge = Badge(99);
    const OWNED_START: u64 = 0x10_000;
    const OWNED_FRAMES: u64 = 0x1000;
    const GATEWAY_OWN: u64 = 0x100;
    /// A range that does not start on a superpage boundary: a superpage can straddle its start.
    const UNALIGNED_START: u64 = 0x20_100;
    const UNALIGNED_FRAMES: u64 = 0x300;

    fn gateway(calls: &Cell<u32>, budget: usize) -> Gateway<CountingXen<'_>, 2, 2, 8> {
        let owned = [
            GfnRange::new(Gfn(OWNED_START), OWNED_FRAMES).expect("valid"),
            GfnRange::new(Gfn(UNALIGNED_START), UNALIGNED_FRAMES).expect("valid"),
        ];
        let grants = [
            CallerGrant {
                badge: SERVER,
                ops: OpSet::of(&[GatewayOp::Decrease, GatewayOp::Populate, GatewayOp::Current]),
                ranges: &owned,
            },
            CallerGrant {
                badge: READER,
                ops: OpSet::of(&[GatewayOp::Maximum]),
                ranges: &[],
            },
        ];
        let protected = [GfnRange::new(Gfn(GATEWAY_OWN), 0x10).expect("valid")];
        let limits = Limits {
            max_order: 9,
            max_frames_per_call: 4,
            own_domid: Some(5),
        };
        let policy = Policy::new(limits, &grants, &protected).expect("valid policy");
        let xen = CountingXen {
            calls,
            budget,
            current: Ok(0x8000),
        };
        Gateway::new(xen, policy).expect("policy fits")
    }

    fn refused(
        caller: Badge,
        op: u8,
        order: u8,
        domid: u16,
        frames: &mut [Gfn],
        expected: GatewayError,
    ) {
        let calls = Cell::new(0);
        let mut gateway = gateway(&calls, usize::MAX);
        let first = frames[0];
        assert_eq!(
            gateway.reservation(caller, op, order, 0, domid, frames),
            Err(expected)
        );
        assert_eq!(calls.get(), 0, "nothing reached Xen");
        assert_eq!(frames[0], first, "the list is untouched");
        let total = gateway.counters().total();
        assert_eq!(
            (total.calls, total.hypercalls, total.extents_requested),
            (1, 0, 0)
        );
        assert_eq!(total.rejections.get(expected), 1);
        assert_eq!(total.rejections.total(), 1);
    }

    const POPULATE: u8 = 6;
    const DECREASE: u8 = 1;
    const INCREASE: u8 = 0;

    #[test]
    fn each_broken_rule_is_refused_with_its_reason_and_xen_sees_nothing() {
        let owned = Gfn(OWNED_START);
        refused(
            STRANGER,
            POPULATE,
            0,
            DOMID_SELF,
            &mut [owned],
            GatewayError::UnknownCaller,
        );
        refused(
            READER,
            POPULATE,
            0,
            DOMID_SELF,
            &mut [owned],
            GatewayError::NotPermitted,
        );
        refused(
            SERVER,
            INCREASE,
            0,
            DOMID_SELF,
            &mut [owned],
            GatewayError::NotPermitted,
        );
        refused(
            SERVER,
            POPULATE,
            0,
            0,
            &mut [owned],
            GatewayError::ForeignDomain,
        );
        refused(
            SERVER,
            3,
            0,
            DOMID_SELF,
            &mut [owned],
            GatewayError::UnknownOp,
        );
        refused(
            SERVER,
            POPULATE,
            10,
            DOMID_SELF,
            &mut [owned],
            GatewayError::OrderTooLarge,
        );
        refused(
            SERVER,
            POPULATE,
            200,
            DOMID_SELF,
            &mut [owned],
            GatewayError::OrderTooLarge,
        );
        refused(
            SERVER,
            DECREASE,
            0,
            DOMID_SELF,
            &mut [owned; 5],
            GatewayError::TooManyFrames,
        );
        refused(
            SERVER,
            DECREASE,
            9,
            DOMID_SELF,
            &mut [owned.add(1)],
            GatewayError::Misaligned,
        );
        refused(
            SERVER,
            DECREASE,
            0,
            DOMID_SELF,
            &mut [Gfn(GATEWAY_OWN)],
            GatewayError::NotOwned,
        );
        refused(
            SERVER,
            DECREASE,
            0,
            DOMID_SELF,
            &mut [owned.add(OWNED_FRAMES)],
            GatewayError::NotOwned,
        );
        refused(
            SERVER,
            DECREASE,
            9,
            DOMID_SELF,
            &mut [Gfn(UNALIGNED_START - 0x100)],
            GatewayError::NotOwned,
        );
        refused(
            SERVER,
            POPULATE,
            0,
            DOMID_SELF,
            &mut [owned, owned.add(1), owned],
            GatewayError::DuplicateFrame,
        );
    }

    #[test]
    fn checks_run_in_the_documented_order() {
        let foreign = Gfn(GATEWAY_OWN + 1);
        refused(
            STRANGER,
            3,
            10,
            0,
            &mut [foreign; 5],
            GatewayError::UnknownCaller,
        );
        refused(
            READER,
            POPULATE,
            10,
            0,
            &mut [foreign; 5],
            GatewayError::NotPermitted,
        );
        refused(
            SERVER,
            3,
            10,
            0,
            &mut [foreign; 5],
            GatewayError::ForeignDomain,
        );
        refused(
            SERVER,
            3,
            10,
            DOMID_SELF,
            &mut [foreign; 5],
            GatewayError::UnknownOp,
        );
        refused(
            SERVER,
            POPULATE,
            10,
            DOMID_SELF,
            &mut [foreign; 5],
            GatewayError::OrderTooLarge,
        );
        refused(
            SERVER,
            POPULATE,
            0,
            DOMID_SELF,
            &mut [foreign; 5],
            GatewayError::TooManyFrames,
        );
        refused(
            SERVER,
            POPULATE,
            1,
            DOMID_SELF,
            &mut [foreign; 4],
            GatewayError::Misaligned,
        );
        refused(
            SERVER,
            POPULATE,
            0,
            DOMID_SELF,
            &mut [foreign; 4],
            GatewayError::NotOwned,
        );
    }

    #[test]
    fn xens_answer_passes_through_exactly_including_a_short_count() {
        let calls = Cell::new(0);
        let mut gateway = gateway(&calls, 2);
        let mut frames = [Gfn(OWNED_START + 3), Gfn(OWNED_START), Gfn(OWNED_START + 2)];
        let answer = gateway.reservation(SERVER, POPULATE, 0, 0, 5, &mut frames);
        assert_eq!(
            answer,
            Ok(Completed {
                extents: 2,
                anomaly: None
            })
        );
        assert_eq!(calls.get(), 1);
        let populate = gateway.counters().op(GatewayOp::Populate);
        assert_eq!(
            (
                populate.extents_requested,
                populate.extents_completed,
                populate.short_completions
            ),
            (3, 2, 1)
        );
        assert_eq!(gateway.counters().caller(SERVER), Some(populate));
    }

    #[test]
    fn a_superpage_wholly_inside_an_unaligned_range_passes() {
        let calls = Cell::new(0);
        let mut gateway = gateway(&calls, usize::MAX);
        let mut frames = [Gfn(UNALIGNED_START + 0x100), Gfn(OWNED_START)];
        assert_eq!(
            gateway.reservation(SERVER, DECREASE, 9, 0, DOMID_SELF, &mut frames),
            Ok(Completed::all(2))
        );
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn an_increase_list_is_output_so_only_its_length_is_checked() {
        let calls = Cell::new(0);
        let grow = Badge(3);
        let grants = [CallerGrant {
            badge: grow,
            ops: OpSet::of(&[GatewayOp::Increase]),
            ranges: &[],
        }];
        let limits = Limits {
            max_order: 0,
            max_frames_per_call: 2,
            own_domid: None,
        };
        let policy = Policy::<1, 1>::new(limits, &grants, &[]).expect("valid policy");
        let xen = CountingXen {
            calls: &calls,
            budget: usize::MAX,
            current: Ok(0),
        };
        let mut grower = Gateway::<_, 1, 1, 2>::new(xen, policy).expect("fits");
        let mut garbage = [Gfn(u64::MAX), Gfn(u64::MAX)];
        assert_eq!(
            grower.reservation(grow, INCREASE, 0, 0, DOMID_SELF, &mut garbage),
            Ok(Completed::all(2))
        );
        assert_eq!(
            grower.reservation(grow, INCREASE, 0, 0, DOMID_SELF, &mut [Gfn(0); 3]),
            Err(GatewayError::TooManyFrames)
        );
        assert_eq!(calls.get(), 1);
        assert_eq!(grower.counters().op(GatewayOp::Increase).calls, 2);
    }

    #[test]
    fn an_empty_list_completes_nothing_without_a_hypercall() {
        let calls = Cell::new(0);
        let mut gateway = gateway(&calls, usize::MAX);
        assert_eq!(
            gateway.reservation(SERVER, DECREASE, 9, 0, DOMID_SELF, &mut []),
            Ok(Completed::all(0))
        );
        assert_eq!(calls.get(), 0);
        assert_eq!(gateway.counters().total().calls, 1);
    }

    #[test]
    fn queries_need_their_capability_and_surface_xens_errno() {
        let calls = Cell::new(0);
        let mut gateway = gateway(&calls, usize::MAX);
        assert_eq!(gateway.current_reservation(SERVER), Ok(0x8000));
        assert_eq!(
            gateway.maximum_reservation(READER),
            Err(QueryError::Xen(XenErrno::ESRCH))
        );
        assert_eq!(calls.get(), 2);
        assert_eq!(
            gateway.maximum_reservation(SERVER),
            Err(QueryError::Refused(GatewayError::NotPermitted))
        );
        assert_eq!(
            gateway.current_reservation(STRANGER),
            Err(QueryError::Refused(GatewayError::UnknownCaller))
        );
        assert_eq!(calls.get(), 2);
        let maximum = gateway.counters().op(GatewayOp::Maximum);
        assert_eq!(
            (maximum.calls, maximum.hypercalls, maximum.xen_errors),
            (2, 1, 1)
        );
        assert_eq!(maximum.rejections.get(GatewayError::NotPermitted), 1);
    }

    #[test]
    fn a_policy_wider_than_the_scratch_buffer_is_refused() {
        let calls = Cell::new(0);
        let limits = Limits {
            max_order: 0,
            max_frames_per_call: 9,
            own_domid: None,
        };
        let policy = Policy::<1, 1>::new(limits, &[], &[]).expect("valid policy");
        let xen = CountingXen {
            calls: &calls,
            budget: 0,
            current: Ok(0),
        };
        assert_eq!(
            Gateway::<_, 1, 1, 8>::new(xen, policy).map(|_| ()),
            Err(PolicyError::BadFramesPerCall)
        );
    }
}
