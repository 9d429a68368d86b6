//! Unit tests of the static runtime with small handlers written here: inline calls, deferred
//! replies released by a timer and by a notification, leases (lender, borrower, read-only copy),
//! capacities, table checks, and a client's death.

use core::cell::Cell;

use super::*;
use crate::kernel::{Badge, IncomingCall, LeaseAccess, Sys};
use crate::tables::{ComponentSpec, EndpointSpec, RegionGrant, RegionSpec};

/// A clock that jumps to whatever deadline it is asked to wait for.
#[derive(Debug, Default)]
struct StepClock {
    now: Cell<u64>,
}

impl Clock for &StepClock {
    fn now_ns(&self) -> u64 {
        self.now.get()
    }

    fn wait_until(&self, deadline_ns: u64) {
        self.now.set(self.now.get().max(deadline_ns));
    }
}

const OP_ECHO: u8 = 1;
const OP_FORWARD: u8 = 2;
const OP_SLEEP: u8 = 3;
const OP_HOLD: u8 = 4;
const OP_SUM_LEASE: u8 = 5;
const OP_FILL_LEASE: u8 = 6;
const OP_SIGNAL_DRIVER: u8 = 7;

/// Replies to `[OP_ECHO, ..]` with the same bytes; sleeps (deferred until its timer) on
/// `[OP_SLEEP, ms]`; holds `[OP_HOLD]` until notified; sums or fills the lease; raises
/// [`DRIVER_BITS`] on the driver on `[OP_SIGNAL_DRIVER]`.
#[derive(Debug, Default)]
struct Leaf {
    held: Option<crate::kernel::ReplyToken>,
    deaths: u32,
    last_badge: Option<Badge>,
}

impl Handler for Leaf {
    fn protected(&mut self, sys: &mut dyn Sys, call: IncomingCall<'_>) {
        self.last_badge = Some(call.badge);
        match call.message.first().copied() {
            Some(OP_SLEEP) => {
                let ms = u64::from(call.message.get(1).copied().unwrap_or(0));
                sys.set_timer(sys.now_ns() + ms * 1_000_000);
                self.held = Some(call.reply);
            }
            Some(OP_HOLD) => self.held = Some(call.reply),
            Some(OP_SIGNAL_DRIVER) => {
                let signalled = sys.notify(SIGNAL_DRIVER, DRIVER_BITS);
                sys.reply(call.reply, if signalled.is_ok() { b"ok" } else { b"no" });
            }
            Some(OP_SUM_LEASE) => {
                let outcome = call
                    .lease
                    .ok_or(crate::kernel::IpcError::BadLease)
                    .and_then(|lease| sys.lease_bytes(call.badge, &lease));
                match outcome {
                    Ok(bytes) => {
                        let sum: u32 = bytes.iter().map(|&b| u32::from(b)).sum();
                        bytes.fill(0xee);
                        sys.reply(call.reply, &sum.to_le_bytes());
                    }
                    Err(_) => sys.reply(call.reply, b"bad lease"),
                }
            }
            Some(OP_FILL_LEASE) => {
                let byte = call.message.get(1).copied().unwrap_or(0);
                let filled = call
                    .lease
                    .ok_or(crate::kernel::IpcError::BadLease)
                    .and_then(|lease| sys.lease_bytes(call.badge, &lease))
                    .map(|bytes| bytes.fill(byte));
                sys.reply(call.reply, if filled.is_ok() { b"ok" } else { b"no" });
            }
            _ => sys.reply(call.reply, call.message),
        }
    }

    fn notified(&mut self, sys: &mut dyn Sys, bits: NotificationBits) {
        if let Some(token) = self.held.take() {
            let woke = if bits.contains(NotificationBits::TIMER) {
                b"timer".as_slice()
            } else {
                b"signal".as_slice()
            };
            sys.reply(token, woke);
        }
    }

    fn client_died(&mut self, _: &mut dyn Sys, badge: Badge) {
        self.deaths += 1;
        self.last_badge = Some(badge);
    }
}

/// Passes `[OP_FORWARD, ..rest]` on to the leaf as `rest`, lending its own region, and replies
/// with the leaf's answer (or the transport error's code).
#[derive(Debug, Default)]
struct Middle;

const MIDDLE_REGION: LeaseId = LeaseId(7);

