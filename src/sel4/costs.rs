//! The cost figures the seL4 image's HIL run reports (`images/sel4/pd-rt/src/costs.rs` and the
//! driver's `costs.rs`), read and checked on the host: the `stats` round trip between the control
//! agent's and the memory server's protection domains on three paths (`ipc_floor`, a raw seL4
//! `Call` answered by `ReplyRecv`; `ipc_generated`, ballast's generated client, runtime and
//! dispatch to a handler that only answers; `ipc_memory_server`, the same answered by the memory
//! server's own handler), the message's size in registers, borrowing and giving back one frame
//! (`borrow_give_back`), and the components' 64 MiB `set_target` moves (the `timing` lines the
//! summary repeats anyway). Every figure must be there, whole and consistent (minimum, median and maximum in order, the nanoseconds those of
//! the ticks), and no call refused; the summary sets the paths against the floor. The ratios are
//! reported, never judged: timing assertions would fail on a busy machine for no fault of the
//! code.

use std::collections::BTreeMap;

/// The `cost name=` lines a run must report.
pub const REQUIRED: [&str; 4] = [
    "ipc_floor",
    "ipc_generated",
    "ipc_memory_server",
    "borrow_give_back",
];
/// The components' `set_target` timings a run must report (`timing path=components`), as
/// `(policy, op)`.
pub const SET_TARGET: [(&str, &str); 4] = [
    ("2M", "set_target_down"),
    ("2M", "set_target_up"),
    ("4K", "set_target_down"),
    ("4K", "set_target_up"),
];

/// One `cost` line: the median, minimum and maximum of its samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Figure {
    /// How many round trips were timed.
    pub samples: u64,
    /// Median, minimum and maximum, in nanoseconds.
    pub ns: (u64, u64, u64),
    /// The same in ticks of the generic timer.
    pub ticks: (u64, u64, u64),
}

/// What the run reported so far, and what did not add up.
#[derive(Debug, Default)]
pub struct Costs {
    figures: BTreeMap<String, Figure>,
    /// Registers of the round trips' request and reply.
    message: Option<(u64, u64)>,
    /// The `(policy, op)` of each components' `set_target` timing seen.
    set_target: Vec<(String, String)>,
    problems: Vec<String>,
}

/// `key=value` words of `message`, after its first.
fn fields(message: &str) -> BTreeMap<&str, &str> {
    (message.split_whitespace().skip(1))
        .filter_map(|word| word.split_once('='))
        .collect()
}

impl Costs {
    /// Whether a seL4 HIL run booted with `cmdline` (the guest command line, or why there is none)
    /// measures the costs: every scenario but `server-death`, in which the memory server dies
    /// before they could be taken.
    pub fn measured_under(cmdline: &Result<String, String>) -> bool {
        cmdline.as_ref().map_or(true, |line| {
            !line
                .split_whitespace()
                .any(|word| word == "scenario=server-death")
        })
    }

    /// Take one decoded guest message (any: only the cost and timing lines count).
    pub fn message(&mut self, message: &str) {
        let keyword = message.split_whitespace().next().unwrap_or("");
        let fields = fields(message);
        let number = |key: &str| fields.get(key).and_then(|value| value.parse::<u64>().ok());
        match keyword {
            "cost" => self.figure(&fields, message),
            "cost_message" => match (
                number("request_registers"),
                number("reply_registers"),
                number("refused"),
            ) {
                (Some(request), Some(reply), Some(0)) => self.message = Some((request, reply)),
                _ => self.problems.push(format!(
                    "a round trip of the cost figures was refused, or the line is unreadable: {message}"
                )),
            },
            "cost_borrow" if number("failed") != Some(0) => self.problems.push(format!(
                "a borrow or give-back of the cost figures failed: {message}"
            )),
            "timing" if fields.get("path") == Some(&"components") => {
                if let (Some(policy), Some(op)) = (fields.get("policy"), fields.get("op")) {
                    (self.set_target).push((policy.to_string(), op.to_string()));
                }
            }
            _ => {}
        }
    }

