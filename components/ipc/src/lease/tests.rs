//! Unit tests of the shared lease checks over plain [`Tables`]: what each side accepts, each
//! refusal on its own, and (with the host runtimes) that the checked tables answer alike.

use super::*;
use crate::kernel::EndpointId;
use crate::tables::{ComponentKind, ComponentSpec, EndpointKind, EndpointSpec, Tables};

const CLIENT: ComponentId = ComponentId(0);
const SERVER: ComponentId = ComponentId(1);
const CALL_BADGE: Badge = Badge(7);
const NOTIFY_BADGE: Badge = Badge(9);

const COMPONENTS: [ComponentSpec<'static>; 2] = [
    ComponentSpec {
        name: "client",
        kind: ComponentKind::External,
    },
    ComponentSpec {
        name: "server",
        kind: ComponentKind::Handler,
    },
];

const ENDPOINTS: [EndpointSpec; 2] = [
    EndpointSpec {
        client: CLIENT,
        id: EndpointId(0),
        server: SERVER,
        badge: CALL_BADGE,
        kind: EndpointKind::Call,
    },
    EndpointSpec {
        client: CLIENT,
        id: EndpointId(1),
        server: SERVER,
        badge: NOTIFY_BADGE,
        kind: EndpointKind::Notify,
    },
];

/// Region 1 is lent read-only to the server, 2 writable, 3 is the server's own, 4 is not shared.
const REGIONS: [RegionSpec; 4] = [
    region(1, CLIENT),
    region(2, CLIENT),
    region(3, SERVER),
    region(4, CLIENT),
];

const GRANTS: [RegionGrant; 2] = [
    RegionGrant {
        region: LeaseId(1),
        component: SERVER,
        writable: false,
    },
    RegionGrant {
        region: LeaseId(2),
        component: SERVER,
        writable: true,
    },
];

const TABLES: Tables<'static> = Tables {
    components: &COMPONENTS,
    endpoints: &ENDPOINTS,
    regions: &REGIONS,
    grants: &GRANTS,
};

const fn region(id: u16, owner: ComponentId) -> RegionSpec {
    RegionSpec {
        id: LeaseId(id),
        size: 64,
        owner,
    }
}

fn lease(region: u16, writable: u16, offset: u32, len: u32) -> LeaseDescriptor {
    LeaseDescriptor {
        region,
        writable,
        offset,
        len,
        reserved: 0,
    }
}

fn window(region: usize, bytes: Range<usize>, writable: bool) -> LeaseWindow {
    LeaseWindow {
        region,
        bytes,
        writable,
    }
}

/// The server's check of `asked` on a call with `badge` that lent `lent`.
fn access(
    badge: Badge,
    asked: LeaseDescriptor,
    lent: &[LeaseDescriptor],
) -> Result<LeaseWindow, IpcError> {
    check_access(&TABLES, SERVER, badge, &asked, lent)
}

#[test]
fn lend_accepts_windows_of_an_owned_region() {
    let accepted = [
        (CLIENT, lease(1, 0, 8, 56), window(0, 8..64, false)),
        (CLIENT, lease(2, 1, 0, 64), window(1, 0..64, true)),
        (CLIENT, lease(1, 0, 64, 0), window(0, 64..64, false)),
        (SERVER, lease(3, 1, 0, 1), window(2, 0..1, true)),
    ];
    for (owner, lent, expected) in accepted {
        assert_eq!(check_lend(&TABLES, owner, &lent), Ok(expected), "{lent:?}");
    }
}

/// Check that `owner` may lend none of `leases`.
fn assert_lend_refused(owner: ComponentId, leases: &[LeaseDescriptor]) {
    for bad in leases {
        assert_eq!(
            check_lend(&TABLES, owner, bad),
            Err(IpcError::BadLease),
            "{owner:?} lends {bad:?}"
        );
    }
}

#[test]
fn lend_refuses_an_unknown_region() {
    assert_lend_refused(CLIENT, &[lease(9, 0, 0, 1), lease(0, 0, 0, 0)]);
}

#[test]
fn lend_refuses_a_region_the_lender_does_not_own() {
    assert_lend_refused(CLIENT, &[lease(3, 0, 0, 1)]);
    assert_lend_refused(SERVER, &[lease(1, 0, 0, 1), lease(4, 0, 0, 1)]);
}

