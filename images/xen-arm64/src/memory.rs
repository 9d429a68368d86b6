//! Guest-physical memory: finding the free RAM the memory server manages (the largest 2 MiB-aligned
//! run of mapped RAM that holds neither the image nor the device tree), and the app's access to
//! those frames through the identity map (`mmu.rs`). A read of a frame Xen no longer backs raises a
//! data abort, which the probe read survives (`vectors.rs`).

use crate::device_tree::Bank;
use crate::mmu::{MAPPED_RAM_END, MAPPED_RAM_START};
use crate::vectors::{self, Probe};
use ballast_app_memory_server::system::{self, SERVER_RUNS};
use ballast_frame_access::{FrameRun, Read};
use ballast_image_rt::mapped_ram::{IdentityRam, WordReader};
use ballast_xen::Gfn;

/// Bytes of a page.
pub const PAGE_BYTES: u64 = 4096;
/// Bytes of a superpage (2 MiB).
pub const SUPERPAGE_BYTES: u64 = 2 << 20;

extern "C" {
    static __image_start: u8;
    static __image_end: u8;
}

/// The bytes the image occupies (code, data, .bss, stack).
pub fn image_bounds() -> Bank {
    Bank {
        start: core::ptr::addr_of!(__image_start) as u64,
        end: core::ptr::addr_of!(__image_end) as u64,
    }
}

/// Why there is no free RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum LayoutError {
    /// No mapped RAM free of the image and the device tree.
    NoFreeRam = 1,
}

/// The largest 2 MiB-aligned piece of `bank`, clipped to the mapped window, that overlaps none
/// of `taken`.
fn largest_piece(bank: Bank, taken: &[Bank]) -> (u64, u64) {
    let mut best = (0, 0);
    let mut start = bank.start.max(MAPPED_RAM_START);
    let end = bank.end.min(MAPPED_RAM_END);
    while start < end {
        let next_taken = taken
            .iter()
            .filter(|used| used.end > start && used.start < end)
            .min_by_key(|used| used.start);
        let piece_end = next_taken.map_or(end, |used| used.start.max(start));
        let aligned = (
            start.div_ceil(SUPERPAGE_BYTES) * SUPERPAGE_BYTES,
            piece_end / SUPERPAGE_BYTES * SUPERPAGE_BYTES,
        );
        if aligned.1 > aligned.0 && aligned.1 - aligned.0 > best.1 - best.0 {
            best = aligned;
        }
        start = next_taken.map_or(end, |used| used.end.max(start + 1));
    }
    best
}

/// The free RAM among `banks`: the largest 2 MiB-aligned run of mapped RAM that overlaps none of
/// `taken`.
pub fn free_ram(banks: &[Bank], taken: &[Bank]) -> Result<FrameRun, LayoutError> {
    let (start, end) = banks
        .iter()
        .map(|&bank| largest_piece(bank, taken))
        .max_by_key(|(start, end)| end - start)
        .filter(|(start, end)| end > start)
        .ok_or(LayoutError::NoFreeRam)?;
    Ok(FrameRun::new(
        Gfn(start / PAGE_BYTES),
        (end - start) / PAGE_BYTES,
    ))
}

/// Reads a word through the probe that survives a data abort: arm64 Xen injects one for a
/// ballooned frame.
#[derive(Debug)]
pub enum ProbedRead {}

impl WordReader for ProbedRead {
    unsafe fn read_word(address: u64) -> Read {
        // SAFETY: the address is aligned, mapped and ours (this function's contract), so an abort
        // can only come from Xen (an unbacked frame), which the probe survives.
        match unsafe { vectors::probe_read(address) } {
            Probe::Value(word) => Read::Word(word),
            Probe::Aborted(syndrome) => Read::Aborted(syndrome),
        }
    }
}

/// The app's RAM: every frame the memory server owns (`system::server_runs`: the free RAM and
/// the manifest's boot-extra and growth ranges), reached through the identity map.
pub type AppRam = IdentityRam<ProbedRead, SERVER_RUNS>;

/// Access to every frame the memory server owns, given `managed`, the RAM it manages; `None`
/// (logged) if the assembly refuses them or one lies outside the mapped window (this image maps
/// RAM bank 0 only: a manifest growth range above it is refused here, before anything runs).
///
/// # Safety
///
/// `managed` lies within the RAM [`free_ram`] found, and nothing else in the image references it
/// while the access lives; the other runs (boot-extra and growth ranges) hold nothing the image
/// uses.
pub unsafe fn app_ram(managed: FrameRun) -> Option<AppRam> {
    let runs = system::server_runs(managed).ok()?;
    let window = (MAPPED_RAM_START / PAGE_BYTES)..=(MAPPED_RAM_END / PAGE_BYTES);
    let outside = |run: &&FrameRun| !window.contains(&run.start()) || !window.contains(&run.end());
    if let Some(run) = runs.iter().find(outside) {
        defmt::error!(
            "the memory server's frames {=u64:#x}..{=u64:#x} lie outside the mapped window",
            run.start(),
            run.end()
        );
        return None;
    }
    // SAFETY: every run lies in the identity map (checked above), and this function's contract
    // puts each where nothing else in the image references it.
    Some(unsafe { IdentityRam::new(runs) })
}
