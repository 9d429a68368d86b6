//! The defmt global logger: `ballast_image_rt::logger` (its `~defmt~ <hex>` line framing) over
//! this image's console, `console_io` or port 0xe9.

use ballast_image_rt::logger::ConsoleLogger;

use crate::console::Console;
#[cfg(not(feature = "hil-test"))]
use crate::console::PvConsole;

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

/// Copy log output to the PV console ring `pv` from now on (the memory-server app, as a domU).
#[cfg(not(feature = "hil-test"))]
pub fn attach_pv_console(pv: PvConsole) {
    LOGGER.with_console(|console| console.attach_pv_console(pv));
}

/// Write one plain line (not defmt) for the domain's administrator.
#[cfg(not(feature = "hil-test"))]
pub fn write_line(text: &str) {
    LOGGER.write_line(text.as_bytes());
}

/// Write plain text (not defmt) to the console, if the logger is not busy: for the panic handler
/// when the panic came from inside the logger.
pub fn write_raw(text: &[u8]) -> bool {
    LOGGER.write_raw(text)
}

ballast_image_rt::defmt_global_logger!(LOGGER, crate::exit::halt_logger_reentered);
