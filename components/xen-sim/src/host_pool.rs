//! The host's free memory as Xen 4.17's buddy allocator (`common/page_alloc.c`) keeps it: machine
//! frames (MFNs) in naturally aligned blocks of 2^order pages, one free list per zone and order.
//!
//! - Allocation takes, from the highest zone that has one (a zone is an MFN's bit length, so
//!   high memory goes first), the head of the list of the smallest order that fits. A larger
//!   block is halved until it fits: each lower half goes back to its list and the upper half is
//!   kept, so a block hands out its top first.
//! - Freeing merges a block with its buddy while the buddy is free and of the same order, and puts
//!   the merged block at the head of its list: the block freed last is the next one handed out.
//!   Xen frees a decrease page by page; freeing a run as its maximal aligned blocks, in the same
//!   order, gives the same blocks and the same heads.
//! - Blocks merge no further than [`HostPool::new`]'s `largest_free_order`: the host's free memory
//!   comes in contiguous runs of at most that order (measured: 17).
//! - Freed pages keep their contents (Xen does not scrub a page a live domain frees), kept per MFN
//!   for the pages that are not zero.
//!
//! The free pool starts at the first MFN above `2^low_memory_bits` bytes; the boot memory of each
//! domain is placed above it ([`HostPool::boot_frames`]), as Xen builds dom0 from the top of
//! memory. Everything is per block or per run, never per page, so a 1 TiB host stays small.

use std::collections::BTreeMap;

use crate::frames::MfnRun;

/// Page contents travelling with a run of pages: `(offset in the run, fill word)`, offsets
/// ascending, zero words left out.
pub type Stale = Vec<(u64, u64)>;

/// Xen's page shift: a zone limit in address bits is this many more than in MFN bits.
const PAGE_SHIFT: u8 = 12;

/// The host free pool.
#[derive(Debug)]
pub struct HostPool {
    /// Free blocks by first MFN: their order and their place in their list.
    blocks: BTreeMap<u64, FreeBlock>,
    /// The free lists by (zone, order): first MFNs by place, the largest place at the head.
    lists: BTreeMap<(u8, u8), BTreeMap<u64, u64>>,
    /// The place the next block put at a head gets.
    next_place: u64,
    free: u64,
    /// Contents of free pages that are not zero, by MFN.
    stale: BTreeMap<u64, u64>,
    low_memory_bits: u8,
    largest_free_order: u8,
    /// Where the next domain's boot memory goes.
    next_boot_mfn: u64,
}

/// A free block's order and its place in its list.
#[derive(Clone, Copy, Debug)]
struct FreeBlock {
    order: u8,
    place: u64,
}

/// Xen's zone of a block starting at `mfn`: the MFN's bit length (at least 1).
fn zone(mfn: u64) -> u8 {
    // At most 64: the cast keeps every value.
    (u64::BITS.saturating_sub(mfn.leading_zeros()) as u8).max(1)
}

/// 2^order pages (`order` at most 63 here: blocks never pass `largest_free_order`).
fn pages(order: u8) -> u64 {
    1u64.checked_shl(u32::from(order)).unwrap_or(u64::MAX)
}

impl HostPool {
    /// A pool of `free` pages, all zero (scrubbed at boot), none of them below
    /// `2^low_memory_bits` bytes, in contiguous runs of at most `2^largest_free_order` pages.
    pub fn new(free: u64, low_memory_bits: u8, largest_free_order: u8) -> HostPool {
        let base = pages(low_memory_bits.saturating_sub(PAGE_SHIFT));
        let mut pool = HostPool {
            blocks: BTreeMap::new(),
            lists: BTreeMap::new(),
            next_place: 0,
            free: 0,
            stale: BTreeMap::new(),
            low_memory_bits,
            largest_free_order: largest_free_order.min(63),
            next_boot_mfn: 0,
        };
        let end = base.saturating_add(free);
        pool.free_run(
            MfnRun {
                gfn: 0,
                mfn: base,
                len: end.saturating_sub(base),
                descending: false,
            },
            Vec::new(),
        );
        pool.next_boot_mfn = end;
        pool
    }

    /// Whether an extent of `order` below `2^address_bits` bytes (if limited) could exist in
    /// this pool's memory at all, whatever is free now.
    pub fn could_hold(&self, order: u32, address_bits: Option<u8>) -> bool {
        order <= u32::from(self.largest_free_order)
            && address_bits.is_none_or(|bits| bits > self.low_memory_bits)
    }

    /// Pages free.
    pub fn free_pages(&self) -> u64 {
        self.free
    }

