//! Access to the contents of guest frames, the contract between the images' runtime and their
//! apps: a [`FrameRange`] of guest frames, the [`FrameMemory`] trait (`ballast-image-rt`
//! implements it through an identity map, the apps scrub and probe through it), and what a read of
//! a word that may be ballooned finds ([`Read`]). It sits below both, so that the runtime does not
//! depend on an app.
#![no_std]
#![forbid(unsafe_code)]

use ballast_xen::Gfn;

/// Words of 8 bytes in a 4 KiB page.
pub const WORDS_PER_PAGE: usize = 512;

/// A contiguous run of guest frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub struct FrameRange {
    /// The first frame.
    pub first: u64,
    /// How many frames.
    pub frames: u64,
}

impl FrameRange {
    /// Frame `index` of the range (`index` is below `frames` for a frame of the range).
    pub fn frame(&self, index: u64) -> Gfn {
        Gfn(self.first.wrapping_add(index))
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

    /// Whether every frame of `inner` lies in the range (an empty `inner` anywhere does).
    pub fn contains_range(&self, inner: FrameRange) -> bool {
        let (Some(end), Some(inner_end)) = (
            self.first.checked_add(self.frames),
            inner.first.checked_add(inner.frames),
        ) else {
            return false;
        };
        inner.frames == 0 || (inner.first >= self.first && inner_end <= end)
    }
}

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
    fn fill(&mut self, range: FrameRange, word: u64) -> Result<(), FrameError>;
    /// Read word `index` of frame `gfn`, which may be ballooned.
    fn read(&self, gfn: Gfn, index: usize) -> Result<Read, FrameError>;
    /// Whether every word of frame `gfn` (which must be backed) equals `word`.
    fn holds_only(&self, gfn: Gfn, word: u64) -> Result<bool, FrameError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(first: u64, frames: u64) -> FrameRange {
        FrameRange { first, frames }
    }

    const RANGE: FrameRange = FrameRange {
        first: 0x100,
        frames: 0x10,
    };

    #[test]
    fn a_range_holds_its_frames_and_no_others() {
        assert!(RANGE.contains(Gfn(0x100)));
        assert!(RANGE.contains(Gfn(0x10f)));
        assert!(!RANGE.contains(Gfn(0xff)));
        assert!(!RANGE.contains(Gfn(0x110)));
        assert_eq!(RANGE.frame(3), Gfn(0x103));
    }

    #[test]
    fn slices_stay_inside_the_range() {
        assert_eq!(RANGE.slice(4, 4), Some(range(0x104, 4)));
        assert_eq!(RANGE.slice(0x10, 0), Some(range(0x110, 0)));
        assert_eq!(RANGE.slice(0xd, 4), None);
        assert_eq!(RANGE.slice(u64::MAX, 2), None);
    }

    #[test]
    fn contains_range_checks_both_ends_without_overflow() {
        assert!(RANGE.contains_range(RANGE));
        assert!(RANGE.contains_range(range(0x10f, 1)));
        assert!(!RANGE.contains_range(range(0x10f, 2)));
        assert!(!RANGE.contains_range(range(0xff, 2)));
        assert!(RANGE.contains_range(range(0, 0)));
        assert!(!RANGE.contains_range(range(u64::MAX, 2)));
    }
}
