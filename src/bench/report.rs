//! The figures of one `ballast bench` run: the readable table and the JSON keys.

use serde_json::{json, Value};

use super::bookkeeping::{Bookkeeping, GuestThroughput};
use super::footprint::{Footprint, State};
use super::hypercalls::{Hypercalls, Trip};
use super::ipc::Ipc;
use super::options::Size;
use super::scrub::{Scrub, ScrubRun};
use super::sim_vs_hil::SimVsHil;
use super::superpages::{Policies, Superpages, CYCLES, FRAGMENTED_CYCLES};
use crate::sim::beside_hil;
use crate::spread::Spread;

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// How big the runs were.
    pub size: Size,
    /// Hypercalls out and back.
    pub hypercalls: Hypercalls,
    /// Superpages left intact.
    pub superpages: Superpages,
    /// The core's bookkeeping throughput.
    pub bookkeeping: Bookkeeping,
    /// Scrubbing against memset.
    pub scrub: Scrub,
    /// IPC round trip against the floor.
    pub ipc: Ipc,
    /// Memory footprints.
    pub footprint: Footprint,
    /// The simulator's times against real Xen's.
    pub sim_vs_hil: SimVsHil,
}

fn sim_vs_hil_row(sim_vs_hil: &SimVsHil) -> String {
    match sim_vs_hil.worst_warm() {
        Some(worst) => format!(
            "| simulated / real time, warm product-path moves (furthest from 1 of {}) | | {:.2} ({}) | goal within {:.0}% |",
            sim_vs_hil
                .arches
                .iter()
                .map(|(_, rows)| rows.iter().filter(|row| row.step.judged()).count())
                .sum::<usize>(),
            worst.ratio(),
            worst.step.key(),
            beside_hil::GOAL_FRACTION * 100.0
        ),
        None => "| simulated / real time | | null | no move to compare |".into(),
    }
}

fn sim_vs_hil_note(sim_vs_hil: &SimVsHil) -> String {
    let arches: Vec<String> = (sim_vs_hil.arches.iter())
        .map(|(arch, rows)| {
            let moves: Vec<String> = (rows.iter())
                .map(|row| {
                    format!(
                        "{} {:.1} / {:.1} ms = {:.2}",
                        row.step.key(),
                        row.sim_ms,
                        row.hil_ms,
                        row.ratio()
                    )
                })
                .collect();
            format!("{}: {}", arch.name(), moves.join(", "))
        })
        .collect();
    format!(
        "Simulated / real: `ballast sim` on each architecture's product-path scenario against the \
         medians of {} (a run the cost model was not fitted from); the goal is judged on warm \
         moves, cold ones also pay QEMU's first touch of host memory. {}.",
        beside_hil::REFERENCE,
        arches.join("; ")
    )
}

fn trip_cell(trip: &Trip) -> String {
    format!(
        "{} out + {} back ({} probes)",
        trip.out_calls, trip.back_calls, trip.probes
    )
}

fn superpages_row(conditions: &str, both: &Policies) -> String {
    format!(
        "| superpages intact after {CYCLES} cycles, {conditions} | {:.3} ({} shattered) | {:.3} ({} shattered) | |",
        both.seed.fraction(),
        both.seed.shattered,
        both.ballast.fraction(),
        both.ballast.shattered
    )
}

fn scrub_row(
    name: &str,
    scrub: &Scrub,
    inflate: fn(&ScrubRun) -> std::time::Duration,
    ratio: Spread,
) -> String {
    format!(
        "| {name}, {} MiB (median of {} runs) | memset {:.2} ms | {:.2} ms | {:.3}x [{:.3}x, {:.3}x] |",
        scrub.bytes >> 20,
        scrub.runs.len(),
        scrub.ms(|run| run.memset).median,
        scrub.ms(inflate).median,
        ratio.median,
        ratio.min,
        ratio.max
    )
}

fn throughput_row(name: &str, guest: &GuestThroughput) -> String {
    let speedup = guest.speedup();
    format!(
        "| bookkeeping, {name} guest (frames/s, median of {} pairs) | {:.3e} | {:.3e} | {:.0}x [{:.0}x, {:.0}x] |",
        guest.pairs.len(),
        guest.seed().median,
        guest.ballast().median,
        speedup.median,
        speedup.min,
        speedup.max
    )
}

/// The key `{what}_{layout}_{size}gib` of `layout` for a guest of `state`'s size.
fn state_key(what: &str, layout: &str, state: &State) -> String {
    format!(
        "{what}_{layout}_{}gib",
        state.managed_frames / super::harness::GIB
    )
}

