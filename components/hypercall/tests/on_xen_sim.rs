//! The gateway over the simulated Xen: what passes the checks reaches Xen once, and Xen's answer
//! comes back exactly, short counts and errnos included; the counters agree with Xen's. The same
//! for the agent's event sends and its shutdown.

mod support;

use ballast_hypercall::{GatewayError, QueryError};
use ballast_interfaces::hypercall::HypercallOp;
use ballast_xen::{Completed, Gfn, XenErrno, DOMID_SELF};
use ballast_xen_sim::Fault;
use support::*;

fn gfns(raw: &[u64]) -> Vec<Gfn> {
    raw.iter().map(|&gfn| Gfn(gfn)).collect()
}

#[test]
fn a_decrease_and_a_populate_move_exactly_the_listed_frames() {
    let mut rig = Rig::new();
    let start = rig.sim.tot_pages(rig.dom).expect("exists");
    let mut list = gfns(&[0x1000, 0x1001, 0x2005, 0x7fff]);
    assert_eq!(
        rig.gateway
            .reservation(SERVER, DECREASE, 0, 0, DOMID_SELF, &mut list),
        Ok(Completed::all(4))
    );
    assert_eq!(rig.sim.tot_pages(rig.dom), Some(start - 4));
    assert_eq!(rig.sim.is_populated(rig.dom, 0x2005), Some(false));
    assert_eq!(
        rig.populated(SERVER_RAM),
        SERVER_RAM.end - SERVER_RAM.start - 4
    );

    let own_id = rig.dom.0;
    assert_eq!(
        rig.gateway
            .reservation(SERVER, POPULATE, 0, 0, own_id, &mut list),
        Ok(Completed::all(4))
    );
    assert_eq!(rig.sim.tot_pages(rig.dom), Some(start));
    assert_eq!(rig.populated(SERVER_RAM), SERVER_RAM.end - SERVER_RAM.start);
    assert_eq!(rig.sim.leaked_pages(rig.dom), Some(0));
    let other = rig.sim.counters(rig.other).expect("exists");
    assert_eq!(
        (other.extents_decreased, other.extents_populated),
        (0, 0),
        "only the guest was touched"
    );
    assert_eq!(rig.sim.populated_count(rig.other, 0..0x1000), Some(0x1000));
}

#[test]
fn a_short_decrease_is_passed_through_as_xen_answered_it() {
    let mut rig = Rig::new();
    let mut hole = gfns(&[0x3001]);
    assert_eq!(
        rig.gateway
            .reservation(SERVER, DECREASE, 0, 0, DOMID_SELF, &mut hole),
        Ok(Completed::all(1))
    );
    rig.assert_refused(
        SERVER,
        (DECREASE, 0, 0, DOMID_SELF),
        &[0x3000, 0x3001, 0x3002],
        GatewayError::FrameNotPopulated,
    );
    rig.sim.inject(Fault::Shorten {
        call: rig.sim.next_call(),
        completed: 1,
    });
    let mut list = gfns(&[0x3000, 0x3002]);
    let answer = rig
        .gateway
        .reservation(SERVER, DECREASE, 0, 0, DOMID_SELF, &mut list);
    assert_eq!(
        answer,
        Ok(Completed {
            extents: 1,
            anomaly: None
        })
    );
    assert_eq!(
        rig.sim.is_populated(rig.dom, 0x3002),
        Some(true),
        "Xen stopped after the first extent"
    );
    assert_eq!(rig.gateway.is_populated(SERVER, Gfn(0x3000)), Some(false));
    assert_eq!(rig.gateway.is_populated(SERVER, Gfn(0x3002)), Some(true));
    let decrease = rig.gateway.counters().op(HypercallOp::DecreaseReservation);
    assert_eq!(
        (
            decrease.extents_requested,
            decrease.extents_completed,
            decrease.short_completions
        ),
        (3, 2, 1)
    );
}

