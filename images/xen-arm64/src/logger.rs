//! The defmt global logger: `ballast_image_rt::logger` (the PVH image's `~defmt~ <hex>` line
//! framing) over this image's `console_io` console.

use ballast_image_rt::logger::ConsoleLogger;

use crate::console::Console;

static LOGGER: ConsoleLogger<Console> = ConsoleLogger::new();

/// Send log output to `console` from now on.
pub fn init(console: Console) {
    LOGGER.init(console);
}

/// Write plain text (not defmt) if the logger is not busy; whether it was free.
pub fn write_raw(text: &[u8]) -> bool {
    LOGGER.write_raw(text)
}

#[defmt::global_logger]
struct XenConsoleLogger;

// SAFETY: `acquire` takes the logger and `release` gives it back, so frames never interleave;
// `write` and `release` run only after a successful `acquire` (defmt's contract; a failed one
// ends the run), which is what `ConsoleLogger`'s unsafe methods ask.
unsafe impl defmt::Logger for XenConsoleLogger {
    fn acquire() {
        if !LOGGER.acquire() {
            crate::exit::halt_logger_reentered();
        }
    }

    unsafe fn flush() {}

    unsafe fn release() {
        // SAFETY: after a successful `acquire` (defmt's contract).
        unsafe { LOGGER.release() }
    }

    unsafe fn write(bytes: &[u8]) {
        // SAFETY: between `acquire` and `release` (defmt's contract).
        unsafe { LOGGER.write(bytes) }
    }
}
