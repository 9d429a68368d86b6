//! `ballast` from any directory of the checkout: its defaults (the default scenario and the
//! manifest it names, every manifest `check` looks at) are found in the checkout, while paths a
//! user passes, and the files it writes, stay relative to the user's current directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `ballast ARGS` run from `dir`.
fn ballast_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ballast"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The checkout's `manifests/*.toml`, sorted.
fn shipped_manifests() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("manifests"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn the_default_simulation_runs_from_a_subdirectory() {
    let output = ballast_in(&Path::new(ROOT).join("components"), &["sim", "--quiet"]);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    let row = |words: &[&str]| {
        stdout.lines().any(|line| {
            line.split_whitespace()
                .take(words.len())
                .eq(words.iter().copied())
        })
    };
    assert!(
        row(&["scenario", "default"]),
        "the default scenario ran: {stdout}"
    );
    assert!(row(&["reached", "every", "target", "yes"]), "{stdout}");
}

#[test]
fn check_without_files_checks_every_manifest_of_the_checkout_from_a_subdirectory() {
    let output = ballast_in(&Path::new(ROOT).join("components/xen"), &["check"]);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    let manifests = shipped_manifests();
    assert!(manifests.len() >= 3, "sim, xen-pvh, xen-arm64");
    // One summary line per manifest; the lines under it (its notification capabilities) indented.
    let summaries: Vec<&str> = stdout
        .lines()
        .filter(|line| !line.starts_with(' '))
        .collect();
    assert_eq!(summaries.len(), manifests.len(), "{stdout}");
    for (line, manifest) in summaries.iter().zip(&manifests) {
        assert!(
            line.starts_with(&format!("{}: ok: image ", manifest.display())),
            "{line}"
        );
    }
}

#[test]
fn paths_a_user_passes_stay_relative_to_the_current_directory() {
    let components = Path::new(ROOT).join("components");
    let output = ballast_in(&components, &["check", "../manifests/sim.toml"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).starts_with("../manifests/sim.toml: ok: image ballast-sim"));

    let output = ballast_in(&components, &["check", "manifests/sim.toml"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("manifests/sim.toml: (file): cannot read the manifest"),
        "not looked up in the checkout behind the user's back: {stderr}"
    );

    let scenario = "../scenarios/boot-to-target.toml";
    let json = format!("ballast-any-directory-{}.json", std::process::id());
    let output = ballast_in(&components, &["sim", scenario, "--quiet", "--json", &json]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let written = components.join(&json);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&written).unwrap()).unwrap();
    std::fs::remove_file(&written).unwrap();
    assert_eq!(report["scenario"], "boot-to-target");
    assert_eq!(report["reached_target"], true);
}