#[test]
fn populating_past_the_maximum_completes_exactly_the_room_left() {
    let mut rig = Rig::new();
    let room =
        rig.sim.max_pages(rig.dom).expect("exists") - rig.sim.tot_pages(rig.dom).expect("exists");
    assert_eq!(room, HEADROOM);
    let mut list: Vec<Gfn> = (LENDING.start..LENDING.start + HEADROOM + 5)
        .map(Gfn)
        .collect();
    let (first, rest) = list.split_at_mut(300);
    let (second, third) = rest.split_at_mut(MAX_FRAMES);
    for batch in [first, second] {
        let answer = rig
            .gateway
            .reservation(SERVER, POPULATE, 0, 0, DOMID_SELF, batch);
        assert_eq!(answer, Ok(Completed::all(batch.len())));
    }
    let answer = rig
        .gateway
        .reservation(SERVER, POPULATE, 0, 0, DOMID_SELF, third);
    let left = HEADROOM as usize - 300 - MAX_FRAMES;
    assert!(left < third.len());
    assert_eq!(
        answer,
        Ok(Completed {
            extents: left,
            anomaly: None
        })
    );
    let mut one_more = gfns(&[LENDING.end - 1]);
    let answer = rig
        .gateway
        .reservation(SERVER, POPULATE, 0, 0, DOMID_SELF, &mut one_more);
    assert_eq!(
        answer,
        Ok(Completed {
            extents: 0,
            anomaly: None
        })
    );
    assert_eq!(rig.populated(LENDING), HEADROOM);
}

#[test]
fn superpages_go_and_come_back_in_one_extent() {
    let mut rig = Rig::new();
    let start = rig.sim.tot_pages(rig.dom).expect("exists");
    let mut list = gfns(&[0x4000, 0x1000]);
    assert_eq!(
        rig.gateway
            .reservation(SERVER, DECREASE, 9, 0, DOMID_SELF, &mut list),
        Ok(Completed::all(2))
    );
    assert_eq!(rig.sim.tot_pages(rig.dom), Some(start - 1024));
    assert_eq!(
        rig.gateway
            .reservation(SERVER, POPULATE, 9, 0, DOMID_SELF, &mut list),
        Ok(Completed::all(2))
    );
    assert_eq!(rig.sim.tot_pages(rig.dom), Some(start));
    let counters = rig.sim.counters(rig.dom).expect("exists");
    assert_eq!((counters.decrease_calls, counters.populate_calls), (1, 1));
}

#[test]
fn xens_own_order_limit_answers_through_the_gateway() {
    let mut rig = Rig::with_max_order(10);
    let mut list = gfns(&[0x2000]);
    let answer = rig
        .gateway
        .reservation(SERVER, DECREASE, 10, 0, DOMID_SELF, &mut list);
    assert_eq!(
        answer,
        Ok(Completed {
            extents: 0,
            anomaly: None
        }),
        "a domU's memop-max-order is 9"
    );
    assert_eq!(rig.sim.counters(rig.dom).map(|c| c.decrease_calls), Some(1));
    assert_eq!(rig.populated(0x2000..0x2400), 0x400);
}

#[test]
fn an_injected_failure_comes_back_as_the_same_short_count() {
    let mut rig = Rig::new();
    rig.sim.inject(Fault::Shorten {
        call: rig.sim.next_call(),
        completed: 2,
    });
    let mut list = gfns(&[0x5000, 0x5001, 0x5002, 0x5003]);
    let answer = rig
        .gateway
        .reservation(SERVER, DECREASE, 0, 0, DOMID_SELF, &mut list);
    assert_eq!(
        answer,
        Ok(Completed {
            extents: 2,
            anomaly: None
        })
    );
    assert_eq!(rig.populated(0x5000..0x5004), 2);
}

#[test]
fn an_empty_list_completes_nothing_and_xen_is_not_called() {
    let mut rig = Rig::new();
    let before = rig.xen_view();
    assert_eq!(
        rig.gateway
            .reservation(SERVER, POPULATE, 9, 0, DOMID_SELF, &mut []),
        Ok(Completed::all(0))
    );
    assert_eq!(rig.xen_view(), before);
    let total = rig.gateway.counters().total();
    assert_eq!((total.calls, total.hypercalls), (1, 0));
}

#[test]
fn an_unsorted_populate_list_without_repeats_passes() {
    let mut rig = Rig::new();
    let mut list = gfns(&[LENDING.start + 9, LENDING.start, LENDING.start + 4]);
    assert_eq!(
        rig.gateway
            .reservation(SERVER, POPULATE, 0, 0, DOMID_SELF, &mut list),
        Ok(Completed::all(3))
    );
    assert_eq!(
        list,
        gfns(&[LENDING.start + 9, LENDING.start, LENDING.start + 4]),
        "order kept"
    );
    assert_eq!(rig.populated(LENDING), 3);
}

