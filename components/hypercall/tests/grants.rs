//! Grant mapping through the gateway over the simulated Xen: a driver maps the pages dom0 granted
//! into frames the memory server lent it, reads and writes them, and unmaps them, one hypercall
//! per batch; Xen's refusals come back per entry; the gateway refuses before Xen every map into a
//! frame not lent to the caller (populated RAM, another driver's frames, frames lent to no one),
//! every give-back, release or populate of a frame with a mapping, and a compromised memory
//! server's attempts on grants; a dead driver's grants are unmapped before its frames go back.

#[path = "support/grants.rs"]
mod grants_support;
#[allow(
    dead_code,
    reason = "this test crate uses the rig's grant and reservation calls, not its control calls"
)]
mod support;

use ballast_hypercall::{GatewayError, QueryError, GRANTS_PER_CALL, LENT_RUNS, MAPPED_GRANTS};
use ballast_interfaces::hypercall::HypercallOp;
use ballast_xen::grant::{GNTST_BAD_GNTREF, GNTST_GENERAL_ERROR};
use ballast_xen::DOMID_SELF;
use ballast_xen_sim::{DomainConfig, SimError, GRANT_ENTRIES};
use grants_support::*;
use support::*;

const L: u64 = LENDING.start;

fn refused<T>(reason: GatewayError) -> Result<T, QueryError> {
    Err(QueryError::Refused(reason))
}

#[test]
fn a_driver_maps_its_grants_reads_writes_and_unmaps_them_in_one_batch_each() {
    let mut rig = Rig::new();
    let (dom, other) = (rig.dom, rig.other);
    assert_eq!(rig.lend(DRIVER, L..L + 4), Ok(()));
    assert_eq!(rig.gateway.lent_frames(DRIVER), 4);
    let grants: Vec<GrantAt> = (0..4)
        .map(|index| {
            (
                rig.grant(10 + index, dom, index == 3),
                L + index,
                index == 3,
            )
        })
        .collect();
    let (answer, entries) = rig.map(DRIVER, other.0, &grants);
    assert_eq!(answer, Ok(4));
    assert!(entries.iter().all(|entry| entry.status == 0));
    for (index, entry) in (0..).zip(&entries) {
        assert_eq!(
            rig.sim.read_granted(dom, L + index),
            Some(pattern(10 + index))
        );
        assert_eq!(
            rig.sim.grant_mapped_at(dom, L + index),
            Some((other, grants[index as usize].0))
        );
        assert_eq!(rig.sim.is_populated(dom, entry.gfn), Some(false));
    }
    assert_eq!(rig.sim.write_granted(dom, L, 0xa115_0e12), Ok(()));
    assert_eq!(
        rig.sim.read_page(other, 10),
        Some(0xa115_0e12),
        "dom0 reads the answer"
    );
    assert_eq!(
        rig.sim.write_granted(dom, L + 3, 1),
        Err(SimError::ReadOnlyGrant)
    );
    assert_eq!(rig.gateway.grants_mapped(), 4);
    let map = *rig.gateway.counters().op(HypercallOp::GrantMap);
    assert_eq!((map.calls, map.hypercalls), (1, 1));
    assert_eq!((map.grant_entries, map.grant_entries_done), (4, 4));

    let handles: Vec<u32> = entries.iter().map(|entry| entry.handle).collect();
    let (answer, unmapped) = rig.unmap(DRIVER, &handles);
    assert_eq!(answer, Ok(4));
    assert!(unmapped.iter().all(|entry| entry.status == 0));
    assert_eq!(rig.sim.grant_mappings(dom), 0);
    assert_eq!(rig.gateway.grants_mapped(), 0);
    let unmap = *rig.gateway.counters().op(HypercallOp::GrantUnmap);
    assert_eq!((unmap.hypercalls, unmap.grant_entries_done), (1, 4));
    assert_eq!(rig.give_back(DRIVER, L..L + 4), Ok(()));
    assert_eq!(rig.gateway.lent_frames(DRIVER), 0);
    assert_eq!(rig.sim.grant_in_use(other, grants[0].0), Some(0));
}

