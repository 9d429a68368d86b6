//! Guest-physical memory: reading what Xen left at boot (start info, command line, memory map),
//! finding the free RAM the memory server manages, and the app's access to those frames (through
//! `ballast_image_rt::mapped_ram`). All of it relies on the identity mapping of the first 8 GiB
//! (`page_tables.rs`).

use zerocopy::FromBytes;

use crate::page_tables::IDENTITY_MAPPED_BYTES;
use crate::start_info::{
    HvmMemmapEntry, HvmStartInfo, StartInfo, StartInfoError, MAX_CMDLINE, MAX_REGIONS,
};
use ballast_app_memory_server::system::{self, SERVER_RUNS};
use ballast_frame_access::FrameRun;
use ballast_image_rt::mapped_ram::{IdentityRam, VolatileRead};
use ballast_xen::Gfn;

/// Bytes of a page.
pub const PAGE_BYTES: u64 = 4096;
/// Bytes of a superpage (2 MiB).
pub const SUPERPAGE_BYTES: u64 = 2 << 20;

extern "C" {
    static __image_start: u8;
    static __image_end: u8;
}

/// The bytes the image occupies (code, data, page tables, stack, hypercall page).
pub fn image_bounds() -> (u64, u64) {
    (
        core::ptr::addr_of!(__image_start) as u64,
        core::ptr::addr_of!(__image_end) as u64,
    )
}

fn mapped(address: u64, bytes: u64) -> Result<(), StartInfoError> {
    match address.checked_add(bytes) {
        Some(end) if address != 0 && end <= IDENTITY_MAPPED_BYTES => Ok(()),
        _ => Err(StartInfoError::NotMapped),
    }
}

/// Read and check the start info Xen left at `paddr`.
pub fn read_start_info(paddr: u64) -> Result<StartInfo, StartInfoError> {
    let header_bytes = core::mem::size_of::<HvmStartInfo>();
    mapped(paddr, header_bytes as u64)?;
    // SAFETY: the range is identity-mapped (checked above) and Xen wrote the structure there;
    // nothing writes it while this shared view lives.
    let header = unsafe { core::slice::from_raw_parts(paddr as *const u8, header_bytes) };
    let raw = HvmStartInfo::read_from_bytes(header).map_err(|_| StartInfoError::NotMapped)?;
    let entries = if raw.version >= 1 {
        (raw.memmap_entries as usize).min(MAX_REGIONS + 1)
    } else {
        0
    };
    let memmap_bytes = entries * core::mem::size_of::<HvmMemmapEntry>();
    let mut memmap = [HvmMemmapEntry {
        addr: 0,
        size: 0,
        kind: 0,
        reserved: 0,
    }; MAX_REGIONS + 1];
    if raw.version >= 1 && raw.memmap_paddr != 0 {
        mapped(raw.memmap_paddr, memmap_bytes as u64)?;
        // SAFETY: as above, for the memory map Xen placed at `memmap_paddr`.
        let bytes =
            unsafe { core::slice::from_raw_parts(raw.memmap_paddr as *const u8, memmap_bytes) };
        for (slot, chunk) in memmap
            .iter_mut()
            .zip(bytes.chunks_exact(core::mem::size_of::<HvmMemmapEntry>()))
        {
            *slot =
                HvmMemmapEntry::read_from_bytes(chunk).map_err(|_| StartInfoError::NotMapped)?;
        }
    }
    let mut cmdline: &[u8] = &[];
    if raw.cmdline_paddr != 0 {
        mapped(raw.cmdline_paddr, MAX_CMDLINE as u64)?;
        // SAFETY: as above, for the command line; `StartInfo::parse` stops at its NUL.
        cmdline =
            unsafe { core::slice::from_raw_parts(raw.cmdline_paddr as *const u8, MAX_CMDLINE) };
    }
    StartInfo::parse(raw, paddr, cmdline, &memmap[..entries])
}

/// Why there is no free RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum LayoutError {
    /// No RAM above the image and Xen's boot data.
    NoFreeRam = 1,
}

/// `value` rounded up to a multiple of `align`.
pub fn align_up(value: u64, align: u64) -> u64 {
    value.div_ceil(align) * align
}

/// The free RAM: the largest 2 MiB-aligned run of RAM above everything the image and Xen's boot
/// data occupy.
pub fn free_ram(info: &StartInfo) -> Result<FrameRun, LayoutError> {
    let (_, image_end) = image_bounds();
    let taken_end = align_up(image_end.max(info.boot_data_end), SUPERPAGE_BYTES);
    let (start, end) = info
        .regions
        .iter()
        .filter(|region| region.is_ram())
        .map(|region| {
            let start = align_up(region.start.max(taken_end), SUPERPAGE_BYTES);
            let end = region.end.min(IDENTITY_MAPPED_BYTES) / SUPERPAGE_BYTES * SUPERPAGE_BYTES;
            (start, end.max(start))
        })
        .max_by_key(|(start, end)| end - start)
        .filter(|(start, end)| end > start)
        .ok_or(LayoutError::NoFreeRam)?;
    Ok(FrameRun::new(
        Gfn(start / PAGE_BYTES),
        (end - start) / PAGE_BYTES,
    ))
}

/// The app's RAM: every frame the memory server owns (`system::server_runs`: the free RAM the
/// image does not use and the manifest's growth range), reached through the identity mapping,
/// read plainly (PVH Xen emulates a ballooned or never-populated frame, which reads as all ones).
pub type AppRam = IdentityRam<VolatileRead, SERVER_RUNS>;

/// Access to the lending range `range`, where a backend maps grants into the frames it
/// borrowed; `None` if the identity map does not reach all of it.
///
/// # Safety
///
/// Nothing else in the image references `range` while the access lives.
#[cfg(not(feature = "hil-test"))]
pub unsafe fn lent_frames(range: FrameRun) -> Option<AppRam> {
    let end = range.end().checked_mul(PAGE_BYTES)?;
    if end > IDENTITY_MAPPED_BYTES || range.frames == 0 {
        return None;
    }
    // SAFETY: the range is identity-mapped (checked above); this function's contract makes it
    // the access's alone.
    Some(unsafe { IdentityRam::new([range]) })
}

/// Access to every frame the memory server owns, given `managed`, the RAM it manages; `None`
/// (logged) if the assembly refuses them or one ends past the identity map.
///
/// # Safety
///
/// `managed` lies within the RAM [`free_ram`] found, and nothing else in the image references it
/// while the access lives. (The other runs are the manifest's boot-extra and growth ranges, which
/// the manifest checks lie above the RAM ceiling the image checked, in space no memory-map entry
/// names and nothing in the image uses.)
pub unsafe fn app_ram(managed: FrameRun) -> Option<AppRam> {
    let runs = system::server_runs(managed).ok()?;
    if let Some(run) = (runs.iter()).find(|run| run.end() > IDENTITY_MAPPED_BYTES / PAGE_BYTES) {
        defmt::error!(
            "the memory server's frames {=u64:#x}..{=u64:#x} end past the identity map",
            run.start(),
            run.end()
        );
        return None;
    }
    // SAFETY: every run lies in the identity map (checked above), and this function's contract
    // puts each in free RAM or in space above all RAM that nothing in the image uses.
    Some(unsafe { IdentityRam::new(runs) })
}
