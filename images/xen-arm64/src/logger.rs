//! The defmt global logger: `ballast_image_rt::logger` (its `~defmt~ <hex>` line framing) over
//! this image's `console_io` console.

use ballast_image_rt::logger::ConsoleLogger;

use crate::console::Console;

static LOGGER: ConsoleLogger<Console> = ConsoleLogger::new();

/// Send log output to `console` from now on.
pub fn init(console: Console) {
    LOGGER.init(console);
}

/// Write one plain line (not defmt) for the domain's administrator (the memory-server app).
#[cfg(not(feature = "hil-test"))]
pub fn write_line(text: &str) {
    LOGGER.write_line(text.as_bytes());
}

/// Write plain text (not defmt) if the logger is not busy; whether it was free.
pub fn write_raw(text: &[u8]) -> bool {
    LOGGER.write_raw(text)
}

ballast_image_rt::defmt_global_logger!(LOGGER, crate::exit::halt_logger_reentered);
