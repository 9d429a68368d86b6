//! The gateway's grant ops: `grant_map` and `grant_unmap` for drivers, the memory server's lend and
//! return notices, and the unmapping of a dead caller's grants. The rule they enforce is the grant
//! book's ([`crate::grant_book`]): grants go only into frames lent to the caller, and come only
//! from the granting domains the caller table lists for it.
//!
//! A batch is checked whole before Xen sees any of it (one bad entry refuses the call, nothing
//! mapped), copied into the gateway's own buffer as Xen's structs (the host address built from the
//! checked gfn, `GNTMAP_host_map` always), and sent in one hypercall. Xen's status then decides per
//! entry: an entry Xen refused (a bad or revoked reference, a grant to another domain) fails
//! alone, its `GNTST_*` status written back; the others are mapped and recorded.

use core::borrow::BorrowMut;

use ballast_interfaces::hypercall::HypercallOp;
use ballast_ipc::Badge;
use ballast_xen::grant::{
    GnttabMapGrantRef, GnttabUnmapGrantRef, GrantTable, GNTMAP_HOST_MAP, GNTMAP_READONLY,
    GNTST_GENERAL_ERROR, GNTST_NO_SPACE, GNTST_OKAY,
};
use ballast_xen::{FrameRun, Gfn, Hypervisor, XenErrno, PAGE_SHIFT};
use zerocopy::{FromBytes, IntoBytes};

use crate::counters::Attribution;
use crate::gateway::Serving;
use crate::grant_book::Mapping;
use crate::{GatewayError, QueryError};
use ballast_interfaces::grants::{GrantMapEntry, GrantUnmapEntry, GRANTS_PER_CALL, GRANT_READONLY};

/// The buffer a batch is built in for Xen: [`GRANTS_PER_CALL`] map entries, and the same bytes
/// viewed as unmap entries (24 bytes each against 32), so that the gateway carries one buffer.
#[derive(Debug)]
pub(crate) struct GrantScratch([GnttabMapGrantRef; GRANTS_PER_CALL]);

impl GrantScratch {
    pub(crate) const fn new() -> GrantScratch {
        GrantScratch(
            [GnttabMapGrantRef {
                host_addr: 0,
                flags: 0,
                grant_ref: 0,
                dom: 0,
                status: 0,
                handle: 0,
                dev_bus_addr: 0,
            }; GRANTS_PER_CALL],
        )
    }

    /// The first `count` map entries (at most [`GRANTS_PER_CALL`]).
    fn maps(&mut self, count: usize) -> &mut [GnttabMapGrantRef] {
        &mut self.0[..count.min(GRANTS_PER_CALL)]
    }

    /// The first `count` unmap entries (at most [`GRANTS_PER_CALL`]), over the same bytes.
    fn unmaps(&mut self, count: usize) -> &mut [GnttabUnmapGrantRef] {
        let bytes = self.0.as_mut_bytes();
        match <[GnttabUnmapGrantRef]>::mut_from_prefix_with_elems(bytes, count.min(GRANTS_PER_CALL))
        {
            Ok((unmaps, _)) => unmaps,
            Err(_) => &mut [],
        }
    }
}

/// Xen's host address for a gfn of an auto-translated guest.
const fn host_addr(gfn: Gfn) -> u64 {
    gfn.0 << PAGE_SHIFT
}

