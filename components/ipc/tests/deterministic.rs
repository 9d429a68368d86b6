//! The deterministic runtime running the same demo handlers: the same behaviours as on threads,
//! plus inline calls that would block, replay from a seed, and an invariant checked every step.

mod support;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use ballast_ipc::deterministic::{CallId, DeterministicRuntime, SimHandler, TraceEntry};
use ballast_ipc::{
    ComponentKind, IpcError, LeaseDescriptor, NotificationBits, RuntimeError, TablesBuilder,
};
use support::*;

const MAX_STEPS: u64 = 10_000;

struct System {
    runtime: DeterministicRuntime,
    demo: Demo,
    server: Probe,
    pinger: Probe,
}

fn start(clients: usize, seed: u64) -> System {
    let demo = demo(clients);
    let (server, backend, pinger) = (Probe::default(), Probe::default(), Probe::default());
    let handlers: Vec<(_, Box<dyn SimHandler>)> = vec![
        (demo.server, Box::new(DemoServer::new(server.clone()))),
        (demo.backend, Box::new(DemoServer::new(backend))),
        (demo.pinger, Box::new(Pinger::new(pinger.clone()))),
    ];
    let runtime = DeterministicRuntime::new(demo.builder.build().expect("valid"), handlers, seed)
        .expect("valid");
    System {
        runtime,
        demo,
        server,
        pinger,
    }
}

impl System {
    fn submit(
        &mut self,
        client: usize,
        op: u16,
        body: &[u8],
        lent: Option<LeaseDescriptor>,
    ) -> CallId {
        self.runtime
            .submit_call(self.demo.clients[client], CALL, &request(op, body), lent)
            .expect("submitted")
    }

    fn settle(&mut self) {
        let report = self
            .runtime
            .run_until_idle(MAX_STEPS)
            .expect("no invariant set");
        assert!(report.idle);
    }

    fn answer(&mut self, call: CallId) -> Result<(u16, Vec<u8>), IpcError> {
        let reply = self.runtime.take_reply(call).expect("answered");
        reply.map(|bytes| parse_reply(&bytes))
    }
}

#[test]
fn echo_and_counters_are_kept_per_badge() {
    let mut system = start(2, 1);
    let echo = system.submit(0, OP_ECHO, b"hello", None);
    let a1 = system.submit(0, OP_ADD, &5u32.to_le_bytes(), None);
    let b1 = system.submit(1, OP_ADD, &7u32.to_le_bytes(), None);
    let a2 = system.submit(0, OP_ADD, &1u32.to_le_bytes(), None);
    system.settle();
    assert_eq!(system.answer(echo), Ok((0, b"hello".to_vec())));
    assert_eq!(system.answer(a1), Ok((0, 5u64.to_le_bytes().to_vec())));
    assert_eq!(system.answer(b1), Ok((0, 7u64.to_le_bytes().to_vec())));
    assert_eq!(system.answer(a2), Ok((0, 6u64.to_le_bytes().to_vec())));
    assert_eq!(system.runtime.take_reply(a2), None, "a reply is taken once");
    let server = system
        .runtime
        .handler::<DemoServer>(system.demo.server)
        .expect("a demo server");
    assert_eq!(server.total(), 13);
}

#[test]
fn transport_errors_are_typed() {
    let mut system = start(1, 1);
    let client = system.demo.clients[0];
    let runtime = &mut system.runtime;
    assert_eq!(
        runtime.submit_call(client, SIGNAL_SERVER, &request(OP_ECHO, &[]), None),
        Err(IpcError::NoSuchEndpoint)
    );
    assert_eq!(
        runtime.submit_call(client, CALL, &[0u8; 129], None),
        Err(IpcError::MessageTooLong)
    );
    assert_eq!(
        runtime.submit_call(system.demo.server, CALL, &[], None),
        Err(IpcError::NoSuchEndpoint)
    );
    assert_eq!(
        runtime.notify(client, CALL, RELEASE),
        Err(IpcError::NoSuchEndpoint)
    );
    let first = runtime
        .submit_call(
            client,
            CALL,
            &request(OP_SUM, &[]),
            Some(lease(writable_region(0), false, 0, 4)),
        )
        .expect("lent once");
    assert_eq!(
        runtime.submit_call(
            client,
            CALL,
            &request(OP_SUM, &[]),
            Some(lease(writable_region(0), false, 8, 4))
        ),
        Err(IpcError::BadLease),
        "a region is lent to one call at a time"
    );
    system.settle();
    assert_eq!(system.answer(first), Ok((0, 0u64.to_le_bytes().to_vec())));
    assert_eq!(
        system.runtime.kill(ballast_ipc::ComponentId(99)),
        Err(RuntimeError::UnknownComponent)
    );
}

