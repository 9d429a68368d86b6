//! A compromised memory server attacks the gateway: foreign frames and domids, oversize orders,
//! misaligned frames, the gateway's own pages, repeated frames, forbidden flags, event sends and
//! shutdowns it holds no capability for, populates of frames Xen holds populated (the fuzz
//! campaign's finding: Xen would leak the old page) and releases of holes. Every request is
//! refused with its reason and Xen sees nothing of it.

mod support;

use ballast_hypercall::{EventPortError, GatewayError};
use ballast_interfaces::hypercall::HypercallOp;
use ballast_xen::abi::{DOMID_IO, DOMID_XEN};
use ballast_xen::mem_flags::XENMEMF_POPULATE_ON_DEMAND;
use ballast_xen::DOMID_SELF;
use proptest::prelude::*;
use support::*;

const RAM: u64 = SERVER_RAM.start;

#[test]
fn unknown_callers_and_callers_without_the_capability_are_refused() {
    let mut rig = Rig::new();
    rig.assert_refused(
        STRANGER,
        (DECREASE, 0, 0, DOMID_SELF),
        &[RAM],
        GatewayError::UnknownCaller,
    );
    rig.assert_refused(
        DRIVER,
        (DECREASE, 0, 0, DOMID_SELF),
        &[RAM],
        GatewayError::NotPermitted,
    );
    rig.assert_refused(
        DRIVER,
        (POPULATE, 0, 0, DOMID_SELF),
        &[LENDING.start],
        GatewayError::NotPermitted,
    );
    rig.assert_refused(
        DRIVER,
        (INCREASE, 0, 0, DOMID_SELF),
        &[0],
        GatewayError::NotPermitted,
    );
}

#[test]
fn foreign_domids_are_refused() {
    let mut rig = Rig::new();
    let other = rig.other.0;
    for domid in [0, other, DOMID_IO, DOMID_XEN, 0x7FF4, u16::MAX] {
        rig.assert_refused(
            SERVER,
            (DECREASE, 0, 0, domid),
            &[RAM],
            GatewayError::ForeignDomain,
        );
    }
}

#[test]
fn each_xen_operation_needs_its_own_grant() {
    let mut rig = Rig::new();
    for op in [INCREASE, DECREASE, POPULATE] {
        rig.assert_refused(
            DRIVER,
            (op, 0, 0, DOMID_SELF),
            &[RAM],
            GatewayError::NotPermitted,
        );
    }
}

#[test]
fn populate_on_demand_and_undefined_flags_are_refused() {
    let mut rig = Rig::new();
    for flags in [XENMEMF_POPULATE_ON_DEMAND, 1 << 19, 1 << 31] {
        rig.assert_refused(
            SERVER,
            (POPULATE, 0, flags, DOMID_SELF),
            &[LENDING.start],
            GatewayError::BadFlags,
        );
    }
}

#[test]
fn oversize_orders_are_refused() {
    let mut rig = Rig::new();
    for order in [10, 12, 18, 19, 64, u8::MAX] {
        rig.assert_refused(
            SERVER,
            (DECREASE, order, 0, DOMID_SELF),
            &[0],
            GatewayError::OrderTooLarge,
        );
    }
}

#[test]
fn overlong_lists_are_refused() {
    let mut rig = Rig::new();
    let list: Vec<u64> = (RAM..RAM + MAX_FRAMES as u64 + 1).collect();
    rig.assert_refused(
        SERVER,
        (DECREASE, 0, 0, DOMID_SELF),
        &list,
        GatewayError::TooManyFrames,
    );
}

#[test]
fn misaligned_frames_are_refused() {
    let mut rig = Rig::new();
    rig.assert_refused(
        SERVER,
        (DECREASE, 9, 0, DOMID_SELF),
        &[0x1000, 0x1201],
        GatewayError::Misaligned,
    );
    rig.assert_refused(
        SERVER,
        (POPULATE, 1, 0, DOMID_SELF),
        &[LENDING.start + 3],
        GatewayError::Misaligned,
    );
}

#[test]
fn frames_the_server_does_not_own_are_refused() {
    let mut rig = Rig::new();
    let image_frame = IMAGE.start + 0x10;
    rig.assert_refused(
        SERVER,
        (DECREASE, 0, 0, DOMID_SELF),
        &[RAM, image_frame],
        GatewayError::NotOwned,
    );
    rig.assert_refused(
        SERVER,
        (DECREASE, 0, 0, DOMID_SELF),
        &[SERVER_RAM.end],
        GatewayError::NotOwned,
    );
    rig.assert_refused(
        SERVER,
        (POPULATE, 0, 0, DOMID_SELF),
        &[LENDING.end],
        GatewayError::NotOwned,
    );
    rig.assert_refused(
        SERVER,
        (POPULATE, 0, 0, DOMID_SELF),
        &[u64::MAX],
        GatewayError::NotOwned,
    );
    // The 2 MiB extent at 0x200 is the image's, and so is the first half of the one at 0x600.
    rig.assert_refused(
        SERVER,
        (DECREASE, 9, 0, DOMID_SELF),
        &[0x200],
        GatewayError::NotOwned,
    );
    rig.assert_refused(
        SERVER,
        (DECREASE, 9, 0, DOMID_SELF),
        &[0x600],
        GatewayError::NotOwned,
    );
    rig.assert_refused(
        SERVER,
        (POPULATE, 9, 0, DOMID_SELF),
        &[LENDING.end - 0x100],
        GatewayError::Misaligned,
    );
}

