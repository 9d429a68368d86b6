//! Manifest text as `ballast check` reads it: parsed, validated, the memory server's assembly
//! tried on its composition ([`ballast_manifest::check_text`]), then composed and, for a `sim`
//! image, held against the host's compiled capacities ([`ballast::composition::for_host`]).
//! Anything must give a composition or typed errors naming key and fix, never a panic.
//!
//! Not run here: the simulated system `ballast check` builds last for an accepted `sim` image
//! (it keeps the memory server's bitmap for the process's life, so a run of millions of inputs
//! would exhaust memory); the memory-server and gateway targets run that build.

use std::path::Path;

/// Check `data` as a manifest file.
pub fn run(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.toml");
    if let Ok(manifest) = ballast_manifest::check_text(path, text, ballast_manifest::INTERFACES) {
        let _ = ballast::composition::for_host(&manifest);
    }
}
