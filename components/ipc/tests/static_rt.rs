//! The static runtime with the real hypercall gateway over xen-sim: a memory-server stand-in (a
//! handler that fills its frame-list region and calls the gateway inline, as the memory server
//! does) and an external driver using the generated client stubs; the gateway's checks stay
//! active, and every answer is Xen's.

use core::cell::Cell;

use ballast_hypercall::{CallerGrant, CallerTable, FrameRun, Gateway, Limits};
use ballast_interfaces::hypercall::{HypercallClient, HypercallError, HypercallOp};
use ballast_interfaces::support::CallError;
use ballast_ipc::static_rt::{Clock, StaticRuntime};
use ballast_ipc::{
    Badge, ComponentId, ComponentKind, ComponentSpec, EndpointId, EndpointKind, EndpointSpec,
    Handler, IncomingCall, LeaseDescriptor, LeaseId, NotificationBits, RegionGrant, RegionSpec,
    Sys, Tables,
};
use ballast_xen::{Gfn, DOMID_SELF};
use ballast_xen_sim::{DomainConfig, HostConfig, SimHypervisor, XenSim};
use zerocopy::IntoBytes;

/// Every `Hypercall` op: the ballooner here may call them all.
const ALL_OPS: [u16; 5] = [
    HypercallOp::CurrentReservation as u16,
    HypercallOp::MaximumReservation as u16,
    HypercallOp::IncreaseReservation as u16,
    HypercallOp::DecreaseReservation as u16,
    HypercallOp::PopulatePhysmap as u16,
];
const DRIVER: ComponentId = ComponentId(0);
const BALLOONER: ComponentId = ComponentId(1);
const GATEWAY: ComponentId = ComponentId(2);
const FRAME_LIST: LeaseId = LeaseId(0);
const LIST_BYTES: u32 = 4096;
const BALLOONER_BADGE: Badge = Badge(1);
const DRIVER_BADGE: Badge = Badge(2);
/// RAM the ballooner owns at the gateway.
const OWNED: core::ops::Range<u64> = 0x400..0x2000;

const COMPONENTS: [ComponentSpec<'static>; 3] = [
    ComponentSpec {
        name: "driver",
        kind: ComponentKind::External,
    },
    ComponentSpec {
        name: "ballooner",
        kind: ComponentKind::Handler,
    },
    ComponentSpec {
        name: "gateway",
        kind: ComponentKind::Handler,
    },
];

const ENDPOINTS: [EndpointSpec; 3] = [
    EndpointSpec {
        client: DRIVER,
        id: EndpointId(0),
        server: BALLOONER,
        badge: Badge(9),
        kind: EndpointKind::Call,
    },
    EndpointSpec {
        client: DRIVER,
        id: EndpointId(1),
        server: GATEWAY,
        badge: DRIVER_BADGE,
        kind: EndpointKind::Call,
    },
    EndpointSpec {
        client: BALLOONER,
        id: EndpointId(0),
        server: GATEWAY,
        badge: BALLOONER_BADGE,
        kind: EndpointKind::Call,
    },
];

const REGIONS: [RegionSpec; 1] = [RegionSpec {
    id: FRAME_LIST,
    size: LIST_BYTES,
    owner: BALLOONER,
}];

const GRANTS: [RegionGrant; 1] = [RegionGrant {
    region: FRAME_LIST,
    component: GATEWAY,
    writable: true,
}];

const TABLES: Tables<'static> = Tables {
    components: &COMPONENTS,
    endpoints: &ENDPOINTS,
    regions: &REGIONS,
    grants: &GRANTS,
};

/// Simulated time that jumps to any deadline it is asked to wait for.
#[derive(Debug, Default)]
struct SimClock(Cell<u64>);

impl Clock for &SimClock {
    fn now_ns(&self) -> u64 {
        self.0.get()
    }

    fn wait_until(&self, deadline_ns: u64) {
        self.0.set(self.0.get().max(deadline_ns));
    }
}

/// Balloons out (decrease) the `count` frames from `first` given in a request of 16 bytes, through
/// the gateway with the list in its frame-list region; replies with the extents Xen completed
/// (u64) or the gateway's error status (u16) prefixed by 0xff.
#[derive(Debug, Default)]
struct Ballooner;

impl Handler for Ballooner {
    fn protected(&mut self, sys: &mut dyn Sys, call: IncomingCall<'_>) {
        let word = |at: usize| {
            call.message
                .get(at..at + 8)
                .and_then(|bytes| bytes.try_into().ok())
                .map(u64::from_le_bytes)
        };
        let (Some(first), Some(count)) = (word(0), word(8)) else {
            sys.reply(call.reply, &[0xff, 0, 0]);
            return;
        };
        let frames: Vec<u64> = (first..first + count).collect();
        let bytes = frames.as_bytes();
        let Some(list) = sys.own_region(FRAME_LIST) else {
            sys.reply(call.reply, &[0xff, 0, 0]);
            return;
        };
        list[..bytes.len()].copy_from_slice(bytes);
        let lease = LeaseDescriptor {
            region: FRAME_LIST.0,
            writable: 1,
            offset: 0,
            len: bytes.len() as u32,
            reserved: 0,
        };
        let gateway = HypercallClient::new(EndpointId(0));
        match gateway.decrease_reservation(sys, 0, DOMID_SELF, 0, lease) {
            Ok(reply) => sys.reply(call.reply, &reply.completed.to_le_bytes()),
            Err(CallError::Interface(error)) => {
                let status = (error as u16).to_le_bytes();
                sys.reply(call.reply, &[0xff, status[0], status[1]]);
            }
            Err(_) => sys.reply(call.reply, &[0xff, 0xff, 0xff]),
        }
    }

