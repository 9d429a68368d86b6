//! The seL4 runtime running the demo handlers as protection domains, each on its own thread, over
//! the host model of seL4 5.0's IPC: badged calls, answers through `ReplyRecv`, calls kept by the
//! handler and answered later through saved reply capabilities, notifications through the bound
//! notification, the runtime's timer, leases over shared regions, and client death reported by
//! the root task.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use ballast_ipc::sel4_rt::host_kernel::{HostKernel, HostPd, HostRoot};
use ballast_ipc::sel4_rt::{MessageInfo, Sel4Abi, Sel4Client, Sel4Error, Sel4Kernel, Sel4Server};
use ballast_ipc::{
    Badge, ComponentId, EndpointId, Handler, IncomingCall, IpcError, LeaseDescriptor,
    NotificationBits, ReplyToken, Sys, Tables,
};
use support::*;

/// The badge conventions the root task mints with.
const ABI: Sel4Abi = Sel4Abi {
    endpoint_badge_bit: 1 << 27,
    root_task_badge: (1 << 27) | 0x7ff_ffff,
    client_died_label: 1,
};
/// Reply slots of every server PD.
const REPLIES: usize = 2;

/// The demo system with its servers running as PDs.
struct Running<'t> {
    kernel: HostKernel,
    clients: Vec<Option<Sel4Client<'t, HostPd>>>,
    root: HostRoot,
    /// What the pinger saw.
    pinger: Probe,
}

impl<'t> Running<'t> {
    fn client(&mut self, i: usize) -> Sel4Client<'t, HostPd> {
        self.clients[i].take().expect("each client is taken once")
    }
}

/// Serve `handler` as component `me` until the kernel stops.
fn serve(
    kernel: &HostKernel,
    pd: HostPd,
    tables: Tables<'_>,
    me: ComponentId,
    mut handler: impl Handler,
) {
    let mut scratch = vec![0u8; REGION_BYTES as usize];
    let mut rt =
        Sel4Server::<_, REPLIES>::new(pd, ABI, tables, me, &mut scratch).expect("a valid PD");
    while !kernel.stopped() {
        rt.run_once(&mut handler);
    }
    assert_eq!(rt.held_calls(), 0, "every call kept was answered or voided");
}

/// Run the demo with `clients` clients, its server (with `server` as handler), backend and pinger
/// each a PD on its own thread, and hand the clients and the root task to `body`.
fn with_demo<T>(
    clients: usize,
    server: impl Handler + Send,
    body: impl FnOnce(&mut Running<'_>) -> T,
) -> T {
    with_tables(demo(clients), server, body)
}

/// As [`with_demo`], over `demo` (the demo's tables, perhaps with more capabilities).
fn with_tables<T>(
    demo: Demo,
    server: impl Handler + Send,
    body: impl FnOnce(&mut Running<'_>) -> T,
) -> T {
    demo.builder.with_tables(|tables| {
        let kernel = HostKernel::new();
        let mut composed = kernel.compose(tables, ABI, |_| REPLIES);
        let mut pd = |component: ComponentId| composed.pds[component.index()].take().expect("once");
        let (server_pd, backend_pd, pinger_pd) =
            (pd(demo.server), pd(demo.backend), pd(demo.pinger));
        let mut running = Running {
            kernel: kernel.clone(),
            clients: (demo.clients.iter())
                .map(|&c| Some(Sel4Client::new(pd(c), *tables, c).expect("a valid client PD")))
                .collect(),
            root: composed.root,
            pinger: Probe::default(),
        };
        thread::scope(|scope| {
            let (pinger, backend) = (Pinger::new(running.pinger.clone()), DemoServer::default());
            let kernel = &kernel;
            scope.spawn(move || serve(kernel, server_pd, *tables, demo.server, server));
            scope.spawn(move || serve(kernel, backend_pd, *tables, demo.backend, backend));
            scope.spawn(move || serve(kernel, pinger_pd, *tables, demo.pinger, pinger));
            let outcome = body(&mut running);
            kernel.stop();
            outcome
        })
    })
}

fn demo_server(probe: &Probe) -> DemoServer {
    DemoServer::new(probe.clone())
}

fn call(
    client: &mut Sel4Client<'_, HostPd>,
    op: u16,
    body: &[u8],
    lease: Option<LeaseDescriptor>,
) -> Result<(u16, Vec<u8>), IpcError> {
    let mut reply = [0u8; 128];
    let len = client.call(CALL, &request(op, body), lease, &mut reply)?;
    Ok(parse_reply(&reply[..len]))
}

/// Wait (boundedly) for another thread to reach a state; a test failure if it never does.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < give_up, "never happened: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn calls_are_answered_with_the_callers_badge_and_counters_kept_per_badge() {
    let probe = Probe::default();
    with_demo(2, demo_server(&probe), |system| {
        let (mut a, mut b) = (system.client(0), system.client(1));
        assert_eq!(
            call(&mut a, OP_ECHO, b"hello", None),
            Ok((0, b"hello".to_vec()))
        );
        let add = |client: &mut Sel4Client<'_, HostPd>, amount: u32| {
            call(client, OP_ADD, &amount.to_le_bytes(), None).map(|(_, body)| u64_body(&body))
        };
        assert_eq!(add(&mut a, 5), Ok(5));
        assert_eq!(add(&mut b, 7), Ok(7));
        assert_eq!(add(&mut a, 1), Ok(6));
        assert_eq!(probe.get().total, 13);
    });
}

