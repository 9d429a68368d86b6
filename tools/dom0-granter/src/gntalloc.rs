//! Linux's `/dev/xen/gntalloc` (uapi `xen/gntalloc.h`): allocate pages granted to another
//! domain, map them into this process, deallocate them (which revokes each grant the other side
//! no longer maps). The structs and ioctl numbers are Linux's; `tests/gntalloc_header.rs` checks
//! them against the C header. The only `unsafe` of the crate: the `ioctl`s, `mmap`/`munmap`,
//! and the volatile accesses to the mapped pages.

use std::fs::{File, OpenOptions};
use std::io;
use std::mem::offset_of;
use std::os::fd::AsRawFd;

use ballast_grant_offer::{MAX_REFS, PAGE_BYTES, WORDS_PER_PAGE};

/// The device.
pub const DEVICE: &str = "/dev/xen/gntalloc";

/// `GNTALLOC_FLAG_WRITABLE`: the other domain may map the grant writable.
pub const FLAG_WRITABLE: u16 = 1;

/// `struct ioctl_gntalloc_alloc_gref`, with room for [`MAX_REFS`] references where C declares
/// `gref_ids[1]` (the kernel writes `count` of them from that offset).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct AllocGref {
    /// IN: the domain given access.
    pub domid: u16,
    /// IN: [`FLAG_WRITABLE`] or 0.
    pub flags: u16,
    /// IN: pages to allocate.
    pub count: u32,
    /// OUT: the offset to `mmap` them at.
    pub index: u64,
    /// OUT: the grant references, one per page.
    pub gref_ids: [u32; MAX_REFS],
}

/// `sizeof(struct ioctl_gntalloc_alloc_gref)` in C (one `gref_ids` entry, padded to the
/// struct's 8-byte alignment): the size the ioctl number encodes.
pub const ALLOC_GREF_C_SIZE: usize = (offset_of!(AllocGref, gref_ids) + 4).next_multiple_of(8);

/// `struct ioctl_gntalloc_dealloc_gref`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DeallocGref {
    /// IN: the offset [`AllocGref::index`] returned.
    pub index: u64,
    /// IN: pages to deallocate from there.
    pub count: u32,
}

/// `_IOC(_IOC_NONE, 'G', nr, size)`: no direction bits, the size at bit 16, the type at bit 8.
const fn ioc_none(nr: u32, size: usize) -> u32 {
    ((size as u32) << 16) | ((b'G' as u32) << 8) | nr
}

/// `IOCTL_GNTALLOC_ALLOC_GREF`.
pub const IOCTL_ALLOC_GREF: u32 = ioc_none(5, ALLOC_GREF_C_SIZE);
/// `IOCTL_GNTALLOC_DEALLOC_GREF`.
pub const IOCTL_DEALLOC_GREF: u32 = ioc_none(6, std::mem::size_of::<DeallocGref>());

/// The open device.
#[derive(Debug)]
pub struct Gntalloc {
    file: File,
}

/// Pages allocated and granted in one `IOCTL_GNTALLOC_ALLOC_GREF`.
#[derive(Debug)]
pub struct Grants {
    /// Where to `mmap` them.
    pub index: u64,
    /// Their grant references, in page order.
    pub refs: Vec<u32>,
}

/// Granted pages mapped into this process; unmapped on drop.
#[derive(Debug)]
pub struct Mapping {
    base: *mut u64,
    pages: usize,
}

impl Gntalloc {
    /// Opens [`DEVICE`].
    pub fn open() -> io::Result<Gntalloc> {
        let file = OpenOptions::new().read(true).write(true).open(DEVICE)?;
        Ok(Gntalloc { file })
    }

    /// Allocates `count` (1..=[`MAX_REFS`]) pages granted writable to `domid`.
    pub fn alloc(&self, domid: u16, count: usize) -> io::Result<Grants> {
        if !(1..=MAX_REFS).contains(&count) {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let mut request = AllocGref {
            domid,
            flags: FLAG_WRITABLE,
            count: count as u32,
            index: 0,
            gref_ids: [0; MAX_REFS],
        };
        // SAFETY: `request` is a live, writable `struct ioctl_gntalloc_alloc_gref` with room for
        // `count` references after its header, all the kernel reads and writes for this ioctl.
        let status = unsafe {
            libc::ioctl(
                self.file.as_raw_fd(),
                IOCTL_ALLOC_GREF as libc::Ioctl,
                &mut request as *mut AllocGref,
            )
        };
        if status != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Grants {
            index: request.index,
            refs: request.gref_ids[..count].to_vec(),
        })
    }

    /// Deallocates `grants`: each grant not mapped elsewhere is revoked and its page freed
    /// (Linux defers those still mapped, by this process or the grantee, until unmapped).
    pub fn dealloc(&self, grants: Grants) -> io::Result<()> {
        let request = DeallocGref {
            index: grants.index,
            count: grants.refs.len() as u32,
        };
        // SAFETY: `request` is a live `struct ioctl_gntalloc_dealloc_gref`, which the kernel
        // only reads.
        let status = unsafe {
            libc::ioctl(
                self.file.as_raw_fd(),
                IOCTL_DEALLOC_GREF as libc::Ioctl,
                &request as *const DeallocGref,
            )
        };
        if status != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Maps `grants`' pages into this process, readable and writable.
    pub fn map(&self, grants: &Grants) -> io::Result<Mapping> {
        let offset = libc::off_t::try_from(grants.index)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let pages = grants.refs.len();
        // SAFETY: a fresh shared mapping of the device at the offset the kernel gave for these
        // pages; no existing memory is touched, and the result is checked before use.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                pages * PAGE_BYTES,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.file.as_raw_fd(),
                offset,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            base: base.cast(),
            pages,
        })
    }
}

impl Mapping {
    /// Pages mapped.
    pub fn pages(&self) -> usize {
        self.pages
    }

    fn word_ptr(&self, page: usize, word: usize) -> *mut u64 {
        assert!(
            page < self.pages && word < WORDS_PER_PAGE,
            "word outside the mapping"
        );
        self.base.wrapping_add(page * WORDS_PER_PAGE + word)
    }

    /// Word `word` of page `page`, little-endian.
    pub fn read(&self, page: usize, word: usize) -> u64 {
        let at = self.word_ptr(page, word);
        // SAFETY: `at` is an aligned word inside the live mapping (checked above); volatile, as
        // the grantee writes these pages too.
        u64::from_le(unsafe { at.read_volatile() })
    }

    /// Writes word `word` of page `page`, little-endian.
    pub fn write(&mut self, page: usize, word: usize, value: u64) {
        let at = self.word_ptr(page, word);
        // SAFETY: as in `read`; the mapping is writable.
        unsafe { at.write_volatile(value.to_le()) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base` and the length are exactly what `mmap` returned and was given; nothing
        // refers to the mapping once it is dropped.
        unsafe {
            libc::munmap(self.base.cast(), self.pages * PAGE_BYTES);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ioctl_numbers_encode_the_c_sizes() {
        assert_eq!(ALLOC_GREF_C_SIZE, 24);
        assert_eq!(IOCTL_ALLOC_GREF, 0x0018_4705);
        assert_eq!(IOCTL_DEALLOC_GREF, 0x0010_4706);
    }

    #[test]
    fn no_grant_is_asked_for_outside_one_to_max_refs() {
        // Refused before the device is used: any open file stands in for it.
        let gntalloc = Gntalloc {
            file: File::open("/dev/null").unwrap(),
        };
        for count in [0, MAX_REFS + 1] {
            let error = gntalloc.alloc(1, count).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        }
    }
}
