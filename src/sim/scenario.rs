//! Scenario files (`scenarios/*.toml`): a timeline of balloon targets (as xenstore `memory/target`
//! writes would set them), client workloads, host memory pressure and Xen faults, played by
//! `ballast sim` against the system a manifest describes.

use std::fmt;
use std::path::{Path, PathBuf};

use ballast_xen_sim::CostModel;
use serde::Deserialize;

/// Guest pages (4 KiB) per MiB.
const PAGES_PER_MIB: u64 = 256;
/// Nanoseconds per millisecond.
const NS_PER_MS: u64 = 1_000_000;

/// One scenario, as written in its file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, shown in reports.
    pub name: String,
    /// What the scenario shows.
    pub description: String,
    /// The system image to run, relative to the repository root.
    #[serde(default = "default_manifest")]
    pub manifest: PathBuf,
    /// Simulated seconds to run.
    pub duration_s: f64,
    /// Balloon targets over time, in time order.
    #[serde(default)]
    pub targets: Vec<TargetChange>,
    /// Driver clients borrowing and returning frames.
    #[serde(default)]
    pub clients: Vec<ClientWorkload>,
    /// Windows in which other domains hold the host's free memory.
    #[serde(default)]
    pub pressure: Vec<HostPressure>,
    /// Xen faults to inject.
    #[serde(default)]
    pub faults: Vec<FaultWindow>,
    /// Build the domain on populate-on-demand, as `xl create` does with `memory` below `maxmem`.
    #[serde(default)]
    pub pod: Option<PodBoot>,
    /// Whose measured Xen the hypercalls and scrubs cost as in simulated time.
    #[serde(default)]
    pub xen_costs: XenCosts,
}

/// The architecture whose `ballast hil` measurements set the simulated Xen's costs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum XenCosts {
    /// Xen 4.17 on x86-64 (a PVH dom0 under QEMU TCG).
    #[default]
    #[serde(rename = "x86-64")]
    X86_64,
    /// Xen 4.17 on arm64 (a dom0less domU under QEMU TCG).
    #[serde(rename = "arm64")]
    Arm64,
}

impl XenCosts {
    /// The cost model.
    pub fn model(self) -> CostModel {
        match self {
            XenCosts::X86_64 => CostModel::X86_64,
            XenCosts::Arm64 => CostModel::ARM64,
        }
    }
}

/// A populate-on-demand boot: the manifest's RAM is the memory map (`maxmem`), Xen backs only
/// `memory_mib` of it; `special_pages` real pages (xenstore and console rings, ...) lie outside
/// the memory map.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodBoot {
    /// What Xen backs at boot (the xl config's `memory`), in MiB.
    pub memory_mib: u64,
    /// Pages Xen populates outside the memory map.
    pub special_pages: u64,
}

impl PodBoot {
    /// The pages backed at boot; `None` if they do not fit a page count.
    pub fn boot_pages(&self) -> Option<u64> {
        self.memory_mib.checked_mul(PAGES_PER_MIB)
    }
}

fn default_manifest() -> PathBuf {
    PathBuf::from("manifests/sim.toml")
}

/// A toolstack write of `memory/target`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetChange {
    /// When, in simulated seconds.
    pub at_s: f64,
    /// The new target, in MiB of guest memory.
    pub target_mib: u64,
    /// Xen's maximum for the domain, set just before the target, in MiB (`xl mem-max`: how a
    /// domain is let grow past its boot maximum, and brought back under it).
    #[serde(default)]
    pub max_mib: Option<u64>,
}

impl TargetChange {
    /// The target in guest pages; `None` if it does not fit a page count.
    pub fn target_pages(&self) -> Option<u64> {
        self.target_mib.checked_mul(PAGES_PER_MIB)
    }

    /// The new maximum in guest pages, if the change sets one; `Some(None)` if it does not fit a
    /// page count.
    pub fn max_pages(&self) -> Option<Option<u64>> {
        self.max_mib.map(|mib| mib.checked_mul(PAGES_PER_MIB))
    }
}

