//! Grant tables, as a simulated domain sees them: a domain grants one of its pages to another
//! (read-only or writable, what Linux's `gnttab_grant_foreign_access` does through its shared
//! table) and ends the grant; the grantee maps grants into its own gfns with
//! `GNTTABOP_map_grant_ref` and unmaps them by handle with `GNTTABOP_unmap_grant_ref`, each entry of
//! a batch answered with its own `GNTST_*` status, as `common/grant_table.c` answers it for an
//! auto-translated guest (`GNTMAP_host_map`, host address = the gfn's address):
//!
//! - flags with neither host nor device map: `GNTST_bad_gntref`; anything but host map and
//!   read-only: `GNTST_general_error` (Xen's `create_grant_p2m_mapping`);
//! - a granting domain that does not exist: `GNTST_bad_domain`;
//! - a reference past the table ([`GRANT_ENTRIES`]): `GNTST_bad_gntref`;
//! - an entry that grants nothing, grants to another domain, or is read-only for a writable map:
//!   `GNTST_general_error` (Xen's `_set_status`);
//! - a host address already holding a grant mapping, or past the guest-physical limit:
//!   `GNTST_general_error`;
//! - unmap: a handle the caller does not hold: `GNTST_bad_handle`.
//!
//! Mapping into a populated gfn (RAM, or a PoD entry) answers `GNTST_general_error` here, where
//! Xen 4.17 replaces the p2m entry and strands the page it held: the gateway never lets such a
//! map through, and the simulator makes it visible instead of leaking. Unmap requires the host
//! address the grant was mapped at (an auto-translated guest must give it, or Xen leaves the p2m
//! entry in place); another or a zero address answers `GNTST_general_error`.
//!
//! Reads and writes through a mapping reach the granter's page ([`XenSim::read_granted`],
//! [`XenSim::write_granted`]). Not modelled: grant copy and transfer, v2 tables, the granter's
//! view of its entry's status bits beyond "in use", a grant table that grows on demand, and
//! populate or decrease of a grant-mapped gfn (the gateway refuses both).

use std::collections::BTreeMap;

use ballast_xen::grant::{
    GnttabMapGrantRef, GnttabUnmapGrantRef, GrantHandle, GrantRef, GNTMAP_DEVICE_MAP,
    GNTMAP_HOST_MAP, GNTMAP_READONLY, GNTST_BAD_DOMAIN, GNTST_BAD_GNTREF, GNTST_BAD_HANDLE,
    GNTST_GENERAL_ERROR, GNTST_OKAY,
};
use ballast_xen::{XenErrno, PAGE_SHIFT};

use crate::config::DomId;
use crate::error::SimError;
use crate::p2m::GFN_LIMIT;
use crate::state::State;
use crate::{XenSim, BALLOONED_READ};

/// Entries of a simulated domain's grant table: 32 frames of v1 entries (8 bytes each).
pub const GRANT_ENTRIES: GrantRef = 32 * 512;
/// The first reference [`XenSim::grant_access`] hands out: Linux keeps 0 to 7 for the toolstack
/// (`GNTTAB_NR_RESERVED_ENTRIES`), and so does the simulator.
pub const FIRST_GRANT_REF: GrantRef = 8;

/// One entry a domain granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Grant {
    /// The domain allowed to map it.
    grantee: DomId,
    /// The granter's gfn.
    gfn: u64,
    /// Only read-only mappings allowed.
    readonly: bool,
    /// Mappings of it that exist now.
    mapped: u32,
}

/// One mapping a domain holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mapping {
    granter: DomId,
    grant_ref: GrantRef,
    /// The mapper's gfn it sits at.
    gfn: u64,
    readonly: bool,
}

/// A domain's grant table (what it granted) and maptrack (what it mapped).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DomainGrants {
    granted: BTreeMap<GrantRef, Grant>,
    mappings: BTreeMap<GrantHandle, Mapping>,
}

impl DomainGrants {
    fn mapping_at(&self, gfn: u64) -> Option<(GrantHandle, &Mapping)> {
        self.mappings
            .iter()
            .find(|(_, mapping)| mapping.gfn == gfn)
            .map(|(handle, mapping)| (*handle, mapping))
    }

    /// The lowest handle not in use, as Xen's maptrack free list hands them out at first.
    fn free_handle(&self) -> GrantHandle {
        (0..)
            .zip(self.mappings.keys())
            .find(|(wanted, used)| wanted != *used)
            .map_or(self.mappings.len() as GrantHandle, |(wanted, _)| wanted)
    }
}

