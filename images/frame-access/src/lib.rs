//! Access to the contents of guest frames, the contract between the images' runtime and their
//! apps: the [`FrameMemory`] trait over runs of guest frames ([`FrameRun`], `ballast-xen`'s,
//! re-exported; `ballast-image-rt` implements the trait through an identity map, the apps scrub
//! and probe through it), and what a read of a word that may be ballooned finds ([`Read`]). It sits below both, so that the runtime does not
//! depend on an app.
#![no_std]
#![forbid(unsafe_code)]

pub use ballast_xen::FrameRun;
use ballast_xen::Gfn;

/// Words of 8 bytes in a 4 KiB page.
pub const WORDS_PER_PAGE: usize = 512;

/// Why a frame could not be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum FrameError {
    /// The frame is not in the RAM the access was given.
    NotScenarioRam = 1,
    /// The word index is past the end of a page.
    WordOutOfPage,
}

/// What reading a word of guest memory found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum Read {
    /// The word.
    Word(u64),
    /// The read raised a synchronous abort with this syndrome (arm64 ESR_EL1): Xen does not back
    /// the frame.
    Aborted(u64),
}

/// Access to the contents of the guest frames an app may use.
pub trait FrameMemory {
    /// Write `word` to every 8-byte word of `range` (a scrub when `word` is 0).
    fn fill(&mut self, range: FrameRun, word: u64) -> Result<(), FrameError>;
    /// Read word `index` of frame `gfn`, which may be ballooned.
    fn read(&self, gfn: Gfn, index: usize) -> Result<Read, FrameError>;
    /// Whether every word of frame `gfn` (which must be backed) equals `word`.
    fn holds_only(&self, gfn: Gfn, word: u64) -> Result<bool, FrameError>;
    /// Write `word` as word `index` of frame `gfn` (which must be backed: populated, or holding
    /// a mapped grant).
    fn write(&mut self, gfn: Gfn, index: usize, word: u64) -> Result<(), FrameError>;
}
