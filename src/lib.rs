//! The `ballast` library behind the CLI: system-image manifests and their composition tables,
//! and systems composed from them to run on the host.
#![forbid(unsafe_code)]

pub mod bench;
pub mod checkout;
pub mod manifest;
pub mod sim;
pub mod system;
