//! What the measurements share: a port that completes every reservation without any Xen work
//! (so that only the core's bookkeeping is timed), a scrubber that does nothing, a simulated
//! guest on xen-sim, the loop that runs the worker to its target, and a seeded generator.

use ballast_memory_server_core::{
    BalloonCore, BpState, FrameScrubber, PortError, ReservationPort, StepOutcome,
};
use ballast_xen::{Completed, ExtentOrder, Gfn, MemFlags, ReservationOp};
use ballast_xen_sim::{DomId, DomainConfig, HostConfig, XenSim};

/// 4 KiB frames in a GiB.
pub const GIB: u64 = 1 << 18;

/// A measurement harness standing in for the gateway: it completes every extent of every call
/// and keeps the page count Xen would then report, doing nothing else.
#[derive(Debug)]
pub struct CompletingPort {
    pages: u64,
}

impl CompletingPort {
    /// A port whose domain holds `pages` pages.
    pub fn new(pages: u64) -> CompletingPort {
        CompletingPort { pages }
    }
}

impl ReservationPort for CompletingPort {
    fn reservation(
        &mut self,
        op: ReservationOp,
        order: ExtentOrder,
        _flags: MemFlags,
        frames: &mut [Gfn],
    ) -> Result<Completed, PortError> {
        let moved = frames.len() as u64 * order.frames();
        self.pages = match op {
            ReservationOp::Decrease => self.pages - moved,
            ReservationOp::Increase | ReservationOp::Populate => self.pages + moved,
        };
        Ok(Completed::all(frames.len()))
    }

    fn current_reservation(&mut self) -> Result<u64, PortError> {
        Ok(self.pages)
    }
}

/// Leaves frames as they are (bookkeeping measurements scrub nothing).
#[derive(Debug)]
pub struct NoScrub;

impl FrameScrubber for NoScrub {
    fn scrub(&mut self, _first: Gfn, _frames: u64) {}
}

/// A simulated domU whose RAM is frames `[0, frames)`, with as many free pages on the host.
pub fn guest(frames: u64) -> (XenSim, DomId) {
    let xen = XenSim::new(HostConfig {
        free_pages: frames,
        ..HostConfig::default()
    });
    let dom = xen.create_domain(DomainConfig::domu(0..frames, frames));
    (xen, dom)
}

/// Set `target` and run steps until the worker goes idle (at most `max_steps`), or until
/// `stop` says so after a step. Every step must succeed. Returns the frames moved.
pub fn run_to_target<const L: usize, const C: usize, const P: usize>(
    core: &mut BalloonCore<&mut [u64], L, C, P>,
    port: &mut impl ReservationPort,
    scrubber: &mut impl FrameScrubber,
    target: u64,
    max_steps: u64,
    mut stop: impl FnMut() -> bool,
) -> Result<u64, String> {
    core.set_target(target);
    let mut now = 0;
    let mut moved = 0;
    for _ in 0..max_steps {
        let outcome: StepOutcome = core.balloon_step(port, scrubber, now);
        if outcome.state != BpState::Done {
            return Err(format!(
                "the worker answered {:?} on its way to {target} pages",
                outcome.state
            ));
        }
        moved += outcome.frames_moved;
        match outcome.next_run_ns {
            Some(next) if !stop() => now = next,
            _ => return Ok(moved),
        }
    }
    Err(format!(
        "the worker did not reach {target} pages in {max_steps} steps"
    ))
}

/// A seeded generator (splitmix64): the same run every time.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `[lo, hi]`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_completing_port_keeps_the_count_xen_would_report() {
        let mut port = CompletingPort::new(1024);
        let mut list = [Gfn(0), Gfn(512)];
        let done = port
            .reservation(
                ReservationOp::Decrease,
                ballast_xen::SUPERPAGE_ORDER,
                MemFlags::NONE,
                &mut list,
            )
            .unwrap();
        assert_eq!(done, Completed::all(2));
        assert_eq!(port.current_reservation(), Ok(0));
        port.reservation(
            ReservationOp::Populate,
            ExtentOrder::PAGE,
            MemFlags::NONE,
            &mut list[..1],
        )
        .unwrap();
        assert_eq!(port.current_reservation(), Ok(1));
    }

    #[test]
    fn the_generator_stays_in_bounds_and_replays() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..1000 {
            let x = a.between(3, 9);
            assert!((3..=9).contains(&x));
            assert_eq!(x, b.between(3, 9));
        }
    }
}
