//! The gateway's caller table, built from the manifest: per caller badge the `Hypercall` ops it
//! may call (the op ids the manifest grants, each op one Xen operation) and the frame ranges it
//! owns, plus the limits every request must respect; added by the assembly, the lending range the
//! memory server may lend from (never any caller's to populate) and the granting domains each
//! driver may map grants from; and, added by the image at boot, the event-channel ports each
//! caller may send on (known only at run time, from Xen's HVM params). The table is also the
//! permission check the generated dispatch runs first.

use ballast_interfaces::hypercall::{self, HypercallOp};
use ballast_interfaces::support::Permissions;
use ballast_ipc::Badge;
use ballast_xen::abi::EventPort;
use ballast_xen::{ExtentOrder, Gfn, DOMID_SELF};
use heapless::Vec;

use crate::{CallerTableError, EventPortError, FrameRun};

/// How many ops the `Hypercall` interface has: a caller holds at most all of them.
const OPS: usize = HypercallOp::ALL.len();

/// The event-channel ports one caller may be given: a toolstack agent needs the xenstore and
/// the console channel; two more leave room without making every entry large.
pub const EVENT_PORTS_PER_CALLER: usize = 4;

/// The granting domains one driver may map grants from: a backend serves a few frontends.
pub const GRANT_DOMAINS_PER_CALLER: usize = 8;

/// Limits that apply to every caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest extent order a request may use (ballast's policy; Xen's own limit may be lower).
    pub max_order: u8,
    /// The most extents one reservation call may carry (at least 1).
    pub max_frames_per_call: usize,
    /// The guest's own domain id, accepted like `DOMID_SELF` if set.
    pub own_domid: Option<u16>,
}

/// What the manifest grants one caller.
#[derive(Clone, Copy, Debug)]
pub struct CallerGrant<'a> {
    /// The badge on the caller's capability to the gateway.
    pub badge: Badge,
    /// The ids of the `Hypercall` ops it may call, as the manifest grants them.
    pub ops: &'a [u16],
    /// The frames it owns, each run valid ([`FrameRun::is_valid`]): reservation lists may name
    /// only extents wholly inside one of these.
    pub ranges: &'a [FrameRun],
}

/// One caller's entry, its ranges sorted by start and disjoint.
#[derive(Clone, Debug)]
pub struct CallerEntry<const RANGES: usize> {
    badge: Badge,
    ops: Vec<HypercallOp, OPS>,
    ranges: Vec<FrameRun, RANGES>,
    lending: Vec<FrameRun, RANGES>,
    grant_domains: Vec<u16, GRANT_DOMAINS_PER_CALLER>,
    event_ports: Vec<EventPort, EVENT_PORTS_PER_CALLER>,
}

impl<const RANGES: usize> CallerEntry<RANGES> {
    /// The caller's badge.
    pub fn badge(&self) -> Badge {
        self.badge
    }

    /// The ops the caller may call, each once, in grant order.
    pub fn ops(&self) -> &[HypercallOp] {
        &self.ops
    }

    /// Whether the caller may call `op`.
    pub fn may(&self, op: HypercallOp) -> bool {
        self.ops.contains(&op)
    }

    /// The caller's ranges, sorted by start.
    pub fn ranges(&self) -> &[FrameRun] {
        &self.ranges
    }

    /// The event-channel ports the caller may send on, in the order the image gave them.
    pub fn event_ports(&self) -> &[EventPort] {
        &self.event_ports
    }

    /// The unpopulated ranges the caller may lend from (its lend notices may name them), sorted.
    pub fn lending(&self) -> &[FrameRun] {
        &self.lending
    }

    /// Whether the caller may say it lent `run`: all of it inside one of its ranges, or inside
    /// one of its lending ranges.
    pub fn may_lend(&self, run: &FrameRun) -> bool {
        self.owns_run(run) || self.lending.iter().any(|range| range.contains_run(run))
    }

    /// The granting domains the caller may map grants from, in the order the assembly gave them.
    pub fn grant_domains(&self) -> &[u16] {
        &self.grant_domains
    }

    /// Whether the caller may map a grant of domain `domid`.
    pub fn may_map_from(&self, domid: u16) -> bool {
        self.grant_domains.contains(&domid)
    }

