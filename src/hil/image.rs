//! `ballast image`: check a real-Xen image's manifest and build the image with the memory-server
//! app (whose build script compiles the manifest's composition in), without booting it, for an
//! integrator who boots the image elsewhere (`xl create manifests/xen-pvh-domu.cfg`, or a dom0less
//! device tree on an arm64 board). `ballast hil` builds the same image with the HIL test app.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use ballast::sel4::image as sel4_image;
use ballast_system::Target;

use super::arm64::{device_tree, machine};
use super::{EXIT_SETUP, EXIT_USAGE};

/// The manifest the x86-64 PVH image hosts.
pub const PVH_MANIFEST: &str = "manifests/xen-pvh.toml";
/// The manifest the arm64 image hosts.
pub const ARM64_MANIFEST: &str = "manifests/xen-arm64.toml";

const USAGE: &str = "usage: ballast image [--arch x86_64|aarch64 | --kernel sel4]";

/// The architectures there is an image for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// x86-64, booted as a PVH domain (`images/xen-pvh`, `manifests/xen-pvh.toml`).
    X86_64,
    /// arm64, booted as a dom0less domU (`images/xen-arm64`, `manifests/xen-arm64.toml`).
    Aarch64,
}

impl Arch {
    /// The architecture `--arch` names.
    pub fn parse(name: &str) -> Result<Arch, String> {
        match name {
            "x86_64" => Ok(Arch::X86_64),
            "aarch64" => Ok(Arch::Aarch64),
            other => Err(format!("--arch {other}: expected x86_64 or aarch64")),
        }
    }

    /// Where the image is built and (arm64) Xen kept.
    pub fn work_dir(self) -> &'static str {
        match self {
            Arch::X86_64 => "target/xen-pvh",
            Arch::Aarch64 => machine::WORK_DIR,
        }
    }

    /// The image's crate directory, its Rust target, its manifest and the manifest's
    /// `image.target` (the image's binary is `ballast-<image.target>`).
    fn parts(self) -> (&'static str, &'static str, &'static str, Target) {
        match self {
            Arch::X86_64 => (
                "images/xen-pvh",
                "x86_64-unknown-none",
                PVH_MANIFEST,
                Target::XenPvh,
            ),
            Arch::Aarch64 => (
                machine::IMAGE_DIR,
                machine::TARGET,
                ARM64_MANIFEST,
                Target::XenArm64,
            ),
        }
    }
}

/// The app an image runs once booted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum App {
    /// The memory-server app (`images/apps/memory-server`): what `ballast image` builds.
    MemoryServer,
    /// The HIL test app (`images/apps/hil-test`, the image's `hil-test` feature): what
    /// `ballast hil` builds.
    HilTest,
}

impl App {
    /// The app `--app` names.
    pub fn parse(name: &str) -> Result<App, String> {
        match name {
            "memory-server" => Ok(App::MemoryServer),
            "hil-test" => Ok(App::HilTest),
            other => Err(format!("--app {other}: expected memory-server or hil-test")),
        }
    }

    /// Where the image with this app is built (and, on arm64, flattened): each app has its own
    /// target directory, so that building one never replaces the other's ELF.
    pub fn build_dir(self, arch: Arch) -> String {
        match self {
            App::MemoryServer => arch.work_dir().to_string(),
            App::HilTest => format!("{}-hil-test", arch.work_dir()),
        }
    }

    /// The image crate's cargo features that select the app.
    fn features(self) -> &'static [&'static str] {
        match self {
            App::MemoryServer => &[],
            App::HilTest => &["--features", "hil-test"],
        }
    }
}

/// `cargo build --release --target TRIPLE` in `dir` (the cargo running `ballast`, if any),
/// without the caller's RUSTFLAGS and build target: a build for another target (an image, the
/// dom0's granter) takes its own, from its directory's `.cargo/config.toml` where it has one.
pub fn cargo_build(dir: &Path, triple: &str) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(dir)
        .args(["build", "--release", "--target", triple])
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET");
    command
}

/// Check `arch`'s manifest (every error explained, as `ballast check` does) and build its image
/// with `app` under `root`; returns the ELF's path.
pub fn build(root: &Path, arch: Arch, app: App) -> Result<PathBuf, String> {
    let (image_dir, triple, manifest, target) = arch.parts();
    let work = root.join(app.build_dir(arch));
    std::fs::create_dir_all(&work)
        .map_err(|error| format!("cannot create {}: {error}", work.display()))?;
    ballast_manifest::composition_for(&root.join(manifest), target)?;
    let image_dir = root.join(image_dir);
    // From the image's directory, so that its `.cargo/config.toml` (code model, relocation,
    // DEFMT_LOG) applies.
    let status = cargo_build(&image_dir, triple)
        .args(["--manifest-path", "Cargo.toml"])
        .args(app.features())
        .arg("--target-dir")
        .arg(&work)
        .status()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if !status.success() {
        return Err(format!(
            "building the image in {} failed ({status})",
            image_dir.display()
        ));
    }
    let binary = format!("ballast-{}", target.as_str());
    Ok(work.join(triple).join("release").join(binary))
}

