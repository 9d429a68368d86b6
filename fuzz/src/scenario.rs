//! Scenario text as `ballast sim` reads it ([`Scenario::parse`]: TOML, then every check of its
//! values): anything must give a scenario or a typed error naming the key, never a panic or an
//! overflow (the checks compute every size and time the engine derives from the values).

use std::path::Path;

use ballast::sim::scenario::Scenario;

/// Parse `data` as a scenario file.
pub fn run(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    // Accepted or refused with a typed error: both are fine, a panic is the finding.
    let _ = Scenario::parse(Path::new("fuzz.toml"), text);
}
