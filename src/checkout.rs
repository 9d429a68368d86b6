//! Where the checkout is: the directory whose `manifests/`, `scenarios/`, `images/` and `target/`
//! the command's defaults name, so that `ballast` works from any directory of the checkout. Paths
//! a user passes on the command line stay relative to the current directory.

use std::path::{Path, PathBuf};

/// The checkout this binary was built from, if it is still there; otherwise the nearest directory
/// at or above the current one that holds ballast's workspace.
pub fn root() -> Result<PathBuf, String> {
    let built = Path::new(env!("CARGO_MANIFEST_DIR"));
    if is_checkout(built) {
        return Ok(built.to_path_buf());
    }
    let here = std::env::current_dir()
        .map_err(|error| format!("cannot read the current directory: {error}"))?;
    find_upward(&here).ok_or_else(|| {
        format!(
            "cannot find the ballast checkout: {} (where this binary was built) is gone, and \
             neither {} nor a directory above it holds ballast's workspace Cargo.toml; run \
             ballast from inside a checkout",
            built.display(),
            here.display()
        )
    })
}

/// The nearest directory at or above `start` that holds ballast's workspace.
fn find_upward(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| is_checkout(dir))
        .map(Path::to_path_buf)
}

/// Whether `dir` holds ballast's workspace: a `Cargo.toml` with a `[workspace]` table whose root
/// package is `ballast` (the images' workspace and the crates' own manifests are not it).
fn is_checkout(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
        return false;
    };
    let Ok(manifest) = text.parse::<toml::Table>() else {
        return false;
    };
    let package = manifest
        .get("package")
        .and_then(|package| package.get("name"));
    manifest.contains_key("workspace") && package.and_then(toml::Value::as_str) == Some("ballast")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: &str = env!("CARGO_MANIFEST_DIR");

    #[test]
    fn the_checkout_this_binary_was_built_from_is_the_root() {
        assert_eq!(root(), Ok(PathBuf::from(HERE)));
        assert!(is_checkout(Path::new(HERE)));
    }

    #[test]
    fn a_component_or_a_folder_of_the_checkout_is_not_the_root() {
        assert!(!is_checkout(&Path::new(HERE).join("components")));
        assert!(!is_checkout(&Path::new(HERE).join("components/xen")));
        assert!(!is_checkout(&Path::new(HERE).join("images")));
    }

    #[test]
    fn the_search_climbs_from_any_directory_of_the_checkout() {
        let deep = Path::new(HERE).join("components/xen/src");
        assert_eq!(find_upward(&deep), Some(PathBuf::from(HERE)));
        assert_eq!(find_upward(Path::new(HERE)), Some(PathBuf::from(HERE)));
    }

    #[test]
    fn the_search_finds_nothing_outside_a_checkout() {
        assert_eq!(find_upward(Path::new("/")), None);
    }
}