/// The raw return of a grant op whose caller does not exist.
const NO_SUCH_DOMAIN: i64 = -(XenErrno::ESRCH.0 as i64);

impl State {
    fn grants_of(&mut self, dom: DomId) -> Option<&mut DomainGrants> {
        if !self.domains.contains_key(&dom.0) {
            return None;
        }
        Some(self.grants.entry(dom.0).or_default())
    }

    /// Whether `gfn` of `dom` holds memory of its own (RAM or a PoD entry).
    fn holds_memory(&self, dom: DomId, gfn: u64) -> bool {
        self.domains
            .get(&dom.0)
            .is_some_and(|d| d.p2m.is_populated(gfn) || d.pod.is_entry(gfn))
    }

    /// One `GNTTABOP_map_grant_ref` entry for `caller`: its status.
    fn map_one(&mut self, caller: DomId, entry: &mut GnttabMapGrantRef) -> i16 {
        if entry.flags & (GNTMAP_HOST_MAP | GNTMAP_DEVICE_MAP) == 0 {
            return GNTST_BAD_GNTREF;
        }
        if entry.flags & !(GNTMAP_HOST_MAP | GNTMAP_READONLY) != 0 {
            return GNTST_GENERAL_ERROR;
        }
        let granter = DomId(entry.dom);
        if !self.domains.contains_key(&granter.0) {
            return GNTST_BAD_DOMAIN;
        }
        if entry.grant_ref >= GRANT_ENTRIES {
            return GNTST_BAD_GNTREF;
        }
        let readonly = entry.flags & GNTMAP_READONLY != 0;
        let granted = self
            .grants
            .get(&granter.0)
            .and_then(|grants| grants.granted.get(&entry.grant_ref));
        match granted {
            Some(grant) if grant.grantee == caller && (readonly || !grant.readonly) => {}
            _ => return GNTST_GENERAL_ERROR,
        }
        let gfn = entry.host_addr >> PAGE_SHIFT;
        let taken = self
            .grants
            .get(&caller.0)
            .is_some_and(|mine| mine.mapping_at(gfn).is_some());
        if gfn >= GFN_LIMIT || taken || self.holds_memory(caller, gfn) {
            return GNTST_GENERAL_ERROR;
        }
        let Some(mine) = self.grants_of(caller) else {
            return GNTST_GENERAL_ERROR;
        };
        let handle = mine.free_handle();
        mine.mappings.insert(
            handle,
            Mapping {
                granter,
                grant_ref: entry.grant_ref,
                gfn,
                readonly,
            },
        );
        if let Some(grant) = self
            .grants
            .get_mut(&granter.0)
            .and_then(|grants| grants.granted.get_mut(&entry.grant_ref))
        {
            // One per mapping, and the grantee's mappings are bounded by its handles.
            grant.mapped = grant.mapped.saturating_add(1);
        }
        entry.handle = handle;
        entry.dev_bus_addr = 0;
        GNTST_OKAY
    }

    /// One `GNTTABOP_unmap_grant_ref` entry for `caller`: its status.
    fn unmap_one(&mut self, caller: DomId, entry: &GnttabUnmapGrantRef) -> i16 {
        let Some(mine) = self.grants_of(caller) else {
            return GNTST_GENERAL_ERROR;
        };
        let Some(mapping) = mine.mappings.get(&entry.handle).copied() else {
            return GNTST_BAD_HANDLE;
        };
        if entry.host_addr != mapping.gfn << PAGE_SHIFT || entry.host_addr == 0 {
            return GNTST_GENERAL_ERROR;
        }
        mine.mappings.remove(&entry.handle);
        if let Some(grant) = self
            .grants
            .get_mut(&mapping.granter.0)
            .and_then(|grants| grants.granted.get_mut(&mapping.grant_ref))
        {
            grant.mapped = grant.mapped.saturating_sub(1);
        }
        GNTST_OKAY
    }

    /// The mapping `dom` holds at `gfn`.
    fn mapping(&self, dom: DomId, gfn: u64) -> Option<Mapping> {
        self.grants
            .get(&dom.0)?
            .mapping_at(gfn)
            .map(|(_, mapping)| *mapping)
    }

    /// The granter's gfn behind `mapping`, if the grant still exists.
    fn granted_gfn(&self, mapping: &Mapping) -> Option<u64> {
        let grants = self.grants.get(&mapping.granter.0)?;
        grants
            .granted
            .get(&mapping.grant_ref)
            .map(|grant| grant.gfn)
    }
}

