//! The translation tables the kernel starts on (4 KiB granule, 48-bit virtual addresses, three
//! levels down to 2 MiB blocks). TTBR1: the kernel window, [`KERNEL_BASE`] onwards mapped to
//! `physBase` onwards, far enough to cover the kernel image (5.0 touches nothing else through it
//! before it installs its own tables in `init_cpu`). TTBR0: the loader mapped to itself, so that
//! the instructions after the one that turns translation on still fetch. Both are normal
//! write-back memory (MAIR index `NORMAL`), inner shareable, privileged only, never executable
//! at EL0. The tables are filled with the MMU off, where the table walker will find them.

use crate::plan::{Region, KERNEL_BASE, LARGE_PAGE_BYTES, PAGE_BYTES};
use crate::registers::NORMAL_INDEX;

/// Entries in a table.
pub const ENTRIES: usize = 512;
/// Levels walked down to a 2 MiB block.
const LEVELS: usize = 3;
/// Bytes one level-1 entry spans (and so one level-2 table covers).
const LEVEL_1_SPAN: u64 = 1 << 30;

const VALID: u64 = 1 << 0;
const TABLE: u64 = VALID | (1 << 1);
const BLOCK: u64 = VALID;
const ATTRIBUTE_INDEX_SHIFT: u64 = 2;
const INNER_SHAREABLE: u64 = 0b11 << 8;
const ACCESS_FLAG: u64 = 1 << 10;
const USER_EXECUTE_NEVER: u64 = 1 << 54;
/// A 2 MiB block of normal memory the kernel (EL1) may read, write and execute.
const KERNEL_BLOCK: u64 = BLOCK
    | (NORMAL_INDEX << ATTRIBUTE_INDEX_SHIFT)
    | INNER_SHAREABLE
    | ACCESS_FLAG
    | USER_EXECUTE_NEVER;

/// One translation table.
#[derive(Debug)]
#[repr(C, align(4096))]
pub struct Table(pub [u64; ENTRIES]);

/// The two sets of tables, levels 0, 1 and 2 each, at consecutive pages.
#[derive(Debug)]
#[repr(C)]
pub struct Tables {
    identity: [Table; LEVELS],
    kernel: [Table; LEVELS],
}

/// Why the tables cannot map what they must. C-like, nonzero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum TableError {
    /// The tables' own address is not page-aligned.
    Misaligned = 1,
    /// The loader crosses a 1 GiB boundary or lies above 48 bits: one level-2 table cannot map
    /// it.
    LoaderUnmappable = 2,
    /// The kernel window needs more than one level-2 table (1 GiB).
    KernelWindowTooLarge = 3,
}

/// The translation-table base registers' values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roots {
    /// TTBR0_EL1: the identity map (ASID 0).
    pub ttbr0: u64,
    /// TTBR1_EL1: the kernel window.
    pub ttbr1: u64,
}

/// The index of `address` at `level` (0, 1 or 2) of a 4 KiB-granule, 48-bit walk.
fn index(address: u64, level: usize) -> usize {
    ((address >> (39 - 9 * level as u64)) & (ENTRIES as u64 - 1)) as usize
}

fn align_down(value: u64, alignment: u64) -> u64 {
    value & !(alignment - 1)
}

impl Tables {
    /// Empty tables.
    pub const fn new() -> Tables {
        Tables {
            identity: [const { Table([0; ENTRIES]) }; LEVELS],
            kernel: [const { Table([0; ENTRIES]) }; LEVELS],
        }
    }

    /// The physical addresses `fill` writes into table descriptors, the tables being at
    /// `address`: identity levels first, then the kernel's.
    fn table_address(address: u64, kernel: bool, level: usize) -> u64 {
        address + ((usize::from(kernel) * LEVELS + level) as u64) * PAGE_BYTES
    }

