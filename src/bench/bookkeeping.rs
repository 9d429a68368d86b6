//! The core's bookkeeping throughput, with no scrubbing and a port that completes every call
//! without Xen work: frames changed per second while ballooning the same amount out of a full
//! guest and back, for a 64 GiB and a 1 TiB guest, seed policy against ballast, in several pairs
//! of runs whose order alternates (seed first, then ballast first, ...): the speedup is the median
//! of the pairs' ratios, with the smallest and largest.

use std::time::{Duration, Instant};

use ballast_memory_server_core::{BalloonCore, Config, FrameRun, Policy};

use super::harness::{run_to_target, CompletingPort, NoScrub, GIB};
use super::options::Size;
use crate::spread::Spread;

/// One policy on one guest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    /// Frames ballooned out and back in.
    pub frames: u64,
    /// Time taken.
    pub elapsed: Duration,
}

impl Throughput {
    /// Frames changed per second.
    pub fn per_second(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Both policies on one guest, in pairs of runs.
#[derive(Debug, Clone, PartialEq)]
pub struct GuestThroughput {
    /// Guest size, frames.
    pub guest_frames: u64,
    /// Each pair of runs: the seed policy's and ballast's.
    pub pairs: Vec<(Throughput, Throughput)>,
}

impl GuestThroughput {
    /// Ballast's throughput over the seed's, over the pairs.
    pub fn speedup(&self) -> Spread {
        Spread::of(
            (self.pairs.iter()).map(|(seed, ballast)| ballast.per_second() / seed.per_second()),
        )
    }

    /// The seed policy's frames per second, over the pairs.
    pub fn seed(&self) -> Spread {
        Spread::of(self.pairs.iter().map(|(seed, _)| seed.per_second()))
    }

    /// Ballast's frames per second, over the pairs.
    pub fn ballast(&self) -> Spread {
        Spread::of(self.pairs.iter().map(|(_, ballast)| ballast.per_second()))
    }
}

/// Both guests.
#[derive(Debug, Clone, PartialEq)]
pub struct Bookkeeping {
    /// The 64 GiB guest.
    pub guest_64gib: GuestThroughput,
    /// The 1 TiB guest.
    pub guest_1tib: GuestThroughput,
    /// Frames ballooned out (and back) per run.
    pub moved: u64,
}

fn throughput(policy: Policy, frames: u64, moved: u64) -> Result<Throughput, String> {
    let ram = [FrameRun::span(0, frames)];
    let config = Config::new(&ram, policy);
    let words = config
        .bitmap_words()
        .map_err(|e| format!("layout refused: {e:?}"))?;
    let mut storage = vec![0u64; words];
    let mut core = BalloonCore::<&mut [u64], 4, 1, 1>::new(&config, &mut storage)
        .map_err(|e| format!("layout refused: {e:?}"))?;
    let mut port = CompletingPort::new(frames);
    let steps = frames;
    let started = Instant::now();
    let out = run_to_target(
        &mut core,
        &mut port,
        &mut NoScrub,
        frames - moved,
        steps,
        || false,
    )?;
    let back = run_to_target(&mut core, &mut port, &mut NoScrub, frames, steps, || false)?;
    let elapsed = started.elapsed();
    if out != moved || back != moved {
        return Err(format!(
            "{policy:?}: {out} frames out and {back} back, not {moved}"
        ));
    }
    Ok(Throughput {
        frames: out + back,
        elapsed,
    })
}

fn guest(frames: u64, moved: u64, pairs: usize) -> Result<GuestThroughput, String> {
    let mut measured = Vec::with_capacity(pairs);
    for pair in 0..pairs {
        let (seed, ballast) = if pair % 2 == 0 {
            let seed = throughput(Policy::Seed, frames, moved)?;
            (seed, throughput(Policy::Ballast, frames, moved)?)
        } else {
            let ballast = throughput(Policy::Ballast, frames, moved)?;
            (throughput(Policy::Seed, frames, moved)?, ballast)
        };
        measured.push((seed, ballast));
    }
    Ok(GuestThroughput {
        guest_frames: frames,
        pairs: measured,
    })
}

/// Measure both guests.
pub fn measure(size: Size) -> Result<Bookkeeping, String> {
    let (moved, pairs) = match size {
        Size::Small => (GIB / 32, 2),
        Size::Full => (2 * GIB, 5),
    };
    Ok(Bookkeeping {
        guest_64gib: guest(64 * GIB, moved, pairs)?,
        guest_1tib: guest(1024 * GIB, moved, pairs)?,
        moved,
    })
}
