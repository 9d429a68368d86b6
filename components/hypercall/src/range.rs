//! A half-open run of guest frames, as the manifest grants them to a caller or protects them.

use ballast_xen::{ExtentOrder, Gfn};

/// The frames `start .. start + frames`. Built only through [`GfnRange::new`], so it is never empty
/// and its end never overflows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GfnRange {
    start: Gfn,
    end: u64,
}

impl GfnRange {
    /// The `frames` frames from `start`, if that is at least one frame and ends below 2^64.
    pub const fn new(start: Gfn, frames: u64) -> Option<GfnRange> {
        match start.0.checked_add(frames) {
            Some(end) if frames > 0 => Some(GfnRange { start, end }),
            _ => None,
        }
    }

    /// The first frame.
    pub const fn start(self) -> Gfn {
        self.start
    }

    /// The first frame after the range.
    pub const fn end(self) -> Gfn {
        Gfn(self.end)
    }

    /// Number of frames.
    pub const fn frames(self) -> u64 {
        self.end - self.start.0
    }

    /// Whether the two ranges share a frame.
    pub const fn overlaps(self, other: GfnRange) -> bool {
        self.start.0 < other.end && other.start.0 < self.end
    }

    /// The range covering both, if `next` starts exactly where this one ends.
    pub const fn joined(self, next: GfnRange) -> Option<GfnRange> {
        if self.end == next.start.0 {
            Some(GfnRange {
                start: self.start,
                end: next.end,
            })
        } else {
            None
        }
    }

    /// Whether the extent of `order` starting at `first` lies wholly inside this range.
    pub const fn holds_extent(self, first: Gfn, order: ExtentOrder) -> bool {
        match first.0.checked_add(order.frames()) {
            Some(end) => self.start.0 <= first.0 && end <= self.end,
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_xen::SUPERPAGE_ORDER;

    #[test]
    fn empty_and_overflowing_ranges_cannot_be_built() {
        assert_eq!(GfnRange::new(Gfn(5), 0), None);
        assert_eq!(GfnRange::new(Gfn(u64::MAX), 1), None);
        let range = GfnRange::new(Gfn(u64::MAX - 1), 1).expect("last representable frame");
        assert_eq!(range.frames(), 1);
        assert_eq!(range.start(), Gfn(u64::MAX - 1));
    }

    #[test]
    fn an_extent_must_fit_wholly() {
        let range = GfnRange::new(Gfn(0x200), 0x400).expect("valid");
        assert!(range.holds_extent(Gfn(0x200), SUPERPAGE_ORDER));
        assert!(range.holds_extent(Gfn(0x400), SUPERPAGE_ORDER));
        assert!(!range.holds_extent(Gfn(0x600), SUPERPAGE_ORDER));
        assert!(range.holds_extent(Gfn(0x5ff), ExtentOrder::PAGE));
        assert!(!range.holds_extent(Gfn(0x1ff), ExtentOrder::PAGE));
        assert!(!range.holds_extent(Gfn(0x300), ExtentOrder::new(10).expect("order 10")));
        let top = GfnRange::new(Gfn(u64::MAX - 1), 1).expect("valid");
        assert!(!top.holds_extent(Gfn(u64::MAX - 1), ExtentOrder::new(1).expect("order 1")));
    }

    #[test]
    fn overlap_is_symmetric_and_touching_is_not_overlap() {
        let a = GfnRange::new(Gfn(0), 10).expect("valid");
        let b = GfnRange::new(Gfn(10), 10).expect("valid");
        let c = GfnRange::new(Gfn(9), 2).expect("valid");
        assert!(!a.overlaps(b) && !b.overlaps(a));
        assert!(a.overlaps(c) && c.overlaps(a) && b.overlaps(c));
        assert_eq!(a.end(), b.start());
    }

    #[test]
    fn only_touching_ranges_join() {
        let a = GfnRange::new(Gfn(0), 10).expect("valid");
        let b = GfnRange::new(Gfn(10), 6).expect("valid");
        assert_eq!(a.joined(b), GfnRange::new(Gfn(0), 16));
        assert_eq!(b.joined(a), None);
        assert_eq!(a.joined(GfnRange::new(Gfn(11), 1).expect("valid")), None);
    }
}