#[test]
fn a_populate_list_naming_a_frame_twice_is_refused_in_any_order() {
    let mut rig = Rig::new();
    let l = LENDING.start;
    rig.assert_refused(
        SERVER,
        (POPULATE, 0, 0, DOMID_SELF),
        &[l, l + 1, l + 1],
        GatewayError::DuplicateFrame,
    );
    rig.assert_refused(
        SERVER,
        (POPULATE, 0, 0, DOMID_SELF),
        &[l + 5, l, l + 2, l + 5],
        GatewayError::DuplicateFrame,
    );
    rig.assert_refused(
        SERVER,
        (POPULATE, 9, 0, DOMID_SELF),
        &[l + 0x200, l, l + 0x200],
        GatewayError::DuplicateFrame,
    );
    assert_eq!(rig.sim.leaked_pages(rig.dom), Some(0));
}

#[test]
fn checks_run_in_the_documented_order() {
    let mut rig = Rig::new();
    let image = [IMAGE.start + 1; 4];
    let foreign = rig.other.0;
    let too_many = vec![IMAGE.start + 1; MAX_FRAMES + 1];
    let pod = XENMEMF_POPULATE_ON_DEMAND;
    rig.assert_refused(
        STRANGER,
        (POPULATE, 10, pod, foreign),
        &too_many,
        GatewayError::UnknownCaller,
    );
    rig.assert_refused(
        DRIVER,
        (POPULATE, 10, pod, foreign),
        &too_many,
        GatewayError::NotPermitted,
    );
    rig.assert_refused(
        SERVER,
        (POPULATE, 10, pod, foreign),
        &too_many,
        GatewayError::ForeignDomain,
    );
    rig.assert_refused(
        SERVER,
        (POPULATE, 10, pod, DOMID_SELF),
        &too_many,
        GatewayError::BadFlags,
    );
    rig.assert_refused(
        SERVER,
        (POPULATE, 10, 0, DOMID_SELF),
        &too_many,
        GatewayError::OrderTooLarge,
    );
    rig.assert_refused(
        SERVER,
        (POPULATE, 1, 0, DOMID_SELF),
        &too_many,
        GatewayError::TooManyFrames,
    );
    rig.assert_refused(
        SERVER,
        (POPULATE, 1, 0, DOMID_SELF),
        &image,
        GatewayError::Misaligned,
    );
    rig.assert_refused(
        SERVER,
        (POPULATE, 0, 0, DOMID_SELF),
        &image,
        GatewayError::NotOwned,
    );
    let owned_twice = [LENDING.start; 4];
    rig.assert_refused(
        SERVER,
        (POPULATE, 0, 0, DOMID_SELF),
        &owned_twice,
        GatewayError::DuplicateFrame,
    );
    rig.assert_control_refused(
        AGENT,
        Control::Send(rig.console),
        GatewayError::PortNotAllowed,
    );
    rig.assert_control_refused(AGENT, Control::Shutdown(2), GatewayError::BadShutdownReason);
    let total = rig.gateway.counters().total();
    assert_eq!((total.calls, total.hypercalls), (11, 0));
    assert_eq!(total.rejections.total(), 11);
    // The grant ops' reasons follow: tests/grants.rs checks their order.
    let reasons = &GatewayError::ALL[..GatewayError::BadShutdownReason as usize];
    for reason in reasons {
        assert_eq!(total.rejections.get(*reason), 1, "{reason:?}");
    }
}

#[test]
fn the_memory_server_can_neither_send_events_nor_shut_the_domain_down() {
    let mut rig = Rig::new();
    let ports = [rig.store, rig.console, UNBOUND_PORT, 0, u32::MAX];
    for port in ports {
        rig.assert_control_refused(SERVER, Control::Send(port), GatewayError::NotPermitted);
    }
    for reason in [0, 1, 2, 3, 4, 5, u32::MAX] {
        rig.assert_control_refused(
            SERVER,
            Control::Shutdown(reason),
            GatewayError::NotPermitted,
        );
    }
    assert_eq!(
        rig.gateway.allow_event_port(SERVER, rig.store),
        Err(EventPortError::NotPermitted),
        "nor can it be given a port"
    );
    let view = rig.xen_view();
    assert_eq!(
        (view.store_sends, view.console_sends, view.shutdown),
        (Some(0), Some(0), None)
    );
    let server = rig.gateway.counters().caller(SERVER).expect("in the table");
    assert_eq!((server.calls, server.hypercalls), (12, 0));
    for op in [HypercallOp::EventSend, HypercallOp::Shutdown] {
        let counted = rig.gateway.counters().op(op);
        assert_eq!(counted.hypercalls, 0, "{op:?}");
        assert_eq!(
            counted.rejections.get(GatewayError::NotPermitted),
            counted.calls
        );
    }
}

