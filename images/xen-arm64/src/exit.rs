//! How the image ends: the verdict is logged by the caller, then the domain shuts itself down
//! (dom0less Xen stays up; `ballast hil` stops QEMU when it sees the verdict). Also the panic
//! handler.

use core::arch::asm;

use ballast_xen::abi::SHUTDOWN_POWEROFF;
use ballast_xen::backend::aarch64::Arm64Hypercall;
use ballast_xen::backend::XenHypercalls;

/// What the image reports at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every check passed.
    #[cfg_attr(
        not(feature = "hil-test"),
        expect(
            dead_code,
            reason = "only the HIL test app passes: the memory server serves"
        )
    )]
    Pass,
    /// Something failed.
    Fail,
}

/// Shut the domain down and stop; the verdict has been logged already.
pub fn finish(_verdict: Verdict) -> ! {
    // SAFETY: the image runs on Xen (it was booted as a Xen domain) with memory mapped 1:1.
    let xen = XenHypercalls::new(unsafe { Arm64Hypercall::new() });
    xen.shutdown(SHUTDOWN_POWEROFF);
    loop {
        // SAFETY: waits for an interrupt, which never comes (none are enabled).
        unsafe { asm!("wfi", options(nomem, nostack)) };
    }
}

/// The logger was entered while it was writing (a fault or panic inside it): nothing can be
/// logged.
pub fn halt_logger_reentered() -> ! {
    finish(Verdict::Fail)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    if !crate::logger::write_raw(b"ballast-xen-arm64: panic\n") {
        finish(Verdict::Fail);
    }
    defmt::error!("panic: {}", defmt::Display2Format(info));
    defmt::error!("RESULT FAIL");
    finish(Verdict::Fail)
}
