//! Compiles in the composition of `manifests/sel4-xen-arm64.toml` through `ballast-manifest`, the
//! crate `ballast check` runs (a broken manifest fails the build with its messages), for every PD
//! and the plan they read their ABI from.

use std::process::ExitCode;

use ballast_system::Target;

fn main() -> ExitCode {
    let manifest = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("../../../manifests/sel4-xen-arm64.toml");
    match ballast_manifest::emit_for_build(&manifest, Target::Sel4XenArm64, "composition.rs") {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