#[test]
fn a_deferred_reply_waits_until_the_server_answers() {
    let mut system = start(2, 3);
    let held = system.submit(0, OP_HOLD, &[], None);
    let echo = system.submit(1, OP_ECHO, b"meanwhile", None);
    system.settle();
    assert_eq!(system.runtime.take_reply(held), None);
    assert_eq!(system.answer(echo), Ok((0, b"meanwhile".to_vec())));
    system
        .runtime
        .notify(system.demo.clients[1], SIGNAL_SERVER, RELEASE)
        .expect("may notify");
    system.settle();
    assert_eq!(system.answer(held), Ok((0, 1u32.to_le_bytes().to_vec())));
}

#[test]
fn simulated_time_jumps_to_the_next_timer() {
    let mut system = start(2, 5);
    let late = system.submit(0, OP_SLEEP, &5_000_000u64.to_le_bytes(), None);
    let early = system.submit(1, OP_SLEEP, &2_000_000u64.to_le_bytes(), None);
    let report = system
        .runtime
        .run_until_time(1_000_000, MAX_STEPS)
        .expect("no invariant set");
    assert!(report.idle);
    assert_eq!(system.runtime.now_ns(), 1_000_000);
    assert_eq!(system.runtime.take_reply(early), None);
    system.settle();
    assert_eq!(
        system.answer(early),
        Ok((0, 2_000_000u64.to_le_bytes().to_vec()))
    );
    assert_eq!(
        system.answer(late),
        Ok((0, 5_000_000u64.to_le_bytes().to_vec()))
    );
    assert_eq!(system.runtime.now_ns(), 5_000_000);
    system.runtime.advance_time(1_000);
    assert_eq!(system.runtime.now_ns(), 5_001_000);
}

#[test]
fn notifications_arrive_without_the_timer_bit_a_peer_cannot_raise() {
    let mut system = start(1, 1);
    let client = system.demo.clients[0];
    system
        .runtime
        .notify(
            client,
            SIGNAL_SERVER,
            NotificationBits(0x10 | NotificationBits::TIMER.0),
        )
        .expect("may notify");
    system
        .runtime
        .notify(client, SIGNAL_SERVER, NotificationBits(0x20))
        .expect("may notify");
    system.settle();
    assert_eq!(
        system.server.get().notified,
        vec![0x30],
        "bits accumulate until delivered"
    );
}

#[test]
fn an_external_component_takes_the_bits_raised_on_it() {
    let mut builder = TablesBuilder::new();
    let control = builder.component("control", ComponentKind::External);
    let testclient = builder.component("testclient", ComponentKind::External);
    let go = builder.notification(control, testclient, NotificationBits(1));
    let checked = builder.build().expect("valid");
    let mut runtime = DeterministicRuntime::new(checked, Vec::new(), 1).expect("valid");
    assert_eq!(runtime.take_notified(testclient), Some(NotificationBits(0)));
    runtime
        .notify(control, go, NotificationBits(1))
        .expect("may notify");
    let report = runtime.run_until_idle(MAX_STEPS).expect("no invariant set");
    assert!(
        report.idle,
        "no handler runs for an external component's bits"
    );
    assert_eq!(runtime.take_notified(testclient), Some(NotificationBits(1)));
    assert_eq!(
        runtime.take_notified(testclient),
        Some(NotificationBits(0)),
        "taken once"
    );
}

