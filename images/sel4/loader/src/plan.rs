//! Where the kernel and the root task go in physical memory, and the four values the kernel
//! takes at entry. The kernel's segments go to their physical addresses (its linker script sets
//! them: the first is `physBase`, linked at `kernelBase`); the root task's whole virtual span,
//! page-aligned, goes to the first page past the kernel. Everything is checked before a byte is
//! written: inside RAM, clear of the loader and of the device tree, and as 5.0's `init_kernel`
//! needs it (see the crate's documentation).

use crate::elf::{Elf, Segment};

/// Where seL4 5.0 on aarch64 links its kernel window: the last 512 GiB of the 48-bit upper half.
pub const KERNEL_BASE: u64 = 0xffff_ff80_0000_0000;
/// The small page.
pub const PAGE_BYTES: u64 = 1 << 12;
/// The large page (a level-2 block with the 4 KiB granule): `physBase` is aligned to it.
pub const LARGE_PAGE_BYTES: u64 = 1 << 21;
/// Pages the kernel places right after the root task's image, in its virtual address space: the
/// IPC buffer, then the boot-information frame.
const PAGES_AFTER_USER_IMAGE: u64 = 2;

/// A span of addresses, [start, end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// The first address.
    pub start: u64,
    /// The first address past it.
    pub end: u64,
}

impl Region {
    /// Whether `other` lies wholly inside this region.
    pub fn contains(&self, other: &Region) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// Whether the two regions share an address.
    pub fn overlaps(&self, other: &Region) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Its length in bytes.
    pub fn bytes(&self) -> u64 {
        self.end - self.start
    }
}

/// Why the kernel and the root task cannot be placed. C-like, nonzero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum PlanError {
    /// The kernel's lowest segment is not linked at [`KERNEL_BASE`].
    KernelNotAtKernelBase = 1,
    /// The kernel's physical base is not aligned to a large page.
    KernelNotLargePageAligned = 2,
    /// A kernel segment's virtual and physical addresses differ by another offset than the
    /// first one's: the kernel window is one linear map.
    KernelNotLinear = 3,
    /// The kernel's entry point lies outside its segments.
    KernelEntryOutside = 4,
    /// The root task's entry point lies outside its segments.
    UserEntryOutside = 5,
    /// The root task's image, with the IPC buffer and boot-information pages after it, reaches
    /// [`KERNEL_BASE`] (5.0's `try_init_kernel` refuses it).
    UserImageTooHigh = 6,
    /// A placement wraps around the address space.
    AddressOverflow = 7,
    /// The kernel or the root task would lie outside RAM (one bank holds each).
    OutsideRam = 8,
    /// The kernel or the root task would overwrite a reserved region: the loader itself (code,
    /// the ELF files it carries, stack, page tables) or the device tree.
    OverlapsReserved = 9,
}

/// The physical memory the loader may place into.
#[derive(Clone, Copy, Debug)]
pub struct Memory<'a> {
    /// RAM banks.
    pub ram: &'a [Region],
    /// Regions nothing may be written to.
    pub reserved: &'a [Region],
}

impl Memory<'_> {
    fn check(&self, region: &Region) -> Result<(), PlanError> {
        if !self.ram.iter().any(|bank| bank.contains(region)) {
            return Err(PlanError::OutsideRam);
        }
        if self.reserved.iter().any(|kept| kept.overlaps(region)) {
            return Err(PlanError::OverlapsReserved);
        }
        Ok(())
    }
}

/// One segment's bytes and where they go: `bytes` at `destination`, then `zero_bytes` zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Load<'a> {
    /// The physical address of the first byte.
    pub destination: u64,
    /// The segment's file bytes.
    pub bytes: &'a [u8],
    /// Zero bytes following them (the segment's .bss).
    pub zero_bytes: u64,
}

/// The checked placement of the kernel and the root task.
#[derive(Clone, Copy, Debug)]
pub struct Plan<'a> {
    kernel_elf: Elf<'a>,
    user_elf: Elf<'a>,
    /// The kernel's physical span: `physBase` to the end of its last segment.
    pub kernel: Region,
    /// The root task's physical span (page-aligned).
    pub user: Region,
    /// The root task's virtual span (page-aligned), the same size as [`Plan::user`].
    pub user_virtual: Region,
}