    fn figure(&mut self, fields: &BTreeMap<&str, &str>, message: &str) {
        let number = |key: &str| fields.get(key).and_then(|value| value.parse::<u64>().ok());
        let triple = |unit: &str| {
            Some((
                number(&format!("median_{unit}"))?,
                number(&format!("min_{unit}"))?,
                number(&format!("max_{unit}"))?,
            ))
        };
        let parsed = (
            fields.get("name"),
            number("samples"),
            triple("ns"),
            triple("ticks"),
            number("frequency_hz").filter(|&hz| hz > 0),
        );
        let (Some(name), Some(samples @ 1..), Some(ns), Some(ticks), Some(hz)) = parsed else {
            self.problems
                .push(format!("unreadable or empty cost line: {message}"));
            return;
        };
        let (median, min, max) = ticks;
        let in_ns = |ticks: u64| (u128::from(ticks) * 1_000_000_000 / u128::from(hz)) as u64;
        if !(min <= median && median <= max) {
            self.problems.push(format!(
                "a cost line's minimum, median and maximum are out of order: {message}"
            ));
        } else if (in_ns(median), in_ns(min), in_ns(max)) != ns {
            self.problems.push(format!(
                "a cost line's nanoseconds are not its ticks at {hz} Hz: {message}"
            ));
        }
        let figure = Figure { samples, ns, ticks };
        if self.figures.insert(name.to_string(), figure).is_some() {
            self.problems.push(format!(
                "the cost figure {name} was reported twice: {message}"
            ));
        }
    }

    /// The figure `name`, if reported.
    pub fn figure_of(&self, name: &str) -> Option<Figure> {
        self.figures.get(name).copied()
    }

    /// The summary's lines and every problem, the missing figures included.
    pub fn finish(&self) -> (Vec<String>, Vec<String>) {
        let mut problems = self.problems.clone();
        for name in REQUIRED
            .iter()
            .filter(|name| !self.figures.contains_key(**name))
        {
            problems.push(format!(
                "no `cost name={name}` line: the cost figure is missing"
            ));
        }
        if self.message.is_none() {
            problems.push("no `cost_message` line: the round trips' size is unknown".to_string());
        }
        let seen = |policy: &str, op: &str| {
            (self.set_target.iter())
                .any(|(seen_policy, seen_op)| seen_policy == policy && seen_op == op)
        };
        for (policy, op) in SET_TARGET
            .into_iter()
            .filter(|(policy, op)| !seen(policy, op))
        {
            problems.push(format!(
                "no `timing path=components policy={policy} op={op}` line: the set_target cost is missing"
            ));
        }
        let mut lines = Vec::new();
        if let (Some(floor), Some((request, reply))) = (self.figure_of("ipc_floor"), self.message) {
            lines.push(format!(
                "cost round trip ({request} message registers in, {reply} out), median (min, max) of {} each:",
                floor.samples
            ));
            for name in ["ipc_floor", "ipc_generated", "ipc_memory_server"] {
                if let Some(figure) = self.figure_of(name) {
                    lines.push(format!(
                        "  {name:<18} {} ticks = {:.1} us ({:.1}, {:.1}), {:.2}x the floor",
                        figure.ticks.0,
                        micros(figure.ns.0),
                        micros(figure.ns.1),
                        micros(figure.ns.2),
                        figure.ns.0 as f64 / floor.ns.0.max(1) as f64
                    ));
                }
            }
        }
        if let Some(figure) = self.figure_of("borrow_give_back") {
            lines.push(format!(
                "cost borrow and give back one frame: median {:.1} us ({:.1}, {:.1}) of {}",
                micros(figure.ns.0),
                micros(figure.ns.1),
                micros(figure.ns.2),
                figure.samples
            ));
        }
        (lines, problems)
    }
}

