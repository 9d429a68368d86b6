//! Reading a manifest: file to text, text to schema, schema to a validated [`Manifest`] whose
//! composition the memory server's assembly accepts.

use super::catalog::InterfaceSpec;
use super::check_assembly;
use super::compose::compose;
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

/// Validates manifest `text`, reporting errors against `path`, then tries the memory server's
/// assembly on its composition.
pub fn check_text(
    path: &Path,
    text: &str,
    catalog: &[InterfaceSpec],
) -> Result<Manifest, Vec<ManifestError>> {
    let spec = parse(path, text).map_err(|error| vec![*error])?;
    let manifest = validate(path, spec, catalog)?;
    let errors = check_assembly::check(&manifest, &compose(&manifest));
    if errors.is_empty() {
        Ok(manifest)
    } else {
        Err(errors)
    }
}