#[test]
fn xens_refusals_come_back_per_entry_and_only_mapped_entries_are_recorded() {
    let mut rig = Rig::new();
    let (dom, other) = (rig.dom, rig.other);
    let third = rig.sim.create_domain(DomainConfig::domu(0..16, 16));
    rig.lend(DRIVER, L..L + 8).expect("lent");
    let good = rig.grant(1, dom, false);
    let revoked = rig.grant(2, dom, false);
    rig.sim.end_grant_access(other, revoked).expect("revoked");
    let to_third = rig.grant(3, third, false);
    let readonly = rig.grant(4, dom, true);
    let batch = [
        (good, L, false),
        (GRANT_ENTRIES + 5, L + 1, false),
        (revoked, L + 2, false),
        (to_third, L + 3, false),
        (readonly, L + 4, false),
    ];
    let (answer, entries) = rig.map(DRIVER, other.0, &batch);
    assert_eq!(answer, Ok(1));
    let statuses: Vec<i32> = entries.iter().map(|entry| entry.status).collect();
    let general = i32::from(GNTST_GENERAL_ERROR);
    assert_eq!(
        statuses,
        [0, i32::from(GNTST_BAD_GNTREF), general, general, general]
    );
    assert_eq!(
        (rig.gateway.grants_mapped(), rig.sim.grant_mappings(dom)),
        (1, 1)
    );

    // The granter named wrongly: a domain the manifest does not list (`third`, one that does not
    // exist, this domain itself) is refused before Xen sees the batch.
    for domid in [third.0, 999, DOMID_SELF] {
        rig.assert_map_refused(
            DRIVER,
            domid,
            &[(good, L + 5, false)],
            GatewayError::DomainNotAllowed,
        );
    }

    // A frame whose map failed holds nothing and takes the right grant.
    let (answer, _) = rig.map(DRIVER, other.0, &[(readonly, L + 4, true)]);
    assert_eq!(answer, Ok(1));
    let map = *rig.gateway.counters().op(HypercallOp::GrantMap);
    assert_eq!(
        (map.hypercalls, map.grant_entries, map.grant_entries_done),
        (2, 6, 2)
    );
    assert_eq!(map.rejections.get(GatewayError::DomainNotAllowed), 3);
}

#[test]
fn maps_into_frames_not_lent_to_the_caller_are_refused_before_xen() {
    let mut rig = Rig::new();
    let (dom, other) = (rig.dom, rig.other.0);
    let grant = rig.grant(1, dom, false);
    rig.lend(DRIVER, L..L + 2).expect("lent");
    rig.lend(OTHER_DRIVER, L + 2..L + 4).expect("lent");
    let not_lent = GatewayError::FrameNotLent;
    for gfn in [
        L + 4,
        L + 2,
        SERVER_RAM.start,
        SERVER_RAM.start + 0x100,
        IMAGE.start + 1,
        LENDING.end,
        u64::MAX,
    ] {
        rig.assert_map_refused(DRIVER, other, &[(grant, gfn, false)], not_lent);
    }
    rig.assert_map_refused(
        OTHER_DRIVER,
        other,
        &[(grant, L + 2, false), (grant, L, false)],
        not_lent,
    );
    assert_eq!(
        rig.sim.read_page(dom, SERVER_RAM.start),
        Some(0),
        "RAM untouched"
    );
}

