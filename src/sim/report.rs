//! What a simulation run produced: the time series, the summary table printed at the end, and
//! the JSON written with `--json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// The state of the guest at one instant of simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// Simulated time in milliseconds.
    pub time_ms: u64,
    /// Balloon target, in pages.
    pub target_pages: u64,
    /// Pages the guest holds (Xen's current_reservation).
    pub current_pages: u64,
    /// Pages in the balloon.
    pub ballooned_pages: u64,
    /// Unpopulated pages lent to clients.
    pub lent_pages: u64,
}

/// How one target of the timeline went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetOutcome {
    /// When the target was set, in simulated seconds.
    pub set_at_s: f64,
    /// The target, in pages.
    pub target_pages: u64,
    /// Simulated seconds from the write to the guest reaching it; `None` if it never did.
    pub reached_after_s: Option<f64>,
}

/// How a populate-on-demand boot went (scenarios with a `[pod]` section only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodReport {
    /// Pages Xen backed at boot (`memory`).
    pub memory_pages: u64,
    /// Real pages outside the memory map.
    pub special_pages: u64,
    /// Pages the server's model held beyond Xen's count at start.
    pub boot_deficit: u64,
    /// Frames the server released at start without scrubbing.
    pub boot_unscrubbed_frames: u64,
    /// Settling batches it released, each followed by a probe, until Xen's count fell.
    pub boot_settling_batches: u64,
    /// Xen's PoD entries once the server had started (`xl debug-keys q`), after the call that
    /// started it.
    pub entries_at_start: Option<u64>,
    /// Xen's PoD cache then.
    pub cache_at_start: Option<u64>,
    /// PoD entries at the end.
    pub entries: u64,
    /// PoD cache at the end.
    pub cache: u64,
    /// PoD entries the guest touched, backed from the cache.
    pub demand_populated: u64,
    /// Pages the cache took from the host when a target raised the PoD target (`xl mem-set`).
    pub cache_grown: u64,
    /// Why the domain crashed, if it did.
    pub crashed: Option<String>,
}

/// How a domain with a growth range moved past its boot maximum and back (manifests with
/// `memory.growth` only).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrowthReport {
    /// The largest target without growth (RAM, boot extra and reserved), in the domain's pages.
    pub boot_max_pages: u64,
    /// Pages of the growth range.
    pub growth_pages: u64,
    /// Per target, in order: where the domain stood, how long and how many hypercalls it took.
    pub steps: Vec<GrowthStep>,
}

/// One target of a run with a growth range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrowthStep {
    /// When the target was set, in simulated seconds.
    pub set_at_s: f64,
    /// Xen's page count when it was set.
    pub from_pages: u64,
    /// The target, in pages.
    pub target_pages: u64,
    /// Simulated seconds until the domain held it; `None` if it never did.
    pub reached_after_s: Option<f64>,
    /// Hypercalls from the target's write until the domain held it; `None` if it never did.
    pub hypercalls: Option<u64>,
}

/// Everything a run reports. The JSON keys are part of the CLI's interface.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: String,
    /// `ballast` or `seed`.
    pub policy: String,
    /// The scheduler and fault seed.
    pub seed: u64,
    /// Final target, in pages.
    pub target_pages: u64,
    /// Final current reservation, in pages.
    pub current_pages: u64,
    /// Final balloon size, in pages.
    pub ballooned_pages: u64,
    /// Final pages lent to clients.
    pub lent_pages: u64,
    /// Reservation hypercalls made.
    pub hypercalls: u64,
    /// Pages given back to Xen.
    pub pages_released: u64,
    /// Pages populated again.
    pub pages_populated: u64,
    /// Pages the server scrubbed before giving them back (they could hold the guest's data).
    pub scrubbed_pages: u64,
    /// Pages the server gave back unscrubbed: populated by it into an empty 2 MiB chunk and
    /// written by nobody since (the start's unscrubbed releases on populate-on-demand apart).
    pub scrub_skipped_pages: u64,
    /// Extents moved, by order.
    pub extents_by_order: BTreeMap<u8, u64>,
    /// Worker retries after a failed or short batch.
    pub retries: u64,
    /// Loans granted to clients, and loans reclaimed from dead clients.
    pub loans_granted: u64,
    /// Frames reclaimed from clients that died.
    pub frames_reclaimed: u64,
    /// Invariant checks run (one after every step).
    pub invariant_checks: u64,
    /// Invariant checks that failed.
    pub invariant_violations: u64,
    /// Whether every target of the timeline was reached.
    pub reached_target: bool,
    /// The populate-on-demand boot, if the scenario asked for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodReport>,
    /// Growth past the boot maximum, if the manifest has a growth range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub growth: Option<GrowthReport>,
    /// Per target: when it was set and how long it took.
    pub targets: Vec<TargetOutcome>,
    /// The time series (also what `--plot` draws).
    pub samples: Vec<Sample>,
}