fn state_row(f: &Footprint, at: usize) -> String {
    let (worst, aligned) = (&f.worst[at], &f.aligned[at]);
    format!(
        "| state per managed GiB, {} GiB guest: worst / aligned | | {:.0} B / {:.0} B | growing with memory {:.0} B / {:.0} B per GiB, fixed {} B / {} B (tables {} B, summary pool {} B / {} B) |",
        worst.managed_frames / super::harness::GIB,
        worst.per_gib(),
        aligned.per_gib(),
        worst.proportional_per_gib(),
        aligned.proportional_per_gib(),
        worst.fixed_bytes(),
        aligned.fixed_bytes(),
        worst.state_bytes - worst.storage_bytes,
        worst.pool_bytes,
        aligned.pool_bytes
    )
}

impl BenchReport {
    /// The JSON object with exactly the published keys.
    pub fn json(&self) -> Value {
        let h = &self.hypercalls;
        let mut object = json!({
            "hypercalls_per_gib_seed": h.aligned_seed.calls_per_gib(),
            "hypercalls_per_gib_ballast": h.aligned_ballast.calls_per_gib(),
            "hypercalls_fragmented_worst_seed": h.fragmented_worst_seed.calls(),
            "hypercalls_fragmented_worst_ballast": h.fragmented_worst_ballast.calls(),
            "superpages_intact_seed": self.superpages.aligned.seed.fraction(),
            "superpages_intact_ballast": self.superpages.aligned.ballast.fraction(),
            "bookkeeping_speedup_64gib": self.bookkeeping.guest_64gib.speedup().median,
            "bookkeeping_speedup_1tib": self.bookkeeping.guest_1tib.speedup().median,
            "scrub_vs_memset_ratio": self.scrub.ratio().median,
            "scrub_repopulated_vs_memset_ratio": self.scrub.repopulated_ratio().median,
            "scrubbed_bytes": self.scrub.scrubbed_bytes,
            "scrub_skipped_bytes": self.scrub.skipped_bytes,
            "ipc_vs_floor_ratio": self.ipc.ratio().median,
            "image_static_ram_bytes": self.footprint.image_static_ram.as_ref().ok(),
            "sim_vs_hil_time_ratio": self.sim_vs_hil.worst_warm().map(|worst| worst.ratio()),
        });
        let f = &self.footprint;
        let states =
            (f.worst.iter().map(|s| ("worst", s))).chain(f.aligned.iter().map(|s| ("aligned", s)));
        if let Some(map) = object.as_object_mut() {
            for (layout, state) in states {
                map.insert(
                    state_key("state_bytes_per_gib", layout, state),
                    json!(state.per_gib()),
                );
                map.insert(
                    state_key("state_proportional_bytes_per_gib", layout, state),
                    json!(state.proportional_per_gib()),
                );
                map.insert(
                    state_key("state_fixed_bytes", layout, state),
                    json!(state.fixed_bytes()),
                );
            }
        }
        object
    }