#[test]
fn leases_are_checked_by_region_bounds_and_access() {
    let mut system = start(2, 9);
    system
        .runtime
        .region(read_only_region(0))
        .expect("declared")[..4]
        .copy_from_slice(&[1, 2, 3, 4]);
    let sum = system.submit(
        0,
        OP_SUM,
        &[],
        Some(lease(read_only_region(0), false, 0, 4)),
    );
    let fill = system.submit(
        1,
        OP_FILL,
        &[9],
        Some(lease(writable_region(1), true, 16, 8)),
    );
    let private = system.submit(0, OP_SUM, &[], Some(lease(private_region(0), false, 0, 4)));
    let write_read_only = system.submit(
        1,
        OP_FILL,
        &[1],
        Some(lease(read_only_region(1), true, 0, 4)),
    );
    system.settle();
    let bad = status_of(IpcError::BadLease);
    assert_eq!(system.answer(sum), Ok((0, 10u64.to_le_bytes().to_vec())));
    assert_eq!(
        &system
            .runtime
            .region(read_only_region(0))
            .expect("declared")[..4],
        &[1, 2, 3, 4]
    );
    assert_eq!(system.answer(fill), Ok((0, vec![])));
    let region = system
        .runtime
        .region(writable_region(1))
        .expect("declared")
        .to_vec();
    assert!(
        region[16..24].iter().all(|&b| b == 9)
            && region[..16].iter().all(|&b| b == 0)
            && region[24..].iter().all(|&b| b == 0)
    );
    assert_eq!(system.answer(private), Ok((bad, vec![])));
    assert_eq!(system.answer(write_read_only), Ok((bad, vec![])));
    assert_eq!(
        system
            .runtime
            .region(read_only_region(1))
            .expect("declared")[..4],
        [0; 4]
    );
    let client = system.demo.clients[0];
    let foreign = lease(writable_region(1), false, 0, 4);
    assert_eq!(
        system
            .runtime
            .submit_call(client, CALL, &request(OP_SUM, &[]), Some(foreign)),
        Err(IpcError::BadLease)
    );
    let outside = lease(writable_region(0), false, 250, 7);
    assert_eq!(
        system
            .runtime
            .submit_call(client, CALL, &request(OP_SUM, &[]), Some(outside)),
        Err(IpcError::BadLease)
    );
}

#[test]
fn a_handler_component_lends_its_own_region_in_an_inline_call() {
    let mut system = start(1, 2);
    system
        .runtime
        .notify(system.demo.clients[0], SIGNAL_PINGER, PING)
        .expect("may notify");
    system.settle();
    assert_eq!(system.pinger.get().pinger_sums, vec![Ok(30)]);
}

#[test]
fn an_inline_call_answers_at_once_or_would_block() {
    let mut system = start(1, 4);
    let echoed = system.submit(0, OP_FORWARD, &request(OP_ECHO, b"deep"), None);
    let held = system.submit(0, OP_FORWARD, &request(OP_HOLD, &[]), None);
    system.settle();
    let (status, body) = system.answer(echoed).expect("answered");
    assert_eq!((status, parse_reply(&body)), (0, (0, b"deep".to_vec())));
    assert_eq!(
        system.answer(held),
        Ok((status_of(IpcError::WouldBlock), vec![]))
    );
    assert!(system.runtime.trace().iter().any(
        |e| matches!(e, TraceEntry::WouldBlock { server, .. } if *server == system.demo.backend)
    ));
}

#[test]
fn a_dead_client_voids_its_deferred_reply_and_its_server_is_told() {
    let mut system = start(2, 6);
    let doomed = system.submit(0, OP_HOLD, &[], None);
    system.settle();
    assert_eq!(system.server.get().held, 1);
    system.runtime.kill(system.demo.clients[0]).expect("alive");
    assert_eq!(
        system.runtime.take_reply(doomed),
        Some(Err(IpcError::ServerDied))
    );
    system.settle();
    assert_eq!(system.server.get().died, vec![client_badge(0)]);
    system
        .runtime
        .notify(system.demo.clients[1], SIGNAL_SERVER, RELEASE)
        .expect("may notify");
    system.settle();
    assert!(system.runtime.trace().iter().any(
        |e| matches!(e, TraceEntry::ReplyDropped { server, .. } if *server == system.demo.server)
    ));
    let echo = system.submit(1, OP_ECHO, b"alive", None);
    system.settle();
    assert_eq!(system.answer(echo), Ok((0, b"alive".to_vec())));
    assert_eq!(
        system.runtime.kill(system.demo.clients[0]),
        Err(RuntimeError::AlreadyDead)
    );
}

#[test]
fn a_caller_waiting_on_a_server_that_dies_gets_server_died() {
    let mut system = start(1, 8);
    let held = system.submit(0, OP_HOLD, &[], None);
    let queued = system.submit(0, OP_ECHO, b"queued", None);
    system.runtime.run_steps(1).expect("no invariant set");
    system.runtime.kill(system.demo.server).expect("alive");
    assert_eq!(
        system.runtime.take_reply(held),
        Some(Err(IpcError::ServerDied))
    );
    assert_eq!(
        system.runtime.take_reply(queued),
        Some(Err(IpcError::ServerDied))
    );
    let client = system.demo.clients[0];
    assert_eq!(
        system
            .runtime
            .submit_call(client, CALL, &request(OP_ECHO, &[]), None),
        Err(IpcError::ServerDied)
    );
}

