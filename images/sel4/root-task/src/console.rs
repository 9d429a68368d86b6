//! The root task's text lines on the debug kernel's console (`seL4_DebugPutChar`, the kernel's
//! PL011: Xen's vpl011 in a guest), each starting `root-task: ` so that the host tells them from
//! the PDs' defmt lines and Xen's own. Lines stay short: Xen's console breaks a guest's line
//! after about 120 characters.

use core::fmt;

use ballast_sel4_sys::ipc::debug_put_char;

/// Writes bytes to the kernel's console.
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        text.bytes().for_each(debug_put_char);
        Ok(())
    }
}

/// Prints one line, prefixed `root-task: `.
macro_rules! say {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = write!($crate::console::Console, "root-task: ");
        let _ = writeln!($crate::console::Console, $($arg)*);
    }};
}

pub(crate) use say;
