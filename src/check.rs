//! `ballast check FILE`: validate one manifest and print every error with its key and fix.

use std::process::ExitCode;

pub fn run(_args: &[String]) -> ExitCode {
    eprintln!("ballast check: manifest validation is not built yet");
    ExitCode::FAILURE
}
