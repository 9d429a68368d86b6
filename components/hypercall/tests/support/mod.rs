//! The test rig: one simulated Xen domain whose hypercall gateway serves a memory server that owns
//! part of the guest's RAM and an unpopulated lending window, a driver that may only query, and a
//! protected range standing for the image and the gateway's own pages.

use std::ops::Range;

use ballast_hypercall::{CallerGrant, CallerTable, FrameRun, Gateway, GatewayError, Limits};
use ballast_interfaces::hypercall::HypercallOp;
use ballast_ipc::Badge;
use ballast_xen::{Gfn, ReservationOp};
use ballast_xen_sim::{Counters, DomId, DomainConfig, HostConfig, SimHypervisor, XenSim};

/// The memory server: may run every op over the frames it owns.
pub const SERVER: Badge = Badge(1);
/// A driver: may ask for the current reservation, nothing else, and owns no frames.
pub const DRIVER: Badge = Badge(2);
/// A badge the caller table does not know.
pub const STRANGER: Badge = Badge(77);

/// The image, the gateway's own pages among them: populated at boot, owned by no caller.
pub const IMAGE: Range<u64> = 0..0x700;
/// The RAM the memory server manages: populated at boot.
pub const SERVER_RAM: Range<u64> = 0x700..0x8000;
/// The memory server's lending window: unpopulated address space above RAM.
pub const LENDING: Range<u64> = 0x10_0000..0x10_1000;
/// Pages the domain may grow by beyond its boot RAM.
pub const HEADROOM: u64 = 0x400;
/// The gateway's maximum frames per call.
pub const MAX_FRAMES: usize = 512;

/// A reservation's arguments besides the caller and the list: `(op, order, mem_flags, domid)`.
pub type Args = (ReservationOp, u8, u32, u16);

/// The gateway the rig builds.
pub type SimGateway = Gateway<SimHypervisor, 4, 4, MAX_FRAMES>;

/// A simulated host, the guest domain, a second domain, and the guest's gateway.
pub struct Rig {
    pub sim: XenSim,
    pub dom: DomId,
    pub other: DomId,
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
        let other = sim.create_domain(DomainConfig::domu(0..0x1000, 0x1000));
        let owned = [range(SERVER_RAM), range(LENDING)];
        let grants = [
            CallerGrant {
                badge: SERVER,
                ops: &SERVER_OPS,
                ranges: &owned,
            },
            CallerGrant {
                badge: DRIVER,
                ops: &[HypercallOp::CurrentReservation as u16],
                ranges: &[],
            },
        ];
        let limits = Limits {
            max_order,
            max_frames_per_call: MAX_FRAMES,
            own_domid: Some(dom.0),
        };
        let table = CallerTable::new(limits, &grants, &[range(IMAGE)]).expect("a valid table");
        let gateway = Gateway::new(sim.hypervisor(dom), table).expect("the table fits");
        Rig {
            sim,
            dom,
            other,
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

/// `XENMEM_increase_reservation`.
pub const INCREASE: ReservationOp = ReservationOp::Increase;
/// `XENMEM_decrease_reservation`.
pub const DECREASE: ReservationOp = ReservationOp::Decrease;
/// `XENMEM_populate_physmap`.
pub const POPULATE: ReservationOp = ReservationOp::Populate;

/// The server holds every `Hypercall` op (increase too, so that its checks can be tested).
pub const SERVER_OPS: [u16; 5] = [
    HypercallOp::CurrentReservation as u16,
    HypercallOp::MaximumReservation as u16,
    HypercallOp::IncreaseReservation as u16,
    HypercallOp::DecreaseReservation as u16,
    HypercallOp::PopulatePhysmap as u16,
];
