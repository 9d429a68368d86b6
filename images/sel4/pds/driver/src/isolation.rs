//! The isolation scenario (`scenario=isolation` on the guest command line): the test client, a
//! PD without hypercall capabilities, tries to reach Xen and the memory server's memory as its
//! last act, where it would otherwise just die (a PD dies once, so the control agent, which holds
//! no hypercall capability either, executes the hypercall instruction once its verdict is out).
//!
//! The test client asks to populate one frame it borrowed (ballooned out, so a populate that
//! reached Xen would grow the domain by a page), first by invoking as a hypercall capability the
//! slot where the gateway keeps its populate capability (empty in the client's CSpace:
//! `InvalidCapability`) and its own TCB's slot (a capability of another type:
//! `IllegalOperation`), each a capability error and not a fault, logged as checks. Then it writes
//! into the memory server's frame list (the region it shares with the gateway, populated memory
//! the root task maps at that address in those two PDs only; logged as
//! `write_into_memory_server address=`): a VM fault in the client, which the root task logs with
//! that address and reports to the memory server as the client's death; the server reclaims the
//! loan. The control agent then checks through the memory server's `reconcile` that Xen's count is
//! where it was and that the balloon still moves; after its verdict it executes `hvc` itself,
//! which is undefined at user level: it faults there (at the address it logs as `hvc_at_el0
//! pc=`), and Xen never sees it.

use ballast_app_hil_test::scenario::Checks;
use ballast_sel4_pd_rt::entry::{die, write_forbidden_and_die};
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
/// capability and the check that the client does not map the memory server's frame list (checks,
/// tallied with `checks`), the verdict, then the write into that frame list, where the PD
/// faults (a write that went through is a second verdict, a failing one).
pub fn last_act(pd: &Pd, checks: &mut Checks, borrowed: Option<Gfn>, frames: u64) -> ! {
    checks.context = "isolation";
    let populate = XenCall::POPULATE_PHYSMAP;
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
    let frame_list = memory_server_frame_list(pd);
    checks.expect("memory_server_frame_list_not_mapped", frame_list.is_some());
    let passed = checks.report();
    defmt::info!(
        "RESULT {=str} testclient dies holding frames={=u64}",
        if passed { "PASS" } else { "FAIL" },
        frames
    );
    let Some((region, address)) = frame_list else {
        die()
    };
    defmt::info!(
        "write_into_memory_server address={=u64:#x} region={=str}",
        address,
        region
    );
    write_forbidden_and_die(address, || {
        defmt::error!(
            "RESULT FAIL testclient wrote into the memory server at {=u64:#x}",
            address
        );
    })
}

/// The name and address of the region the memory server shares with the gateway (its frame
/// list), if `pd`'s VSpace does not map it.
fn memory_server_frame_list(pd: &Pd) -> Option<(&'static str, u64)> {
    let memory = COMPOSITION.first_of(Kind::MemoryServer)?;
    let gateway = COMPOSITION.first_of(Kind::HypercallGateway)?;
    let region = COMPOSITION.region(memory.id, gateway.id)?;
    let mapped = (pd.plan.region_mappings(pd.component)).any(|mapping| mapping.region == region.id);
    (!mapped).then(|| (region.name, pd.plan.region_address(region.id)))
}

/// The control agent's last act under the isolation scenario, after its verdict: `hvc` at user
/// level, where the PD faults.
pub fn hvc_last_act() -> ! {
    let populate = XenCall::POPULATE_PHYSMAP;
    defmt::info!(
        "hvc_at_el0 pc={=u64:#x} hypercall={=u32} sub_op={=u32}",
        hvc_at_el0_address(),
        populate.hypercall,
        populate.sub_op
    );
    hvc_at_el0(u64::from(populate.hypercall), u64::from(populate.sub_op))
}
