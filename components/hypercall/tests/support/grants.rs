//! The rig's grant calls: the granting domain's grants, the memory server's notices, and a
//! driver's map and unmap batches through the gateway (for the test crates that exercise them).

use std::ops::Range;

use ballast_hypercall::{GatewayError, GrantMapEntry, GrantUnmapEntry, QueryError, GRANT_READONLY};
use ballast_ipc::Badge;
use ballast_xen::grant::GrantRef;
use ballast_xen_sim::DomId;

use crate::support::{Rig, SERVER};

/// One grant to map: `(reference, gfn to map it at, read-only)`.
pub type GrantAt = (GrantRef, u64, bool);

/// What page `page` of the granting domain holds in these tests.
pub fn pattern(page: u64) -> u64 {
    0x6772_616e_7400_0000 | page
}

impl Rig {
    /// The granting domain (`other`) fills its page `page` with [`pattern`] and grants it to `to`.
    pub fn grant(&self, page: u64, to: DomId, readonly: bool) -> GrantRef {
        self.sim
            .write_page(self.other, page, pattern(page))
            .expect("populated");
        self.sim
            .grant_access(self.other, page, to, readonly)
            .expect("a free reference")
    }

    /// The memory server tells the gateway it lent `gfns` to `borrower`.
    pub fn lend(&mut self, borrower: Badge, gfns: Range<u64>) -> Result<(), QueryError> {
        let count = gfns.end - gfns.start;
        self.gateway
            .lend_notice(SERVER, borrower.0, gfns.start, count)
    }

    /// The memory server tells the gateway `gfns` came back from `borrower`.
    pub fn give_back(&mut self, borrower: Badge, gfns: Range<u64>) -> Result<(), QueryError> {
        let count = gfns.end - gfns.start;
        self.gateway
            .return_notice(SERVER, borrower.0, gfns.start, count)
    }

    /// `grant_map` of `grants` from domain `domid` for `caller`: the answer and the entries as
    /// the gateway wrote them back.
    pub fn map(
        &mut self,
        caller: Badge,
        domid: u16,
        grants: &[GrantAt],
    ) -> (Result<u32, QueryError>, Vec<GrantMapEntry>) {
        let mut entries: Vec<GrantMapEntry> = grants
            .iter()
            .map(|&(grant_ref, gfn, readonly)| GrantMapEntry {
                gfn,
                grant_ref,
                flags: if readonly { GRANT_READONLY } else { 0 },
                ..GrantMapEntry::default()
            })
            .collect();
        let answer = self.gateway.grant_map(caller, domid, &mut entries);
        (answer, entries)
    }

    /// `grant_unmap` of `handles` for `caller`: the answer and the entries written back.
    pub fn unmap(
        &mut self,
        caller: Badge,
        handles: &[u32],
    ) -> (Result<u32, QueryError>, Vec<GrantUnmapEntry>) {
        let mut entries: Vec<GrantUnmapEntry> = handles
            .iter()
            .map(|&handle| GrantUnmapEntry { handle, status: 0 })
            .collect();
        let answer = self.gateway.grant_unmap(caller, &mut entries);
        (answer, entries)
    }

    /// A grant request for `caller` that must be refused with `expected` before Xen sees it.
    pub fn assert_map_refused(
        &mut self,
        caller: Badge,
        domid: u16,
        grants: &[GrantAt],
        expected: GatewayError,
    ) {
        let before = self.xen_view();
        let rejected_before = self.gateway.counters().total().rejections.get(expected);
        let (answer, entries) = self.map(caller, domid, grants);
        assert_eq!(answer, Err(QueryError::Refused(expected)), "{grants:x?}");
        assert_eq!(self.xen_view(), before, "Xen saw nothing of {grants:x?}");
        assert!(
            entries
                .iter()
                .all(|entry| (entry.handle, entry.status) == (0, 0)),
            "nothing written back"
        );
        let rejected = self.gateway.counters().total().rejections.get(expected);
        assert_eq!(rejected, rejected_before + 1, "counted under its reason");
    }
}
