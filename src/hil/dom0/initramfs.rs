//! The dom0's initramfs, from the packages `scripts/setup-dom0` unpacked: busybox, the Xen
//! kernel modules Debian builds as modules, the toolstack binaries with every shared library
//! they load (their `DT_NEEDED`, transitively, and glibc's run-time `libgcc_s`), `xl.conf`, the
//! ballast domU's ELF and config, the project's `/init`, the step list, and `ballast-granter`
//! (its libraries resolved from the same package tree) with the grant rounds, as a gzip'd newc
//! cpio.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::cpio::{Node, Tree};
use super::elf;
use super::packages::Packages;
use super::plan::{DomuConfig, GrantRound, Step, DOMU_CONFIG, DOMU_KERNEL, GRANTER};

/// The project's `/init`.
const INIT: &str = include_str!("init.sh");
/// Where the initramfs keeps shared libraries (also `/init`'s LD_LIBRARY_PATH).
const LIBRARY_DIR: &str = "lib/x86_64-linux-gnu";
/// The Xen modules `/init` loads, in order, under the kernel's `drivers/xen/`.
const MODULES: [&str; 5] = [
    "xen-privcmd.ko",
    "xenfs/xenfs.ko",
    "xen-evtchn.ko",
    "xen-gntdev.ko",
    "xen-gntalloc.ko",
];
/// The toolstack: Xen 4.17's private binaries the dom0 runs (`xenconsole` is `xl console`'s
/// client, `xentop` reads Xen's reservation).
const XEN_BINARIES: [&str; 7] = [
    "xl",
    "xenstored",
    "xen-init-dom0",
    "xenconsoled",
    "xenconsole",
    "xentop",
    "xenstore-control",
];
const XEN_BIN_DIR: &str = "usr/lib/xen-4.17/bin";
/// The xenstore client, one binary that acts by the name it is run as.
const XENSTORE_NAMES: [&str; 8] = [
    "read", "write", "ls", "list", "rm", "exists", "chmod", "watch",
];
/// Loaded by glibc at run time (thread cancellation), so in no DT_NEEDED: xl aborts without it.
const RUNTIME_LIBRARIES: [&str; 1] = ["libgcc_s.so.1"];

/// What goes into the initramfs beyond the packages.
#[derive(Debug)]
pub struct Contents<'a> {
    /// The ballast domU's ELF.
    pub domu_elf: &'a Path,
    /// Its xl config.
    pub domu_config: &'a DomuConfig,
    /// The admin's commands.
    pub steps: &'a [Step],
    /// `ballast-granter`, built for the host (the dom0's glibc is the host's).
    pub granter: &'a Path,
    /// The grant rounds it runs.
    pub grant_rounds: &'a [GrantRound],
    /// `/etc/ballast/run.conf`: shell assignments `/init` reads.
    pub run_conf: String,
}

/// What was built.
#[derive(Debug)]
pub struct Built {
    /// The gzip'd archive.
    pub path: PathBuf,
    /// Bytes of files in it, unpacked.
    pub unpacked_bytes: usize,
    /// The shared libraries it carries.
    pub libraries: Vec<String>,
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))
}

fn file(data: Vec<u8>, executable: bool) -> Node {
    Node::File { data, executable }
}

/// Build the initramfs from `packages` and `contents` at `out` (a gzip'd cpio).
pub fn build(packages: &Packages, contents: &Contents<'_>, out: &Path) -> Result<Built, String> {
    let root = &packages.root;
    let mut tree = Tree::default();
    for dir in [
        "proc",
        "sys",
        "dev",
        "run",
        "tmp",
        "var/lib/xen",
        "var/log/xen",
    ] {
        tree.insert(dir, Node::Dir);
    }
    tree.insert("dev/console", Node::CharDevice { major: 5, minor: 1 });
    tree.insert("init", file(INIT.as_bytes().to_vec(), true));
    tree.insert("bin/busybox", file(read(&root.join("bin/busybox"))?, true));
    tree.insert("bin/sh", Node::Symlink("busybox".into()));
    let drivers = packages.modules_dir.join("kernel/drivers/xen");
    for module in MODULES {
        let name = module.rsplit('/').next().unwrap_or(module);
        tree.insert(
            &format!("lib/modules/{name}"),
            file(read(&drivers.join(module))?, false),
        );
    }
    let mut executables = Vec::new();
    for binary in XEN_BINARIES {
        let path = format!("{XEN_BIN_DIR}/{binary}");
        executables.push(root.join(&path));
        tree.insert(&path, file(read(&root.join(&path))?, true));
    }
    executables.push(root.join("usr/bin/xenstore"));
    tree.insert(
        "usr/bin/xenstore",
        file(read(&root.join("usr/bin/xenstore"))?, true),
    );
    for name in XENSTORE_NAMES {
        tree.insert(
            &format!("usr/bin/xenstore-{name}"),
            Node::Symlink("xenstore".into()),
        );
    }
    tree.insert(
        "etc/xen/xl.conf",
        file(read(&root.join("etc/xen/xl.conf"))?, false),
    );
    executables.push(contents.granter.to_path_buf());
    tree.insert(GRANTER, file(read(contents.granter)?, true));
    let libraries = add_libraries(&mut tree, root, &executables)?;
    tree.insert(DOMU_KERNEL, file(read(contents.domu_elf)?, false));
    tree.insert(
        DOMU_CONFIG,
        file(contents.domu_config.text.clone().into_bytes(), false),
    );
    let steps: String = (contents.steps.iter())
        .map(|step| step.init_line() + "\n")
        .collect();
    tree.insert("etc/ballast/steps", file(steps.into_bytes(), false));
    let rounds: String = (contents.grant_rounds.iter())
        .map(|round| round.init_line() + "\n")
        .collect();
    tree.insert("etc/ballast/grants", file(rounds.into_bytes(), false));
    tree.insert(
        "etc/ballast/run.conf",
        file(contents.run_conf.clone().into_bytes(), false),
    );
    gzip(&tree.archive(), out)?;
    Ok(Built {
        path: out.to_path_buf(),
        unpacked_bytes: tree.file_bytes(),
        libraries,
    })
}

