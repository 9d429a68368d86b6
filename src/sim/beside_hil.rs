//! The simulator beside real Xen: the product-path rounds of `ballast hil --timings` (128 MiB
//! `set_target` down and up through the components, twice) played by `ballast sim` on the same
//! guest under the same architecture's cost model (`scenarios/hil-components*.toml`), and set
//! beside real medians move by move. `ballast hil --timings` sets them beside its own run;
//! `ballast bench` beside [`REFERENCE`], a run the cost model was not fitted from.
//!
//! The goal (issue 18) is the simulated time within 25% of real Xen's. It is judged on the warm
//! moves: a cold move also pays QEMU's first touch of host memory, which the emulator adds, which
//! moves by up to 6x between two runs of one commit, and which no model of Xen can predict. The
//! cold rows are shown all the same.

use std::path::Path;

use ballast_system::Policy;

use super::{simulate, SimOptions};

/// The goal: simulated time within this fraction of real Xen's.
pub const GOAL_FRACTION: f64 = 0.25;

/// The architecture of a `ballast hil` image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// The x86-64 PVH dom0.
    X86_64,
    /// The arm64 dom0less domU.
    Aarch64,
}

impl Arch {
    /// Both.
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// The name `ballast hil --arch` takes.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// The scenario that plays its test app's product rounds, from the checkout.
    pub fn scenario(self) -> &'static str {
        match self {
            Arch::X86_64 => "scenarios/hil-components.toml",
            Arch::Aarch64 => "scenarios/hil-components-arm64.toml",
        }
    }
}

/// One product-path move as `ballast hil --timings` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Move {
    /// `2M` (ballast's policy) or `4K` (the seed's).
    pub policy: &'static str,
    /// `cold` (the boot's first move) or `warm` (a repeat).
    pub run: &'static str,
    /// `set_target_down` or `set_target_up`.
    pub op: &'static str,
}

impl Move {
    /// Whether the goal is judged on it.
    pub fn judged(&self) -> bool {
        self.run == "warm"
    }

    /// A short name, for JSON keys: `ballast_warm_down`, `seed_cold_up`, ...
    pub fn key(&self) -> String {
        let policy = if self.policy == "2M" {
            "ballast"
        } else {
            "seed"
        };
        let op = self.op.trim_start_matches("set_target_");
        format!("{policy}_{}_{op}", self.run)
    }
}

/// The scenario's targets in order, as the moves they are: its first pair is cold, its second
/// warm.
const SCENARIO_MOVES: [(&str, &str); 4] = [
    ("cold", "set_target_down"),
    ("cold", "set_target_up"),
    ("warm", "set_target_down"),
    ("warm", "set_target_up"),
];

/// Every move the scenario plays, both policies.
pub fn simulated_moves() -> Vec<Move> {
    ["2M", "4K"]
        .into_iter()
        .flat_map(|policy| {
            SCENARIO_MOVES
                .into_iter()
                .map(move |(run, op)| Move { policy, run, op })
        })
        .collect()
}

/// A move's time, ms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timed {
    /// Which move.
    pub step: Move,
    /// Its time.
    pub ms: f64,
}

/// The product rounds of `arch`'s test app in the simulator, both policies, from the checkout at
/// `root`.
pub fn simulated(arch: Arch, root: &Path) -> Result<Vec<Timed>, String> {
    let mut moves = Vec::new();
    for (policy, name) in [(Policy::Ballast, "2M"), (Policy::Seed, "4K")] {
        let options = SimOptions {
            scenario: Some(root.join(arch.scenario())),
            policy: Some(policy),
            quiet: true,
            ..SimOptions::default()
        };
        let report = simulate(&options)?;
        if report.targets.len() != SCENARIO_MOVES.len() {
            return Err(format!(
                "{}: {} targets, the product rounds have {}",
                arch.scenario(),
                report.targets.len(),
                SCENARIO_MOVES.len()
            ));
        }
        for (&(run, op), outcome) in SCENARIO_MOVES.iter().zip(&report.targets) {
            let seconds = outcome.reached_after_s.ok_or_else(|| {
                format!(
                    "{} under {name}: target {} never reached",
                    arch.scenario(),
                    outcome.target_pages
                )
            })?;
            moves.push(Timed {
                step: Move {
                    policy: name,
                    run,
                    op,
                },
                ms: seconds * 1000.0,
            });
        }
    }
    Ok(moves)
}

/// One move, simulated and real.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison {
    /// Which move.
    pub step: Move,
    /// The simulator's time, ms.
    pub sim_ms: f64,
    /// Real Xen's median, ms.
    pub hil_ms: f64,
}

impl Comparison {
    /// Simulated over real.
    pub fn ratio(&self) -> f64 {
        self.sim_ms / self.hil_ms
    }

    /// Whether the ratio is within the goal.
    pub fn within_goal(&self) -> bool {
        (self.ratio() - 1.0).abs() <= GOAL_FRACTION
    }
}

/// The moves both sides have, in the order of `sim`.
pub fn compare(sim: &[Timed], hil: &[Timed]) -> Vec<Comparison> {
    sim.iter()
        .filter_map(|s| {
            let real = hil.iter().find(|h| h.step == s.step)?;
            Some(Comparison {
                step: s.step,
                sim_ms: s.ms,
                hil_ms: real.ms,
            })
        })
        .collect()
}