#[test]
fn lend_refuses_a_malformed_descriptor() {
    let reserved = LeaseDescriptor {
        reserved: 1,
        ..lease(1, 0, 0, 1)
    };
    assert_lend_refused(
        CLIENT,
        &[reserved, lease(1, 2, 0, 1), lease(1, u16::MAX, 0, 1)],
    );
}

#[test]
fn lend_refuses_a_window_past_the_region() {
    assert_lend_refused(
        CLIENT,
        &[
            lease(1, 0, 8, 57),
            lease(1, 0, 65, 0),
            lease(1, 0, 0, u32::MAX),
            lease(1, 0, u32::MAX, 2),
        ],
    );
}

#[test]
fn access_accepts_a_window_an_outstanding_call_lent() {
    let lent = [lease(1, 0, 0, 32), lease(2, 1, 0, 64)];
    assert_eq!(
        access(CALL_BADGE, lease(1, 0, 4, 8), &lent),
        Ok(window(0, 4..12, false))
    );
    assert_eq!(
        access(CALL_BADGE, lease(2, 1, 16, 48), &lent),
        Ok(window(1, 16..64, true))
    );
    assert_eq!(
        access(CALL_BADGE, lease(2, 0, 0, 8), &lent),
        Ok(window(1, 0..8, false))
    );
}

#[test]
fn access_refuses_a_badge_no_caller_holds() {
    let lent = [lease(1, 0, 0, 64)];
    for badge in [Badge(8), NOTIFY_BADGE] {
        assert_eq!(
            access(badge, lease(1, 0, 0, 8), &lent),
            Err(IpcError::BadLease),
            "{badge:?}"
        );
    }
}

#[test]
fn access_refuses_what_the_lender_could_not_lend() {
    let own = lease(3, 0, 0, 8);
    let past_end = lease(1, 0, 60, 8);
    let malformed = lease(1, 2, 0, 8);
    for bad in [own, past_end, malformed] {
        assert_eq!(
            access(CALL_BADGE, bad, &[bad]),
            Err(IpcError::BadLease),
            "{bad:?}"
        );
    }
}

#[test]
fn access_refuses_a_region_not_granted_to_the_server() {
    let asked = lease(4, 0, 0, 8);
    assert_eq!(access(CALL_BADGE, asked, &[asked]), Err(IpcError::BadLease));
}

#[test]
fn access_refuses_writing_through_a_read_only_grant() {
    let asked = lease(1, 1, 0, 8);
    assert_eq!(
        check_lend(&TABLES, CLIENT, &asked).map(|w| w.writable),
        Ok(true)
    );
    assert_eq!(access(CALL_BADGE, asked, &[asked]), Err(IpcError::BadLease));
}

#[test]
fn access_refuses_what_no_outstanding_call_lent() {
    let lent = [lease(2, 0, 8, 16)];
    for bad in [
        lease(2, 0, 0, 8),
        lease(2, 0, 4, 8),
        lease(2, 0, 16, 9),
        lease(2, 1, 8, 8),
        lease(1, 0, 8, 8),
    ] {
        assert_eq!(
            access(CALL_BADGE, bad, &lent),
            Err(IpcError::BadLease),
            "{bad:?}"
        );
    }
    assert_eq!(
        access(CALL_BADGE, lease(2, 0, 8, 8), &[]),
        Err(IpcError::BadLease)
    );
}

#[cfg(feature = "std")]
#[test]
fn the_checked_tables_answer_as_the_plain_tables_do() {
    let checked = crate::CheckedTables::from_tables(&TABLES).expect("valid tables");
    let lent = [lease(1, 0, 0, 32), lease(2, 1, 8, 56), lease(3, 0, 0, 64)];
    for region in 0..6 {
        for writable in 0..3 {
            for (offset, len) in [(0, 0), (0, 8), (8, 56), (60, 8), (64, 0), (u32::MAX, 1)] {
                let asked = lease(region, writable, offset, len);
                for owner in [CLIENT, SERVER] {
                    assert_eq!(
                        check_lend(&checked, owner, &asked),
                        check_lend(&TABLES, owner, &asked),
                        "{owner:?} lends {asked:?}"
                    );
                }
                for badge in [CALL_BADGE, Badge(8), NOTIFY_BADGE] {
                    assert_eq!(
                        check_access(&checked, SERVER, badge, &asked, &lent),
                        check_access(&TABLES, SERVER, badge, &asked, &lent),
                        "{badge:?} asks {asked:?}"
                    );
                }
            }
        }
    }
}
