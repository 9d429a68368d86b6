//! The gateway itself: the only holder of the Hypervisor backend. Every request is checked against
//! the caller table (and, for grants, the grant book), in a fixed order, and reaches Xen only if
//! every check passes.

use core::borrow::BorrowMut;

use ballast_interfaces::hypercall::HypercallOp;
use ballast_ipc::Badge;
use ballast_xen::abi::{EventPort, ShutdownReason};
use ballast_xen::grant::GrantTable;
use ballast_xen::{
    Completed, ExtentOrder, FrameRun, Gfn, Hypervisor, MemFlags, ReservationOp, XenErrno,
};

use crate::caller_table::CallerEntry;
use crate::checks::{all_aligned, all_owned, flags_allowed, has_repeat};
use crate::counters::{Attribution, GatewayCounters};
use crate::grant_book::GrantBook;
use crate::grant_ops::GrantScratch;
use crate::page_state::{Mismatch, PageState};
use crate::{CallerTable, CallerTableError, EventPortError, GatewayError, QueryError};
use ballast_interfaces::grants::{GrantMapEntry, GrantUnmapEntry};

/// The hypercall gateway over backend `H`, for at most `CALLERS` callers of at most `RANGES`
/// ranges each, and lists of at most `FRAMES` extents (the table's per-call maximum must fit),
/// keeping its page state in storage `B` (borrowed, or owned and freed with the gateway).
#[derive(Debug)]
pub struct Gateway<B, H, const CALLERS: usize, const RANGES: usize, const FRAMES: usize> {
    table: CallerTable<CALLERS, RANGES>,
    backend: Backend<B, H, CALLERS, FRAMES>,
}

/// What a request changes: the hypervisor, the counters, the grant book, the page state (and the
/// extents it waits to settle), the duplicate check's scratch and the buffer grant batches are
/// built in for Xen. Kept apart from the table so that dispatch can read the table while the
/// gateway serves a call.
#[derive(Debug)]
pub(crate) struct Backend<B, H, const CALLERS: usize, const FRAMES: usize> {
    pub(crate) hypervisor: H,
    pub(crate) counters: GatewayCounters<CALLERS>,
    scratch: [Gfn; FRAMES],
    pub(crate) book: GrantBook,
    pub(crate) grant_scratch: GrantScratch,
    pages: PageState<B>,
    unsettled: [Gfn; FRAMES],
}

/// The gateway serving one request: the table it reads, the backend it changes.
#[derive(Debug)]
pub(crate) struct Serving<'g, B, H, const CALLERS: usize, const RANGES: usize, const FRAMES: usize>
{
    pub(crate) table: &'g CallerTable<CALLERS, RANGES>,
    pub(crate) backend: &'g mut Backend<B, H, CALLERS, FRAMES>,
}

/// The `Hypercall` op that is Xen operation `op`: each names its own capability.
pub const fn op_of(op: ReservationOp) -> HypercallOp {
    match op {
        ReservationOp::Increase => HypercallOp::IncreaseReservation,
        ReservationOp::Decrease => HypercallOp::DecreaseReservation,
        ReservationOp::Populate => HypercallOp::PopulatePhysmap,
    }
}