/// A driver client that borrows `frames` unpopulated frames every `every_ms` and returns each
/// loan after `hold_ms`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientWorkload {
    /// The client component's name in the manifest.
    pub client: String,
    /// First request, in simulated seconds.
    pub start_s: f64,
    /// No requests after this time; outstanding loans are still returned.
    pub stop_s: f64,
    /// Interval between requests.
    pub every_ms: u64,
    /// Frames per request.
    pub frames: u32,
    /// How long each loan is held.
    pub hold_ms: u64,
    /// Highest acceptable gfn (the seed's lowmem request, generalised), if any.
    #[serde(default)]
    pub max_gfn: Option<u64>,
    /// Die (without returning loans) at this time; the server must reclaim them.
    #[serde(default)]
    pub dies_at_s: Option<f64>,
}

impl ClientWorkload {
    /// The interval between requests in nanoseconds; `None` if it does not fit a clock reading.
    pub fn every_ns(&self) -> Option<u64> {
        self.every_ms.checked_mul(NS_PER_MS)
    }

    /// How long each loan is held in nanoseconds; `None` if it does not fit a clock reading.
    pub fn hold_ns(&self) -> Option<u64> {
        self.hold_ms.checked_mul(NS_PER_MS)
    }
}

/// Other domains take the host's free memory down to `host_free_mib` for a while.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostPressure {
    /// Start, in simulated seconds.
    pub from_s: f64,
    /// End, in simulated seconds.
    pub until_s: f64,
    /// Free host memory left during the window, in MiB.
    pub host_free_mib: u64,
}

impl HostPressure {
    /// The free host memory left, in pages; `None` if it does not fit a page count.
    pub fn host_free_pages(&self) -> Option<u64> {
        self.host_free_mib.checked_mul(PAGES_PER_MIB)
    }
}

/// The faults a scenario can inject: each is something real Xen does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Xen cannot find 2 MiB of contiguous host memory: order-9 populates complete nothing.
    NoSuperpages,
    /// Every `every_nth_call`-th reservation call completes only half its extents.
    ShortCount,
    /// The host pool is empty: populates complete nothing.
    HostExhausted,
}

/// A fault active for a window of simulated time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultWindow {
    /// Which fault.
    pub kind: FaultKind,
    /// Start, in simulated seconds.
    pub from_s: f64,
    /// End, in simulated seconds.
    pub until_s: f64,
    /// For `short-count`: which calls are shortened (every n-th, counted within the window).
    #[serde(default)]
    pub every_nth_call: Option<u32>,
}

/// A scenario that could not be read: names the file, the key and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file.
    pub file: PathBuf,
    /// The key (dotted path) or `line N` for a syntax error.
    pub key: String,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}; fix: {}",
            self.file.display(),
            self.key,
            self.problem,
            self.fix
        )
    }
}

impl std::error::Error for ScenarioError {}