#[test]
fn an_increase_adds_pages_without_frames_and_ignores_the_list() {
    let mut rig = Rig::new();
    let start = rig.sim.tot_pages(rig.dom).expect("exists");
    let mut list = gfns(&[0, 0]);
    assert_eq!(
        rig.gateway
            .reservation(SERVER, INCREASE, 0, 0, DOMID_SELF, &mut list),
        Ok(Completed::all(2))
    );
    assert_eq!(rig.sim.tot_pages(rig.dom), Some(start + 2));
    assert_eq!(rig.sim.gfnless_pages(rig.dom), Some(2));
}

#[test]
fn queries_answer_what_xen_knows_and_surface_its_errno() {
    let mut rig = Rig::new();
    let tot = rig.sim.tot_pages(rig.dom).expect("exists");
    assert_eq!(rig.gateway.current_reservation(SERVER), Ok(tot));
    assert_eq!(rig.gateway.current_reservation(DRIVER), Ok(tot));
    assert_eq!(
        rig.gateway.maximum_reservation(SERVER),
        Ok(SERVER_RAM.end + HEADROOM)
    );

    let before = rig.sim.counters(rig.dom);
    let refused = Err(QueryError::Refused(GatewayError::NotPermitted));
    assert_eq!(rig.gateway.maximum_reservation(DRIVER), refused);
    let unknown = Err(QueryError::Refused(GatewayError::UnknownCaller));
    assert_eq!(rig.gateway.current_reservation(STRANGER), unknown);
    assert_eq!(
        rig.sim.counters(rig.dom),
        before,
        "refused queries do not reach Xen"
    );

    rig.sim.destroy_domain(rig.dom).expect("exists");
    assert_eq!(
        rig.gateway.current_reservation(SERVER),
        Err(QueryError::Xen(XenErrno::ESRCH))
    );
    let current = rig.gateway.counters().op(HypercallOp::CurrentReservation);
    assert_eq!(
        (current.calls, current.hypercalls, current.xen_errors),
        (4, 3, 1)
    );
    assert_eq!(current.rejections.get(GatewayError::UnknownCaller), 1);
}

#[test]
fn the_gateways_counters_agree_with_xens() {
    let mut rig = Rig::new();
    let mut first = gfns(&[0x6000, 0x6001, 0x6002]);
    let mut second = gfns(&[0x6003, 0x6004]);
    let _ = rig
        .gateway
        .reservation(SERVER, DECREASE, 0, 0, DOMID_SELF, &mut first);
    let _ = rig
        .gateway
        .reservation(SERVER, DECREASE, 0, 0, DOMID_SELF, &mut second);
    let _ = rig
        .gateway
        .reservation(SERVER, POPULATE, 0, 0, DOMID_SELF, &mut first);
    rig.assert_refused(
        STRANGER,
        (POPULATE, 0, 0, DOMID_SELF),
        &[0x6001, 0x6003],
        GatewayError::UnknownCaller,
    );
    let xen = rig.sim.counters(rig.dom).expect("exists");
    let counters = rig.gateway.counters();
    let decrease = counters.op(HypercallOp::DecreaseReservation);
    let populate = counters.op(HypercallOp::PopulatePhysmap);
    assert_eq!(decrease.hypercalls, xen.decrease_calls);
    assert_eq!(decrease.extents_completed, xen.extents_decreased);
    assert_eq!(populate.hypercalls, xen.populate_calls);
    assert_eq!(populate.extents_completed, xen.extents_populated);
    assert_eq!(
        decrease.short_completions + populate.short_completions,
        xen.short_calls
    );
    let server = counters.caller(SERVER).expect("in the table");
    assert_eq!(server.hypercalls, 3);
    assert_eq!(
        server.extents_completed,
        xen.extents_decreased + xen.extents_populated
    );
    assert_eq!(
        counters.total().rejections.get(GatewayError::UnknownCaller),
        1
    );
    assert_eq!(populate.calls, 2);
}

