//! Reading a component's ELF file at build time (the build script includes this module): a
//! 64-bit little-endian AArch64 executable, its entry point and loadable segments, each checked
//! to lie inside the file.

/// Why bytes are not a PD ELF the root task can load. C-like, zero reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum ElfError {
    /// Not an ELF file (too short, or no `\x7fELF`).
    NotElf = 1,
    /// Not a 64-bit little-endian AArch64 executable.
    NotAarch64Executable = 2,
    /// The program-header table or a segment's bytes lie outside the file, or a segment has more
    /// file bytes than memory bytes.
    Malformed = 3,
}

/// A loadable segment (`PT_LOAD`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElfSegment {
    /// Its virtual address.
    pub address: u64,
    /// Bytes in memory.
    pub memory_bytes: u64,
    /// Its flags (execute 1, write 2, read 4).
    pub flags: u32,
    /// Where its file bytes start.
    pub offset: usize,
    /// How many file bytes it has.
    pub file_bytes: usize,
}

/// A checked ELF file.
#[derive(Clone, Copy, Debug)]
pub struct Elf<'a> {
    bytes: &'a [u8],
    entry: u64,
    table: usize,
    entry_size: usize,
    entries: usize,
}

const LOAD: u32 = 1;
const HEADER_BYTES: usize = 64;
const PROGRAM_HEADER_BYTES: usize = 56;

fn field<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    field(bytes, at).map(u16::from_le_bytes)
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    field(bytes, at).map(u32::from_le_bytes)
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    field(bytes, at).map(u64::from_le_bytes)
}

impl<'a> Elf<'a> {
    /// Checks `bytes` and every loadable segment.
    pub fn parse(bytes: &'a [u8]) -> Result<Elf<'a>, ElfError> {
        if bytes.len() < HEADER_BYTES || bytes[..4] != *b"\x7fELF" {
            return Err(ElfError::NotElf);
        }
        let executable = u16_at(bytes, 16) == Some(2) && u16_at(bytes, 18) == Some(183);
        if bytes[4] != 2 || bytes[5] != 1 || !executable {
            return Err(ElfError::NotAarch64Executable);
        }
        let malformed = ElfError::Malformed;
        let elf = Elf {
            bytes,
            entry: u64_at(bytes, 24).ok_or(malformed)?,
            table: usize::try_from(u64_at(bytes, 32).ok_or(malformed)?).map_err(|_| malformed)?,
            entry_size: usize::from(u16_at(bytes, 54).ok_or(malformed)?),
            entries: usize::from(u16_at(bytes, 56).ok_or(malformed)?),
        };
        let table_end = (elf.entry_size.checked_mul(elf.entries))
            .and_then(|length| length.checked_add(elf.table));
        if elf.entry_size < PROGRAM_HEADER_BYTES || table_end.is_none_or(|end| end > bytes.len()) {
            return Err(malformed);
        }
        for index in 0..elf.entries {
            if let Some(segment) = elf.segment(index).ok_or(malformed)? {
                let end = segment.offset.checked_add(segment.file_bytes);
                if end.is_none_or(|end| end > bytes.len())
                    || segment.file_bytes as u64 > segment.memory_bytes
                {
                    return Err(malformed);
                }
            }
        }
        Ok(elf)
    }

    /// Program header `index`, if it is a loadable segment (`None` inside if it is not).
    fn segment(&self, index: usize) -> Option<Option<ElfSegment>> {
        let at = self.table + index * self.entry_size;
        if u32_at(self.bytes, at)? != LOAD {
            return Some(None);
        }
        Some(Some(ElfSegment {
            flags: u32_at(self.bytes, at + 4)?,
            offset: usize::try_from(u64_at(self.bytes, at + 8)?).ok()?,
            address: u64_at(self.bytes, at + 16)?,
            file_bytes: usize::try_from(u64_at(self.bytes, at + 32)?).ok()?,
            memory_bytes: u64_at(self.bytes, at + 40)?,
        }))
    }

    /// The entry point.
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// The loadable segments, in program-header order.
    pub fn segments(&self) -> impl Iterator<Item = ElfSegment> + '_ {
        (0..self.entries).filter_map(|index| self.segment(index).flatten())
    }