#[test]
fn malformed_batches_and_callers_without_the_capability_are_refused_before_xen() {
    let mut rig = Rig::new();
    let (dom, other) = (rig.dom, rig.other.0);
    let grant = rig.grant(1, dom, false);
    rig.lend(DRIVER, L..L + 0x200).expect("lent");
    rig.assert_map_refused(
        STRANGER,
        other,
        &[(grant, L, false)],
        GatewayError::UnknownCaller,
    );
    for caller in [SERVER, AGENT] {
        rig.assert_map_refused(
            caller,
            other,
            &[(grant, L, false)],
            GatewayError::NotPermitted,
        );
    }
    let twice = [(grant, L, false), (grant, L + 1, false), (grant, L, true)];
    rig.assert_map_refused(DRIVER, other, &twice, GatewayError::DuplicateFrame);
    let overlong: Vec<GrantAt> = (0..=GRANTS_PER_CALL as u64)
        .map(|index| (grant, L + index, false))
        .collect();
    rig.assert_map_refused(DRIVER, other, &overlong, GatewayError::TooManyFrames);
    assert_eq!(
        rig.map(DRIVER, other, &[]).0,
        Ok(0),
        "nothing to map: no hypercall"
    );
    let mut bad_flags = [ballast_hypercall::GrantMapEntry {
        gfn: L,
        grant_ref: grant,
        flags: 2,
        ..Default::default()
    }];
    let before = rig.xen_view();
    let answer = rig.gateway.grant_map(DRIVER, other, &mut bad_flags);
    assert_eq!(answer, refused(GatewayError::BadGrantEntry));
    assert_eq!(rig.xen_view(), before);

    let (answer, _) = rig.map(DRIVER, other, &[(grant, L, false)]);
    assert_eq!(answer, Ok(1));
    rig.assert_map_refused(
        DRIVER,
        other,
        &[(grant, L, false)],
        GatewayError::FrameMapped,
    );
    assert_eq!(
        rig.gateway.counters().op(HypercallOp::GrantMap).hypercalls,
        1
    );
}

#[test]
fn unmaps_name_only_the_callers_own_handles_once() {
    let mut rig = Rig::new();
    let (dom, other) = (rig.dom, rig.other.0);
    rig.lend(DRIVER, L..L + 2).expect("lent");
    rig.lend(OTHER_DRIVER, L + 2..L + 4).expect("lent");
    let first = rig.grant(1, dom, false);
    let second = rig.grant(2, dom, false);
    let (_, mine) = rig.map(DRIVER, other, &[(first, L, false)]);
    let (_, theirs) = rig.map(OTHER_DRIVER, other, &[(second, L + 2, false)]);
    let (mine, theirs) = (mine[0].handle, theirs[0].handle);
    let before = rig.xen_view();
    for handles in [vec![theirs], vec![mine, mine], vec![mine, 77]] {
        let (answer, _) = rig.unmap(DRIVER, &handles);
        assert_eq!(answer, refused(GatewayError::UnknownHandle), "{handles:?}");
    }
    for caller in [SERVER, AGENT] {
        assert_eq!(
            rig.unmap(caller, &[mine]).0,
            refused(GatewayError::NotPermitted)
        );
    }
    let overlong = vec![mine; GRANTS_PER_CALL + 1];
    assert_eq!(
        rig.unmap(DRIVER, &overlong).0,
        refused(GatewayError::TooManyFrames)
    );
    assert_eq!(rig.xen_view(), before, "Xen saw none of them");
    assert_eq!(rig.unmap(OTHER_DRIVER, &[theirs]).0, Ok(1));
    assert_eq!(rig.unmap(DRIVER, &[mine]).0, Ok(1));
    let unmap = rig.gateway.counters().op(HypercallOp::GrantUnmap);
    assert_eq!(unmap.rejections.get(GatewayError::UnknownHandle), 3);
}