#[test]
fn a_stranger_and_the_driver_are_refused_the_agents_ops() {
    let mut rig = Rig::new();
    let store = rig.store;
    rig.assert_control_refused(STRANGER, Control::Send(store), GatewayError::UnknownCaller);
    rig.assert_control_refused(STRANGER, Control::Shutdown(0), GatewayError::UnknownCaller);
    rig.assert_control_refused(DRIVER, Control::Send(store), GatewayError::NotPermitted);
    rig.assert_control_refused(DRIVER, Control::Shutdown(0), GatewayError::NotPermitted);
}

/// One frame a compromised server might name.
fn any_frame() -> impl Strategy<Value = u64> {
    prop_oneof![
        SERVER_RAM,
        LENDING,
        IMAGE,
        Just(SERVER_RAM.end),
        Just(LENDING.end),
        any::<u64>(),
    ]
}

proptest! {
    /// Whatever a compromised server sends, the image's pages stay populated, a refused request
    /// leaves Xen untouched, an accepted one named only whole extents of its own, no page leaks
    /// and the gateway's page state agrees with Xen's on every frame the server owns.
    #[test]
    fn no_request_reaches_beyond_the_callers_frames(
        requests in prop::collection::vec(
            (
                prop_oneof![Just(INCREASE), Just(DECREASE), Just(POPULATE)],
                prop_oneof![0u8..=10, any::<u8>()],
                prop_oneof![Just(0u32), Just(XENMEMF_POPULATE_ON_DEMAND), any::<u32>()],
                prop_oneof![Just(DOMID_SELF), Just(1u16), any::<u16>()],
                prop::collection::vec(any_frame(), 0..6),
            ),
            1..24,
        )
    ) {
        let mut rig = Rig::new();
        for (op, order, flags, domid, frames) in requests {
            let before = rig.xen_view();
            let mut list: Vec<ballast_xen::Gfn> = frames.iter().map(|&f| ballast_xen::Gfn(f)).collect();
            match rig.gateway.reservation(SERVER, op, order, flags, domid, &mut list) {
                Err(_) => prop_assert_eq!(rig.xen_view(), before),
                Ok(completed) => {
                    prop_assert!(completed.extents <= frames.len());
                    if op != INCREASE {
                        let extent = 1u64 << order;
                        for &frame in &frames {
                            let inside = |r: &std::ops::Range<u64>| r.start <= frame && frame + extent <= r.end;
                            prop_assert!(frame % extent == 0);
                            prop_assert!(inside(&SERVER_RAM) || inside(&LENDING));
                        }
                    }
                }
            }
            prop_assert_eq!(rig.populated(IMAGE), IMAGE.end - IMAGE.start);
            prop_assert_eq!(rig.sim.leaked_pages(rig.dom), Some(0));
        }
        for gfn in SERVER_RAM.chain(LENDING) {
            let xen = rig.sim.is_populated(rig.dom, gfn);
            prop_assert_eq!(rig.gateway.is_populated(SERVER, ballast_xen::Gfn(gfn)), xen, "frame {:#x}", gfn);
        }
    }
}

/// The fuzz campaign's finding (`fuzz/corpus/gateway_ipc/populate-a-populated-frame`): a
/// populate of a frame of its own RAM that Xen holds populated passed every check, and Xen
/// leaked the old page. Now refused, at order 0 and 9, alone or after frames it may populate.
#[test]
fn populating_its_own_populated_frames_is_refused_and_nothing_leaks() {
    let mut rig = Rig::new();
    rig.assert_refused(
        SERVER,
        (POPULATE, 0, 0, DOMID_SELF),
        &[0x7600],
        GatewayError::FramePopulated,
    );
    rig.assert_refused(
        SERVER,
        (POPULATE, 9, 0, DOMID_SELF),
        &[0x2000],
        GatewayError::FramePopulated,
    );
    rig.assert_refused(
        SERVER,
        (POPULATE, 0, 0, DOMID_SELF),
        &[LENDING.start, 0x7600],
        GatewayError::FramePopulated,
    );
    rig.assert_refused(
        SERVER,
        (DECREASE, 0, 0, DOMID_SELF),
        &[0x7600, LENDING.start],
        GatewayError::FrameNotPopulated,
    );
    assert_eq!(rig.sim.leaked_pages(rig.dom), Some(0));
}
