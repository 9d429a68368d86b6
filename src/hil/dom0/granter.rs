//! Builds `ballast-granter` (`tools/dom0-granter`), the dom0's side of the grant rounds, for the
//! dom0's initramfs: a release build for the host's x86-64 Linux, whose glibc is Debian
//! bookworm's as in the dom0's packages, in its own target directory (so the build never waits
//! on the lock of the cargo that runs `ballast`).

use std::path::{Path, PathBuf};

use crate::hil::image::cargo_build;

/// The granter's package.
const PACKAGE: &str = "ballast-dom0-granter";
/// Its binary.
const BINARY: &str = "ballast-granter";
/// The dom0's target.
const TRIPLE: &str = "x86_64-unknown-linux-gnu";
/// Its target directory, relative to the checkout.
const TARGET_DIR: &str = "target/dom0-granter";

/// Build the granter in the checkout `root`; the binary's path.
pub fn build(root: &Path) -> Result<PathBuf, String> {
    let target_dir = root.join(TARGET_DIR);
    let status = cargo_build(root, TRIPLE)
        .args(["--locked", "-p", PACKAGE])
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if !status.success() {
        return Err(format!("building {PACKAGE} failed ({status})"));
    }
    Ok(target_dir.join(TRIPLE).join("release").join(BINARY))
}