    /// Fill the tables, which lie at physical address `address`: `loader` mapped to itself and
    /// [`KERNEL_BASE`] onwards to `kernel` (rounded out to 2 MiB blocks; `kernel.start` is
    /// `physBase`, 2 MiB aligned). Returns the base-register values.
    pub fn fill(
        &mut self,
        address: u64,
        loader: Region,
        kernel: Region,
    ) -> Result<Roots, TableError> {
        if !address.is_multiple_of(PAGE_BYTES) {
            return Err(TableError::Misaligned);
        }
        let first = align_down(loader.start, LARGE_PAGE_BYTES);
        let last = align_down(loader.end - 1, LARGE_PAGE_BYTES);
        if first / LEVEL_1_SPAN != last / LEVEL_1_SPAN || last >> 48 != 0 {
            return Err(TableError::LoaderUnmappable);
        }
        let window_bytes = kernel.end - kernel.start;
        let blocks = window_bytes.div_ceil(LARGE_PAGE_BYTES);
        if blocks > ENTRIES as u64 {
            return Err(TableError::KernelWindowTooLarge);
        }
        for table in self.identity.iter_mut().chain(self.kernel.iter_mut()) {
            table.0 = [0; ENTRIES];
        }
        let identity_tables = [1, 2].map(|level| Self::table_address(address, false, level));
        self.identity[0].0[index(first, 0)] = identity_tables[0] | TABLE;
        self.identity[1].0[index(first, 1)] = identity_tables[1] | TABLE;
        let mut block = first;
        while block <= last {
            self.identity[2].0[index(block, 2)] = block | KERNEL_BLOCK;
            block += LARGE_PAGE_BYTES;
        }
        let kernel_tables = [1, 2].map(|level| Self::table_address(address, true, level));
        self.kernel[0].0[index(KERNEL_BASE, 0)] = kernel_tables[0] | TABLE;
        self.kernel[1].0[index(KERNEL_BASE, 1)] = kernel_tables[1] | TABLE;
        for offset in (0..blocks).map(|block| block * LARGE_PAGE_BYTES) {
            self.kernel[2].0[index(KERNEL_BASE + offset, 2)] =
                (kernel.start + offset) | KERNEL_BLOCK;
        }
        Ok(Roots {
            ttbr0: Self::table_address(address, false, 0),
            ttbr1: Self::table_address(address, true, 0),
        })
    }
}