impl XenSim {
    /// Domain `granter` grants its populated page `gfn` to `grantee` (read-only or writable) and
    /// gets the lowest free reference from [`FIRST_GRANT_REF`] on, as the granter's guest fills
    /// its shared grant table.
    pub fn grant_access(
        &self,
        granter: DomId,
        gfn: u64,
        grantee: DomId,
        readonly: bool,
    ) -> Result<GrantRef, SimError> {
        let mut state = self.lock();
        if !state.holds_memory(granter, gfn) {
            return Err(if state.domains.contains_key(&granter.0) {
                SimError::NotPopulated
            } else {
                SimError::NoSuchDomain
            });
        }
        let grants = state.grants_of(granter).ok_or(SimError::NoSuchDomain)?;
        let grant_ref = (FIRST_GRANT_REF..GRANT_ENTRIES)
            .find(|candidate| !grants.granted.contains_key(candidate))
            .ok_or(SimError::GrantsExhausted)?;
        grants.granted.insert(
            grant_ref,
            Grant {
                grantee,
                gfn,
                readonly,
                mapped: 0,
            },
        );
        Ok(grant_ref)
    }

    /// Domain `granter` ends grant `grant_ref` (revokes it), as Linux's
    /// `gnttab_end_foreign_access_ref`: refused while a mapping of it exists.
    pub fn end_grant_access(&self, granter: DomId, grant_ref: GrantRef) -> Result<(), SimError> {
        let mut state = self.lock();
        let grants = state.grants_of(granter).ok_or(SimError::NoSuchDomain)?;
        match grants.granted.get(&grant_ref) {
            None => Err(SimError::NoSuchGrant),
            Some(grant) if grant.mapped > 0 => Err(SimError::GrantInUse),
            Some(_) => {
                grants.granted.remove(&grant_ref);
                Ok(())
            }
        }
    }

    /// `HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, batch, batch.len())` issued by domain
    /// `caller`: 0, with each entry's status (and handle where it is `GNTST_okay`) written back;
    /// `-ESRCH` for a caller that does not exist.
    pub fn map_grant_refs(&self, caller: DomId, batch: &mut [GnttabMapGrantRef]) -> i64 {
        let mut state = self.lock();
        if !state.domains.contains_key(&caller.0) {
            return NO_SUCH_DOMAIN;
        }
        for entry in batch {
            entry.status = state.map_one(caller, entry);
        }
        0
    }

    /// `HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, batch, batch.len())` issued by domain
    /// `caller`: 0, with each entry's status written back; `-ESRCH` for a caller that does not
    /// exist.
    pub fn unmap_grant_refs(&self, caller: DomId, batch: &mut [GnttabUnmapGrantRef]) -> i64 {
        let mut state = self.lock();
        if !state.domains.contains_key(&caller.0) {
            return NO_SUCH_DOMAIN;
        }
        for entry in batch {
            entry.status = state.unmap_one(caller, entry);
        }
        0
    }

    /// The granter and reference mapped at `gfn` of `dom`, if a grant is mapped there.
    pub fn grant_mapped_at(&self, dom: DomId, gfn: u64) -> Option<(DomId, GrantRef)> {
        let mapping = self.lock().mapping(dom, gfn)?;
        Some((mapping.granter, mapping.grant_ref))
    }

    /// Grant mappings `dom` holds.
    pub fn grant_mappings(&self, dom: DomId) -> usize {
        self.lock()
            .grants
            .get(&dom.0)
            .map_or(0, |grants| grants.mappings.len())
    }

    /// Mappings of grant `grant_ref` of `granter` that exist, if it is granted.
    pub fn grant_in_use(&self, granter: DomId, grant_ref: GrantRef) -> Option<u32> {
        let state = self.lock();
        let grant = state.grants.get(&granter.0)?.granted.get(&grant_ref)?;
        Some(grant.mapped)
    }

    /// What `dom` reads at grant-mapped `gfn`: the granter's page. `None` without a mapping there.
    pub fn read_granted(&self, dom: DomId, gfn: u64) -> Option<u64> {
        let state = self.lock();
        let mapping = state.mapping(dom, gfn)?;
        let page = state.granted_gfn(&mapping)?;
        let granter = state.domains.get(&mapping.granter.0)?;
        Some(if granter.p2m.is_populated(page) {
            granter.contents.read(page)
        } else {
            BALLOONED_READ
        })
    }

