//! The hypercall page, installed once at boot, and the handle to it for the rest of the image.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use ballast_xen::backend::x86_64::{HypercallPage, InstallError, X86Hypercall};

struct Slot(UnsafeCell<Option<X86Hypercall>>);

// SAFETY: written once by `install` before `INSTALLED` is set (one vCPU, interrupts off, so no one
// reads it meanwhile), and only read afterwards.
unsafe impl Sync for Slot {}

static HANDLE: Slot = Slot(UnsafeCell::new(None));
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Ask Xen to fill the image's hypercall page; later calls return the same handle.
pub fn install() -> Result<X86Hypercall, InstallError> {
    if let Some(handle) = installed() {
        return Ok(handle);
    }
    static mut PAGE: HypercallPage = HypercallPage([0; 4096]);
    // SAFETY: `PAGE` is reached only here, once (`INSTALLED` is still false and the image runs
    // on one vCPU); it lies in the image, which is identity-mapped, and nothing else touches it
    // afterwards: it is Xen's.
    let handle = unsafe { X86Hypercall::install(&mut *core::ptr::addr_of_mut!(PAGE))? };
    // SAFETY: see `Slot`: nobody reads `HANDLE` before `INSTALLED` is set.
    unsafe { *HANDLE.0.get() = Some(handle) };
    INSTALLED.store(true, Ordering::Release);
    Ok(handle)
}

/// The handle, once `install` succeeded.
pub fn installed() -> Option<X86Hypercall> {
    if !INSTALLED.load(Ordering::Acquire) {
        return None;
    }
    // SAFETY: see `Slot`: after `INSTALLED` is set, `HANDLE` is only read.
    unsafe { *HANDLE.0.get() }
}
