//! `ballast hil --timings RUNS [--arch aarch64]`: the real-Xen timings BENCHMARKS.md publishes,
//! as medians of several boots with their minimum and maximum. Each of RUNS rounds boots the
//! test app twice per scenario, once with ballast's policy first and once with the seed's (so
//! that neither pays the other's first-touch costs), then the memory-server app once:
//!
//! - `scenario=components timed_rounds=N`: the product path, `set_target` 128 MiB down and up
//!   through the components, split into scrub, hypercalls and the rest (bookkeeping and IPC);
//! - `scenario=balloon`: the raw 128 MiB scrub, release and repopulate through the gateway;
//! - the memory-server app: QEMU start to its first balloon operation (its boot target).
//!
//! Every boot is a whole `ballast hil` run, checked as usual: one that fails fails the timings.
//! A run's first move is cold (nothing touched its memory since boot); repeats are warm; the
//! second policy's first move is in neither (the first policy warmed what they share). Only a
//! cold move down scrubs: it releases boot RAM, which holds the guest's data, while later moves
//! release chunks the server repopulated itself, which nobody wrote (the table shows the pages
//! scrubbed).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};

use ballast::checkout;
use ballast::sim::beside_hil::{self, Arch, Timed};
use ballast::spread::Spread;

use super::verify::Record;
use super::{EXIT_MISSING_TOOLS, EXIT_USAGE};

/// Timed product-path rounds of each policy per components boot.
const TIMED_ROUNDS: u32 = 2;
/// The summary line of a memory-server boot that gives its first balloon operation.
const BOOT_TARGET_LINE: &str =
    "time from QEMU start to the memory server's first balloon operation";
/// Options of `ballast hil` a timings run sets itself.
const SET_HERE: [&str; 8] = [
    "--app",
    "--readings",
    "--scenario",
    "--first",
    "--timed-rounds",
    "--target-mib",
    "--kernel",
    "--dom0",
];

/// Whether `args` ask for the timings.
pub fn requested(args: &[String]) -> bool {
    args.iter().any(|arg| arg == "--timings")
}

/// Whether a move was the boot's first (cold) or a repeat (warm).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Run {
    Cold,
    Warm,
}

impl Run {
    fn name(self) -> &'static str {
        match self {
            Run::Cold => "cold",
            Run::Warm => "warm",
        }
    }
}

/// Which figure a sample belongs to: path (`product`, `raw`), policy, cold or warm, operation.
type Key = (&'static str, String, Run, String);

/// One measured move, in microseconds; the split where the guest counted it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Sample {
    total_us: f64,
    calls: u64,
    /// Pages the memory server scrubbed in the move (product path; the raw rows' scrub is a
    /// step of its own).
    scrubbed: Option<u64>,
    split: Option<Split>,
}

/// Where a product-path move's time went, microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Split {
    scrub_us: f64,
    hypercall_us: f64,
    rest_us: f64,
}

/// Every sample of a timings run.
#[derive(Debug, Default)]
struct Samples {
    moves: BTreeMap<Key, Vec<Sample>>,
    /// QEMU start to the memory-server app's first balloon operation, seconds.
    boot_s: Vec<f64>,
}

impl Samples {
    /// Take the `timing` lines of one test-app boot's output, which ran `first` first.
    fn take_test_app(&mut self, output: &[String], first: &str) {
        for message in guest_messages(output) {
            let record = Record::parse(message);
            if record.keyword != "timing" {
                continue;
            }
            let product = record.text("path") == Some("product");
            let sample = if product {
                product_sample(&record, first)
            } else if record.text("path").is_none() {
                raw_sample(&record, first)
            } else {
                None
            };
            if let Some((key, sample)) = sample {
                self.moves.entry(key).or_default().push(sample);
            }
        }
    }

    /// Take the boot time of one memory-server boot's output.
    fn take_product_boot(&mut self, output: &[String]) {
        let seconds: Option<f64> = output
            .iter()
            .filter(|line| line.contains(BOOT_TARGET_LINE))
            .filter_map(|line| line.rsplit(": ").next())
            .filter_map(|value| value.trim_end_matches(" s").trim().parse().ok())
            .next();
        self.boot_s.extend(seconds);
    }

    /// What is missing for a complete table: each path, policy and run needs a sample.
    fn missing(&self) -> Vec<String> {
        let mut missing = Vec::new();
        for (path, ops) in [
            ("product", &["set_target_down", "set_target_up"][..]),
            ("raw", &["scrub", "decrease", "populate"][..]),
        ] {
            for policy in ["2M", "4K"] {
                for run in [Run::Cold, Run::Warm] {
                    for op in ops {
                        let key = (path, policy.to_string(), run, op.to_string());
                        if !self.moves.contains_key(&key) {
                            missing.push(format!("no {path} {policy} {} {op} sample", run.name()));
                        }
                    }
                }
            }
        }
        if self.boot_s.is_empty() {
            missing.push("no memory-server boot time".into());
        }
        missing
    }

