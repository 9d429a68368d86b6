//! `struct hvm_start_info` (xen/include/public/arch-x86/hvm/start_info.h): what Xen tells a PVH
//! domain at entry. The image copies out what it needs (the command line and the memory map) and
//! checks the magic and the version before trusting anything.

use ballast_system::CommandLine;
use heapless::{String, Vec};
use zerocopy::{FromBytes, Immutable, KnownLayout};

/// `XEN_HVM_START_MAGIC_VALUE`.
pub const START_MAGIC: u32 = 0x336e_c578;
/// The first version with a memory map.
const MEMMAP_VERSION: u32 = 1;
/// `XEN_HVM_MEMMAP_TYPE_RAM`.
pub const MEMMAP_TYPE_RAM: u32 = 1;
/// The most memory-map entries the image keeps.
pub const MAX_REGIONS: usize = 64;
/// The longest command line the image keeps.
pub const MAX_CMDLINE: usize = 256;

/// `struct hvm_start_info`, version 1 (56 bytes).
#[derive(Clone, Copy, Debug, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HvmStartInfo {
    /// `XEN_HVM_START_MAGIC_VALUE`.
    pub magic: u32,
    /// Version of this structure.
    pub version: u32,
    /// `SIF_*` flags.
    pub flags: u32,
    /// Number of modules passed.
    pub nr_modules: u32,
    /// Physical address of the module list.
    pub modlist_paddr: u64,
    /// Physical address of the NUL-terminated command line.
    pub cmdline_paddr: u64,
    /// Physical address of the ACPI RSDP.
    pub rsdp_paddr: u64,
    /// Physical address of the memory map (version >= 1).
    pub memmap_paddr: u64,
    /// Entries in the memory map (version >= 1).
    pub memmap_entries: u32,
    /// Must be zero.
    pub reserved: u32,
}
const _: () = assert!(core::mem::size_of::<HvmStartInfo>() == 56);

/// `struct hvm_memmap_table_entry` (24 bytes): an e820-style region.
#[derive(Clone, Copy, Debug, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HvmMemmapEntry {
    /// Base physical address.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// `XEN_HVM_MEMMAP_TYPE_*`.
    pub kind: u32,
    /// Must be zero.
    pub reserved: u32,
}
const _: () = assert!(core::mem::size_of::<HvmMemmapEntry>() == 24);

/// A region of the guest-physical address space from the memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub struct Region {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// `XEN_HVM_MEMMAP_TYPE_*`.
    pub kind: u32,
}

impl Region {
    /// Whether the region is RAM.
    pub fn is_ram(&self) -> bool {
        self.kind == MEMMAP_TYPE_RAM
    }
}

/// What went wrong with the start info.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum StartInfoError {
    /// Something Xen placed lies outside the identity-mapped 8 GiB.
    NotMapped = 1,
    /// The magic value is not `XEN_HVM_START_MAGIC_VALUE`.
    BadMagic,
    /// More regions than the image keeps.
    TooManyRegions,
    /// A region wraps around the address space.
    RegionOverflows,
}

/// The start info, checked and copied out of Xen's pages.
#[derive(Debug)]
pub struct StartInfo {
    /// The raw structure as Xen wrote it.
    pub raw: HvmStartInfo,
    /// The guest command line (lossy: non-UTF-8 bytes end it).
    pub cmdline: String<MAX_CMDLINE>,
    /// The memory map: from the start info (version 1), or empty (version 0, which is what Xen
    /// 4.17 gives a PVH dom0: see [`StartInfo::has_memory_map`]).
    pub regions: Vec<Region, MAX_REGIONS>,
    /// Highest end address of anything Xen placed for the guest at boot (start info, command
    /// line, memory map, modules list): frames below it are not the scenario's to take.
    pub boot_data_end: u64,
}

impl StartInfo {
    /// Check `raw` and copy out the command line and the memory map, which `read` fetches from
    /// guest-physical memory.
    pub fn parse(
        raw: HvmStartInfo,
        start_info_paddr: u64,
        cmdline: &[u8],
        memmap: &[HvmMemmapEntry],
    ) -> Result<StartInfo, StartInfoError> {
        if raw.magic != START_MAGIC {
            return Err(StartInfoError::BadMagic);
        }
        let mut regions = Vec::new();
        for entry in memmap {
            push_region(&mut regions, entry.addr, entry.size, entry.kind)?;
        }
        let text = cmdline.split(|&byte| byte == 0).next().unwrap_or(&[]);
        let text = core::str::from_utf8(text).unwrap_or_else(|error| {
            core::str::from_utf8(&text[..error.valid_up_to()]).unwrap_or_default()
        });
        let mut kept = String::new();
        for character in text.chars() {
            if kept.push(character).is_err() {
                break;
            }
        }
        let memmap_bytes = core::mem::size_of_val(memmap) as u64;
        let boot_data_end = [
            start_info_paddr + core::mem::size_of::<HvmStartInfo>() as u64,
            raw.cmdline_paddr + cmdline.len() as u64,
            raw.memmap_paddr + memmap_bytes,
            raw.modlist_paddr,
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        Ok(StartInfo {
            raw,
            cmdline: kept,
            regions,
            boot_data_end,
        })
    }

    /// Whether Xen put a memory map in the start info. Without one, the domain asks Xen for it
    /// (`XENMEM_memory_map`).
    pub fn has_memory_map(&self) -> bool {
        self.raw.version >= MEMMAP_VERSION && self.raw.memmap_paddr != 0
    }

    /// The command line, for its `key=value` words.
    pub fn command_line(&self) -> CommandLine<'_> {
        CommandLine::new(&self.cmdline)
    }
}

/// Append the region of `size` bytes at `addr` to `regions`.
pub fn push_region(
    regions: &mut Vec<Region, MAX_REGIONS>,
    addr: u64,
    size: u64,
    kind: u32,
) -> Result<(), StartInfoError> {
    let end = addr
        .checked_add(size)
        .ok_or(StartInfoError::RegionOverflows)?;
    regions
        .push(Region {
            start: addr,
            end,
            kind,
        })
        .map_err(|_| StartInfoError::TooManyRegions)
}
