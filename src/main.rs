//! The `ballast` command line: `sim` (the default), `bench`, `hil`, `image`, `check` and `decode`.

mod check;
mod hil;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str =
    "usage: ballast [sim|check [FILE...]|hil [--arch x86_64|aarch64|--dom0 linux]|image [--arch x86_64|aarch64]|decode IMAGE-ELF|bench] [options]";

/// `ballast sim`, the default command: run a scenario and print the summary table.
fn sim(args: &[String]) -> ExitCode {
    let result =
        ballast::sim::SimOptions::parse(args).and_then(|options| ballast::sim::simulate(&options));
    match result {
        Ok(report) => {
            println!("{}", report.table());
            if report.reached_target && report.invariant_violations == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("ballast sim: {error}");
            ExitCode::from(2)
        }
    }
}

/// The checkout whose files `command`'s defaults name; `None` once it has said why there is none.
fn checkout_root(command: &str) -> Option<PathBuf> {
    ballast::checkout::root()
        .map_err(|message| eprintln!("{command}: {message}"))
        .ok()
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    let rest: Vec<String> = args.collect();
    match command.as_deref() {
        Some("bench") => ballast::bench::main(&rest),
        Some("check") => check::run(&rest),
        Some("decode") => hil::decode_command::run(&rest),
        Some("hil") => hil::run(&rest),
        Some("image") => hil::image::run(&rest),
        Some("sim") => sim(&rest),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("ballast: unknown command `{other}`\n{USAGE}");
            ExitCode::from(2)
        }
        None => sim(&[]),
    }
}