impl Scenario {
    /// Read and check a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|error| ScenarioError {
            file: path.to_path_buf(),
            key: "(file)".into(),
            problem: format!("cannot be read: {error}"),
            fix: "pass the path of a scenario file, e.g. scenarios/default.toml".into(),
        })?;
        Scenario::parse(path, &text)
    }

    /// Parse and check scenario text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario =
            toml::from_str(text).map_err(|error| syntax_error(path, text, &error))?;
        scenario
            .check()
            .map_err(|(key, problem, fix)| ScenarioError {
                file: path.to_path_buf(),
                key,
                problem,
                fix,
            })?;
        Ok(scenario)
    }

    fn check(&self) -> Result<(), (String, String, String)> {
        let bad = |key: String, problem: String, fix: &str| Err((key, problem, fix.to_string()));
        if !(self.duration_s > 0.0 && self.duration_s.is_finite()) {
            return bad(
                "duration_s".into(),
                format!("{} is not a positive time", self.duration_s),
                "give the run length in simulated seconds, e.g. duration_s = 120",
            );
        }
        let Some(run_end_ns) = seconds_to_ns(self.duration_s) else {
            return bad(
                "duration_s".into(),
                format!(
                    "{} s is past the end of the simulated clock (2^64 ns, about 584 years)",
                    self.duration_s
                ),
                "give the run length in simulated seconds, e.g. duration_s = 120",
            );
        };
        if let Some(pod) = self.pod {
            if pod.memory_mib == 0 || pod.boot_pages().is_none() {
                return bad(
                    "pod.memory_mib".into(),
                    format!("{} MiB is not a size Xen can back", pod.memory_mib),
                    "give the xl config's memory in MiB, below the manifest's RAM, e.g. memory_mib = 2048",
                );
            }
        }
        let within = |t: f64| (0.0..=self.duration_s).contains(&t);
        let mut previous = 0.0;
        for (i, target) in self.targets.iter().enumerate() {
            if !within(target.at_s) {
                return bad(
                    format!("targets[{i}].at_s"),
                    format!(
                        "{} lies outside the run (0 to {} s)",
                        target.at_s, self.duration_s
                    ),
                    "move the change inside the run or raise duration_s",
                );
            }
            if target.at_s < previous {
                return bad(
                    format!("targets[{i}].at_s"),
                    format!(
                        "{} comes before the previous target's time {previous}",
                        target.at_s
                    ),
                    "list targets in time order",
                );
            }
            if target.target_pages().is_none() {
                return bad(
                    format!("targets[{i}].target_mib"),
                    format!(
                        "{} MiB is more pages than a 64-bit count holds",
                        target.target_mib
                    ),
                    "give the target in MiB of guest memory, e.g. target_mib = 1024",
                );
            }
            if target.max_pages().is_some_and(|pages| pages.is_none()) {
                return bad(
                    format!("targets[{i}].max_mib"),
                    format!(
                        "{} MiB is more pages than a 64-bit count holds",
                        target.max_mib.unwrap_or_default()
                    ),
                    "give Xen's maximum in MiB of guest memory, e.g. max_mib = 6912",
                );
            }
            if target.target_mib == 0 {
                return bad(
                    format!("targets[{i}].target_mib"),
                    "a target of 0 MiB would balloon out the whole guest".into(),
                    "give a target of at least a few MiB",
                );
            }
            previous = target.at_s;
        }
        for (i, client) in self.clients.iter().enumerate() {
            let key = |field: &str| format!("clients[{i}].{field}");
            if !(within(client.start_s) && within(client.stop_s) && client.start_s <= client.stop_s)
            {
                return bad(
                    key("stop_s"),
                    format!(
                        "the window {}..{} s is not inside the run (0 to {} s) in order",
                        client.start_s, client.stop_s, self.duration_s
                    ),
                    "set 0 <= start_s <= stop_s <= duration_s",
                );
            }
            if client.every_ms == 0 {
                return bad(
                    key("every_ms"),
                    "a request every 0 ms never lets time pass".into(),
                    "give an interval of at least 1 ms",
                );
            }
            // The clock reads nanoseconds in a u64: the next request and every loan's return
            // must still fall on it.
            let fits_after_the_run =
                |interval: Option<u64>| interval.and_then(|i| run_end_ns.checked_add(i));
            if fits_after_the_run(client.every_ns()).is_none() {
                return bad(
                    key("every_ms"),
                    format!(
                        "{} ms is past the end of the simulated clock",
                        client.every_ms
                    ),
                    "give the interval between requests in ms, e.g. every_ms = 100",
                );
            }
            if fits_after_the_run(client.hold_ns()).is_none() {
                return bad(
                    key("hold_ms"),
                    format!(
                        "{} ms is past the end of the simulated clock",
                        client.hold_ms
                    ),
                    "give how long a loan is held in ms, e.g. hold_ms = 500",
                );
            }
            if client.frames == 0 {
                return bad(
                    key("frames"),
                    "a request for 0 frames asks for nothing".into(),
                    "borrow at least 1 frame per request",
                );
            }
            if client.dies_at_s.is_some_and(|t| !within(t)) {
                return bad(
                    key("dies_at_s"),
                    "the client would die outside the run".into(),
                    "set dies_at_s inside 0..duration_s or remove it",
                );
            }
        }
        for (i, window) in self.pressure.iter().enumerate() {
            if !(within(window.from_s) && within(window.until_s) && window.from_s < window.until_s)
            {
                return bad(
                    format!("pressure[{i}].until_s"),
                    format!(
                        "the window {}..{} s is not inside the run in order",
                        window.from_s, window.until_s
                    ),
                    "set 0 <= from_s < until_s <= duration_s",
                );
            }
        }
        for (i, window) in self.pressure.iter().enumerate() {
            if window.host_free_pages().is_none() {
                return bad(
                    format!("pressure[{i}].host_free_mib"),
                    format!(
                        "{} MiB is more pages than a 64-bit count holds",
                        window.host_free_mib
                    ),
                    "give the free host memory left in MiB, e.g. host_free_mib = 256",
                );
            }
        }
        for (i, fault) in self.faults.iter().enumerate() {
            if !(within(fault.from_s) && within(fault.until_s) && fault.from_s < fault.until_s) {
                return bad(
                    format!("faults[{i}].until_s"),
                    format!(
                        "the window {}..{} s is not inside the run in order",
                        fault.from_s, fault.until_s
                    ),
                    "set 0 <= from_s < until_s <= duration_s",
                );
            }
            match (fault.kind, fault.every_nth_call) {
                (FaultKind::ShortCount, None | Some(0)) => {
                    return bad(
                        format!("faults[{i}].every_nth_call"),
                        "a short-count fault needs to know which calls to shorten".into(),
                        "add every_nth_call = N (N >= 1)",
                    );
                }
                (FaultKind::NoSuperpages | FaultKind::HostExhausted, Some(_)) => {
                    return bad(
                        format!("faults[{i}].every_nth_call"),
                        "only short-count faults take every_nth_call".into(),
                        "remove every_nth_call from this fault",
                    );
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// `seconds` on the simulated clock, in nanoseconds; `None` if past its end.
fn seconds_to_ns(seconds: f64) -> Option<u64> {
    let ns = (seconds * 1e9).round();
    // u64::MAX as f64 rounds up to 2^64, which is itself past the end.
    (ns < u64::MAX as f64).then_some(ns as u64)
}

fn syntax_error(path: &Path, text: &str, error: &toml::de::Error) -> ScenarioError {
    let message = error.message().to_string();
    // toml points at the table that holds an unknown field; point at the field itself.
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next());
    let line = error.span().map(|span| {
        let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
        let field_at = unknown.and_then(|field| {
            let mut offset = span.start;
            text[span.start..].split_inclusive('\n').find_map(|line| {
                let here = offset;
                offset += line.len();
                let key = line.trim_start().split(['=', ' ']).next()?;
                (key == field).then_some(here)
            })
        });
        line_of(field_at.unwrap_or(span.start))
    });
    let fix = if message.contains("unknown field") {
        "use one of the expected fields (see scenarios/README.md)"
    } else if message.contains("missing field") {
        "add the missing field (see scenarios/README.md)"
    } else if message.contains("unknown variant") {
        "use one of the listed values"
    } else {
        "correct the TOML at that line"
    };
    ScenarioError {
        file: path.to_path_buf(),
        key: line.map_or_else(|| "(document)".to_string(), |line| format!("line {line}")),
        problem: message,
        fix: fix.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, String> {
        Scenario::parse(Path::new("s.toml"), text).map_err(|error| error.to_string())
    }

    const HEADER: &str = "name = \"t\"\ndescription = \"d\"\nduration_s = 10\n";

    #[test]
    fn a_minimal_scenario_parses_with_the_default_manifest() {
        let scenario = parse(&format!(
            "{HEADER}[[targets]]\nat_s = 1\ntarget_mib = 1024\n"
        ))
        .unwrap();
        assert_eq!(scenario.manifest, PathBuf::from("manifests/sim.toml"));
        assert_eq!(scenario.targets[0].target_mib, 1024);
        assert!(scenario.pod.is_none());
        let pod = parse(&format!(
            "{HEADER}[pod]\nmemory_mib = 256\nspecial_pages = 3\n"
        ))
        .unwrap()
        .pod
        .unwrap();
        assert_eq!((pod.boot_pages(), pod.special_pages), (Some(65536), 3));
    }

    #[test]
    fn unknown_keys_name_the_line_and_the_fix() {
        let error = parse(&format!(
            "{HEADER}[[targets]]\nat_s = 1\ntarget_mb = 1024\n"
        ))
        .unwrap_err();
        assert!(
            error.starts_with("s.toml: line 6: unknown field `target_mb`"),
            "{error}"
        );
        assert!(
            error.ends_with("fix: use one of the expected fields (see scenarios/README.md)"),
            "{error}"
        );
    }

    #[test]
    fn semantic_errors_name_the_key_and_the_fix() {
        let cases = [
            (
                "[[targets]]\nat_s = 5\ntarget_mib = 10\n[[targets]]\nat_s = 2\ntarget_mib = 10\n",
                "s.toml: targets[1].at_s: 2 comes before the previous target's time 5; fix: list targets in time order",
            ),
            (
                "[[targets]]\nat_s = 50\ntarget_mib = 10\n",
                "s.toml: targets[0].at_s: 50 lies outside the run (0 to 10 s); fix: move the change inside the run or raise duration_s",
            ),
            (
                "[[clients]]\nclient = \"blk\"\nstart_s = 0\nstop_s = 5\nevery_ms = 0\nframes = 1\nhold_ms = 1\n",
                "s.toml: clients[0].every_ms: a request every 0 ms never lets time pass; fix: give an interval of at least 1 ms",
            ),
            (
                "[pod]\nmemory_mib = 0\nspecial_pages = 4\n",
                "s.toml: pod.memory_mib: 0 MiB is not a size Xen can back; fix: give the xl config's memory in MiB, below the manifest's RAM, e.g. memory_mib = 2048",
            ),
            (
                "[[faults]]\nkind = \"short-count\"\nfrom_s = 1\nuntil_s = 2\n",
                "s.toml: faults[0].every_nth_call: a short-count fault needs to know which calls to shorten; fix: add every_nth_call = N (N >= 1)",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(parse(&format!("{HEADER}{body}")).unwrap_err(), expected);
        }
    }

    #[test]
    fn values_past_a_64_bit_count_or_clock_name_the_key_and_the_fix() {
        let client = |every_ms: u64, hold_ms: u64| {
            format!("[[clients]]\nclient = \"blk\"\nstart_s = 0\nstop_s = 5\nevery_ms = {every_ms}\nframes = 1\nhold_ms = {hold_ms}\n")
        };
        let cases = [
            (
                // 2^56 MiB is 2^64 pages: it used to wrap to a target of 0.
                "[[targets]]\nat_s = 1\ntarget_mib = 72057594037927936\n".to_string(),
                "s.toml: targets[0].target_mib: 72057594037927936 MiB is more pages than a 64-bit count holds; fix: give the target in MiB of guest memory, e.g. target_mib = 1024",
            ),
            (
                // Fits in nanoseconds, but a request at the run's end would wrap the clock.
                client(18_446_744_073_709, 1),
                "s.toml: clients[0].every_ms: 18446744073709 ms is past the end of the simulated clock; fix: give the interval between requests in ms, e.g. every_ms = 100",
            ),
            (
                client(18_446_744_073_710, 1),
                "s.toml: clients[0].every_ms: 18446744073710 ms is past the end of the simulated clock; fix: give the interval between requests in ms, e.g. every_ms = 100",
            ),
            (
                client(100, 18_446_744_073_709),
                "s.toml: clients[0].hold_ms: 18446744073709 ms is past the end of the simulated clock; fix: give how long a loan is held in ms, e.g. hold_ms = 500",
            ),
            (
                // 2^56 MiB used to leave 0 free pages: the whole host taken.
                "[[pressure]]\nfrom_s = 1\nuntil_s = 2\nhost_free_mib = 72057594037927936\n".to_string(),
                "s.toml: pressure[0].host_free_mib: 72057594037927936 MiB is more pages than a 64-bit count holds; fix: give the free host memory left in MiB, e.g. host_free_mib = 256",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(parse(&format!("{HEADER}{body}")).unwrap_err(), expected);
        }
        assert_eq!(
            parse("name = \"t\"\ndescription = \"d\"\nduration_s = 1e12\n").unwrap_err(),
            "s.toml: duration_s: 1000000000000 s is past the end of the simulated clock (2^64 ns, about 584 years); fix: give the run length in simulated seconds, e.g. duration_s = 120"
        );
        // The largest values that still fit are accepted.
        parse(&format!(
            "{HEADER}[[targets]]\nat_s = 1\ntarget_mib = 72057594037927935\n{}",
            client(18_446_744_063_709, 18_446_744_063_709)
        ))
        .unwrap();
    }

    #[test]
    fn every_shipped_scenario_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut count = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Scenario::load(&path).unwrap_or_else(|error| panic!("{error}"));
                count += 1;
            }
        }
        assert!(
            count >= 5,
            "the default, boot-to-target, pressure, many-clients and 1 TiB scenarios ship"
        );
    }
}
