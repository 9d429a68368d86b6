//! Every shipped scenario, run by the `ballast` binary as a user would: each must reach every
//! target with no invariant violation, and write the JSON report with its documented keys.
//! Also: a run replays byte for byte from its seed, and a broken scenario names key and fix.

use std::path::{Path, PathBuf};
use std::process::Command;

fn ballast() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ballast"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

fn scenarios() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
}

fn run_to_json(scenario: &Path, extra: &[&str]) -> serde_json::Value {
    let json = std::env::temp_dir().join(format!(
        "ballast-{}-{}-{}.json",
        scenario.file_stem().unwrap().to_string_lossy(),
        extra.join("-"),
        std::process::id()
    ));
    let output = ballast()
        .arg("sim")
        .arg(scenario)
        .arg("--quiet")
        .arg("--json")
        .arg(&json)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}: {}\n{}",
        scenario.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    std::fs::remove_file(&json).unwrap();
    report
}

#[test]
fn every_shipped_scenario_reaches_its_targets_without_violations() {
    let scenarios = scenarios();
    assert!(
        scenarios.len() >= 5,
        "default, boot-to-target, memory-pressure, many-clients, guest-1tib"
    );
    for scenario in scenarios {
        let report = run_to_json(&scenario, &[]);
        for key in [
            "target_pages",
            "current_pages",
            "ballooned_pages",
            "lent_pages",
            "hypercalls",
        ] {
            assert!(
                report[key].is_u64(),
                "{}: {key} missing",
                scenario.display()
            );
        }
        assert_eq!(report["reached_target"], true, "{}", scenario.display());
        assert_eq!(report["invariant_violations"], 0, "{}", scenario.display());
        assert!(
            report["invariant_checks"].as_u64().unwrap() > 0,
            "{}",
            scenario.display()
        );
        assert_eq!(
            report["current_pages"],
            report["target_pages"],
            "{}",
            scenario.display()
        );
    }
}

#[test]
fn the_seed_policy_needs_more_hypercalls_and_a_seed_replays_exactly() {
    let default = Path::new("scenarios/default.toml");
    let seed = run_to_json(default, &["--policy", "seed"]);
    let ours = run_to_json(default, &["--policy", "ballast"]);
    assert_eq!(seed["policy"], "seed");
    assert!(seed["hypercalls"].as_u64().unwrap() > 10 * ours["hypercalls"].as_u64().unwrap());
    let again = run_to_json(default, &["--policy", "ballast"]);
    assert_eq!(ours, again, "the same seed gives the same run");
}

#[test]
fn a_broken_scenario_names_the_key_and_the_fix() {
    let broken = std::env::temp_dir().join(format!("ballast-broken-{}.toml", std::process::id()));
    std::fs::write(&broken, "name = \"b\"\ndescription = \"d\"\nduration_s = 5\n[[targets]]\nat_s = 9\ntarget_mib = 10\n").unwrap();
    let output = ballast()
        .arg("sim")
        .arg(&broken)
        .arg("--quiet")
        .output()
        .unwrap();
    std::fs::remove_file(&broken).unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("targets[0].at_s: 9 lies outside the run (0 to 5 s); fix: move the change inside the run or raise duration_s"),
        "{stderr}"
    );
}

#[test]
fn the_plot_is_an_svg_with_the_four_series() {
    let svg = std::env::temp_dir().join(format!("ballast-plot-{}.svg", std::process::id()));
    let output = ballast()
        .args(["sim", "scenarios/boot-to-target.toml", "--quiet", "--plot"])
        .arg(&svg)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    std::fs::remove_file(&svg).unwrap();
    assert!(text.starts_with("<svg"));
    for series in ["target", "current", "ballooned", "lent"] {
        assert!(text.contains(series), "legend entry {series}");
    }
}