/// Run `ballast image` with `args` (after the subcommand).
pub fn run(args: &[String]) -> ExitCode {
    let arch = match args {
        [] => Ok(Arch::X86_64),
        [flag, name] if flag == "--arch" => Arch::parse(name),
        [flag, name] if flag == "--kernel" && name == "sel4" => return sel4_image(),
        [flag, name] if flag == "--kernel" => Err(format!("--kernel {name}: expected sel4")),
        _ => Err(format!("unexpected arguments: {}", args.join(" "))),
    };
    let arch = match arch {
        Ok(arch) => arch,
        Err(message) => {
            eprintln!("ballast image: {message}\n{USAGE}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let Some(root) = &crate::checkout_root("ballast image") else {
        return ExitCode::from(EXIT_SETUP);
    };
    let built = build(root, arch, App::MemoryServer).and_then(|elf| match arch {
        Arch::X86_64 => Ok((elf, None)),
        Arch::Aarch64 => {
            let flat = root.join(machine::WORK_DIR).join(machine::FLAT_IMAGE);
            flat_image(&elf, &flat, device_tree::DOMAIN_MEMORY_KIB, false)
                .map(|node| (elf, Some((flat, node))))
        }
    });
    match built {
        Ok((elf, flat)) => {
            println!("ballast image: {}", elf.display());
            if let Some((flat, node)) = flat {
                report_flat(&flat, &node, "");
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("ballast image: {message}");
            ExitCode::from(EXIT_SETUP)
        }
    }
}

/// Flatten the arm64 ELF `elf` into the Image Xen loads, at `flat`; the `xen,domain` node that
/// boots it as `ballast hil` does, with `memory_kib` of memory and (for the seL4 kernel's console)
/// a `vpl011`.
fn flat_image(elf: &Path, flat: &Path, memory_kib: u64, vpl011: bool) -> Result<String, String> {
    let objcopy = machine::find_objcopy()?;
    machine::flatten(&objcopy, elf, flat)?;
    let module_bytes = std::fs::metadata(flat)
        .map_err(|error| format!("cannot stat {}: {error}", flat.display()))?
        .len();
    device_tree::domain_node(&device_tree::Domain {
        memory_kib,
        module_address: machine::MODULE_ADDRESS,
        module_bytes,
        bootargs: String::new(),
        vpl011,
    })
}

/// Say where the flat Image `flat` is and the domain node `node` that boots it.
fn report_flat(flat: &Path, node: &str, host: &str) {
    println!(
        "ballast image: {} (flat, for the xen,domain module{host})",
        flat.display()
    );
    println!(
        "ballast image: the domain's node under /chosen of a dom0less device tree, \
         with the flat Image loaded at {:#x}:\n{node}",
        machine::MODULE_ADDRESS
    );
}

/// `ballast image --kernel sel4`: the seL4 image with the product's programs, flattened, and the
/// `xen,domain` node that boots it.
fn sel4_image() -> ExitCode {
    let Some(root) = &crate::checkout_root("ballast image") else {
        return ExitCode::from(EXIT_SETUP);
    };
    let built = sel4_image::build(root, sel4_image::Variant::Product).and_then(|image| {
        let flat = image.loader.with_extension("bin");
        let node = flat_image(&image.loader, &flat, sel4_image::DOMAIN_MEMORY_KIB, true)?;
        let sizes = ballast::sel4::sizes::report(&image, &flat)?;
        Ok((image, flat, node, sizes))
    });
    match built {
        Ok((image, flat, node, sizes)) => {
            println!(
                "ballast image: kernel {}",
                image.kernel.kernel_elf.display()
            );
            for domain in &image.domains {
                println!(
                    "ballast image: protection domain {} {}",
                    domain.component,
                    domain.elf.display()
                );
            }
            println!("ballast image: root task {}", image.root_task.display());
            println!("ballast image: loader {}", image.loader.display());
            for line in sizes {
                println!("ballast image: {line}");
            }
            report_flat(&flat, &node, "; a GICv2 host: seL4 5.0 drives no GICv3");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("ballast image: {message}");
            ExitCode::from(EXIT_SETUP)
        }
    }
}
