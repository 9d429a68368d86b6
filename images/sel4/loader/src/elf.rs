//! The ELF files the loader carries (the seL4 kernel, the root task), read from bytes of any
//! alignment: a 64-bit little-endian AArch64 executable whose program-header table and loadable
//! segments lie inside the file. Every header is checked once, by [`Elf::parse`]; afterwards the
//! loadable segments are read without further failure. The build packs each file
//! ([`Elf::pack`]) to what the loader reads: its header, the loadable segments' headers and
//! bytes; section headers, symbols and debug information stay out of the image.

/// The byte length of the ELF header the loader reads.
const HEADER_BYTES: usize = 64;
/// The byte length of a 64-bit program header.
const PROGRAM_HEADER_BYTES: usize = 56;
const MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];
const CLASS_64: u8 = 2;
const DATA_LITTLE_ENDIAN: u8 = 1;
const VERSION_CURRENT: u8 = 1;
const TYPE_EXECUTABLE: u16 = 2;
const MACHINE_AARCH64: u16 = 183;
const SEGMENT_LOAD: u32 = 1;
/// The page size packed segments keep their file offsets congruent to their addresses modulo,
/// so that copying them moves aligned words.
const PACK_ALIGNMENT: u64 = 4096;

/// Why bytes are not an ELF file the loader can place. C-like, nonzero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum ElfError {
    /// Shorter than an ELF header, or without the `\x7fELF` magic.
    NotElf = 1,
    /// Not a 64-bit little-endian file of the current ELF version.
    NotElf64LittleEndian = 2,
    /// Not an executable (ET_EXEC) for AArch64.
    NotAarch64Executable = 3,
    /// The program-header table lies outside the file, or its entries are too small.
    BadProgramHeaderTable = 4,
    /// A loadable segment's bytes lie outside the file.
    SegmentOutsideFile = 5,
    /// A loadable segment holds more file bytes than memory bytes.
    SegmentFileExceedsMemory = 6,
    /// A loadable segment's virtual or physical span wraps around the address space.
    SegmentWraps = 7,
    /// No loadable segment.
    NothingToLoad = 8,
}

/// A loadable segment (PT_LOAD), as its program header gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Its permission flags (PF_X 1, PF_W 2, PF_R 4).
    pub flags: u32,
    /// Where its bytes start in the file.
    pub offset: u64,
    /// Its virtual address.
    pub virtual_address: u64,
    /// Its physical address (meaningful for the kernel, whose linker script sets it).
    pub physical_address: u64,
    /// Bytes it takes from the file.
    pub file_bytes: u64,
    /// Bytes it occupies in memory; those past `file_bytes` are zero.
    pub memory_bytes: u64,
}

impl Segment {
    /// The first virtual address past it.
    pub fn virtual_end(&self) -> u64 {
        self.virtual_address + self.memory_bytes
    }

    /// The first physical address past it.
    pub fn physical_end(&self) -> u64 {
        self.physical_address + self.memory_bytes
    }
}

/// A checked ELF file.
#[derive(Clone, Copy, Debug)]
pub struct Elf<'a> {
    bytes: &'a [u8],
    entry: u64,
    program_headers: usize,
    program_header_bytes: usize,
    program_header_count: usize,
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let field = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([field[0], field[1]]))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    let mut word = [0; 4];
    word.copy_from_slice(field);
    Some(u32::from_le_bytes(word))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let field = bytes.get(at..at.checked_add(8)?)?;
    let mut word = [0; 8];
    word.copy_from_slice(field);
    Some(u64::from_le_bytes(word))
}

