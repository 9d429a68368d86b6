//! Superpage mappings left intact on xen-sim after random inflate and deflate cycles, then a
//! deflation back to the boot size: the seed policy against ballast, same seeded cycles for both,
//! under three conditions: targets in 2 MiB multiples on a host that never fragments (xen-sim's
//! pool does not unless a fault is injected), the same with the host fragmented for a window of
//! cycles (allocations of order > 0 fail), and targets that are not 2 MiB multiples.

use std::ops::Range;

use ballast_memory_server_core::{BalloonCore, Config, FrameRun, HypervisorPort, Policy};
use ballast_xen::FRAMES_PER_SUPERPAGE;
use ballast_xen_sim::StandingFaults;

use super::harness::{guest, run_to_target, Rng, GIB};
use super::options::Size;
use crate::system::SimScrubber;

/// Cycles of one run.
pub const CYCLES: u64 = 100;

/// The cycles during which the host is fragmented, under [`Conditions::Fragmented`]; the
/// deflation back to the boot size after the cycles runs on an unfragmented host.
pub const FRAGMENTED_CYCLES: Range<u64> = 40..60;

/// Under which conditions the cycles run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conditions {
    /// Every target a 2 MiB multiple; no fault injected, so xen-sim's host never fragments.
    Aligned,
    /// As [`Conditions::Aligned`], but xen-sim's host is fragmented (allocations of order > 0
    /// fail, single pages do not) during [`FRAGMENTED_CYCLES`].
    Fragmented,
    /// The same 2 MiB multiples less 1 to 511 frames (seeded), so that each target cuts a 2 MiB
    /// chunk; no fault injected. The deflation back to the boot size is to a 2 MiB multiple.
    Unaligned,
}

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

/// Both policies under one set of conditions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policies {
    /// Seed policy.
    pub seed: Intact,
    /// Ballast.
    pub ballast: Intact,
}

/// Both policies under each set of conditions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Superpages {
    /// Guest size, frames.
    pub guest_frames: u64,
    /// [`Conditions::Aligned`].
    pub aligned: Policies,
    /// [`Conditions::Fragmented`].
    pub fragmented: Policies,
    /// [`Conditions::Unaligned`].
    pub unaligned: Policies,
}

fn cycles(policy: Policy, frames: u64, conditions: Conditions) -> Result<Intact, String> {
    let ram = [FrameRun::span(0, frames)];
    let config = Config::new(&ram, policy);
    let (xen, dom) = guest(frames);
    let mut hv = xen.hypervisor(dom);
    let mut scrubber = SimScrubber::new(xen.clone(), dom);
    let words = config
        .bitmap_words()
        .map_err(|e| format!("layout refused: {e:?}"))?;
    let mut storage = vec![0u64; words];
    let mut core = BalloonCore::<&mut [u64], 4, 1, 1>::new(&config, &mut storage)
        .map_err(|e| format!("layout refused: {e:?}"))?;
    let boot = xen.counters(dom).map_or(0, |c| c.superpages_intact);
    let chunks = frames / FRAMES_PER_SUPERPAGE;
    let mut rng = Rng::new(0xba11a57);
    // The cuts come from a generator of their own, so that the chunks the cycles move are the
    // same under every condition.
    let mut cuts = Rng::new(0xc075);
    let mut target = |chunks: u64| match conditions {
        Conditions::Unaligned => chunks * FRAMES_PER_SUPERPAGE - cuts.between(1, 511),
        Conditions::Aligned | Conditions::Fragmented => chunks * FRAMES_PER_SUPERPAGE,
    };
    let mut populated = chunks;
    let mut go = |core: &mut BalloonCore<&mut [u64], 4, 1, 1>, target: u64| {
        run_to_target(
            core,
            &mut HypervisorPort::new(&mut hv),
            &mut scrubber,
            target,
            frames,
            || false,
        )
        .map_err(|e| format!("{policy:?}, {conditions:?}: {e}"))
    };
    for cycle in 0..CYCLES {
        xen.set_standing_faults(StandingFaults {
            fragmented: conditions == Conditions::Fragmented && FRAGMENTED_CYCLES.contains(&cycle),
            ..StandingFaults::default()
        });
        populated -= rng.between(1, populated - 1);
        go(&mut core, target(populated))?;
        populated += rng.between(1, chunks - populated);
        go(&mut core, target(populated))?;
    }
    xen.set_standing_faults(StandingFaults::default());
    go(&mut core, chunks * FRAMES_PER_SUPERPAGE)?;
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

/// Run the cycles on a guest of the size's length with both policies, under each set of
/// conditions.
pub fn measure(size: Size) -> Result<Superpages, String> {
    let frames = match size {
        Size::Small => GIB / 4,
        Size::Full => 4 * GIB,
    };
    let both = |conditions| -> Result<Policies, String> {
        Ok(Policies {
            seed: cycles(Policy::Seed, frames, conditions)?,
            ballast: cycles(Policy::Ballast, frames, conditions)?,
        })
    };
    Ok(Superpages {
        guest_frames: frames,
        aligned: both(Conditions::Aligned)?,
        fragmented: both(Conditions::Fragmented)?,
        unaligned: both(Conditions::Unaligned)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each condition changes what it says it changes: with none, ballast keeps every superpage;
    /// the fragmentation window leaves chunks populated by single pages; the cuts shatter.
    #[test]
    fn the_conditions_take_effect() {
        let frames = GIB / 16;
        let aligned = cycles(Policy::Ballast, frames, Conditions::Aligned).unwrap();
        assert_eq!((aligned.intact, aligned.shattered), (aligned.boot, 0));
        let fragmented = cycles(Policy::Ballast, frames, Conditions::Fragmented).unwrap();
        assert!(fragmented.intact < fragmented.boot, "{fragmented:?}");
        let unaligned = cycles(Policy::Ballast, frames, Conditions::Unaligned).unwrap();
        assert!(unaligned.shattered > 0, "{unaligned:?}");
    }
}