#[test]
fn a_handler_calls_another_pd_while_its_own_caller_waits() {
    let probe = Probe::default();
    with_demo(1, demo_server(&probe), |system| {
        let mut a = system.client(0);
        let inner = request(OP_ECHO, b"via the backend");
        let (status, body) = call(&mut a, OP_FORWARD, &inner, None).expect("answered");
        assert_eq!(status, 0);
        assert_eq!(parse_reply(&body), (0, b"via the backend".to_vec()));
    });
}

#[test]
fn a_server_calls_through_its_own_capabilities_before_it_serves() {
    let demo = demo(1);
    demo.builder.with_tables(|tables| {
        let kernel = HostKernel::new();
        let mut composed = kernel.compose(tables, ABI, |_| REPLIES);
        let mut pd = |component: ComponentId| composed.pds[component.index()].take().expect("once");
        let (server_pd, backend_pd) = (pd(demo.server), pd(demo.backend));
        let mut client =
            Sel4Client::new(pd(demo.clients[0]), *tables, demo.clients[0]).expect("a client PD");
        let mut scratch = vec![0u8; REGION_BYTES as usize];
        thread::scope(|scope| {
            let kernel = &kernel;
            let backend = DemoServer::default();
            scope.spawn(move || serve(kernel, backend_pd, *tables, demo.backend, backend));
            let mut rt =
                Sel4Server::<_, REPLIES>::new(server_pd, ABI, *tables, demo.server, &mut scratch)
                    .expect("a valid PD");
            let mut reply = [0u8; 128];
            let before = request(OP_ADD, &3u32.to_le_bytes());
            let len = rt
                .sys()
                .call(CALL, &before, None, &mut reply)
                .expect("answered");
            assert_eq!(
                parse_reply(&reply[..len]),
                (0, 3u64.to_le_bytes().to_vec()),
                "the backend counted the server's call, under the server's badge"
            );
            let mut handler = DemoServer::default();
            let serving = scope.spawn(move || {
                while !kernel.stopped() {
                    rt.run_once(&mut handler);
                }
            });
            assert_eq!(
                call(&mut client, OP_ECHO, b"after", None),
                Ok((0, b"after".to_vec()))
            );
            kernel.stop();
            serving.join().expect("the server stops");
        });
    });
}

#[test]
fn transport_errors_are_typed_before_the_kernel_sees_the_call() {
    let probe = Probe::default();
    with_demo(1, demo_server(&probe), |system| {
        let mut a = system.client(0);
        let mut reply = [0u8; 128];
        assert_eq!(
            a.call(SIGNAL_SERVER, &request(OP_ECHO, &[]), None, &mut reply),
            Err(IpcError::NoSuchEndpoint)
        );
        assert_eq!(
            a.call(EndpointId(9), &[], None, &mut reply),
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
            a.notify(SIGNAL_SERVER, PING),
            Err(IpcError::NoSuchEndpoint),
            "no capability raises those bits"
        );
        assert_eq!(
            call(&mut a, OP_ECHO, b"still fine", None),
            Ok((0, b"still fine".to_vec()))
        );
    });
}

