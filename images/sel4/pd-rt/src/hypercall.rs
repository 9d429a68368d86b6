//! The gateway's Xen hypercalls under seL4: `ballast_xen::backend::RawHypercall` by invoking the
//! hypercall capability the plan puts in the gateway's CSpace for that (hypercall, sub-op), where
//! the static images execute `hvc` themselves. The kernel checks the capability's badge against
//! the hypercall number and the sub-op (the first argument), then issues the hypercall at EL1
//! with the gateway's address space live, so the pointers it passes (its stack, its regions, all
//! mapped before it started: seL4 never maps on demand) are resolved by Xen in the gateway's own
//! address space. A call the gateway holds no capability for never reaches the kernel.

use ballast_sel4_plan::{Plan, XenCall};
use ballast_sel4_sys::{CPtr, Cap, XenHypercall};
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