    /// `dom` writes `word` at grant-mapped `gfn`: into the granter's page. Refused for a read-only
    /// mapping, and without a mapping there.
    pub fn write_granted(&self, dom: DomId, gfn: u64, word: u64) -> Result<(), SimError> {
        let mut state = self.lock();
        let mapping = state.mapping(dom, gfn).ok_or(SimError::NotGrantMapped)?;
        if mapping.readonly {
            return Err(SimError::ReadOnlyGrant);
        }
        let page = state
            .granted_gfn(&mapping)
            .ok_or(SimError::NotGrantMapped)?;
        let granter = state
            .domains
            .get_mut(&mapping.granter.0)
            .ok_or(SimError::NoSuchDomain)?;
        if !granter.p2m.is_populated(page) {
            return Err(SimError::NotPopulated);
        }
        granter.contents.write(page, word);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DomainConfig, HostConfig};

    /// dom0 with RAM 0..16, a domU with RAM 0..16 and room above it.
    fn host() -> (XenSim, DomId, DomId) {
        let sim = XenSim::new(HostConfig::default());
        let dom0 = sim.create_domain(DomainConfig::domu(0..16, 16));
        let domu = sim.create_domain(DomainConfig::domu(0..16, 64));
        (sim, dom0, domu)
    }

    fn map(grant_ref: GrantRef, dom: DomId, gfn: u64, readonly: bool) -> GnttabMapGrantRef {
        let flags = GNTMAP_HOST_MAP | if readonly { GNTMAP_READONLY } else { 0 };
        GnttabMapGrantRef {
            host_addr: gfn << PAGE_SHIFT,
            flags,
            grant_ref,
            dom: dom.0,
            ..GnttabMapGrantRef::default()
        }
    }

    fn unmap(handle: GrantHandle, gfn: u64) -> GnttabUnmapGrantRef {
        GnttabUnmapGrantRef {
            host_addr: gfn << PAGE_SHIFT,
            handle,
            ..GnttabUnmapGrantRef::default()
        }
    }

    #[test]
    fn a_granted_page_maps_reads_writes_and_unmaps() {
        let (sim, dom0, domu) = host();
        sim.write_page(dom0, 3, 0xabcd).expect("populated");
        sim.write_page(dom0, 4, 0x1234).expect("populated");
        let writable = sim.grant_access(dom0, 3, domu, false).expect("a ref");
        let readonly = sim.grant_access(dom0, 4, domu, true).expect("a ref");
        assert_eq!((writable, readonly), (FIRST_GRANT_REF, FIRST_GRANT_REF + 1));
        let mut batch = [
            map(writable, dom0, 40, false),
            map(readonly, dom0, 41, true),
        ];
        assert_eq!(sim.map_grant_refs(domu, &mut batch), 0);
        assert_eq!(batch.map(|entry| entry.status), [GNTST_OKAY; 2]);
        assert_eq!(batch.map(|entry| entry.handle), [0, 1]);
        assert_eq!(sim.grant_mapped_at(domu, 40), Some((dom0, writable)));
        assert_eq!(sim.read_granted(domu, 40), Some(0xabcd));
        assert_eq!(sim.read_granted(domu, 41), Some(0x1234));
        assert_eq!(sim.write_granted(domu, 40, 0x5678), Ok(()));
        assert_eq!(sim.read_page(dom0, 3), Some(0x5678), "the granter sees it");
        assert_eq!(sim.write_granted(domu, 41, 1), Err(SimError::ReadOnlyGrant));
        assert_eq!(sim.grant_in_use(dom0, writable), Some(1));
        assert_eq!(
            sim.end_grant_access(dom0, writable),
            Err(SimError::GrantInUse)
        );
        assert_eq!(sim.is_populated(domu, 40), Some(false), "no RAM of its own");

        let mut back = [unmap(0, 40), unmap(1, 41)];
        assert_eq!(sim.unmap_grant_refs(domu, &mut back), 0);
        assert_eq!(back.map(|entry| entry.status), [GNTST_OKAY; 2]);
        assert_eq!(sim.grant_mappings(domu), 0);
        assert_eq!(sim.read_granted(domu, 40), None);
        assert_eq!(sim.end_grant_access(dom0, writable), Ok(()));
        assert_eq!(sim.grant_in_use(dom0, writable), None);
    }