#[test]
fn a_malformed_message_is_refused_without_reaching_the_handler() {
    let probe = Probe::default();
    with_demo(1, demo_server(&probe), |system| {
        let mut a = system.client(0);
        let kernel = a.kernel();
        kernel.message_registers()[0] = 0xffff;
        let info = MessageInfo {
            label: 0,
            length: 3,
        };
        let answer = kernel.call(CALL, info).expect("delivered");
        assert_eq!(answer.label, IpcError::MessageTooLong as u64);
        assert_eq!(
            call(&mut a, OP_ECHO, b"after", None),
            Ok((0, b"after".to_vec()))
        );
        assert_eq!(probe.get().total, 0);
    });
}

#[test]
fn a_kept_call_is_answered_later_through_its_saved_reply_capability() {
    let probe = Probe::default();
    with_demo(2, demo_server(&probe), |system| {
        let mut held = system.client(0);
        let mut releaser = system.client(1);
        thread::scope(|scope| {
            let waiter = scope.spawn(move || call(&mut held, OP_HOLD, &[], None));
            wait_for("the server holds the call", || probe.get().held == 1);
            assert_eq!(
                call(&mut releaser, OP_ECHO, b"meanwhile", None),
                Ok((0, b"meanwhile".to_vec())),
                "the server serves others while the call is kept"
            );
            assert!(!waiter.is_finished());
            releaser.notify(SIGNAL_SERVER, RELEASE).expect("may notify");
            let released = waiter.join().expect("the waiter returns");
            assert_eq!(released, Ok((0, 1u32.to_le_bytes().to_vec())));
        });
        assert!(probe.get().notified.contains(&RELEASE.0));
    });
}

#[test]
fn a_call_past_the_reply_slots_would_block_and_the_kept_ones_still_get_answers() {
    let probe = Probe::default();
    with_demo(4, demo_server(&probe), |system| {
        let mut held: Vec<_> = (0..REPLIES).map(|i| system.client(i)).collect();
        let mut late = system.client(REPLIES);
        let mut releaser = system.client(REPLIES + 1);
        thread::scope(|scope| {
            let waiters: Vec<_> = (held.iter_mut())
                .map(|client| scope.spawn(move || call(client, OP_HOLD, &[], None)))
                .collect();
            wait_for("every reply slot holds a call", || {
                probe.get().held == REPLIES
            });
            assert_eq!(
                call(&mut late, OP_ECHO, b"no slot", None),
                Err(IpcError::WouldBlock)
            );
            releaser.notify(SIGNAL_SERVER, RELEASE).expect("may notify");
            for waiter in waiters {
                let released = waiter.join().expect("the waiter returns");
                assert_eq!(released, Ok((0, (REPLIES as u32).to_le_bytes().to_vec())));
            }
            assert_eq!(
                call(&mut late, OP_ECHO, b"a slot", None),
                Ok((0, b"a slot".to_vec()))
            );
        });
    });
}

#[test]
fn the_runtimes_timer_answers_a_sleeping_call_after_its_deadline() {
    let probe = Probe::default();
    with_demo(1, demo_server(&probe), |system| {
        let mut a = system.client(0);
        let deadline = system.kernel.now_ns() + 50_000_000;
        let (status, body) =
            call(&mut a, OP_SLEEP, &deadline.to_le_bytes(), None).expect("answered");
        assert_eq!(status, 0);
        assert!(u64_body(&body) >= deadline);
        assert!(system.kernel.now_ns() >= deadline);
        assert!(probe.get().notified.contains(&NotificationBits::TIMER.0));
    });
}

