//! The scheduler's seeded random source (SplitMix64): tiny, fast, and the same on every machine,
//! so a seed names one interleaving.

#[derive(Clone, Debug)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `bound` (which must be nonzero; 0 gives 0).
    pub fn below(&mut self, bound: usize) -> usize {
        let bound = bound as u64;
        if bound == 0 {
            return 0;
        }
        // Multiply-shift: unbiased enough for scheduling, and branch-free.
        // Two 64-bit factors: the product fits in 128 bits, and its high half is below `bound`.
        (u128::from(self.next_u64()).wrapping_mul(u128::from(bound)) >> 64) as usize
    }

    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_values_stay_below_the_bound() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        let mut c = SplitMix64::new(43);
        let from_a: Vec<usize> = (0..64).map(|_| a.below(5)).collect();
        let from_b: Vec<usize> = (0..64).map(|_| b.below(5)).collect();
        let from_c: Vec<usize> = (0..64).map(|_| c.below(5)).collect();
        assert_eq!(from_a, from_b);
        assert_ne!(from_a, from_c);
        assert!(from_a.iter().all(|&v| v < 5));
        assert!((0..5).all(|v| from_a.contains(&v)));
    }
}