/// The kernel's entry arguments, x0..x3 of 5.0's `_start` (`init_kernel`'s parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryArguments {
    /// x0, `ui_p_reg_start`: the root task image's first physical byte.
    pub user_start: u64,
    /// x1, `ui_p_reg_end`: the first physical byte past it.
    pub user_end: u64,
    /// x2, `pv_offset`: its physical minus its virtual addresses (two's complement).
    pub pv_offset: u64,
    /// x3, `v_entry`: the root task's entry point (virtual).
    pub user_entry: u64,
}

fn align_down(value: u64, alignment: u64) -> u64 {
    value & !(alignment - 1)
}

fn align_up(value: u64, alignment: u64) -> Option<u64> {
    Some(align_down(value.checked_add(alignment - 1)?, alignment))
}

/// The lowest and highest addresses `span` gives over the segments (which `Elf::parse` has
/// checked not to wrap).
fn extent(elf: &Elf<'_>, span: impl Fn(&Segment) -> Region) -> Region {
    elf.segments().map(|segment| span(&segment)).fold(
        Region {
            start: u64::MAX,
            end: 0,
        },
        |all, one| Region {
            start: all.start.min(one.start),
            end: all.end.max(one.end),
        },
    )
}

fn virtual_span(segment: &Segment) -> Region {
    Region {
        start: segment.virtual_address,
        end: segment.virtual_end(),
    }
}

fn entry_inside(elf: &Elf<'_>) -> bool {
    elf.segments()
        .any(|segment| (segment.virtual_address..segment.virtual_end()).contains(&elf.entry()))
}

impl<'a> Plan<'a> {
    /// Place `kernel` and `user` (the root task) in `memory`.
    pub fn new(kernel: Elf<'a>, user: Elf<'a>, memory: &Memory<'_>) -> Result<Plan<'a>, PlanError> {
        let kernel_span = extent(&kernel, |segment| Region {
            start: segment.physical_address,
            end: segment.physical_end(),
        });
        if extent(&kernel, virtual_span).start != KERNEL_BASE {
            return Err(PlanError::KernelNotAtKernelBase);
        }
        if !kernel_span.start.is_multiple_of(LARGE_PAGE_BYTES) {
            return Err(PlanError::KernelNotLargePageAligned);
        }
        let window_offset = KERNEL_BASE.wrapping_sub(kernel_span.start);
        if kernel.segments().any(|segment| {
            segment
                .virtual_address
                .wrapping_sub(segment.physical_address)
                != window_offset
        }) {
            return Err(PlanError::KernelNotLinear);
        }
        if !entry_inside(&kernel) {
            return Err(PlanError::KernelEntryOutside);
        }
        if !entry_inside(&user) {
            return Err(PlanError::UserEntryOutside);
        }
        let user_extent = extent(&user, virtual_span);
        let user_virtual = Region {
            start: align_down(user_extent.start, PAGE_BYTES),
            end: align_up(user_extent.end, PAGE_BYTES).ok_or(PlanError::UserImageTooHigh)?,
        };
        let after_user = user_virtual
            .end
            .checked_add(PAGES_AFTER_USER_IMAGE * PAGE_BYTES);
        if after_user.is_none_or(|end| end > KERNEL_BASE) {
            return Err(PlanError::UserImageTooHigh);
        }
        let user_start = align_up(kernel_span.end, PAGE_BYTES).ok_or(PlanError::AddressOverflow)?;
        let user_physical = Region {
            start: user_start,
            end: user_start
                .checked_add(user_virtual.bytes())
                .ok_or(PlanError::AddressOverflow)?,
        };
        memory.check(&kernel_span)?;
        memory.check(&user_physical)?;
        Ok(Plan {
            kernel_elf: kernel,
            user_elf: user,
            kernel: kernel_span,
            user: user_physical,
            user_virtual,
        })
    }

    /// The kernel's physical base (`physBase`), which [`KERNEL_BASE`] maps to.
    pub fn physical_base(&self) -> u64 {
        self.kernel.start
    }

    /// The kernel's entry point (virtual, in the kernel window).
    pub fn kernel_entry(&self) -> u64 {
        self.kernel_elf.entry()
    }

    /// The kernel's segments, each to its physical address.
    pub fn kernel_loads(&self) -> impl Iterator<Item = Load<'a>> {
        let elf = self.kernel_elf;
        elf.segments().map(move |segment| Load {
            destination: segment.physical_address,
            bytes: elf.contents(&segment),
            zero_bytes: segment.memory_bytes - segment.file_bytes,
        })
    }

