//! The static runtime with every component of a PVH image over xen-sim: the real gateway, the
//! real memory server, a control agent driven with the generated stubs and a driver client whose
//! request is submitted and collected later, as the PVH image wires them. The balloon moves to its targets
//! under both policies, a request it must balloon for is answered late (a deferred reply through
//! the runtime's timers), and a client that dies holding frames has them reclaimed.

use core::cell::Cell;

use ballast_hypercall::{CallerGrant, CallerTable, Gateway, Limits};
use ballast_interfaces::balloon;
use ballast_interfaces::balloon_control::{self, BalloonControlClient};
use ballast_interfaces::hypercall::HypercallOp;
use ballast_interfaces::support::Permissions;
use ballast_ipc::static_rt::{Clock, StaticRuntime};
use ballast_ipc::{
    Badge, ComponentId, ComponentKind, ComponentSpec, EndpointId, EndpointKind, EndpointSpec,
    Handler, LeaseDescriptor, LeaseId, MessageHeader, RegionGrant, RegionSpec, Tables,
};
use ballast_memory_server::{ClientBinding, MemoryServer, Wiring};
use ballast_memory_server_core::{
    BalloonCore, ClientId, Config, FrameRun, FrameScrubber, Policy, PopulatedForm, Tunables,
    DEFAULT_MIXED_CHUNK_BLOCKS,
};
use ballast_xen::{ExtentOrder, Gfn};
use ballast_xen_sim::{DomId, DomainConfig, HostConfig, SimHypervisor, XenSim};
use zerocopy::FromBytes;

/// Every `Hypercall` op: the ballooner here may call them all.
const ALL_OPS: [u16; 5] = [
    HypercallOp::CurrentReservation as u16,
    HypercallOp::MaximumReservation as u16,
    HypercallOp::IncreaseReservation as u16,
    HypercallOp::DecreaseReservation as u16,
    HypercallOp::PopulatePhysmap as u16,
];
const CLIENT: ComponentId = ComponentId(0);
const CONTROL: ComponentId = ComponentId(1);
const MEMORY: ComponentId = ComponentId(2);
const GATEWAY: ComponentId = ComponentId(3);
const CLIENT_BADGE: Badge = Badge(1);
const CONTROL_BADGE: Badge = Badge(2);
const MEMORY_BADGE: Badge = Badge(3);
const FRAME_LIST: LeaseId = LeaseId(0);
const RUNS: LeaseId = LeaseId(1);
const REGION_BYTES: u32 = 4096;
/// Guest RAM, the image's part of it, the lending range above 4 GiB.
const RAM: (u64, u64) = (0, 0x4000);
const IMAGE: (u64, u64) = (0, 0x400);
const LENDING: (u64, u64) = (0x10_0000, 0x10_1000);
/// Frames the client borrows below the lending range: two of the seed's batches.
const BORROWED: u64 = 1024;

const fn call(client: ComponentId, server: ComponentId, badge: Badge) -> EndpointSpec {
    EndpointSpec {
        client,
        id: EndpointId(0),
        server,
        badge,
        kind: EndpointKind::Call,
    }
}

const COMPONENTS: [ComponentSpec<'static>; 4] = [
    ComponentSpec {
        name: "testclient",
        kind: ComponentKind::External,
    },
    ComponentSpec {
        name: "control",
        kind: ComponentKind::External,
    },
    ComponentSpec {
        name: "memory",
        kind: ComponentKind::Handler,
    },
    ComponentSpec {
        name: "gateway",
        kind: ComponentKind::Handler,
    },
];
const ENDPOINTS: [EndpointSpec; 3] = [
    call(CLIENT, MEMORY, CLIENT_BADGE),
    call(CONTROL, MEMORY, CONTROL_BADGE),
    call(MEMORY, GATEWAY, MEMORY_BADGE),
];
const REGIONS: [RegionSpec; 2] = [
    RegionSpec {
        id: FRAME_LIST,
        size: REGION_BYTES,
        owner: MEMORY,
    },
    RegionSpec {
        id: RUNS,
        size: REGION_BYTES,
        owner: CLIENT,
    },
];
const GRANTS: [RegionGrant; 2] = [
    RegionGrant {
        region: FRAME_LIST,
        component: GATEWAY,
        writable: true,
    },
    RegionGrant {
        region: RUNS,
        component: MEMORY,
        writable: true,
    },
];
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

