//! The patched seL4 5.0 tree in `target/sel4/source`: the sources the crates.io package
//! `sel4-sys` 0.0.28 carries (its Rust code does not compile; its kernel tree, libsel4's interface
//! XML and the python generators are what ballast uses), found through cargo, copied, with the
//! platform `armvirt` added and ballast's patches applied in name order. A stamp records what the
//! tree was made from; a tree made from the same sources, platform and patches is kept.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The never-built manifest that makes cargo fetch the sources, from the checkout's root.
pub const SOURCE_MANIFEST: &str = "images/sel4/kernel/source/Cargo.toml";
/// The platform's files, laid out as in the kernel tree, from the checkout's root.
pub const PLATFORM_DIR: &str = "images/sel4/kernel/platform";
/// ballast's kernel patches (`NNNN-name.patch`, `patch -p1` from the tree's root).
pub const PATCHES_DIR: &str = "images/sel4/kernel/patches";
/// The package and the version that carries seL4 5.0.
const PACKAGE: &str = "sel4-sys";
const VERSION: &str = "0.0.28";
/// The kernel tree inside the package.
const PACKAGE_TREE: &str = "seL4";

/// Run `command` (described as `what`); its stdout, or an error with what it printed.
fn run(command: &mut Command, what: &str) -> Result<Vec<u8>, String> {
    let output = command
        .output()
        .map_err(|error| format!("cannot run {what}: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(output.stdout)
}

/// The kernel tree of the `sel4-sys` package in `metadata` (the JSON of `cargo metadata
/// --format-version 1`).
fn package_tree(metadata: &[u8]) -> Result<PathBuf, String> {
    let metadata: serde_json::Value = serde_json::from_slice(metadata)
        .map_err(|error| format!("cargo metadata printed no JSON: {error}"))?;
    let packages = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata lists no packages")?;
    let manifest = packages
        .iter()
        .find(|package| package["name"] == PACKAGE && package["version"] == VERSION)
        .and_then(|package| package["manifest_path"].as_str())
        .ok_or(format!("cargo metadata lists no {PACKAGE} {VERSION}"))?;
    let package_dir = Path::new(manifest).parent().ok_or(format!(
        "{PACKAGE}'s manifest path {manifest} has no directory"
    ))?;
    Ok(package_dir.join(PACKAGE_TREE))
}

/// The seL4 5.0 tree in cargo's registry, fetched if it is not there yet.
pub fn upstream(checkout: &Path) -> Result<PathBuf, String> {
    let manifest = checkout.join(SOURCE_MANIFEST);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let cargo = |subcommand: &[&str]| {
        let mut command = Command::new(&cargo);
        command
            .args(subcommand)
            .arg("--locked")
            .arg("--manifest-path")
            .arg(&manifest);
        command
    };
    run(&mut cargo(&["fetch"]), "cargo fetch (the seL4 5.0 sources)")?;
    let metadata = run(
        &mut cargo(&["metadata", "--format-version", "1"]),
        "cargo metadata",
    )?;
    let tree = package_tree(&metadata)?;
    if !tree.join("libsel4").is_dir() || !tree.join("Makefile").is_file() {
        return Err(format!(
            "{} does not hold the seL4 kernel tree (no libsel4/ or Makefile)",
            tree.display()
        ));
    }
    Ok(tree)
}

/// The files under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let entries = std::fs::read_dir(dir.join(&relative))
            .map_err(|error| format!("cannot read {}: {error}", dir.join(&relative).display()))?;
        for entry in entries {
            let entry = entry.map_err(|error| format!("cannot read {}: {error}", dir.display()))?;
            let path = relative.join(entry.file_name());
            if entry.path().is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Copy every file under `from` to the same place under `to`.
fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    for file in files_under(from)? {
        let target = to.join(&file);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
        }
        std::fs::copy(from.join(&file), &target).map_err(|error| {
            format!(
                "cannot copy {} to {}: {error}",
                from.join(&file).display(),
                target.display()
            )
        })?;
    }
    Ok(())
}

/// ballast's patches under `checkout`, in the order they apply.
pub fn patches(checkout: &Path) -> Result<Vec<PathBuf>, String> {
    let dir = checkout.join(PATCHES_DIR);
    Ok(files_under(&dir)?
        .into_iter()
        .filter(|file| {
            file.extension()
                .is_some_and(|extension| extension == "patch")
        })
        .map(|file| dir.join(file))
        .collect())
}

/// FNV-1a, 64 bits: tells one version of a file from another.
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What a tree is made from: the upstream tree's path (cargo's registry names the version), then
/// every platform file and patch with its fingerprint, one per line.
pub fn stamp(upstream: &Path, checkout: &Path) -> Result<String, String> {
    let mut stamp = format!("upstream {}\n", upstream.display());
    let platform = checkout.join(PLATFORM_DIR);
    let inputs = files_under(&platform)?
        .into_iter()
        .map(|file| platform.join(file))
        .chain(patches(checkout)?);
    for file in inputs {
        let bytes = std::fs::read(&file)
            .map_err(|error| format!("cannot read {}: {error}", file.display()))?;
        let name = file.strip_prefix(checkout).unwrap_or(&file);
        stamp.push_str(&format!(
            "{:016x} {}\n",
            fingerprint(&bytes),
            name.display()
        ));
    }
    Ok(stamp)
}

