//! The gateway itself: the only holder of the Hypervisor backend. Every request is checked against
//! the policy table, in a fixed order, and reaches Xen only if every check passes.

use ballast_ipc::Badge;
use ballast_xen::{Completed, ExtentOrder, Gfn, Hypervisor, MemFlags, ReservationOp, XenErrno};

use crate::checks::{all_aligned, all_owned, flags_allowed, has_repeat};
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
    /// the op is one of the three; `mem_flags` sets only address bits and node selection (see
    /// [`GatewayError::BadFlags`]); the order is at most the configured maximum; the list is at
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
        let checked = self.check_reservation(known, decoded, order, mem_flags, domid, frames);
        let (op, order) = match checked {
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
        caller: Option<usize>,
        op: Option<ReservationOp>,
        order: u8,
        mem_flags: u32,
        domid: u16,
        frames: &[Gfn],
    ) -> Result<(ReservationOp, ExtentOrder), GatewayError> {
        let entry = caller
            .and_then(|index| self.policy.callers().get(index))
            .ok_or(GatewayError::UnknownCaller)?;
        if op.is_some_and(|op| !entry.may(GatewayOp::of_reservation(op))) {
            return Err(GatewayError::NotPermitted);
        }
        if !self.policy.is_self(domid) {
            return Err(GatewayError::ForeignDomain);
        }
        let op = op.ok_or(GatewayError::UnknownOp)?;
        if !flags_allowed(mem_flags) {
            return Err(GatewayError::BadFlags);
        }
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

    pub(crate) fn count_protocol_rejection(&mut self) {
        self.counters.protocol_rejection();
    }

    pub(crate) fn count_bad_frame_list(&mut self) {
        self.counters.bad_frame_list();
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
    use super::*;
    use crate::{CallerGrant, GfnRange, Limits, OpSet};
    use ballast_xen::DOMID_SELF;
    use ballast_xen_sim::{DomainConfig, HostConfig, SimHypervisor, XenSim};

    const SERVER: Badge = Badge(1);

    fn xen() -> (XenSim, SimHypervisor) {
        let sim = XenSim::new(HostConfig {
            free_pages: 0x1000,
            ..HostConfig::default()
        });
        let dom = sim.create_domain(DomainConfig::domu(0..0x1000, 0x1000));
        let hypervisor = sim.hypervisor(dom);
        (sim, hypervisor)
    }

    fn policy(max_frames_per_call: usize) -> Policy<1, 1> {
        let owned = [GfnRange::new(Gfn(0x800), 0x800).expect("valid")];
        let grants = [CallerGrant {
            badge: SERVER,
            ops: OpSet::of(&GatewayOp::ALL),
            ranges: &owned,
        }];
        let limits = Limits {
            max_order: 9,
            max_frames_per_call,
            own_domid: None,
        };
        Policy::new(limits, &grants, &[]).expect("valid policy")
    }

    #[test]
    fn a_policy_wider_than_the_scratch_buffer_is_refused() {
        let (_, hypervisor) = xen();
        let built = Gateway::<_, 1, 1, 8>::new(hypervisor, policy(9)).map(|_| ());
        assert_eq!(built, Err(PolicyError::BadFramesPerCall));
    }

    #[test]
    fn a_list_at_the_limit_passes_and_one_more_frame_does_not() {
        let (sim, hypervisor) = xen();
        let mut gateway = Gateway::<_, 1, 1, 8>::new(hypervisor, policy(8)).expect("fits");
        let mut frames: [Gfn; 9] = core::array::from_fn(|i| Gfn(0x800 + i as u64));
        let decrease = ReservationOp::Decrease as u8;
        let refused = gateway.reservation(SERVER, decrease, 0, 0, DOMID_SELF, &mut frames);
        assert_eq!(refused, Err(GatewayError::TooManyFrames));
        let done = gateway.reservation(SERVER, decrease, 0, 0, DOMID_SELF, &mut frames[..8]);
        assert_eq!(done, Ok(Completed::all(8)));
        assert_eq!(
            sim.counters(gateway.hypervisor.domain())
                .map(|c| c.decrease_calls),
            Some(1)
        );
        assert_eq!(gateway.policy().max_frames_per_call(), 8);
    }
}
