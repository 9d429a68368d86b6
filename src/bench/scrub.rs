//! Scrub overhead against the floor: ballast inflating a guest whose RAM is a real host buffer,
//! zeroing every frame before it goes back, against a plain memset of the same bytes, in the
//! same run. The port completes every reservation without any Xen work ([`CompletingPort`]), so
//! the figure is the scrub plus the core's bookkeeping, not a release to Xen (on real Xen the
//! release costs more than the scrub: `ballast hil` times both). Each run starts a fresh core
//! (its RAM populated at boot, so every chunk may hold the guest's data and is scrubbed), then
//! deflates and inflates again: the server populated every chunk itself, nobody wrote them, so
//! the second inflation scrubs nothing. Each side runs several times over a buffer dirtied and
//! resident beforehand; each run's inflations are divided by its own memset, and the figure is
//! the median of those ratios with the smallest and largest.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ballast_memory_server_core::{BalloonCore, Config, Counters, FrameRun, FrameScrubber, Policy};
use ballast_xen::Gfn;

use super::harness::{run_to_target, CompletingPort, NoScrub};
use super::options::Size;
use crate::spread::Spread;

const PAGE_BYTES: usize = 4096;
const DIRT: u8 = 0xa5;

/// Guest RAM as host memory: frame `n` is bytes `[n * 4096, (n + 1) * 4096)`.
#[derive(Debug)]
pub struct RamScrubber {
    ram: Vec<u8>,
}

impl FrameScrubber for RamScrubber {
    fn scrub(&mut self, first: Gfn, frames: u64) {
        let start = first.0 as usize * PAGE_BYTES;
        let end = start + frames as usize * PAGE_BYTES;
        if let Some(bytes) = self.ram.get_mut(start..end) {
            bytes.fill(0);
        }
    }
}

/// The two sides.
/// One run: both inflations and the memset, in that order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScrubRun {
    /// Inflation of the whole guest from boot, every frame scrubbed.
    pub inflate: Duration,
    /// Inflation of the whole guest after the server repopulated it: nothing scrubbed.
    pub inflate_repopulated: Duration,
    /// Memset of the same bytes.
    pub memset: Duration,
}

/// Every run.
#[derive(Debug, Clone, PartialEq)]
pub struct Scrub {
    /// Bytes of the guest.
    pub bytes: u64,
    /// The runs.
    pub runs: Vec<ScrubRun>,
    /// Bytes the core scrubbed in one run (both inflations).
    pub scrubbed_bytes: u64,
    /// Bytes the core let go back unscrubbed in one run (both inflations).
    pub skipped_bytes: u64,
}

impl Scrub {
    /// Inflation with scrub over the same run's memset, over the runs.
    pub fn ratio(&self) -> Spread {
        Spread::of(self.runs.iter().map(|run| over_memset(run.inflate, run)))
    }

    /// Inflation of repopulated memory (no scrub) over the same run's memset, over the runs.
    pub fn repopulated_ratio(&self) -> Spread {
        Spread::of((self.runs.iter()).map(|run| over_memset(run.inflate_repopulated, run)))
    }

    /// Milliseconds of one measure, over the runs.
    pub fn ms(&self, measure: fn(&ScrubRun) -> Duration) -> Spread {
        Spread::of(self.runs.iter().map(|run| measure(run).as_secs_f64() * 1e3))
    }
}

fn over_memset(time: Duration, run: &ScrubRun) -> f64 {
    time.as_secs_f64() / run.memset.as_secs_f64().max(1e-9)
}

/// Bytes scrubbed and skipped by `counters`.
fn scrub_bytes(counters: &Counters) -> (u64, u64) {
    let page = PAGE_BYTES as u64;
    (
        counters.scrubbed_frames * page,
        counters.scrub_skipped_frames * page,
    )
}

/// Measure with a guest of the size's length.
pub fn measure(size: Size) -> Result<Scrub, String> {
    let (bytes, runs) = match size {
        Size::Small => (16usize << 20, 5),
        Size::Full => (256usize << 20, 9),
    };
    let frames = (bytes / PAGE_BYTES) as u64;
    let ram = [FrameRun::span(0, frames)];
    let config = Config::new(&ram, Policy::Ballast);
    let words = config
        .bitmap_words()
        .map_err(|e| format!("layout refused: {e:?}"))?;
    let mut scrubber = RamScrubber {
        ram: vec![DIRT; bytes],
    };
    let mut measured = Vec::with_capacity(runs);
    let mut counted = (0, 0);
    for _ in 0..runs {
        let mut storage = vec![0u64; words];
        let mut core = BalloonCore::<&mut [u64], 4, 1, 1>::new(&config, &mut storage)
            .map_err(|e| format!("layout refused: {e:?}"))?;
        let mut port = CompletingPort::new(frames);
        scrubber.ram.fill(DIRT);
        let started = Instant::now();
        let moved = run_to_target(&mut core, &mut port, &mut scrubber, 0, frames, || false)?;
        let inflate = started.elapsed();
        if moved != frames || scrubber.ram.iter().any(|&b| b != 0) {
            return Err("inflation did not scrub every frame".into());
        }
        run_to_target(&mut core, &mut port, &mut NoScrub, frames, frames, || false)?;
        let started = Instant::now();
        let moved = run_to_target(&mut core, &mut port, &mut scrubber, 0, frames, || false)?;
        let inflate_repopulated = started.elapsed();
        counted = scrub_bytes(&core.stats().counters);
        if moved != frames || counted != (bytes as u64, bytes as u64) {
            return Err(format!(
                "the repopulated guest went back with {counted:?} bytes scrubbed and skipped"
            ));
        }

        scrubber.ram.fill(DIRT);
        let started = Instant::now();
        black_box(&mut scrubber.ram).fill(0);
        black_box(&scrubber.ram);
        measured.push(ScrubRun {
            inflate,
            inflate_repopulated,
            memset: started.elapsed(),
        });
    }
    Ok(Scrub {
        bytes: bytes as u64,
        runs: measured,
        scrubbed_bytes: counted.0,
        skipped_bytes: counted.1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ram_scrubber_zeroes_exactly_the_frames_asked() {
        let mut scrubber = RamScrubber {
            ram: vec![DIRT; 4 * PAGE_BYTES],
        };
        scrubber.scrub(Gfn(1), 2);
        assert!(scrubber.ram[..PAGE_BYTES].iter().all(|&b| b == DIRT));
        assert!(scrubber.ram[PAGE_BYTES..3 * PAGE_BYTES]
            .iter()
            .all(|&b| b == 0));
        assert!(scrubber.ram[3 * PAGE_BYTES..].iter().all(|&b| b == DIRT));
        scrubber.scrub(Gfn(3), 2);
        assert!(scrubber.ram[3 * PAGE_BYTES..].iter().all(|&b| b == DIRT));
    }
}
