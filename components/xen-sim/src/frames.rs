//! Which machine frame (MFN) backs each populated gfn of a domain, kept as runs: a run maps
//! consecutive gfns to consecutive MFNs, ascending (an extent, boot memory) or descending (4 KiB
//! extents populated one after another from one free block, which hands out its top first), so
//! a 1 TiB guest costs one entry per run, never one per page.

use std::collections::BTreeMap;
use std::ops::Range;

/// Consecutive gfns on consecutive MFNs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MfnRun {
    /// The first gfn (0 for pages no gfn maps).
    pub gfn: u64,
    /// The MFN of the first gfn.
    pub mfn: u64,
    /// Pages.
    pub len: u64,
    /// Gfn `gfn + i` is on MFN `mfn - i` (else `mfn + i`).
    pub descending: bool,
}

impl MfnRun {
    /// The MFNs of the run as `[low, high)`. Runs only ever hold MFNs the host has, so neither
    /// end saturates.
    pub fn mfns(&self) -> (u64, u64) {
        if self.descending {
            let low = self.mfn.saturating_sub(self.len.saturating_sub(1));
            (low, self.mfn.saturating_add(1))
        } else {
            (self.mfn, self.mfn.saturating_add(self.len))
        }
    }

    /// The MFN of gfn `gfn` of the run (`gfn` in the run).
    pub fn mfn_of(&self, gfn: u64) -> u64 {
        let offset = gfn.saturating_sub(self.gfn);
        if self.descending {
            self.mfn.saturating_sub(offset)
        } else {
            self.mfn.saturating_add(offset)
        }
    }

    /// The part of the run from gfn `from` (in the run) on for `len` pages.
    fn slice(&self, from: u64, len: u64) -> MfnRun {
        MfnRun {
            gfn: from,
            mfn: self.mfn_of(from),
            len,
            descending: self.descending,
        }
    }

    /// The gfn after the run.
    fn end(&self) -> u64 {
        self.gfn.saturating_add(self.len)
    }

    /// Whether `next` continues this run, gfn and MFN alike.
    fn joins(&self, next: &MfnRun) -> bool {
        if next.gfn != self.end() {
            return false;
        }
        let last = self.mfn_of(self.end().saturating_sub(1));
        let directions = [false, true].into_iter().filter(|descending| {
            (self.len == 1 || self.descending == *descending)
                && (next.len == 1 || next.descending == *descending)
        });
        directions.clone().any(|descending| {
            let expected = if descending {
                last.checked_sub(1)
            } else {
                last.checked_add(1)
            };
            expected == Some(next.mfn)
        })
    }
}

/// A domain's gfn-to-MFN map.
#[derive(Debug, Default)]
pub struct MachineFrames {
    runs: BTreeMap<u64, MfnRun>,
}

impl MachineFrames {
    /// The MFN backing `gfn`, if mapped.
    pub fn mfn(&self, gfn: u64) -> Option<u64> {
        let (_, run) = self.runs.range(..=gfn).next_back()?;
        (gfn < run.end()).then(|| run.mfn_of(gfn))
    }

    /// Map the gfns of `run` (which must be unmapped), joining it to its neighbours where the MFNs
    /// continue.
    pub fn insert(&mut self, run: MfnRun) {
        if run.len == 0 {
            return;
        }
        let mut run = run;
        if let Some((_, before)) = self.runs.range(..run.gfn).next_back() {
            if before.joins(&run) {
                let before = *before;
                self.runs.remove(&before.gfn);
                run = MfnRun {
                    gfn: before.gfn,
                    mfn: before.mfn,
                    len: before.len.saturating_add(run.len),
                    descending: before.mfn_of(before.end().saturating_sub(1)) > run.mfn,
                };
            }
        }
        if let Some(after) = self.runs.get(&run.end()).copied() {
            if run.joins(&after) {
                self.runs.remove(&after.gfn);
                let last = run.mfn_of(run.end().saturating_sub(1));
                run = MfnRun {
                    len: run.len.saturating_add(after.len),
                    descending: last > after.mfn,
                    ..run
                };
            }
        }
        self.runs.insert(run.gfn, run);
    }

    /// Unmap `range` and return what was mapped in it, in gfn order.
    pub fn remove(&mut self, range: Range<u64>) -> Vec<MfnRun> {
        let mut removed = Vec::new();
        if range.start >= range.end {
            return removed;
        }
        let first = self
            .runs
            .range(..=range.start)
            .next_back()
            .map_or(range.start, |(gfn, _)| *gfn);
        let hit: Vec<MfnRun> = self
            .runs
            .range(first..range.end)
            .map(|(_, run)| *run)
            .filter(|run| run.end() > range.start)
            .collect();
        for run in hit {
            self.runs.remove(&run.gfn);
            let lo = run.gfn.max(range.start);
            let hi = run.end().min(range.end);
            if run.gfn < lo {
                self.runs
                    .insert(run.gfn, run.slice(run.gfn, lo.saturating_sub(run.gfn)));
            }
            if hi < run.end() {
                self.runs
                    .insert(hi, run.slice(hi, run.end().saturating_sub(hi)));
            }
            removed.push(run.slice(lo, hi.saturating_sub(lo)));
        }
        removed
    }

    /// Every run, in gfn order.
    pub fn runs(&self) -> impl Iterator<Item = &MfnRun> {
        self.runs.values()
    }

    /// Approximate heap bytes held.
    pub fn footprint_bytes(&self) -> usize {
        self.runs.len().saturating_mul(64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(gfn: u64, mfn: u64, len: u64) -> MfnRun {
        MfnRun {
            gfn,
            mfn,
            len,
            descending: false,
        }
    }

    #[test]
    fn runs_join_ascending_and_descending_and_split_on_removal() {
        let mut frames = MachineFrames::default();
        frames.insert(up(0, 1000, 512));
        frames.insert(up(512, 1512, 512));
        assert_eq!(frames.runs().count(), 1);
        // 4 KiB extents on MFNs counting down, as one free block hands them out.
        for i in 0..4 {
            frames.insert(up(2000 + i, 9000 - i, 1));
        }
        assert_eq!(frames.runs().count(), 2);
        assert_eq!(frames.mfn(2003), Some(8997));
        assert_eq!(frames.mfn(700), Some(1700));
        assert_eq!(frames.mfn(1024), None);
        let gone = frames.remove(100..2002);
        assert_eq!(
            gone,
            vec![
                up(100, 1100, 924),
                MfnRun {
                    gfn: 2000,
                    mfn: 9000,
                    len: 2,
                    descending: true
                }
            ]
        );
        assert_eq!(gone[1].mfns(), (8999, 9001));
        assert_eq!(frames.mfn(99), Some(1099));
        assert_eq!(frames.mfn(2002), Some(8998));
        assert_eq!(frames.mfn(100), None);
        assert_eq!(frames.runs().count(), 2);
    }
}
