//! The console: Xen's `console_io` hypercall, which Xen 4.17 accepts from a dom0less domU and
//! prints on its serial line prefixed with `(d1) `.
//! Measured: `docs/XEN-BEHAVIOUR.md#dom0less-domu`.

use ballast_image_rt::logger::ConsoleWrite;
use ballast_xen::backend::aarch64::Arm64Hypercall;
use ballast_xen::backend::XenHypercalls;
use ballast_xen::Hypervisor;

/// Where console bytes go.
#[derive(Debug)]
pub struct Console {
    xen: XenHypercalls<Arm64Hypercall>,
}

impl Console {
    /// A console over the hypercall instruction.
    pub const fn new(hypercall: Arm64Hypercall) -> Console {
        Console {
            xen: XenHypercalls::new(hypercall),
        }
    }
}

impl ConsoleWrite for Console {
    /// Write `bytes` (what Xen refuses is lost: there is no other way out).
    fn write(&mut self, bytes: &[u8]) {
        self.xen.console_write(bytes).ok();
    }
}
