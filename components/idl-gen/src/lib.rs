//! ballast's IDL compiler, run from build scripts: reads `idl/*.idol` (TOML, after Hubris's Idol),
//! checks them, and generates Rust for `ballast-interfaces` through `quote` and `prettyplease`:
//! enums, message bodies, per-op encoders and decoders, blocking and deferred clients, server
//! traits and dispatch. The manifest validator uses [`load_dir`] to learn interfaces, ops and
//! the capabilities they need.
#![forbid(unsafe_code)]

mod error;
mod generate;
mod layout;
mod model;
mod parse;

pub use error::IdlError;
pub use generate::{generate, module_name};
pub use layout::{layout, Layout, Slot, MAX_BODY_BYTES};
pub use model::{
    EnumType, EnumVariant, ErrorVariant, Field, FieldType, Interface, Lease, LeaseMode, Op,
    ScalarType,
};
pub use parse::{load_dir, parse_file, parse_str, MAX_ERROR_VALUE};