fn micros(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &str = "cost_message op=stats request_registers=4 reply_registers=17 blocks=30 timed_per_block=100 refused=0";
    const FLOOR: &str = "cost name=ipc_floor samples=1000 median_ticks=1387 min_ticks=1363 max_ticks=268148 median_ns=22192 min_ns=21808 max_ns=4290368 frequency_hz=62500000";
    const GENERATED: &str = "cost name=ipc_generated samples=1000 median_ticks=2350 min_ticks=2306 max_ticks=271056 median_ns=37600 min_ns=36896 max_ns=4336896 frequency_hz=62500000";
    const SERVED: &str = "cost name=ipc_memory_server samples=1000 median_ticks=3805 min_ticks=3747 max_ticks=896515 median_ns=60880 min_ns=59952 max_ns=14344240 frequency_hz=62500000";
    const BORROW: &str = "cost name=borrow_give_back samples=200 median_ticks=6724 min_ticks=6571 max_ticks=649216 median_ns=107584 min_ns=105136 max_ns=10387456 frequency_hz=62500000";

    fn timing(policy: &str, op: &str) -> String {
        format!("timing path=components policy={policy} op={op} bytes=67108864 calls=2 ms=251.761")
    }

    fn costs(lines: &[&str]) -> Costs {
        let mut costs = Costs::default();
        for line in lines {
            costs.message(line);
        }
        for (policy, op) in SET_TARGET {
            costs.message(&timing(policy, op));
        }
        costs
    }

    #[test]
    fn a_whole_report_passes_and_sets_the_paths_against_the_floor() {
        let (lines, problems) = costs(&[
            MESSAGE,
            FLOOR,
            GENERATED,
            SERVED,
            BORROW,
            "cost_borrow failed=0",
        ])
        .finish();
        assert_eq!(problems, Vec::<String>::new());
        assert!(lines.contains(
            &"  ipc_generated      2350 ticks = 37.6 us (36.9, 4336.9), 1.69x the floor"
                .to_string()
        ));
        assert!(lines.iter().any(|line| line.starts_with(
            "cost round trip (4 message registers in, 17 out), median (min, max) of 1000 each"
        )));
        assert!(lines
            .iter()
            .any(|line| line.starts_with("cost borrow and give back one frame: median 107.6 us")));
    }

    #[test]
    fn a_missing_figure_or_set_target_line_fails() {
        let mut costs = Costs::default();
        for line in [MESSAGE, FLOOR, GENERATED, BORROW] {
            costs.message(line);
        }
        costs.message(&timing("2M", "set_target_down"));
        let (_, problems) = costs.finish();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("cost name=ipc_memory_server"));
        assert!(problems[1].contains("policy=2M op=set_target_up"));
    }

    #[test]
    fn inconsistent_refused_or_repeated_figures_fail() {
        let disordered = FLOOR.replace("min_ticks=1363", "min_ticks=1400");
        let wrong_ns = GENERATED.replace("median_ns=37600", "median_ns=3760");
        let refused = MESSAGE.replace("refused=0", "refused=3");
        let (_, problems) = costs(&[
            &refused,
            &disordered,
            &wrong_ns,
            SERVED,
            SERVED,
            BORROW,
            "cost_borrow frames=1 failed=2",
        ])
        .finish();
        assert_eq!(problems.len(), 6, "{problems:?}");
        assert!(problems[0].contains("refused"));
        assert!(problems[1].contains("out of order"));
        assert!(problems[2].contains("not its ticks"));
        assert!(problems[3].contains("reported twice"));
        assert!(problems[4].contains("borrow or give-back"));
        assert!(problems[5].contains("no `cost_message` line"));
    }

    #[test]
    fn every_scenario_but_server_death_measures_the_costs() {
        assert!(Costs::measured_under(&Ok("scenario=isolation".into())));
        assert!(Costs::measured_under(&Ok(String::new())));
        assert!(!Costs::measured_under(&Ok(
            "first=2M scenario=server-death".into()
        )));
    }

    #[test]
    fn an_empty_figure_is_unreadable() {
        let mut costs = Costs::default();
        costs.message("cost name=ipc_floor samples=0");
        assert!(costs.problems[0].contains("unreadable or empty"));
    }
}
