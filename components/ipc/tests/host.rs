//! The host runtime (OS threads) running the demo handlers: calls, deferred replies, timers,
//! notifications, leases, deaths, and many client threads at once.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use ballast_ipc::host::{ClientHandle, HostRuntime};
use ballast_ipc::{
    ComponentKind, Handler, IpcError, NotificationBits, RuntimeError, TablesBuilder,
};
use support::*;

struct System {
    runtime: HostRuntime,
    demo: Demo,
    server: Probe,
    backend: Probe,
    pinger: Probe,
}

fn start(clients: usize) -> System {
    let demo = demo(clients);
    let (server, backend, pinger) = (Probe::default(), Probe::default(), Probe::default());
    let handlers: Vec<(_, Box<dyn Handler + Send>)> = vec![
        (demo.server, Box::new(DemoServer::new(server.clone()))),
        (demo.backend, Box::new(DemoServer::new(backend.clone()))),
        (demo.pinger, Box::new(Pinger::new(pinger.clone()))),
    ];
    let runtime =
        HostRuntime::start(demo.builder.build().expect("valid"), handlers).expect("starts");
    System {
        runtime,
        demo,
        server,
        backend,
        pinger,
    }
}

impl System {
    fn client(&mut self, i: usize) -> ClientHandle {
        self.runtime
            .client(self.demo.clients[i])
            .expect("external client")
    }
}

/// Wait (boundedly) for another thread to reach a state; a test failure if it never does.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < give_up, "never happened: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

fn call(client: &mut ClientHandle, op: u16, body: &[u8]) -> Result<(u16, Vec<u8>), IpcError> {
    let mut reply = [0u8; 128];
    let len = client.call(CALL, &request(op, body), None, &mut reply)?;
    Ok(parse_reply(&reply[..len]))
}

fn call_leased(
    client: &mut ClientHandle,
    op: u16,
    body: &[u8],
    lent: ballast_ipc::LeaseDescriptor,
) -> Result<(u16, Vec<u8>), IpcError> {
    let mut reply = [0u8; 128];
    let len = client.call(CALL, &request(op, body), Some(lent), &mut reply)?;
    Ok(parse_reply(&reply[..len]))
}

#[test]
fn echo_and_counters_are_kept_per_badge() {
    let mut system = start(2);
    let (mut a, mut b) = (system.client(0), system.client(1));
    assert_eq!(call(&mut a, OP_ECHO, b"hello"), Ok((0, b"hello".to_vec())));
    assert_eq!(
        call(&mut a, OP_ADD, &5u32.to_le_bytes()),
        Ok((0, 5u64.to_le_bytes().to_vec()))
    );
    assert_eq!(
        call(&mut b, OP_ADD, &7u32.to_le_bytes()),
        Ok((0, 7u64.to_le_bytes().to_vec()))
    );
    assert_eq!(
        call(&mut a, OP_ADD, &1u32.to_le_bytes()),
        Ok((0, 6u64.to_le_bytes().to_vec()))
    );
}

#[test]
fn transport_errors_are_typed() {
    let mut system = start(1);
    let mut a = system.client(0);
    let mut reply = [0u8; 128];
    assert_eq!(
        a.call(SIGNAL_SERVER, &request(OP_ECHO, &[]), None, &mut reply),
        Err(IpcError::NoSuchEndpoint)
    );
    assert_eq!(
        a.call(ballast_ipc::EndpointId(9), &[], None, &mut reply),
        Err(IpcError::NoSuchEndpoint)
    );
    assert_eq!(
        a.call(CALL, &[0u8; 129], None, &mut reply),
        Err(IpcError::MessageTooLong)
    );
    let mut short = [0u8; 4];
    assert_eq!(
        a.call(CALL, &request(OP_ECHO, b"long enough"), None, &mut short),
        Err(IpcError::ReplyTooLong)
    );
    assert_eq!(a.notify(CALL, RELEASE), Err(IpcError::NoSuchEndpoint));
    assert_eq!(
        call(&mut a, OP_ECHO, b"still fine"),
        Ok((0, b"still fine".to_vec()))
    );
    assert_eq!(
        system.runtime.client(system.demo.clients[0]).err(),
        Some(RuntimeError::HandleTaken)
    );
    assert_eq!(
        system.runtime.client(system.demo.server).err(),
        Some(RuntimeError::NotExternal)
    );
}

