//! Scrubbing in the simulator: the guest's frames live in xen-sim, so zeroing them is telling the
//! simulated domain that those pages now hold zeros.

use ballast_memory_server_core::FrameScrubber;
use ballast_xen::Gfn;
use ballast_xen_sim::{DomId, XenSim};

/// Zeroes frames of one simulated domain.
#[derive(Debug, Clone)]
pub struct SimScrubber {
    xen: XenSim,
    dom: DomId,
}

impl SimScrubber {
    /// A scrubber for `dom`.
    pub fn new(xen: XenSim, dom: DomId) -> SimScrubber {
        SimScrubber { xen, dom }
    }
}

impl FrameScrubber for SimScrubber {
    fn scrub(&mut self, first: Gfn, frames: u64) {
        // The domain exists for the simulator's whole life; a missing one has nothing to scrub.
        let _ = self.xen.zero_pages(self.dom, first.0..first.0 + frames);
    }
}
