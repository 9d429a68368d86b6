//! The reserved runs: frames inside RAM that others use (the image, firmware tables, other
//! components), always populated and never ballooned, as many as the configuration gives. They
//! live sorted in the caller's storage after the bitmaps, two words a run (first frame, end), so
//! their number is the manifest's, not a fixed table's. Their bits in the populated bitmap stay
//! clear: the searches for free frames never see them, and the searches for ballooned frames
//! step over them with a cursor that moves the same way as the search; single frames are looked
//! up by halving.

use core::borrow::BorrowMut;

use ballast_xen::FrameRun;

use crate::config::ConfigError;

/// Storage words one reserved run takes.
pub const WORDS_PER_RUN: usize = 2;

/// Check reserved runs against the RAM runs `ram`: each non-empty and inside one RAM run, none
/// overlapping another, in any order (sorted input is checked in one pass, unsorted by pairs).
/// Returns how many there are.
pub fn check(
    ram: &[FrameRun],
    reserved: impl Iterator<Item = FrameRun> + Clone,
) -> Result<usize, ConfigError> {
    let mut count: usize = 0;
    let mut sorted = true;
    let mut previous_end = 0;
    for run in reserved.clone() {
        if !run.is_valid() {
            return Err(ConfigError::EmptyOrWrappingRange);
        }
        if !ram.iter().any(|r| r.contains_run(&run)) {
            return Err(ConfigError::ReservedOutsideRam);
        }
        sorted &= run.start() >= previous_end;
        previous_end = run.end();
        // One per item of a slice in memory: below `usize::MAX`.
        count = count.saturating_add(1);
    }
    if !sorted {
        for (i, run) in reserved.clone().enumerate() {
            if reserved.clone().take(i).any(|other| other.overlaps(&run)) {
                return Err(ConfigError::OverlappingRanges);
            }
        }
    }
    Ok(count)
}

/// The reserved runs, sorted by first frame, over the caller's storage `W` (borrowed or owned).
#[derive(Debug)]
pub struct ReservedRuns<W> {
    /// `[first, end]` of each run, ascending.
    storage: W,
    /// Frames in all runs.
    frames: u64,
}

impl<W: BorrowMut<[u64]>> ReservedRuns<W> {
    /// Copy `reserved` (checked by [`check`]) into `storage` (exactly [`WORDS_PER_RUN`] words a
    /// run) and sort it.
    pub fn new(mut storage: W, reserved: &[FrameRun]) -> ReservedRuns<W> {
        let (runs, _) = storage.borrow_mut().as_chunks_mut::<WORDS_PER_RUN>();
        let mut frames: u64 = 0;
        for (slot, run) in runs.iter_mut().zip(reserved) {
            *slot = [run.start(), run.end()];
            // Disjoint runs of managed frames: fewer than 2^64 in all.
            frames = frames.saturating_add(run.frames);
        }
        runs.sort_unstable_by_key(|run| run[0]);
        ReservedRuns { storage, frames }
    }

    /// `[first, end]` of each run, ascending.
    fn runs(&self) -> &[[u64; WORDS_PER_RUN]] {
        self.storage.borrow().as_chunks::<WORDS_PER_RUN>().0
    }

    /// Frames in all runs.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Bytes of storage.
    pub fn bytes(&self) -> usize {
        core::mem::size_of_val(self.runs())
    }

    /// The runs, ascending.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = FrameRun> + Clone + '_ {
        self.runs()
            .iter()
            .map(|&[first, end]| FrameRun::span(first, end))
    }

    /// The index of the first run ending after `gfn`.
    pub fn first_ending_after(&self, gfn: u64) -> usize {
        self.runs().partition_point(|&[_, end]| end <= gfn)
    }

    /// The runs overlapping `run`, ascending.
    pub fn overlapping(&self, run: FrameRun) -> impl Iterator<Item = FrameRun> + '_ {
        let from = self.first_ending_after(run.start());
        self.runs()[from..]
            .iter()
            .take_while(move |&&[first, _]| first < run.end())
            .map(|&[first, end]| FrameRun::span(first, end))
    }

    /// Whether any frame of `run` is reserved.
    pub fn any_in(&self, run: FrameRun) -> bool {
        self.overlapping(run).next().is_some()
    }

    /// Whether every frame of `run` lies in one reserved run.
    pub fn holds(&self, run: FrameRun) -> bool {
        self.overlapping(run)
            .next()
            .is_some_and(|reserved| reserved.contains_run(&run))
    }

    /// Reserved frames below `limit`.
    pub fn frames_below(&self, limit: u64) -> u64 {
        let runs = self.runs();
        let below = &runs[..runs.partition_point(|&[first, _]| first < limit)];
        below
            .iter()
            // Disjoint runs: the sum is at most the frames of all runs.
            .map(|&[first, end]| end.min(limit).saturating_sub(first))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    #[test]
    fn runs_are_sorted_and_found() {
        let reserved = [
            FrameRun::span(700, 710),
            FrameRun::span(10, 20),
            FrameRun::span(512, 513),
        ];
        let ram = [FrameRun::span(0, 1024)];
        assert_eq!(check(&ram, reserved.iter().copied()), Ok(3));
        let mut words = [0u64; 6];
        let runs = ReservedRuns::new(&mut words[..], &reserved);
        let firsts: std::vec::Vec<u64> = runs.iter().map(|r| r.start()).collect();
        assert_eq!(firsts, [10, 512, 700]);
        assert_eq!((runs.frames(), runs.bytes()), (21, 48));
        assert!(runs.any_in(FrameRun::span(0, 11)));
        assert!(!runs.any_in(FrameRun::span(20, 512)));
        assert!(runs.holds(FrameRun::span(12, 14)));
        assert!(!runs.holds(FrameRun::span(19, 21)));
        assert_eq!(runs.frames_below(515), 11);
        assert_eq!(runs.frames_below(705), 16);
        assert_eq!(runs.overlapping(FrameRun::span(15, 701)).count(), 3);
    }

    #[test]
    fn bad_runs_are_refused_in_any_order() {
        let ram = [FrameRun::span(0, 100)];
        let overlapping = [FrameRun::span(50, 60), FrameRun::span(10, 55)];
        assert_eq!(
            check(&ram, overlapping.iter().copied()),
            Err(ConfigError::OverlappingRanges)
        );
        let outside = [FrameRun::span(90, 110)];
        assert_eq!(
            check(&ram, outside.iter().copied()),
            Err(ConfigError::ReservedOutsideRam)
        );
        let empty = [FrameRun::span(5, 5)];
        assert_eq!(
            check(&ram, empty.iter().copied()),
            Err(ConfigError::EmptyOrWrappingRange)
        );
        let unsorted = [FrameRun::span(50, 60), FrameRun::span(10, 20)];
        assert_eq!(check(&ram, unsorted.iter().copied()), Ok(2));
    }
}