#[test]
fn frames_with_a_mapping_neither_go_back_nor_are_released_or_populated() {
    let mut rig = Rig::new();
    let (dom, other) = (rig.dom, rig.other.0);
    rig.lend(DRIVER, L..L + 4).expect("lent");
    let grant = rig.grant(1, dom, false);
    let (_, entries) = rig.map(DRIVER, other, &[(grant, L + 1, false)]);
    let handle = entries[0].handle;
    assert_eq!(
        rig.give_back(DRIVER, L..L + 4),
        refused(GatewayError::FrameMapped)
    );
    assert_eq!(
        rig.give_back(DRIVER, L + 1..L + 2),
        refused(GatewayError::FrameMapped)
    );
    assert_eq!(rig.gateway.lent_frames(DRIVER), 4, "nothing came back");
    for op in [DECREASE, POPULATE] {
        rig.assert_refused(
            SERVER,
            (op, 0, 0, DOMID_SELF),
            &[L + 1],
            GatewayError::FrameMapped,
        );
        rig.assert_refused(
            SERVER,
            (op, 9, 0, DOMID_SELF),
            &[L],
            GatewayError::FrameMapped,
        );
    }
    assert_eq!(
        rig.give_back(DRIVER, L + 2..L + 4),
        Ok(()),
        "the unmapped part may"
    );
    assert_eq!(
        rig.sim.read_granted(dom, L + 1),
        Some(pattern(1)),
        "still mapped"
    );
    assert_eq!(rig.unmap(DRIVER, &[handle]).0, Ok(1));
    assert_eq!(rig.give_back(DRIVER, L..L + 2), Ok(()));
    rig.assert_map_refused(
        DRIVER,
        other,
        &[(grant, L + 1, false)],
        GatewayError::FrameNotLent,
    );
    let populated = rig.gateway.reservation(
        SERVER,
        POPULATE,
        0,
        0,
        DOMID_SELF,
        &mut [ballast_xen::Gfn(L + 1)],
    );
    assert_eq!(populated.map(|done| done.extents), Ok(1), "free again");
}

#[test]
fn a_dead_drivers_grants_are_unmapped_before_its_frames_go_back() {
    let mut rig = Rig::new();
    let (dom, other) = (rig.dom, rig.other);
    rig.lend(DRIVER, L..L + 3).expect("lent");
    rig.lend(OTHER_DRIVER, L + 3..L + 4).expect("lent");
    let grants: Vec<GrantAt> = (0..3)
        .map(|index| (rig.grant(index, dom, false), L + index, false))
        .collect();
    assert_eq!(rig.map(DRIVER, other.0, &grants).0, Ok(3));
    let survivor = rig.grant(5, dom, true);
    assert_eq!(
        rig.map(OTHER_DRIVER, other.0, &[(survivor, L + 3, true)]).0,
        Ok(1)
    );
    assert_eq!(
        rig.give_back(DRIVER, L..L + 3),
        refused(GatewayError::FrameMapped)
    );

    assert_eq!(rig.gateway.unmap_all(DRIVER), 0, "every mapping removed");
    assert_eq!(rig.sim.grant_mappings(dom), 1, "the other driver's stays");
    assert_eq!(rig.sim.grant_in_use(other, grants[0].0), Some(0));
    assert_eq!(
        rig.sim.end_grant_access(other, grants[0].0),
        Ok(()),
        "dom0 may revoke"
    );
    assert_eq!(rig.give_back(DRIVER, L..L + 3), Ok(()));
    let unmap = rig.gateway.counters().op(HypercallOp::GrantUnmap);
    assert_eq!((unmap.hypercalls, unmap.grant_entries_done), (1, 3));
    assert_eq!(
        rig.gateway.unmap_all(DRIVER),
        0,
        "nothing left: no hypercall"
    );
    assert_eq!(
        rig.gateway
            .counters()
            .op(HypercallOp::GrantUnmap)
            .hypercalls,
        1
    );
}

