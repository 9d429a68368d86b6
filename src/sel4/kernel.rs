//! The kernel build step: seL4 5.0 for ballast's platform `armvirt` (an arm64 Xen 4.17 dom0less
//! guest: one Cortex-A57 vCPU, Xen's virtual GICv2, its vpl011 console, the EL1 virtual timer),
//! built by the kernel's own standalone Makefile with Debian's aarch64 cross compiler into
//! `target/sel4/kernel/kernel.elf`, from the patched tree `target/sel4/source`.
//!
//! A patched seL4 is not the verified kernel: seL4's proofs cover its own configurations, and
//! ballast's platform and patches (`images/sel4/kernel/patches`) are outside them.
//!
//! The Makefile's variables: `ARCH=arm SEL4_ARCH=aarch64 PLAT=armvirt CPU=cortex-a57
//! ARMV=armv8-a`, `TOOLPREFIX=aarch64-linux-gnu-`, `DEBUG=y` (the console behind
//! `seL4_DebugPutChar`); `CIRCULAR_INCLUDES=true` skips a lint of the preprocessed kernel whose
//! parser does not understand gcc 12's line markers. One job: the build is one large compile
//! (6.1 s with one job, 6.0 s with two, measured), and two jobs can race on the parse table the
//! bitfield generator's python parser writes into the build directory.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::source;

/// Everything the step writes, from the checkout's root.
pub const WORK_DIR: &str = "target/sel4";
/// The patched tree: the directory holding `libsel4/` (`BALLAST_SEL4_SOURCE` for the crates that
/// generate bindings from it).
pub const SOURCE_DIR: &str = "target/sel4/source";
/// What the tree in [`SOURCE_DIR`] was made from.
const SOURCE_STAMP: &str = "target/sel4/source.stamp";
/// The Makefile's working directory: generated headers, the preprocessed kernel, objects.
const BUILD_DIR: &str = "target/sel4/kernel/build";
/// The kernel (`BALLAST_SEL4_KERNEL_ELF`), with its symbols.
pub const KERNEL_ELF: &str = "target/sel4/kernel/kernel.elf";
/// Held while a build runs, so that two `ballast` processes do not build into one directory.
const LOCK: &str = "target/sel4/build.lock";
/// What seL4 5.0's Makefile is told (the module documentation says why).
const MAKE_VARIABLES: [&str; 11] = [
    "ARCH=arm",
    "SEL4_ARCH=aarch64",
    "PLAT=armvirt",
    "CPU=cortex-a57",
    "ARMV=armv8-a",
    "TOOLPREFIX=aarch64-linux-gnu-",
    "DEBUG=y",
    "PYTHON=python3",
    "CIRCULAR_INCLUDES=true",
    "-j1",
    "kernel.elf",
];
/// The cross compiler the Makefile runs.
const CROSS_COMPILER: &str = "aarch64-linux-gnu-gcc";

/// What the build step produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelBuild {
    /// The patched seL4 5.0 tree (the directory holding `libsel4/`).
    pub source: PathBuf,
    /// The kernel ELF, linked at 0xffffff8000000000 and loaded at the physical address its
    /// program headers give (`physBase`, 0x40200000).
    pub kernel_elf: PathBuf,
}

/// Check that the programs the Makefile runs are there; the error names the missing one and the
/// setup script that installs it.
fn check_tools() -> Result<(), String> {
    let tools: [(&str, &[&str]); 5] = [
        ("make", &["--version"]),
        ("patch", &["--version"]),
        (CROSS_COMPILER, &["--version"]),
        ("xmllint", &["--version"]),
        ("python3", &["-c", "import ply, six, tempita"]),
    ];
    for (program, args) in tools {
        let works = Command::new(program)
            .args(args)
            .output()
            .is_ok_and(|output| output.status.success());
        if !works {
            return Err(format!(
                "`{program} {}` failed: the seL4 kernel build needs make, patch, {CROSS_COMPILER}, \
                 xmllint and python3 with ply, six and Tempita (./scripts/setup-sel4 installs them)",
                args.join(" ")
            ));
        }
    }
    Ok(())
}

/// Remove `dir` and everything in it, if it is there.
fn remove_dir(dir: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(dir) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("cannot remove {}: {error}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Run seL4 5.0's Makefile on `source` in `build_dir`.
fn make(source: &Path, build_dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(build_dir)
        .map_err(|error| format!("cannot create {}: {error}", build_dir.display()))?;
    let output = Command::new("make")
        .current_dir(build_dir)
        .arg("-f")
        .arg(source.join("Makefile"))
        .arg(format!("SOURCE_ROOT={}", source.display()))
        .args(MAKE_VARIABLES)
        .output()
        .map_err(|error| format!("cannot run make: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "building the seL4 kernel in {} failed ({}):\n{}{}",
            build_dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}

/// Build the kernel for the checkout at `checkout_root`: fetch the seL4 5.0 sources through
/// cargo, make the patched tree in `target/sel4/source` (kept when it was made from the same
/// sources, platform and patches), and run the kernel's Makefile (incremental: nothing is
/// recompiled when nothing changed). The kernel lands in `target/sel4/kernel/kernel.elf`.
pub fn build_kernel(checkout_root: &Path) -> Result<KernelBuild, String> {
    check_tools()?;
    let work = checkout_root.join(WORK_DIR);
    std::fs::create_dir_all(&work)
        .map_err(|error| format!("cannot create {}: {error}", work.display()))?;
    let lock = checkout_root.join(LOCK);
    let lock = File::create(&lock)
        .and_then(|file| file.lock().map(|()| file))
        .map_err(|error| format!("cannot lock {}: {error}", lock.display()))?;
    let upstream = source::upstream(checkout_root)?;
    let source = checkout_root.join(SOURCE_DIR);
    let build_dir = checkout_root.join(BUILD_DIR);
    let stamp = checkout_root.join(SOURCE_STAMP);
    if source::prepare(checkout_root, &upstream, &source, &stamp)? {
        remove_dir(&build_dir)?;
    }
    make(&source, &build_dir)?;
    let kernel_elf = checkout_root.join(KERNEL_ELF);
    std::fs::copy(build_dir.join("kernel.elf"), &kernel_elf).map_err(|error| {
        format!(
            "cannot copy the kernel to {}: {error}",
            kernel_elf.display()
        )
    })?;
    drop(lock);
    Ok(KernelBuild { source, kernel_elf })
}