#[test]
fn the_agents_sends_and_shutdown_reach_xen_once_and_its_errno_comes_back() {
    let mut rig = Rig::new();
    let store = rig.store;
    for _ in 0..3 {
        assert_eq!(rig.control(AGENT, Control::Send(store)), Ok(()));
    }
    assert_eq!(rig.sim.event_sends(rig.dom, store), Some(3));
    assert_eq!(rig.sim.event_peer(rig.dom, store), Some(rig.other));
    assert_eq!(
        rig.control(AGENT, Control::Send(UNBOUND_PORT)),
        Err(QueryError::Xen(XenErrno::EINVAL)),
        "given by the image, not bound in Xen: Xen's own answer"
    );
    let console = Control::Send(rig.console);
    rig.assert_control_refused(AGENT, console, GatewayError::PortNotAllowed);
    assert_eq!(rig.sim.event_sends(rig.dom, rig.console), Some(0));
    let send = *rig.gateway.counters().op(HypercallOp::EventSend);
    assert_eq!((send.calls, send.hypercalls, send.xen_errors), (5, 4, 1));

    assert_eq!(rig.sim.shutdown_reason(rig.dom), None);
    assert_eq!(rig.control(AGENT, Control::Shutdown(0)), Ok(()));
    assert_eq!(rig.sim.shutdown_reason(rig.dom), Some(0));
    let shutdown = *rig.gateway.counters().op(HypercallOp::Shutdown);
    assert_eq!((shutdown.calls, shutdown.hypercalls), (1, 1));
    let agent = rig.gateway.counters().caller(AGENT).expect("in the table");
    assert_eq!((agent.calls, agent.hypercalls, agent.xen_errors), (6, 5, 1));
    assert_eq!(
        rig.sim.counters(rig.dom).map(|c| c.other_calls),
        Some(0),
        "no memory_op on the way"
    );
}

#[test]
fn a_superpage_release_that_freed_part_of_its_failed_extent_settles_at_the_next_reading() {
    let mut rig = Rig::new();
    let start = rig.gateway.current_reservation(SERVER).expect("a count");
    rig.sim.inject(Fault::PartialExtent {
        call: rig.sim.next_call(),
        completed: 1,
        pages: 100,
    });
    let mut superpages = gfns(&[0x2000, 0x2200]);
    let answer = rig
        .gateway
        .reservation(SERVER, DECREASE, 9, 0, DOMID_SELF, &mut superpages);
    assert_eq!(
        answer,
        Ok(Completed {
            extents: 1,
            anomaly: None
        })
    );
    let freed: Vec<u64> = (0x2200..0x2200 + 100).collect();
    rig.assert_refused(
        SERVER,
        (POPULATE, 0, 0, DOMID_SELF),
        &freed,
        GatewayError::FramePopulated,
    );
    rig.assert_refused(
        SERVER,
        (DECREASE, 0, 0, DOMID_SELF),
        &[0x3000],
        GatewayError::FrameNotPopulated,
    );
    let count = rig.gateway.current_reservation(SERVER).expect("a count");
    assert_eq!(count, start - 512 - 100);
    assert_eq!(
        rig.gateway.is_populated(SERVER, Gfn(0x2200 + 99)),
        Some(false)
    );
    assert_eq!(
        rig.gateway.is_populated(SERVER, Gfn(0x2200 + 100)),
        Some(true)
    );
    let mut back: Vec<Gfn> = freed.iter().copied().map(Gfn).collect();
    let answer = rig
        .gateway
        .reservation(SERVER, POPULATE, 0, 0, DOMID_SELF, &mut back);
    assert_eq!(
        answer,
        Ok(Completed::all(100)),
        "the memory server's recovery"
    );
    let mut rest: Vec<Gfn> = (0x2200 + 100..0x2200 + 512).map(Gfn).collect();
    let (first, second) = rest.split_at_mut(MAX_FRAMES.min(412));
    for part in [first, second] {
        if part.is_empty() {
            continue;
        }
        let answer = rig
            .gateway
            .reservation(SERVER, DECREASE, 0, 0, DOMID_SELF, part);
        assert_eq!(answer, Ok(Completed::all(part.len())));
    }
    assert_eq!(rig.sim.leaked_pages(rig.dom), Some(0));
    assert_eq!(rig.populated(0x2200..0x2400), 100);
}
