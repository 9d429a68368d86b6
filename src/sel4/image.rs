//! The seL4 system image, built in the order its parts need each other: the kernel and the
//! patched tree the bindings are generated from ([`build_kernel`]); one ELF per component of
//! `manifests/sel4-xen-arm64.toml`, its protection domain's program (`images/sel4/pds/`); the
//! root task, which carries those ELFs and builds the protection domains from the composition
//! (`images/sel4/root-task`); the loader, which carries the kernel and the root task
//! (`images/sel4/loader`), which flattened is the arm64 Image Xen boots as a dom0less domU. Each
//! crate learns its inputs from the environment variables this step sets, and every
//! build runs from the crate's own directory so that its `.cargo/config.toml` applies. The
//! product and the HIL variant ([`Variant`]) are built into directories of their own.

use std::path::{Path, PathBuf};
use std::process::Command;

use ballast_system::{Component, Kind, Target};

use super::kernel::{build_kernel, KernelBuild};

/// The manifest the seL4 image hosts.
pub const MANIFEST: &str = "manifests/sel4-xen-arm64.toml";
/// The domU's memory in KiB: the RAM the kernel's platform `armvirt` is built for
/// (0x40000000..0x50000000).
pub const DOMAIN_MEMORY_KIB: u64 = 256 * 1024;
/// The Rust target of every program in the image.
pub const TARGET: &str = "aarch64-unknown-none";
/// The protection domains' crates, from the checkout's root.
const PDS_DIR: &str = "images/sel4/pds";
/// The root task's crate and binary.
const ROOT_TASK: (&str, &str) = ("images/sel4/root-task", "ballast-sel4-root-task");
/// The loader's crate and binary.
const LOADER: (&str, &str) = ("images/sel4/loader", "ballast-sel4-loader");

/// One protection domain's program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainProgram {
    /// The component it runs, as the manifest names it (and its log lines name it).
    pub component: String,
    /// The program: `gateway`, `memory`, `driver` (the scenario's control agent and test
    /// client, each of which reports a verdict), or `standin` (a driver client that serves).
    pub program: &'static str,
    /// Its ELF.
    pub elf: PathBuf,
}

/// What [`build`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sel4Image {
    /// The loader's ELF: flattened (`objcopy -O binary`), the arm64 Image Xen loads as the domU's
    /// kernel.
    pub loader: PathBuf,
    /// The root task's ELF.
    pub root_task: PathBuf,
    /// The kernel and the tree it was built from.
    pub kernel: KernelBuild,
    /// Every component's program, in component order.
    pub domains: Vec<DomainProgram>,
}

/// Which programs an image carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The product (`ballast image --kernel sel4`, and what `ballast hil --kernel sel4 --app
    /// memory-server` boots): the control agent balloons to the boot target and the memory
    /// server serves, into `target/sel4/image`.
    Product,
    /// With the HIL test app's Xen-facts phase, which the memory server's PD plays before it
    /// serves, the hole it populates past the maximum among the gateway's ranges, and the
    /// scenario the control agent and the test client play (their feature `hil-test`; `ballast
    /// hil --kernel sel4`), into `target/sel4/image-hil-test`.
    HilTest,
}

impl Variant {
    /// Where the variant is built, from the checkout's root (apart, so that neither rebuilds
    /// the other's programs).
    pub const fn work_dir(self) -> &'static str {
        match self {
            Variant::Product => "target/sel4/image",
            Variant::HilTest => "target/sel4/image-hil-test",
        }
    }

    /// The cargo features `program` is built with.
    fn features(self, program: &str) -> &'static [&'static str] {
        match (self, program) {
            (Variant::HilTest, "gateway" | "memory" | "driver" | "standin") => &["hil-test"],
            _ => &[],
        }
    }
}

/// The protection domain program (its crate under [`PDS_DIR`] and binary, of one name) that runs
/// `component`: a driver client that serves an interface is the stand-in server the test client
/// lends to read-only.
fn domain_program(component: &Component) -> &'static str {
    match component.kind {
        Kind::HypercallGateway => "gateway",
        Kind::MemoryServer => "memory",
        Kind::DriverClient if !component.serves.is_empty() => "standin",
        Kind::DriverClient | Kind::ControlAgent => "driver",
    }
}

/// Build `variant` of the seL4 image of the checkout at `root` into the variant's work directory.
pub fn build(root: &Path, variant: Variant) -> Result<Sel4Image, String> {
    let composition =
        ballast_manifest::composition_for(&root.join(MANIFEST), Target::Sel4XenArm64)?;
    let kernel = build_kernel(root)?;
    let work = root.join(variant.work_dir());
    let domain_dir = work.join("domains");
    std::fs::create_dir_all(&domain_dir)
        .map_err(|error| format!("cannot create {}: {error}", domain_dir.display()))?;
    let mut domains = Vec::new();
    for component in composition.components {
        let program = domain_program(component);
        let built = cargo_build(
            &root.join(PDS_DIR).join(program),
            (program, variant.features(program)),
            &work.join("pds"),
            &environment(&kernel, &[]),
        )?;
        let elf = domain_dir.join(component.name);
        std::fs::copy(&built, &elf).map_err(|error| {
            format!(
                "cannot copy {} to {}: {error}",
                built.display(),
                elf.display()
            )
        })?;
        domains.push(DomainProgram {
            component: component.name.to_string(),
            program,
            elf,
        });
    }
    let root_task = cargo_build(
        &root.join(ROOT_TASK.0),
        (ROOT_TASK.1, &[]),
        &work.join("root-task"),
        &environment(&kernel, &[("BALLAST_SEL4_PD_DIR", &domain_dir)]),
    )?;
    let loader = cargo_build(
        &root.join(LOADER.0),
        (LOADER.1, &[]),
        &work.join("loader"),
        &environment(
            &kernel,
            &[
                ("BALLAST_SEL4_KERNEL_ELF", &kernel.kernel_elf),
                ("BALLAST_SEL4_ROOT_TASK_ELF", &root_task),
            ],
        ),
    )?;
    Ok(Sel4Image {
        loader,
        root_task,
        kernel,
        domains,
    })
}

/// The variables a crate of the image is built with: the patched tree and `extra`.
fn environment(
    kernel: &KernelBuild,
    extra: &[(&'static str, &Path)],
) -> Vec<(&'static str, PathBuf)> {
    let mut variables = vec![("BALLAST_SEL4_SOURCE", kernel.source.clone())];
    variables.extend(extra.iter().map(|&(name, path)| (name, path.to_path_buf())));
    variables
}

/// `cargo build --release` of `binary` with `features` in the crate at `dir` for [`TARGET`],
/// into `target_dir`, with the environment `variables`; the ELF's path.
fn cargo_build(
    dir: &Path,
    (binary, features): (&str, &[&str]),
    target_dir: &Path,
    variables: &[(&str, PathBuf)],
) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(dir)
        .args(["build", "--release", "--manifest-path", "Cargo.toml"])
        .args(["--target", TARGET, "--bin", binary])
        .args(features.iter().flat_map(|feature| ["--features", feature]))
        .arg("--target-dir")
        .arg(target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET");
    for (name, value) in variables {
        command.env(name, value);
    }
    let status = command
        .status()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if !status.success() {
        return Err(format!(
            "building {binary} in {} failed ({status})",
            dir.display()
        ));
    }
    Ok(target_dir.join(TARGET).join("release").join(binary))
}