    fn notified(&mut self, _: &mut dyn Sys, _: NotificationBits) {}

    fn client_died(&mut self, _: &mut dyn Sys, _: Badge) {}
}

type SimGateway = Gateway<Vec<u64>, SimHypervisor, 2, 1, 512>;

fn gateway(sim: &XenSim) -> (SimGateway, ballast_xen_sim::DomId) {
    let dom = sim.create_domain(DomainConfig::domu(0..0x2000, 0x2000));
    let owned = [FrameRun::checked(Gfn(OWNED.start), OWNED.end - OWNED.start).expect("valid")];
    let grants = [
        CallerGrant {
            badge: BALLOONER_BADGE,
            ops: &ALL_OPS,
            ranges: &owned,
        },
        CallerGrant {
            badge: DRIVER_BADGE,
            ops: &[HypercallOp::CurrentReservation as u16],
            ranges: &[],
        },
    ];
    let limits = Limits {
        max_order: 9,
        max_frames_per_call: 512,
        own_domid: Some(dom.0),
    };
    let table = CallerTable::new(limits, &grants, &[]).expect("a valid table");
    let bitmap = vec![0; ballast_hypercall::bitmap_words(&table) as usize];
    let gateway = Gateway::new(sim.hypervisor(dom), table, bitmap, &owned).expect("fits");
    (gateway, dom)
}

fn balloon(first: u64, count: u64) -> Vec<u8> {
    [first.to_le_bytes(), count.to_le_bytes()].concat()
}

#[test]
fn a_handler_balloons_through_the_gateway_inline_and_the_driver_queries_with_the_stubs() {
    let sim = XenSim::new(HostConfig {
        free_pages: 0x10_0000,
        ..HostConfig::default()
    });
    let (mut gateway, dom) = gateway(&sim);
    let mut ballooner = Ballooner;
    let mut list = vec![0u8; LIST_BYTES as usize];
    let mut scratch = vec![0u8; LIST_BYTES as usize];
    let clock = SimClock::default();
    let handlers: [(ComponentId, &mut dyn Handler); 2] =
        [(BALLOONER, &mut ballooner), (GATEWAY, &mut gateway)];
    let mut rt: StaticRuntime<'_, '_, '_, _, 3, 1, 4> = StaticRuntime::new(
        TABLES,
        &clock,
        handlers,
        [(FRAME_LIST, list.as_mut_slice())],
        &mut scratch,
    )
    .expect("a valid composition");
    let stubs = HypercallClient::new(EndpointId(1));
    let before = stubs
        .current_reservation(&mut rt.external(DRIVER).expect("external"))
        .expect("the driver may query");
    assert_eq!(before.pages, 0x2000);
    let mut reply = [0u8; 128];
    let len = rt.call(
        DRIVER,
        EndpointId(0),
        &balloon(0x800, 300),
        None,
        &mut reply,
    );
    assert_eq!(len, Ok(8));
    assert_eq!(u64::from_le_bytes(reply[..8].try_into().expect("8")), 300);
    let after = stubs
        .current_reservation(&mut rt.external(DRIVER).expect("external"))
        .expect("the driver may query");
    assert_eq!(after.pages, 0x2000 - 300);
    assert_eq!(sim.tot_pages(dom), Some(0x2000 - 300));
    let outside = rt.call(DRIVER, EndpointId(0), &balloon(0x100, 4), None, &mut reply);
    assert_eq!(outside, Ok(3));
    let status = HypercallError::FrameNotOwned as u16;
    assert_eq!(&reply[..3], &[0xff, status as u8, (status >> 8) as u8]);
    let frames = [0x900u64];
    let refused = {
        let mut driver = rt.external(DRIVER).expect("external");
        let lease = LeaseDescriptor {
            region: FRAME_LIST.0,
            writable: 1,
            offset: 0,
            len: frames.as_bytes().len() as u32,
            reserved: 0,
        };
        stubs.decrease_reservation(&mut driver, 0, DOMID_SELF, 0, lease)
    };
    assert!(
        matches!(
            refused,
            Err(CallError::Transport(ballast_ipc::IpcError::BadLease))
        ),
        "the driver cannot lend the ballooner's region: {refused:?}"
    );
    assert_eq!(
        sim.tot_pages(dom),
        Some(0x2000 - 300),
        "refusals reach no Xen"
    );
    assert_eq!(rt.outstanding_calls(), 0);
    assert_eq!(gateway.counters().total().hypercalls, 3);
}