#[test]
fn leases_are_shared_regions_checked_on_both_sides() {
    let probe = Probe::default();
    with_demo(2, demo_server(&probe), |system| {
        let mut a = system.client(0);
        a.own_region(read_only_region(0)).expect("own region")[..4].copy_from_slice(&[1, 2, 3, 4]);
        let read = lease(read_only_region(0), false, 0, 4);
        assert_eq!(
            call(&mut a, OP_SUM, &[], Some(read)),
            Ok((0, 10u64.to_le_bytes().to_vec()))
        );
        assert_eq!(
            &a.own_region(read_only_region(0)).expect("own region")[..4],
            &[1, 2, 3, 4],
            "the server scribbled on a copy"
        );
        let write = lease(writable_region(0), true, 16, 8);
        assert_eq!(
            call(&mut a, OP_FILL, &[7], Some(write)),
            Ok((0, Vec::new()))
        );
        let region = a.own_region(writable_region(0)).expect("own region");
        assert_eq!(&region[16..24], &[7; 8]);
        assert_eq!(region[15], 0);
        assert_eq!(region[24], 0);
        let bad = |error: IpcError| Ok((status_of(error), Vec::new()));
        let unshared = lease(private_region(0), false, 0, 4);
        assert_eq!(
            call(&mut a, OP_SUM, &[], Some(unshared)),
            bad(IpcError::BadLease)
        );
        let write_read_only = lease(read_only_region(0), true, 0, 4);
        assert_eq!(
            call(&mut a, OP_FILL, &[1], Some(write_read_only)),
            bad(IpcError::BadLease)
        );
        let past_end = lease(writable_region(0), true, REGION_BYTES - 4, 8);
        assert_eq!(
            call(&mut a, OP_FILL, &[1], Some(past_end)),
            Err(IpcError::BadLease),
            "the lender's runtime refuses a window outside its region"
        );
        let not_mine = lease(writable_region(1), true, 0, 4);
        assert_eq!(
            call(&mut a, OP_FILL, &[1], Some(not_mine)),
            Err(IpcError::BadLease),
            "a client lends only its own regions"
        );
    });
}

#[test]
fn a_notified_pd_lends_its_own_region_read_only() {
    let probe = Probe::default();
    with_demo(1, demo_server(&probe), |system| {
        let mut a = system.client(0);
        a.notify(SIGNAL_PINGER, PING).expect("may notify");
        let pinger = system.pinger.clone();
        wait_for("the pinger's call is answered", || {
            !pinger.get().pinger_sums.is_empty()
        });
        assert_eq!(pinger.get().pinger_sums, [Ok(30)]);
        assert_eq!(call(&mut a, OP_ECHO, b"", None), Ok((0, Vec::new())));
    });
}

#[test]
fn a_pd_that_serves_nothing_waits_for_the_bits_raised_on_its_notification() {
    const GO: NotificationBits = NotificationBits(0b100);
    let mut demo = demo(2);
    let (signaller, waiter) = (demo.clients[0], demo.clients[1]);
    let go = demo.builder.notification(signaller, waiter, GO);
    let probe = Probe::default();
    with_tables(demo, demo_server(&probe), |system| {
        let mut signaller = system.client(0);
        let mut waiter = system.client(1);
        assert_eq!(
            waiter.take_notified(),
            NotificationBits(0),
            "nothing raised yet"
        );
        thread::scope(|scope| {
            let waiting = scope.spawn(move || waiter.wait_notified());
            signaller.notify(go, GO).expect("may notify");
            assert_eq!(waiting.join().expect("the waiter returns"), GO);
        });
        assert_eq!(
            signaller.notify(go, NotificationBits(0b10)),
            Err(IpcError::NoSuchEndpoint),
            "the capability raises its own bits only"
        );
    });
}

/// Keeps every call with its caller's badge; on [`RELEASE`] answers each with that badge, so
/// that an answer reaching the wrong caller shows.
#[derive(Debug, Default)]
struct Keeper {
    kept: Vec<(Badge, ReplyToken)>,
    probe: Probe,
}

impl Handler for Keeper {
    fn protected(&mut self, _sys: &mut dyn Sys, call: IncomingCall<'_>) {
        self.kept.push((call.badge, call.reply));
        self.probe.get().held = self.kept.len();
    }

