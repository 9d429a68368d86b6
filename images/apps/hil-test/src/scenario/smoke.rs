//! The `smoke` scenario: a few seconds' proof that the image boots, logs and balloons: one 2 MiB
//! extent of scrubbed RAM goes to Xen and comes back, checked against `current_reservation`.

use ballast_xen::{Hypervisor, ReservationOp, SUPERPAGE_ORDER};

use super::ledger::{Granularity, Ledger, SUPERPAGES};
use ballast_frame_access::FrameMemory;

use super::{Checks, Layout};

/// Run the scenario; returns its checks.
pub fn run<H: Hypervisor, M: FrameMemory>(xen: &mut H, memory: &mut M, layout: Layout) -> Checks {
    let mut checks = Checks::default();
    checks.context = "smoke";
    let mut ledger = Ledger::new(xen, None);
    let start = ledger.current();
    let maximum = ledger.maximum();
    defmt::info!("reservation current={=u64} maximum={=u64}", start, maximum);
    let Some(extent) = layout.free.slice(0, SUPERPAGE_ORDER.frames()) else {
        checks.expect("free_ram_for_scenario", false);
        return checks;
    };
    checks.expect("scrubbed", memory.fill(extent, 0).is_ok());
    let down = ledger.pass(
        ReservationOp::Decrease,
        SUPERPAGES,
        extent,
        Granularity::EveryCall,
    );
    checks.expect_eq("released", down.done, 1);
    let up = ledger.pass(
        ReservationOp::Populate,
        SUPERPAGES,
        extent,
        Granularity::EveryCall,
    );
    checks.expect_eq("repopulated", up.done, down.done);
    checks.expect_eq("reservation_restored", ledger.current(), start);
    checks
}