impl<
        B: BorrowMut<[u64]>,
        H: Hypervisor + GrantTable,
        const CALLERS: usize,
        const RANGES: usize,
        const FRAMES: usize,
    > Gateway<B, H, CALLERS, RANGES, FRAMES>
{
    /// A gateway that owns `hypervisor` and enforces `table`, keeping the page state of the
    /// callers' ranges in `bitmap` (at least [`bitmap_words`] words) with the frames inside
    /// `populated` (the RAM Xen holds populated at boot) set. Fails if the table allows more
    /// extents per call than `FRAMES`, or if `bitmap` is too small.
    pub fn new(
        hypervisor: H,
        table: CallerTable<CALLERS, RANGES>,
        bitmap: B,
        populated: &[FrameRun],
    ) -> Result<Self, CallerTableError> {
        if table.max_frames_per_call() > FRAMES {
            return Err(CallerTableError::BadFramesPerCall);
        }
        let pages =
            PageState::new(bitmap, &table, populated).ok_or(CallerTableError::BitmapTooSmall)?;
        let counters = GatewayCounters::new(table.callers().iter().map(|caller| caller.badge()));
        Ok(Gateway {
            table,
            backend: Backend {
                hypervisor,
                counters,
                scratch: [Gfn(0); FRAMES],
                book: GrantBook::default(),
                grant_scratch: GrantScratch::new(),
                pages,
                unsettled: [Gfn(0); FRAMES],
            },
        })
    }

    /// The gateway serving one request, and the table apart (for dispatch's permission check).
    pub(crate) fn serving(
        &mut self,
    ) -> (
        Serving<'_, B, H, CALLERS, RANGES, FRAMES>,
        &CallerTable<CALLERS, RANGES>,
    ) {
        let serving = Serving {
            table: &self.table,
            backend: &mut self.backend,
        };
        (serving, &self.table)
    }

    /// Run reservation `op` for `caller` over `frames`, one extent of `order` each.
    ///
    /// Checked in this order, the first failure refusing the request before anything reaches
    /// Xen: the caller is in the table and holds the capability for the op (its `Hypercall` op);
    /// `domid` is this guest; `mem_flags` sets only address bits and node selection (see
    /// [`GatewayError::BadFlags`]); the order is at most the configured maximum; the list is at
    /// most the configured length; every frame is aligned to its extent; every extent lies inside
    /// one range the caller owns; no extent holds a mapped grant (a release or populate there
    /// would pull a page out from under a driver); no extent is lent to a driver
    /// ([`GatewayError::AlreadyLent`]: a populated frame a grant is later mapped into would be
    /// stranded by Xen); a populate list names no extent twice.
    ///
    /// An increase list is output only (Xen reads nothing from it and writes machine frames back
    /// for a non-translated guest), so the frame checks do not apply to it.
    ///
    /// An empty list completes 0 extents without a hypercall, as Xen would answer it. Otherwise
    /// Xen's answer is passed through exactly: a short count is Xen's failure report, not an error.
    pub fn reservation(
        &mut self,
        caller: Badge,
        op: ReservationOp,
        order: u8,
        mem_flags: u32,
        domid: u16,
        frames: &mut [Gfn],
    ) -> Result<Completed, GatewayError> {
        self.serving()
            .0
            .reservation(caller, op, order, mem_flags, domid, frames)
    }

    /// `XENMEM_current_reservation` for `caller`: the guest's page count.
    pub fn current_reservation(&mut self, caller: Badge) -> Result<u64, QueryError> {
        self.serving().0.current_reservation(caller)
    }

    /// `XENMEM_maximum_reservation` for `caller`: the guest's page limit.
    pub fn maximum_reservation(&mut self, caller: Badge) -> Result<u64, QueryError> {
        self.serving().0.maximum_reservation(caller)
    }

    /// `EVTCHNOP_send` on `port` for `caller`. Checked in this order: the caller is in the table
    /// and holds `event_send`; `port` is one the image gave it ([`Gateway::allow_event_port`]).
    /// Xen's errno, if it refuses the send, comes back as [`QueryError::Xen`].
    pub fn event_send(&mut self, caller: Badge, port: EventPort) -> Result<(), QueryError> {
        self.serving().0.event_send(caller, port)
    }

    /// `SCHEDOP_shutdown` with `reason` for `caller`. Checked in this order: the caller is in the
    /// table and holds `shutdown`; `reason` is poweroff (0), reboot (1) or crash (3). On real Xen
    /// an accepted shutdown does not return.
    pub fn shutdown(&mut self, caller: Badge, reason: u32) -> Result<(), QueryError> {
        self.serving().0.shutdown(caller, reason)
    }

    /// `GNTTABOP_map_grant_ref` for `caller`: map grant `entries[i].grant_ref` of domain `domid`
    /// at `entries[i].gfn`, one hypercall for the batch. Checked in this order, the first failure
    /// refusing the whole batch before Xen sees it: the caller is in the table and holds
    /// `grant_map`; `domid` is a granting domain the manifest lists for the caller
    /// ([`GatewayError::DomainNotAllowed`]); the batch holds at most [`crate::GRANTS_PER_CALL`]
    /// entries; each entry sets no flag
    /// but read-only, its gfn lies in a run the memory server lent to the caller
    /// ([`GatewayError::FrameNotLent`]: never populated RAM, never another caller's frames),
    /// holds no mapping yet and is not listed twice; the book has room for every entry. Xen's
    /// status and handle are then written into each entry, and the number mapped returned; an
    /// errno for the whole call comes back as [`QueryError::Xen`] (the entries it did map are
    /// still recorded and written back).
    pub fn grant_map(
        &mut self,
        caller: Badge,
        domid: u16,
        entries: &mut [GrantMapEntry],
    ) -> Result<u32, QueryError> {
        self.serving().0.grant_map(caller, domid, entries)
    }

    /// `GNTTABOP_unmap_grant_ref` for `caller`: unmap the mappings whose handles `entries` name,
    /// one hypercall for the batch, at the address each was mapped at. Checked first: the caller
    /// holds `grant_unmap`, the batch holds at most [`crate::GRANTS_PER_CALL`] entries, and each handle
    /// names one of the caller's mappings, once. Xen's status is written into each entry and the
    /// number unmapped returned; a mapping Xen did not remove stays recorded.
    pub fn grant_unmap(
        &mut self,
        caller: Badge,
        entries: &mut [GrantUnmapEntry],
    ) -> Result<u32, QueryError> {
        self.serving().0.grant_unmap(caller, entries)
    }

    /// The memory server (`caller`, holding `lend_notice`) lent the run `first_gfn ..
    /// first_gfn + count` to the caller with gateway badge `borrower`, which must hold
    /// `grant_map`. Refused unless the run is valid, lies inside RAM `caller` owns or inside its
    /// lending range ([`CallerTable::allow_lending`]), and overlaps no loan. No Xen call.
    pub fn lend_notice(
        &mut self,
        caller: Badge,
        borrower: u32,
        first_gfn: u64,
        count: u64,
    ) -> Result<(), QueryError> {
        self.serving()
            .0
            .lend_notice(caller, borrower, first_gfn, count)
    }

    /// The memory server (`caller`, holding `return_notice`) got back the run `first_gfn ..
    /// first_gfn + count` from `borrower`. Refused unless it lies inside one run lent to
    /// `borrower` ([`GatewayError::FrameNotLent`]) and none of its frames holds a mapped grant
    /// ([`GatewayError::FrameMapped`]: the memory server must then keep the frames away from
    /// everyone until the mapping is gone). No Xen call.
    pub fn return_notice(
        &mut self,
        caller: Badge,
        borrower: u32,
        first_gfn: u64,
        count: u64,
    ) -> Result<(), QueryError> {
        self.serving()
            .0
            .return_notice(caller, borrower, first_gfn, count)
    }

    /// `caller` died: unmap every grant it still has mapped, before the memory server takes its
    /// borrowed frames back. Returns the mappings Xen would not remove (they stay recorded and
    /// their frames guarded).
    pub fn unmap_all(&mut self, caller: Badge) -> usize {
        self.serving().0.unmap_all(caller)
    }

    /// Whether the frame at `gfn`, of a range `caller` owns, is populated as the gateway knows
    /// it (`None`: not a frame the caller owns).
    pub fn is_populated(&self, caller: Badge, gfn: Gfn) -> Option<bool> {
        let (index, _) = self.table.caller(caller)?;
        self.backend.pages.is_populated(&self.table, index, gfn)
    }

    /// The page state: one bit per frame the callers own, in table order, set while populated.
    pub fn populated_bits(&self) -> &[u64] {
        self.backend.pages.bits()
    }

    /// Grants mapped now, over every caller.
    pub fn grants_mapped(&self) -> usize {
        self.backend.book.mapped()
    }

    /// Frames the memory server has lent to `caller` now, as its notices told.
    pub fn lent_frames(&self, caller: Badge) -> u64 {
        self.table
            .caller(caller)
            .map_or(0, |(index, _)| self.backend.book.lent_frames(index))
    }

    /// Let `caller` send on event-channel `port` (see [`CallerTable::allow_event_port`]). For the
    /// image's boot code, which reads the port from Xen (e.g. `HVM_PARAM_STORE_EVTCHN`) before
    /// the gateway serves anyone.
    pub fn allow_event_port(
        &mut self,
        caller: Badge,
        port: EventPort,
    ) -> Result<(), EventPortError> {
        self.table.allow_event_port(caller, port)
    }

    pub(crate) fn count_protocol_rejection(&mut self) {
        self.backend.counters.protocol_rejection();
    }

    /// The gateway's counters.
    pub fn counters(&self) -> &GatewayCounters<CALLERS> {
        &self.backend.counters
    }

    /// The table it enforces.
    pub fn caller_table(&self) -> &CallerTable<CALLERS, RANGES> {
        &self.table
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
    /// [`Gateway::reservation`], for the request being served.
    pub(crate) fn reservation(
        &mut self,
        caller: Badge,
        op: ReservationOp,
        order: u8,
        mem_flags: u32,
        domid: u16,
        frames: &mut [Gfn],
    ) -> Result<Completed, GatewayError> {
        let known = self.table.caller(caller).map(|(index, _)| index);
        let who = Attribution {
            op: op_of(op),
            caller: known,
        };
        let counters = &mut self.backend.counters;
        counters.call(who);
        let checked = self.check_reservation(known, op, order, mem_flags, domid, frames);
        let counters = &mut self.backend.counters;
        let order = match checked {
            Ok(order) => order,
            Err(reason) => {
                counters.rejection(who, reason);
                return Err(reason);
            }
        };
        let completed = if frames.is_empty() {
            Completed::all(0)
        } else {
            if self.backend.pages.count().is_none() {
                self.read_count();
            }
            self.backend.counters.hypercall(who);
            self.backend
                .hypervisor
                .reservation(op, order, MemFlags::from_raw(mem_flags), frames)
        };
        self.backend
            .counters
            .reservation(who, frames.len(), completed);
        if let Some(caller) = known {
            let backend = &mut *self.backend;
            (backend.pages).completed(
                self.table,
                caller,
                op,
                order,
                frames,
                completed,
                &mut backend.unsettled,
            );
        }
        Ok(completed)
    }

    /// Read Xen's count for the page state, which has none yet (no caller has asked for it
    /// before its first reservation): counted as a hypercall of `current_reservation` from no
    /// caller. A failure leaves the state without a count.
    fn read_count(&mut self) {
        let who = Attribution {
            op: HypercallOp::CurrentReservation,
            caller: None,
        };
        self.backend.counters.hypercall(who);
        match self.backend.hypervisor.current_reservation() {
            Ok(count) => self.count_read(count),
            Err(_) => self.backend.counters.xen_error(who),
        }
    }

    /// Xen answered `count` to a reading: the page state settles what it waited for.
    fn count_read(&mut self, count: u64) {
        let backend = &mut *self.backend;
        (backend.pages).read_count(self.table, count, &backend.unsettled);
    }

    fn check_reservation(
        &mut self,
        caller: Option<usize>,
        op: ReservationOp,
        order: u8,
        mem_flags: u32,
        domid: u16,
        frames: &[Gfn],
    ) -> Result<ExtentOrder, GatewayError> {
        let entry = caller
            .and_then(|index| self.table.callers().get(index))
            .ok_or(GatewayError::UnknownCaller)?;
        if !entry.may(op_of(op)) {
            return Err(GatewayError::NotPermitted);
        }
        if !self.table.is_self(domid) {
            return Err(GatewayError::ForeignDomain);
        }
        if !flags_allowed(mem_flags) {
            return Err(GatewayError::BadFlags);
        }
        let order = ExtentOrder::new(order)
            .filter(|order| *order <= self.table.max_order())
            .ok_or(GatewayError::OrderTooLarge)?;
        if frames.len() > self.table.max_frames_per_call() {
            return Err(GatewayError::TooManyFrames);
        }
        if op == ReservationOp::Increase {
            return Ok(order);
        }
        if !all_aligned(frames, order) {
            return Err(GatewayError::Misaligned);
        }
        if !all_owned(frames, order, entry) {
            return Err(GatewayError::NotOwned);
        }
        let book = &self.backend.book;
        let extent = |first: &Gfn| FrameRun::new(*first, order.frames());
        if book.mapped() > 0
            && frames
                .iter()
                .any(|first| book.any_mapped_in(&extent(first)))
        {
            return Err(GatewayError::FrameMapped);
        }
        if book.lends() && frames.iter().any(|first| book.any_lent_in(&extent(first))) {
            return Err(GatewayError::AlreadyLent);
        }
        if op == ReservationOp::Populate && has_repeat(frames, &mut self.backend.scratch) {
            return Err(GatewayError::DuplicateFrame);
        }
        let index = caller.ok_or(GatewayError::UnknownCaller)?;
        (self.backend.pages)
            .check(self.table, index, op, order, frames)
            .map_err(|mismatch| match mismatch {
                Mismatch::Populated => GatewayError::FramePopulated,
                Mismatch::NotPopulated => GatewayError::FrameNotPopulated,
            })?;
        Ok(order)
    }

    /// `XENMEM_current_reservation` for `caller`: the guest's page count, which also settles the
    /// page state.
    pub(crate) fn current_reservation(&mut self, caller: Badge) -> Result<u64, QueryError> {
        let answer = self.query(
            caller,
            HypercallOp::CurrentReservation,
            H::current_reservation,
        );
        if let Ok(count) = answer {
            self.count_read(count);
        }
        answer
    }

    /// `XENMEM_maximum_reservation` for `caller`: the guest's page limit.
    pub(crate) fn maximum_reservation(&mut self, caller: Badge) -> Result<u64, QueryError> {
        self.query(
            caller,
            HypercallOp::MaximumReservation,
            H::maximum_reservation,
        )
    }

    /// `EVTCHNOP_send` on `port` for `caller`: [`Gateway::event_send`].
    pub(crate) fn event_send(&mut self, caller: Badge, port: EventPort) -> Result<(), QueryError> {
        self.checked_call(
            caller,
            HypercallOp::EventSend,
            |entry| {
                if entry.may_send_to(port) {
                    Ok(port)
                } else {
                    Err(GatewayError::PortNotAllowed)
                }
            },
            H::event_send,
        )
    }

    /// `SCHEDOP_shutdown` with `reason` for `caller`: [`Gateway::shutdown`].
    pub(crate) fn shutdown(&mut self, caller: Badge, reason: u32) -> Result<(), QueryError> {
        self.checked_call(
            caller,
            HypercallOp::Shutdown,
            |_| ShutdownReason::from_raw(reason).ok_or(GatewayError::BadShutdownReason),
            H::shutdown,
        )
    }

    fn query(
        &mut self,
        caller: Badge,
        op: HypercallOp,
        ask: fn(&mut H) -> Result<u64, XenErrno>,
    ) -> Result<u64, QueryError> {
        self.checked_call(caller, op, |_| Ok(()), |hypervisor, ()| ask(hypervisor))
    }

    /// One call that passes no list: counted, refused unless the caller is in the table and holds
    /// `op` and `check` passes on its entry (giving the argument Xen gets), then made, Xen's
    /// errno counted and passed back.
    fn checked_call<A, T>(
        &mut self,
        caller: Badge,
        op: HypercallOp,
        check: impl FnOnce(&CallerEntry<RANGES>) -> Result<A, GatewayError>,
        call: impl FnOnce(&mut H, A) -> Result<T, XenErrno>,
    ) -> Result<T, QueryError> {
        let entry = self.table.caller(caller);
        let who = Attribution {
            op,
            caller: entry.map(|(index, _)| index),
        };
        let counters = &mut self.backend.counters;
        counters.call(who);
        let checked = match entry {
            None => Err(GatewayError::UnknownCaller),
            Some((_, entry)) if !entry.may(op) => Err(GatewayError::NotPermitted),
            Some((_, entry)) => check(entry),
        };
        let argument = match checked {
            Ok(argument) => argument,
            Err(reason) => {
                counters.rejection(who, reason);
                return Err(QueryError::Refused(reason));
            }
        };
        counters.hypercall(who);
        call(&mut self.backend.hypervisor, argument).map_err(|errno| {
            self.backend.counters.xen_error(who);
            QueryError::Xen(errno)
        })
    }

    pub(crate) fn count_bad_frame_list(&mut self) {
        self.backend.counters.bad_frame_list();
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::{CallerGrant, FrameRun, Limits};
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

    /// The server's range: populated at boot.
    const OWNED: [FrameRun; 1] = [FrameRun::span(0x800, 0x1000)];

    /// Page-state storage for [`OWNED`], owned by the gateway.
    fn bitmap() -> std::vec::Vec<u64> {
        std::vec![0; 0x800 / 64]
    }

    fn table(max_frames_per_call: usize) -> CallerTable<1, 1> {
        let grants = [CallerGrant {
            badge: SERVER,
            ops: &[2, 3, 4, 5, 6, 7, 8],
            ranges: &OWNED,
        }];
        let limits = Limits {
            max_order: 9,
            max_frames_per_call,
            own_domid: None,
        };
        CallerTable::new(limits, &grants, &[]).expect("valid table")
    }

    #[test]
    fn storage_smaller_than_the_owned_frames_is_refused() {
        let (_, hypervisor) = xen();
        let short = std::vec![0; 0x800 / 64 - 1];
        let built = Gateway::<_, _, 1, 1, 8>::new(hypervisor, table(8), short, &OWNED).map(|_| ());
        assert_eq!(built, Err(CallerTableError::BitmapTooSmall));
    }

    #[test]
    fn a_populate_of_a_populated_frame_and_a_release_of_a_hole_are_refused() {
        let (sim, hypervisor) = xen();
        let dom = hypervisor.domain();
        let mut gateway =
            Gateway::<_, _, 1, 1, 8>::new(hypervisor, table(8), bitmap(), &OWNED).expect("fits");
        let (decrease, populate) = (ReservationOp::Decrease, ReservationOp::Populate);
        let mut one = [Gfn(0x900)];
        assert_eq!(
            gateway.reservation(SERVER, populate, 0, 0, DOMID_SELF, &mut one),
            Err(GatewayError::FramePopulated)
        );
        assert_eq!(
            gateway.reservation(SERVER, decrease, 0, 0, DOMID_SELF, &mut one),
            Ok(Completed::all(1))
        );
        assert_eq!(gateway.is_populated(SERVER, Gfn(0x900)), Some(false));
        assert_eq!(
            gateway.reservation(SERVER, decrease, 0, 0, DOMID_SELF, &mut one),
            Err(GatewayError::FrameNotPopulated)
        );
        let mut superpage = [Gfn(0xa00)];
        let pages_before = sim.tot_pages(dom);
        assert_eq!(
            gateway.reservation(SERVER, decrease, 9, 0, DOMID_SELF, &mut [Gfn(0x800)]),
            Err(GatewayError::FrameNotPopulated),
            "an extent holding the hole"
        );
        assert_eq!(sim.tot_pages(dom), pages_before, "nothing reached Xen");
        assert_eq!(
            gateway.reservation(SERVER, decrease, 9, 0, DOMID_SELF, &mut superpage),
            Ok(Completed::all(1))
        );
        assert_eq!(
            gateway.reservation(SERVER, populate, 0, 0, DOMID_SELF, &mut one),
            Ok(Completed::all(1))
        );
        assert_eq!(
            gateway.reservation(SERVER, populate, 9, 0, DOMID_SELF, &mut superpage),
            Ok(Completed::all(1))
        );
        assert_eq!(sim.leaked_pages(dom), Some(0));
        let counted = gateway.counters().total();
        assert_eq!(counted.rejections.get(GatewayError::FramePopulated), 1);
        assert_eq!(counted.rejections.get(GatewayError::FrameNotPopulated), 2);
    }

    #[test]
    fn a_table_wider_than_the_scratch_buffer_is_refused() {
        let (_, hypervisor) = xen();
        let built =
            Gateway::<_, _, 1, 1, 8>::new(hypervisor, table(9), bitmap(), &OWNED).map(|_| ());
        assert_eq!(built, Err(CallerTableError::BadFramesPerCall));
    }

    #[test]
    fn a_list_at_the_limit_passes_and_one_more_frame_does_not() {
        let (sim, hypervisor) = xen();
        let mut gateway =
            Gateway::<_, _, 1, 1, 8>::new(hypervisor, table(8), bitmap(), &OWNED).expect("fits");
        let mut frames: [Gfn; 9] = core::array::from_fn(|i| Gfn(0x800 + i as u64));
        let decrease = ReservationOp::Decrease;
        let refused = gateway.reservation(SERVER, decrease, 0, 0, DOMID_SELF, &mut frames);
        assert_eq!(refused, Err(GatewayError::TooManyFrames));
        let done = gateway.reservation(SERVER, decrease, 0, 0, DOMID_SELF, &mut frames[..8]);
        assert_eq!(done, Ok(Completed::all(8)));
        assert_eq!(
            sim.counters(gateway.backend.hypervisor.domain())
                .map(|c| c.decrease_calls),
            Some(1)
        );
        assert_eq!(gateway.caller_table().max_frames_per_call(), 8);
    }

    const AGENT: Badge = Badge(2);

    /// The memory server holding the memory ops only, the agent holding `event_send` and
    /// `shutdown`, over a domain whose port 1 is bound to dom0.
    fn agent_gateway() -> (
        XenSim,
        Gateway<std::vec::Vec<u64>, SimHypervisor, 2, 1, 8>,
        u32,
    ) {
        let (sim, hypervisor) = xen();
        let dom0 = (sim.create_dom0(DomainConfig::domu(0..16, 16))).expect("the host's one dom0");
        let store = sim
            .bind_event_channel(hypervisor.domain(), dom0)
            .expect("a port");
        let owned = [FrameRun::checked(Gfn(0x800), 0x800).expect("valid")];
        let grants = [
            CallerGrant {
                badge: SERVER,
                ops: &[2, 3, 4, 5, 6],
                ranges: &owned,
            },
            CallerGrant {
                badge: AGENT,
                ops: &[7, 8],
                ranges: &[],
            },
        ];
        let limits = Limits {
            max_order: 9,
            max_frames_per_call: 8,
            own_domid: None,
        };
        let table = CallerTable::new(limits, &grants, &[]).expect("valid table");
        let gateway = Gateway::new(hypervisor, table, bitmap(), &OWNED).expect("fits");
        (sim, gateway, store)
    }

    #[test]
    fn an_event_goes_out_only_on_a_port_the_caller_was_given() {
        let (sim, mut gateway, store) = agent_gateway();
        let dom = gateway.backend.hypervisor.domain();
        let refused = QueryError::Refused(GatewayError::PortNotAllowed);
        assert_eq!(gateway.event_send(AGENT, store), Err(refused));
        assert_eq!(
            gateway.allow_event_port(SERVER, store),
            Err(EventPortError::NotPermitted)
        );
        assert_eq!(gateway.allow_event_port(AGENT, store), Ok(()));
        assert_eq!(gateway.event_send(AGENT, store), Ok(()));
        assert_eq!(gateway.event_send(AGENT, store + 1), Err(refused));
        let not_permitted = QueryError::Refused(GatewayError::NotPermitted);
        assert_eq!(gateway.event_send(SERVER, store), Err(not_permitted));
        let unknown = QueryError::Refused(GatewayError::UnknownCaller);
        assert_eq!(gateway.event_send(Badge(9), store), Err(unknown));
        assert_eq!(sim.event_sends(dom, store), Some(1), "one send reached Xen");

        let counted = gateway.counters().op(HypercallOp::EventSend);
        assert_eq!((counted.calls, counted.hypercalls), (5, 1));
        assert_eq!(counted.rejections.get(GatewayError::PortNotAllowed), 2);
        assert_eq!(counted.rejections.get(GatewayError::NotPermitted), 1);
        assert_eq!(counted.rejections.get(GatewayError::UnknownCaller), 1);
        let server = gateway.counters().caller(SERVER).expect("in the table");
        assert_eq!((server.calls, server.rejections.total()), (1, 1));
    }

    #[test]
    fn xen_refusing_a_send_comes_back_as_its_errno() {
        let (sim, mut gateway, store) = agent_gateway();
        let unbound = store + 1;
        assert_eq!(gateway.allow_event_port(AGENT, unbound), Ok(()));
        assert_eq!(
            gateway.event_send(AGENT, unbound),
            Err(QueryError::Xen(XenErrno::EINVAL))
        );
        let counted = gateway.counters().op(HypercallOp::EventSend);
        assert_eq!((counted.hypercalls, counted.xen_errors), (1, 1));
        let dom = gateway.backend.hypervisor.domain();
        assert_eq!(sim.event_sends(dom, store), Some(0));
    }

    #[test]
    fn only_poweroff_reboot_and_crash_reach_xen_and_only_from_the_holder() {
        let (sim, mut gateway, _) = agent_gateway();
        let dom = gateway.backend.hypervisor.domain();
        let bad = QueryError::Refused(GatewayError::BadShutdownReason);
        for reason in [2, 4, 5, 0x100, u32::MAX] {
            assert_eq!(gateway.shutdown(AGENT, reason), Err(bad), "reason {reason}");
        }
        let not_permitted = QueryError::Refused(GatewayError::NotPermitted);
        assert_eq!(gateway.shutdown(SERVER, 0), Err(not_permitted));
        assert_eq!(sim.shutdown_reason(dom), None, "nothing reached Xen");
        assert_eq!(gateway.shutdown(AGENT, 3), Ok(()));
        assert_eq!(sim.shutdown_reason(dom), Some(3));
        let counted = gateway.counters().op(HypercallOp::Shutdown);
        assert_eq!((counted.calls, counted.hypercalls), (7, 1));
        assert_eq!(counted.rejections.get(GatewayError::BadShutdownReason), 5);
    }
}