    /// Whether the caller may send on event-channel `port`.
    pub fn may_send_to(&self, port: EventPort) -> bool {
        self.event_ports.contains(&port)
    }

    /// Whether `run` lies wholly inside one of the caller's ranges (touching ranges are joined, so
    /// one range is enough): O(log RANGES).
    pub fn owns_run(&self, run: &FrameRun) -> bool {
        let after = self
            .ranges
            .partition_point(|range| range.first <= run.first);
        after
            .checked_sub(1)
            .is_some_and(|last| self.ranges[last].contains_run(run))
    }

    /// Whether the extent of `order` at `first` lies wholly inside one of the caller's ranges.
    /// The ranges are sorted and disjoint, so only the last one starting at or before `first` can
    /// hold it: a binary search, O(log RANGES).
    pub fn owns_extent(&self, first: Gfn, order: ExtentOrder) -> bool {
        let after = self.ranges.partition_point(|range| range.first <= first);
        after
            .checked_sub(1)
            .is_some_and(|last| self.ranges[last].holds_extent(first, order))
    }
}

/// `granted` with every frame of `reserved` cut out: the ranges a caller owns when the manifest
/// gives it RAM that also holds the image or firmware tables. At most `N` pieces, in the order of
/// `granted`, each piece ascending. Runs once at boot: O(pieces x reserved).
pub fn ranges_without<const N: usize>(
    granted: &[FrameRun],
    reserved: &[FrameRun],
) -> Result<Vec<FrameRun, N>, CallerTableError> {
    let mut pieces = Vec::new();
    for range in granted {
        let end = range.end();
        let mut cursor = range.start();
        while cursor < end {
            let covered_until = reserved
                .iter()
                .filter(|kept| kept.contains(cursor))
                .map(|kept| kept.end())
                .max();
            if let Some(next) = covered_until {
                cursor = next;
                continue;
            }
            let stop = reserved
                .iter()
                .map(|kept| kept.start())
                .filter(|&start| cursor < start && start < end)
                .min()
                .unwrap_or(end);
            // `stop` is past `cursor`: `end` is, and so is every reserved start it is chosen from.
            if let Some(piece) = FrameRun::checked(Gfn(cursor), stop.saturating_sub(cursor)) {
                pieces
                    .push(piece)
                    .map_err(|_| CallerTableError::TooManyRanges)?;
            }
            cursor = stop;
        }
    }
    Ok(pieces)
}

/// The whole table: at most `CALLERS` callers of at most `RANGES` ranges each.
#[derive(Clone, Debug)]
pub struct CallerTable<const CALLERS: usize, const RANGES: usize> {
    callers: Vec<CallerEntry<RANGES>, CALLERS>,
    max_order: ExtentOrder,
    max_frames_per_call: usize,
    own_domid: Option<u16>,
}