    /// The product path's medians, as the simulator names its moves.
    fn product_medians(&self) -> Vec<Timed> {
        let sim_moves = beside_hil::simulated_moves();
        (self.moves.iter())
            .filter(|((path, ..), _)| *path == "product")
            .filter_map(|((_, policy, run, op), samples)| {
                let step = *sim_moves.iter().find(|step| {
                    step.policy == policy && step.run == run.name() && step.op == op
                })?;
                let ms = Spread::of(samples.iter().map(|s| s.total_us / 1000.0)).median;
                Some(Timed { step, ms })
            })
            .collect()
    }

    /// The table, medians with [min, max].
    fn table(&self, title: &str) -> Vec<String> {
        let mut rows = vec![
            title.to_string(),
            "| path | policy | run | op | n | calls | pages scrubbed | total ms | scrub ms | hypercalls ms | rest ms | rest share |".into(),
            "|---|---|---|---|---|---|---|---|---|---|---|---|".into(),
        ];
        for ((path, policy, run, op), samples) in &self.moves {
            let total = Spread::of(samples.iter().map(|s| s.total_us / 1000.0));
            let calls = Spread::of(samples.iter().map(|s| s.calls as f64));
            let scrubbed: Vec<f64> = (samples.iter())
                .filter_map(|s| s.scrubbed.map(|pages| pages as f64))
                .collect();
            let scrubbed = if scrubbed.is_empty() {
                "-".to_string()
            } else {
                Spread::of(scrubbed.into_iter()).cell(0)
            };
            let splits: Vec<Split> = samples.iter().filter_map(|s| s.split).collect();
            let part = |take: fn(&Split) -> f64| {
                if splits.len() == samples.len() {
                    Spread::of(splits.iter().map(|split| take(split) / 1000.0)).cell(1)
                } else {
                    "-".into()
                }
            };
            let share = if splits.len() == samples.len() {
                let shares = samples.iter().filter_map(|s| {
                    let split = s.split?;
                    Some(100.0 * split.rest_us / s.total_us.max(1.0))
                });
                format!("{} %", Spread::of(shares).cell(1))
            } else {
                "-".into()
            };
            rows.push(format!(
                "| {path} | {policy} | {} | {op} | {} | {} | {scrubbed} | {} | {} | {} | {} | {share} |",
                run.name(),
                samples.len(),
                calls.median,
                total.cell(1),
                part(|split| split.scrub_us),
                part(|split| split.hypercall_us),
                part(|split| split.rest_us),
            ));
        }
        let boot = Spread::of(self.boot_s.iter().copied());
        rows.push(format!(
            "QEMU start to the memory server's first balloon operation: {} s (n = {})",
            boot.cell(3),
            self.boot_s.len()
        ));
        rows
    }
}

/// The guest's messages in a run's output (after `guest | `).
fn guest_messages(output: &[String]) -> impl Iterator<Item = &str> {
    output
        .iter()
        .filter_map(|line| line.split_once("] guest | ").map(|(_, message)| message))
}

/// The run of a move: cold if it is the boot's first (`first` policy, its first round), warm if
/// a repeat, `None` for the second policy's first.
fn run_of(policy: &str, first: &str, is_first_round: bool) -> Option<Run> {
    match (is_first_round, policy == first) {
        (true, true) => Some(Run::Cold),
        (true, false) => None,
        (false, _) => Some(Run::Warm),
    }
}

/// A product-path line: `timing path=product policy= op= round= calls= us= [scrub_us=
/// hypercall_us= rest_us=]`.
fn product_sample(record: &Record<'_>, first: &str) -> Option<(Key, Sample)> {
    let policy = record.text("policy")?;
    let run = run_of(policy, first, record.number("round")? == 1)?;
    let split = match (
        record.number("scrub_us"),
        record.number("hypercall_us"),
        record.number("rest_us"),
    ) {
        (Some(scrub), Some(hypercall), Some(rest)) => Some(Split {
            scrub_us: scrub as f64,
            hypercall_us: hypercall as f64,
            rest_us: rest as f64,
        }),
        _ => None,
    };
    let sample = Sample {
        total_us: record.number("us")? as f64,
        calls: record.number("calls")?,
        scrubbed: Some(record.number("scrubbed")?),
        split,
    };
    let key = (
        "product",
        policy.to_string(),
        run,
        record.text("op")?.to_string(),
    );
    Some((key, sample))
}

