//! The test rig: one simulated Xen domain whose hypercall gateway serves a memory server that owns
//! part of the guest's RAM and an unpopulated lending window, and may lend from a second window no
//! caller owns (it tells the gateway what it lends),
//! two drivers that may map and unmap grants of the second domain only (the first may also query),
//! a toolstack agent that
//! may only send events (on the xenstore port the image gave it) and shut the domain down, and a
//! protected range standing for the image and the gateway's own pages. A second domain (dom0's
//! side: xenstore, console, the frontend that grants pages) stands beside it; `grants.rs` has
//! the rig's grant calls.

use std::ops::Range;

use ballast_hypercall::{
    bitmap_words, CallerGrant, CallerTable, FrameRun, Gateway, GatewayError, Limits, QueryError,
};
use ballast_interfaces::hypercall::HypercallOp;
use ballast_ipc::Badge;
use ballast_xen::abi::EventPort;
use ballast_xen::{Gfn, ReservationOp};
use ballast_xen_sim::{Counters, DomId, DomainConfig, HostConfig, SimHypervisor, XenSim};

/// The memory server: may run every op over the frames it owns.
pub const SERVER: Badge = Badge(1);
/// A driver (a backend): may ask for the current reservation and map and unmap grants, and owns
/// no frames.
pub const DRIVER: Badge = Badge(2);
/// A second driver: may map and unmap grants, nothing else.
pub const OTHER_DRIVER: Badge = Badge(4);
/// The toolstack agent: may send events and shut the domain down, owns no frames.
pub const AGENT: Badge = Badge(3);
/// A badge the caller table does not know.
pub const STRANGER: Badge = Badge(77);
/// A port the image gives the agent that Xen has not bound (a channel closed since).
pub const UNBOUND_PORT: EventPort = 40;

/// The image, the gateway's own pages among them: populated at boot, owned by no caller.
pub const IMAGE: Range<u64> = 0..0x700;
/// The RAM the memory server manages: populated at boot.
pub const SERVER_RAM: Range<u64> = 0x700..0x8000;
/// The memory server's lending window: unpopulated address space above RAM.
pub const LENDING: Range<u64> = 0x10_0000..0x10_1000;
/// Unpopulated space the memory server may lend but no caller owns (the manifest's lending range,
/// as the assembly gives it): never populated, so grants mapped there never land on RAM.
pub const WINDOW: Range<u64> = 0x20_0000..0x20_0400;
/// Pages the domain may grow by beyond its boot RAM.
pub const HEADROOM: u64 = 0x400;
/// The gateway's maximum frames per call.
pub const MAX_FRAMES: usize = 512;

/// A reservation's arguments besides the caller and the list: `(op, order, mem_flags, domid)`.
pub type Args = (ReservationOp, u8, u32, u16);

/// A call that passes no list: an event send on a port, or a shutdown for a reason.
#[derive(Clone, Copy, Debug)]
pub enum Control {
    /// `event_send { port }`.
    Send(EventPort),
    /// `shutdown { reason }`.
    Shutdown(u32),
}

/// The gateway the rig builds.
pub type SimGateway = Gateway<Vec<u64>, SimHypervisor, 4, 4, MAX_FRAMES>;

/// A simulated host, the guest domain, a second domain (the xenstore and console side), the
/// guest's two event channels to it, and the guest's gateway.
pub struct Rig {
    pub sim: XenSim,
    pub dom: DomId,
    /// dom0's side: the xenstore and console channels' other end, and the granter of pages.
    pub other: DomId,
    /// Bound to `other`, given to the agent.
    pub store: EventPort,
    /// Bound to `other`, given to nobody.
    pub console: EventPort,
    pub gateway: SimGateway,
}

/// Everything Xen-side a refused request must leave untouched.
#[derive(Debug, PartialEq, Eq)]
pub struct XenView {
    pub counters: Counters,
    pub tot_pages: u64,
    pub populated: u64,
    pub host_free: u64,
    pub next_call: u64,
    pub store_sends: Option<u64>,
    pub console_sends: Option<u64>,
    pub shutdown: Option<u32>,
    pub grant_mappings: usize,
}

fn range(gfns: Range<u64>) -> FrameRun {
    FrameRun::checked(Gfn(gfns.start), gfns.end - gfns.start).expect("a valid range")
}

impl Rig {
    /// The rig with the gateway's maximum extent order at `max_order`.
    pub fn with_max_order(max_order: u8) -> Rig {
        let sim = XenSim::new(HostConfig {
            free_pages: 0x10_0000,
            ..HostConfig::default()
        });
        let dom = sim.create_domain(DomainConfig::domu(
            IMAGE.start..SERVER_RAM.end,
            SERVER_RAM.end + HEADROOM,
        ));
        let other =
            (sim.create_dom0(DomainConfig::domu(0..0x1000, 0x1000))).expect("the host's one dom0");
        let store = sim.bind_event_channel(dom, other).expect("a free port");
        let console = sim.bind_event_channel(dom, other).expect("a free port");
        let owned = [range(SERVER_RAM), range(LENDING)];
        let grants = [
            CallerGrant {
                badge: SERVER,
                ops: &SERVER_OPS,
                ranges: &owned,
            },
            CallerGrant {
                badge: DRIVER,
                ops: &DRIVER_OPS,
                ranges: &[],
            },
            CallerGrant {
                badge: AGENT,
                ops: &AGENT_OPS,
                ranges: &[],
            },
            CallerGrant {
                badge: OTHER_DRIVER,
                ops: &DRIVER_OPS[1..],
                ranges: &[],
            },
        ];
        let limits = Limits {
            max_order,
            max_frames_per_call: MAX_FRAMES,
            own_domid: Some(dom.0),
        };
        let mut table = CallerTable::new(limits, &grants, &[range(IMAGE)]).expect("a valid table");
        table
            .allow_lending(SERVER, range(WINDOW))
            .expect("the server lends");
        for driver in [DRIVER, OTHER_DRIVER] {
            table
                .allow_grant_domain(driver, other.0)
                .expect("a driver maps");
        }
        let bitmap = vec![0; bitmap_words(&table) as usize];
        let booted = [range(SERVER_RAM)];
        let mut gateway =
            Gateway::new(sim.hypervisor(dom), table, bitmap, &booted).expect("the table fits");
        for port in [store, UNBOUND_PORT] {
            gateway
                .allow_event_port(AGENT, port)
                .expect("the agent may send");
        }
        Rig {
            sim,
            dom,
            other,
            store,
            console,
            gateway,
        }
    }

