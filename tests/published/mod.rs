//! The counts BENCHMARKS.md publishes for a `ballast hil` run of the balloon scenario (its "Real
//! Xen" table), read back from the run's output: a change that alters any of them fails the test
//! of its architecture, and the table must be corrected with it.

use std::collections::BTreeMap;

/// What one architecture's run must report, as BENCHMARKS.md publishes it.
pub struct Published {
    /// `current_reservation` and `maximum_reservation` at boot, in pages.
    pub reservation: (u64, u64),
    /// Populating past the maximum with 2 MiB extents: extents asked, extents done.
    pub overmax_superpages: (u64, u64),
    /// The gateway's Xen-facts phase: calls, hypercalls, refusals.
    pub gateway_xen_facts: (u64, u64, u64),
    /// Xen's count before and after the deferred borrow of 1024 frames below 4 GiB.
    pub borrowed_low: (u64, u64),
    /// The reservation steps the host re-checked.
    pub steps_checked: u64,
}

/// The `key=value` fields of every guest line of `stdout` whose message starts with `start`, in
/// the order the guest logged them (the host's summary repeats some without the `guest | `).
fn records(stdout: &str, start: &str) -> Vec<BTreeMap<String, u64>> {
    stdout
        .lines()
        .filter_map(|line| line.split_once("guest | ").map(|(_, message)| message))
        .filter(|message| message.starts_with(start))
        .map(|message| {
            message
                .split_whitespace()
                .filter_map(|word| word.split_once('='))
                .filter_map(|(key, value)| Some((key.to_string(), value.parse().ok()?)))
                .collect()
        })
        .collect()
}

/// Fields `keys` of each guest line starting with `start`.
fn counts(stdout: &str, start: &str, keys: &[&str]) -> Vec<Vec<Option<u64>>> {
    records(stdout, start)
        .iter()
        .map(|fields| keys.iter().map(|key| fields.get(*key).copied()).collect())
        .collect()
}

/// Assert that the guest logged exactly one line starting with `start`, with fields `keys` at
/// `expected`.
fn assert_one(stdout: &str, start: &str, keys: &[&str], expected: &[u64]) {
    let expected: Vec<Option<u64>> = expected.iter().copied().map(Some).collect();
    assert_eq!(
        counts(stdout, start, keys),
        vec![expected],
        "`{start}` {keys:?} differ from BENCHMARKS.md's:\n{stdout}"
    );
}

/// Assert every count `published` and the architecture-independent ones (64 MiB down and up:
/// 1 + 1 reservation calls with 2 MiB extents, 32 + 32 with the seed's 4 KiB; through the
/// components 2 + 1 and 32 + 32, the 2 MiB decrease with its probe; past the maximum 412 of 413
/// 4 KiB extents, then 0 of 1; the components phase's 72 gateway calls, all hypercalls).
pub fn assert_counts(stdout: &str, published: &Published) {
    let calls = ["decrease", "populate"];
    // The Xen-facts phase's, then the components phase's: each where the reservation stood.
    let (current, maximum) = published.reservation;
    let at_boot = vec![Some(current), Some(maximum)];
    assert_eq!(
        counts(stdout, "reservation ", &["current", "maximum"]),
        [at_boot.clone(), at_boot],
        "the reservation lines differ from BENCHMARKS.md's:\n{stdout}"
    );
    assert_one(stdout, "hypercalls policy=2M ", &calls, &[1, 1]);
    assert_one(stdout, "hypercalls policy=4K ", &calls, &[32, 32]);
    assert_one(
        stdout,
        "hypercalls path=components policy=2M ",
        &calls,
        &[2, 1],
    );
    assert_one(
        stdout,
        "hypercalls path=components policy=4K ",
        &calls,
        &[32, 32],
    );
    let (asked, done) = published.overmax_superpages;
    let overmax = |order, asked, done| vec![Some(order), Some(asked), Some(done)];
    assert_eq!(
        counts(stdout, "overmax ", &["order", "requested", "done"]),
        [
            overmax(9, asked, done),
            overmax(0, 413, 412),
            overmax(0, 1, 0)
        ],
        "the populates past the maximum differ from BENCHMARKS.md's:\n{stdout}"
    );
    let gateway = ["calls", "hypercalls", "rejections"];
    let (calls_made, hypercalls, refusals) = published.gateway_xen_facts;
    assert_one(
        stdout,
        "gateway phase=xen_facts ",
        &gateway,
        &[calls_made, hypercalls, refusals],
    );
    assert_one(stdout, "gateway phase=components ", &gateway, &[72, 72, 0]);
    let (before, after) = published.borrowed_low;
    assert_one(
        stdout,
        "borrowed_low frames=1024 ",
        &["xen_before", "xen_after"],
        &[before, after],
    );
    let checked = format!(
        "reservation steps checked on the host: {}\n",
        published.steps_checked
    );
    assert!(stdout.contains(&checked), "no `{checked}`:\n{stdout}");
}
