//! For the loader binary (target aarch64-unknown-none): finds the two ELF files it carries from
//! `BALLAST_SEL4_KERNEL_ELF` and `BALLAST_SEL4_ROOT_TASK_ELF` (which `ballast image --kernel
//! sel4` sets), checks each with the loader's own ELF reader so that a bad file fails the build
//! rather than the boot, packs each to what the loader reads (no section headers, symbols or
//! debug information: the loader must end below the kernel's physical base) into OUT_DIR for
//! `include_bytes!`, and links with the loader's script. A host build (the library's tests)
//! needs neither file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[allow(
    dead_code,
    reason = "the build script checks and packs; the loader's other accessors are not used here"
)]
#[path = "src/elf.rs"]
mod elf;

/// The variables naming the carried files, with what each holds, the name of its packed copy in
/// OUT_DIR and the variable the loader's source reads that copy's path from.
const CARRIED: [(&str, &str, &str, &str); 2] = [
    (
        "BALLAST_SEL4_KERNEL_ELF",
        "the seL4 kernel ELF (target/sel4/kernel/kernel.elf)",
        "kernel.elf",
        "LOADER_KERNEL_ELF",
    ),
    (
        "BALLAST_SEL4_ROOT_TASK_ELF",
        "the root task ELF (ballast-sel4-root-task)",
        "root-task.elf",
        "LOADER_ROOT_TASK_ELF",
    ),
];

/// Check the file `variable` names and write its packed copy to `packed`.
fn carry(variable: &str, what: &str, packed: &Path) -> Result<(), String> {
    println!("cargo:rerun-if-env-changed={variable}");
    let hint = format!(
        "{variable} names {what}; `cargo run --release -- image --kernel sel4` from the \
         repository root builds it and sets {variable}"
    );
    let named =
        std::env::var_os(variable).ok_or_else(|| format!("{variable} is not set. {hint}"))?;
    let path = std::fs::canonicalize(&named)
        .map_err(|error| format!("{variable}={}: {error}. {hint}", named.to_string_lossy()))?;
    println!("cargo:rerun-if-changed={}", path.display());
    let bytes =
        std::fs::read(&path).map_err(|error| format!("{variable}={}: {error}", path.display()))?;
    let elf = elf::Elf::parse(&bytes).map_err(|error| {
        format!(
            "{variable}={}: not an ELF the loader can place ({error:?}). {hint}",
            path.display()
        )
    })?;
    let mut copy = vec![0; elf.packed_bytes()];
    elf.pack(&mut copy)
        .ok_or_else(|| format!("{variable}: the packed copy is not {} bytes", copy.len()))?;
    std::fs::write(packed, &copy)
        .map_err(|error| format!("cannot write {}: {error}", packed.display()))
}

fn main() -> ExitCode {
    println!("cargo:rerun-if-changed=linker.ld");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return ExitCode::SUCCESS;
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for (variable, what, name, source_name) in CARRIED {
        let packed = out.join(name);
        if let Err(message) = carry(variable, what, &packed) {
            eprintln!("ballast-sel4-loader: {message}");
            return ExitCode::FAILURE;
        }
        println!("cargo:rustc-env={source_name}={}", packed.display());
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
    ExitCode::SUCCESS
}
