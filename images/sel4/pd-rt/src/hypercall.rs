//! The gateway's Xen hypercalls under seL4: `ballast_xen::backend::RawHypercall` by invoking the
//! hypercall capability the plan puts in the gateway's CSpace for that (hypercall, sub-op), where
//! the static images execute `hvc` themselves. The kernel checks the capability's badge against
//! the hypercall number and the sub-op (the first argument), then issues the hypercall at EL1
//! with the gateway's address space live, so the pointers it passes (its stack, its regions, all
//! mapped before it started: seL4 never maps on demand) are resolved by Xen in the gateway's own
//! address space. A call the gateway holds no capability for never reaches the kernel.

use ballast_sel4_plan::{Plan, XenCall};
use core::cell::Cell;

use ballast_sel4_sys::{CPtr, Cap, XenHypercall};

pub use ballast_sel4_sys::Sel4Error;
use ballast_xen::backend::RawHypercall;

/// Xen's -EPERM: what a hypercall without a capability answers.
const EPERM: i64 = -1;

/// The hypercalls of component `component` (the gateway) through its capabilities.
#[derive(Clone, Copy, Debug)]
pub struct CapHypercall {
    plan: Plan<'static>,
    component: u16,
}

impl CapHypercall {
    /// Through the capabilities `plan` gives `component`.
    pub const fn new(plan: Plan<'static>, component: u16) -> CapHypercall {
        CapHypercall { plan, component }
    }
}

impl RawHypercall for CapHypercall {
    unsafe fn hypercall5(&self, nr: u32, args: [u64; 5]) -> i64 {
        let Ok(sub_op) = u32::try_from(args[0]) else {
            return EPERM;
        };
        let call = XenCall {
            hypercall: nr,
            sub_op,
        };
        let Some(slot) = self.plan.hypercall_slot(self.component, call) else {
            return EPERM;
        };
        let cap: Cap<XenHypercall> = Cap::from_cptr(CPtr(slot.cptr()));
        match cap.call(u64::from(nr), args[0], args[1], args[2], args[3], args[4]) {
            Ok(x0) => x0 as i64,
            Err(_) => EPERM,
        }
    }
}

/// Hypercalls through whatever capability sits in one slot of the calling PD's CSpace, keeping
/// the kernel's answer: what a PD that holds no hypercall capability there gets (an empty slot
/// answers `InvalidCapability`, a capability of another type `IllegalOperation`; neither is a
/// fault, and neither reaches Xen).
#[derive(Debug)]
pub struct SlotHypercall {
    slot: u64,
    refused: Cell<Option<Sel4Error>>,
}

impl SlotHypercall {
    /// Through slot `slot`.
    pub const fn new(slot: u64) -> SlotHypercall {
        SlotHypercall {
            slot,
            refused: Cell::new(None),
        }
    }

    /// The kernel's error for the last call, if it refused it.
    pub fn refused(&self) -> Option<Sel4Error> {
        self.refused.get()
    }
}

impl RawHypercall for &SlotHypercall {
    unsafe fn hypercall5(&self, nr: u32, args: [u64; 5]) -> i64 {
        let cap: Cap<XenHypercall> = Cap::from_cptr(CPtr(self.slot));
        let answer = cap.call(u64::from(nr), args[0], args[1], args[2], args[3], args[4]);
        self.refused.set(answer.err());
        answer.map_or(EPERM, |x0| x0 as i64)
    }
}

/// Execute the hypercall instruction itself (`hvc #0xEA1`, as Xen's arm64 ABI has it) at user
/// level with `hypercall` in x16 and `sub_op` in x0: the architecture makes `hvc` undefined at
/// EL0, so the PD takes a user exception (a fault the root task logs and answers with the PD's
/// death) and Xen never sees it. Its address (the fault's program counter) is
/// [`hvc_at_el0_address`].
pub fn hvc_at_el0(hypercall: u64, sub_op: u64) -> ! {
    // SAFETY: `ballast_hvc_at_el0` is the two instructions of the `global_asm!` below: `hvc`
    // faults at EL0 and the thread never runs again; the `udf` after it ends a PD whose `hvc`
    // would return, so the call never returns, as its `!` says.
    unsafe { ballast_hvc_at_el0(hypercall, sub_op) }
}

/// Where [`hvc_at_el0`]'s `hvc` instruction lies (after the two moves that set its registers):
/// the program counter of the fault it raises.
pub fn hvc_at_el0_address() -> u64 {
    ballast_hvc_at_el0 as *const () as usize as u64 + 8
}

unsafe extern "C" {
    fn ballast_hvc_at_el0(hypercall: u64, sub_op: u64) -> !;
}

core::arch::global_asm!(
    ".section .text.ballast_hvc_at_el0, \"ax\"",
    ".global ballast_hvc_at_el0",
    ".p2align 2",
    "ballast_hvc_at_el0:",
    "    mov x16, x0",
    "    mov x0, x1",
    "    hvc #0xEA1",
    "    udf #1",
);