/// Make `tree` the patched seL4 5.0 tree from `upstream` unless `stamp_file` says it already is
/// (recorded last, so that an interrupted run starts over). Returns whether it was made anew.
pub fn prepare(
    checkout: &Path,
    upstream: &Path,
    tree: &Path,
    stamp_file: &Path,
) -> Result<bool, String> {
    let stamp = stamp(upstream, checkout)?;
    if tree.is_dir() && std::fs::read_to_string(stamp_file).is_ok_and(|old| old == stamp) {
        return Ok(false);
    }
    for stale in [stamp_file, tree] {
        let removed = if stale.is_dir() {
            std::fs::remove_dir_all(stale)
        } else {
            std::fs::remove_file(stale)
        };
        match removed {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("cannot remove {}: {error}", stale.display()));
            }
            _ => {}
        }
    }
    copy_tree(upstream, tree)?;
    copy_tree(&checkout.join(PLATFORM_DIR), tree)?;
    for patch in patches(checkout)? {
        run(
            Command::new("patch")
                .args(["-p1", "--forward", "--batch", "--silent", "-d"])
                .arg(tree)
                .arg("-i")
                .arg(&patch),
            &format!("patch -p1 < {}", patch.display()),
        )?;
    }
    std::fs::write(stamp_file, stamp)
        .map_err(|error| format!("cannot write {}: {error}", stamp_file.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKOUT: &str = env!("CARGO_MANIFEST_DIR");

    #[test]
    fn cargo_finds_the_sel4_5_0_tree_in_the_sel4_sys_package() {
        let tree = upstream(Path::new(CHECKOUT)).unwrap();
        assert!(tree.ends_with("sel4-sys-0.0.28/seL4"), "{}", tree.display());
        let version = std::fs::read_to_string(tree.join("VERSION")).unwrap();
        assert_eq!(version.trim(), "5.0.0");
    }

    #[test]
    fn metadata_without_the_package_names_what_is_missing() {
        let metadata = br#"{"packages":[{"name":"sel4-sys","version":"0.0.27","manifest_path":"/x/Cargo.toml"}]}"#;
        assert_eq!(
            package_tree(metadata),
            Err("cargo metadata lists no sel4-sys 0.0.28".into())
        );
        assert!(package_tree(b"not json").is_err());
    }

    #[test]
    fn every_patch_opens_with_a_one_line_purpose() {
        let patches = patches(Path::new(CHECKOUT)).unwrap();
        assert!(patches.len() >= 2, "{patches:?}");
        for patch in patches {
            let text = std::fs::read_to_string(&patch).unwrap();
            let mut lines = text.lines();
            let purpose = lines.next().unwrap_or_default();
            assert!(
                !purpose.is_empty()
                    && !purpose.starts_with("diff ")
                    && !purpose.starts_with("--- "),
                "{}: the first line is not a purpose: {purpose:?}",
                patch.display()
            );
            assert_eq!(
                lines.next(),
                Some(""),
                "{}: no blank line after the purpose",
                patch.display()
            );
        }
    }

    #[test]
    fn the_stamp_names_every_input_and_follows_its_content() {
        let checkout = Path::new(CHECKOUT);
        let upstream = Path::new("/registry/sel4-sys-0.0.28/seL4");
        let stamp = stamp(upstream, checkout).unwrap();
        assert!(stamp.starts_with("upstream /registry/sel4-sys-0.0.28/seL4\n"));
        assert!(stamp.contains(" images/sel4/kernel/platform/include/plat/armvirt/autoconf.h\n"));
        for patch in patches(checkout).unwrap() {
            let name = patch.strip_prefix(checkout).unwrap().display().to_string();
            assert!(
                stamp.contains(&format!(" {name}\n")),
                "{name} missing from\n{stamp}"
            );
        }
        assert_ne!(fingerprint(b"#define X 1\n"), fingerprint(b"#define X 2\n"));
    }
}
