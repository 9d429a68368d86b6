//! `ballast check [FILE...]`: validate manifests (the given files, or every `manifests/*.toml` of
//! the checkout) as the build and `ballast sim` load them (the assembly tried, a `sim` image
//! against the host's capacities and built), printing every error with its file, key and fix, or
//! a one-line summary of the composition per valid manifest, followed by one line per
//! notification capability.

use ballast_system::Composition;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: ballast check [FILE...]   (no FILE: every manifests/*.toml)";

/// Runs `ballast check` with the arguments after `check`.
pub fn run(args: &[String]) -> ExitCode {
    if args.iter().any(|arg| arg.starts_with('-')) {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let files = if args.is_empty() {
        match checkout_manifests() {
            Ok(files) => files,
            Err(message) => {
                eprintln!("ballast check: {message}");
                return ExitCode::from(2);
            }
        }
    } else {
        args.iter().map(PathBuf::from).collect()
    };
    let mut failed = false;
    for file in &files {
        match ballast::composition::load(file) {
            Ok(composition) => {
                println!("{}: ok: {}", file.display(), summary(composition));
                notifications(composition).for_each(|line| println!("  {line}"));
            }
            Err(errors) => {
                failed = true;
                errors.iter().for_each(|error| eprintln!("{error}"));
                eprintln!("{}: {} error(s)", file.display(), errors.len());
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Every `manifests/*.toml` of the checkout, sorted.
fn checkout_manifests() -> Result<Vec<PathBuf>, String> {
    let dir = ballast::checkout::root()?.join("manifests");
    let entries = std::fs::read_dir(&dir)
        .map_err(|error| format!("cannot list {}: {error}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|error| format!("cannot list {}: {error}", dir.display()))?
            .path();
        if path
            .extension()
            .is_some_and(|extension| extension == "toml")
        {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(format!("{} holds no manifest", dir.display()));
    }
    Ok(files)
}

/// `image NAME (TARGET): N components, N endpoints, N regions`.
fn summary(composition: &Composition) -> String {
    format!(
        "image {} ({}): {} components, {} endpoints, {} regions",
        composition.image,
        composition.target.as_str(),
        composition.components.len(),
        composition.endpoints.len(),
        composition.regions.len()
    )
}

/// `notify FROM -> TO: bits 0x1, endpoint N of FROM`, one per notification capability.
fn notifications(composition: &Composition) -> impl Iterator<Item = String> + '_ {
    let name = |id: u16| composition.components[usize::from(id)].name;
    composition.notifications.iter().map(move |notification| {
        format!(
            "notify {} -> {}: bits {:#x}, endpoint {} of {}",
            name(notification.from),
            name(notification.to),
            notification.bits,
            notification.id,
            name(notification.from)
        )
    })
}