    fn notified(&mut self, sys: &mut dyn Sys, bits: NotificationBits) {
        if bits.contains(RELEASE) {
            for (badge, token) in self.kept.drain(..) {
                sys.reply(token, &reply_bytes(0, &badge.0.to_le_bytes()));
            }
        }
    }

    fn client_died(&mut self, _sys: &mut dyn Sys, badge: Badge) {
        self.probe.get().died.push(badge);
    }
}

#[test]
fn a_dead_clients_kept_call_is_void_and_its_slot_serves_the_next_caller_alone() {
    let probe = Probe::default();
    let keeper = Keeper {
        probe: probe.clone(),
        ..Keeper::default()
    };
    with_demo(3, keeper, |system| {
        let mut doomed = system.client(0);
        let doomed_id = doomed.component();
        let mut next = system.client(1);
        let mut releaser = system.client(2);
        thread::scope(|scope| {
            let dying = scope.spawn(move || call(&mut doomed, OP_ECHO, &[], None));
            wait_for("the server keeps the call", || probe.get().held == 1);
            assert_eq!(system.root.kill(doomed_id), 1, "one server told");
            assert!(dying.join().is_err(), "the dead client never runs again");
            assert_eq!(probe.get().died, [client_badge(0)]);
            // The keeper still holds the dead client's token; the next caller takes its slot.
            let waiter = scope.spawn(move || call(&mut next, OP_ECHO, &[], None));
            wait_for("the server keeps the next call", || probe.get().held == 2);
            releaser.notify(SIGNAL_SERVER, RELEASE).expect("may notify");
            let answer = waiter.join().expect("the next caller returns");
            assert_eq!(
                answer,
                Ok((0, client_badge(1).0.to_le_bytes().to_vec())),
                "the next caller gets its own answer, not the dead client's"
            );
        });
    });
}

#[test]
fn a_pd_mapping_other_regions_or_the_wrong_kind_is_refused() {
    let demo = demo(1);
    demo.builder.with_tables(|tables| {
        let kernel = HostKernel::new();
        let mut composed = kernel.compose(tables, ABI, |_| REPLIES);
        let mut pd = |component: ComponentId| composed.pds[component.index()].take().expect("once");
        let mut scratch = vec![0u8; REGION_BYTES as usize];
        assert_eq!(
            Sel4Server::<_, REPLIES>::new(
                pd(demo.clients[0]),
                ABI,
                *tables,
                demo.backend,
                &mut scratch
            )
            .err(),
            Some(Sel4Error::RegionNotShared),
            "the client's PD maps regions the backend does not see"
        );
        assert_eq!(
            Sel4Client::new(pd(demo.backend), *tables, demo.clients[0]).err(),
            Some(Sel4Error::MissingRegionMemory),
            "the backend's PD lacks the client's regions"
        );
        assert_eq!(
            Sel4Client::new(pd(demo.pinger), *tables, demo.pinger).err(),
            Some(Sel4Error::WrongKind)
        );
        let mut small = [0u8; 8];
        assert_eq!(
            Sel4Server::<_, REPLIES>::new(pd(demo.server), ABI, *tables, demo.server, &mut small)
                .err(),
            Some(Sel4Error::ScratchTooSmall)
        );
        let narrow = Sel4Abi {
            endpoint_badge_bit: 1 << 6,
            ..ABI
        };
        let mut composed = kernel.compose(tables, ABI, |_| REPLIES);
        let server_pd = composed.pds[demo.server.index()].take().expect("once");
        assert_eq!(
            Sel4Server::<_, REPLIES>::new(server_pd, narrow, *tables, demo.server, &mut scratch)
                .err(),
            Some(Sel4Error::BadgeOutOfRange),
            "client badges from 100 do not fit below bit 6"
        );
        let backend_pd = composed.pds[demo.backend.index()].take().expect("once");
        assert_eq!(
            Sel4Server::<_, 0>::new(backend_pd, ABI, *tables, demo.backend, &mut scratch).err(),
            Some(Sel4Error::ReplySlots)
        );
    });
}