impl Handler for Middle {
    fn protected(&mut self, sys: &mut dyn Sys, call: IncomingCall<'_>) {
        let Some((&OP_FORWARD, rest)) = call.message.split_first() else {
            sys.reply(call.reply, b"?");
            return;
        };
        if let Some(region) = sys.own_region(MIDDLE_REGION) {
            region.copy_from_slice(&[1, 2, 3, 4]);
        }
        let lease = LeaseDescriptor {
            region: MIDDLE_REGION.0,
            writable: 0,
            offset: 0,
            len: 4,
            reserved: 0,
        };
        let mut answer = [0; crate::kernel::MESSAGE_BYTES];
        match sys.call(EndpointId(0), rest, Some(lease), &mut answer) {
            Ok(len) => sys.reply(call.reply, &answer[..len]),
            Err(error) => sys.reply(call.reply, &(error as u16).to_le_bytes()),
        }
    }

    fn notified(&mut self, _: &mut dyn Sys, _: NotificationBits) {}

    fn client_died(&mut self, _: &mut dyn Sys, _: Badge) {}
}

const DRIVER: ComponentId = ComponentId(0);
const MIDDLE: ComponentId = ComponentId(1);
const LEAF: ComponentId = ComponentId(2);
const DRIVER_REGION: LeaseId = LeaseId(3);
const TO_MIDDLE: EndpointId = EndpointId(0);
const TO_LEAF: EndpointId = EndpointId(1);
const SIGNAL_LEAF: EndpointId = EndpointId(2);
/// The leaf's notification capability to the (external) driver.
const SIGNAL_DRIVER: EndpointId = EndpointId(0);
const DRIVER_BITS: NotificationBits = NotificationBits(0b100);

const COMPONENTS: [ComponentSpec<'static>; 3] = [
    ComponentSpec {
        name: "driver",
        kind: ComponentKind::External,
    },
    ComponentSpec {
        name: "middle",
        kind: ComponentKind::Handler,
    },
    ComponentSpec {
        name: "leaf",
        kind: ComponentKind::Handler,
    },
];

const fn endpoint(
    client: ComponentId,
    id: EndpointId,
    server: ComponentId,
    badge: u32,
) -> EndpointSpec {
    EndpointSpec {
        client,
        id,
        server,
        badge: Badge(badge),
        kind: EndpointKind::Call,
    }
}

const ENDPOINTS: [EndpointSpec; 5] = [
    endpoint(DRIVER, TO_MIDDLE, MIDDLE, 10),
    endpoint(DRIVER, TO_LEAF, LEAF, 11),
    EndpointSpec {
        client: DRIVER,
        id: SIGNAL_LEAF,
        server: LEAF,
        badge: Badge(0),
        kind: EndpointKind::Notify,
    },
    endpoint(MIDDLE, EndpointId(0), LEAF, 12),
    EndpointSpec {
        client: LEAF,
        id: SIGNAL_DRIVER,
        server: DRIVER,
        badge: Badge(DRIVER_BITS.0),
        kind: EndpointKind::Notify,
    },
];

const REGIONS: [RegionSpec; 2] = [
    RegionSpec {
        id: DRIVER_REGION,
        size: 8,
        owner: DRIVER,
    },
    RegionSpec {
        id: MIDDLE_REGION,
        size: 4,
        owner: MIDDLE,
    },
];

const GRANTS: [RegionGrant; 2] = [
    RegionGrant {
        region: DRIVER_REGION,
        component: LEAF,
        writable: true,
    },
    RegionGrant {
        region: MIDDLE_REGION,
        component: LEAF,
        writable: false,
    },
];

fn tables() -> Tables<'static> {
    Tables {
        components: &COMPONENTS,
        endpoints: &ENDPOINTS,
        regions: &REGIONS,
        grants: &GRANTS,
    }
}

type Runtime<'a> = StaticRuntime<'static, 'a, 'a, &'a StepClock, 4, 2, 4>;

struct Memory {
    driver: [u8; 8],
    middle: [u8; 4],
    scratch: [u8; 8],
}

impl Memory {
    fn new() -> Memory {
        Memory {
            driver: [0; 8],
            middle: [0; 4],
            scratch: [0; 8],
        }
    }
}