/// Zeroes frames of the simulated domain.
#[derive(Debug)]
struct SimScrubber(XenSim, DomId);

impl FrameScrubber for SimScrubber {
    fn scrub(&mut self, first: Gfn, frames: u64) {
        self.0
            .zero_pages(self.1, first.0..first.0 + frames)
            .expect("the domain exists");
    }
}

/// The driver client may borrow and return; the control agent may steer.
#[derive(Debug, Clone, Copy)]
struct Grants;

impl Permissions for Grants {
    fn allows(&self, badge: Badge, interface: u16, _op: u16) -> bool {
        matches!(
            (badge, interface),
            (CLIENT_BADGE, balloon::INTERFACE_ID) | (CONTROL_BADGE, balloon_control::INTERFACE_ID)
        )
    }
}

fn gateway(sim: &XenSim, dom: DomId) -> Gateway<Vec<u64>, SimHypervisor, 1, 1, 512> {
    let owned = [FrameRun::checked(Gfn(IMAGE.1), RAM.1 - IMAGE.1).expect("valid")];
    let image = [FrameRun::checked(Gfn(IMAGE.0), IMAGE.1 - IMAGE.0).expect("valid")];
    let grant = CallerGrant {
        badge: MEMORY_BADGE,
        ops: &ALL_OPS,
        ranges: &owned,
    };
    let limits = Limits {
        max_order: 9,
        max_frames_per_call: 512,
        own_domid: Some(dom.0),
    };
    let table = CallerTable::new(limits, &[grant], &image).expect("a valid table");
    let bitmap = vec![0; ballast_hypercall::bitmap_words(&table) as usize];
    Gateway::new(sim.hypervisor(dom), table, bitmap, &owned).expect("fits")
}

/// An `alloc_unpopulated` request as the generated stub sends it.
fn alloc_request(count: u64, max_gfn: u64) -> Vec<u8> {
    balloon::encode_alloc_unpopulated(count, max_gfn).to_vec()
}

fn runs_lease(len: u32, writable: bool) -> LeaseDescriptor {
    LeaseDescriptor {
        region: RUNS.0,
        writable: u16::from(writable),
        offset: 0,
        len,
        reserved: 0,
    }
}

