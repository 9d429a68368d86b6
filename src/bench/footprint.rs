//! Memory footprints: the memory server's state per managed GiB at 1, 64 and 1024 GiB, for the
//! worst case (a used 4 KiB frame at a random place in every 2 MiB chunk, each a reserved run in
//! the core's table) and the aligned case (no used frame: what ballooning whole chunks needs),
//! counting every table sized as the simulator's system, split into the part that grows with
//! memory (the populated bitmap or the chunk summary's states, the clean chunks, the reserved
//! runs) and the fixed part (the tables, sized by the manifest's client capacities, and the
//! chunk summary's pool, sized by the configuration); and the PVH image's static RAM (.data +
//! .bss + .rodata of its ELF).

use std::path::{Path, PathBuf};

use ballast_memory_server_core::{BalloonCore, Config, FrameRun, Policy};
use ballast_xen::FRAMES_PER_SUPERPAGE;

use super::harness::{Rng, GIB};
use crate::composition::HOST;

/// Where `ballast image` builds the PVH image (with the memory-server app).
pub const HIL_IMAGE: &str = "target/xen-pvh/x86_64-unknown-none/release/ballast-xen-pvh";

/// Sections counted as static RAM.
const STATIC_SECTIONS: [&str; 3] = [".data", ".bss", ".rodata"];

/// The guest sizes the state is measured at, in GiB.
pub const SIZES_GIB: [u64; 3] = [1, 64, 1024];

/// The state of one guest size and layout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct State {
    /// Managed RAM, frames.
    pub managed_frames: u64,
    /// `state_bytes()` of the core: its storage and its fixed tables.
    pub state_bytes: u64,
    /// Of which the storage: populated bitmap (direct, or the chunk summary's states and
    /// pool), clean chunks, reserved runs.
    pub storage_bytes: u64,
    /// Of the storage, the chunk summary's pool (0 for the direct bitmap).
    pub pool_bytes: u64,
}

impl State {
    /// Managed GiB.
    fn gib(&self) -> f64 {
        self.managed_frames as f64 / GIB as f64
    }

    /// State bytes per managed GiB.
    pub fn per_gib(&self) -> f64 {
        self.state_bytes as f64 / self.gib()
    }

    /// Bytes that do not grow with memory: the fixed tables and the summary's pool.
    pub fn fixed_bytes(&self) -> u64 {
        self.state_bytes - self.storage_bytes + self.pool_bytes
    }

    /// Bytes that grow with memory, per managed GiB: the storage but the pool.
    pub fn proportional_per_gib(&self) -> f64 {
        (self.storage_bytes - self.pool_bytes) as f64 / self.gib()
    }
}

/// The footprints.
#[derive(Debug, Clone, PartialEq)]
pub struct Footprint {
    /// At each of [`SIZES_GIB`]: a used frame in every chunk.
    pub worst: Vec<State>,
    /// At each of [`SIZES_GIB`]: no used frame.
    pub aligned: Vec<State>,
    /// The image measured, and its static RAM or why there is none.
    pub image: PathBuf,
    /// Static RAM of the image, bytes, or the reason it could not be read.
    pub image_static_ram: Result<u64, String>,
}

/// One used 4 KiB frame at a random place in every 2 MiB chunk of `[0, frames)`, ascending.
pub fn frame_in_every_chunk(frames: u64, seed: u64) -> Vec<FrameRun> {
    let mut rng = Rng::new(seed);
    (0..frames / FRAMES_PER_SUPERPAGE)
        .map(|chunk| {
            let gfn = chunk * FRAMES_PER_SUPERPAGE + rng.between(0, FRAMES_PER_SUPERPAGE - 1);
            FrameRun::span(gfn, gfn + 1)
        })
        .collect()
}

fn state(frames: u64, reserved: &[FrameRun]) -> Result<State, String> {
    let ram = [FrameRun::span(0, frames)];
    let mut config = Config::new(&ram, Policy::Ballast);
    config.reserved = reserved;
    let words = config
        .bitmap_words()
        .map_err(|e| format!("layout refused: {e:?}"))?;
    let mut storage = vec![0u64; words];
    let core = Box::new(
        BalloonCore::<&mut [u64], { HOST.lent_runs }, { HOST.clients }, { HOST.pending }>::new(
            &config,
            &mut storage,
        )
        .map_err(|e| format!("layout refused: {e:?}"))?,
    );
    Ok(State {
        managed_frames: frames,
        state_bytes: core.state_bytes() as u64,
        storage_bytes: core.bitmap_bytes() as u64,
        pool_bytes: core.pool_bytes() as u64,
    })
}

fn field<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], String> {
    bytes
        .get(at..at + N)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "truncated ELF".to_string())
}

fn u16_at(bytes: &[u8], at: usize) -> Result<usize, String> {
    Ok(usize::from(u16::from_le_bytes(field(bytes, at)?)))
}

fn u32_at(bytes: &[u8], at: usize) -> Result<usize, String> {
    Ok(u32::from_le_bytes(field(bytes, at)?) as usize)
}

fn u64_at(bytes: &[u8], at: usize) -> Result<u64, String> {
    Ok(u64::from_le_bytes(field(bytes, at)?))
}