/// Four clients, each adding and echoing, with a held call released by a notification and a
/// timer: enough choices for seeds to differ.
fn busy_trace(seed: u64) -> String {
    let mut system = start(4, seed);
    for round in 0..3u32 {
        for client in 0..4 {
            system.submit(client, OP_ADD, &(round + 1).to_le_bytes(), None);
            system.submit(client, OP_ECHO, &[client as u8; 3], None);
        }
    }
    system.submit(0, OP_HOLD, &[], None);
    system.submit(1, OP_SLEEP, &1_000u64.to_le_bytes(), None);
    system
        .runtime
        .notify(system.demo.clients[2], SIGNAL_SERVER, RELEASE)
        .expect("may notify");
    system
        .runtime
        .notify(system.demo.clients[3], SIGNAL_PINGER, PING)
        .expect("may notify");
    system.settle();
    system.runtime.trace_text()
}

#[test]
fn the_same_seed_replays_the_same_trace_and_other_seeds_interleave_differently() {
    let first = busy_trace(42);
    assert_eq!(first, busy_trace(42));
    assert!(first.contains("Delivered"));
    let distinct: BTreeSet<String> = (0..8).map(busy_trace).collect();
    assert!(distinct.len() > 1, "eight seeds gave one interleaving");
}

#[test]
fn the_step_hook_checks_an_invariant_after_every_step() {
    let mut system = start(2, 11);
    let server = system.demo.server;
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&seen);
    system.runtime.set_step_hook(Box::new(move |view| {
        let total = view
            .handler::<DemoServer>(server)
            .map_or(0, DemoServer::total);
        log.borrow_mut().push((view.record().step, total));
        if total > 20 {
            return Err(format!("total {total} passed 20"));
        }
        Ok(())
    }));
    for _ in 0..3 {
        system.submit(0, OP_ADD, &10u32.to_le_bytes(), None);
        system.submit(1, OP_ECHO, b"x", None);
    }
    let violation = system
        .runtime
        .run_until_idle(MAX_STEPS)
        .expect_err("the third add breaks it");
    let seen = seen.borrow();
    assert_eq!(seen.last().map(|&(step, _)| step), Some(violation.step));
    assert_eq!(
        seen.iter().map(|&(step, _)| step).collect::<Vec<_>>(),
        (0..=violation.step).collect::<Vec<_>>()
    );
    assert!(
        seen.windows(2).all(|w| w[0].1 <= w[1].1),
        "the total never shrinks"
    );
    assert_eq!(violation.message, "total 30 passed 20");
}

#[test]
fn a_charged_step_moves_the_clock_before_anything_else_runs() {
    let mut system = start(2, 3);
    let steps_started = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&steps_started);
    system.runtime.set_charge_hook(Box::new(move |record| {
        log.borrow_mut().push(record.now_ns);
        250
    }));
    let sleeper = system.submit(0, OP_SLEEP, &1_000u64.to_le_bytes(), None);
    let echo = system.submit(1, OP_ECHO, b"x", None);
    system.settle();
    assert_eq!(system.answer(echo), Ok((0, b"x".to_vec())));
    assert_eq!(
        system.answer(sleeper),
        Ok((0, 1_000u64.to_le_bytes().to_vec()))
    );
    let started = steps_started.borrow();
    assert!(
        started.windows(2).all(|w| w[1] >= w[0] + 250),
        "each step starts after the previous one's charge: {started:?}"
    );
    assert_eq!(
        system.runtime.now_ns(),
        started.last().copied().unwrap_or(0) + 250
    );
}

#[test]
fn a_charge_past_the_limit_hands_control_back_with_work_left() {
    let mut system = start(2, 4);
    system.runtime.set_charge_hook(Box::new(|_| 1_000_000));
    for _ in 0..3 {
        system.submit(0, OP_ECHO, b"x", None);
    }
    let report = system
        .runtime
        .run_until_time(500_000, MAX_STEPS)
        .expect("no invariant set");
    assert_eq!(report.steps, 1, "the first step's charge passes the limit");
    assert!(!report.idle);
    assert_eq!(system.runtime.now_ns(), 1_000_000);
    system.settle();
    assert_eq!(system.runtime.now_ns(), 3_000_000);
}
