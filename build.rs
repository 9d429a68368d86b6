//! Build script of the `ballast` package: composes the manifests the host compiles in (the
//! default `manifests/sim.toml` and the other simulator images the scenarios run) and writes each
//! as a const composition module into `OUT_DIR`, through the same `ballast-manifest` crate
//! `ballast check` runs. Only these manifests can break the build; any other manifest is checked
//! at run time, where `ballast check` explains every error.

use std::process::ExitCode;

use ballast_system::Target;

/// The manifests compiled into the host, and the module each becomes.
const HOST_MANIFESTS: [(&str, &str); 5] = [
    ("manifests/sim.toml", "sim.rs"),
    ("manifests/sim-1tib.toml", "sim_1tib.rs"),
    ("manifests/sim-many-clients.toml", "sim_many_clients.rs"),
    ("manifests/sim-64-clients.toml", "sim_64_clients.rs"),
    ("manifests/sim-grants.toml", "sim_grants.rs"),
];

fn main() -> ExitCode {
    let root = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let mut status = ExitCode::SUCCESS;
    for (manifest, module) in HOST_MANIFESTS {
        if let Err(error) =
            ballast_manifest::emit_for_build(&root.join(manifest), Target::Sim, module)
        {
            eprintln!("{error}");
            status = ExitCode::FAILURE;
        }
    }
    status
}
