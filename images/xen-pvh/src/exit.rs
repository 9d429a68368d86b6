//! How the image ends: the verdict goes to QEMU's `isa-debug-exit` device at port 0xf4 (value v
//! makes QEMU exit with status 2v+1: 0x10 -> 33 for PASS, 0x11 -> 35 for FAIL), then, where there is
//! no such device (a real Xen host, a domU), the domain shuts itself down. Also the panic handler.

use core::arch::asm;

use ballast_xen::abi::SHUTDOWN_POWEROFF;
use ballast_xen::backend::XenHypercalls;

/// QEMU's `isa-debug-exit` port (`-device isa-debug-exit,iobase=0xf4,iosize=4`).
const DEBUG_EXIT_PORT: u16 = 0xf4;

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

impl Verdict {
    fn debug_exit_value(self) -> u8 {
        match self {
            Verdict::Pass => 0x10,
            Verdict::Fail => 0x11,
        }
    }
}

/// Report `verdict` and stop.
pub fn finish(verdict: Verdict) -> ! {
    // SAFETY: writing the isa-debug-exit port ends QEMU; without the device the write is dropped.
    // It touches no memory.
    unsafe {
        asm!("out dx, al", in("dx") DEBUG_EXIT_PORT, in("al") verdict.debug_exit_value(),
             options(nomem, nostack, preserves_flags));
    }
    if let Some(hypercall) = crate::hypercall::installed() {
        XenHypercalls::new(hypercall).shutdown(SHUTDOWN_POWEROFF);
    }
    loop {
        // SAFETY: halting with interrupts disabled stops this vCPU for good, as intended.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// The logger was entered while it was writing (a panic inside it): nothing can be logged.
pub fn halt_logger_reentered() -> ! {
    finish(Verdict::Fail)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    if !crate::logger::write_raw(b"ballast-xen-pvh: panic\n") {
        finish(Verdict::Fail);
    }
    defmt::error!("panic: {}", defmt::Display2Format(info));
    defmt::error!("RESULT FAIL");
    finish(Verdict::Fail)
}
