//! The host's free memory, shared by every domain: a count of free pages kept as a stack, so that
//! the pages freed last are the ones handed out next (LIFO, page by page; an extent keeps the order
//! its pages were freed in). Xen does not scrub freed pages, so a page keeps its content in the
//! pool: only contents that are not zero are stored, by position in the stack.

use std::collections::BTreeMap;

/// Page contents travelling with a run of pages: `(offset in the run, fill word)`, offsets
/// ascending, zero words left out.
pub type Stale = Vec<(u64, u64)>;

/// The host free pool.
#[derive(Debug)]
pub struct HostPool {
    free: u64,
    stale: BTreeMap<u64, u64>,
    low_memory_bits: u8,
    largest_free_order: u32,
}

impl HostPool {
    /// A pool of `free` pages, all zero (scrubbed at boot), none of them below
    /// `2^low_memory_bits` bytes, in contiguous runs of at most `2^largest_free_order` pages.
    pub fn new(free: u64, low_memory_bits: u8, largest_free_order: u8) -> HostPool {
        HostPool {
            free,
            stale: BTreeMap::new(),
            low_memory_bits,
            largest_free_order: largest_free_order as u32,
        }
    }

    /// Whether an extent of `order` below `2^address_bits` bytes (if limited) could exist in
    /// this pool's memory at all, whatever is free now.
    pub fn could_hold(&self, order: u32, address_bits: Option<u8>) -> bool {
        order <= self.largest_free_order
            && address_bits.is_none_or(|bits| bits > self.low_memory_bits)
    }

    /// Pages free.
    pub fn free_pages(&self) -> u64 {
        self.free
    }

    /// Return `count` pages to the pool, page `offset` of the run holding the given word.
    pub fn push(&mut self, count: u64, contents: Stale) {
        // Pages come back only after they were handed out (or booted into a domain), so the pool
        // never holds more than `max_page` frames: the sums cannot saturate.
        let base = self.free;
        for (offset, word) in contents {
            if offset < count && word != 0 {
                self.stale.insert(base.saturating_add(offset), word);
            }
        }
        self.free = self.free.saturating_add(count);
    }

    /// Take the `count` pages freed last, in the order they were freed, with their contents.
    /// `None` (and nothing taken) when fewer than `count` are free.
    pub fn pop(&mut self, count: u64) -> Option<Stale> {
        let base = self.free.checked_sub(count)?;
        let taken = self.stale.split_off(&base);
        self.free = base;
        Some(
            taken
                .into_iter()
                .map(|(at, word)| (at.saturating_sub(base), word))
                .collect(),
        )
    }

    /// Approximate heap bytes held for stale contents.
    pub fn footprint_bytes(&self) -> usize {
        self.stale.len().saturating_mul(40)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_come_back_last_freed_first_with_their_contents() {
        let mut pool = HostPool::new(10, 24, 20);
        pool.push(1, vec![(0, 0xa)]);
        pool.push(3, vec![(0, 0xb0), (2, 0xb2)]);
        assert_eq!(pool.free_pages(), 14);
        assert_eq!(pool.pop(3), Some(vec![(0, 0xb0), (2, 0xb2)]));
        assert_eq!(pool.pop(1), Some(vec![(0, 0xa)]));
        assert_eq!(pool.pop(1), Some(vec![]));
        assert_eq!(pool.free_pages(), 9);
    }

    #[test]
    fn an_order_0_take_from_a_freed_extent_gets_its_last_page() {
        let mut pool = HostPool::new(0, 24, 20);
        pool.push(512, vec![(0, 1), (511, 2)]);
        assert_eq!(pool.pop(1), Some(vec![(0, 2)]));
        assert_eq!(pool.pop(511), Some(vec![(0, 1)]));
    }

    #[test]
    fn address_limits_and_contiguity_bound_what_the_pool_can_hold() {
        let pool = HostPool::new(1 << 20, 24, 17);
        assert!(pool.could_hold(17, None) && !pool.could_hold(18, None));
        assert!(pool.could_hold(0, Some(25)) && !pool.could_hold(0, Some(24)));
    }

    #[test]
    fn a_take_larger_than_the_pool_takes_nothing() {
        let mut pool = HostPool::new(2, 24, 20);
        pool.push(1, vec![(0, 7)]);
        assert_eq!(pool.pop(4), None);
        assert_eq!(pool.free_pages(), 3);
        assert_eq!(pool.pop(3), Some(vec![(2, 7)]));
    }
}
