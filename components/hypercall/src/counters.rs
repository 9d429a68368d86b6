//! What the gateway has done, per op and per caller: calls, extents asked for and completed, grant
//! entries sent to Xen and those it carried out, refusals by reason, and answers from Xen that
//! broke its own conventions.

use ballast_ipc::Badge;
use ballast_xen::Completed;
use heapless::Vec;

use ballast_interfaces::hypercall::HypercallOp;

use crate::GatewayError;

/// Refusals, one count per [`GatewayError`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rejections([u64; GatewayError::COUNT]);

impl Rejections {
    /// How many requests were refused for `reason`.
    pub fn get(&self, reason: GatewayError) -> u64 {
        self.0[reason.index()]
    }

    /// How many requests were refused, all reasons.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// One set of counters (for one op, one caller, or everything).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Requests received, refused ones included.
    pub calls: u64,
    /// Calls that reached the Hypervisor backend.
    pub hypercalls: u64,
    /// Extents in reservation lists that passed every check.
    pub extents_requested: u64,
    /// Extents Xen reported completed.
    pub extents_completed: u64,
    /// Reservation calls Xen completed only a prefix of.
    pub short_completions: u64,
    /// Raw returns outside Xen's convention ([`Completed::anomaly`]).
    pub anomalies: u64,
    /// Queries Xen answered with an errno.
    pub xen_errors: u64,
    /// Grant entries (map or unmap) that passed every check and went to Xen.
    pub grant_entries: u64,
    /// Grant entries Xen carried out (`GNTST_okay`); the others got a status of their own.
    pub grant_entries_done: u64,
    /// Requests refused, by reason.
    pub rejections: Rejections,
}

/// Add `by` to a statistics counter. The counters are `u64` and count calls, entries or frames of
/// calls the gateway served one at a time, so 2^64 is out of reach; were it reached, the counter
/// would stay at its maximum rather than wrap to a small, plausible value.
fn bump(counter: &mut u64, by: u64) {
    *counter = counter.saturating_add(by);
}

impl Counters {
    fn record_call(&mut self) {
        bump(&mut self.calls, 1);
    }

    fn record_rejection(&mut self, reason: GatewayError) {
        bump(&mut self.rejections.0[reason.index()], 1);
    }

    fn record_reservation(&mut self, requested: usize, completed: Completed) {
        bump(&mut self.extents_requested, requested as u64);
        bump(&mut self.extents_completed, completed.extents as u64);
        if completed.is_short(requested) {
            bump(&mut self.short_completions, 1);
        }
        if completed.anomaly.is_some() {
            bump(&mut self.anomalies, 1);
        }
    }

    fn record_grants(&mut self, sent: usize, done: usize) {
        bump(&mut self.grant_entries, sent as u64);
        bump(&mut self.grant_entries_done, done as u64);
    }

    fn record_hypercall(&mut self) {
        bump(&mut self.hypercalls, 1);
    }

    fn record_xen_error(&mut self) {
        bump(&mut self.xen_errors, 1);
    }
}

/// Who a request was attributed to: which op, and which caller (if the badge was in the table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Attribution {
    pub(crate) op: HypercallOp,
    pub(crate) caller: Option<usize>,
}

/// Every counter of a gateway: the total, one set per op, one per caller in the table, and the
/// IPC calls refused before they became requests.
#[derive(Clone, Debug)]
pub struct GatewayCounters<const CALLERS: usize> {
    total: Counters,
    ops: [Counters; HypercallOp::ALL.len()],
    callers: Vec<(Badge, Counters), CALLERS>,
    protocol_rejections: u64,
    bad_frame_lists: u64,
}

impl<const CALLERS: usize> GatewayCounters<CALLERS> {
    /// Zeroed counters for these callers (at most `CALLERS`; the caller table guarantees it).
    pub(crate) fn new(badges: impl Iterator<Item = Badge>) -> GatewayCounters<CALLERS> {
        GatewayCounters {
            total: Counters::default(),
            ops: [Counters::default(); HypercallOp::ALL.len()],
            callers: badges
                .take(CALLERS)
                .map(|badge| (badge, Counters::default()))
                .collect(),
            protocol_rejections: 0,
            bad_frame_lists: 0,
        }
    }

    /// IPC calls the generated dispatch refused (bad header, body or lease, or a caller without
    /// the interface capability): they never became requests, so no other counter has them.
    pub fn protocol_rejections(&self) -> u64 {
        self.protocol_rejections
    }

    /// Reservation calls whose lease was not a frame list (empty, not a whole number of 8-byte
    /// frame numbers, or misaligned).
    pub fn bad_frame_lists(&self) -> u64 {
        self.bad_frame_lists
    }