fn runtime<'a>(
    clock: &'a StepClock,
    middle: &'a mut Middle,
    leaf: &'a mut Leaf,
    memory: &'a mut Memory,
) -> Runtime<'a> {
    let handlers: [(ComponentId, &mut dyn Handler); 2] = [(MIDDLE, middle), (LEAF, leaf)];
    let regions = [
        (DRIVER_REGION, memory.driver.as_mut_slice()),
        (MIDDLE_REGION, memory.middle.as_mut_slice()),
    ];
    StaticRuntime::new(tables(), clock, handlers, regions, &mut memory.scratch).expect("valid")
}

fn lease(region: LeaseId, writable: u16, offset: u32, len: u32) -> LeaseDescriptor {
    LeaseDescriptor {
        region: region.0,
        writable,
        offset,
        len,
        reserved: 0,
    }
}

#[test]
fn a_call_runs_the_server_inline_and_a_nested_call_runs_its_callee() {
    let clock = StepClock::default();
    let (mut middle, mut leaf, mut memory) = (Middle, Leaf::default(), Memory::new());
    let mut rt = runtime(&clock, &mut middle, &mut leaf, &mut memory);
    let mut reply = [0; 128];
    let len = rt.call(DRIVER, TO_LEAF, &[OP_ECHO, 9], None, &mut reply);
    assert_eq!(len, Ok(2));
    assert_eq!(&reply[..2], &[OP_ECHO, 9]);
    let len = rt.call(
        DRIVER,
        TO_MIDDLE,
        &[OP_FORWARD, OP_SUM_LEASE],
        None,
        &mut reply,
    );
    assert_eq!(len, Ok(4));
    assert_eq!(
        u32::from_le_bytes(reply[..4].try_into().expect("4 bytes")),
        10
    );
    assert_eq!(
        rt.region(MIDDLE_REGION),
        Some([1, 2, 3, 4].as_mut_slice()),
        "a read-only lease is a copy: the leaf's scribbles stay out of the region"
    );
    assert_eq!(rt.outstanding_calls(), 0);
    assert_eq!(leaf.last_badge, Some(Badge(12)));
}

#[test]
fn a_deferred_reply_arrives_when_the_timer_fires_or_the_server_is_notified() {
    let clock = StepClock::default();
    let (mut middle, mut leaf, mut memory) = (Middle, Leaf::default(), Memory::new());
    let mut rt = runtime(&clock, &mut middle, &mut leaf, &mut memory);
    let mut reply = [0; 128];
    let len = rt.call(DRIVER, TO_LEAF, &[OP_SLEEP, 5], None, &mut reply);
    assert_eq!(len.map(|len| &reply[..len]), Ok(b"timer".as_slice()));
    assert_eq!(rt.now_ns(), 5_000_000, "the runtime waited on the clock");
    let token = rt
        .submit_call(DRIVER, TO_LEAF, &[OP_HOLD], None)
        .expect("delivered");
    assert_eq!(rt.take_reply(token, &mut reply), None);
    rt.notify(DRIVER, SIGNAL_LEAF, NotificationBits(1))
        .expect("may signal");
    assert_eq!(rt.poll(), 1);
    let len = rt.take_reply(token, &mut reply).expect("answered");
    assert_eq!(len.map(|len| &reply[..len]), Ok(b"signal".as_slice()));
    assert_eq!(rt.take_reply(token, &mut reply), None, "taken once");
}

#[test]
fn the_next_deadline_is_the_earliest_timer_a_live_component_set() {
    let clock = StepClock::default();
    let (mut middle, mut leaf, mut memory) = (Middle, Leaf::default(), Memory::new());
    let mut rt = runtime(&clock, &mut middle, &mut leaf, &mut memory);
    assert_eq!(rt.next_deadline(), None);
    let token = rt
        .submit_call(DRIVER, TO_LEAF, &[OP_SLEEP, 5], None)
        .expect("delivered");
    assert_eq!(rt.next_deadline(), Some(5_000_000));
    assert!(
        !rt.run_until_idle(1_000_000),
        "stops at its limit, before the timer"
    );
    assert_eq!(rt.next_deadline(), Some(5_000_000), "the timer stays set");
    assert!(rt.run_until_idle(u64::MAX));
    assert_eq!(rt.next_deadline(), None);
    let mut reply = [0; 128];
    assert!(rt.take_reply(token, &mut reply).is_some());
}

