//! `XENMEM_memory_map`: the domain's e820 memory map, asked of Xen. Xen 4.17 gives a PVH dom0 a
//! version-0 start info without a memory map, so the image asks for it this way.
//! Measured: `docs/XEN-BEHAVIOUR.md#pvh-start-info-v0`.

use ballast_xen::abi::HYPERVISOR_MEMORY_OP;
use ballast_xen::backend::x86_64::X86Hypercall;
use ballast_xen::backend::RawHypercall;
use heapless::Vec;
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::start_info::{push_region, Region, StartInfoError, MAX_REGIONS};

/// `XENMEM_memory_map` (xen/include/public/memory.h).
const XENMEM_MEMORY_MAP: u64 = 9;

/// `struct e820entry`, packed (20 bytes), as Xen writes it.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct E820Entry {
    addr: U64,
    size: U64,
    kind: U32,
}
const _: () = assert!(core::mem::size_of::<E820Entry>() == 20);

/// `struct xen_memory_map` for a 64-bit guest.
#[derive(Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct XenMemoryMap {
    /// In: capacity of the buffer in entries; out: entries written.
    nr_entries: u32,
    padding: u32,
    /// Address of the entry buffer.
    buffer: u64,
}

/// Why the memory map could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum MemoryMapError {
    /// Xen returned this negated errno.
    Refused = 1,
    /// Xen reported more entries than the buffer holds.
    Overlong,
    /// An entry is unusable.
    BadEntry,
}

/// Ask Xen for the memory map.
pub fn from_xen(
    hypercall: &X86Hypercall,
) -> Result<Vec<Region, MAX_REGIONS>, (MemoryMapError, i64)> {
    let mut entries = [E820Entry::default(); MAX_REGIONS];
    let mut map = XenMemoryMap {
        nr_entries: MAX_REGIONS as u32,
        padding: 0,
        buffer: entries.as_mut_ptr() as u64,
    };
    let argument = &mut map as *mut XenMemoryMap as u64;
    // SAFETY: XENMEM_memory_map reads `map` and writes at most `nr_entries` packed entries into
    // `entries`, both live on this stack frame and identity-mapped.
    let raw = unsafe {
        hypercall.hypercall5(HYPERVISOR_MEMORY_OP, [XENMEM_MEMORY_MAP, argument, 0, 0, 0])
    };
    if raw < 0 {
        return Err((MemoryMapError::Refused, raw));
    }
    let count = map.nr_entries as usize;
    let written = entries
        .get(..count)
        .ok_or((MemoryMapError::Overlong, count as i64))?;
    let mut regions = Vec::new();
    for entry in written {
        push_region(
            &mut regions,
            entry.addr.get(),
            entry.size.get(),
            entry.kind.get(),
        )
        .map_err(|_: StartInfoError| (MemoryMapError::BadEntry, entry.addr.get() as i64))?;
    }
    Ok(regions)
}
