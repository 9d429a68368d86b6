//! The untyped memory the kernel hands the root task: kernel objects are carved from it, and what
//! is left in whole large pages becomes the memory server's RAM.
//!
//! The pool mirrors the kernel's bookkeeping: each untyped's next object starts at its free
//! offset rounded up to the object's size, so the pool knows where every object lands and how
//! much each untyped has left without asking the kernel. Objects come first from untypeds too
//! small to hold a large page, then from untypeds already cut into, then from the smallest; the
//! largest blocks stay whole for the memory server.

use ballast_xen::{FrameRun, Gfn};
use heapless::Vec;

use crate::RootError;

/// log2 of a small page's bytes.
pub const PAGE_BITS: u8 = 12;
/// log2 of a large page's bytes.
pub const LARGE_PAGE_BITS: u8 = 21;
/// Untyped capabilities the pool tracks (5.0's bootinfo holds at most
/// `CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS`, 230 for ballast's platform).
pub const MAX_UNTYPEDS: usize = 256;

/// One untyped capability as the boot information describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Untyped {
    /// Its index in the boot information's untyped list (its capability is at
    /// `untyped.start + index`).
    pub index: usize,
    /// Its first physical byte.
    pub paddr: u64,
    /// log2 of its size in bytes.
    pub size_bits: u8,
    /// Device memory (never retyped into kernel objects or handed to the memory server).
    pub is_device: bool,
}

impl Untyped {
    const fn bytes(&self) -> u64 {
        1 << self.size_bits
    }
}

/// Where objects were carved: from which untyped (its boot-information index), at which
/// physical address the first one starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The untyped's index in the boot information's list.
    pub untyped: usize,
    /// The first object's physical address.
    pub paddr: u64,
}

/// A block of the memory server's RAM: whole large pages left at the end of one untyped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RamBlock {
    /// The untyped's index in the boot information's list.
    pub untyped: usize,
    /// Its frames (2 MiB aligned, whole large pages).
    pub run: FrameRun,
}

impl RamBlock {
    /// Large pages in the block.
    pub const fn large_pages(&self) -> u64 {
        self.run.frames >> (LARGE_PAGE_BITS - PAGE_BITS)
    }
}

/// The untyped capabilities and how much of each is used, in address order.
#[derive(Debug)]
pub struct UntypedPool {
    entries: Vec<(Untyped, u64), MAX_UNTYPEDS>,
}

const fn align_up(value: u64, bits: u8) -> u64 {
    let mask = (1 << bits) - 1;
    (value + mask) & !mask
}

impl UntypedPool {
    /// The pool of `untypeds`, none of them used yet.
    pub fn new(untypeds: impl IntoIterator<Item = Untyped>) -> Result<UntypedPool, RootError> {
        let mut entries: Vec<(Untyped, u64), MAX_UNTYPEDS> = Vec::new();
        for untyped in untypeds {
            entries
                .push((untyped, 0))
                .map_err(|_| RootError::TooManyUntypeds)?;
        }
        entries.sort_unstable_by_key(|(untyped, _)| untyped.paddr);
        Ok(UntypedPool { entries })
    }

    /// Carves `count` objects of `2^size_bits` bytes, side by side, from one untyped.
    pub fn allocate(&mut self, size_bits: u8, count: u64) -> Result<Placement, RootError> {
        let bytes = count
            .checked_mul(1 << size_bits)
            .ok_or(RootError::OutOfMemory)?;
        let fits = |(untyped, used): &(Untyped, u64)| {
            let start = untyped.paddr + align_up(*used, size_bits);
            !untyped.is_device && start + bytes <= untyped.paddr + untyped.bytes()
        };
        let preference = |(untyped, used): &(Untyped, u64)| {
            let whole_block = untyped.size_bits >= LARGE_PAGE_BITS && *used == 0;
            (
                untyped.size_bits >= LARGE_PAGE_BITS,
                whole_block,
                untyped.size_bits,
            )
        };
        let (untyped, used) = (self.entries.iter_mut())
            .filter(|entry| fits(entry))
            .min_by_key(|entry| preference(entry))
            .ok_or(RootError::OutOfMemory)?;
        let offset = align_up(*used, size_bits);
        *used = offset + bytes;
        Ok(Placement {
            untyped: untyped.index,
            paddr: untyped.paddr + offset,
        })
    }