    /// MFNs for `len` pages of boot memory whose first gfn is `gfn`, above everything placed so
    /// far: 2 MiB-aligned gfns get 2 MiB-aligned MFNs (the first MFN matches the gfn's offset in
    /// a block of the largest free order). Returns the first MFN; the run ascends.
    pub fn boot_frames(&mut self, gfn: u64, len: u64) -> u64 {
        let block = pages(self.largest_free_order);
        let offset = gfn & block.saturating_sub(1);
        // Rounded up to a block, then the gfn's offset: MFNs stay far below 2^64, as the host's
        // pages and every domain's boot memory (below 2^40 frames each) do.
        let start = self
            .next_boot_mfn
            .div_ceil(block)
            .saturating_mul(block)
            .saturating_add(offset);
        self.next_boot_mfn = start.saturating_add(len);
        start
    }

    /// Allocate one block of `order` below `2^address_bits` bytes (if limited), as
    /// `alloc_heap_pages` does: its first MFN and the stale contents of its pages (offsets from
    /// that MFN). `None`, and nothing taken, when no free block fits.
    pub fn alloc(&mut self, order: u32, address_bits: Option<u8>) -> Option<(u64, Stale)> {
        let order = u8::try_from(order)
            .ok()
            .filter(|o| *o <= self.largest_free_order)?;
        let zone_hi = address_bits.map_or(u8::MAX, |bits| bits.saturating_sub(PAGE_SHIFT));
        // The highest zone with a list of an order that fits; in it, the smallest such order.
        let mut found: Option<(u8, u8)> = None;
        for &(list_zone, list_order) in self.lists.range(..=(zone_hi, u8::MAX)).rev().map(|e| e.0) {
            if found.is_some_and(|(z, _)| list_zone < z) {
                break;
            }
            if list_order >= order {
                found = Some((list_zone, list_order));
            }
        }
        let key = found?;
        let (_, mut mfn) = self
            .lists
            .get(&key)?
            .last_key_value()
            .map(|(p, m)| (*p, *m))?;
        self.unlink(mfn);
        let mut held = key.1;
        while held > order {
            held = held.saturating_sub(1);
            self.link(mfn, held);
            mfn = mfn.saturating_add(pages(held));
        }
        let count = pages(order);
        self.free = self.free.saturating_sub(count);
        let end = mfn.saturating_add(count);
        let mut taken = self.stale.split_off(&mfn);
        let mut after = taken.split_off(&end);
        self.stale.append(&mut after);
        // Every key lies in `[mfn, end)`.
        let contents = taken
            .into_iter()
            .map(|(at, word)| (at.saturating_sub(mfn), word))
            .collect();
        Some((mfn, contents))
    }

    /// Free the pages of `run` in its order (page by page as a decrease frees them), merging
    /// buddies; `stale` gives the contents of its pages that are not zero, by MFN.
    pub fn free_run(&mut self, run: MfnRun, stale: Vec<(u64, u64)>) {
        for (mfn, word) in stale {
            if word != 0 {
                self.stale.insert(mfn, word);
            }
        }
        let (low, high) = run.mfns();
        let blocks = aligned_blocks(low, high, self.largest_free_order);
        if run.descending {
            for (mfn, order) in blocks.into_iter().rev() {
                self.free_block(mfn, order);
            }
        } else {
            for (mfn, order) in blocks {
                self.free_block(mfn, order);
            }
        }
    }

    /// `free_heap_pages`: merge the block with its free buddies, then put it at its list's head.
    fn free_block(&mut self, mut mfn: u64, mut order: u8) {
        // The pool never holds more pages than the host has.
        self.free = self.free.saturating_add(pages(order));
        while order < self.largest_free_order {
            let buddy = mfn ^ pages(order);
            match self.blocks.get(&buddy) {
                Some(block) if block.order == order => {
                    self.unlink(buddy);
                    mfn = mfn.min(buddy);
                    order = order.saturating_add(1);
                }
                _ => break,
            }
        }
        self.link(mfn, order);
    }

    /// Put the free block at `mfn` at the head of its list.
    fn link(&mut self, mfn: u64, order: u8) {
        let place = self.next_place;
        // One place per block freed or split: a u64 does not fill.
        self.next_place = place.saturating_add(1);
        self.blocks.insert(mfn, FreeBlock { order, place });
        self.lists
            .entry((zone(mfn), order))
            .or_default()
            .insert(place, mfn);
    }

    /// Take the free block at `mfn` off its list.
    fn unlink(&mut self, mfn: u64) {
        let Some(block) = self.blocks.remove(&mfn) else {
            return;
        };
        let key = (zone(mfn), block.order);
        if let Some(list) = self.lists.get_mut(&key) {
            list.remove(&block.place);
            if list.is_empty() {
                self.lists.remove(&key);
            }
        }
    }

    /// Approximate heap bytes held: free blocks, list entries and stale contents.
    pub fn footprint_bytes(&self) -> usize {
        self.blocks
            .len()
            .saturating_mul(2)
            .saturating_add(self.stale.len())
            .saturating_mul(40)
    }
}

