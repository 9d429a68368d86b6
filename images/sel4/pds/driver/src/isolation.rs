//! The isolation scenario (`scenario=isolation` on the guest command line): the test client, a
//! PD without hypercall capabilities, tries to reach Xen as its last act, where it would otherwise
//! just die. It asks to populate one frame it borrowed (ballooned out, so a populate that reached
//! Xen would grow the domain by a page), first by invoking as a hypercall capability the slot where
//! the gateway keeps its populate capability (empty in the client's CSpace: `InvalidCapability`)
//! and its own TCB's slot (a capability of another type: `IllegalOperation`), each a capability
//! error and not a fault, logged as checks; then by executing `hvc` itself, which is undefined at
//! user level: the PD faults there, and the root task logs the fault (at the address the client
//! logs as `hvc_at_el0 pc=`) and reports the client dead to the memory server, which reclaims its
//! loan. The control agent then checks through the memory server's `reconcile` that Xen's count
//! is where it was and that the balloon still moves.

use ballast_app_hil_test::scenario::Checks;
use ballast_interfaces::hypercall::HypercallOp;
use ballast_sel4_pd_rt::hypercall::{hvc_at_el0, hvc_at_el0_address, Sel4Error, SlotHypercall};
use ballast_sel4_pd_rt::system::COMPOSITION;
use ballast_sel4_pd_rt::Pd;
use ballast_sel4_plan::{cspace, XenCall};
use ballast_system::Kind;
use ballast_xen::backend::XenHypercalls;
use ballast_xen::{ExtentOrder, Gfn, Hypervisor, MemFlags, ReservationOp};

/// The scenario the command line names for this run.
pub const SCENARIO: &str = "isolation";

/// Whether `pd`'s command line names the isolation scenario.
pub fn chosen(pd: &Pd) -> bool {
    pd.command_line().value("scenario") == Some(SCENARIO)
}

/// Try to populate `gfn` through the capability in `slot` as a hypercall capability; the
/// kernel's error must be `expected`, and Xen must not have completed anything.
fn invoke_without_capability(
    checks: &mut Checks,
    (what, slot): (&'static str, u64),
    gfn: Gfn,
    expected: Sel4Error,
) {
    let hypercall = SlotHypercall::new(slot);
    let mut frames = [gfn];
    let completed = XenHypercalls::new(&hypercall).reservation(
        ReservationOp::Populate,
        ExtentOrder::PAGE,
        MemFlags::NONE,
        &mut frames,
    );
    let refused = hypercall.refused();
    let error = refused.map_or(0, |error| error as u64);
    defmt::info!(
        "hypercall_without_capability slot={=str} cptr={=u64} gfn={=u64:#x} error={=u64} expected={=u64} completed={=usize}",
        what,
        slot,
        gfn.0,
        error,
        expected as u64,
        completed.extents
    );
    checks.expect(what, refused == Some(expected) && completed.extents == 0);
}

/// The test client's last act under the isolation scenario: the kernel invocations without the
/// capability (checks, tallied with `checks`), the verdict, then `hvc` at user level, where the
/// PD faults.
pub fn last_act(pd: &Pd, checks: &mut Checks, borrowed: Option<Gfn>, frames: u64) -> ! {
    checks.context = "isolation";
    let populate = XenCall::of(HypercallOp::PopulatePhysmap);
    let gateway_slot = COMPOSITION
        .first_of(Kind::HypercallGateway)
        .and_then(|gateway| pd.plan.hypercall_slot(gateway.id, populate));
    let own = pd.plan.hypercall_slot(pd.component, populate);
    checks.expect("client_holds_no_hypercall_capability", own.is_none());
    match (gateway_slot, borrowed) {
        (Some(slot), Some(gfn)) => {
            let invalid = Sel4Error::InvalidCapability;
            invoke_without_capability(checks, ("gateway_slot", slot.cptr()), gfn, invalid);
            let illegal = Sel4Error::IllegalOperation;
            invoke_without_capability(checks, ("own_tcb", cspace::TCB.cptr()), gfn, illegal);
        }
        _ => {
            checks.expect("gateway_populate_slot_and_borrowed_frame", false);
        }
    }
    let passed = checks.report();
    defmt::info!(
        "RESULT {=str} testclient dies holding frames={=u64}",
        if passed { "PASS" } else { "FAIL" },
        frames
    );
    defmt::info!(
        "hvc_at_el0 pc={=u64:#x} hypercall={=u32} sub_op={=u32}",
        hvc_at_el0_address(),
        populate.hypercall,
        populate.sub_op
    );
    hvc_at_el0(u64::from(populate.hypercall), u64::from(populate.sub_op))
}
