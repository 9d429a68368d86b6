//! arm64: `hvc #0xEA1` with the hypercall number in x16, arguments in x0..x4 and the result in
//! x0. Pointers are guest-physical addresses (the images map memory 1:1).
//! Measured: `docs/XEN-BEHAVIOUR.md#arm64-hypercall-abi`.

use core::arch::asm;

use super::RawHypercall;

/// `XEN_HYPERCALL_TAG`, the immediate of Xen's `hvc`.
pub const XEN_HYPERCALL_TAG: u32 = xen_sys::XEN_HYPERCALL_TAG;
const _: () = assert!(XEN_HYPERCALL_TAG == 0xEA1);

/// The arm64 hypercall instruction; always present when running on Xen.
#[derive(Debug, Clone, Copy)]
pub struct Arm64Hypercall {
    _private: (),
}

impl Arm64Hypercall {
    /// The hypercall entry.
    ///
    /// # Safety
    /// The guest must run on Xen (an `hvc` elsewhere traps to whatever runs at EL2) with memory
    /// mapped 1:1.
    pub const unsafe fn new() -> Arm64Hypercall {
        Arm64Hypercall { _private: () }
    }
}

impl RawHypercall for Arm64Hypercall {
    unsafe fn hypercall5(&self, nr: u32, args: [u64; 5]) -> i64 {
        let ret: i64;
        // SAFETY: `new` established that Xen answers `hvc #0xEA1`; Xen may clobber x0..x4 and
        // x16. The caller vouches for the pointer arguments.
        unsafe {
            asm!(
                "hvc #0xEA1",
                inlateout("x0") args[0] => ret,
                inlateout("x1") args[1] => _,
                inlateout("x2") args[2] => _,
                inlateout("x3") args[3] => _,
                inlateout("x4") args[4] => _,
                inlateout("x16") u64::from(nr) => _,
                options(nostack),
            );
        }
        ret
    }
}
