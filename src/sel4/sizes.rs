//! The sizes of the seL4 image's parts, read from their ELF program headers: what each loadable
//! segment carries in the file (`p_filesz`) and takes in memory (`p_memsz`, .bss included), summed
//! over the `PT_LOAD` segments. The root task carries every protection domain's loadable segments,
//! the loader carries the kernel and the root task, and the flat Image is the loader's file
//! image, which Xen loads.

use std::path::Path;

use super::image::Sel4Image;

/// ELF's identification: magic, 64-bit class, little-endian data.
const ELF64_LE: [u8; 6] = [0x7f, b'E', b'L', b'F', 2, 1];
/// A loadable segment.
const PT_LOAD: u32 = 1;
/// The smallest program header entry a 64-bit ELF has.
const PHDR_BYTES: usize = 56;

/// What an ELF's loadable segments take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Loadable {
    /// Bytes they carry in the file.
    pub file_bytes: u64,
    /// Bytes they take in memory.
    pub memory_bytes: u64,
}

/// The loadable segments' sizes of the 64-bit little-endian ELF `elf`.
pub fn loadable(elf: &[u8]) -> Result<Loadable, String> {
    if elf.get(..ELF64_LE.len()) != Some(&ELF64_LE[..]) {
        return Err("not a 64-bit little-endian ELF".into());
    }
    let header = |at: usize, bytes: usize| -> Result<u64, String> {
        let field = elf
            .get(at..at + bytes)
            .ok_or("the ELF header is cut short")?;
        let mut word = [0u8; 8];
        word[..bytes].copy_from_slice(field);
        Ok(u64::from_le_bytes(word))
    };
    let table = usize::try_from(header(0x20, 8)?).map_err(|_| "e_phoff out of range")?;
    let entry_bytes = header(0x36, 2)? as usize;
    let entries = header(0x38, 2)? as usize;
    if entry_bytes < PHDR_BYTES {
        return Err(format!("program header entries of {entry_bytes} bytes"));
    }
    let mut sizes = Loadable::default();
    for index in 0..entries {
        let at = table + index * entry_bytes;
        let entry = elf
            .get(at..at + PHDR_BYTES)
            .ok_or("the program header table runs past the file")?;
        let word = |offset: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&entry[offset..offset + 8]);
            u64::from_le_bytes(bytes)
        };
        if u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]) == PT_LOAD {
            sizes.file_bytes += word(0x20);
            sizes.memory_bytes += word(0x28);
        }
    }
    Ok(sizes)
}

/// The loadable sizes of the ELF file at `path`.
fn loadable_file(path: &Path) -> Result<Loadable, String> {
    let bytes =
        std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    loadable(&bytes).map_err(|error| format!("{}: {error}", path.display()))
}

/// One line per part of `image` (the kernel, each protection domain, the root task, the loader)
/// with its loadable bytes, and one for the flat Image `flat` (its file size).
pub fn report(image: &Sel4Image, flat: &Path) -> Result<Vec<String>, String> {
    let mut parts = vec![("kernel".to_string(), image.kernel.kernel_elf.clone())];
    parts.extend((image.domains.iter()).map(|domain| {
        let name = format!("PD {} ({})", domain.component, domain.program);
        (name, domain.elf.clone())
    }));
    parts.push((
        "root task (with the PDs)".to_string(),
        image.root_task.clone(),
    ));
    parts.push((
        "loader (with kernel, root task)".to_string(),
        image.loader.clone(),
    ));
    let mut lines = Vec::new();
    for (part, path) in parts {
        let sizes = loadable_file(&path)?;
        lines.push(format!(
            "size {part:<32} {:>9} bytes loaded, {:>9} in memory",
            sizes.file_bytes, sizes.memory_bytes
        ));
    }
    let flat_bytes = std::fs::metadata(flat)
        .map_err(|error| format!("cannot stat {}: {error}", flat.display()))?
        .len();
    lines.push(format!(
        "size {:<32} {flat_bytes:>9} bytes (the file Xen loads)",
        "flat Image"
    ));
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64-bit little-endian ELF header with `segments` (type, file bytes, memory bytes) as
    /// program headers right after it.
    fn elf(segments: &[(u32, u64, u64)]) -> Vec<u8> {
        let mut bytes = vec![0u8; 0x40];
        bytes[..6].copy_from_slice(&ELF64_LE);
        bytes[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        bytes[0x36..0x38].copy_from_slice(&(PHDR_BYTES as u16).to_le_bytes());
        bytes[0x38..0x3a].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        for &(kind, file, memory) in segments {
            let mut entry = [0u8; PHDR_BYTES];
            entry[..4].copy_from_slice(&kind.to_le_bytes());
            entry[0x20..0x28].copy_from_slice(&file.to_le_bytes());
            entry[0x28..0x30].copy_from_slice(&memory.to_le_bytes());
            bytes.extend_from_slice(&entry);
        }
        bytes
    }

    #[test]
    fn loadable_segments_are_summed_and_others_left_out() {
        let note = 4;
        let image = elf(&[
            (PT_LOAD, 0x1000, 0x1000),
            (note, 0x40, 0x40),
            (PT_LOAD, 0x200, 0x3000),
        ]);
        assert_eq!(
            loadable(&image),
            Ok(Loadable {
                file_bytes: 0x1200,
                memory_bytes: 0x4000
            })
        );
    }

    #[test]
    fn a_file_that_is_not_a_whole_elf64_is_refused() {
        assert!(loadable(b"#!/bin/sh\n").is_err());
        let mut cut = elf(&[(PT_LOAD, 1, 1)]);
        cut.truncate(0x50);
        assert_eq!(
            loadable(&cut),
            Err("the program header table runs past the file".into())
        );
        let mut thirty_two_bit = elf(&[]);
        thirty_two_bit[4] = 1;
        assert!(loadable(&thirty_two_bit).is_err());
    }
}
