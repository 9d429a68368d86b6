//! For the loader binary (target aarch64-unknown-none): finds the two ELF files it carries from
//! `BALLAST_SEL4_KERNEL_ELF` and `BALLAST_SEL4_ROOT_TASK_ELF` (which `ballast image --kernel
//! sel4` sets), checks each with the loader's own ELF reader so that a bad file fails the build
//! rather than the boot, hands their absolute paths to `include_bytes!`, and links with the
//! loader's script. A host build (the library's tests) needs neither file.

use std::path::PathBuf;
use std::process::ExitCode;

#[allow(dead_code)]
#[path = "src/elf.rs"]
mod elf;

/// The variables naming the carried files, with what each holds and the variable the loader's
/// source reads the checked path from.
const CARRIED: [(&str, &str, &str); 2] = [
    (
        "BALLAST_SEL4_KERNEL_ELF",
        "the seL4 kernel ELF (target/sel4/kernel/kernel.elf)",
        "LOADER_KERNEL_ELF",
    ),
    (
        "BALLAST_SEL4_ROOT_TASK_ELF",
        "the root task ELF (ballast-sel4-root-task)",
        "LOADER_ROOT_TASK_ELF",
    ),
];

fn carried(variable: &str, what: &str) -> Result<PathBuf, String> {
    println!("cargo:rerun-if-env-changed={variable}");
    let hint = format!(
        "{variable} names {what}; `cargo run --release -- image --kernel sel4` from the \
         repository root builds it and sets the variable"
    );
    let named =
        std::env::var_os(variable).ok_or_else(|| format!("{variable} is not set: {hint}"))?;
    let path = std::fs::canonicalize(&named)
        .map_err(|error| format!("{variable}={}: {error}; {hint}", named.to_string_lossy()))?;
    let bytes =
        std::fs::read(&path).map_err(|error| format!("{variable}={}: {error}", path.display()))?;
    elf::Elf::parse(&bytes).map_err(|error| {
        format!(
            "{variable}={}: not an ELF the loader can place ({error:?}); {hint}",
            path.display()
        )
    })?;
    println!("cargo:rerun-if-changed={}", path.display());
    Ok(path)
}

fn main() -> ExitCode {
    println!("cargo:rerun-if-changed=linker.ld");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return ExitCode::SUCCESS;
    }
    for (variable, what, source_name) in CARRIED {
        match carried(variable, what) {
            Ok(path) => println!("cargo:rustc-env={source_name}={}", path.display()),
            Err(message) => {
                eprintln!("ballast-sel4-loader: {message}");
                return ExitCode::FAILURE;
            }
        }
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
    ExitCode::SUCCESS
}