/// A raw line of the Xen-facts phase: `timing policy= run=first|repeat op= calls= ms=M.UUU`.
fn raw_sample(record: &Record<'_>, first: &str) -> Option<(Key, Sample)> {
    let policy = record.text("policy")?;
    let run = run_of(policy, first, record.text("run")? == "first")?;
    let ms: f64 = record.text("ms")?.parse().ok()?;
    let sample = Sample {
        total_us: ms * 1000.0,
        calls: record.number("calls")?,
        scrubbed: None,
        split: None,
    };
    let key = (
        "raw",
        policy.to_string(),
        run,
        record.text("op")?.to_string(),
    );
    Some((key, sample))
}

/// The options of a timings run: how many rounds, and what passes through to each boot.
fn parse(args: &[String]) -> Result<(u32, Vec<String>), String> {
    let mut runs = None;
    let mut passed = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--timings" {
            let value = args.next().ok_or("--timings needs a count of runs")?;
            let count: u32 = value
                .parse()
                .map_err(|_| format!("--timings {value}: expected a count of runs"))?;
            if count == 0 {
                return Err("--timings 0: at least one run".into());
            }
            runs = Some(count);
        } else if SET_HERE.contains(&arg.as_str()) {
            return Err(format!(
                "{arg}: --timings chooses the apps and scenarios itself"
            ));
        } else {
            passed.push(arg.clone());
        }
    }
    Ok((runs.ok_or("--timings needs a count of runs")?, passed))
}

/// One `ballast hil` boot with `args`, its output streamed and kept; its exit status.
fn boot(args: &[String]) -> Result<(Option<i32>, Vec<String>), String> {
    let exe = std::env::current_exe().map_err(|error| format!("cannot find ballast: {error}"))?;
    println!("ballast hil --timings: ballast hil {}", args.join(" "));
    let mut child = Command::new(exe)
        .arg("hil")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot start ballast hil: {error}"))?;
    let mut output = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            output.push(line);
        }
    }
    let status = child
        .wait()
        .map_err(|error| format!("ballast hil did not finish: {error}"))?;
    Ok((status.code(), output))
}