    /// Carves `count` objects of `2^size_bits` bytes from the untyped with boot-information index
    /// `index` (the memory server's large pages from a [`RamBlock`]).
    pub fn allocate_in(
        &mut self,
        index: usize,
        size_bits: u8,
        count: u64,
    ) -> Result<Placement, RootError> {
        let bytes = count
            .checked_mul(1 << size_bits)
            .ok_or(RootError::OutOfMemory)?;
        let (untyped, used) = (self.entries.iter_mut())
            .find(|(untyped, _)| untyped.index == index && !untyped.is_device)
            .ok_or(RootError::OutOfMemory)?;
        let offset = align_up(*used, size_bits);
        if offset + bytes > untyped.bytes() {
            return Err(RootError::OutOfMemory);
        }
        *used = offset + bytes;
        Ok(Placement {
            untyped: index,
            paddr: untyped.paddr + offset,
        })
    }

    /// Bytes of RAM (not device memory) not yet carved.
    pub fn free_bytes(&self) -> u64 {
        (self.entries.iter())
            .filter(|(untyped, _)| !untyped.is_device)
            .map(|(untyped, used)| untyped.bytes().saturating_sub(*used))
            .sum()
    }

    /// What is left for the memory server, in address order: from each RAM untyped, the whole
    /// large pages past what was carved from it, below frame `limit`.
    pub fn ram_blocks(&self, limit: u64) -> impl Iterator<Item = RamBlock> + '_ {
        let limit_bytes = limit.saturating_mul(1 << PAGE_BITS) & !((1 << LARGE_PAGE_BITS) - 1);
        (self.entries.iter()).filter_map(move |(untyped, used)| {
            if untyped.is_device || untyped.size_bits < LARGE_PAGE_BITS {
                return None;
            }
            let start = untyped.paddr + align_up(*used, LARGE_PAGE_BITS);
            let end = (untyped.paddr + untyped.bytes()).min(limit_bytes);
            (start < end).then(|| RamBlock {
                untyped: untyped.index,
                run: FrameRun::new(Gfn(start >> PAGE_BITS), (end - start) >> PAGE_BITS),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ram(index: usize, paddr: u64, size_bits: u8) -> Untyped {
        Untyped {
            index,
            paddr,
            size_bits,
            is_device: false,
        }
    }

    /// A 5.0-like split of 64 MiB at 1 GiB after the kernel took its first 1 MiB + 64 KiB.
    fn pool() -> UntypedPool {
        UntypedPool::new([
            ram(0, 0x4011_0000, 16),
            ram(1, 0x4012_0000, 17),
            ram(2, 0x4014_0000, 18),
            ram(3, 0x4018_0000, 19),
            ram(4, 0x4020_0000, 21),
            ram(5, 0x4040_0000, 22),
            ram(6, 0x4080_0000, 23),
            ram(7, 0x4100_0000, 24),
            ram(8, 0x4200_0000, 25),
            Untyped {
                index: 9,
                paddr: 0x0900_0000,
                size_bits: 12,
                is_device: true,
            },
        ])
        .expect("fits")
    }

    #[test]
    fn objects_come_from_the_small_untypeds_first_at_the_kernels_offsets() {
        let mut pool = pool();
        let tcb = pool.allocate(11, 1).expect("tcb");
        assert_eq!(
            tcb,
            Placement {
                untyped: 0,
                paddr: 0x4011_0000
            }
        );
        let cnode = pool.allocate(13, 1).expect("cnode");
        assert_eq!(cnode.paddr, 0x4011_2000, "rounded up to its own size");
        let endpoint = pool.allocate(4, 1).expect("endpoint");
        assert_eq!(endpoint.paddr, 0x4011_4000);
        let pages = pool.allocate(12, 3).expect("pages");
        assert_eq!(pages.paddr, 0x4011_5000);
    }

    #[test]
    fn the_large_blocks_stay_whole_until_the_small_ones_are_used_up() {
        let mut pool = pool();
        let small_bytes = (1 << 16) + (1 << 17) + (1 << 18) + (1 << 19);
        for _ in 0..small_bytes / 4096 {
            pool.allocate(12, 1).expect("small");
        }
        let next = pool.allocate(12, 1).expect("from a block");
        assert_eq!(
            next,
            Placement {
                untyped: 4,
                paddr: 0x4020_0000
            },
            "the smallest block"
        );
        let after = pool.allocate(12, 1).expect("same block");
        assert_eq!(after.untyped, 4, "the block already cut into");
        let blocks: std::vec::Vec<RamBlock> = pool.ram_blocks(u64::MAX).collect();
        assert_eq!(
            blocks.first().map(|block| block.untyped),
            Some(5),
            "block 4 has no large page left"
        );
        assert_eq!(blocks.len(), 4);
        assert_eq!(
            blocks.iter().map(RamBlock::large_pages).sum::<u64>(),
            2 + 4 + 8 + 16
        );
    }

    #[test]
    fn a_ram_block_is_carved_into_large_pages_exactly_where_it_said() {
        let mut pool = pool();
        pool.allocate(12, 1)
            .expect("a page from the small untypeds");
        let block = pool.ram_blocks(u64::MAX).next().expect("block");
        let pages = pool.allocate_in(block.untyped, LARGE_PAGE_BITS, block.large_pages());
        assert_eq!(
            pages,
            Ok(Placement {
                untyped: block.untyped,
                paddr: block.run.start() << PAGE_BITS
            })
        );
        assert_eq!(
            pool.ram_blocks(u64::MAX).next().map(|next| next.untyped),
            Some(5)
        );
        assert_eq!(
            pool.allocate_in(block.untyped, PAGE_BITS, 1),
            Err(RootError::OutOfMemory)
        );
        assert_eq!(
            pool.allocate_in(9, PAGE_BITS, 1),
            Err(RootError::OutOfMemory),
            "device"
        );
    }

    #[test]
    fn ram_blocks_skip_device_memory_and_stop_at_the_limit() {
        let pool = pool();
        let limit = 0x4200_0000 >> PAGE_BITS;
        let blocks: std::vec::Vec<RamBlock> = pool.ram_blocks(limit).collect();
        let last = blocks.last().expect("blocks");
        assert_eq!(last.run.end(), limit);
        assert!(blocks
            .iter()
            .all(|block| block.run.start() >= 0x4020_0000 >> PAGE_BITS));
        let partial = pool
            .ram_blocks((0x4100_0000 + 0x30_0000) >> PAGE_BITS)
            .last()
            .expect("cut");
        assert_eq!(
            partial.run.end(),
            0x4120_0000 >> PAGE_BITS,
            "whole large pages only"
        );
    }

    #[test]
    fn running_out_is_an_error_and_device_memory_is_never_used() {
        let mut pool = UntypedPool::new([Untyped {
            index: 0,
            paddr: 0x0900_0000,
            size_bits: 20,
            is_device: true,
        }])
        .expect("one");
        assert_eq!(pool.allocate(12, 1), Err(RootError::OutOfMemory));
        assert_eq!(pool.free_bytes(), 0);
        let mut small = UntypedPool::new([ram(0, 0x4000_0000, 13)]).expect("one");
        assert!(small.allocate(12, 2).is_ok());
        assert_eq!(small.allocate(4, 1), Err(RootError::OutOfMemory));
        assert_eq!(small.allocate(12, u64::MAX), Err(RootError::OutOfMemory));
    }
}
