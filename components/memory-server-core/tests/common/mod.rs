//! Shared by the integration tests: a scrubber that zeroes frames in a simulated guest, and a
//! port that forwards to xen-sim but can lose a call in transport (after Xen acted) and fail
//! probes, as a dying gateway would.

use ballast_memory_server_core::{FrameScrubber, HypervisorPort, PortError, ReservationPort};
use ballast_xen::{Completed, ExtentOrder, Gfn, MemFlags, ReservationOp};
use ballast_xen_sim::{DomId, SimHypervisor, XenSim};

/// Zeroes frames in the simulated guest.
#[derive(Debug)]
pub struct SimScrubber {
    pub sim: XenSim,
    pub dom: DomId,
}

impl FrameScrubber for SimScrubber {
    fn scrub(&mut self, first: Gfn, frames: u64) {
        for gfn in first.0..first.0 + frames {
            self.sim.write_page(self.dom, gfn, 0).unwrap();
        }
    }
}

/// The simulated hypervisor behind a gateway that may die mid-call.
#[derive(Debug)]
pub struct FlakyGateway {
    pub hv: SimHypervisor,
    /// Report the next reservation call lost (Xen still acts on it).
    pub lose_next_call: bool,
    /// Fail this many probes after that.
    pub failing_probes: u32,
    /// Reservation calls that reached Xen.
    pub reservation_calls: u64,
}

impl FlakyGateway {
    pub fn new(hv: SimHypervisor) -> FlakyGateway {
        FlakyGateway {
            hv,
            lose_next_call: false,
            failing_probes: 0,
            reservation_calls: 0,
        }
    }
}

impl ReservationPort for FlakyGateway {
    fn reservation(
        &mut self,
        op: ReservationOp,
        order: ExtentOrder,
        flags: MemFlags,
        frames: &mut [Gfn],
    ) -> Result<Completed, PortError> {
        self.reservation_calls += 1;
        let answer = HypervisorPort::new(&mut self.hv).reservation(op, order, flags, frames);
        if core::mem::take(&mut self.lose_next_call) {
            return Err(PortError::GatewayDied);
        }
        answer
    }

    fn current_reservation(&mut self) -> Result<u64, PortError> {
        if self.failing_probes > 0 {
            self.failing_probes -= 1;
            return Err(PortError::GatewayDied);
        }
        HypervisorPort::new(&mut self.hv).current_reservation()
    }
}
