//! `ballast sim`: a scenario played against a manifest's system on the simulated Xen, with a
//! progress display, a summary table, and optional JSON and SVG outputs.

pub mod engine;
pub mod plot;
pub mod report;
pub mod scenario;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::manifest::{self, Composition};
use crate::system::SimPolicy;
use engine::{Progress, Simulation};
use report::RunReport;
use scenario::Scenario;

/// The scenario `ballast sim` plays when none is named.
pub const DEFAULT_SCENARIO: &str = "scenarios/default.toml";

/// What `ballast sim` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimOptions {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Which algorithm runs.
    pub policy: SimPolicy,
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
            scenario: PathBuf::from(DEFAULT_SCENARIO),
            policy: SimPolicy::FromManifest,
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
                    options.policy = match value("--policy")?.as_str() {
                        "seed" => SimPolicy::Seed,
                        "ballast" => SimPolicy::Ballast,
                        other => {
                            return Err(format!("--policy {other}: use seed or ballast\n{USAGE}"))
                        }
                    }
                }
                "--seed" => {
                    let text = value("--seed")?;
                    options.seed = text
                        .parse()
                        .map_err(|_| format!("--seed {text}: not a number\n{USAGE}"))?;
                }
                "--json" => options.json = Some(PathBuf::from(value("--json")?)),
                "--plot" => options.plot = Some(PathBuf::from(value("--plot")?)),
                "--scenario" => options.scenario = PathBuf::from(value("--scenario")?),
                "--quiet" => options.quiet = true,
                flag if flag.starts_with('-') => {
                    return Err(format!("unknown option {flag}\n{USAGE}"))
                }
                path => options.scenario = PathBuf::from(path),
            }
        }
        Ok(options)
    }
}

/// A path as given, or else relative to the repository this binary was built from.
fn locate(path: &Path) -> PathBuf {
    if path.exists() || path.is_absolute() {
        return path.to_path_buf();
    }
    let in_repo = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if in_repo.exists() {
        in_repo
    } else {
        path.to_path_buf()
    }
}

/// The scenario's manifest, composed (kept for the process's life: the runtimes need it).
fn composition_for(scenario: &Scenario) -> Result<&'static Composition, String> {
    let path = locate(&scenario.manifest);
    let manifest = manifest::load(&path).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    Ok(Box::leak(Box::new(manifest::compose(&manifest))))
}

/// Load, run and report one simulation.
pub fn simulate(options: &SimOptions) -> Result<RunReport, String> {
    let scenario = Scenario::load(&locate(&options.scenario)).map_err(|e| e.to_string())?;
    let composition = composition_for(&scenario)?;
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
