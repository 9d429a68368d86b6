//! `ballast-granter`: one grant round from the dom0 (see the library's documentation); prints
//! one `ballast-dom0: grant ...` line and exits 0 whatever the domU answered (the host decides),
//! 2 on bad usage, 1 when the dom0 itself could not run the round.

use std::process::ExitCode;

use ballast_dom0_granter::{options, round};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match options::parse(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("ballast-granter: {message}\n{}", options::USAGE);
            return ExitCode::from(2);
        }
    };
    let result = round::run(&options);
    println!("{}", result.line);
    if result.dom0_failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
