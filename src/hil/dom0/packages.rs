//! Debian's packages for the dom0, unpacked under `target/dom0/root/` by `scripts/setup-dom0`
//! (`apt-get download` and `dpkg -x`; nothing is installed on the host): the Linux 6.1 kernel and
//! its modules, busybox and Xen 4.17's toolstack. When the cache is missing, `ballast hil --dom0
//! linux` runs the script itself.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The setup script, relative to the checkout.
pub const SETUP_SCRIPT: &str = "scripts/setup-dom0";
/// The cache, relative to the checkout.
pub const CACHE_DIR: &str = "target/dom0";
/// Written by the setup script once every package is unpacked.
const MARKER: &str = ".packages";

/// The unpacked packages.
#[derive(Debug)]
pub struct Packages {
    /// The tree they were unpacked into.
    pub root: PathBuf,
    /// The dom0 kernel (`boot/vmlinuz-*`).
    pub kernel: PathBuf,
    /// Its modules (`lib/modules/<version>`).
    pub modules_dir: PathBuf,
    /// The packages' file names, as the setup script listed them.
    pub debs: Vec<String>,
}

/// The unpacked packages under `checkout`, running the setup script first if they are missing.
/// `Err` says what is missing and how to get it.
pub fn find_or_fetch(checkout: &Path) -> Result<Packages, String> {
    let root = checkout.join(CACHE_DIR).join("root");
    if !root.join(MARKER).is_file() {
        println!(
            "ballast hil: no dom0 packages under {}: running {SETUP_SCRIPT} (run it ahead of time \
             to keep downloads out of the test)",
            root.display()
        );
        let status = Command::new(checkout.join(SETUP_SCRIPT))
            .current_dir(checkout)
            .status()
            .map_err(|error| format!("cannot run {SETUP_SCRIPT}: {error}"))?;
        if !status.success() {
            return Err(format!(
                "{SETUP_SCRIPT} failed ({status}): the dom0's packages could not be fetched"
            ));
        }
    }
    let marker = root.join(MARKER);
    let debs = std::fs::read_to_string(&marker)
        .map_err(|error| {
            format!(
                "cannot read {}: {error} (run {SETUP_SCRIPT})",
                marker.display()
            )
        })?
        .lines()
        .map(str::to_string)
        .collect();
    let only = |dir: &Path, prefix: &str| -> Result<PathBuf, String> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|error| format!("cannot list {}: {error}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with(prefix))
            })
            .collect();
        match found.len() {
            1 => Ok(found.remove(0)),
            count => Err(format!(
                "{count} entries `{prefix}*` in {}, expected one (run {SETUP_SCRIPT} again after \
                 removing {CACHE_DIR})",
                dir.display()
            )),
        }
    };
    let kernel = only(&root.join("boot"), "vmlinuz-")?;
    let modules_dir = only(&root.join("lib/modules"), "6.1.")?;
    Ok(Packages {
        root,
        kernel,
        modules_dir,
        debs,
    })
}