#[test]
fn the_memory_server_balloons_lends_defers_and_reclaims_through_the_static_runtime() {
    let sim = XenSim::new(HostConfig {
        free_pages: 0x10_0000,
        ..HostConfig::default()
    });
    let dom = sim.create_domain(DomainConfig::domu(RAM.0..RAM.1, RAM.1));
    let mut gateway = gateway(&sim, dom);
    let ram = [FrameRun::span(RAM.0, RAM.1)];
    let reserved = [FrameRun::span(IMAGE.0, IMAGE.1)];
    let config = Config {
        ram: &ram,
        reserved: &reserved,
        extra: &[],
        growth: None,
        lending: Some(FrameRun::span(LENDING.0, LENDING.1)),
        policy: Policy::Ballast,
        batch_extents: 512,
        max_order: ExtentOrder::new(9).expect("valid"),
        lowmem_limit: Gfn(1 << 20),
        tunables: Tunables::default(),
        default_client_quota: 0,
        max_lent_runs_per_client: 32,
        pending_timeout_ns: 5_000_000_000,
        populated_form: PopulatedForm::Smaller,
        mixed_chunk_blocks: DEFAULT_MIXED_CHUNK_BLOCKS,
    };
    let mut storage = vec![0u64; config.bitmap_words().expect("a valid layout")];
    let core: BalloonCore<_, 64, 2, 4> =
        BalloonCore::new(&config, storage.as_mut_slice()).expect("valid");
    let bindings = [ClientBinding {
        badge: CLIENT_BADGE,
        client: ClientId(0),
        quota: 0x1000,
        gateway_badge: None,
    }];
    let wiring = Wiring {
        gateway: EndpointId(0),
        frame_list: FRAME_LIST,
        clients: bindings.into_iter().collect(),
    };
    let mut memory = MemoryServer::new(core, wiring, SimScrubber(sim.clone(), dom), Grants);
    let (mut list, mut runs, mut scratch) = ([0u8; 4096], [0u8; 4096], [0u8; 4096]);
    let clock = SimClock::default();
    let handlers: [(ComponentId, &mut dyn Handler); 2] =
        [(MEMORY, &mut memory), (GATEWAY, &mut gateway)];
    let regions = [
        (FRAME_LIST, list.as_mut_slice()),
        (RUNS, runs.as_mut_slice()),
    ];
    let mut rt: StaticRuntime<'_, '_, '_, _, 4, 2, 8> =
        StaticRuntime::new(TABLES, &clock, handlers, regions, &mut scratch).expect("valid");
    let control = BalloonControlClient::new(EndpointId(0));
    let stats = |rt: &mut StaticRuntime<'_, '_, '_, _, 4, 2, 8>| {
        control
            .stats(&mut rt.external(CONTROL).expect("external"))
            .expect("stats")
    };
    let start = stats(&mut rt).current;
    assert_eq!(Some(start), sim.tot_pages(dom));
    let mut calls = Vec::new();
    for policy in balloon_control::Policy::ALL {
        let mut sys = rt.external(CONTROL).expect("external");
        control
            .configure(&mut sys, 1000, 32_000, 0, policy)
            .expect("configured");
        let before = stats(&mut rt).hypercalls;
        for target in [start - 0x1000, start] {
            let mut sys = rt.external(CONTROL).expect("external");
            control.set_target(&mut sys, target).expect("accepted");
            assert!(rt.run_until_idle(60_000_000_000), "the balloon settles");
            assert_eq!(stats(&mut rt).current, target);
            assert_eq!(sim.tot_pages(dom), Some(target));
        }
        calls.push(stats(&mut rt).hypercalls - before);
    }
    assert!(
        calls[0] < calls[1],
        "superpages need fewer calls: {calls:?}"
    );
    // The seed's policy is active now: 512 frames per batch, so 1024 frames take two batches, the
    // second on the server's timer, after the call has returned to the runtime: a deferred reply.
    let below_lending = LENDING.0 - 1;
    let request = alloc_request(BORROWED, below_lending);
    let token = rt
        .submit_call(
            CLIENT,
            EndpointId(0),
            &request,
            Some(runs_lease(REGION_BYTES, true)),
        )
        .expect("delivered");
    let mut reply = [0u8; 128];
    assert_eq!(rt.take_reply(token, &mut reply), None, "deferred");
    assert!(rt.run_until_idle(60_000_000_000));
    let answered = rt.take_reply(token, &mut reply).expect("answered later");
    let header = MessageHeader::read_from_prefix(&reply[..answered.expect("delivered")])
        .map(|(header, _)| header)
        .expect("a header");
    assert_eq!(header.op_or_status, 0, "success");
    assert_eq!(
        sim.tot_pages(dom),
        Some(start - BORROWED),
        "ballooned out to lend"
    );
    assert_eq!(stats(&mut rt).lent, BORROWED);
    rt.kill(CLIENT).expect("alive");
    assert!(rt.run_until_idle(clock.0.get() + 60_000_000_000));
    let end = stats(&mut rt);
    assert_eq!(end.lent, 0, "reclaimed from the dead client");
    assert_eq!(
        sim.tot_pages(dom),
        Some(start),
        "and repopulated to the target"
    );
    assert_eq!(rt.outstanding_calls(), 0);
}
