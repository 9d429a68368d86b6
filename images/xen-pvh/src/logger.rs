//! The defmt global logger: `ballast_image_rt::logger` (its `~defmt~ <hex>` line framing) over
//! this image's console, `console_io` or port 0xe9.

use ballast_image_rt::logger::ConsoleLogger;

use crate::console::Console;

static LOGGER: ConsoleLogger<Console> = ConsoleLogger::new();

/// Send log output to `console` from now on.
pub fn init(console: Console) {
    LOGGER.init(console);
}

/// Whether log output goes through port 0xe9.
pub fn uses_debug_port() -> bool {
    LOGGER
        .with_console(|console| console.uses_debug_port())
        .unwrap_or(false)
}

/// Send log output to port 0xe9 from now on.
pub fn switch_to_debug_port() {
    LOGGER.with_console(Console::use_debug_port);
}

/// Write plain text (not defmt) to the console, if the logger is not busy: for the panic handler
/// when the panic came from inside the logger.
pub fn write_raw(text: &[u8]) -> bool {
    LOGGER.write_raw(text)
}

#[defmt::global_logger]
struct XenConsoleLogger;

// SAFETY: `acquire` takes the logger and `release` gives it back, so frames never interleave;
// `write` and `release` run only after a successful `acquire` (defmt's contract; a failed one
// halts the image), which is what `ConsoleLogger`'s unsafe methods ask.
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