impl<
        B: BorrowMut<[u64]>,
        H: Hypervisor + GrantTable,
        const CALLERS: usize,
        const RANGES: usize,
        const FRAMES: usize,
    > Serving<'_, B, H, CALLERS, RANGES, FRAMES>
{
    /// Count a call to `op` from `caller` and check it holds `op`: its table index, or the
    /// refusal (counted).
    fn admit(
        &mut self,
        caller: Badge,
        op: HypercallOp,
    ) -> Result<usize, (Attribution, GatewayError)> {
        let entry = self.table.caller(caller);
        let who = Attribution {
            op,
            caller: entry.map(|(index, _)| index),
        };
        self.backend.counters.call(who);
        match entry {
            None => Err((who, GatewayError::UnknownCaller)),
            Some((_, entry)) if !entry.may(op) => Err((who, GatewayError::NotPermitted)),
            Some((index, _)) => Ok(index),
        }
    }

    fn refuse<T>(&mut self, who: Attribution, reason: GatewayError) -> Result<T, QueryError> {
        self.backend.counters.rejection(who, reason);
        Err(QueryError::Refused(reason))
    }

    /// `grant_map` for `caller`: [`crate::Gateway::grant_map`].
    pub(crate) fn grant_map(
        &mut self,
        caller: Badge,
        domid: u16,
        entries: &mut [GrantMapEntry],
    ) -> Result<u32, QueryError> {
        let index = match self.admit(caller, HypercallOp::GrantMap) {
            Ok(index) => index,
            Err((who, reason)) => return self.refuse(who, reason),
        };
        let who = Attribution {
            op: HypercallOp::GrantMap,
            caller: Some(index),
        };
        let may_map_from = self.table.callers()[index].may_map_from(domid);
        if !may_map_from {
            return self.refuse(who, GatewayError::DomainNotAllowed);
        }
        if let Err(reason) = self.check_map(index, entries) {
            return self.refuse(who, reason);
        }
        if entries.is_empty() {
            return Ok(0);
        }
        let count = entries.len();
        let batch = self.backend.grant_scratch.maps(count);
        for (slot, entry) in batch.iter_mut().zip(entries.iter()) {
            let readonly = entry.flags & GRANT_READONLY != 0;
            *slot = GnttabMapGrantRef {
                host_addr: host_addr(Gfn(entry.gfn)),
                flags: GNTMAP_HOST_MAP | if readonly { GNTMAP_READONLY } else { 0 },
                grant_ref: entry.grant_ref,
                dom: domid,
                // Xen writes every entry it processes; one it never reached reads as failed.
                status: GNTST_GENERAL_ERROR,
                handle: 0,
                dev_bus_addr: 0,
            };
        }
        self.backend.counters.hypercall(who);
        let answer = self.backend.hypervisor.map_grants(batch);
        let mut mapped: usize = 0;
        for (position, entry) in entries.iter_mut().enumerate() {
            let made = self.backend.grant_scratch.maps(count)[position];
            let gfn = Gfn(entry.gfn);
            let mut status = made.status;
            if status == GNTST_OKAY {
                let recorded = Mapping::new(index, gfn, made.handle)
                    .is_some_and(|mapping| self.backend.book.record(mapping).is_ok());
                if recorded {
                    // At most one per entry of the batch.
                    mapped = mapped.saturating_add(1);
                } else {
                    self.unmap_unrecorded(gfn, made.handle);
                    status = GNTST_NO_SPACE;
                }
            }
            entry.handle = made.handle;
            entry.status = i32::from(status);
        }
        self.backend.counters.grants(who, entries.len(), mapped);
        match answer {
            Ok(()) => Ok(mapped as u32),
            Err(errno) => {
                self.backend.counters.xen_error(who);
                Err(QueryError::Xen(errno))
            }
        }
    }

    /// The checks of a map batch, in order: its length; then per entry its flags, that its gfn is
    /// lent to the caller, holds no mapping and is not listed before; and that the book has room
    /// for every entry.
    fn check_map(&self, caller: usize, entries: &[GrantMapEntry]) -> Result<(), GatewayError> {
        if entries.len() > GRANTS_PER_CALL {
            return Err(GatewayError::TooManyFrames);
        }
        let book = &self.backend.book;
        for (position, entry) in entries.iter().enumerate() {
            let gfn = Gfn(entry.gfn);
            if entry.flags & !GRANT_READONLY != 0 {
                return Err(GatewayError::BadGrantEntry);
            }
            if !book.lent_to(caller, gfn) {
                return Err(GatewayError::FrameNotLent);
            }
            if book.any_mapped_in(&FrameRun::new(gfn, 1)) {
                return Err(GatewayError::FrameMapped);
            }
            if entries[..position]
                .iter()
                .any(|before| before.gfn == entry.gfn)
            {
                return Err(GatewayError::DuplicateFrame);
            }
        }
        if book.room() < entries.len() {
            return Err(GatewayError::TooManyGrants);
        }
        Ok(())
    }

    /// Undo a mapping Xen made but the book could not record (it checked its room first, so this
    /// does not happen): a mapping the gateway does not know of would leave its frame unguarded.
    fn unmap_unrecorded(&mut self, gfn: Gfn, handle: u32) {
        let mut undo = [GnttabUnmapGrantRef {
            host_addr: host_addr(gfn),
            handle,
            ..GnttabUnmapGrantRef::default()
        }];
        // Xen's answer changes nothing here: the mapping was never the caller's.
        let _ = self.backend.hypervisor.unmap_grants(&mut undo);
    }

    /// `grant_unmap` for `caller`: [`crate::Gateway::grant_unmap`].
    pub(crate) fn grant_unmap(
        &mut self,
        caller: Badge,
        entries: &mut [GrantUnmapEntry],
    ) -> Result<u32, QueryError> {
        let index = match self.admit(caller, HypercallOp::GrantUnmap) {
            Ok(index) => index,
            Err((who, reason)) => return self.refuse(who, reason),
        };
        let who = Attribution {
            op: HypercallOp::GrantUnmap,
            caller: Some(index),
        };
        if entries.len() > GRANTS_PER_CALL {
            return self.refuse(who, GatewayError::TooManyFrames);
        }
        for (position, entry) in entries.iter().enumerate() {
            let repeated = entries[..position]
                .iter()
                .any(|before| before.handle == entry.handle);
            if repeated || self.backend.book.mapped_at(index, entry.handle).is_none() {
                return self.refuse(who, GatewayError::UnknownHandle);
            }
        }
        if entries.is_empty() {
            return Ok(0);
        }
        let count = entries.len();
        let batch = self.backend.grant_scratch.unmaps(count);
        for (slot, entry) in batch.iter_mut().zip(entries.iter()) {
            let gfn = self.backend.book.mapped_at(index, entry.handle);
            *slot = GnttabUnmapGrantRef {
                host_addr: gfn.map_or(0, host_addr),
                dev_bus_addr: 0,
                handle: entry.handle,
                status: GNTST_GENERAL_ERROR,
                padding: [0; 2],
            };
        }
        let (done, answer) = self.unmap_batch(who, index, count);
        let sent = self.backend.grant_scratch.unmaps(count);
        for (entry, sent) in entries.iter_mut().zip(sent.iter()) {
            entry.status = i32::from(sent.status);
        }
        match answer {
            Ok(()) => Ok(done as u32),
            Err(errno) => Err(QueryError::Xen(errno)),
        }
    }

    /// Send the first `count` entries of the unmap buffer for `caller` in one hypercall and forget
    /// each mapping Xen removed: how many, and Xen's answer to the call.
    fn unmap_batch(
        &mut self,
        who: Attribution,
        caller: usize,
        count: usize,
    ) -> (usize, Result<(), XenErrno>) {
        self.backend.counters.hypercall(who);
        let batch = self.backend.grant_scratch.unmaps(count);
        let answer = self.backend.hypervisor.unmap_grants(batch);
        let mut done: usize = 0;
        for sent in self.backend.grant_scratch.unmaps(count).iter() {
            if sent.status == GNTST_OKAY {
                self.backend.book.forget(caller, sent.handle);
                // At most one per entry of the batch.
                done = done.saturating_add(1);
            }
        }
        self.backend.counters.grants(who, count, done);
        if answer.is_err() {
            self.backend.counters.xen_error(who);
        }
        (done, answer)
    }

    /// Unmap every grant `caller` (dead) still has mapped, in batches, before its borrowed frames
    /// can go back. A mapping Xen refuses to remove stays recorded, its frame guarded. Returns the
    /// mappings left.
    pub(crate) fn unmap_all(&mut self, caller: Badge) -> usize {
        let Some((index, _)) = self.table.caller(caller) else {
            return 0;
        };
        let who = Attribution {
            op: HypercallOp::GrantUnmap,
            caller: Some(index),
        };
        loop {
            let mut count: usize = 0;
            let scratch = self.backend.grant_scratch.unmaps(GRANTS_PER_CALL);
            for (slot, mapping) in scratch.iter_mut().zip(self.backend.book.mappings_of(index)) {
                *slot = GnttabUnmapGrantRef {
                    host_addr: host_addr(mapping.gfn),
                    dev_bus_addr: 0,
                    handle: mapping.handle,
                    status: GNTST_GENERAL_ERROR,
                    padding: [0; 2],
                };
                // At most one per slot of the scratch.
                count = count.saturating_add(1);
            }
            if count == 0 {
                return 0;
            }
            let (done, _) = self.unmap_batch(who, index, count);
            if done == 0 {
                return self.backend.book.mappings_of(index).count();
            }
        }
    }

    /// A lend or return notice from `caller` for `borrower`'s run: counted and checked (the caller
    /// holds `op`, the run is valid, the borrower holds `grant_map`), then `apply`.
    fn notice(
        &mut self,
        caller: Badge,
        op: HypercallOp,
        borrower: u32,
        first_gfn: u64,
        count: u64,
        apply: impl FnOnce(&mut Self, usize, usize, FrameRun) -> Result<(), GatewayError>,
    ) -> Result<(), QueryError> {
        let index = match self.admit(caller, op) {
            Ok(index) => index,
            Err((who, reason)) => return self.refuse(who, reason),
        };
        let who = Attribution {
            op,
            caller: Some(index),
        };
        let borrower = self
            .table
            .caller(Badge(borrower))
            .filter(|(_, entry)| entry.may(HypercallOp::GrantMap))
            .map(|(borrower, _)| borrower);
        let checked = match (borrower, FrameRun::checked(Gfn(first_gfn), count)) {
            (Some(borrower), Some(run)) => apply(self, index, borrower, run),
            _ => Err(GatewayError::BadBorrower),
        };
        checked.or_else(|reason| self.refuse(who, reason))
    }

    /// `lend_notice` from `caller`: [`crate::Gateway::lend_notice`].
    pub(crate) fn lend_notice(
        &mut self,
        caller: Badge,
        borrower: u32,
        first_gfn: u64,
        count: u64,
    ) -> Result<(), QueryError> {
        let op = HypercallOp::LendNotice;
        self.notice(
            caller,
            op,
            borrower,
            first_gfn,
            count,
            |serving, lender, borrower, run| {
                if !serving.table.callers()[lender].may_lend(&run) {
                    return Err(GatewayError::NotOwned);
                }
                serving.backend.book.lend(borrower, run)
            },
        )
    }

    /// `return_notice` from `caller`: [`crate::Gateway::return_notice`].
    pub(crate) fn return_notice(
        &mut self,
        caller: Badge,
        borrower: u32,
        first_gfn: u64,
        count: u64,
    ) -> Result<(), QueryError> {
        let op = HypercallOp::ReturnNotice;
        self.notice(
            caller,
            op,
            borrower,
            first_gfn,
            count,
            |serving, _, borrower, run| serving.backend.book.give_back(borrower, run),
        )
    }
}
