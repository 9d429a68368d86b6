//! The written-frames model of the property test: which frames may hold the guest's data, and
//! the check that none of them goes back to Xen unscrubbed. The guest's data is a fill word
//! tagged [`GUEST_TAG`] in xen-sim's page contents: every frame populated at boot holds one (the
//! guest and its builder wrote the RAM before the server ran). A frame is *writable* from boot,
//! or once a client borrows it (it may map a grant there and write it), until the server
//! populates it, when Xen maps a fresh page at the gfn. A frame the scrubber zeroed since its
//! last populate is scrubbed. The port sees every frame before it goes back: a writable frame
//! there must be scrubbed, and no page may still hold the guest's data.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use ballast_memory_server_core::{FrameScrubber, PortError, ReservationPort};
use ballast_xen::{Completed, ExtentOrder, Gfn, MemFlags, ReservationOp};
use ballast_xen_sim::{DomId, XenSim};

use crate::common::{FlakyGateway, SimScrubber};

/// The high bits of every word the guest writes; neither a scrub (0) nor Xen writes them.
pub const GUEST_TAG: u64 = 0x6775_6573_7400_0000;
const TAG_MASK: u64 = 0xffff_ffff_ff00_0000;

/// What the model knows of the frames, and what it saw go back.
#[derive(Debug, Default)]
pub struct Written {
    writable: BTreeSet<u64>,
    scrubbed: BTreeSet<u64>,
    /// Frames that went back scrubbed.
    pub went_back_scrubbed: u64,
    /// Frames that went back unscrubbed (none of them writable since their last populate).
    pub went_back_unscrubbed: u64,
}

impl Written {
    /// The guest writes its data into every populated frame of `gfns` of `dom` (the boot RAM).
    pub fn boot(sim: &XenSim, dom: DomId, gfns: std::ops::Range<u64>) -> Rc<RefCell<Written>> {
        let mut written = Written::default();
        for gfn in gfns {
            if sim.is_populated(dom, gfn) == Some(true) {
                sim.write_page(dom, gfn, GUEST_TAG | gfn).unwrap();
                written.writable.insert(gfn);
            }
        }
        Rc::new(RefCell::new(written))
    }

    /// A client was lent `frames`: it may write them until the server populates them again.
    pub fn lent(&mut self, frames: std::ops::Range<u64>) {
        self.writable.extend(frames);
    }
}

/// The scrubber, telling the model what it zeroed.
#[derive(Debug)]
pub struct WatchedScrubber {
    pub inner: SimScrubber,
    pub written: Rc<RefCell<Written>>,
}

impl FrameScrubber for WatchedScrubber {
    fn scrub(&mut self, first: Gfn, frames: u64) {
        self.inner.scrub(first, frames);
        self.written
            .borrow_mut()
            .scrubbed
            .extend(first.0..first.0 + frames);
    }
}

/// The gateway, checking every frame before it goes back and forgetting what a populate
/// replaced with a fresh page.
#[derive(Debug)]
pub struct WatchedGateway {
    pub inner: FlakyGateway,
    pub written: Rc<RefCell<Written>>,
    pub sim: XenSim,
    pub dom: DomId,
}

impl WatchedGateway {
    fn frames(order: ExtentOrder, extents: &[Gfn]) -> impl Iterator<Item = u64> + '_ {
        extents
            .iter()
            .flat_map(move |first| first.0..first.0 + order.frames())
    }

    /// Every populated frame of a decrease list: writable ones scrubbed, none holding the
    /// guest's data.
    fn check_release(&self, order: ExtentOrder, frames: &[Gfn]) {
        let written = self.written.borrow();
        for gfn in Self::frames(order, frames) {
            if self.sim.is_populated(self.dom, gfn) != Some(true) {
                continue;
            }
            assert!(
                !written.writable.contains(&gfn) || written.scrubbed.contains(&gfn),
                "frame {gfn:#x}, writable since its last populate, goes back unscrubbed"
            );
            let word = self.sim.read_page(self.dom, gfn).unwrap_or(0);
            assert_ne!(
                word & TAG_MASK,
                GUEST_TAG,
                "frame {gfn:#x} goes back holding the guest's data"
            );
        }
    }
}

impl ReservationPort for WatchedGateway {
    fn reservation(
        &mut self,
        op: ReservationOp,
        order: ExtentOrder,
        flags: MemFlags,
        frames: &mut [Gfn],
    ) -> Result<Completed, PortError> {
        let populated_before: Vec<bool> = Self::frames(order, frames)
            .map(|gfn| self.sim.is_populated(self.dom, gfn) == Some(true))
            .collect();
        if op == ReservationOp::Decrease {
            self.check_release(order, frames);
        }
        let listed: Vec<Gfn> = frames.to_vec();
        let answer = self.inner.reservation(op, order, flags, frames);
        let mut written = self.written.borrow_mut();
        for (gfn, before) in Self::frames(order, &listed).zip(populated_before) {
            let after = self.sim.is_populated(self.dom, gfn) == Some(true);
            match (op, before, after) {
                (ReservationOp::Populate, false, true) => {
                    written.writable.remove(&gfn);
                    written.scrubbed.remove(&gfn);
                }
                (ReservationOp::Decrease, true, false) => {
                    if written.scrubbed.remove(&gfn) {
                        written.went_back_scrubbed += 1;
                    } else {
                        written.went_back_unscrubbed += 1;
                    }
                }
                _ => {}
            }
        }
        answer
    }

    fn current_reservation(&mut self) -> Result<u64, PortError> {
        self.inner.current_reservation()
    }
}
