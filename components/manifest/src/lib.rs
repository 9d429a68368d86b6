//! System-image manifests (`manifests/*.toml`): the schema, semantic validation with errors that
//! name file, key and fix, composition into `ballast_system::Composition` (ids, badges, grants,
//! regions, layout, sizing), the assembly tried on it (`ballast_system`'s own checks, and a
//! target's compiled capacities), and the one emitter of the `no_std` composition module a target
//! compiles in. Build scripts use this crate as a build-dependency; `ballast check` runs the same
//! code, so the validator that fails a build is the one that explains the failure.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

mod catalog;
mod check_assembly;
mod check_components;
mod check_memory;
mod check_notifications;
mod check_regions;
mod check_sizing;
mod compose;
mod emit;
mod error;
mod load;
mod parse;
mod schema;
mod validate;

pub use catalog::{InterfaceSpec, LeaseAccess, OpSpec};
pub use check_assembly::capacity_errors;
pub use check_regions::FRAME_ENTRY_BYTES;
pub use check_sizing::MAX_EXTENT_ORDER;
pub use compose::compose;
pub use emit::composition_const;
pub use error::{ManifestError, Problem};
pub use load::{check_text, load_with};
pub use schema::{
    ComponentSection, GfnRange, ImageSection, ManifestFile, MemorySection, NamedRange,
    RegionSection, UseSection,
};
pub use validate::{Link, Manifest};

use std::path::Path;

use ballast_system::{Composition, Target};

include!(concat!(env!("OUT_DIR"), "/catalog.rs"));

/// Reads and validates the manifest at `path` against the interfaces this build was made with.
pub fn load(path: impl AsRef<Path>) -> Result<Manifest, Vec<ManifestError>> {
    load_with(path.as_ref(), INTERFACES)
}

/// Reads, validates and composes the manifest at `path`, which must describe an image for
/// `target`: every error, one per line, as `ballast check` prints them.
pub fn composition_for(path: &Path, target: Target) -> Result<Composition, String> {
    let manifest = load(path).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        lines.join("\n")
    })?;
    if manifest.spec.image.target != target {
        return Err(format!(
            "{}: image.target is \"{}\", but this build is for \"{}\"",
            path.display(),
            manifest.spec.image.target.as_str(),
            target.as_str()
        ));
    }
    Ok(compose(&manifest))
}

/// For a build script: the composition of the manifest at `path` (for `target`) as the module
/// `file` in `OUT_DIR`, with `cargo::rerun-if-changed` for the manifest.
pub fn emit_for_build(path: &Path, target: Target, file: &str) -> Result<(), String> {
    println!("cargo::rerun-if-changed={}", path.display());
    let composition = composition_for(path, target)?;
    let origin = path.file_name().map_or_else(
        || path.display().to_string(),
        |name| format!("manifests/{}", name.to_string_lossy()),
    );
    let source = composition_const("COMPOSITION", &composition, &origin);
    let out_dir = std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set: not in a build script")?;
    let out = Path::new(&out_dir).join(file);
    std::fs::write(&out, source).map_err(|error| format!("cannot write {}: {error}", out.display()))
}
