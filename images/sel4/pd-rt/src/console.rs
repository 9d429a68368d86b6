//! The PD's defmt logger: `ballast-image-rt`'s framing (`~defmt~ ` lines of hex) written with
//! `seL4_DebugPutChar` (the debug kernel's PL011: under Xen the domain's vpl011), every line
//! prefixed with the PD's component name and `": "` (`memory: ~defmt~ 0a1b...`), so that the host
//! decodes each PD's lines against that PD's ELF.
//!
//! Xen's vpl011 gathers a domain's output in a 128-byte buffer and prints it as one console line
//! at a newline or when 127 characters are waiting: each line here, name included, stays below
//! that ([`LINE_LIMIT`]), so Xen never cuts one.
//!
//! The PDs share one console and write a character per system call: a PD preempted in the middle
//! of a line (a line takes milliseconds, the kernel's time slice is 10 ms) would let another PD's
//! characters into it, and seen it has. So the logger raises its own thread from the plan's
//! `PD_PRIORITY` to its `PD_LINE_PRIORITY` for the length of a line: no other PD runs until the
//! line is whole. The root task gives every PD that maximum controlled priority; were the raise
//! refused all the same (the debug kernel would say so, once per PD), the logger would write
//! unprotected from then on, and the host would report the cut lines it cannot decode.

use core::sync::atomic::{AtomicBool, Ordering};

use ballast_image_rt::logger::{ConsoleLogger, ConsoleWrite, LINE_MARKER};
use ballast_sel4_plan::cspace::TCB;
use ballast_sel4_plan::{PD_LINE_PRIORITY, PD_PRIORITY};
use ballast_sel4_sys::{ipc, CPtr, Cap, Tcb};

use crate::system::COMPOSITION;

/// Whether the kernel refused this PD the line priority (its maximum controlled priority is
/// lower).
static RAISE_REFUSED: AtomicBool = AtomicBool::new(false);

/// The longest console line the host can rely on (Xen's buffer less its terminating byte).
pub const LINE_LIMIT: usize = 127;
/// Encoded bytes per line: two hex digits each after the longest name, `": "` and the marker.
pub const CHUNK: usize = (LINE_LIMIT - NAME_LIMIT - 2 - LINE_MARKER.len()) / 2;
/// The longest component name a line has room for.
pub const NAME_LIMIT: usize = 21;

const _: () = {
    let mut index = 0;
    while index < COMPOSITION.components.len() {
        assert!(COMPOSITION.components[index].name.len() <= NAME_LIMIT);
        index += 1;
    }
};

/// The debug kernel's console, each write prefixed with the PD's name.
#[derive(Debug)]
pub struct DebugConsole {
    name: &'static str,
}

impl DebugConsole {
    /// Lines of component `name`.
    pub const fn named(name: &'static str) -> DebugConsole {
        DebugConsole { name }
    }
}

impl ConsoleWrite for DebugConsole {
    fn write(&mut self, bytes: &[u8]) {
        let tcb: Cap<Tcb> = Cap::from_cptr(CPtr(TCB.cptr()));
        let raised = !RAISE_REFUSED.load(Ordering::Relaxed) && {
            let raised = tcb.set_priority(PD_LINE_PRIORITY).is_ok();
            RAISE_REFUSED.store(!raised, Ordering::Relaxed);
            raised
        };
        let name = self.name.bytes().chain(*b": ");
        for byte in name.chain(bytes.iter().copied()) {
            ipc::debug_put_char(byte);
        }
        if raised {
            // Back to where the root task put the PD; lowering is always allowed.
            let _ = tcb.set_priority(PD_PRIORITY);
        }
    }
}

/// The PD's logger.
pub static LOGGER: ConsoleLogger<DebugConsole> = ConsoleLogger::with_chunk(CHUNK);

/// A log call from inside the logger (a fault or panic while a line was being written): the PD
/// cannot log any more, and ends as [`crate::entry::die`] does.
fn logger_reentered() -> ! {
    crate::entry::die()
}

ballast_image_rt::defmt_global_logger!(LOGGER, logger_reentered);
