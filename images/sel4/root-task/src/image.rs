//! A protection domain's image as the root task loads it: the loadable segments of the
//! component's ELF (read at build time), page by page. A page two segments share gets the bytes
//! of both and the rights of either; bytes no segment's file covers stay zero (the kernel zeroes
//! new frames), which is where `.bss` lives.

use ballast_sel4_plan::vspace::{IMAGE_BASE, IMAGE_END, PAGE_BYTES};

use crate::RootError;

/// ELF segment flag: executable.
pub const FLAG_EXECUTE: u32 = 1;
/// ELF segment flag: writable.
pub const FLAG_WRITE: u32 = 2;

/// One loadable segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Its first virtual address.
    pub address: u64,
    /// Bytes it occupies in memory (its file bytes, then zeros).
    pub memory_bytes: u64,
    /// Its ELF flags ([`FLAG_EXECUTE`], [`FLAG_WRITE`], read).
    pub flags: u32,
    /// Its bytes from the file.
    pub bytes: &'a [u8],
}

impl Segment<'_> {
    const fn end(&self) -> u64 {
        self.address + self.memory_bytes
    }

    const fn touches(&self, page: u64) -> bool {
        self.memory_bytes > 0 && self.address < page + PAGE_BYTES && page < self.end()
    }
}

/// One component's image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PdImage<'a> {
    /// The component's name in the manifest.
    pub component: &'a str,
    /// Its entry point.
    pub entry: u64,
    /// Its loadable segments.
    pub segments: &'a [Segment<'a>],
}

/// One page of an image and the rights it is mapped with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImagePage {
    /// Its virtual address.
    pub address: u64,
    /// Whether a writable segment touches it.
    pub writable: bool,
    /// Whether an executable segment touches it.
    pub executable: bool,
}

impl<'a> PdImage<'a> {
    /// Whether every segment lies in the image window and the entry point in an executable
    /// segment.
    pub fn check(&self) -> Result<(), RootError> {
        let inside = self.segments.iter().all(|segment| {
            segment.address >= IMAGE_BASE
                && segment.address.checked_add(segment.memory_bytes).is_some()
                && segment.end() <= IMAGE_END
                && segment.bytes.len() as u64 <= segment.memory_bytes
        });
        let entered = self.segments.iter().any(|segment| {
            segment.flags & FLAG_EXECUTE != 0
                && segment.address <= self.entry
                && self.entry < segment.end()
        });
        if inside && entered {
            Ok(())
        } else {
            Err(RootError::ImageOutsideWindow)
        }
    }

    /// The pages some segment touches, ascending.
    pub fn pages(&self) -> impl Iterator<Item = ImagePage> + 'a {
        let segments = self.segments;
        let first = (segments.iter())
            .filter(|segment| segment.memory_bytes > 0)
            .map(|segment| segment.address / PAGE_BYTES)
            .min()
            .unwrap_or(0);
        let end = (segments.iter())
            .map(|segment| segment.end().div_ceil(PAGE_BYTES))
            .max()
            .unwrap_or(0);
        (first..end).filter_map(move |index| {
            let address = index * PAGE_BYTES;
            let touching = || {
                segments
                    .iter()
                    .filter(move |segment| segment.touches(address))
            };
            touching().next()?;
            Some(ImagePage {
                address,
                writable: touching().any(|segment| segment.flags & FLAG_WRITE != 0),
                executable: touching().any(|segment| segment.flags & FLAG_EXECUTE != 0),
            })
        })
    }

    /// Copies into `page` (the bytes of the page at `address`, zero on entry) every segment's
    /// file bytes that fall in it.
    pub fn fill(&self, address: u64, page: &mut [u8]) {
        let page_end = address + page.len() as u64;
        for segment in self.segments {
            let file_end = segment.address + segment.bytes.len() as u64;
            let start = segment.address.max(address);
            let end = file_end.min(page_end);
            if start < end {
                let from = (start - segment.address) as usize;
                let to = (start - address) as usize;
                let length = (end - start) as usize;
                page[to..to + length].copy_from_slice(&segment.bytes[from..from + length]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: [u8; 6000] = [0x11; 6000];
    const DATA: [u8; 16] = [0x22; 16];

    /// Text over a page and a half, read-only data sharing its last page, then data and bss.
    fn image() -> PdImage<'static> {
        static SEGMENTS: [Segment<'static>; 3] = [
            Segment {
                address: IMAGE_BASE,
                memory_bytes: 6000,
                flags: FLAG_EXECUTE | 4,
                bytes: &TEXT,
            },
            Segment {
                address: IMAGE_BASE + 6000,
                memory_bytes: 100,
                flags: 4,
                bytes: &[0x33; 100],
            },
            Segment {
                address: IMAGE_BASE + 0x3000,
                memory_bytes: 0x1010,
                flags: FLAG_WRITE | 4,
                bytes: &DATA,
            },
        ];
        PdImage {
            component: "test",
            entry: IMAGE_BASE + 0x40,
            segments: &SEGMENTS,
        }
    }

    #[test]
    fn pages_take_the_rights_of_every_segment_touching_them_and_skip_gaps() {
        let pages: std::vec::Vec<ImagePage> = image().pages().collect();
        let page = |offset: u64, writable: bool, executable: bool| ImagePage {
            address: IMAGE_BASE + offset,
            writable,
            executable,
        };
        assert_eq!(
            pages,
            [
                page(0, false, true),
                page(0x1000, false, true),
                page(0x3000, true, false),
                page(0x4000, true, false),
            ]
        );
        assert_eq!(image().check(), Ok(()));
    }

    #[test]
    fn fill_copies_every_segments_file_bytes_and_leaves_the_rest_zero() {
        let image = image();
        let mut second = [0u8; 4096];
        image.fill(IMAGE_BASE + 0x1000, &mut second);
        let text_end = 6000 - 4096;
        assert!(second[..text_end].iter().all(|&byte| byte == 0x11));
        assert!(second[text_end..text_end + 100]
            .iter()
            .all(|&byte| byte == 0x33));
        assert!(second[text_end + 100..].iter().all(|&byte| byte == 0));
        let mut bss = [0u8; 4096];
        image.fill(IMAGE_BASE + 0x4000, &mut bss);
        assert!(bss.iter().all(|&byte| byte == 0));
        let mut data = [0u8; 4096];
        image.fill(IMAGE_BASE + 0x3000, &mut data);
        assert_eq!(&data[..16], &DATA);
        assert!(data[16..].iter().all(|&byte| byte == 0));
    }

    #[test]
    fn images_outside_the_window_or_entered_outside_their_code_are_refused() {
        let low = [Segment {
            address: IMAGE_BASE - PAGE_BYTES,
            memory_bytes: 16,
            flags: FLAG_EXECUTE,
            bytes: &DATA,
        }];
        let entry = IMAGE_BASE - PAGE_BYTES;
        let below = PdImage {
            component: "low",
            entry,
            segments: &low,
        };
        assert_eq!(below.check(), Err(RootError::ImageOutsideWindow));
        let high = [Segment {
            address: IMAGE_END - 8,
            ..low[0]
        }];
        let past = PdImage {
            component: "high",
            entry: IMAGE_END - 8,
            segments: &high,
        };
        assert_eq!(past.check(), Err(RootError::ImageOutsideWindow));
        let data_entry = PdImage {
            entry: IMAGE_BASE + 0x3000,
            ..image()
        };
        assert_eq!(data_entry.check(), Err(RootError::ImageOutsideWindow));
    }
}