#[test]
fn a_call_no_event_can_answer_gives_would_block_and_a_nested_deferral_too() {
    let clock = StepClock::default();
    let (mut middle, mut leaf, mut memory) = (Middle, Leaf::default(), Memory::new());
    let mut rt = runtime(&clock, &mut middle, &mut leaf, &mut memory);
    let mut reply = [0; 128];
    let held = rt.call(DRIVER, TO_LEAF, &[OP_HOLD], None, &mut reply);
    assert_eq!(held, Err(IpcError::WouldBlock));
    assert_eq!(rt.outstanding_calls(), 0, "the abandoned call is forgotten");
    let nested = rt.call(DRIVER, TO_MIDDLE, &[OP_FORWARD, OP_HOLD], None, &mut reply);
    assert_eq!(nested, Ok(2));
    assert_eq!(
        u16::from_le_bytes([reply[0], reply[1]]),
        IpcError::WouldBlock as u16
    );
    assert!(rt.run_until_idle(u64::MAX));
}

#[test]
fn leases_are_checked_against_the_tables() {
    let clock = StepClock::default();
    let (mut middle, mut leaf, mut memory) = (Middle, Leaf::default(), Memory::new());
    let mut rt = runtime(&clock, &mut middle, &mut leaf, &mut memory);
    let mut reply = [0; 128];
    let writable = lease(DRIVER_REGION, 1, 2, 4);
    let len = rt.call(
        DRIVER,
        TO_LEAF,
        &[OP_FILL_LEASE, 0xab],
        Some(writable),
        &mut reply,
    );
    assert_eq!(len.map(|len| &reply[..len]), Ok(b"ok".as_slice()));
    assert_eq!(
        rt.region(DRIVER_REGION),
        Some([0, 0, 0xab, 0xab, 0xab, 0xab, 0, 0].as_mut_slice())
    );
    let refusals = [
        lease(DRIVER_REGION, 1, 6, 4),
        lease(MIDDLE_REGION, 0, 0, 4),
        lease(DRIVER_REGION, 2, 0, 1),
        LeaseDescriptor {
            reserved: 1,
            ..writable
        },
    ];
    for bad in refusals {
        let outcome = rt.call(DRIVER, TO_LEAF, &[OP_ECHO], Some(bad), &mut reply);
        assert_eq!(outcome, Err(IpcError::BadLease), "{bad:?}");
    }
    let read_only = lease(DRIVER_REGION, 0, 0, 8);
    let len = rt.call(
        DRIVER,
        TO_LEAF,
        &[OP_FILL_LEASE, 1],
        Some(read_only),
        &mut reply,
    );
    assert_eq!(len.map(|len| &reply[..len]), Ok(b"ok".as_slice()));
    assert_eq!(
        rt.region(DRIVER_REGION).map(|bytes| bytes[2]),
        Some(0xab),
        "writes to a read-only lease land in the scratch copy"
    );
    let mut external = rt.external(DRIVER).expect("external");
    assert!(external.own_region(DRIVER_REGION).is_some());
    assert!(external.own_region(MIDDLE_REGION).is_none());
    assert_eq!(
        external.lease_bytes(Badge(11), &read_only).err(),
        Some(IpcError::BadLease),
        "nobody lends to an external component"
    );
}

#[test]
fn transport_errors_are_typed() {
    let clock = StepClock::default();
    let (mut middle, mut leaf, mut memory) = (Middle, Leaf::default(), Memory::new());
    let mut rt = runtime(&clock, &mut middle, &mut leaf, &mut memory);
    let mut reply = [0; 128];
    let mut short = [0; 1];
    assert_eq!(
        rt.call(DRIVER, EndpointId(9), &[OP_ECHO], None, &mut reply),
        Err(IpcError::NoSuchEndpoint)
    );
    assert_eq!(
        rt.call(DRIVER, SIGNAL_LEAF, &[OP_ECHO], None, &mut reply),
        Err(IpcError::NoSuchEndpoint)
    );
    assert_eq!(
        rt.call(DRIVER, TO_LEAF, &[0; 129], None, &mut reply),
        Err(IpcError::MessageTooLong)
    );
    assert_eq!(
        rt.call(DRIVER, TO_LEAF, &[OP_ECHO, 1], None, &mut short),
        Err(IpcError::ReplyTooLong)
    );
    assert_eq!(
        rt.call(MIDDLE, EndpointId(0), &[OP_ECHO], None, &mut reply),
        Err(IpcError::NoSuchEndpoint),
        "only external components are driven from outside"
    );
    assert_eq!(
        rt.external(LEAF).err(),
        Some(StaticError::HandlerForExternal)
    );
    assert_eq!(
        rt.notify(DRIVER, TO_LEAF, NotificationBits(1)),
        Err(IpcError::NoSuchEndpoint)
    );
}

