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

ballast_image_rt::defmt_global_logger!(LOGGER, crate::exit::halt_logger_reentered);