/// Run the timings with `args`.
pub fn run(args: &[String]) -> ExitCode {
    let (runs, passed) = match parse(args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("ballast hil: {message}\nusage: ballast hil --timings RUNS [--arch x86_64|aarch64] [--timeout SECONDS] [--xen XEN]");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let arm64 = passed.windows(2).any(|pair| pair[1] == "aarch64");
    // The boot targets CI's memory-server runs use: below each image's boot memory.
    let target_mib = if arm64 { "448" } else { "192" };
    let rounds = TIMED_ROUNDS.to_string();
    let mut samples = Samples::default();
    let mut problems = Vec::new();
    for _ in 0..runs {
        let mut boots: Vec<(Option<&str>, Vec<&str>)> = Vec::new();
        for first in ["2M", "4K"] {
            let timed = ["--scenario", "components", "--timed-rounds", &rounds];
            boots.push((Some(first), [&timed[..], &["--first", first]].concat()));
            boots.push((Some(first), vec!["--scenario", "balloon", "--first", first]));
        }
        boots.push((
            None,
            vec!["--app", "memory-server", "--target-mib", target_mib],
        ));
        for (first, options) in boots {
            let args: Vec<String> = (passed.iter().map(String::as_str))
                .chain(options)
                .map(String::from)
                .collect();
            match boot(&args) {
                Ok((Some(0), output)) => match first {
                    Some(first) => samples.take_test_app(&output, first),
                    None => samples.take_product_boot(&output),
                },
                Ok((Some(status), _)) if status == i32::from(EXIT_MISSING_TOOLS) => {
                    return ExitCode::from(EXIT_MISSING_TOOLS);
                }
                Ok((status, _)) => problems.push(format!(
                    "ballast hil {} exited with {status:?}",
                    args.join(" ")
                )),
                Err(message) => problems.push(message),
            }
        }
    }
    problems.extend(samples.missing());
    let arch = if arm64 { Arch::Aarch64 } else { Arch::X86_64 };
    println!("\n---- ballast hil --timings summary ----");
    let title = format!(
        "ballast hil --timings {runs} ({}): medians [min, max] over the boots; 128 MiB per move",
        arch.name()
    );
    for row in samples.table(&title) {
        println!("{row}");
    }
    match checkout::root().and_then(|root| beside_hil::simulated(arch, &root)) {
        Ok(simulated) => {
            let rows = beside_hil::compare(&simulated, &samples.product_medians());
            println!();
            for line in beside_hil::table(arch, &rows, "this run's medians") {
                println!("{line}");
            }
        }
        Err(message) => problems.push(format!("the simulator beside this run: {message}")),
    }
    if problems.is_empty() {
        println!("ballast hil --timings: PASS");
        ExitCode::SUCCESS
    } else {
        for problem in &problems {
            println!("  problem: {problem}");
        }
        println!("ballast hil --timings: FAIL");
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(messages: &[&str]) -> Vec<String> {
        messages
            .iter()
            .map(|message| format!("[   1.000s] guest | {message}"))
            .collect()
    }

    const PRODUCT: &str = "timing path=product policy=2M op=set_target_down round=1 bytes=134217728 calls=2 scrubbed=32768 skipped=0 us=40000 scrub_us=30000 hypercall_us=9000 rest_us=1000";

    #[test]
    fn the_boots_first_move_is_cold_repeats_warm_and_the_second_policys_first_is_neither() {
        let mut samples = Samples::default();
        samples.take_test_app(
            &lines(&[
                PRODUCT,
                "timing path=product policy=4K op=set_target_down round=1 bytes=134217728 calls=64 scrubbed=0 skipped=32768 us=90000",
                "timing path=product policy=4K op=set_target_down round=2 bytes=134217728 calls=64 scrubbed=0 skipped=32768 us=80000",
                "timing policy=4K run=first op=decrease bytes=134217728 calls=64 ms=405.427",
                "timing policy=2M run=repeat op=scrub bytes=134217728 calls=0 ms=34.781",
                "timing path=components policy=2M op=set_target_up bytes=67108864 calls=1 ms=7.844",
            ]),
            "2M",
        );
        let keys: Vec<_> = samples.moves.keys().cloned().collect();
        let key =
            |path, policy: &str, run, op: &str| (path, policy.to_string(), run, op.to_string());
        assert_eq!(
            keys,
            [
                key("product", "2M", Run::Cold, "set_target_down"),
                key("product", "4K", Run::Warm, "set_target_down"),
                key("raw", "2M", Run::Warm, "scrub"),
            ]
        );
        let cold = &samples.moves[&keys[0]][0];
        assert_eq!(cold.calls, 2);
        assert_eq!(
            cold.split,
            Some(Split {
                scrub_us: 30000.0,
                hypercall_us: 9000.0,
                rest_us: 1000.0
            })
        );
        assert_eq!(samples.moves[&keys[2]][0].total_us, 34781.0);
    }

    #[test]
    fn with_the_seed_first_its_first_move_is_the_cold_one() {
        let mut samples = Samples::default();
        samples.take_test_app(
            &lines(&[
                PRODUCT,
                "timing policy=4K run=first op=decrease bytes=134217728 calls=64 ms=405.427",
            ]),
            "4K",
        );
        let keys: Vec<_> = samples.moves.keys().map(|key| (key.0, key.2)).collect();
        assert_eq!(keys, [("raw", Run::Cold)]);
    }

    #[test]
    fn a_run_without_every_figure_is_incomplete_and_the_boot_time_is_read_from_the_summary() {
        let mut samples = Samples::default();
        samples.take_test_app(&lines(&[PRODUCT]), "2M");
        samples.take_product_boot(&[format!(
            "  {BOOT_TARGET_LINE} (its boot target set): 1.298 s"
        )]);
        assert_eq!(samples.boot_s, [1.298]);
        let missing = samples.missing();
        assert!(!missing
            .iter()
            .any(|m| m.contains("product 2M cold set_target_down")));
        assert!(missing
            .iter()
            .any(|m| m == "no product 4K warm set_target_up sample"));
        assert!(missing.iter().any(|m| m == "no raw 2M cold scrub sample"));
        assert!(!missing.iter().any(|m| m.contains("boot time")));
        let table = samples.table("t");
        assert!(table[3].contains("| product | 2M | cold | set_target_down | 1 | 2 | 32768 [32768, 32768] | 40.0 [40.0, 40.0] | 30.0 [30.0, 30.0] | 9.0 [9.0, 9.0] | 1.0 [1.0, 1.0] | 2.5 [2.5, 2.5] % |"), "{table:?}");
    }

    #[test]
    fn options_the_timings_choose_themselves_are_refused_and_the_rest_pass_through() {
        let args = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse(&args(&["--timings", "3", "--arch", "aarch64"])),
            Ok((3, args(&["--arch", "aarch64"])))
        );
        assert!(parse(&args(&["--timings", "3", "--scenario", "smoke"])).is_err());
        assert!(parse(&args(&["--timings", "0"])).is_err());
        assert!(parse(&args(&["--timings"])).is_err());
    }
}
