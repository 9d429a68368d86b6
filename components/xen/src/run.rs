//! A run of contiguous guest frames, the one type for the idea everywhere: the unit of lending
//! and of the memory server's run tables, the frame ranges the gateway's callers own, and the RAM
//! the images hand their apps.

use crate::frame::{ExtentOrder, Gfn};

/// The frames `[first, first + frames)`.
///
/// Any run can be written down (an empty one is a useful answer, e.g. of [`FrameRun::slice`]);
/// [`FrameRun::checked`] builds only well-formed ones, not empty and not wrapping the frame space,
/// and [`FrameRun::is_valid`] tells the two apart. Every method is total: an end that would wrap
/// saturates, and a containment test with a wrapping run is false.
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

    /// The `frames` frames from `first`, if that is at least one frame and ends below 2^64.
    pub const fn checked(first: Gfn, frames: u64) -> Option<FrameRun> {
        let run = FrameRun { first, frames };
        if run.is_valid() {
            Some(run)
        } else {
            None
        }
    }

    /// The run covering `[start, end)` as raw frame numbers; empty if `end` is below `start`.
    pub const fn span(start: u64, end: u64) -> FrameRun {
        FrameRun {
            first: Gfn(start),
            frames: end.saturating_sub(start),
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

    /// Frame `index` of the run (`index` is below `frames` for a frame of the run).
    pub const fn frame(&self, index: u64) -> Gfn {
        Gfn(self.first.0.wrapping_add(index))
    }

    /// The sub-run of `frames` frames starting `offset` frames in, if it fits.
    pub const fn slice(&self, offset: u64, frames: u64) -> Option<FrameRun> {
        match offset.checked_add(frames) {
            Some(end) if end <= self.frames => Some(FrameRun {
                first: Gfn(self.first.0.wrapping_add(offset)),
                frames,
            }),
            _ => None,
        }
    }

    /// Whether the two runs share a frame.
    pub const fn overlaps(&self, other: &FrameRun) -> bool {
        self.start() < other.end() && other.start() < self.end()
    }

    /// Whether `other` lies entirely inside this run (an empty `other` does if it sits within
    /// or at the end of this run). False if either run wraps the frame space.
    pub const fn contains_run(&self, other: &FrameRun) -> bool {
        match (
            self.first.0.checked_add(self.frames),
            other.first.0.checked_add(other.frames),
        ) {
            (Some(end), Some(other_end)) => self.first.0 <= other.first.0 && other_end <= end,
            _ => false,
        }
    }

    /// Whether frame `gfn` lies inside this run.
    pub const fn contains(&self, gfn: u64) -> bool {
        self.start() <= gfn && gfn < self.end()
    }

    /// Whether the extent of `order` starting at `first` lies wholly inside this run.
    pub const fn holds_extent(&self, first: Gfn, order: ExtentOrder) -> bool {
        self.contains_run(&FrameRun::new(first, order.frames()))
    }

    /// The run covering both, if `next` starts exactly where this one ends and the two together
    /// do not wrap the frame space.
    pub const fn joined(&self, next: &FrameRun) -> Option<FrameRun> {
        match self.first.0.checked_add(self.frames) {
            Some(end) if end == next.first.0 => match self.frames.checked_add(next.frames) {
                Some(frames) => FrameRun::checked(self.first, frames),
                None => None,
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::SUPERPAGE_ORDER;

    #[test]
    fn empty_and_wrapping_runs_are_refused_by_the_checked_constructor() {
        assert_eq!(FrameRun::checked(Gfn(5), 0), None);
        assert_eq!(FrameRun::checked(Gfn(u64::MAX), 1), None);
        assert_eq!(FrameRun::checked(Gfn(u64::MAX), 2), None);
        let top = FrameRun::checked(Gfn(u64::MAX - 1), 1).expect("last representable frame");
        assert_eq!((top.first, top.frames), (Gfn(u64::MAX - 1), 1));
        assert!(!FrameRun::new(Gfn(u64::MAX), 2).is_valid());
        assert!(!FrameRun::new(Gfn(1), 0).is_valid());
        assert_eq!(FrameRun::new(Gfn(u64::MAX), 2).end(), u64::MAX);
    }

    #[test]
    fn overlap_and_containment_use_half_open_runs() {
        let a = FrameRun::span(10, 20);
        assert!(a.overlaps(&FrameRun::span(19, 30)));
        assert!(!a.overlaps(&FrameRun::span(20, 30)) && !FrameRun::span(20, 30).overlaps(&a));
        assert!(a.contains_run(&FrameRun::span(10, 20)));
        assert!(!a.contains_run(&FrameRun::span(9, 12)));
        assert!(!a.contains_run(&FrameRun::span(19, 21)));
        assert!(a.contains(19) && !a.contains(20) && !a.contains(9));
    }

    #[test]
    fn containment_with_a_wrapping_run_is_false() {
        let top = FrameRun::span(u64::MAX - 4, u64::MAX);
        assert!(!top.contains_run(&FrameRun::new(Gfn(u64::MAX - 1), 3)));
        assert!(!FrameRun::new(Gfn(u64::MAX - 1), 3).contains_run(&top));
        assert!(top.contains_run(&FrameRun::new(Gfn(u64::MAX - 1), 1)));
    }

    #[test]
    fn frames_and_slices_stay_inside_the_run() {
        let run = FrameRun::new(Gfn(0x100), 0x10);
        assert_eq!(run.frame(3), Gfn(0x103));
        assert_eq!(run.slice(4, 4), Some(FrameRun::new(Gfn(0x104), 4)));
        assert_eq!(run.slice(0x10, 0), Some(FrameRun::new(Gfn(0x110), 0)));
        assert_eq!(run.slice(0xd, 4), None);
        assert_eq!(run.slice(u64::MAX, 2), None);
    }

    #[test]
    fn an_extent_must_fit_wholly() {
        let run = FrameRun::checked(Gfn(0x200), 0x400).expect("valid");
        assert!(run.holds_extent(Gfn(0x200), SUPERPAGE_ORDER));
        assert!(run.holds_extent(Gfn(0x400), SUPERPAGE_ORDER));
        assert!(!run.holds_extent(Gfn(0x600), SUPERPAGE_ORDER));
        assert!(run.holds_extent(Gfn(0x5ff), ExtentOrder::PAGE));
        assert!(!run.holds_extent(Gfn(0x1ff), ExtentOrder::PAGE));
        assert!(!run.holds_extent(Gfn(0x300), ExtentOrder::new(10).expect("order 10")));
        let top = FrameRun::checked(Gfn(u64::MAX - 1), 1).expect("valid");
        assert!(!top.holds_extent(Gfn(u64::MAX - 1), ExtentOrder::new(1).expect("order 1")));
    }

    #[test]
    fn only_touching_runs_join() {
        let a = FrameRun::checked(Gfn(0), 10).expect("valid");
        let b = FrameRun::checked(Gfn(10), 6).expect("valid");
        assert_eq!(a.joined(&b), FrameRun::checked(Gfn(0), 16));
        assert_eq!(b.joined(&a), None);
        assert_eq!(a.joined(&FrameRun::new(Gfn(11), 1)), None);
        assert_eq!(
            FrameRun::new(Gfn(u64::MAX - 1), 1).joined(&FrameRun::new(Gfn(u64::MAX), 1)),
            None
        );
    }
}