#[test]
fn a_deferred_reply_keeps_the_caller_blocked_until_the_server_answers() {
    let mut system = start(2);
    let mut held = system.client(0);
    let mut releaser = system.client(1);
    let waiter = thread::spawn(move || call(&mut held, OP_HOLD, &[]));
    wait_for("the server holds the call", || {
        system.server.get().held == 1
    });
    assert!(!waiter.is_finished());
    assert_eq!(
        call(&mut releaser, OP_ECHO, b"meanwhile"),
        Ok((0, b"meanwhile".to_vec()))
    );
    releaser.notify(SIGNAL_SERVER, RELEASE).expect("may notify");
    let released = waiter.join().expect("waiter thread");
    assert_eq!(released, Ok((0, 1u32.to_le_bytes().to_vec())));
}

#[test]
fn a_timer_answers_a_sleeping_call_after_its_deadline() {
    let mut system = start(1);
    let mut a = system.client(0);
    let deadline = system.runtime.now_ns() + 2_000_000;
    let (status, body) = call(&mut a, OP_SLEEP, &deadline.to_le_bytes()).expect("answered");
    assert_eq!(status, 0);
    assert!(u64_body(&body) >= deadline);
    assert!(system
        .server
        .get()
        .notified
        .iter()
        .any(|&bits| bits & NotificationBits::TIMER.0 != 0));
}

#[test]
fn notifications_arrive_without_the_timer_bit_a_peer_cannot_raise() {
    let mut system = start(1);
    let mut a = system.client(0);
    a.notify(
        SIGNAL_SERVER,
        NotificationBits(0x10 | NotificationBits::TIMER.0),
    )
    .expect("may notify");
    wait_for("the server is notified", || {
        !system.server.get().notified.is_empty()
    });
    assert!(system
        .server
        .get()
        .notified
        .iter()
        .all(|&bits| bits == 0x10));
}

#[test]
fn an_external_component_takes_the_bits_raised_on_it() {
    let mut builder = TablesBuilder::new();
    let control = builder.component("control", ComponentKind::External);
    let testclient = builder.component("testclient", ComponentKind::External);
    let go = builder.notification(control, testclient, NotificationBits(1));
    let mut runtime =
        HostRuntime::start(builder.build().expect("valid"), Vec::new()).expect("starts");
    let mut control = runtime.client(control).expect("external");
    let waiter = runtime.client(testclient).expect("external");
    assert_eq!(waiter.take_notified(), NotificationBits(0));
    control.notify(go, NotificationBits(1)).expect("may notify");
    assert_eq!(waiter.take_notified(), NotificationBits(1));
    assert_eq!(waiter.take_notified(), NotificationBits(0), "taken once");
}

#[test]
fn leases_are_shared_memory_checked_by_region_bounds_and_access() {
    let mut system = start(2);
    let mut a = system.client(0);
    a.region(read_only_region(0)).expect("own region")[..4].copy_from_slice(&[1, 2, 3, 4]);
    let read = lease(read_only_region(0), false, 0, 4);
    assert_eq!(
        call_leased(&mut a, OP_SUM, &[], read),
        Ok((0, 10u64.to_le_bytes().to_vec()))
    );
    assert_eq!(
        &a.region(read_only_region(0)).expect("own region")[..4],
        &[1, 2, 3, 4],
        "read-only lease unchanged"
    );

    let write = lease(writable_region(0), true, 16, 8);
    assert_eq!(call_leased(&mut a, OP_FILL, &[9], write), Ok((0, vec![])));
    let region = a.region(writable_region(0)).expect("own region").to_vec();
    assert!(
        region[16..24].iter().all(|&b| b == 9)
            && region[..16].iter().all(|&b| b == 0)
            && region[24..].iter().all(|&b| b == 0)
    );

    let bad = status_of(IpcError::BadLease);
    assert_eq!(
        call_leased(&mut a, OP_SUM, &[], lease(writable_region(1), false, 0, 4)),
        Err(IpcError::BadLease),
        "foreign region"
    );
    assert_eq!(
        call_leased(
            &mut a,
            OP_SUM,
            &[],
            lease(writable_region(0), false, 250, 7)
        ),
        Err(IpcError::BadLease),
        "out of bounds"
    );
    assert_eq!(
        call_leased(&mut a, OP_SUM, &[], lease(private_region(0), false, 0, 4)),
        Ok((bad, vec![])),
        "not shared with the server"
    );
    assert_eq!(
        call_leased(
            &mut a,
            OP_FILL,
            &[1],
            lease(read_only_region(0), true, 0, 4)
        ),
        Ok((bad, vec![])),
        "write to read-only"
    );
    assert_eq!(
        call(&mut a, OP_SUM, &[]),
        Ok((bad, vec![])),
        "no lease at all"
    );
}

