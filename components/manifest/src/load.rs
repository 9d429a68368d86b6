//! Reading a manifest: file to text, text to schema, schema to a validated [`Manifest`].

use super::catalog::InterfaceSpec;
use super::error::{ManifestError, Problem};
use super::parse::parse;
use super::validate::{validate, Manifest};
use std::path::Path;

/// Reads and validates the manifest at `path` against the interfaces of `catalog`.
pub fn load_with(path: &Path, catalog: &[InterfaceSpec]) -> Result<Manifest, Vec<ManifestError>> {
    let text = std::fs::read_to_string(path).map_err(|reason| {
        vec![ManifestError {
            file: path.to_path_buf(),
            key: String::from("(file)"),
            problem: Problem::Unreadable {
                reason: reason.to_string(),
            },
        }]
    })?;
    check_text(path, &text, catalog)
}

/// Validates manifest `text`, reporting errors against `path`.
pub fn check_text(
    path: &Path,
    text: &str,
    catalog: &[InterfaceSpec],
) -> Result<Manifest, Vec<ManifestError>> {
    let spec = parse(path, text).map_err(|error| vec![*error])?;
    validate(path, spec, catalog)
}
