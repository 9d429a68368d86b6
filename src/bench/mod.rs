//! `ballast bench`: ballast side by side with the seed policy and with the physical floor, in one
//! run — hypercalls on xen-sim, superpages left intact, the core's bookkeeping throughput,
//! scrubbing against memset, an IPC round trip against a bare channel, memory footprints, and
//! the simulator's times against real Xen's.
//! Every figure is a count or a ratio measured within the run, so runs on different machines
//! compare.

mod bookkeeping;
mod footprint;
mod harness;
mod hypercalls;
mod ipc;
mod options;
mod report;
mod scrub;
mod sim_vs_hil;
mod superpages;

use std::process::ExitCode;

pub use harness::{CompletingPort, NoScrub};
pub use options::{BenchOptions, Size};
pub use report::BenchReport;

/// Run every measurement at `options.size`.
pub fn run(options: &BenchOptions) -> Result<BenchReport, String> {
    let size = options.size;
    let hypercalls = hypercalls::measure()?;
    let superpages = superpages::measure(size)?;
    let bookkeeping = bookkeeping::measure(size)?;
    let scrub = scrub::measure(size)?;
    let ipc = ipc::measure(size)?;
    let footprint = footprint::measure(options.image.as_deref())?;
    let sim_vs_hil = sim_vs_hil::measure()?;
    Ok(BenchReport {
        size,
        hypercalls,
        superpages,
        bookkeeping,
        scrub,
        ipc,
        footprint,
        sim_vs_hil,
    })
}

/// The `ballast bench` command with `args` (after the subcommand).
pub fn main(args: &[String]) -> ExitCode {
    let options = match BenchOptions::parse(args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("ballast bench: {message}\n{}", options::USAGE);
            return ExitCode::from(2);
        }
    };
    if options.help {
        println!("{}", options::USAGE);
        return ExitCode::SUCCESS;
    }
    let report = match run(&options) {
        Ok(report) => report,
        Err(message) => {
            eprintln!("ballast bench: {message}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", report.table());
    if let Some(path) = &options.json {
        let text = match serde_json::to_string_pretty(&report.json()) {
            Ok(text) => text,
            Err(error) => {
                eprintln!("ballast bench: cannot encode the JSON: {error}");
                return ExitCode::FAILURE;
            }
        };
        if let Err(error) = std::fs::write(path, text + "\n") {
            eprintln!("ballast bench: cannot write {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
