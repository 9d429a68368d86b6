//! Test support: a simulated guest (xen-sim domain, port, scrubber) and a loop that runs the
//! worker until it goes idle, checking the invariant after every step.

extern crate std;

use std::vec::Vec;

use ballast_xen::Gfn;
use ballast_xen_sim::{DomId, DomainConfig, HostConfig, PodBoot, SimHypervisor, XenSim};

use crate::{BalloonCore, BpState, FrameScrubber, HypervisorPort, StepOutcome};

/// The core as the unit tests size it.
pub type Core<'a> = BalloonCore<&'a mut [u64], 64, 4, 8>;

/// Zeroes frames in the simulated guest.
#[derive(Debug)]
pub struct SimScrubber {
    pub sim: XenSim,
    pub dom: DomId,
}

impl FrameScrubber for SimScrubber {
    fn scrub(&mut self, first: Gfn, frames: u64) {
        for gfn in first.0..first.0 + frames {
            self.sim.write_page(self.dom, gfn, 0).unwrap();
        }
    }
}

/// A simulated domU whose RAM is `ram`, with `max_pages` and `host_free` pages in the pool.
pub fn domain(
    ram: core::ops::Range<u64>,
    max_pages: u64,
    host_free: u64,
) -> (XenSim, DomId, SimHypervisor) {
    let sim = XenSim::new(HostConfig {
        free_pages: host_free,
        ..HostConfig::default()
    });
    let dom = sim.create_domain(DomainConfig::domu(ram, max_pages));
    let hv = sim.hypervisor(dom);
    (sim, dom, hv)
}

/// A simulated domU built on populate-on-demand: RAM `ram` (its memory map), `real` populated
/// for real inside it, `special` pages outside it, `target` pages backed at boot.
pub fn pod_domain(
    ram: core::ops::Range<u64>,
    real: core::ops::Range<u64>,
    special: u64,
    target: u64,
    host_free: u64,
) -> (XenSim, DomId, SimHypervisor) {
    let sim = XenSim::new(HostConfig {
        free_pages: host_free,
        ..HostConfig::default()
    });
    let boot = PodBoot {
        target_pages: target,
        real_ram: core::iter::once(real).collect(),
        special: core::iter::once(ram.end + 1024..ram.end + 1024 + special).collect(),
    };
    let max_pages = ram.end - ram.start + special;
    let dom = sim
        .try_create_pod_domain(DomainConfig::domu(ram, max_pages), &boot)
        .unwrap();
    let hv = sim.hypervisor(dom);
    (sim, dom, hv)
}

/// Run steps from `now` until the worker asks for no further run (or `limit` steps), checking
/// the invariant against Xen after each. Returns the outcomes and the final clock.
pub fn run_until_idle(
    core: &mut Core<'_>,
    hv: &mut SimHypervisor,
    scrubber: &mut SimScrubber,
    mut now: u64,
    limit: usize,
) -> (Vec<StepOutcome>, u64) {
    let mut outcomes = Vec::new();
    let sim = scrubber.sim.clone();
    let dom = scrubber.dom;
    for _ in 0..limit {
        let outcome = core.balloon_step(&mut HypervisorPort::new(hv), scrubber, now);
        core.check_invariant(sim.tot_pages(dom)).unwrap();
        outcomes.push(outcome);
        match outcome.next_run_ns {
            Some(next) if outcome.state != BpState::Cancelled => now = next.max(now),
            _ => break,
        }
    }
    (outcomes, now)
}

/// A scrubber for domain `dom` of `sim`.
pub fn scrubber(sim: &XenSim, dom: DomId) -> SimScrubber {
    SimScrubber {
        sim: sim.clone(),
        dom,
    }
}

/// Every frame of `frames` is populated in Xen exactly when the model says so.
pub fn agrees_with_xen(core: &Core<'_>, sim: &XenSim, dom: DomId, frames: core::ops::Range<u64>) {
    for gfn in frames {
        let model = core.frame_state(Gfn(gfn)).unwrap();
        let populated = matches!(
            model,
            crate::FrameState::PopulatedFree | crate::FrameState::Reserved
        );
        assert_eq!(
            sim.is_populated(dom, gfn),
            Some(populated),
            "gfn {gfn}: {model:?}"
        );
    }
}