/// `[low, high)` as naturally aligned blocks of at most `2^max_order` pages, ascending.
fn aligned_blocks(low: u64, high: u64, max_order: u8) -> Vec<(u64, u8)> {
    let mut blocks = Vec::new();
    let mut at = low;
    while at < high {
        // The largest order that `at` is aligned to and that fits before `high`.
        let aligned = if at == 0 { 63 } else { at.trailing_zeros() };
        let fits = (high.saturating_sub(at)).ilog2();
        let order = aligned.min(fits).min(u32::from(max_order));
        // At most 63: the cast keeps the value.
        let order = order as u8;
        blocks.push((at, order));
        at = at.saturating_add(pages(order));
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mfn: u64, len: u64) -> MfnRun {
        MfnRun {
            gfn: 0,
            mfn,
            len,
            descending: false,
        }
    }

    /// An empty pool of order-20 runs, its MFNs from 4096 (16 MiB) on.
    fn empty_pool() -> HostPool {
        HostPool::new(0, 24, 20)
    }

    #[test]
    fn freed_buddies_merge_into_one_block() {
        let mut pool = empty_pool();
        pool.free_run(run(0x10_0200, 0x200), Vec::new());
        pool.free_run(run(0x10_0000, 0x200), Vec::new());
        assert_eq!(pool.blocks.len(), 1, "{:?}", pool.blocks);
        assert_eq!(pool.blocks[&0x10_0000].order, 10);
        assert_eq!(pool.free_pages(), 0x400);
        // Page by page, in either direction, gives the same block.
        let mut pool = empty_pool();
        for mfn in (0x10_0000..0x10_0400).rev() {
            pool.free_run(run(mfn, 1), Vec::new());
        }
        assert_eq!(pool.blocks.len(), 1);
        assert_eq!(pool.blocks[&0x10_0000].order, 10);
    }

    #[test]
    fn an_order_9_take_after_an_order_9_free_gets_the_same_block_with_its_contents() {
        let mut pool = HostPool::new(1 << 16, 24, 17);
        let (mfn, _) = pool.alloc(9, None).expect("free memory");
        let (other, _) = pool.alloc(9, None).expect("free memory");
        assert_ne!(mfn, other);
        pool.free_run(run(mfn, 512), vec![(mfn, 0xaa), (mfn + 511, 0xbb)]);
        assert_eq!(
            pool.alloc(9, None),
            Some((mfn, vec![(0, 0xaa), (511, 0xbb)]))
        );
    }

    #[test]
    fn a_block_hands_out_its_top_first_and_order_0_takes_descend() {
        let mut pool = empty_pool();
        pool.free_run(run(0x10_0000, 8), Vec::new());
        let taken: Vec<u64> = (0..8).map(|_| pool.alloc(0, None).unwrap().0).collect();
        assert_eq!(taken, (0x10_0000..0x10_0008).rev().collect::<Vec<_>>());
        assert_eq!(pool.alloc(0, None), None);
    }

    #[test]
    fn high_zones_go_first_and_an_address_limit_keeps_to_low_ones() {
        let mut pool = empty_pool();
        pool.free_run(run(0x1000, 1), Vec::new());
        pool.free_run(run(0x10_0000, 1), Vec::new());
        pool.free_run(run(0x2000, 1), Vec::new());
        assert_eq!(pool.alloc(0, Some(12 + 14)).map(|t| t.0), Some(0x2000));
        assert_eq!(pool.alloc(0, None).map(|t| t.0), Some(0x10_0000));
        assert_eq!(pool.alloc(0, Some(12 + 13)).map(|t| t.0), Some(0x1000));
    }

    #[test]
    fn blocks_merge_no_further_than_the_largest_free_order() {
        let mut pool = HostPool::new(1 << 20, 24, 17);
        assert!(pool.blocks.values().all(|b| b.order <= 17));
        assert!(pool.alloc(18, None).is_none());
        assert!(pool.alloc(17, None).is_some());
        assert_eq!(pool.free_pages(), (1 << 20) - (1 << 17));
        let pool = HostPool::new(1 << 20, 24, 17);
        assert!(pool.could_hold(17, None) && !pool.could_hold(18, None));
        assert!(pool.could_hold(0, Some(25)) && !pool.could_hold(0, Some(24)));
    }

    #[test]
    fn a_fragmented_pool_refuses_a_large_extent_though_enough_pages_are_free() {
        let mut pool = empty_pool();
        for mfn in (0x10_0000..0x10_0800).step_by(2) {
            pool.free_run(run(mfn, 1), Vec::new());
        }
        assert_eq!(pool.free_pages(), 1024);
        assert_eq!(pool.alloc(1, None), None);
        assert_eq!(pool.free_pages(), 1024, "the refusal took nothing");
        assert!(pool.alloc(0, None).is_some());
    }

    #[test]
    fn boot_memory_sits_above_the_pool_with_its_2_mib_alignment() {
        let mut pool = HostPool::new(1000, 24, 17);
        let first = pool.boot_frames(0x200, 0x400);
        assert!(first > 4096 + 1000);
        assert_eq!(first % 512, 0);
        let next = pool.boot_frames(0x10, 5);
        assert!(next >= first + 0x400);
        assert_eq!(next % 512, 0x10);
    }
}
