//! Build script of the `ballast` package: validates every manifest in `manifests/` against the
//! interfaces of `idl/` (a broken manifest fails the build with the very message `ballast check`
//! prints), then writes the interface catalog and the composition tables of the default manifest
//! `manifests/sim.toml` into `OUT_DIR` as const data for `ballast::manifest::generated`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The library's manifest validator, compiled from the same files (see `src/manifest/mod.rs`).
#[allow(
    dead_code,
    reason = "the library uses the parts the build script does not"
)]
#[path = "src/manifest"]
mod manifest {
    pub mod catalog;
    mod check_components;
    mod check_memory;
    mod check_regions;
    mod check_sizing;
    pub mod compose;
    pub mod emit;
    mod error;
    pub mod load;
    mod parse;
    mod schema;
    mod validate;
}

use ballast_idl_gen::LeaseMode;
use manifest::catalog::{InterfaceSpec, LeaseAccess, OpSpec};

const DEFAULT_MANIFEST: &str = "manifests/sim.toml";

fn main() -> ExitCode {
    for watched in ["manifests", "idl", "src/manifest"] {
        println!("cargo::rerun-if-changed={watched}");
    }
    let catalog = match ballast_idl_gen::load_dir(Path::new("idl")) {
        Ok(interfaces) => interfaces.iter().map(spec_of).collect::<Vec<_>>(),
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let mut broken = false;
    for path in manifest_paths() {
        if let Err(errors) = manifest::load::load_with(&path, &catalog) {
            broken = true;
            errors.iter().for_each(|error| eprintln!("{error}"));
        }
    }
    if broken {
        return ExitCode::FAILURE;
    }
    let Ok(default) = manifest::load::load_with(Path::new(DEFAULT_MANIFEST), &catalog) else {
        eprintln!("{DEFAULT_MANIFEST}: the default manifest is missing");
        return ExitCode::FAILURE;
    };
    let mut source = manifest::emit::catalog_const("INTERFACES", &catalog);
    let composition = manifest::compose::compose(&default);
    source.push_str(&manifest::emit::composition_const("SIM", &composition));
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(error) = std::fs::write(out_dir.join("manifest_tables.rs"), source) {
        eprintln!("cannot write the composition tables: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// `manifests/*.toml`, sorted.
fn manifest_paths() -> Vec<PathBuf> {
    let entries = std::fs::read_dir("manifests")
        .into_iter()
        .flatten()
        .flatten();
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| Path::new("manifests").join(entry.file_name()))
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "toml")
        })
        .collect();
    paths.sort();
    paths
}

/// What a manifest needs to know of one IDL interface.
fn spec_of(interface: &ballast_idl_gen::Interface) -> InterfaceSpec {
    let ops = interface.ops.iter().map(|op| OpSpec {
        name: Cow::Owned(op.name.clone()),
        id: op.id,
        capability: Cow::Owned(op.capability.clone()),
        lease: match op.lease.as_ref().map(|lease| lease.access) {
            None => LeaseAccess::None,
            Some(LeaseMode::Read) => LeaseAccess::Read,
            Some(LeaseMode::ReadWrite) => LeaseAccess::ReadWrite,
        },
    });
    InterfaceSpec {
        name: Cow::Owned(interface.name.clone()),
        id: interface.id,
        ops: Cow::Owned(ops.collect()),
    }
}