    pub(crate) fn protocol_rejection(&mut self) {
        bump(&mut self.protocol_rejections, 1);
    }

    pub(crate) fn bad_frame_list(&mut self) {
        bump(&mut self.bad_frame_lists, 1);
    }

    /// Everything, unknown callers and unknown ops included.
    pub fn total(&self) -> &Counters {
        &self.total
    }

    /// Requests for `op`.
    pub fn op(&self, op: HypercallOp) -> &Counters {
        &self.ops[op.index()]
    }

    /// Requests from the caller with `badge`, if it is in the table.
    pub fn caller(&self, badge: Badge) -> Option<&Counters> {
        self.callers
            .iter()
            .find(|(known, _)| *known == badge)
            .map(|(_, counters)| counters)
    }

    fn each(&mut self, who: Attribution, mut update: impl FnMut(&mut Counters)) {
        update(&mut self.total);
        update(&mut self.ops[who.op.index()]);
        if let Some((_, counters)) = who.caller.and_then(|index| self.callers.get_mut(index)) {
            update(counters);
        }
    }

    pub(crate) fn call(&mut self, who: Attribution) {
        self.each(who, Counters::record_call);
    }

    pub(crate) fn rejection(&mut self, who: Attribution, reason: GatewayError) {
        self.each(who, |counters| counters.record_rejection(reason));
    }

    pub(crate) fn hypercall(&mut self, who: Attribution) {
        self.each(who, Counters::record_hypercall);
    }

    pub(crate) fn reservation(&mut self, who: Attribution, requested: usize, completed: Completed) {
        self.each(who, |counters| {
            counters.record_reservation(requested, completed)
        });
    }

    pub(crate) fn grants(&mut self, who: Attribution, sent: usize, done: usize) {
        self.each(who, |counters| counters.record_grants(sent, done));
    }

    pub(crate) fn xen_error(&mut self, who: Attribution) {
        self.each(who, Counters::record_xen_error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_lands_in_the_total_the_op_and_the_caller() {
        let mut counters = GatewayCounters::<2>::new([Badge(1), Badge(2)].into_iter());
        let known = Attribution {
            op: HypercallOp::PopulatePhysmap,
            caller: Some(1),
        };
        counters.call(known);
        counters.hypercall(known);
        counters.reservation(
            known,
            4,
            Completed {
                extents: 3,
                anomaly: None,
            },
        );
        let stranger = Attribution {
            op: HypercallOp::CurrentReservation,
            caller: None,
        };
        counters.call(stranger);
        counters.rejection(stranger, GatewayError::UnknownCaller);

        assert_eq!(counters.total().calls, 2);
        assert_eq!(
            counters.total().rejections.get(GatewayError::UnknownCaller),
            1
        );
        let populate = counters.op(HypercallOp::PopulatePhysmap);
        assert_eq!((populate.calls, populate.hypercalls), (1, 1));
        assert_eq!(
            (populate.extents_requested, populate.extents_completed),
            (4, 3)
        );
        assert_eq!(populate.short_completions, 1);
        assert_eq!(populate.rejections.total(), 0);
        assert_eq!(counters.caller(Badge(2)), Some(populate));
        let current = counters.op(HypercallOp::CurrentReservation);
        assert_eq!((current.calls, current.rejections.total()), (1, 1));
        assert_eq!(counters.caller(Badge(1)), Some(&Counters::default()));
        assert_eq!(counters.caller(Badge(3)), None);
    }

    #[test]
    fn anomalies_and_errnos_are_counted() {
        let mut counters = GatewayCounters::<1>::new([Badge(1)].into_iter());
        let who = Attribution {
            op: HypercallOp::DecreaseReservation,
            caller: Some(0),
        };
        counters.reservation(
            who,
            2,
            Completed {
                extents: 0,
                anomaly: Some(-14),
            },
        );
        counters.xen_error(Attribution {
            op: HypercallOp::CurrentReservation,
            caller: Some(0),
        });
        counters.grants(
            Attribution {
                op: HypercallOp::GrantMap,
                caller: Some(0),
            },
            3,
            2,
        );
        let map = counters.op(HypercallOp::GrantMap);
        assert_eq!((map.grant_entries, map.grant_entries_done), (3, 2));
        assert_eq!(counters.op(HypercallOp::DecreaseReservation).anomalies, 1);
        assert_eq!(counters.op(HypercallOp::CurrentReservation).xen_errors, 1);
        assert_eq!(
            counters
                .caller(Badge(1))
                .map(|c| (c.anomalies, c.xen_errors)),
            Some((1, 1))
        );
    }
}