    #[test]
    fn each_bad_entry_gets_its_own_status_and_the_rest_still_map() {
        let (sim, dom0, domu) = host();
        let other = sim.create_domain(DomainConfig::domu(0..16, 16));
        let good = sim.grant_access(dom0, 1, domu, false).expect("a ref");
        let readonly = sim.grant_access(dom0, 2, domu, true).expect("a ref");
        let for_other = sim.grant_access(dom0, 5, other, false).expect("a ref");
        let revoked = sim.grant_access(dom0, 6, domu, false).expect("a ref");
        sim.end_grant_access(dom0, revoked).expect("not mapped");
        let mut device = map(good, dom0, 44, false);
        device.flags |= GNTMAP_DEVICE_MAP;
        let mut no_map = map(good, dom0, 44, false);
        no_map.flags = 0;
        let mut batch = [
            map(good, dom0, 40, false),
            map(readonly, dom0, 41, false),
            map(for_other, dom0, 42, false),
            map(revoked, dom0, 43, false),
            map(GRANT_ENTRIES, dom0, 44, false),
            map(good, DomId(999), 45, false),
            device,
            no_map,
            map(good, dom0, 3, false),
            map(good, dom0, 40, false),
            map(good, dom0, GFN_LIMIT, false),
        ];
        assert_eq!(sim.map_grant_refs(domu, &mut batch), 0);
        let statuses: Vec<i16> = batch.iter().map(|entry| entry.status).collect();
        let general = GNTST_GENERAL_ERROR;
        assert_eq!(
            statuses,
            [
                GNTST_OKAY,
                general,
                general,
                general,
                GNTST_BAD_GNTREF,
                GNTST_BAD_DOMAIN,
                general,
                GNTST_BAD_GNTREF,
                general,
                general,
                general
            ]
        );
        assert_eq!(sim.grant_mappings(domu), 1);
        assert_eq!(
            sim.read_page(domu, 3),
            Some(0),
            "the RAM at gfn 3 is untouched"
        );
    }

    #[test]
    fn unmap_needs_a_held_handle_at_its_own_address() {
        let (sim, dom0, domu) = host();
        let grant_ref = sim.grant_access(dom0, 1, domu, false).expect("a ref");
        let mut batch = [map(grant_ref, dom0, 40, false)];
        assert_eq!(sim.map_grant_refs(domu, &mut batch), 0);
        let mut wrong = [unmap(7, 40), unmap(0, 41), unmap(0, 0)];
        assert_eq!(sim.unmap_grant_refs(domu, &mut wrong), 0);
        let statuses = wrong.map(|entry| entry.status);
        assert_eq!(
            statuses,
            [GNTST_BAD_HANDLE, GNTST_GENERAL_ERROR, GNTST_GENERAL_ERROR]
        );
        let mut from_dom0 = [unmap(0, 40)];
        assert_eq!(sim.unmap_grant_refs(dom0, &mut from_dom0), 0);
        assert_eq!(
            from_dom0[0].status, GNTST_BAD_HANDLE,
            "handles are per domain"
        );
        assert_eq!(sim.grant_mappings(domu), 1);
        assert_eq!(sim.unmap_grant_refs(DomId(999), &mut from_dom0), -3);
        assert_eq!(sim.map_grant_refs(DomId(999), &mut batch), -3);
    }

    #[test]
    fn handles_are_reused_lowest_first() {
        let (sim, dom0, domu) = host();
        let refs: Vec<GrantRef> = (1..4)
            .map(|gfn| sim.grant_access(dom0, gfn, domu, true).expect("a ref"))
            .collect();
        let mut batch: Vec<GnttabMapGrantRef> = refs
            .iter()
            .zip(40..)
            .map(|(grant_ref, gfn)| map(*grant_ref, dom0, gfn, true))
            .collect();
        assert_eq!(sim.map_grant_refs(domu, &mut batch), 0);
        let mut middle = [unmap(1, 41)];
        assert_eq!(sim.unmap_grant_refs(domu, &mut middle), 0);
        let mut again = [map(refs[1], dom0, 50, true)];
        assert_eq!(sim.map_grant_refs(domu, &mut again), 0);
        assert_eq!((again[0].status, again[0].handle), (GNTST_OKAY, 1));
    }

    #[test]
    fn grants_need_a_populated_page_of_an_existing_domain() {
        let (sim, dom0, domu) = host();
        assert_eq!(
            sim.grant_access(dom0, 100, domu, false),
            Err(SimError::NotPopulated)
        );
        assert_eq!(
            sim.grant_access(DomId(999), 1, domu, false),
            Err(SimError::NoSuchDomain)
        );
        assert_eq!(
            sim.end_grant_access(dom0, FIRST_GRANT_REF),
            Err(SimError::NoSuchGrant)
        );
    }
}