#[test]
fn the_memory_servers_notices_are_checked_against_what_the_gateway_knows() {
    let mut rig = Rig::new();
    let before = rig.xen_view();
    assert_eq!(
        rig.lend(DRIVER, IMAGE.start..IMAGE.start + 1),
        refused(GatewayError::NotOwned)
    );
    assert_eq!(
        rig.lend(DRIVER, LENDING.end - 1..LENDING.end + 1),
        refused(GatewayError::NotOwned)
    );
    for borrower in [AGENT, SERVER, STRANGER] {
        assert_eq!(
            rig.lend(borrower, L..L + 1),
            refused(GatewayError::BadBorrower),
            "{borrower:?}"
        );
    }
    assert_eq!(
        rig.lend(DRIVER, L..L),
        refused(GatewayError::BadBorrower),
        "empty"
    );
    let wrapping = rig.gateway.lend_notice(SERVER, DRIVER.0, u64::MAX, 2);
    assert_eq!(wrapping, refused(GatewayError::BadBorrower));
    assert_eq!(rig.lend(DRIVER, L..L + 4), Ok(()));
    assert_eq!(
        rig.lend(OTHER_DRIVER, L + 3..L + 5),
        refused(GatewayError::AlreadyLent)
    );
    assert_eq!(
        rig.lend(DRIVER, L..L + 1),
        refused(GatewayError::AlreadyLent)
    );
    assert_eq!(
        rig.give_back(OTHER_DRIVER, L..L + 1),
        refused(GatewayError::FrameNotLent)
    );
    assert_eq!(
        rig.give_back(DRIVER, L + 3..L + 5),
        refused(GatewayError::FrameNotLent)
    );
    let from_driver = rig.gateway.lend_notice(DRIVER, DRIVER.0, L + 8, 1);
    assert_eq!(
        from_driver,
        refused(GatewayError::NotPermitted),
        "a driver cannot lend itself"
    );
    let from_driver = rig.gateway.return_notice(DRIVER, OTHER_DRIVER.0, L, 1);
    assert_eq!(from_driver, refused(GatewayError::NotPermitted));
    for index in 1..LENT_RUNS as u64 {
        assert_eq!(
            rig.lend(OTHER_DRIVER, L + 0x10 * index..L + 0x10 * index + 1),
            Ok(())
        );
    }
    assert_eq!(
        rig.lend(DRIVER, L + 8..L + 9),
        refused(GatewayError::TooManyGrants)
    );
    assert_eq!(rig.gateway.lent_frames(DRIVER), 4);
    assert_eq!(rig.xen_view(), before, "notices never reach Xen");
}

#[test]
fn the_book_of_mappings_is_bounded_and_a_full_one_refuses_whole_batches() {
    let mut rig = Rig::new();
    let (dom, other) = (rig.dom, rig.other.0);
    rig.lend(DRIVER, L..L + MAPPED_GRANTS as u64 + 1)
        .expect("lent");
    let grants: Vec<GrantAt> = (0..=MAPPED_GRANTS as u64)
        .map(|index| (rig.grant(index, dom, true), L + index, true))
        .collect();
    for batch in grants[..MAPPED_GRANTS].chunks(GRANTS_PER_CALL) {
        assert_eq!(rig.map(DRIVER, other, batch).0, Ok(GRANTS_PER_CALL as u32));
    }
    rig.assert_map_refused(
        DRIVER,
        other,
        &grants[MAPPED_GRANTS..],
        GatewayError::TooManyGrants,
    );
    assert_eq!(rig.gateway.unmap_all(DRIVER), 0);
    let batches = MAPPED_GRANTS.div_ceil(GRANTS_PER_CALL) as u64;
    let unmap = rig.gateway.counters().op(HypercallOp::GrantUnmap);
    assert_eq!(unmap.hypercalls, batches);
    assert_eq!(rig.sim.grant_mappings(dom), 0);
}