impl<const CALLERS: usize, const RANGES: usize> CallerTable<CALLERS, RANGES> {
    /// Build and check the table. `protected` lists frames no caller may own (the gateway's and
    /// the image's own pages); it is only checked against, not kept.
    pub fn new(
        limits: Limits,
        grants: &[CallerGrant<'_>],
        protected: &[FrameRun],
    ) -> Result<CallerTable<CALLERS, RANGES>, CallerTableError> {
        let max_order = match ExtentOrder::new(limits.max_order) {
            Some(order) => order,
            None => return Err(CallerTableError::OrderTooLarge),
        };
        if limits.max_frames_per_call == 0 {
            return Err(CallerTableError::BadFramesPerCall);
        }
        let mut callers: Vec<CallerEntry<RANGES>, CALLERS> = Vec::new();
        for grant in grants {
            if callers.iter().any(|caller| caller.badge == grant.badge) {
                return Err(CallerTableError::DuplicateBadge);
            }
            let entry = Self::caller_entry(grant, protected)?;
            for other in &callers {
                let shared = entry
                    .ranges
                    .iter()
                    .any(|mine| other.ranges.iter().any(|theirs| mine.overlaps(theirs)));
                if shared {
                    return Err(CallerTableError::OverlappingRanges);
                }
            }
            callers
                .push(entry)
                .map_err(|_| CallerTableError::TooManyCallers)?;
        }
        Ok(CallerTable {
            callers,
            max_order,
            max_frames_per_call: limits.max_frames_per_call,
            own_domid: limits.own_domid,
        })
    }

    fn caller_entry(
        grant: &CallerGrant<'_>,
        protected: &[FrameRun],
    ) -> Result<CallerEntry<RANGES>, CallerTableError> {
        if !grant.ranges.iter().all(FrameRun::is_valid) {
            return Err(CallerTableError::BadRange);
        }
        let mut sorted: Vec<FrameRun, RANGES> =
            Vec::from_slice(grant.ranges).map_err(|()| CallerTableError::TooManyRanges)?;
        sorted.sort_unstable_by_key(|range| range.first);
        if sorted.windows(2).any(|pair| pair[0].overlaps(&pair[1])) {
            return Err(CallerTableError::OverlappingRanges);
        }
        if sorted
            .iter()
            .any(|mine| protected.iter().any(|kept| mine.overlaps(kept)))
        {
            return Err(CallerTableError::ProtectedOverlap);
        }
        // Touching ranges are joined, so that an extent spanning the seam counts as owned.
        let mut ranges: Vec<FrameRun, RANGES> = Vec::new();
        for range in sorted {
            if let Some(last) = ranges.last_mut() {
                if let Some(joined) = last.joined(&range) {
                    *last = joined;
                    continue;
                }
            }
            ranges
                .push(range)
                .map_err(|_| CallerTableError::TooManyRanges)?;
        }
        let mut ops: Vec<HypercallOp, OPS> = Vec::new();
        for &id in grant.ops {
            let op = HypercallOp::try_from(id).map_err(|_| CallerTableError::UnknownOp)?;
            if !ops.contains(&op) {
                // At most every op once: the capacity holds them all.
                ops.push(op).map_err(|_| CallerTableError::UnknownOp)?;
            }
        }
        Ok(CallerEntry {
            badge: grant.badge,
            ops,
            ranges,
            lending: Vec::new(),
            grant_domains: Vec::new(),
            event_ports: Vec::new(),
        })
    }

    /// The entry of the caller with `badge`, to change.
    fn entry_mut(&mut self, badge: Badge) -> Result<&mut CallerEntry<RANGES>, CallerTableError> {
        self.callers
            .iter_mut()
            .find(|caller| caller.badge == badge)
            .ok_or(CallerTableError::UnknownCaller)
    }

    /// Let the caller with `badge` lend `range`, unpopulated space beyond RAM: its lend notices
    /// may then name runs there, and no caller may ever populate or release it (it overlaps no
    /// caller's range). Run by the assembly before the gateway serves anyone. The caller must
    /// hold `lend_notice`; the range must be valid and overlap no caller's range and no other
    /// lending range.
    pub fn allow_lending(&mut self, badge: Badge, range: FrameRun) -> Result<(), CallerTableError> {
        if !range.is_valid() {
            return Err(CallerTableError::BadRange);
        }
        let taken = self.callers.iter().any(|caller| {
            (caller.ranges.iter().chain(caller.lending.iter())).any(|kept| kept.overlaps(&range))
        });
        let caller = self.entry_mut(badge)?;
        if !caller.may(HypercallOp::LendNotice) {
            return Err(CallerTableError::NotPermitted);
        }
        if taken {
            return Err(CallerTableError::OverlappingRanges);
        }
        let at = caller
            .lending
            .partition_point(|kept| kept.first < range.first);
        caller
            .lending
            .insert(at, range)
            .map_err(|_| CallerTableError::TooManyRanges)
    }

    /// Let the caller with `badge` map grants of domain `domid` (the manifest's
    /// `uses.Hypercall.grant_domains`). Run by the assembly before the gateway serves anyone. The
    /// caller must hold `grant_map`; `domid` must name a real domain (not `DOMID_SELF` nor another
    /// reserved id); giving a domain twice is no change.
    pub fn allow_grant_domain(&mut self, badge: Badge, domid: u16) -> Result<(), CallerTableError> {
        let caller = self.entry_mut(badge)?;
        if !caller.may(HypercallOp::GrantMap) {
            return Err(CallerTableError::NotPermitted);
        }
        // Xen reserves every id from DOMID_SELF (its DOMID_FIRST_RESERVED) up.
        if domid >= DOMID_SELF {
            return Err(CallerTableError::BadGrantDomain);
        }
        if caller.may_map_from(domid) {
            return Ok(());
        }
        caller
            .grant_domains
            .push(domid)
            .map_err(|_| CallerTableError::TooManyGrantDomains)
    }

    /// Let the caller with `badge` send on event-channel `port`: run by the image at boot, once
    /// it has read the port from Xen. The caller must hold the `event_send` op; giving a port
    /// twice is no change.
    pub fn allow_event_port(
        &mut self,
        badge: Badge,
        port: EventPort,
    ) -> Result<(), EventPortError> {
        let caller = self
            .callers
            .iter_mut()
            .find(|caller| caller.badge == badge)
            .ok_or(EventPortError::UnknownCaller)?;
        if !caller.may(HypercallOp::EventSend) {
            return Err(EventPortError::NotPermitted);
        }
        if port == 0 {
            return Err(EventPortError::ZeroPort);
        }
        if caller.may_send_to(port) {
            return Ok(());
        }
        caller
            .event_ports
            .push(port)
            .map_err(|_| EventPortError::TooManyPorts)
    }

    /// The index and entry of the caller with `badge`.
    pub fn caller(&self, badge: Badge) -> Option<(usize, &CallerEntry<RANGES>)> {
        self.callers
            .iter()
            .enumerate()
            .find(|(_, caller)| caller.badge == badge)
    }

    /// Every caller, in table order.
    pub fn callers(&self) -> &[CallerEntry<RANGES>] {
        &self.callers
    }

    /// The largest extent order a request may use.
    pub fn max_order(&self) -> ExtentOrder {
        self.max_order
    }

    /// The most extents one reservation call may carry.
    pub fn max_frames_per_call(&self) -> usize {
        self.max_frames_per_call
    }

    /// Whether `domid` names this guest: `DOMID_SELF`, or its own id if configured.
    pub fn is_self(&self, domid: u16) -> bool {
        domid == DOMID_SELF || self.own_domid == Some(domid)
    }
}

/// Who may call which op: a caller in the table, an op of the `Hypercall` interface it was
/// granted. The gateway checks the same again on every request.
impl<const CALLERS: usize, const RANGES: usize> Permissions for CallerTable<CALLERS, RANGES> {
    fn allows(&self, badge: Badge, interface: u16, op: u16) -> bool {
        interface == hypercall::INTERFACE_ID
            && HypercallOp::try_from(op)
                .is_ok_and(|op| self.caller(badge).is_some_and(|(_, caller)| caller.may(op)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u64, frames: u64) -> FrameRun {
        FrameRun::checked(Gfn(start), frames).expect("valid range")
    }

    fn grant(badge: u32, ranges: &[FrameRun]) -> CallerGrant<'_> {
        CallerGrant {
            badge: Badge(badge),
            ops: ALL_OPS,
            ranges,
        }
    }

    const LIMITS: Limits = Limits {
        max_order: 9,
        max_frames_per_call: 512,
        own_domid: Some(3),
    };
    const ALL_OPS: &[u16] = &[2, 3, 4, 5, 6, 7, 8];

    #[test]
    fn a_caller_owns_exactly_the_extents_inside_its_ranges() {
        let ranges = [range(0x4000, 0x400), range(0x1000, 0x200)];
        let grants = [CallerGrant {
            badge: Badge(7),
            ops: ALL_OPS,
            ranges: &ranges,
        }];
        let table = CallerTable::<2, 4>::new(LIMITS, &grants, &[]).expect("valid table");
        let (index, caller) = table.caller(Badge(7)).expect("known");
        assert_eq!(index, 0);
        assert_eq!(caller.ranges()[0].first, Gfn(0x1000), "sorted by start");
        let superpage = ExtentOrder::new(9).expect("order 9");
        assert!(caller.owns_extent(Gfn(0x1000), superpage));
        assert!(!caller.owns_extent(Gfn(0x1200), superpage));
        assert!(caller.owns_extent(Gfn(0x4200), superpage));
        assert!(!caller.owns_extent(Gfn(0x0fff), ExtentOrder::PAGE));
        assert!(!caller.owns_extent(Gfn(0x4400), ExtentOrder::PAGE));
        assert!(!caller.owns_extent(Gfn(0x3000), ExtentOrder::PAGE));
        assert!(caller.owns_run(&range(0x4100, 0x300)));
        assert!(!caller.owns_run(&range(0x4100, 0x301)));
        assert!(!caller.owns_run(&range(0x0fff, 2)));
        assert!(table.caller(Badge(8)).is_none());
    }

    #[test]
    fn a_caller_may_call_exactly_the_op_ids_granted() {
        let populate = HypercallOp::PopulatePhysmap as u16;
        let current = HypercallOp::CurrentReservation as u16;
        let grants = [
            CallerGrant {
                badge: Badge(1),
                ops: &[populate, current, populate],
                ranges: &[],
            },
            CallerGrant {
                badge: Badge(2),
                ops: &[],
                ranges: &[],
            },
        ];
        let table = CallerTable::<2, 1>::new(LIMITS, &grants, &[]).expect("valid table");
        let (_, caller) = table.caller(Badge(1)).expect("known");
        assert_eq!(
            caller.ops(),
            &[
                HypercallOp::PopulatePhysmap,
                HypercallOp::CurrentReservation
            ],
            "each op once"
        );
        let id = hypercall::INTERFACE_ID;
        for op in HypercallOp::ALL {
            let granted = matches!(
                op,
                HypercallOp::PopulatePhysmap | HypercallOp::CurrentReservation
            );
            assert_eq!(caller.may(op), granted, "{op:?}");
            assert_eq!(table.allows(Badge(1), id, op as u16), granted, "{op:?}");
            assert!(!table.allows(Badge(2), id, op as u16), "{op:?}");
            assert!(!table.allows(Badge(3), id, op as u16), "{op:?}");
        }
        assert!(
            !table.allows(Badge(1), id + 1, populate),
            "another interface"
        );
        assert!(!table.allows(Badge(1), id, 1), "the retired op id");
        let unknown = [CallerGrant {
            badge: Badge(1),
            ops: &[1],
            ranges: &[],
        }];
        assert_eq!(
            CallerTable::<1, 1>::new(LIMITS, &unknown, &[]).map(|_| ()),
            Err(CallerTableError::UnknownOp)
        );
    }

    #[test]
    fn self_is_domid_self_or_the_configured_id() {
        let table = CallerTable::<1, 1>::new(LIMITS, &[], &[]).expect("valid table");
        assert!(table.is_self(DOMID_SELF));
        assert!(table.is_self(3));
        assert!(!table.is_self(0));
        let anonymous = CallerTable::<1, 1>::new(
            Limits {
                own_domid: None,
                ..LIMITS
            },
            &[],
            &[],
        )
        .expect("valid");
        assert!(!anonymous.is_self(3));
    }

    #[test]
    fn broken_tables_are_refused_with_the_reason() {
        let a = [range(0, 16)];
        let b = [range(8, 16)];
        let two = [range(0, 4), range(100, 4)];
        let build = |limits, grants: &[CallerGrant<'_>], protected: &[FrameRun]| {
            CallerTable::<2, 1>::new(limits, grants, protected).map(|_| ())
        };
        assert_eq!(
            build(LIMITS, &[grant(1, &a), grant(1, &b)], &[]),
            Err(CallerTableError::DuplicateBadge)
        );
        assert_eq!(
            build(LIMITS, &[grant(1, &a), grant(2, &b)], &[]),
            Err(CallerTableError::OverlappingRanges)
        );
        assert_eq!(
            build(LIMITS, &[grant(1, &two)], &[]),
            Err(CallerTableError::TooManyRanges)
        );
        assert_eq!(
            build(LIMITS, &[grant(1, &a), grant(2, &[]), grant(3, &[])], &[]),
            Err(CallerTableError::TooManyCallers)
        );
        assert_eq!(
            build(LIMITS, &[grant(1, &a)], &[range(15, 1)]),
            Err(CallerTableError::ProtectedOverlap)
        );
        assert_eq!(
            build(
                Limits {
                    max_order: 19,
                    ..LIMITS
                },
                &[],
                &[]
            ),
            Err(CallerTableError::OrderTooLarge)
        );
        assert_eq!(
            build(
                Limits {
                    max_frames_per_call: 0,
                    ..LIMITS
                },
                &[],
                &[]
            ),
            Err(CallerTableError::BadFramesPerCall)
        );
        assert_eq!(build(LIMITS, &[grant(1, &a)], &[range(16, 1)]), Ok(()));
    }

    #[test]
    fn reserved_frames_are_cut_out_of_granted_ranges() {
        let ram = [range(0, 0x1000), range(0x2000, 0x100)];
        let reserved = [
            range(0x100, 0x800),
            range(0, 0x10),
            range(0x500, 0x100),
            range(0xff0, 0x20),
        ];
        let owned = ranges_without::<4>(&ram, &reserved).expect("fits");
        assert_eq!(
            owned.as_slice(),
            &[range(0x10, 0xf0), range(0x900, 0x6f0), range(0x2000, 0x100)]
        );
        assert_eq!(
            ranges_without::<2>(&ram, &reserved),
            Err(CallerTableError::TooManyRanges)
        );
        assert_eq!(
            ranges_without::<1>(&ram[..1], &[range(0, 0x1000)]).map(|v| v.len()),
            Ok(0)
        );
        let grants = [grant(1, &owned)];
        let protected = CallerTable::<1, 4>::new(LIMITS, &grants, &reserved).map(|_| ());
        assert_eq!(
            protected,
            Ok(()),
            "what is left never overlaps what was reserved"
        );
    }

    #[test]
    fn touching_ranges_of_one_caller_are_joined() {
        let ranges = [
            range(0x300, 0x100),
            range(0x100, 0x100),
            range(0x200, 0x100),
        ];
        let grants = [grant(1, &ranges)];
        let table = CallerTable::<1, 3>::new(LIMITS, &grants, &[]).expect("valid table");
        let (_, caller) = table.caller(Badge(1)).expect("known");
        assert_eq!(caller.ranges(), &[range(0x100, 0x300)]);
        assert!(caller.owns_extent(Gfn(0x200), ExtentOrder::new(9).expect("order 9")));
    }

    #[test]
    fn empty_or_wrapping_ranges_are_refused() {
        for bad in [
            FrameRun::new(Gfn(0x100), 0),
            FrameRun::new(Gfn(u64::MAX), 2),
        ] {
            let ranges = [range(0x1000, 0x100), bad];
            let grants = [grant(1, &ranges)];
            assert_eq!(
                CallerTable::<1, 2>::new(LIMITS, &grants, &[]).map(|_| ()),
                Err(CallerTableError::BadRange)
            );
        }
    }

    #[test]
    fn event_ports_go_only_to_callers_that_may_send() {
        let send = HypercallOp::EventSend as u16;
        let grants = [
            CallerGrant {
                badge: Badge(1),
                ops: &[send],
                ranges: &[],
            },
            grant(2, &[]),
            CallerGrant {
                badge: Badge(3),
                ops: &[HypercallOp::Shutdown as u16],
                ranges: &[],
            },
        ];
        let mut table = CallerTable::<3, 1>::new(LIMITS, &grants, &[]).expect("valid table");
        assert_eq!(table.allow_event_port(Badge(1), 5), Ok(()));
        assert_eq!(table.allow_event_port(Badge(1), 5), Ok(()), "no change");
        assert_eq!(table.allow_event_port(Badge(2), 7), Ok(()));
        assert_eq!(
            table.allow_event_port(Badge(3), 5),
            Err(EventPortError::NotPermitted)
        );
        assert_eq!(
            table.allow_event_port(Badge(4), 5),
            Err(EventPortError::UnknownCaller)
        );
        assert_eq!(
            table.allow_event_port(Badge(1), 0),
            Err(EventPortError::ZeroPort)
        );
        let (_, first) = table.caller(Badge(1)).expect("known");
        assert_eq!(first.event_ports(), &[5]);
        assert!(first.may_send_to(5) && !first.may_send_to(7));
        let (_, second) = table.caller(Badge(2)).expect("known");
        assert!(second.may_send_to(7) && !second.may_send_to(5));
        for port in 6..6 + EVENT_PORTS_PER_CALLER as u32 - 1 {
            assert_eq!(table.allow_event_port(Badge(1), port), Ok(()));
        }
        assert_eq!(
            table.allow_event_port(Badge(1), 100),
            Err(EventPortError::TooManyPorts)
        );
        let (_, first) = table.caller(Badge(1)).expect("known");
        assert_eq!(first.event_ports().len(), EVENT_PORTS_PER_CALLER);
        assert!(!first.may_send_to(100));
    }

    #[test]
    fn lending_ranges_and_grant_domains_go_only_to_callers_that_use_them() {
        let lend = HypercallOp::LendNotice as u16;
        let map = HypercallOp::GrantMap as u16;
        let ram = [range(0x100, 0x100)];
        let grants = [
            CallerGrant {
                badge: Badge(1),
                ops: &[lend],
                ranges: &ram,
            },
            CallerGrant {
                badge: Badge(2),
                ops: &[map],
                ranges: &[],
            },
        ];
        let mut table = CallerTable::<2, 2>::new(LIMITS, &grants, &[]).expect("valid table");
        let window = range(0x1000, 0x100);
        let refused = Err::<(), CallerTableError>;
        assert_eq!(
            table.allow_lending(Badge(2), window),
            refused(CallerTableError::NotPermitted)
        );
        assert_eq!(
            table.allow_lending(Badge(9), window),
            refused(CallerTableError::UnknownCaller)
        );
        assert_eq!(
            table.allow_lending(Badge(1), range(0x1ff, 2)),
            refused(CallerTableError::OverlappingRanges),
            "its own RAM"
        );
        assert_eq!(
            table.allow_lending(Badge(1), FrameRun::new(Gfn(0x1000), 0)),
            refused(CallerTableError::BadRange)
        );
        assert_eq!(table.allow_lending(Badge(1), window), Ok(()));
        assert_eq!(
            table.allow_lending(Badge(1), range(0x10ff, 1)),
            refused(CallerTableError::OverlappingRanges),
            "lent twice"
        );
        let (_, server) = table.caller(Badge(1)).expect("known");
        assert_eq!(server.lending(), [window]);
        assert!(server.may_lend(&range(0x1010, 0x10)) && server.may_lend(&range(0x100, 1)));
        assert!(!server.may_lend(&range(0x10f0, 0x20)), "past the window");
        assert!(
            !server.owns_run(&window),
            "lent, never owned: nobody populates it"
        );

        assert_eq!(
            table.allow_grant_domain(Badge(1), 0),
            refused(CallerTableError::NotPermitted)
        );
        assert_eq!(
            table.allow_grant_domain(Badge(2), DOMID_SELF),
            refused(CallerTableError::BadGrantDomain)
        );
        for domid in 0..GRANT_DOMAINS_PER_CALLER as u16 {
            assert_eq!(table.allow_grant_domain(Badge(2), domid), Ok(()));
        }
        assert_eq!(table.allow_grant_domain(Badge(2), 0), Ok(()), "no change");
        assert_eq!(
            table.allow_grant_domain(Badge(2), 100),
            refused(CallerTableError::TooManyGrantDomains)
        );
        let (_, driver) = table.caller(Badge(2)).expect("known");
        assert!(driver.may_map_from(0) && !driver.may_map_from(100));
        assert_eq!(driver.grant_domains().len(), GRANT_DOMAINS_PER_CALLER);
    }

    #[test]
    fn overlapping_ranges_of_one_caller_are_refused() {
        let ranges = [range(10, 10), range(0, 11)];
        let grants = [CallerGrant {
            badge: Badge(1),
            ops: ALL_OPS,
            ranges: &ranges,
        }];
        assert_eq!(
            CallerTable::<1, 2>::new(LIMITS, &grants, &[]).map(|_| ()),
            Err(CallerTableError::OverlappingRanges)
        );
    }
}