impl<'a> Elf<'a> {
    /// Check `bytes` as an AArch64 executable and every one of its loadable segments.
    pub fn parse(bytes: &'a [u8]) -> Result<Elf<'a>, ElfError> {
        if bytes.len() < HEADER_BYTES || bytes[..4] != MAGIC {
            return Err(ElfError::NotElf);
        }
        if bytes[4] != CLASS_64 || bytes[5] != DATA_LITTLE_ENDIAN || bytes[6] != VERSION_CURRENT {
            return Err(ElfError::NotElf64LittleEndian);
        }
        let header = |at| read_u16(bytes, at).ok_or(ElfError::NotElf);
        if header(16)? != TYPE_EXECUTABLE || header(18)? != MACHINE_AARCH64 {
            return Err(ElfError::NotAarch64Executable);
        }
        let entry = read_u64(bytes, 24).ok_or(ElfError::NotElf)?;
        let table = read_u64(bytes, 32).ok_or(ElfError::NotElf)?;
        let elf = Elf {
            bytes,
            entry,
            program_headers: usize::try_from(table).map_err(|_| ElfError::BadProgramHeaderTable)?,
            program_header_bytes: usize::from(header(54)?),
            program_header_count: usize::from(header(56)?),
        };
        let table_end = elf
            .program_header_bytes
            .checked_mul(elf.program_header_count)
            .and_then(|length| length.checked_add(elf.program_headers));
        if elf.program_header_bytes < PROGRAM_HEADER_BYTES
            || table_end.is_none_or(|end| end > bytes.len())
        {
            return Err(ElfError::BadProgramHeaderTable);
        }
        let mut loadable = 0;
        for index in 0..elf.program_header_count {
            if let Some(segment) = elf.segment(index)? {
                elf.check(&segment)?;
                loadable += 1;
            }
        }
        if loadable == 0 {
            return Err(ElfError::NothingToLoad);
        }
        Ok(elf)
    }

    /// The entry point (a virtual address).
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// The loadable segments, in program-header order.
    pub fn segments(&self) -> impl Iterator<Item = Segment> + 'a {
        let elf = *self;
        // `parse` read every program header without error, so none is dropped here.
        (0..self.program_header_count).filter_map(move |index| elf.segment(index).ok().flatten())
    }

