//! `ballast bench --size small --json FILE` runs to the end and writes every published key as a
//! number; the hypercall counts, which are deterministic, hold ballast's promises. Timings and
//! timing ratios measured on this machine are only checked to be positive numbers, never
//! compared with a bound; the simulated against real time, which the cost model decides, is.

use std::process::Command;

use serde_json::Value;

const KEYS: [&str; 33] = [
    "hypercalls_per_gib_seed",
    "hypercalls_per_gib_ballast",
    "hypercalls_fragmented_worst_seed",
    "hypercalls_fragmented_worst_ballast",
    "superpages_intact_seed",
    "superpages_intact_ballast",
    "bookkeeping_speedup_64gib",
    "bookkeeping_speedup_1tib",
    "scrub_vs_memset_ratio",
    "scrub_repopulated_vs_memset_ratio",
    "scrubbed_bytes",
    "scrub_skipped_bytes",
    "ipc_vs_floor_ratio",
    "state_bytes_per_gib_worst_1gib",
    "state_bytes_per_gib_worst_64gib",
    "state_bytes_per_gib_worst_1024gib",
    "state_bytes_per_gib_aligned_1gib",
    "state_bytes_per_gib_aligned_64gib",
    "state_bytes_per_gib_aligned_1024gib",
    "state_proportional_bytes_per_gib_worst_1gib",
    "state_proportional_bytes_per_gib_worst_64gib",
    "state_proportional_bytes_per_gib_worst_1024gib",
    "state_proportional_bytes_per_gib_aligned_1gib",
    "state_proportional_bytes_per_gib_aligned_64gib",
    "state_proportional_bytes_per_gib_aligned_1024gib",
    "state_fixed_bytes_worst_1gib",
    "state_fixed_bytes_worst_64gib",
    "state_fixed_bytes_worst_1024gib",
    "state_fixed_bytes_aligned_1gib",
    "state_fixed_bytes_aligned_64gib",
    "state_fixed_bytes_aligned_1024gib",
    "image_static_ram_bytes",
    "sim_vs_hil_time_ratio",
];

/// The key that may be null: the PVH image exists only once `ballast hil` has built it.
const IMAGE_KEY: &str = "image_static_ram_bytes";

fn number(json: &Value, key: &str) -> f64 {
    json[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number: {}", json[key]))
}

#[test]
fn small_bench_writes_every_key_and_keeps_the_hypercall_promises() {
    let path = std::env::temp_dir().join(format!("ballast-bench-{}.json", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(["bench", "--size", "small", "--json"])
        .arg(&path)
        .output()
        .expect("ballast runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "ballast bench failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("| hypercalls per GiB (both ways) |"),
        "{stdout}"
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("JSON written"))
        .expect("valid JSON");
    std::fs::remove_file(&path).expect("temporary file removable");

    let object = json.as_object().expect("a JSON object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected);
    for key in KEYS.iter().filter(|k| **k != IMAGE_KEY) {
        let value = number(&json, key);
        assert!(value.is_finite() && value >= 0.0, "{key} = {value}");
    }
    match &json[IMAGE_KEY] {
        Value::Null => assert!(
            stdout.contains("| PVH image static RAM | | null |"),
            "{stdout}"
        ),
        value => assert!(
            value.as_u64().is_some_and(|b| b > 0),
            "{IMAGE_KEY} = {value}"
        ),
    }

    assert_eq!(number(&json, "hypercalls_per_gib_seed"), 1024.0);
    assert!(number(&json, "hypercalls_per_gib_ballast") <= 4.0);
    assert!(
        number(&json, "hypercalls_fragmented_worst_ballast")
            <= number(&json, "hypercalls_fragmented_worst_seed")
    );
    assert_eq!(number(&json, "superpages_intact_ballast"), 1.0);
    assert!(number(&json, "superpages_intact_seed") < 1.0);
    for size in ["1gib", "64gib", "1024gib"] {
        let worst = number(&json, &format!("state_bytes_per_gib_worst_{size}"));
        let aligned = number(&json, &format!("state_bytes_per_gib_aligned_{size}"));
        let growing = number(
            &json,
            &format!("state_proportional_bytes_per_gib_aligned_{size}"),
        );
        assert!(
            worst > 32_768.0 && aligned < worst && growing <= 1024.0,
            "{size}: {worst} / {aligned}, of which {growing} grows with memory"
        );
    }
    assert!(
        number(&json, "state_bytes_per_gib_aligned_1024gib") <= 1024.0,
        "the aligned goal at 1 TiB, every table counted"
    );
    // The simulator is deterministic and its reference medians are constants: the cost model,
    // not this machine's timing, puts every warm move within the goal of 25%.
    let worst = number(&json, "sim_vs_hil_time_ratio");
    assert!((0.75..=1.25).contains(&worst), "sim / hil = {worst}");
    for ratio in [
        "bookkeeping_speedup_64gib",
        "bookkeeping_speedup_1tib",
        "scrub_vs_memset_ratio",
        "scrub_repopulated_vs_memset_ratio",
        "ipc_vs_floor_ratio",
    ] {
        assert!(number(&json, ratio) > 0.0, "{ratio}");
    }
    let small_guest = f64::from(16u32 << 20);
    assert_eq!(
        (
            number(&json, "scrubbed_bytes"),
            number(&json, "scrub_skipped_bytes")
        ),
        (small_guest, small_guest),
        "the boot RAM scrubbed, the RAM the server repopulated not"
    );
}
