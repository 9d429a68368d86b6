//! The hardware-in-the-loop scenario: what the image does once it has booted. It runs on a
//! [`Hypervisor`] and reaches guest memory only through [`FrameMemory`]; it holds no unsafe code
//! and knows nothing of the boot path.
//!
//! The reservation bookkeeping (`ledger.rs`: every call logged as a `step` line with Xen's
//! `current_reservation` before and after) and the check tally (`checks.rs`) are the PVH image's
//! own files, compiled here unchanged: the two images report in the same words, and `ballast hil`
//! checks both logs with the same verifier.
#![forbid(unsafe_code)]

mod balloon;
#[path = "../../../xen-pvh/src/scenario/checks.rs"]
mod checks;
#[path = "../../../xen-pvh/src/scenario/ledger.rs"]
mod ledger;

use ballast_xen::{Gfn, Hypervisor};

pub use checks::Checks;

/// A contiguous run of guest frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub struct FrameRange {
    /// The first frame.
    pub first: u64,
    /// How many frames.
    pub frames: u64,
}

impl FrameRange {
    /// Frame `index` of the range.
    pub fn frame(&self, index: u64) -> Gfn {
        Gfn(self.first + index)
    }

    /// The sub-range of `frames` frames starting `offset` frames in, if it fits.
    pub fn slice(&self, offset: u64, frames: u64) -> Option<FrameRange> {
        let end = offset.checked_add(frames)?;
        (end <= self.frames).then_some(FrameRange {
            first: self.first + offset,
            frames,
        })
    }

    /// Whether `gfn` lies in the range.
    pub fn contains(&self, gfn: Gfn) -> bool {
        gfn.0 >= self.first && gfn.0 - self.first < self.frames
    }
}

/// Why a frame could not be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum FrameError {
    /// The frame is not in the RAM the scenario was given.
    NotScenarioRam = 1,
    /// The word index is past the end of a page.
    WordOutOfPage,
}

/// Words of 8 bytes in a 4 KiB page.
pub const WORDS_PER_PAGE: usize = 512;

/// What reading a word of guest memory found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum Read {
    /// The word.
    Word(u64),
    /// The read raised a data abort with this syndrome (ESR_EL1): Xen does not back the frame.
    Aborted(u64),
}

/// Access to the contents of the guest frames the scenario may use.
pub trait FrameMemory {
    /// Write `word` to every 8-byte word of `range` (a scrub when `word` is 0).
    fn fill(&mut self, range: FrameRange, word: u64) -> Result<(), FrameError>;
    /// Read word `index` of frame `gfn`, which may be unbacked.
    fn read(&self, gfn: Gfn, index: usize) -> Result<Read, FrameError>;
    /// Whether every word of frame `gfn` (backed) equals `word`.
    fn holds_only(&self, gfn: Gfn, word: u64) -> Result<bool, FrameError>;
}

/// A monotonic clock.
pub trait Clock {
    /// Nanoseconds since an arbitrary origin.
    fn now_ns(&self) -> u64;
}

/// Where the scenario may work.
#[derive(Clone, Copy, Debug, defmt::Format)]
pub struct Layout {
    /// Populated RAM the image does not use, 2 MiB aligned.
    pub free: FrameRange,
    /// Guest-physical space above RAM that Xen does not back, 2 MiB aligned: populating it grows
    /// the domain.
    pub hole: FrameRange,
}

/// Run the `balloon` scenario; returns the checks it made.
pub fn run<H: Hypervisor, M: FrameMemory, C: Clock>(
    xen: &mut H,
    memory: &mut M,
    clock: &C,
    layout: Layout,
) -> Checks {
    balloon::run(xen, memory, clock, layout)
}
