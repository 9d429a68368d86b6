//! The `ballast` library behind the CLI: system-image manifests and their composition tables.
#![forbid(unsafe_code)]

pub mod manifest;
