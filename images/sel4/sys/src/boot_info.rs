//! `seL4_BootInfo` of 5.0 (`libsel4/include/sel4/bootinfo_types.h`): the page the kernel maps
//! into the root task and whose address it passes in x0. The C struct is packed, so after the
//! one-byte CNode size every later field is unaligned: the untyped list starts at byte 169. The
//! list holds `CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS` descriptors, of which `untyped` says how many
//! are used.

use crate::{config, CPtr, Word};

/// A range of root CNode slots: `start` up to but not including `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, packed)]
pub struct SlotRegion {
    pub start: Word,
    pub end: Word,
}

impl SlotRegion {
    /// How many slots.
    pub const fn len(self) -> Word {
        self.end.saturating_sub(self.start)
    }

    pub const fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Slot `index` of the region, if within it.
    pub const fn slot(self, index: Word) -> Option<CPtr> {
        if index < self.len() {
            Some(CPtr(self.start + index))
        } else {
            None
        }
    }
}

/// One untyped capability the kernel gave the root task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, packed)]
pub struct UntypedDesc {
    /// Physical address of the memory.
    pub paddr: Word,
    pub padding1: u8,
    pub padding2: u8,
    /// The memory is 2^size_bits bytes.
    pub size_bits: u8,
    /// Non-zero for device memory (not RAM: only frames may be made of it).
    pub is_device: u8,
}

/// The boot information page.
#[derive(Debug)]
#[repr(C, packed)]
pub struct BootInfo {
    /// Bytes of extra boot information 4 KiB after this page.
    pub extra_len: Word,
    pub node_id: Word,
    pub num_nodes: Word,
    pub num_io_pt_levels: Word,
    /// The root task's IPC buffer (virtual address).
    pub ipc_buffer: Word,
    /// Empty root CNode slots.
    pub empty: SlotRegion,
    pub shared_frames: SlotRegion,
    /// Frame capabilities of the root task's own image.
    pub user_image_frames: SlotRegion,
    /// Paging-structure capabilities of the root task's own image.
    pub user_image_paging: SlotRegion,
    pub io_space_caps: SlotRegion,
    pub extra_bi_pages: SlotRegion,
    /// The root CNode has 2^init_thread_cnode_size_bits slots.
    pub init_thread_cnode_size_bits: u8,
    pub init_thread_domain: Word,
    pub arch_info: Word,
    /// Untyped capabilities, described in order by `untyped_list`.
    pub untyped: SlotRegion,
    pub untyped_list: [UntypedDesc; config::MAX_NUM_BOOTINFO_UNTYPED_CAPS],
}

const _: () = assert!(core::mem::offset_of!(BootInfo, init_thread_domain) == 137);
const _: () = assert!(core::mem::offset_of!(BootInfo, untyped_list) == 169);
const _: () = assert!(core::mem::size_of::<UntypedDesc>() == 12);
const _: () = assert!(core::mem::size_of::<BootInfo>() <= 4096);

impl BootInfo {
    /// The boot information page at `address` (x0 at the root task's entry).
    ///
    /// # Safety
    /// `address` is the boot information page the kernel mapped for the root task, mapped for
    /// the rest of the program and not written by it.
    pub unsafe fn from_address(address: usize) -> &'static Self {
        // SAFETY: the caller's promise; the struct is packed (alignment 1), so any address is
        // aligned for it, and the page holds all of it (size checked above).
        unsafe { &*core::ptr::with_exposed_provenance::<Self>(address) }
    }

    /// The descriptors of the untyped capabilities, slot `untyped.start + i` described by entry
    /// i (at most the list's capacity, whatever `untyped` claims).
    pub fn untyped_descriptors(&self) -> &[UntypedDesc] {
        let untyped = self.untyped;
        let count = usize::try_from(untyped.len()).unwrap_or(usize::MAX);
        let list = &self.untyped_list;
        &list[..count.min(list.len())]
    }

    /// The untyped capabilities with their descriptors.
    pub fn untyped_caps(&self) -> impl Iterator<Item = (CPtr, UntypedDesc)> + '_ {
        let start = self.untyped.start;
        self.untyped_descriptors()
            .iter()
            .enumerate()
            .map(move |(index, descriptor)| (CPtr(start + index as Word), *descriptor))
    }
}