    /// The file bytes of `segment`.
    pub fn contents(&self, segment: &ElfSegment) -> &'a [u8] {
        &self.bytes[segment.offset..segment.offset + segment.file_bytes]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An AArch64 executable with one program header per `(type, flags, address, file bytes,
    /// memory bytes)`, the file bytes after the table.
    fn build(entry: u64, headers: &[(u32, u32, u64, &[u8], u64)]) -> std::vec::Vec<u8> {
        let mut file = std::vec![0u8; HEADER_BYTES];
        file[..4].copy_from_slice(b"\x7fELF");
        file[4] = 2;
        file[5] = 1;
        file[6] = 1;
        file[16..18].copy_from_slice(&2u16.to_le_bytes());
        file[18..20].copy_from_slice(&183u16.to_le_bytes());
        file[24..32].copy_from_slice(&entry.to_le_bytes());
        file[32..40].copy_from_slice(&(HEADER_BYTES as u64).to_le_bytes());
        file[54..56].copy_from_slice(&(PROGRAM_HEADER_BYTES as u16).to_le_bytes());
        file[56..58].copy_from_slice(&(headers.len() as u16).to_le_bytes());
        let mut offset = HEADER_BYTES + headers.len() * PROGRAM_HEADER_BYTES;
        for (kind, flags, address, bytes, memory) in headers {
            let mut header = [0u8; PROGRAM_HEADER_BYTES];
            header[..4].copy_from_slice(&kind.to_le_bytes());
            header[4..8].copy_from_slice(&flags.to_le_bytes());
            header[8..16].copy_from_slice(&(offset as u64).to_le_bytes());
            header[16..24].copy_from_slice(&address.to_le_bytes());
            header[32..40].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
            header[40..48].copy_from_slice(&memory.to_le_bytes());
            file.extend_from_slice(&header);
            offset += bytes.len();
        }
        for (_, _, _, bytes, _) in headers {
            file.extend_from_slice(bytes);
        }
        file
    }

    #[test]
    fn loadable_segments_and_their_bytes_are_read_and_others_skipped() {
        let file = build(
            0x40_0010,
            &[
                (1, 5, 0x40_0000, &[1, 2, 3], 3),
                (0x6474_e551, 6, 0, &[], 0),
                (1, 6, 0x40_1000, &[4], 0x100),
            ],
        );
        let elf = Elf::parse(&file).expect("valid");
        assert_eq!(elf.entry(), 0x40_0010);
        let segments: std::vec::Vec<ElfSegment> = elf.segments().collect();
        assert_eq!(segments.len(), 2);
        assert_eq!((segments[0].address, segments[0].flags), (0x40_0000, 5));
        assert_eq!(elf.contents(&segments[0]), [1, 2, 3]);
        assert_eq!(
            (segments[1].memory_bytes, elf.contents(&segments[1])),
            (0x100, &[4][..])
        );
    }

    #[test]
    fn files_that_are_not_aarch64_executables_or_lie_about_their_sizes_are_refused() {
        assert_eq!(Elf::parse(b"not an elf").err(), Some(ElfError::NotElf));
        let mut x86 = build(0, &[(1, 5, 0, &[1], 1)]);
        x86[18..20].copy_from_slice(&62u16.to_le_bytes());
        assert_eq!(Elf::parse(&x86).err(), Some(ElfError::NotAarch64Executable));
        let larger_file_than_memory = build(0, &[(1, 5, 0, &[1, 2], 1)]);
        assert_eq!(
            Elf::parse(&larger_file_than_memory).err(),
            Some(ElfError::Malformed)
        );
        let mut truncated = build(0, &[(1, 5, 0, &[1, 2], 2)]);
        truncated.pop();
        assert_eq!(Elf::parse(&truncated).err(), Some(ElfError::Malformed));
    }
}