/// The sizes of an ELF64 little-endian file's sections, by name.
pub fn section_sizes(elf: &[u8]) -> Result<Vec<(String, u64)>, String> {
    if elf.get(..4) != Some(b"\x7fELF".as_slice()) || elf.get(4..6) != Some([2, 1].as_slice()) {
        return Err("not a 64-bit little-endian ELF".into());
    }
    let table = usize::try_from(u64_at(elf, 0x28)?).map_err(|_| "bad e_shoff")?;
    let entry = u16_at(elf, 0x3a)?;
    let count = u16_at(elf, 0x3c)?;
    let names_index = u16_at(elf, 0x3e)?;
    let header = |i: usize| table + i * entry;
    let names_at = usize::try_from(u64_at(elf, header(names_index) + 24)?)
        .map_err(|_| "bad section name table")?;
    let mut sections = Vec::with_capacity(count);
    for i in 0..count {
        let name_at = names_at + u32_at(elf, header(i))?;
        let name = elf
            .get(name_at..)
            .and_then(|rest| rest.split(|&b| b == 0).next())
            .ok_or("section name outside the file")?;
        let size = u64_at(elf, header(i) + 32)?;
        sections.push((String::from_utf8_lossy(name).into_owned(), size));
    }
    Ok(sections)
}

/// Bytes of .data, .bss and .rodata (and their `.name.*` subsections) of `elf`.
pub fn static_ram(elf: &[u8]) -> Result<u64, String> {
    let counted = |name: &str| {
        STATIC_SECTIONS
            .iter()
            .any(|s| name == *s || name.strip_prefix(s).is_some_and(|r| r.starts_with('.')))
    };
    Ok(section_sizes(elf)?
        .into_iter()
        .filter(|(name, _)| counted(name))
        .map(|(_, size)| size)
        .sum())
}

fn image_static_ram(image: &Path) -> Result<u64, String> {
    let elf = std::fs::read(image).map_err(|error| {
        format!(
            "cannot read {} ({error}); build it with `ballast image` or pass --image",
            image.display()
        )
    })?;
    static_ram(&elf).map_err(|error| format!("{}: {error}", image.display()))
}

/// Measure the state at every size, worst and aligned, and the image at `image`, or where
/// `ballast image` builds it.
pub fn measure(image: Option<&Path>) -> Result<Footprint, String> {
    let mut worst = Vec::new();
    let mut aligned = Vec::new();
    for gib in SIZES_GIB {
        let frames = gib * GIB;
        worst.push(state(frames, &frame_in_every_chunk(frames, 0xf00d))?);
        aligned.push(state(frames, &[])?);
    }
    let image = match image {
        Some(image) => image.to_path_buf(),
        None => crate::checkout::root()?.join(HIL_IMAGE),
    };
    Ok(Footprint {
        worst,
        aligned,
        image_static_ram: image_static_ram(&image),
        image,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_binary_itself_has_sections_and_static_ram() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let sections = section_sizes(&me).unwrap();
        assert!(sections
            .iter()
            .any(|(name, size)| name == ".text" && *size > 0));
        let rodata: u64 = sections
            .iter()
            .filter(|(name, _)| name == ".rodata")
            .map(|(_, size)| size)
            .sum();
        assert!(static_ram(&me).unwrap() >= rodata);
    }

    #[test]
    fn a_used_frame_lies_in_every_chunk() {
        let used = frame_in_every_chunk(GIB, 1);
        assert_eq!(used.len(), 512);
        assert!(used
            .iter()
            .enumerate()
            .all(|(chunk, run)| run.frames == 1
                && run.start() / FRAMES_PER_SUPERPAGE == chunk as u64));
    }

    #[test]
    fn the_worst_case_keeps_the_direct_bitmap_and_the_aligned_one_takes_the_summary() {
        let worst = state(GIB, &frame_in_every_chunk(GIB, 1)).unwrap();
        let aligned = state(GIB, &[]).unwrap();
        let chunks = GIB / FRAMES_PER_SUPERPAGE;
        assert_eq!(
            (worst.storage_bytes, worst.pool_bytes),
            (GIB / 8 + chunks / 8 + 512 * 16, 0),
            "a bit per frame, one per chunk, a reserved run per chunk"
        );
        assert_eq!(
            aligned.storage_bytes - aligned.pool_bytes,
            chunks * 2 / 8 + chunks / 8,
            "two bits per chunk and a clean bit per chunk"
        );
        assert!(aligned.pool_bytes > 0 && aligned.storage_bytes < worst.storage_bytes);
        assert_eq!(
            worst.state_bytes - worst.storage_bytes,
            aligned.state_bytes - aligned.storage_bytes
        );
        let at_1tib = state(1024 * GIB, &[]).unwrap();
        assert!(at_1tib.proportional_per_gib() <= 1024.0 && at_1tib.per_gib() <= 1024.0);
        assert_eq!(at_1tib.fixed_bytes(), aligned.fixed_bytes());
    }

    #[test]
    fn what_is_not_an_elf_is_refused() {
        assert!(static_ram(b"#!/bin/sh\n").is_err());
        assert!(static_ram(b"\x7fELF\x02\x01").is_err());
    }
}