#[test]
fn a_compromised_memory_server_cannot_touch_grants() {
    let mut rig = Rig::new();
    let (dom, other) = (rig.dom, rig.other.0);
    rig.lend(DRIVER, L..L + 2).expect("lent");
    let grant = rig.grant(1, dom, false);
    let (_, entries) = rig.map(DRIVER, other, &[(grant, L, false)]);
    let handle = entries[0].handle;
    let before = rig.xen_view();
    rig.assert_map_refused(
        SERVER,
        other,
        &[(grant, L + 1, false)],
        GatewayError::NotPermitted,
    );
    rig.assert_map_refused(
        SERVER,
        other,
        &[(grant, SERVER_RAM.start, false)],
        GatewayError::NotPermitted,
    );
    assert_eq!(
        rig.unmap(SERVER, &[handle]).0,
        refused(GatewayError::NotPermitted)
    );
    assert_eq!(
        rig.give_back(DRIVER, L..L + 2),
        refused(GatewayError::FrameMapped)
    );
    assert_eq!(
        rig.lend(OTHER_DRIVER, L..L + 1),
        refused(GatewayError::AlreadyLent)
    );
    assert_eq!(
        rig.lend(OTHER_DRIVER, IMAGE.start..IMAGE.start + 4),
        refused(GatewayError::NotOwned)
    );
    rig.assert_refused(
        SERVER,
        (DECREASE, 0, 0, DOMID_SELF),
        &[L],
        GatewayError::FrameMapped,
    );
    assert_eq!(rig.xen_view(), before, "Xen saw none of it");
    assert_eq!(
        rig.sim.read_granted(dom, L),
        Some(pattern(1)),
        "the driver's mapping stands"
    );
    let server = rig.gateway.counters().caller(SERVER).expect("in the table");
    assert_eq!(server.hypercalls, 0);
}

#[test]
fn grant_checks_run_in_the_documented_order() {
    let mut rig = Rig::new();
    let (dom, other) = (rig.dom, rig.other.0);
    let grant = rig.grant(1, dom, false);
    rig.lend(DRIVER, L..L + 1).expect("lent");
    let mut successes = 1;
    rig.assert_map_refused(
        DRIVER,
        other,
        &[(grant, L + 1, false)],
        GatewayError::FrameNotLent,
    );
    assert_eq!(rig.map(DRIVER, other, &[(grant, L, false)]).0, Ok(1));
    successes += 1;
    rig.assert_map_refused(
        DRIVER,
        other,
        &[(grant, L, false)],
        GatewayError::FrameMapped,
    );
    rig.assert_map_refused(
        DRIVER,
        other + 1,
        &[(grant, L + 1, false)],
        GatewayError::DomainNotAllowed,
    );
    let mut flagged = [ballast_hypercall::GrantMapEntry {
        gfn: L,
        grant_ref: grant,
        flags: 1 << 7,
        ..Default::default()
    }];
    let flags = rig.gateway.grant_map(DRIVER, other, &mut flagged);
    assert_eq!(
        flags,
        refused(GatewayError::BadGrantEntry),
        "flags before lending"
    );
    assert_eq!(
        rig.unmap(DRIVER, &[99]).0,
        refused(GatewayError::UnknownHandle)
    );
    assert_eq!(
        rig.lend(DRIVER, L..L + 1),
        refused(GatewayError::AlreadyLent)
    );
    for index in 1..LENT_RUNS as u64 {
        rig.lend(DRIVER, L + 2 * index..L + 2 * index + 1)
            .expect("room");
        successes += 1;
    }
    assert_eq!(
        rig.lend(DRIVER, L + 0x800..L + 0x801),
        refused(GatewayError::TooManyGrants)
    );
    assert_eq!(
        rig.lend(AGENT, L + 1..L + 2),
        refused(GatewayError::BadBorrower)
    );
    let total = rig.gateway.counters().total();
    let grant_reasons = &GatewayError::ALL
        [GatewayError::FrameNotLent as usize - 1..GatewayError::DomainNotAllowed as usize];
    assert_eq!(total.rejections.total(), grant_reasons.len() as u64);
    for reason in grant_reasons {
        assert_eq!(total.rejections.get(*reason), 1, "{reason:?}");
    }
    assert_eq!(total.calls, total.rejections.total() + successes);
    assert_eq!(total.hypercalls, 1, "the one map that passed");
}
