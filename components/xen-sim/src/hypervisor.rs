//! `SimHypervisor`: the `ballast_xen::Hypervisor` backend over the simulator, for one domain.
//! Every memory call goes through the raw `memory_op` entry as `DOMID_SELF`, exactly as the real
//! backend builds it, event sends and shutdowns through the raw `evtchn_send` and
//! `sched_shutdown` entries, and grant batches through the raw map and unmap entries, so the
//! gateway sees the answers real Xen would give.

use ballast_xen::abi::{EventPort, ShutdownReason, DOMID_SELF};
use ballast_xen::grant::{GnttabMapGrantRef, GnttabUnmapGrantRef, GrantTable};
use ballast_xen::{
    Completed, ExtentOrder, Gfn, Hypervisor, MemFlags, MemoryOp, ReservationOp, XenErrno,
};

use crate::config::DomId;
use crate::memory_op::{ExtentList, MemoryOpArg, Reservation};
use crate::sim::XenSim;

/// The hypervisor as domain `dom` sees it.
#[derive(Clone, Debug)]
pub struct SimHypervisor {
    sim: XenSim,
    dom: DomId,
}

impl SimHypervisor {
    /// The backend of domain `dom` of `sim`.
    pub fn new(sim: XenSim, dom: DomId) -> SimHypervisor {
        SimHypervisor { sim, dom }
    }

    /// The domain this backend calls as.
    pub fn domain(&self) -> DomId {
        self.dom
    }

    /// The simulator behind it.
    pub fn sim(&self) -> &XenSim {
        &self.sim
    }

    fn query(&self, op: MemoryOp) -> Result<u64, XenErrno> {
        XenErrno::check(
            self.sim
                .memory_op(self.dom, op.command(0), MemoryOpArg::Domid(DOMID_SELF)),
        )
    }
}

impl Hypervisor for SimHypervisor {
    fn reservation(
        &mut self,
        op: ReservationOp,
        order: ExtentOrder,
        flags: MemFlags,
        frames: &mut [Gfn],
    ) -> Completed {
        let requested = frames.len();
        let reservation = Reservation {
            nr_extents: requested as u64,
            extent_start: ExtentList::Frames(frames),
            extent_order: order.get() as u32,
            mem_flags: flags.raw(),
            domid: DOMID_SELF,
        };
        let raw = self.sim.memory_op(
            self.dom,
            op.memory_op().command(0),
            MemoryOpArg::Reservation(reservation),
        );
        Completed::from_raw(raw, requested)
    }

    fn current_reservation(&mut self) -> Result<u64, XenErrno> {
        self.query(MemoryOp::CurrentReservation)
    }

    fn maximum_reservation(&mut self) -> Result<u64, XenErrno> {
        self.query(MemoryOp::MaximumReservation)
    }

    fn console_write(&mut self, bytes: &[u8]) -> Result<(), XenErrno> {
        self.sim
            .console_write(self.dom, bytes)
            .map_err(|_| XenErrno::ESRCH)
    }

    fn event_send(&mut self, port: EventPort) -> Result<(), XenErrno> {
        XenErrno::check(self.sim.evtchn_send(self.dom, port)).map(|_| ())
    }

    fn shutdown(&mut self, reason: ShutdownReason) -> Result<(), XenErrno> {
        XenErrno::check(self.sim.sched_shutdown(self.dom, reason.raw())).map(|_| ())
    }
}

impl GrantTable for SimHypervisor {
    fn map_grants(&mut self, batch: &mut [GnttabMapGrantRef]) -> Result<(), XenErrno> {
        XenErrno::check(self.sim.map_grant_refs(self.dom, batch)).map(|_| ())
    }

    fn unmap_grants(&mut self, batch: &mut [GnttabUnmapGrantRef]) -> Result<(), XenErrno> {
        XenErrno::check(self.sim.unmap_grant_refs(self.dom, batch)).map(|_| ())
    }
}
