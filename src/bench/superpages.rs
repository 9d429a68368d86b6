//! Superpage mappings left intact on xen-sim after random inflate and deflate cycles in 2 MiB
//! multiples, then a deflation back to the boot size: the seed policy against ballast, same
//! seeded cycles for both.

use ballast_memory_server_core::{BalloonCore, Config, FrameRun, HypervisorPort, Policy};
use ballast_xen::FRAMES_PER_SUPERPAGE;

use super::harness::{guest, run_to_target, Rng, GIB};
use super::options::Size;
use crate::system::SimScrubber;

/// Cycles of one run.
pub const CYCLES: u64 = 100;

/// What one policy left behind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Intact {
    /// Chunks mapped by an intact superpage at the end.
    pub intact: u64,
    /// Intact superpages at boot.
    pub boot: u64,
    /// Times a superpage was shattered.
    pub shattered: u64,
}

impl Intact {
    /// Intact at the end over intact at boot.
    pub fn fraction(&self) -> f64 {
        self.intact as f64 / self.boot as f64
    }
}

/// Both policies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Superpages {
    /// Guest size, frames.
    pub guest_frames: u64,
    /// Seed policy.
    pub seed: Intact,
    /// Ballast.
    pub ballast: Intact,
}

fn cycles(policy: Policy, frames: u64) -> Result<Intact, String> {
    let ram = [FrameRun::span(0, frames)];
    let config = Config::new(&ram, policy);
    let (xen, dom) = guest(frames);
    let mut hv = xen.hypervisor(dom);
    let mut scrubber = SimScrubber::new(xen.clone(), dom);
    let words = config
        .bitmap_words()
        .map_err(|e| format!("layout refused: {e:?}"))?;
    let mut storage = vec![0u64; words];
    let mut core = BalloonCore::<'_, 4, 1, 1>::new(&config, &mut storage)
        .map_err(|e| format!("layout refused: {e:?}"))?;
    let boot = xen.counters(dom).map_or(0, |c| c.superpages_intact);
    let chunks = frames / FRAMES_PER_SUPERPAGE;
    let mut rng = Rng::new(0xba11a57);
    let mut populated = chunks;
    let mut go = |core: &mut BalloonCore<'_, 4, 1, 1>, chunks: u64| {
        run_to_target(
            core,
            &mut HypervisorPort::new(&mut hv),
            &mut scrubber,
            chunks * FRAMES_PER_SUPERPAGE,
            frames,
            || false,
        )
    };
    for _ in 0..CYCLES {
        populated -= rng.between(1, populated - 1);
        go(&mut core, populated)?;
        populated += rng.between(1, chunks - populated);
        go(&mut core, populated)?;
    }
    go(&mut core, chunks)?;
    if xen.tot_pages(dom) != Some(frames) {
        return Err(format!("{policy:?}: the guest did not come back whole"));
    }
    let end = xen
        .counters(dom)
        .ok_or_else(|| "the simulated domain vanished".to_string())?;
    Ok(Intact {
        intact: end.superpages_intact,
        boot,
        shattered: end.superpages_shattered,
    })
}

/// Run the cycles on a guest of the size's length with both policies.
pub fn measure(size: Size) -> Result<Superpages, String> {
    let frames = match size {
        Size::Small => GIB / 4,
        Size::Full => 4 * GIB,
    };
    Ok(Superpages {
        guest_frames: frames,
        seed: cycles(Policy::Seed, frames)?,
        ballast: cycles(Policy::Ballast, frames)?,
    })
}
