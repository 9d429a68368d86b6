//! A run of contiguous guest frames: the unit of lending, of configuration ranges and of the
//! run tables.

use ballast_xen::Gfn;

/// Frames `[first, first + frames)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FrameRun {
    /// The first frame.
    pub first: Gfn,
    /// How many frames.
    pub frames: u64,
}

impl FrameRun {
    /// The run of `frames` frames starting at `first`.
    pub const fn new(first: Gfn, frames: u64) -> FrameRun {
        FrameRun { first, frames }
    }

    /// The run covering `[start, end)` as raw frame numbers.
    pub const fn span(start: u64, end: u64) -> FrameRun {
        FrameRun {
            first: Gfn(start),
            frames: end - start,
        }
    }

    /// The first frame number as a raw integer.
    pub const fn start(&self) -> u64 {
        self.first.0
    }

    /// One past the last frame number, saturating for runs that would wrap.
    pub const fn end(&self) -> u64 {
        self.first.0.saturating_add(self.frames)
    }

    /// Whether the run is well formed: not empty and not wrapping the frame space.
    pub const fn is_valid(&self) -> bool {
        self.frames > 0 && self.first.0.checked_add(self.frames).is_some()
    }

    /// Whether the two runs share a frame.
    pub const fn overlaps(&self, other: &FrameRun) -> bool {
        self.start() < other.end() && other.start() < self.end()
    }

    /// Whether `other` lies entirely inside this run.
    pub const fn contains_run(&self, other: &FrameRun) -> bool {
        self.start() <= other.start() && other.end() <= self.end()
    }

    /// Whether frame `gfn` lies inside this run.
    pub const fn contains(&self, gfn: u64) -> bool {
        self.start() <= gfn && gfn < self.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_and_containment_use_half_open_ranges() {
        let a = FrameRun::span(10, 20);
        assert!(a.overlaps(&FrameRun::span(19, 30)));
        assert!(!a.overlaps(&FrameRun::span(20, 30)));
        assert!(a.contains_run(&FrameRun::span(10, 20)));
        assert!(!a.contains_run(&FrameRun::span(9, 12)));
        assert!(a.contains(19) && !a.contains(20));
        assert!(!FrameRun::new(Gfn(u64::MAX), 2).is_valid());
        assert!(!FrameRun::new(Gfn(1), 0).is_valid());
    }
}