impl Default for Tables {
    fn default() -> Tables {
        Tables::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the tests pretend the tables lie.
    const AT: u64 = 0x4004_0000;
    const LOADER: Region = Region {
        start: 0x4000_0000,
        end: 0x4004_6000,
    };
    const KERNEL: Region = Region {
        start: 0x4020_0000,
        end: 0x4043_1000,
    };
    const ADDRESS_MASK: u64 = ((1 << 48) - 1) & !(PAGE_BYTES - 1);

    /// What a walk found: the output address and the final descriptor.
    #[derive(Debug, PartialEq, Eq)]
    struct Translation {
        output: u64,
        descriptor: u64,
    }

    /// Walk `va` as the MMU would with TCR's 48-bit halves and 4 KiB granule, reading tables
    /// by physical address from `tables` (which lie at `AT`).
    fn walk(tables: &Tables, roots: Roots, va: u64) -> Option<Translation> {
        let root = match va >> 48 {
            0 => roots.ttbr0,
            0xffff => roots.ttbr1,
            _ => return None,
        };
        let all: Vec<&Table> = tables.identity.iter().chain(tables.kernel.iter()).collect();
        let table_at = |address: u64| {
            let offset = address.checked_sub(AT)?;
            (offset % PAGE_BYTES == 0)
                .then(|| all.get((offset / PAGE_BYTES) as usize).copied())
                .flatten()
        };
        let mut table = table_at(root)?;
        for level in 0..LEVELS {
            let descriptor = table.0[index(va, level)];
            let span_bits = 39 - 9 * level as u64;
            match descriptor & 0b11 {
                0b11 if level < 2 => table = table_at(descriptor & ADDRESS_MASK)?,
                0b01 if level > 0 => {
                    let base = descriptor & ADDRESS_MASK & !((1 << span_bits) - 1);
                    return Some(Translation {
                        output: base | (va & ((1 << span_bits) - 1)),
                        descriptor,
                    });
                }
                _ => return None,
            }
        }
        None
    }

    fn filled() -> (Box<Tables>, Roots) {
        let mut tables = Box::new(Tables::new());
        let roots = tables.fill(AT, LOADER, KERNEL).expect("fits");
        (tables, roots)
    }

    #[test]
    fn the_kernel_window_maps_kernel_base_to_phys_base_over_the_whole_kernel() {
        let (tables, roots) = filled();
        for offset in [0, 0x1234, KERNEL.end - KERNEL.start - 1] {
            let translation = walk(&tables, roots, KERNEL_BASE + offset).expect("mapped");
            assert_eq!(translation.output, KERNEL.start + offset);
        }
        let window_end = KERNEL_BASE + 2 * LARGE_PAGE_BYTES;
        assert_eq!(
            walk(&tables, roots, window_end - 1).map(|t| t.output),
            Some(KERNEL.start + 2 * LARGE_PAGE_BYTES - 1)
        );
        assert_eq!(walk(&tables, roots, window_end), None);
        assert_eq!(walk(&tables, roots, KERNEL_BASE - 1), None);
    }

    #[test]
    fn the_loader_is_mapped_to_itself_and_nothing_else_is_in_the_lower_half() {
        let (tables, roots) = filled();
        for address in [LOADER.start, LOADER.end - 1, AT] {
            assert_eq!(
                walk(&tables, roots, address).map(|t| t.output),
                Some(address)
            );
        }
        assert_eq!(
            walk(&tables, roots, 0x0900_0000),
            None,
            "no device is mapped"
        );
        assert_eq!(
            walk(&tables, roots, 0x40_0000),
            None,
            "the root task's addresses are free"
        );
        assert_eq!(
            walk(&tables, roots, 0x8000_0000_0000),
            None,
            "not a canonical address"
        );
    }

    #[test]
    fn every_mapping_is_normal_memory_privileged_only_and_never_executable_at_el0() {
        let (tables, roots) = filled();
        for address in [LOADER.start, KERNEL_BASE] {
            let descriptor = walk(&tables, roots, address).expect("mapped").descriptor;
            assert_eq!((descriptor >> 2) & 0b111, NORMAL_INDEX);
            assert_eq!((descriptor >> 6) & 0b11, 0, "AP: EL1 read/write only");
            assert_ne!(descriptor & ACCESS_FLAG, 0);
            assert_ne!(descriptor & USER_EXECUTE_NEVER, 0);
            assert_eq!(descriptor & (1 << 53), 0, "EL1 may execute");
            assert_eq!(descriptor & (1 << 11), 0, "global");
        }
    }

    #[test]
    fn a_loader_straddling_two_blocks_gets_both() {
        let mut tables = Box::new(Tables::new());
        let loader = Region {
            start: 0x401f_0000,
            end: 0x4021_0000,
        };
        let roots = tables.fill(AT, loader, KERNEL).expect("fits");
        for address in [loader.start, 0x4020_0000, loader.end - 1] {
            assert_eq!(
                walk(&tables, roots, address).map(|t| t.output),
                Some(address)
            );
        }
    }

    #[test]
    fn misaligned_tables_unmappable_loaders_and_oversized_windows_are_refused() {
        let mut tables = Box::new(Tables::new());
        assert_eq!(
            tables.fill(AT + 8, LOADER, KERNEL).unwrap_err(),
            TableError::Misaligned
        );
        let straddling_gib = Region {
            start: 0x3fff_0000,
            end: 0x4001_0000,
        };
        assert_eq!(
            tables.fill(AT, straddling_gib, KERNEL).unwrap_err(),
            TableError::LoaderUnmappable
        );
        let huge = Region {
            start: KERNEL.start,
            end: KERNEL.start + LEVEL_1_SPAN + 1,
        };
        assert_eq!(
            tables.fill(AT, LOADER, huge).unwrap_err(),
            TableError::KernelWindowTooLarge
        );
        let whole_gib = Region {
            start: KERNEL.start,
            end: KERNEL.start + LEVEL_1_SPAN,
        };
        let roots = tables
            .fill(AT, LOADER, whole_gib)
            .expect("one level-2 table");
        assert_eq!(
            walk(&tables, roots, KERNEL_BASE + LEVEL_1_SPAN - 1).map(|t| t.output),
            Some(whole_gib.end - 1)
        );
    }
}