    /// The readable table (Markdown), with the conditions of each row below it.
    pub fn table(&self) -> String {
        let h = &self.hypercalls;
        let s = &self.superpages;
        let b = &self.bookkeeping;
        let f = &self.footprint;
        let rows = [
            format!("ballast bench (--size {})", self.size.name()),
            String::new(),
            "| measure | seed policy / floor | ballast | ballast vs seed / floor |".into(),
            "|---|---|---|---|".into(),
            format!(
                "| hypercalls, 1 GiB out and back, aligned | {} | {} | {:.0}x fewer |",
                trip_cell(&h.aligned_seed),
                trip_cell(&h.aligned_ballast),
                h.aligned_seed.calls() as f64 / h.aligned_ballast.calls().max(1) as f64
            ),
            format!(
                "| hypercalls per GiB (both ways) | {:.1} | {:.1} | |",
                h.aligned_seed.calls_per_gib(),
                h.aligned_ballast.calls_per_gib()
            ),
            format!(
                "| hypercalls, worst case 1 GiB (a used frame in every 2 MiB chunk) out and back | {} | {} | {:.2}x fewer |",
                trip_cell(&h.fragmented_worst_seed),
                trip_cell(&h.fragmented_worst_ballast),
                h.fragmented_worst_seed.calls() as f64
                    / h.fragmented_worst_ballast.calls().max(1) as f64
            ),
            superpages_row("2 MiB targets, no fault", &s.aligned),
            superpages_row(
                &format!(
                    "2 MiB targets, fragmented host in cycles {}..{}",
                    FRAGMENTED_CYCLES.start, FRAGMENTED_CYCLES.end
                ),
                &s.fragmented,
            ),
            superpages_row("targets cutting a 2 MiB chunk, no fault", &s.unaligned),
            throughput_row("64 GiB", &b.guest_64gib),
            throughput_row("1 TiB", &b.guest_1tib),
            scrub_row(
                "scrub overhead: inflate with scrub, no Xen work, vs memset",
                &self.scrub,
                |run| run.inflate,
                self.scrub.ratio(),
            ),
            scrub_row(
                "inflate of memory the server repopulated: nothing scrubbed, no Xen work, vs memset",
                &self.scrub,
                |run| run.inflate_repopulated,
                self.scrub.repopulated_ratio(),
            ),
            format!(
                "| bytes scrubbed / gone back unscrubbed, both inflations | | {} MiB / {} MiB | |",
                self.scrub.scrubbed_bytes >> 20,
                self.scrub.skipped_bytes >> 20
            ),
            format!(
                "| IPC round trip (median of {} pairs) | channel ping-pong {:.2} us | host runtime call {:.2} us | {:.2}x [{:.2}x, {:.2}x] |",
                self.ipc.pairs.len(),
                self.ipc.floor_us().median,
                self.ipc.runtime_call_us().median,
                self.ipc.ratio().median,
                self.ipc.ratio().min,
                self.ipc.ratio().max
            ),
            state_row(f, 0),
            state_row(f, 1),
            state_row(f, 2),
            sim_vs_hil_row(&self.sim_vs_hil),
            match &f.image_static_ram {
                Ok(bytes) => format!(
                    "| PVH image static RAM (.data+.bss+.rodata) | | {bytes} B ({:.1} KiB) | |",
                    *bytes as f64 / 1024.0
                ),
                Err(reason) => format!("| PVH image static RAM | | null | {reason} |"),
            },
            String::new(),
            format!(
                "Hypercalls: reservation calls counted by xen-sim; aligned: a 2 GiB guest ballooned to \
                 1 GiB and back; worst case: a 1 GiB guest with a 4 KiB frame in use (reserved) at a \
                 random place in every 2 MiB chunk ({} frames), ballooned to those and back: no \
                 chunk is whole, so ballast has no superpage to use either.",
                h.fragmented_in_use
            ),
            "State: `state_bytes()` of the core built for a guest of that size with the simulator's \
             table sizes: storage (populated bitmap, clean chunks, reserved runs) plus the fixed \
             tables, per GiB; worst: a used 4 KiB frame at a random place in every 2 MiB chunk, \
             each a reserved run (a chunk summary would need a block for every chunk: the core \
             keeps the direct bitmap); aligned: no used frame (the core takes the chunk summary, \
             two bits per chunk and a pool of blocks for mixed chunks sized by the \
             configuration: the figure holds while at most that many chunks are mixed). What grows \
             with memory is the storage but the pool; what is fixed, the tables and the pool."
                .to_string(),
            format!(
                "Superpages: a {} MiB guest on xen-sim, {CYCLES} random inflate/deflate cycles (the same \
                 for every row), then back to full; intact = superpage mappings at the end / at boot. \
                 2 MiB targets: every target a 2 MiB multiple; no fault: xen-sim's host never \
                 fragments unless told to; fragmented host: allocations of order > 0 fail during \
                 cycles {}..{} (single pages do not); targets cutting a chunk: each target 1 to 511 \
                 frames short of its 2 MiB multiple (the way back to full excepted).",
                s.guest_frames >> 8,
                FRAGMENTED_CYCLES.start,
                FRAGMENTED_CYCLES.end
            ),
            format!(
                "Bookkeeping: {} GiB out of the full guest and back, with a port completing every call \
                 and no scrub, {} pairs of runs alternating which policy goes first; frames per \
                 second are the pairs' medians, the speedup the median of the pairs' ratios [min, \
                 max]; median times seed {:.3} s / {:.3} s, ballast {:.4} s / {:.4} s at 64 GiB / 1 TiB.",
                b.moved as f64 / super::harness::GIB as f64,
                b.guest_64gib.pairs.len(),
                2.0 * b.moved as f64 / b.guest_64gib.seed().median,
                2.0 * b.moved as f64 / b.guest_1tib.seed().median,
                2.0 * b.moved as f64 / b.guest_64gib.ballast().median,
                2.0 * b.moved as f64 / b.guest_1tib.ballast().median,
            ),
            format!(
                "Scrub: ballast inflating the whole guest with a port that completes every call \
                 without any Xen work (scrub plus the core's bookkeeping, not a release to Xen) \
                 against memset of the same bytes; each run against its own memset, the median [min, max] of \
                 those ratios. First from boot (RAM \
                 the guest had before the server: every frame scrubbed), then after the server \
                 deflated it again (chunks it populated, written by nobody: none scrubbed). \
                 IPC: {} pairs of batches of {} round trips, which side goes first alternating; \
                 the ratio is the median of the pairs' ratios [min, max].",
                self.ipc.pairs.len(), self.ipc.per_batch
            ),
            sim_vs_hil_note(&self.sim_vs_hil),
            format!("Image: {}", f.image.display()),
        ];
        rows.join("\n")
    }
}