#[test]
fn a_handler_component_lends_its_own_region_in_a_call() {
    let mut system = start(1);
    let mut a = system.client(0);
    a.notify(SIGNAL_PINGER, PING).expect("may notify");
    wait_for("the pinger's call returns", || {
        !system.pinger.get().pinger_sums.is_empty()
    });
    assert_eq!(system.pinger.get().pinger_sums, vec![Ok(30)]);
}

#[test]
fn a_server_forwards_a_call_to_another_server() {
    let mut system = start(1);
    let mut a = system.client(0);
    let inner = request(OP_ECHO, b"deep");
    let (status, body) = call(&mut a, OP_FORWARD, &inner).expect("answered");
    assert_eq!(status, 0);
    assert_eq!(parse_reply(&body), (0, b"deep".to_vec()));
}

#[test]
fn a_dead_client_voids_its_deferred_reply_and_its_server_is_told() {
    let mut system = start(2);
    let mut doomed = system.client(0);
    let mut survivor = system.client(1);
    let waiter = thread::spawn(move || call(&mut doomed, OP_HOLD, &[]));
    wait_for("the server holds the call", || {
        system.server.get().held == 1
    });
    system.runtime.kill(system.demo.clients[0]).expect("alive");
    assert_eq!(
        waiter.join().expect("waiter thread"),
        Err(IpcError::ServerDied)
    );
    wait_for("the server learns of the death", || {
        system.server.get().died == vec![client_badge(0)]
    });
    survivor.notify(SIGNAL_SERVER, RELEASE).expect("may notify");
    wait_for("the held token is answered (and dropped)", || {
        system.server.get().held == 0
    });
    assert_eq!(
        call(&mut survivor, OP_ECHO, b"alive"),
        Ok((0, b"alive".to_vec()))
    );
    assert_eq!(
        system.runtime.kill(system.demo.clients[0]),
        Err(RuntimeError::AlreadyDead)
    );
    assert!(!system.runtime.is_alive(system.demo.clients[0]));
}

#[test]
fn a_caller_blocked_on_a_server_that_dies_gets_server_died() {
    let mut system = start(1);
    let mut a = system.client(0);
    let waiter = thread::spawn(move || {
        let first = call(&mut a, OP_HOLD, &[]);
        (first, call(&mut a, OP_ECHO, b"again"))
    });
    wait_for("the server holds the call", || {
        system.server.get().held == 1
    });
    system.runtime.kill(system.demo.server).expect("alive");
    let (first, again) = waiter.join().expect("waiter thread");
    assert_eq!(first, Err(IpcError::ServerDied));
    assert_eq!(again, Err(IpcError::ServerDied));
}

#[test]
fn killing_a_server_blocked_in_its_own_call_unblocks_it_and_tells_both_sides() {
    let mut system = start(1);
    let mut a = system.client(0);
    let waiter = thread::spawn(move || call(&mut a, OP_FORWARD, &request(OP_HOLD, &[])));
    wait_for("the backend holds the forwarded call", || {
        system.backend.get().held == 1
    });
    system.runtime.kill(system.demo.server).expect("alive");
    assert_eq!(
        waiter.join().expect("waiter thread"),
        Err(IpcError::ServerDied)
    );
    wait_for("the backend learns its client died", || {
        system.backend.get().died == vec![ballast_ipc::Badge(1)]
    });
}

#[test]
fn sixteen_client_threads_hammer_one_server() {
    const CLIENTS: usize = 16;
    const CALLS: u64 = 300;
    let mut system = start(CLIENTS);
    let handles: Vec<ClientHandle> = (0..CLIENTS).map(|i| system.client(i)).collect();
    let threads: Vec<_> = handles
        .into_iter()
        .map(|mut client| {
            thread::spawn(move || {
                let mut last = 0;
                for _ in 0..CALLS {
                    let (status, body) =
                        call(&mut client, OP_ADD, &1u32.to_le_bytes()).expect("answered");
                    assert_eq!(status, 0);
                    let counter = u64_body(&body);
                    assert_eq!(counter, last + 1, "each badge has its own counter");
                    last = counter;
                }
                last
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().expect("client thread"), CALLS);
    }
    assert_eq!(system.server.get().total, CLIENTS as u64 * CALLS);
}