    /// The rig with the domU default maximum order, 9.
    pub fn new() -> Rig {
        Rig::with_max_order(9)
    }

    /// A snapshot of what Xen knows about the guest.
    pub fn xen_view(&self) -> XenView {
        XenView {
            counters: self.sim.counters(self.dom).expect("the domain exists"),
            tot_pages: self.sim.tot_pages(self.dom).expect("the domain exists"),
            populated: self.populated(0..LENDING.end),
            host_free: self.sim.host_free_pages(),
            next_call: self.sim.next_call(),
            store_sends: self.sim.event_sends(self.dom, self.store),
            console_sends: self.sim.event_sends(self.dom, self.console),
            shutdown: self.sim.shutdown_reason(self.dom),
            grant_mappings: self.sim.grant_mappings(self.dom),
        }
    }

    /// How many gfns of `gfns` are populated.
    pub fn populated(&self, gfns: Range<u64>) -> u64 {
        self.sim
            .populated_count(self.dom, gfns)
            .expect("the domain exists")
    }

    /// Issue a reservation, `(op, order, mem_flags, domid)` over `frames`, that must be refused
    /// with `expected`, and prove Xen saw nothing of it.
    pub fn assert_refused(
        &mut self,
        caller: Badge,
        (op, order, mem_flags, domid): Args,
        frames: &[u64],
        expected: GatewayError,
    ) {
        let before = self.xen_view();
        let rejected_before = self.gateway.counters().total().rejections.get(expected);
        let mut list: Vec<Gfn> = frames.iter().map(|&gfn| Gfn(gfn)).collect();
        let answer = self
            .gateway
            .reservation(caller, op, order, mem_flags, domid, &mut list);
        assert_eq!(
            answer,
            Err(expected),
            "op {op:?} order {order} flags {mem_flags:#x} domid {domid:#x} {frames:x?}"
        );
        assert_eq!(
            self.xen_view(),
            before,
            "Xen saw nothing of a refused request"
        );
        assert!(
            list.iter().map(|gfn| gfn.0).eq(frames.iter().copied()),
            "the list is untouched"
        );
        let rejected = self.gateway.counters().total().rejections.get(expected);
        assert_eq!(
            rejected,
            rejected_before + 1,
            "the refusal is counted under its reason"
        );
    }
}

impl Rig {
    /// Make `call` for `caller` through the gateway.
    pub fn control(&mut self, caller: Badge, call: Control) -> Result<(), QueryError> {
        match call {
            Control::Send(port) => self.gateway.event_send(caller, port),
            Control::Shutdown(reason) => self.gateway.shutdown(caller, reason),
        }
    }

    /// Make `call` for `caller`, which must be refused with `expected`, and prove Xen saw
    /// nothing of it.
    pub fn assert_control_refused(&mut self, caller: Badge, call: Control, expected: GatewayError) {
        let before = self.xen_view();
        let rejected_before = self.gateway.counters().total().rejections.get(expected);
        assert_eq!(
            self.control(caller, call),
            Err(QueryError::Refused(expected)),
            "{call:?} from {caller:?}"
        );
        assert_eq!(self.xen_view(), before, "Xen saw nothing of {call:?}");
        let rejected = self.gateway.counters().total().rejections.get(expected);
        assert_eq!(rejected, rejected_before + 1, "counted under its reason");
    }
}

/// `XENMEM_increase_reservation`.
pub const INCREASE: ReservationOp = ReservationOp::Increase;
/// `XENMEM_decrease_reservation`.
pub const DECREASE: ReservationOp = ReservationOp::Decrease;
/// `XENMEM_populate_physmap`.
pub const POPULATE: ReservationOp = ReservationOp::Populate;

/// The server holds every memory op of `Hypercall` (increase too, so that its checks can be
/// tested) and the lend and return notices; neither `event_send` nor `shutdown`, nor any grant
/// op.
pub const SERVER_OPS: [u16; 7] = [
    HypercallOp::CurrentReservation as u16,
    HypercallOp::MaximumReservation as u16,
    HypercallOp::IncreaseReservation as u16,
    HypercallOp::DecreaseReservation as u16,
    HypercallOp::PopulatePhysmap as u16,
    HypercallOp::LendNotice as u16,
    HypercallOp::ReturnNotice as u16,
];

/// The first driver's ops: the query, then grant map and unmap (the second driver's).
pub const DRIVER_OPS: [u16; 3] = [
    HypercallOp::CurrentReservation as u16,
    HypercallOp::GrantMap as u16,
    HypercallOp::GrantUnmap as u16,
];

/// The agent holds `event_send` and `shutdown`, and no memory op.
pub const AGENT_OPS: [u16; 2] = [HypercallOp::EventSend as u16, HypercallOp::Shutdown as u16];