    /// The root task's segments, each to its place in [`Plan::user`] (whose bytes between
    /// segments the caller zeroes).
    pub fn user_loads(&self) -> impl Iterator<Item = Load<'a>> + '_ {
        let elf = self.user_elf;
        elf.segments().map(move |segment| Load {
            destination: self.user_destination(&segment),
            bytes: elf.contents(&segment),
            zero_bytes: segment.memory_bytes - segment.file_bytes,
        })
    }

    /// Where the root task's `segment` starts in [`Plan::user`].
    pub(crate) fn user_destination(&self, segment: &Segment) -> u64 {
        self.user.start + (segment.virtual_address - self.user_virtual.start)
    }

    /// What the kernel takes in x0..x3.
    pub fn entry_arguments(&self) -> EntryArguments {
        EntryArguments {
            user_start: self.user.start,
            user_end: self.user.end,
            pv_offset: self.user.start.wrapping_sub(self.user_virtual.start),
            user_entry: self.user_elf.entry(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::tests::{build, TestSegment};

    const RAM: Region = Region {
        start: 0x4000_0000,
        end: 0x5000_0000,
    };
    const LOADER: Region = Region {
        start: 0x4000_0000,
        end: 0x4006_0000,
    };
    const TREE: Region = Region {
        start: 0x4800_0000,
        end: 0x4800_1000,
    };
    const PHYS_BASE: u64 = 0x4020_0000;

    fn kernel_at(physical: u64, entry_offset: u64) -> Vec<u8> {
        build(
            KERNEL_BASE + entry_offset,
            &[TestSegment {
                virtual_address: KERNEL_BASE,
                physical_address: physical,
                contents: (0..=255).collect(),
                memory_bytes: 0x23_1000,
            }],
        )
    }

    fn root_task() -> Vec<u8> {
        build(
            0x40_0000,
            &[
                TestSegment {
                    virtual_address: 0x40_0000,
                    physical_address: 0x40_0000,
                    contents: vec![1; 0x559],
                    memory_bytes: 0x559,
                },
                TestSegment {
                    virtual_address: 0x41_0010,
                    physical_address: 0x41_0010,
                    contents: vec![2; 8],
                    memory_bytes: 0x4550,
                },
            ],
        )
    }

    fn plan<'a>(kernel: &'a [u8], user: &'a [u8], ram: &[Region]) -> Result<Plan<'a>, PlanError> {
        let memory = Memory {
            ram,
            reserved: &[LOADER, TREE],
        };
        Plan::new(
            Elf::parse(kernel).expect("test kernel"),
            Elf::parse(user).expect("test root task"),
            &memory,
        )
    }

    #[test]
    fn the_root_task_follows_the_kernel_page_aligned_with_its_virtual_layout() {
        let (kernel, user) = (kernel_at(PHYS_BASE, 0x40), root_task());
        let plan = plan(&kernel, &user, &[RAM]).expect("fits");
        assert_eq!(plan.physical_base(), PHYS_BASE);
        assert_eq!(plan.kernel_entry(), KERNEL_BASE + 0x40);
        assert_eq!(plan.kernel.end, PHYS_BASE + 0x23_1000);
        assert_eq!(plan.user.start, PHYS_BASE + 0x23_1000);
        assert_eq!(plan.user_virtual.start, 0x40_0000);
        assert_eq!(plan.user_virtual.end, 0x41_5000);
        assert_eq!(plan.user.bytes(), plan.user_virtual.bytes());
        let arguments = plan.entry_arguments();
        assert_eq!(arguments.user_start, plan.user.start);
        assert_eq!(arguments.user_end, plan.user.end);
        assert_eq!(
            arguments.user_start.wrapping_sub(arguments.pv_offset),
            0x40_0000
        );
        assert_eq!(arguments.user_entry, 0x40_0000);
        let loads: Vec<Load<'_>> = plan.user_loads().collect();
        assert_eq!(loads[0].destination, plan.user.start);
        assert_eq!(loads[1].destination, plan.user.start + 0x1_0010);
        assert_eq!(loads[1].bytes, &[2; 8][..]);
        assert_eq!(loads[1].zero_bytes, 0x4550 - 8);
        assert!(loads[1].destination + 8 + loads[1].zero_bytes <= plan.user.end);
        let kernel_loads: Vec<Load<'_>> = plan.kernel_loads().collect();
        assert_eq!(kernel_loads.len(), 1);
        assert_eq!(kernel_loads[0].destination, PHYS_BASE);
        assert_eq!(kernel_loads[0].bytes.len(), 256);
        assert_eq!(kernel_loads[0].zero_bytes, 0x23_1000 - 256);
    }

    #[test]
    fn a_kernel_off_kernel_base_unaligned_or_nonlinear_is_refused() {
        let user = root_task();
        let unaligned = kernel_at(PHYS_BASE + PAGE_BYTES, 0);
        assert_eq!(
            plan(&unaligned, &user, &[RAM]).unwrap_err(),
            PlanError::KernelNotLargePageAligned
        );
        let elsewhere = build(
            0x8000_0000,
            &[TestSegment {
                virtual_address: 0x8000_0000,
                physical_address: PHYS_BASE,
                contents: vec![0; 16],
                memory_bytes: 16,
            }],
        );
        assert_eq!(
            plan(&elsewhere, &user, &[RAM]).unwrap_err(),
            PlanError::KernelNotAtKernelBase
        );
        let nonlinear = build(
            KERNEL_BASE,
            &[
                TestSegment {
                    virtual_address: KERNEL_BASE,
                    physical_address: PHYS_BASE,
                    contents: vec![0; 16],
                    memory_bytes: 16,
                },
                TestSegment {
                    virtual_address: KERNEL_BASE + 0x1_0000,
                    physical_address: PHYS_BASE + 0x2_0000,
                    contents: vec![0; 16],
                    memory_bytes: 16,
                },
            ],
        );
        assert_eq!(
            plan(&nonlinear, &user, &[RAM]).unwrap_err(),
            PlanError::KernelNotLinear
        );
    }

    #[test]
    fn entry_points_outside_their_segments_are_refused() {
        let user = root_task();
        let astray = kernel_at(PHYS_BASE, 0x100_0000);
        assert_eq!(
            plan(&astray, &user, &[RAM]).unwrap_err(),
            PlanError::KernelEntryOutside
        );
        let kernel = kernel_at(PHYS_BASE, 0);
        let user_astray = build(
            0x50_0000,
            &[TestSegment {
                virtual_address: 0x40_0000,
                physical_address: 0x40_0000,
                contents: vec![0; 16],
                memory_bytes: 16,
            }],
        );
        assert_eq!(
            plan(&kernel, &user_astray, &[RAM]).unwrap_err(),
            PlanError::UserEntryOutside
        );
    }

    #[test]
    fn a_root_task_reaching_into_the_kernel_window_is_refused() {
        let kernel = kernel_at(PHYS_BASE, 0);
        let high = KERNEL_BASE - 2 * PAGE_BYTES;
        let user = build(
            high,
            &[TestSegment {
                virtual_address: high,
                physical_address: high,
                contents: vec![0; 16],
                memory_bytes: 16,
            }],
        );
        assert_eq!(
            plan(&kernel, &user, &[RAM]).unwrap_err(),
            PlanError::UserImageTooHigh
        );
    }

    #[test]
    fn placements_outside_ram_or_over_the_loader_or_the_tree_are_refused() {
        let user = root_task();
        let over_loader = kernel_at(0x4000_0000, 0);
        assert_eq!(
            plan(&over_loader, &user, &[RAM]).unwrap_err(),
            PlanError::OverlapsReserved
        );
        let over_tree = kernel_at(0x47e0_0000, 0);
        assert_eq!(
            plan(&over_tree, &user, &[RAM]).unwrap_err(),
            PlanError::OverlapsReserved
        );
        let past_ram = kernel_at(0x4fe0_0000, 0);
        assert_eq!(
            plan(&past_ram, &user, &[RAM]).unwrap_err(),
            PlanError::OutsideRam
        );
        let kernel = kernel_at(PHYS_BASE, 0);
        let small_bank = Region {
            start: 0x4000_0000,
            end: PHYS_BASE + 0x23_2000,
        };
        assert_eq!(
            plan(&kernel, &user, &[small_bank]).unwrap_err(),
            PlanError::OutsideRam
        );
        let second_bank = Region {
            start: 0x6000_0000,
            end: 0x7000_0000,
        };
        assert_eq!(
            plan(&kernel, &user, &[small_bank, second_bank]).unwrap_err(),
            PlanError::OutsideRam,
            "the root task may not straddle two banks"
        );
        assert!(plan(&kernel, &user, &[second_bank, RAM]).is_ok());
    }
}