/// The comparison as markdown rows, and the verdict on the judged moves.
pub fn table(arch: Arch, rows: &[Comparison], against: &str) -> Vec<String> {
    let mut lines = vec![
        format!(
            "the simulator beside {against} ({}; `ballast sim {}`, both policies)",
            arch.name(),
            arch.scenario()
        ),
        "| policy | run | op | sim ms | hil ms | sim / hil |".into(),
        "|---|---|---|---|---|---|".into(),
    ];
    for row in rows {
        lines.push(format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.2} |",
            row.step.policy,
            row.step.run,
            row.step.op,
            row.sim_ms,
            row.hil_ms,
            row.ratio()
        ));
    }
    let judged: Vec<&Comparison> = rows.iter().filter(|row| row.step.judged()).collect();
    let within = judged.iter().filter(|row| row.within_goal()).count();
    lines.push(format!(
        "warm moves within {:.0}% of real Xen: {within} of {} (cold moves also pay QEMU's first touch, outside the model)",
        GOAL_FRACTION * 100.0,
        judged.len()
    ));
    lines
}

/// Real medians the bench compares with: the product rows of `ballast hil --timings 3` (and
/// `--arch aarch64`) in the clean-clone CI run at commit bc54000 (7 December 2026, 05:10 to 05:34
/// UTC, load average 2 to 3.5), a run the cost model was not fitted from (it was fitted from
/// b380e9e's raw rows and seed rows).
pub const REFERENCE: &str = "ballast hil --timings 3, CI run at bc54000";

/// [`REFERENCE`]'s medians of `arch`, ms.
pub fn reference(arch: Arch) -> Vec<Timed> {
    let medians: [(&str, &str, &str, f64); 8] = match arch {
        Arch::X86_64 => [
            ("2M", "cold", "set_target_down", 323.4),
            ("2M", "cold", "set_target_up", 252.9),
            ("2M", "warm", "set_target_down", 205.2),
            ("2M", "warm", "set_target_up", 13.6),
            ("4K", "cold", "set_target_down", 591.9),
            ("4K", "cold", "set_target_up", 602.6),
            ("4K", "warm", "set_target_down", 458.0),
            ("4K", "warm", "set_target_up", 342.0),
        ],
        Arch::Aarch64 => [
            ("2M", "cold", "set_target_down", 265.4),
            ("2M", "cold", "set_target_up", 18.3),
            ("2M", "warm", "set_target_down", 202.4),
            ("2M", "warm", "set_target_up", 16.9),
            ("4K", "cold", "set_target_down", 362.5),
            ("4K", "cold", "set_target_up", 189.7),
            ("4K", "warm", "set_target_down", 318.9),
            ("4K", "warm", "set_target_up", 286.8),
        ],
    };
    medians
        .iter()
        .map(|&(policy, run, op, ms)| Timed {
            step: Move { policy, run, op },
            ms,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed(policy: &'static str, run: &'static str, op: &'static str, ms: f64) -> Timed {
        Timed {
            step: Move { policy, run, op },
            ms,
        }
    }

    #[test]
    fn moves_pair_by_name_and_only_warm_ones_are_judged() {
        let sim = [
            timed("2M", "cold", "set_target_up", 13.0),
            timed("2M", "warm", "set_target_up", 13.0),
            timed("4K", "warm", "set_target_down", 600.0),
        ];
        let hil = [
            timed("4K", "warm", "set_target_down", 450.0),
            timed("2M", "warm", "set_target_up", 12.0),
            timed("2M", "cold", "set_target_up", 250.0),
        ];
        let rows = compare(&sim, &hil);
        assert_eq!(rows.len(), 3);
        assert!(!rows[0].step.judged() && !rows[0].within_goal());
        assert!(rows[1].within_goal());
        assert!((rows[2].ratio() - 600.0 / 450.0).abs() < 1e-9);
        assert!(!rows[2].within_goal());
        let lines = table(Arch::X86_64, &rows, "a run");
        assert_eq!(
            lines.last().map(String::as_str),
            Some("warm moves within 25% of real Xen: 1 of 2 (cold moves also pay QEMU's first touch, outside the model)")
        );
    }

    #[test]
    fn a_move_missing_on_one_side_is_left_out() {
        let sim = [timed("2M", "warm", "set_target_up", 13.0)];
        assert!(compare(&sim, &[]).is_empty());
    }

    #[test]
    fn keys_name_policy_run_and_direction() {
        let step = Move {
            policy: "4K",
            run: "cold",
            op: "set_target_down",
        };
        assert_eq!(step.key(), "seed_cold_down");
    }

    #[test]
    fn the_reference_has_every_move_of_the_scenario() {
        for arch in Arch::ALL {
            let reference = reference(arch);
            for policy in ["2M", "4K"] {
                for (run, op) in SCENARIO_MOVES {
                    assert!(
                        reference
                            .iter()
                            .any(|t| t.step == Move { policy, run, op } && t.ms > 0.0),
                        "{arch:?} {policy} {run} {op}"
                    );
                }
            }
        }
    }
}
