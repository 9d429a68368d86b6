//! What the guest wrote into its populated pages, kept sparsely: one 64-bit fill word per page,
//! stored only when it is not zero, so that a guest costs nothing for pages it never wrote.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::host_pool::Stale;

/// The contents of one domain's populated pages.
#[derive(Debug, Default)]
pub struct PageContents {
    words: BTreeMap<u64, u64>,
}

impl PageContents {
    /// The fill word of populated page `gfn` (0: scrubbed or never written).
    pub fn read(&self, gfn: u64) -> u64 {
        self.words.get(&gfn).copied().unwrap_or(0)
    }

    /// Fill populated page `gfn` with `word`.
    pub fn write(&mut self, gfn: u64, word: u64) {
        if word == 0 {
            self.words.remove(&gfn);
        } else {
            self.words.insert(gfn, word);
        }
    }

    /// Remove the contents of `range` and return them as offsets from its start.
    pub fn take(&mut self, range: Range<u64>) -> Stale {
        let start = range.start;
        let keys: Vec<u64> = self.words.range(range).map(|(gfn, _)| *gfn).collect();
        keys.into_iter()
            // Every key is in `range`, so at or above its start.
            .filter_map(|gfn| {
                let word = self.words.remove(&gfn)?;
                Some((gfn.saturating_sub(start), word))
            })
            .collect()
    }

    /// Give the pages from `base` on the contents a fresh allocation brought (offsets from `base`).
    pub fn place(&mut self, base: u64, contents: Stale) {
        // The offsets lie inside the extent being mapped at `base`, which ends below the
        // guest-physical limit: the sum cannot saturate.
        for (offset, word) in contents {
            self.write(base.saturating_add(offset), word);
        }
    }

    /// Approximate heap bytes held.
    pub fn footprint_bytes(&self) -> usize {
        self.words.len().saturating_mul(40)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taking_a_range_moves_only_its_words() {
        let mut c = PageContents::default();
        c.write(9, 1);
        c.write(10, 2);
        c.write(12, 3);
        c.write(20, 4);
        assert_eq!(c.take(10..20), vec![(0, 2), (2, 3)]);
        assert_eq!((c.read(9), c.read(10), c.read(20)), (1, 0, 4));
        c.place(100, vec![(1, 5)]);
        assert_eq!(c.read(101), 5);
        c.write(101, 0);
        assert_eq!(c.footprint_bytes(), 2 * 40);
    }
}
