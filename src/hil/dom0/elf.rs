//! What a dynamically linked x86-64 ELF needs at run time: its interpreter (`PT_INTERP`) and the
//! shared objects it names (`DT_NEEDED`), read from the program headers, so that the initramfs
//! carries exactly the libraries the toolstack loads. Input is a file from a package: every
//! offset is checked, and a malformed file is an error, never a panic.

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;

/// The run-time needs of one ELF.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// The program interpreter's path, for an executable.
    pub interpreter: Option<String>,
    /// The `DT_NEEDED` sonames, in order.
    pub libraries: Vec<String>,
}

struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    file_size: u64,
}

fn bytes<const N: usize>(data: &[u8], at: u64) -> Option<[u8; N]> {
    let at = usize::try_from(at).ok()?;
    data.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u16_at(data: &[u8], at: u64) -> Option<u16> {
    bytes(data, at).map(u16::from_le_bytes)
}

fn u32_at(data: &[u8], at: u64) -> Option<u32> {
    bytes(data, at).map(u32::from_le_bytes)
}

fn u64_at(data: &[u8], at: u64) -> Option<u64> {
    bytes(data, at).map(u64::from_le_bytes)
}

/// The NUL-terminated string at `at`.
fn string_at(data: &[u8], at: u64) -> Option<String> {
    let tail = data.get(usize::try_from(at).ok()?..)?;
    let end = tail.iter().position(|&byte| byte == 0)?;
    String::from_utf8(tail[..end].to_vec()).ok()
}

/// The needs of `data`, a little-endian ELF64 file; a statically linked one needs nothing.
pub fn needs(data: &[u8]) -> Result<Needs, String> {
    if data.get(..6) != Some(b"\x7fELF\x02\x01") {
        return Err("not a little-endian 64-bit ELF".into());
    }
    let malformed = || "malformed ELF program headers".to_string();
    let table = u64_at(data, 0x20).ok_or_else(malformed)?;
    let entry_size = u16_at(data, 0x36).ok_or_else(malformed)?;
    let count = u16_at(data, 0x38).ok_or_else(malformed)?;
    let segments = (0..u64::from(count))
        .map(|index| {
            let at = table.checked_add(index * u64::from(entry_size))?;
            Some(Segment {
                kind: u32_at(data, at)?,
                offset: u64_at(data, at.checked_add(8)?)?,
                vaddr: u64_at(data, at.checked_add(16)?)?,
                file_size: u64_at(data, at.checked_add(32)?)?,
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(malformed)?;
    let mut found = Needs::default();
    if let Some(interp) = segments.iter().find(|segment| segment.kind == PT_INTERP) {
        found.interpreter = Some(string_at(data, interp.offset).ok_or("malformed PT_INTERP")?);
    }
    let Some(dynamic) = segments.iter().find(|segment| segment.kind == PT_DYNAMIC) else {
        return Ok(found);
    };
    let malformed = || "malformed dynamic section".to_string();
    let mut needed = Vec::new();
    let mut string_table = None;
    for at in (dynamic.offset..dynamic.offset.saturating_add(dynamic.file_size)).step_by(16) {
        let tag = u64_at(data, at).ok_or_else(malformed)?;
        let value = u64_at(data, at + 8).ok_or_else(malformed)?;
        match tag {
            DT_NULL => break,
            DT_NEEDED => needed.push(value),
            DT_STRTAB => string_table = Some(value),
            _ => {}
        }
    }
    if needed.is_empty() {
        return Ok(found);
    }
    let strtab_vaddr = string_table.ok_or("DT_NEEDED without DT_STRTAB")?;
    // The string table is named by its address: find the loaded segment that holds it.
    let strtab = (segments.iter())
        .filter(|segment| segment.kind == PT_LOAD)
        .find(|segment| {
            (segment.vaddr..segment.vaddr.saturating_add(segment.file_size)).contains(&strtab_vaddr)
        })
        .map(|segment| strtab_vaddr - segment.vaddr + segment.offset)
        .ok_or("DT_STRTAB outside every PT_LOAD segment")?;
    for name in needed {
        let at = strtab.checked_add(name).ok_or_else(malformed)?;
        found
            .libraries
            .push(string_at(data, at).ok_or_else(malformed)?);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64: header, three program headers (LOAD over the whole file, INTERP,
    /// DYNAMIC), the interpreter path, a string table and the dynamic entries.
    fn tiny_elf(dynamic: &[(u64, u64)]) -> Vec<u8> {
        let mut elf = vec![0u8; 0x40 + 3 * 56];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&3u16.to_le_bytes());
        let interp_at = elf.len() as u64;
        elf.extend_from_slice(b"/lib64/ld-linux-x86-64.so.2\0");
        let strtab_at = elf.len() as u64;
        elf.extend_from_slice(b"\0libc.so.6\0libxenlight.so.4.17\0");
        let dynamic_at = elf.len() as u64;
        for (tag, value) in dynamic {
            elf.extend_from_slice(&tag.to_le_bytes());
            let value = if *tag == DT_STRTAB {
                0x40_0000 + strtab_at
            } else {
                *value
            };
            elf.extend_from_slice(&value.to_le_bytes());
        }
        let total = elf.len() as u64;
        let headers = [
            (PT_LOAD, 0, 0x40_0000u64, total),
            (PT_INTERP, interp_at, 0, 28),
            (PT_DYNAMIC, dynamic_at, 0, total - dynamic_at),
        ];
        for (index, (kind, offset, vaddr, size)) in headers.into_iter().enumerate() {
            let at = 0x40 + index * 56;
            elf[at..at + 4].copy_from_slice(&kind.to_le_bytes());
            elf[at + 8..at + 16].copy_from_slice(&offset.to_le_bytes());
            elf[at + 16..at + 24].copy_from_slice(&vaddr.to_le_bytes());
            elf[at + 32..at + 40].copy_from_slice(&size.to_le_bytes());
        }
        elf
    }

    #[test]
    fn the_interpreter_and_needed_libraries_are_read_in_order() {
        let elf = tiny_elf(&[
            (DT_NEEDED, 11),
            (DT_NEEDED, 1),
            (DT_STRTAB, 0),
            (DT_NULL, 0),
        ]);
        assert_eq!(
            needs(&elf),
            Ok(Needs {
                interpreter: Some("/lib64/ld-linux-x86-64.so.2".into()),
                libraries: vec!["libxenlight.so.4.17".into(), "libc.so.6".into()],
            })
        );
    }

    #[test]
    fn malformed_files_are_errors() {
        assert!(needs(b"#!/bin/sh\n").is_err());
        let elf = tiny_elf(&[(DT_NEEDED, 1), (DT_NULL, 0)]);
        assert_eq!(needs(&elf), Err("DT_NEEDED without DT_STRTAB".into()));
        let elf = tiny_elf(&[(DT_NEEDED, 1 << 40), (DT_STRTAB, 0), (DT_NULL, 0)]);
        assert!(needs(&elf).is_err());
        let mut elf = tiny_elf(&[(DT_NULL, 0)]);
        elf.truncate(0x60);
        assert!(needs(&elf).is_err());
    }
}