#[test]
fn the_table_of_outstanding_calls_is_bounded() {
    let clock = StepClock::default();
    let (mut middle, mut leaf, mut memory) = (Middle, Leaf::default(), Memory::new());
    let handlers: [(ComponentId, &mut dyn Handler); 2] = [(MIDDLE, &mut middle), (LEAF, &mut leaf)];
    let regions = [
        (DRIVER_REGION, memory.driver.as_mut_slice()),
        (MIDDLE_REGION, memory.middle.as_mut_slice()),
    ];
    let mut rt: StaticRuntime<'_, '_, '_, _, 3, 2, 1> =
        StaticRuntime::new(tables(), &clock, handlers, regions, &mut memory.scratch)
            .expect("valid");
    let held = rt.submit_call(DRIVER, TO_LEAF, &[OP_HOLD], None);
    assert!(held.is_ok());
    assert_eq!(
        rt.submit_call(DRIVER, TO_LEAF, &[OP_ECHO], None),
        Err(IpcError::WouldBlock)
    );
}

#[test]
fn a_dead_client_is_reported_to_its_servers_and_its_calls_are_void() {
    let clock = StepClock::default();
    let (mut middle, mut leaf, mut memory) = (Middle, Leaf::default(), Memory::new());
    let mut rt = runtime(&clock, &mut middle, &mut leaf, &mut memory);
    let token = rt
        .submit_call(DRIVER, TO_LEAF, &[OP_HOLD], None)
        .expect("delivered");
    rt.kill(DRIVER).expect("alive");
    assert_eq!(rt.kill(DRIVER), Err(StaticError::AlreadyDead));
    assert_eq!(rt.outstanding_calls(), 0);
    let mut reply = [0; 128];
    assert_eq!(rt.take_reply(token, &mut reply), None);
    assert_eq!(
        rt.call(DRIVER, TO_LEAF, &[OP_ECHO], None, &mut reply),
        Err(IpcError::ServerDied)
    );
    assert_eq!(rt.kill(ComponentId(3)), Err(StaticError::UnknownComponent));
    assert_eq!(leaf.deaths, 1, "only its call capability to the leaf");
    assert_eq!(leaf.last_badge, Some(Badge(11)));
}

#[test]
fn a_dead_server_fails_the_calls_it_held() {
    let clock = StepClock::default();
    let (mut middle, mut leaf, mut memory) = (Middle, Leaf::default(), Memory::new());
    let mut rt = runtime(&clock, &mut middle, &mut leaf, &mut memory);
    let token = rt
        .submit_call(DRIVER, TO_LEAF, &[OP_HOLD], None)
        .expect("delivered");
    rt.kill(LEAF).expect("alive");
    let mut reply = [0; 128];
    assert_eq!(
        rt.take_reply(token, &mut reply),
        Some(Err(IpcError::ServerDied))
    );
    let forwarded = rt.call(DRIVER, TO_MIDDLE, &[OP_FORWARD, OP_ECHO], None, &mut reply);
    assert_eq!(forwarded, Ok(2));
    assert_eq!(
        u16::from_le_bytes([reply[0], reply[1]]),
        IpcError::ServerDied as u16
    );
}

#[test]
fn an_external_component_takes_the_bits_a_handler_raised_on_it() {
    let clock = StepClock::default();
    let (mut middle, mut leaf, mut memory) = (Middle, Leaf::default(), Memory::new());
    let mut rt = runtime(&clock, &mut middle, &mut leaf, &mut memory);
    assert_eq!(rt.take_notified(DRIVER), Some(NotificationBits(0)));
    let mut reply = [0; 128];
    let len = rt.call(DRIVER, TO_LEAF, &[OP_SIGNAL_DRIVER], None, &mut reply);
    assert_eq!(len.map(|len| &reply[..len]), Ok(b"ok".as_slice()));
    assert_eq!(
        rt.poll(),
        0,
        "no handler runs for an external component's bits"
    );
    assert_eq!(rt.take_notified(DRIVER), Some(DRIVER_BITS));
    assert_eq!(
        rt.take_notified(DRIVER),
        Some(NotificationBits(0)),
        "taken once"
    );
    assert_eq!(
        rt.take_notified(LEAF),
        None,
        "a handler's bits go to its handler"
    );
}

