//! Hypercalls to balloon out and back on xen-sim, seed policy against ballast: 1 GiB of a
//! superpage-aligned guest, and the whole of the worst-case guest: 1 GiB whose RAM has a 4 KiB
//! frame in use by others (reserved) at a random place in every 2 MiB chunk. Counts come from
//! xen-sim's per-domain counters, so they are exactly what Xen would have seen.

use ballast_memory_server_core::{BalloonCore, Config, FrameRun, HypervisorPort, Policy};
use ballast_xen_sim::{Counters, DomId, XenSim};

use super::footprint::frame_in_every_chunk;
use super::harness::{guest, run_to_target, GIB};
use crate::system::SimScrubber;

/// Calls of one balloon-out-and-back, by direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trip {
    /// Reservation calls while ballooning out.
    pub out_calls: u64,
    /// Reservation calls while ballooning back in.
    pub back_calls: u64,
    /// `current_reservation` probes, both ways.
    pub probes: u64,
    /// Frames moved each way.
    pub frames: u64,
}

impl Trip {
    /// Reservation calls both ways.
    pub fn calls(&self) -> u64 {
        self.out_calls + self.back_calls
    }

    /// Reservation calls both ways per GiB moved each way.
    pub fn calls_per_gib(&self) -> f64 {
        self.calls() as f64 / (self.frames as f64 / GIB as f64)
    }
}

/// Both layouts, both policies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hypercalls {
    /// 1 GiB out and back of a 2 GiB aligned guest, seed policy.
    pub aligned_seed: Trip,
    /// The same, ballast.
    pub aligned_ballast: Trip,
    /// Everything out and back of a 1 GiB guest with a frame in use in every 2 MiB chunk, seed
    /// policy.
    pub fragmented_worst_seed: Trip,
    /// The same, ballast.
    pub fragmented_worst_ballast: Trip,
    /// Frames in use (reserved) in the worst-case layout.
    pub fragmented_in_use: u64,
}

fn reservation_calls(c: &Counters) -> u64 {
    c.decrease_calls + c.increase_calls + c.populate_calls
}

fn counters(xen: &XenSim, dom: DomId) -> Result<Counters, String> {
    xen.counters(dom)
        .ok_or_else(|| "the simulated domain vanished".to_string())
}

/// Balloon a guest of `frames` frames (with `reserved` in use) down to `low` pages and back.
fn trip(policy: Policy, frames: u64, reserved: &[FrameRun], low: u64) -> Result<Trip, String> {
    let ram = [FrameRun::span(0, frames)];
    let mut config = Config::new(&ram, policy);
    config.reserved = reserved;
    let (xen, dom) = guest(frames);
    let mut hv = xen.hypervisor(dom);
    let mut scrubber = SimScrubber::new(xen.clone(), dom);
    let words = config
        .bitmap_words()
        .map_err(|e| format!("layout refused: {e:?}"))?;
    let mut storage = vec![0u64; words];
    let mut core = BalloonCore::<&mut [u64], 4, 1, 1>::new(&config, &mut storage)
        .map_err(|e| format!("layout refused: {e:?}"))?;
    let steps = frames;
    let start = counters(&xen, dom)?;
    let out = run_to_target(
        &mut core,
        &mut HypervisorPort::new(&mut hv),
        &mut scrubber,
        low,
        steps,
        || false,
    )?;
    let middle = counters(&xen, dom)?;
    let back = run_to_target(
        &mut core,
        &mut HypervisorPort::new(&mut hv),
        &mut scrubber,
        frames,
        steps,
        || false,
    )?;
    let end = counters(&xen, dom)?;
    if xen.tot_pages(dom) != Some(frames) || out != back || out != frames - low {
        return Err(format!(
            "{policy:?}: the trip did not come back whole ({out} out, {back} back)"
        ));
    }
    core.check_invariant(xen.tot_pages(dom))
        .map_err(|v| format!("{policy:?}: invariant broken: {v:?}"))?;
    Ok(Trip {
        out_calls: reservation_calls(&middle) - reservation_calls(&start),
        back_calls: reservation_calls(&end) - reservation_calls(&middle),
        probes: end.current_calls - start.current_calls,
        frames: out,
    })
}

/// Measure both layouts with both policies.
pub fn measure() -> Result<Hypercalls, String> {
    let in_use = frame_in_every_chunk(GIB, 0x5eed);
    let used = in_use.len() as u64;
    Ok(Hypercalls {
        aligned_seed: trip(Policy::Seed, 2 * GIB, &[], GIB)?,
        aligned_ballast: trip(Policy::Ballast, 2 * GIB, &[], GIB)?,
        fragmented_worst_seed: trip(Policy::Seed, GIB, &in_use, used)?,
        fragmented_worst_ballast: trip(Policy::Ballast, GIB, &in_use, used)?,
        fragmented_in_use: used,
    })
}