impl RunReport {
    /// The summary table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mut row = |name: &str, value: String| {
            let _ = writeln!(out, "  {name:<28} {value}");
        };
        row(
            "scenario",
            format!(
                "{} (policy {}, seed {})",
                self.scenario, self.policy, self.seed
            ),
        );
        row(
            "target / current pages",
            format!("{} / {}", self.target_pages, self.current_pages),
        );
        row(
            "ballooned / lent pages",
            format!("{} / {}", self.ballooned_pages, self.lent_pages),
        );
        row(
            "pages released / populated",
            format!("{} / {}", self.pages_released, self.pages_populated),
        );
        row(
            "pages scrubbed / unscrubbed",
            format!(
                "{} / {} ({} MiB / {} MiB)",
                self.scrubbed_pages,
                self.scrub_skipped_pages,
                self.scrubbed_pages >> 8,
                self.scrub_skipped_pages >> 8
            ),
        );
        row("hypercalls", self.hypercalls.to_string());
        let orders: Vec<String> = self
            .extents_by_order
            .iter()
            .map(|(order, n)| format!("order {order}: {n}"))
            .collect();
        row(
            "extents by order",
            if orders.is_empty() {
                "none".into()
            } else {
                orders.join(", ")
            },
        );
        row("retries", self.retries.to_string());
        row("loans granted", self.loans_granted.to_string());
        row(
            "frames reclaimed from dead",
            self.frames_reclaimed.to_string(),
        );
        row(
            "invariant checks",
            format!(
                "{} passed, {} violations",
                self.invariant_checks - self.invariant_violations,
                self.invariant_violations
            ),
        );
        if let Some(pod) = &self.pod {
            row(
                "PoD boot",
                format!(
                    "memory {} pages, {} special; deficit {}, released {} unscrubbed, {} settling batches",
                    pod.memory_pages,
                    pod.special_pages,
                    pod.boot_deficit,
                    pod.boot_unscrubbed_frames,
                    pod.boot_settling_batches
                ),
            );
            let at_start = match (pod.entries_at_start, pod.cache_at_start) {
                (Some(entries), Some(cache)) => format!("entries={entries} cachesize={cache}"),
                _ => "not started".into(),
            };
            row("PoD after start", at_start);
            row(
                "PoD at the end",
                format!(
                    "entries={} cachesize={}, {} touched, {} grown by mem-set, {}",
                    pod.entries,
                    pod.cache,
                    pod.demand_populated,
                    pod.cache_grown,
                    pod.crashed.as_deref().unwrap_or("no crash")
                ),
            );
        }
        if let Some(growth) = &self.growth {
            row(
                "boot maximum / growth pages",
                format!("{} / {}", growth.boot_max_pages, growth.growth_pages),
            );
            let past_boot = |pages: u64| pages > growth.boot_max_pages;
            for step in &growth.steps {
                if !(past_boot(step.target_pages) || past_boot(step.from_pages)) {
                    continue;
                }
                let outcome = match (step.reached_after_s, step.hypercalls) {
                    (Some(after), Some(calls)) => format!("{after:.3} s, {calls} hypercalls"),
                    _ => "NOT reached".into(),
                };
                let verb = if step.target_pages >= step.from_pages {
                    "grow"
                } else {
                    "shrink"
                };
                let mib = step.target_pages.abs_diff(step.from_pages) / 256;
                row(
                    &format!("{verb} {mib} MiB @ {:.1} s", step.set_at_s),
                    outcome,
                );
            }
        }
        for target in &self.targets {
            let outcome = match target.reached_after_s {
                Some(after) => format!("reached after {after:.3} s"),
                None => "NOT reached".into(),
            };
            row(
                &format!("target {} @ {:.1} s", target.target_pages, target.set_at_s),
                outcome,
            );
        }
        row(
            "reached every target",
            if self.reached_target { "yes" } else { "NO" }.into(),
        );
        out
    }

    /// The report as pretty JSON (`--json FILE`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serializes: plain numbers and strings")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> RunReport {
        RunReport {
            scenario: "t".into(),
            policy: "ballast".into(),
            seed: 7,
            target_pages: 10,
            current_pages: 10,
            ballooned_pages: 5,
            lent_pages: 1,
            hypercalls: 3,
            pages_released: 5,
            pages_populated: 0,
            scrubbed_pages: 5,
            scrub_skipped_pages: 0,
            extents_by_order: BTreeMap::from([(0, 5)]),
            retries: 0,
            loans_granted: 1,
            frames_reclaimed: 0,
            invariant_checks: 4,
            invariant_violations: 0,
            reached_target: true,
            targets: vec![TargetOutcome {
                set_at_s: 1.0,
                target_pages: 10,
                reached_after_s: Some(0.5),
            }],
            pod: None,
            growth: None,
            samples: vec![],
        }
    }

    #[test]
    fn json_has_the_documented_keys() {
        let json: serde_json::Value = serde_json::from_str(&report().to_json()).unwrap();
        for key in [
            "target_pages",
            "current_pages",
            "ballooned_pages",
            "lent_pages",
            "hypercalls",
            "scrubbed_pages",
            "scrub_skipped_pages",
            "invariant_violations",
            "reached_target",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        assert_eq!(json["hypercalls"], 3);
    }

    #[test]
    fn table_shows_targets_and_invariants() {
        let table = report().table();
        assert!(table.contains("target 10 @ 1.0 s"), "{table}");
        assert!(table.contains("reached after 0.500 s"), "{table}");
        assert!(table.contains("4 passed, 0 violations"), "{table}");
        assert!(table.contains("5 / 0 (0 MiB / 0 MiB)"), "{table}");
    }

    #[test]
    fn table_shows_the_steps_past_the_boot_maximum_with_their_hypercalls() {
        let step = |from_pages, target_pages, hypercalls: Option<u64>| GrowthStep {
            set_at_s: 5.0,
            from_pages,
            target_pages,
            reached_after_s: hypercalls.map(|_| 0.25),
            hypercalls,
        };
        let mut report = report();
        report.growth = Some(GrowthReport {
            boot_max_pages: 1024,
            growth_pages: 512,
            steps: vec![
                step(512, 1024, Some(1)),
                step(1024, 1280, Some(2)),
                step(1536, 1024, None),
            ],
        });
        let table = report.table();
        assert!(
            table.contains("boot maximum / growth pages  1024 / 512"),
            "{table}"
        );
        assert!(
            !table.contains("grow 2 MiB"),
            "below the boot maximum: {table}"
        );
        assert!(table.contains("grow 1 MiB @ 5.0 s"), "{table}");
        assert!(table.contains("0.250 s, 2 hypercalls"), "{table}");
        assert!(table.contains("shrink 2 MiB @ 5.0 s"), "{table}");
        assert!(table.contains("NOT reached"), "{table}");
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["growth"]["steps"][1]["hypercalls"], 2);
        report.growth = None;
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert!(json.get("growth").is_none(), "only with a growth range");
    }
}