#[test]
fn broken_tables_handlers_and_memory_are_refused_with_the_reason() {
    let clock = StepClock::default();
    let cycle = [
        endpoint(MIDDLE, EndpointId(0), LEAF, 1),
        endpoint(LEAF, EndpointId(0), MIDDLE, 1),
    ];
    let to_external = [endpoint(MIDDLE, EndpointId(0), DRIVER, 1)];
    let notify_to_external = EndpointSpec {
        kind: EndpointKind::Notify,
        ..to_external[0]
    };
    let (mut middle, mut leaf, mut memory) = (Middle, Leaf::default(), Memory::new());
    let handlers: [(ComponentId, &mut dyn Handler); 2] = [(MIDDLE, &mut middle), (LEAF, &mut leaf)];
    let notifying = Tables {
        endpoints: &[notify_to_external],
        ..tables()
    };
    let regions = [
        (DRIVER_REGION, memory.driver.as_mut_slice()),
        (MIDDLE_REGION, memory.middle.as_mut_slice()),
    ];
    let built: Result<StaticRuntime<'_, '_, '_, &StepClock, 4, 2, 4>, _> =
        StaticRuntime::new(notifying, &clock, handlers, regions, &mut memory.scratch);
    assert!(
        built.is_ok(),
        "a notification may lead to an external component"
    );
    let same_badge = [
        endpoint(DRIVER, EndpointId(0), LEAF, 1),
        endpoint(MIDDLE, EndpointId(0), LEAF, 1),
    ];
    let same_id = [
        endpoint(DRIVER, EndpointId(0), LEAF, 1),
        endpoint(DRIVER, EndpointId(0), MIDDLE, 2),
    ];
    let unknown = [endpoint(DRIVER, EndpointId(0), ComponentId(5), 1)];
    let cases: [(&[EndpointSpec], StaticError); 5] = [
        (&cycle, StaticError::CallCycle),
        (&to_external, StaticError::ExternalServer),
        (&same_badge, StaticError::DuplicateBadge),
        (&same_id, StaticError::DuplicateEndpoint),
        (&unknown, StaticError::UnknownComponent),
    ];
    for (endpoints, expected) in cases {
        let (mut middle, mut leaf, mut memory) = (Middle, Leaf::default(), Memory::new());
        let handlers: [(ComponentId, &mut dyn Handler); 2] =
            [(MIDDLE, &mut middle), (LEAF, &mut leaf)];
        let regions = [
            (DRIVER_REGION, memory.driver.as_mut_slice()),
            (MIDDLE_REGION, memory.middle.as_mut_slice()),
        ];
        let broken = Tables {
            endpoints,
            ..tables()
        };
        let built: Result<StaticRuntime<'_, '_, '_, &StepClock, 4, 2, 4>, _> =
            StaticRuntime::new(broken, &clock, handlers, regions, &mut memory.scratch);
        assert_eq!(built.err(), Some(expected));
    }
    let (mut middle, mut leaf, mut memory) = (Middle, Leaf::default(), Memory::new());
    let mut other = Leaf::default();
    let missing: [(ComponentId, &mut dyn Handler); 1] = [(MIDDLE, &mut middle)];
    let built: Result<Runtime<'_>, _> = StaticRuntime::new(tables(), &clock, missing, [], &mut []);
    assert_eq!(built.err(), Some(StaticError::MissingHandler));
    let external: [(ComponentId, &mut dyn Handler); 1] = [(DRIVER, &mut leaf)];
    let built: Result<Runtime<'_>, _> = StaticRuntime::new(tables(), &clock, external, [], &mut []);
    assert_eq!(built.err(), Some(StaticError::HandlerForExternal));
    let twice: [(ComponentId, &mut dyn Handler); 2] =
        [(LEAF, &mut other), (LEAF, &mut Leaf::default())];
    let built: Result<Runtime<'_>, _> = StaticRuntime::new(tables(), &clock, twice, [], &mut []);
    assert_eq!(built.err(), Some(StaticError::DuplicateHandler));
    let mut middle = Middle;
    let mut leaf = Leaf::default();
    let pair: [(ComponentId, &mut dyn Handler); 2] = [(MIDDLE, &mut middle), (LEAF, &mut leaf)];
    let short_scratch: Result<Runtime<'_>, _> =
        StaticRuntime::new(tables(), &clock, pair, [], &mut memory.scratch[..3]);
    assert_eq!(short_scratch.err(), Some(StaticError::ScratchTooSmall));
}

