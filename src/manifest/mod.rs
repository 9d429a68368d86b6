//! System-image manifests (`manifests/*.toml`): the schema, semantic validation with errors that
//! name file, key and fix, and the generated composition tables (component ids, endpoints with
//! badges and allowed ops, regions, quotas, memory layout).
//!
//! The build script includes the same source files (all but this one and `generated`) with
//! `#[path]`, so the validator that fails a build is byte for byte the one `ballast check` runs.

mod catalog;
mod check_components;
mod check_memory;
mod check_regions;
mod check_sizing;
mod compose;
mod emit;
mod error;
pub mod generated;
mod ipc;
mod load;
mod parse;
mod schema;
mod validate;

pub use catalog::{InterfaceSpec, LeaseAccess, OpSpec};
pub use check_regions::FRAME_ENTRY_BYTES;
pub use check_sizing::MAX_EXTENT_ORDER;
pub use compose::{compose, ComponentEntry, Composition, EndpointEntry, Grant, RegionEntry};
pub use emit::{catalog_const, composition_const};
pub use error::{ManifestError, Problem};
pub use ipc::IpcTables;
pub use load::{check_text, load_with};
pub use schema::{
    ComponentSection, GfnRange, ImageSection, Kind, ManifestFile, MemoryLayout, NamedRange, Policy,
    RamSource, RegionSection, ServerSizing, SimHost, Target, UseSection, XenLimits,
};
pub use validate::{Link, Manifest};

use std::path::Path;

/// Reads and validates the manifest at `path` against the interfaces this build was made with.
pub fn load(path: impl AsRef<Path>) -> Result<Manifest, Vec<ManifestError>> {
    load_with(path.as_ref(), generated::INTERFACES)
}
