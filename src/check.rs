//! `ballast check FILE...`: validate manifests, printing every error with its file, key and fix,
//! or a one-line summary of the composition per valid manifest.

use ballast::manifest::{self, Composition};
use std::process::ExitCode;

/// Runs `ballast check` with the arguments after `check`.
pub fn run(args: &[String]) -> ExitCode {
    if args.is_empty() || args.iter().any(|arg| arg.starts_with('-')) {
        eprintln!("usage: ballast check FILE...");
        return ExitCode::from(2);
    }
    let mut failed = false;
    for file in args {
        match manifest::load(file) {
            Ok(valid) => println!("{file}: ok: {}", summary(&manifest::compose(&valid))),
            Err(errors) => {
                failed = true;
                errors.iter().for_each(|error| eprintln!("{error}"));
                eprintln!("{file}: {} error(s)", errors.len());
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
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
