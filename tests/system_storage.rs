//! The host's system owns its storage: a system built, handed to the deterministic runtime and
//! dropped with it gives back every byte it took (the memory server's bitmaps, accounts and
//! permissions, the gateway's page state), and `ballast sim` builds its system once. Measured
//! with an allocator that counts every allocation of this test binary, over the 1 TiB guest
//! (`manifests/sim-1tib.toml`), whose two bitmaps take tens of MiB: the tests here take turns,
//! and what the test harness allocates meanwhile (a few lines of output) is far below that.

use std::alloc::System;
use std::path::PathBuf;
use std::sync::Mutex;

use ballast::composition::SIM_1TIB;
use ballast::sim::{simulate, SimOptions};
use ballast::system;
use ballast_ipc::deterministic::DeterministicRuntime;
use ballast_ipc::CheckedTables;
use ballast_system::Capacities;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// One test measures at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Bytes of the gateway's page state for the 1 TiB guest: less than what one build keeps, so
/// a leak of one build's storage shows above it.
fn gateway_bitmap_bytes() -> usize {
    Capacities::of(&SIM_1TIB).gateway_bitmap_words * 8
}

/// Build the 1 TiB system, hand its handlers to a deterministic runtime, and drop it all.
fn build_and_drop(seed: u64) {
    let parts = system::build(&SIM_1TIB, None, seed).expect("the 1 TiB guest builds");
    let tables = CheckedTables::from_tables(&SIM_1TIB.ipc).expect("valid tables");
    let (handlers, _map) = parts.into_deterministic();
    let runtime = DeterministicRuntime::new(tables, handlers, seed).expect("a runtime");
    drop(runtime);
}

#[test]
fn a_system_dropped_gives_back_all_it_took() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // The first build may set up what lives for the process (the standard library's own).
    build_and_drop(0);
    let region = Region::new(GLOBAL);
    for seed in 1..=3 {
        build_and_drop(seed);
    }
    let change = region.change();
    // Growth by reallocation is counted in `bytes_allocated`, shrinking in `bytes_deallocated`.
    let kept = change
        .bytes_allocated
        .saturating_sub(change.bytes_deallocated);
    assert!(
        kept < 64 * 1024,
        "three systems built and dropped kept {kept} bytes (one gateway bitmap alone is {})",
        gateway_bitmap_bytes()
    );
    assert!(
        change.bytes_allocated >= 3 * gateway_bitmap_bytes(),
        "the builds allocated their storage ({} bytes)",
        change.bytes_allocated
    );
}

#[test]
fn ballast_sim_builds_its_system_once() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let region = Region::new(GLOBAL);
    drop(system::build(&SIM_1TIB, None, 1).expect("the 1 TiB guest builds"));
    let one_build = region.change().bytes_allocated;
    assert!(one_build >= gateway_bitmap_bytes(), "{one_build} bytes");

    let scenario = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sim-builds-once.toml");
    std::fs::write(
        &scenario,
        "name = \"builds-once\"\ndescription = \"the 1 TiB guest, left alone\"\n\
         manifest = \"manifests/sim-1tib.toml\"\nduration_s = 0.5\n",
    )
    .expect("the scenario is written");
    let options = SimOptions {
        scenario: Some(scenario),
        quiet: true,
        ..SimOptions::default()
    };
    let region = Region::new(GLOBAL);
    simulate(&options).expect("the scenario runs");
    let simulated = region.change().bytes_allocated;
    assert!(
        simulated < one_build / 2 * 3,
        "`ballast sim` allocated {simulated} bytes, one build {one_build}: it built more than once"
    );
}