#[test]
fn region_memory_must_match_the_tables() {
    let clock = StepClock::default();
    let mut driver = [0u8; 8];
    let mut middle_bytes = [0u8; 4];
    let mut wrong = [0u8; 5];
    let mut scratch = [0u8; 8];
    let mut leaf = Leaf::default();
    let mut middle = Middle;
    {
        let handlers: [(ComponentId, &mut dyn Handler); 2] =
            [(MIDDLE, &mut middle), (LEAF, &mut leaf)];
        let regions = [(DRIVER_REGION, driver.as_mut_slice())];
        let built: Result<Runtime<'_>, _> =
            StaticRuntime::new(tables(), &clock, handlers, regions, &mut scratch);
        assert_eq!(built.err(), Some(StaticError::MissingRegionMemory));
    }
    {
        let handlers: [(ComponentId, &mut dyn Handler); 2] =
            [(MIDDLE, &mut middle), (LEAF, &mut leaf)];
        let regions = [
            (DRIVER_REGION, driver.as_mut_slice()),
            (MIDDLE_REGION, wrong.as_mut_slice()),
        ];
        let built: Result<Runtime<'_>, _> =
            StaticRuntime::new(tables(), &clock, handlers, regions, &mut scratch);
        assert_eq!(built.err(), Some(StaticError::RegionSizeMismatch));
    }
    let handlers: [(ComponentId, &mut dyn Handler); 2] = [(MIDDLE, &mut middle), (LEAF, &mut leaf)];
    let regions = [
        (DRIVER_REGION, driver.as_mut_slice()),
        (LeaseId(99), middle_bytes.as_mut_slice()),
    ];
    let built: Result<Runtime<'_>, _> =
        StaticRuntime::new(tables(), &clock, handlers, regions, &mut scratch);
    assert_eq!(built.err(), Some(StaticError::UnknownRegion));
}

/// A clock that moves one nanosecond every time it is read.
#[derive(Debug, Default)]
struct TickingClock {
    now: Cell<u64>,
}

impl Clock for &TickingClock {
    fn now_ns(&self) -> u64 {
        let now = self.now.get() + 1;
        self.now.set(now);
        now
    }
}

/// Re-arms its timer for "now" on every expiry, forever.
#[derive(Debug, Default)]
struct Ticker {
    ticks: u64,
}

impl Handler for Ticker {
    fn protected(&mut self, sys: &mut dyn Sys, call: IncomingCall<'_>) {
        sys.set_timer(sys.now_ns());
        sys.reply(call.reply, &[]);
    }

    fn notified(&mut self, sys: &mut dyn Sys, _: NotificationBits) {
        self.ticks += 1;
        sys.set_timer(0);
    }

    fn client_died(&mut self, _: &mut dyn Sys, _: Badge) {}
}

#[test]
fn a_timer_always_due_cannot_hold_run_until_idle_past_its_limit() {
    let clock = TickingClock::default();
    let mut ticker = Ticker::default();
    let mut middle = Middle;
    let mut memory = Memory::new();
    let handlers: [(ComponentId, &mut dyn Handler); 2] =
        [(MIDDLE, &mut middle), (LEAF, &mut ticker)];
    let regions = [
        (DRIVER_REGION, memory.driver.as_mut_slice()),
        (MIDDLE_REGION, memory.middle.as_mut_slice()),
    ];
    let mut rt: StaticRuntime<'_, '_, '_, _, 4, 2, 4> =
        StaticRuntime::new(tables(), &clock, handlers, regions, &mut memory.scratch)
            .expect("valid");
    let mut reply = [0; 128];
    assert_eq!(
        rt.call(DRIVER, TO_LEAF, &[OP_ECHO], None, &mut reply),
        Ok(0)
    );
    assert!(!rt.run_until_idle(100), "stopped at the limit, not idle");
    assert!(rt.now_ns() > 100);
    assert!(ticker.ticks > 0);
}
