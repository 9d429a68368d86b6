//! Compiles in the composition of the image's manifest through `ballast-manifest`, the crate
//! `ballast check` runs: `manifests/xen-pvh.toml` when building for x86-64, and
//! `manifests/xen-arm64.toml` for arm64. A broken manifest fails the build with the messages
//! `ballast check` prints.

use std::process::ExitCode;

use ballast_system::Target;

fn main() -> ExitCode {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let (manifest, target) = match arch.as_str() {
        "aarch64" => ("manifests/xen-arm64.toml", Target::XenArm64),
        _ => ("manifests/xen-pvh.toml", Target::XenPvh),
    };
    let root = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("../../..");
    match ballast_manifest::emit_for_build(&root.join(manifest), target, "composition.rs") {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