/// Add every library `executables` load (their interpreter and DT_NEEDED, transitively, plus
/// [`RUNTIME_LIBRARIES`]) from the unpacked packages under `root`; their sonames.
fn add_libraries(
    tree: &mut Tree,
    root: &Path,
    executables: &[PathBuf],
) -> Result<Vec<String>, String> {
    let mut wanted: Vec<String> = RUNTIME_LIBRARIES
        .iter()
        .map(|name| name.to_string())
        .collect();
    let mut interpreters = BTreeSet::new();
    for executable in executables {
        let needs = elf::needs(&read(executable)?)
            .map_err(|error| format!("{}: {error}", executable.display()))?;
        if let Some(interpreter) = needs.interpreter {
            interpreters.insert(interpreter);
        }
        wanted.extend(needs.libraries);
    }
    for interpreter in &interpreters {
        let name = interpreter.rsplit('/').next().unwrap_or(interpreter);
        wanted.push(name.to_string());
        let target = format!("/{LIBRARY_DIR}/{name}");
        if interpreter != &target {
            tree.insert(interpreter, Node::Symlink(target));
        }
    }
    let mut added = BTreeSet::new();
    while let Some(name) = wanted.pop() {
        if !added.insert(name.clone()) {
            continue;
        }
        let path = find_library(root, &name)?;
        let data = read(&path)?;
        wanted.extend(
            elf::needs(&data)
                .map_err(|error| format!("{}: {error}", path.display()))?
                .libraries,
        );
        tree.insert(&format!("{LIBRARY_DIR}/{name}"), file(data, true));
    }
    Ok(added.into_iter().collect())
}

/// The file (symlinks followed, within `root`) that provides library `name`.
fn find_library(root: &Path, name: &str) -> Result<PathBuf, String> {
    for dir in ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu"] {
        let candidate = root.join(dir).join(name);
        if std::fs::symlink_metadata(&candidate).is_err() {
            continue;
        }
        let resolved = std::fs::canonicalize(&candidate)
            .map_err(|error| format!("cannot resolve {}: {error}", candidate.display()))?;
        let root = std::fs::canonicalize(root)
            .map_err(|error| format!("cannot resolve {}: {error}", root.display()))?;
        if !resolved.starts_with(&root) {
            return Err(format!(
                "{} points outside the package tree, to {}",
                candidate.display(),
                resolved.display()
            ));
        }
        return Ok(resolved);
    }
    Err(format!(
        "no {name} under {} (a package is missing from scripts/setup-dom0's list)",
        root.display()
    ))
}

/// Write `archive` gzip'd to `out` (through a private name, renamed into place).
fn gzip(archive: &[u8], out: &Path) -> Result<(), String> {
    let mut partial = out.as_os_str().to_owned();
    partial.push(format!(".partial-{}", std::process::id()));
    let partial = PathBuf::from(partial);
    let mut cpio = partial.clone().into_os_string();
    cpio.push(".cpio");
    let cpio = PathBuf::from(cpio);
    std::fs::write(&cpio, archive)
        .map_err(|error| format!("cannot write {}: {error}", cpio.display()))?;
    let gzipped = std::fs::File::create(&partial)
        .map_err(|error| format!("cannot create {}: {error}", partial.display()))?;
    let status = Command::new("gzip")
        .args(["-6", "-n", "-c"])
        .arg(&cpio)
        .stdout(gzipped)
        .status()
        .map_err(|error| format!("cannot run gzip: {error}"));
    std::fs::remove_file(&cpio).ok();
    if !status?.success() {
        std::fs::remove_file(&partial).ok();
        return Err(format!("gzip of {} failed", cpio.display()));
    }
    std::fs::rename(&partial, out)
        .map_err(|error| format!("cannot move {} into place: {error}", partial.display()))
}