    /// The file bytes of `segment` (one of [`Elf::segments`]).
    pub fn contents(&self, segment: &Segment) -> &'a [u8] {
        let start = segment.offset as usize;
        &self.bytes[start..start + segment.file_bytes as usize]
    }

    /// The loadable segments with their offsets in the packed file, and its length.
    fn packed_layout(&self) -> (impl Iterator<Item = (Segment, u64)> + 'a, u64) {
        let headers = (HEADER_BYTES + self.segments().count() * PROGRAM_HEADER_BYTES) as u64;
        let place = |cursor: u64, segment: &Segment| {
            let start =
                cursor.next_multiple_of(PACK_ALIGNMENT) + segment.virtual_address % PACK_ALIGNMENT;
            (start, start + segment.file_bytes)
        };
        let length = self
            .segments()
            .fold(headers, |cursor, segment| place(cursor, &segment).1);
        let placed = self.segments().scan(headers, move |cursor, segment| {
            let (start, end) = place(*cursor, &segment);
            *cursor = end;
            Some((segment, start))
        });
        (placed, length)
    }

    /// The length of the packed file [`Elf::pack`] writes.
    pub fn packed_bytes(&self) -> usize {
        self.packed_layout().1 as usize
    }

    /// Write the packed file into `out`, which must be [`Elf::packed_bytes`] long (else `None`):
    /// the same header without section headers, then one program header per loadable segment,
    /// then each segment's file bytes at an offset congruent to its virtual address modulo 4 KiB.
    pub fn pack(&self, out: &mut [u8]) -> Option<()> {
        let (placed, length) = self.packed_layout();
        if out.len() as u64 != length {
            return None;
        }
        out.fill(0);
        let count = self.segments().count();
        out[..HEADER_BYTES].copy_from_slice(&self.bytes[..HEADER_BYTES]);
        out[32..40].copy_from_slice(&(HEADER_BYTES as u64).to_le_bytes());
        out[40..48].copy_from_slice(&0u64.to_le_bytes());
        out[52..54].copy_from_slice(&(HEADER_BYTES as u16).to_le_bytes());
        out[54..56].copy_from_slice(&(PROGRAM_HEADER_BYTES as u16).to_le_bytes());
        out[56..58].copy_from_slice(&(count as u16).to_le_bytes());
        out[58..64].fill(0);
        for (index, (segment, offset)) in placed.enumerate() {
            let at = HEADER_BYTES + index * PROGRAM_HEADER_BYTES;
            out[at..at + 4].copy_from_slice(&SEGMENT_LOAD.to_le_bytes());
            out[at + 4..at + 8].copy_from_slice(&segment.flags.to_le_bytes());
            let fields = [
                offset,
                segment.virtual_address,
                segment.physical_address,
                segment.file_bytes,
                segment.memory_bytes,
                PACK_ALIGNMENT,
            ];
            for (slot, value) in fields.iter().enumerate() {
                let field = at + 8 + slot * 8;
                out[field..field + 8].copy_from_slice(&value.to_le_bytes());
            }
            let start = offset as usize;
            out[start..start + segment.file_bytes as usize]
                .copy_from_slice(self.contents(&segment));
        }
        Some(())
    }

    /// The program header at `index`: `None` unless it describes a loadable segment.
    fn segment(&self, index: usize) -> Result<Option<Segment>, ElfError> {
        let at = self.program_headers + index * self.program_header_bytes;
        let field =
            |offset| read_u64(self.bytes, at + offset).ok_or(ElfError::BadProgramHeaderTable);
        let kind = read_u32(self.bytes, at).ok_or(ElfError::BadProgramHeaderTable)?;
        if kind != SEGMENT_LOAD {
            return Ok(None);
        }
        Ok(Some(Segment {
            flags: read_u32(self.bytes, at + 4).ok_or(ElfError::BadProgramHeaderTable)?,
            offset: field(8)?,
            virtual_address: field(16)?,
            physical_address: field(24)?,
            file_bytes: field(32)?,
            memory_bytes: field(40)?,
        }))
    }

    fn check(&self, segment: &Segment) -> Result<(), ElfError> {
        let file_end = segment.offset.checked_add(segment.file_bytes);
        if file_end.is_none_or(|end| end > self.bytes.len() as u64) {
            return Err(ElfError::SegmentOutsideFile);
        }
        if segment.file_bytes > segment.memory_bytes {
            return Err(ElfError::SegmentFileExceedsMemory);
        }
        let spans = [segment.virtual_address, segment.physical_address];
        if spans
            .iter()
            .any(|start| start.checked_add(segment.memory_bytes).is_none())
        {
            return Err(ElfError::SegmentWraps);
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A segment to build a test ELF from: its header fields and its file bytes.
    pub struct TestSegment {
        pub virtual_address: u64,
        pub physical_address: u64,
        pub contents: Vec<u8>,
        pub memory_bytes: u64,
    }

    /// An AArch64 executable with `segments` (and one non-loadable header first), laid out as
    /// a linker would: header, program headers, then each segment's bytes.
    pub fn build(entry: u64, segments: &[TestSegment]) -> Vec<u8> {
        let headers = segments.len() + 1;
        let mut bytes = vec![0u8; HEADER_BYTES + headers * PROGRAM_HEADER_BYTES];
        bytes[..4].copy_from_slice(&MAGIC);
        bytes[4] = CLASS_64;
        bytes[5] = DATA_LITTLE_ENDIAN;
        bytes[6] = VERSION_CURRENT;
        bytes[16..18].copy_from_slice(&TYPE_EXECUTABLE.to_le_bytes());
        bytes[18..20].copy_from_slice(&MACHINE_AARCH64.to_le_bytes());
        bytes[24..32].copy_from_slice(&entry.to_le_bytes());
        bytes[32..40].copy_from_slice(&(HEADER_BYTES as u64).to_le_bytes());
        bytes[54..56].copy_from_slice(&(PROGRAM_HEADER_BYTES as u16).to_le_bytes());
        bytes[56..58].copy_from_slice(&(headers as u16).to_le_bytes());
        // The first header is a GNU_STACK-like one the loader must skip.
        bytes[HEADER_BYTES..HEADER_BYTES + 4].copy_from_slice(&0x6474_e551u32.to_le_bytes());
        for (index, segment) in segments.iter().enumerate() {
            let offset = bytes.len() as u64;
            let at = HEADER_BYTES + (index + 1) * PROGRAM_HEADER_BYTES;
            let fields = [
                offset,
                segment.virtual_address,
                segment.physical_address,
                segment.contents.len() as u64,
                segment.memory_bytes,
            ];
            bytes[at..at + 4].copy_from_slice(&SEGMENT_LOAD.to_le_bytes());
            bytes[at + 4..at + 8].copy_from_slice(&(index as u32 + 5).to_le_bytes());
            for (slot, value) in fields.iter().enumerate() {
                let field = at + 8 + slot * 8;
                bytes[field..field + 8].copy_from_slice(&value.to_le_bytes());
            }
            bytes.extend_from_slice(&segment.contents);
        }
        bytes
    }

    fn two_segments() -> Vec<u8> {
        build(
            0x40_0010,
            &[
                TestSegment {
                    virtual_address: 0x40_0000,
                    physical_address: 0x40_0000,
                    contents: vec![0xaa; 100],
                    memory_bytes: 100,
                },
                TestSegment {
                    virtual_address: 0x41_0000,
                    physical_address: 0x41_0000,
                    contents: vec![0xbb; 30],
                    memory_bytes: 0x2000,
                },
            ],
        )
    }

    fn set_u64(bytes: &mut [u8], at: usize, value: u64) {
        bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }

    /// Where the second segment's program header starts in [`two_segments`].
    const SECOND_LOAD_HEADER: usize = HEADER_BYTES + 2 * PROGRAM_HEADER_BYTES;

    #[test]
    fn loadable_segments_and_their_bytes_are_read_skipping_other_headers() {
        let bytes = two_segments();
        let elf = Elf::parse(&bytes).expect("a well-formed executable");
        assert_eq!(elf.entry(), 0x40_0010);
        let segments: Vec<Segment> = elf.segments().collect();
        assert_eq!(segments.len(), 2);
        assert_eq!(segments[1].virtual_address, 0x41_0000);
        assert_eq!(segments[1].virtual_end(), 0x41_2000);
        assert_eq!(elf.contents(&segments[0]), &[0xaa; 100][..]);
        assert_eq!(elf.contents(&segments[1]), &[0xbb; 30][..]);
    }

    #[test]
    fn bytes_of_any_alignment_are_read() {
        let bytes = two_segments();
        let mut shifted = vec![0u8; 1];
        shifted.extend_from_slice(&bytes);
        let elf = Elf::parse(&shifted[1..]).expect("alignment does not matter");
        assert_eq!(elf.segments().count(), 2);
    }

    #[test]
    fn files_that_are_not_aarch64_executables_are_refused() {
        assert_eq!(Elf::parse(b"\x7fELF").unwrap_err(), ElfError::NotElf);
        let mut not_elf = two_segments();
        not_elf[1] = b'X';
        assert_eq!(Elf::parse(&not_elf).unwrap_err(), ElfError::NotElf);
        let mut elf32 = two_segments();
        elf32[4] = 1;
        assert_eq!(
            Elf::parse(&elf32).unwrap_err(),
            ElfError::NotElf64LittleEndian
        );
        let mut x86 = two_segments();
        x86[18..20].copy_from_slice(&62u16.to_le_bytes());
        assert_eq!(
            Elf::parse(&x86).unwrap_err(),
            ElfError::NotAarch64Executable
        );
        let mut shared_object = two_segments();
        shared_object[16..18].copy_from_slice(&3u16.to_le_bytes());
        assert_eq!(
            Elf::parse(&shared_object).unwrap_err(),
            ElfError::NotAarch64Executable
        );
    }

    #[test]
    fn program_header_tables_outside_the_file_are_refused() {
        let mut past_end = two_segments();
        let length = past_end.len() as u64;
        set_u64(&mut past_end, 32, length - 8);
        assert_eq!(
            Elf::parse(&past_end).unwrap_err(),
            ElfError::BadProgramHeaderTable
        );
        let mut wrapping = two_segments();
        set_u64(&mut wrapping, 32, u64::MAX - 8);
        assert_eq!(
            Elf::parse(&wrapping).unwrap_err(),
            ElfError::BadProgramHeaderTable
        );
        let mut small_entries = two_segments();
        small_entries[54..56].copy_from_slice(&32u16.to_le_bytes());
        assert_eq!(
            Elf::parse(&small_entries).unwrap_err(),
            ElfError::BadProgramHeaderTable
        );
    }

    #[test]
    fn segments_outside_the_file_or_wrapping_or_short_of_memory_are_refused() {
        let mut outside = two_segments();
        let length = outside.len() as u64;
        set_u64(&mut outside, SECOND_LOAD_HEADER + 8, length - 10);
        assert_eq!(
            Elf::parse(&outside).unwrap_err(),
            ElfError::SegmentOutsideFile
        );
        let mut offset_wraps = two_segments();
        set_u64(&mut offset_wraps, SECOND_LOAD_HEADER + 8, u64::MAX - 4);
        assert_eq!(
            Elf::parse(&offset_wraps).unwrap_err(),
            ElfError::SegmentOutsideFile
        );
        let mut short = two_segments();
        set_u64(&mut short, SECOND_LOAD_HEADER + 40, 10);
        assert_eq!(
            Elf::parse(&short).unwrap_err(),
            ElfError::SegmentFileExceedsMemory
        );
        let mut wraps = two_segments();
        set_u64(&mut wraps, SECOND_LOAD_HEADER + 24, u64::MAX - 0x1000);
        assert_eq!(Elf::parse(&wraps).unwrap_err(), ElfError::SegmentWraps);
    }

    #[test]
    fn a_packed_file_keeps_the_entry_and_every_loadable_segment_and_drops_the_rest() {
        let mut bytes = two_segments();
        bytes.extend_from_slice(&[0x55; 5000]);
        let elf = Elf::parse(&bytes).expect("well-formed");
        let mut packed = vec![0xee; elf.packed_bytes()];
        elf.pack(&mut packed).expect("the right length");
        let repacked = Elf::parse(&packed).expect("the packed file is an ELF the loader reads");
        assert_eq!(repacked.entry(), elf.entry());
        let (original, kept): (Vec<Segment>, Vec<Segment>) =
            (elf.segments().collect(), repacked.segments().collect());
        assert_eq!(original.len(), kept.len());
        for (before, after) in original.iter().zip(&kept) {
            assert_eq!(
                Segment {
                    offset: 0,
                    ..*before
                },
                Segment {
                    offset: 0,
                    ..*after
                }
            );
            assert_eq!(repacked.contents(after), elf.contents(before));
            assert_eq!(
                after.offset % PACK_ALIGNMENT,
                after.virtual_address % PACK_ALIGNMENT
            );
        }
        assert!(
            !packed.windows(5).any(|window| window == [0x55; 5]),
            "trailing bytes dropped"
        );
        assert_eq!(read_u64(&packed, 40), Some(0), "no section headers");
        assert!(elf.pack(&mut vec![0; packed.len() - 1]).is_none());
    }

    #[test]
    fn an_executable_with_nothing_to_load_is_refused() {
        let bytes = build(0, &[]);
        assert_eq!(Elf::parse(&bytes).unwrap_err(), ElfError::NothingToLoad);
    }
}
