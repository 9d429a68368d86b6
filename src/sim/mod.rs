//! `ballast sim`: a scenario played against a manifest's system on the simulated Xen, with a
//! progress display, a summary table, and optional JSON and SVG outputs.

pub mod beside_hil;
pub mod engine;
pub mod plot;
pub mod report;
pub mod scenario;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::checkout;
use ballast_system::{Composition, Policy};
use engine::{Progress, Simulation};
use report::RunReport;
use scenario::Scenario;

/// The scenario `ballast sim` plays when none is named, in the checkout.
pub const DEFAULT_SCENARIO: &str = "scenarios/default.toml";

/// What `ballast sim` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimOptions {
    /// The scenario file, from the current directory; `None`: the checkout's default.
    pub scenario: Option<PathBuf>,
    /// Which algorithm runs.
    pub policy: Option<Policy>,
    /// Scheduler and fault seed.
    pub seed: u64,
    /// Where to write the report as JSON.
    pub json: Option<PathBuf>,
    /// Where to draw the plot.
    pub plot: Option<PathBuf>,
    /// Progress output: a bar on a terminal, plain lines otherwise, or nothing.
    pub quiet: bool,
}

impl Default for SimOptions {
    fn default() -> SimOptions {
        SimOptions {
            scenario: None,
            policy: None,
            seed: 1,
            json: None,
            plot: None,
            quiet: false,
        }
    }
}

const USAGE: &str = "usage: ballast sim [SCENARIO.toml] [--policy seed|ballast] [--seed N] [--json FILE] [--plot FILE.svg] [--quiet]";

impl SimOptions {
    /// Parse the arguments after `sim`.
    pub fn parse(args: &[String]) -> Result<SimOptions, String> {
        let mut options = SimOptions::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
            };
            match arg.as_str() {
                "--policy" => {
                    let name = value("--policy")?;
                    let policy = Policy::named(&name)
                        .ok_or_else(|| format!("--policy {name}: use seed or ballast\n{USAGE}"))?;
                    options.policy = Some(policy);
                }
                "--seed" => {
                    let text = value("--seed")?;
                    options.seed = text
                        .parse()
                        .map_err(|_| format!("--seed {text}: not a number\n{USAGE}"))?;
                }
                "--json" => options.json = Some(PathBuf::from(value("--json")?)),
                "--plot" => options.plot = Some(PathBuf::from(value("--plot")?)),
                "--scenario" => options.scenario = Some(PathBuf::from(value("--scenario")?)),
                "--quiet" => options.quiet = true,
                flag if flag.starts_with('-') => {
                    return Err(format!("unknown option {flag}\n{USAGE}"))
                }
                path => options.scenario = Some(PathBuf::from(path)),
            }
        }
        Ok(options)
    }
}

/// The scenario's manifest (a path from the checkout's root), checked as `ballast check` checks
/// it but not built: [`Simulation::new`] builds the system, once.
fn composition_for(scenario: &Scenario, root: &Path) -> Result<&'static Composition, String> {
    crate::composition::read(&root.join(&scenario.manifest)).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// Load, run and report one simulation.
pub fn simulate(options: &SimOptions) -> Result<RunReport, String> {
    let root = checkout::root()?;
    let path = options
        .scenario
        .clone()
        .unwrap_or_else(|| root.join(DEFAULT_SCENARIO));
    let scenario = Scenario::load(&path).map_err(|e| e.to_string())?;
    let composition = composition_for(&scenario, &root)?;
    let duration_ms = (scenario.duration_s * 1000.0) as u64;
    let simulation = Simulation::new(composition, scenario, options.policy, options.seed)?;
    let report = if options.quiet {
        simulation.run(|_| {})
    } else if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(duration_ms);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} ms simulated  {msg}")
                .expect("a fixed, valid template"),
        );
        let report = simulation.run(|p| {
            bar.set_position(p.time_ms);
            bar.set_message(progress_line(&p));
        });
        bar.finish_and_clear();
        report
    } else {
        let mut next_line = 0;
        simulation.run(|p| {
            if p.time_ms >= next_line {
                eprintln!(
                    "t={:>7.1}s  {}",
                    p.time_ms as f64 / 1000.0,
                    progress_line(&p)
                );
                next_line += (p.duration_ms / 10).max(1);
            }
        })
    };
    if let Some(path) = &options.json {
        std::fs::write(path, report.to_json())
            .map_err(|e| format!("{}: cannot write the JSON: {e}", path.display()))?;
    }
    if let Some(path) = &options.plot {
        plot::write_svg(&report, path)?;
    }
    Ok(report)
}

fn progress_line(p: &Progress) -> String {
    let mib = |pages: u64| pages / 256;
    format!(
        "target {} MiB  current {} MiB  ballooned {} MiB  lent {} MiB",
        mib(p.sample.target_pages),
        mib(p.sample.current_pages),
        mib(p.sample.ballooned_pages),
        mib(p.sample.lent_pages)
    )
}
