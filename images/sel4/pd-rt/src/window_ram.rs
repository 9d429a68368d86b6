//! The memory server's RAM as it reaches it under seL4: the root task maps the frames it manages
//! (large pages retyped from untyped memory before any of them went to Xen) into the server's
//! RAM window, gfn `g` at the plan's `ram_window_address(g)`, and names them in the boot-info
//! page. `ballast-image-rt`'s mapped RAM over that window, checked on every access against those
//! runs: the server scrubs through it before frames go back to Xen. A frame Xen does not back
//! faults on access (no PD survives a data abort): read only frames known to be populated.

use ballast_image_rt::mapped_ram::{FrameMap, MappedRam, VolatileRead};
use ballast_sel4_plan::boot_info::BOOT_RAM_RUNS;
use ballast_sel4_plan::vspace::ram_window_address;
use ballast_xen::Gfn;

/// The memory server's RAM window, linear in gfn.
#[derive(Debug)]
pub enum RamWindow {}

impl FrameMap for RamWindow {
    fn address(gfn: Gfn) -> Option<u64> {
        ram_window_address(gfn.0)
    }
}

/// The RAM window over the runs the boot-info page names.
pub type WindowRam = MappedRam<RamWindow, VolatileRead, BOOT_RAM_RUNS>;
