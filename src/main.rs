//! The `ballast` command line: `sim` (the default), `bench`, `hil` and `check`.

mod check;
mod hil;

use std::process::ExitCode;

const USAGE: &str = "usage: ballast [sim|check FILE|hil [--arch x86_64|aarch64]|bench] [options]";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    let rest: Vec<String> = args.collect();
    match command.as_deref() {
        Some("check") => check::run(&rest),
        Some("hil") => hil::run(&rest),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("ballast: unknown command `{other}`\n{USAGE}");
            ExitCode::from(2)
        }
        None => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
    }
}
