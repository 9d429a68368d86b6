//! A page shared with another domain (a xenstore or console ring Xen's toolstack set up), reached
//! through the image's mapping: the `SharedPage` of `ballast_xen::ring` over real memory. Index
//! words are atomics (acquire loads, release stores); ring bytes are copied with volatile
//! accesses, since the other domain writes them whenever it likes.

use core::sync::atomic::{AtomicU32, Ordering};

use ballast_xen::ring::SharedPage;

/// Bytes of the page.
const PAGE_BYTES: usize = 4096;

/// A mapped page shared with another domain.
#[derive(Debug)]
pub struct MappedPage {
    base: *mut u8,
}

// SAFETY: a `MappedPage` is the one handle to its page (`new`'s contract) and carries no
// thread-bound state: moving it to another context moves the only access with it.
unsafe impl Send for MappedPage {}

impl MappedPage {
    /// The page mapped at `address`.
    ///
    /// # Safety
    /// `address` must be 4 KiB-aligned, mapped readable and writable for the image's life, and
    /// shared only with the other domain: no Rust reference may point into it, and only this one
    /// `MappedPage` may exist for it.
    pub unsafe fn new(address: u64) -> MappedPage {
        MappedPage {
            base: address as *mut u8,
        }
    }

    fn index_word(&self, offset: usize) -> &AtomicU32 {
        assert!(offset.is_multiple_of(4) && offset + 4 <= PAGE_BYTES);
        // SAFETY: the word lies inside the page (checked above) and is 4-aligned; `new`'s
        // contract keeps the page mapped and free of Rust references; the other domain updates
        // it with atomic stores too.
        unsafe { AtomicU32::from_ptr(self.base.add(offset) as *mut u32) }
    }

    fn byte(&self, offset: usize) -> *mut u8 {
        assert!(offset < PAGE_BYTES);
        // SAFETY: inside the page (checked above).
        unsafe { self.base.add(offset) }
    }
}

impl SharedPage for MappedPage {
    fn load_u32(&self, offset: usize) -> u32 {
        self.index_word(offset).load(Ordering::Acquire)
    }

    fn store_u32(&mut self, offset: usize, value: u32) {
        self.index_word(offset).store(value, Ordering::Release);
    }

    fn read(&self, offset: usize, out: &mut [u8]) {
        for (index, slot) in out.iter_mut().enumerate() {
            // SAFETY: `byte` checks the offset; a volatile read tolerates the other domain
            // writing the byte meanwhile.
            *slot = unsafe { self.byte(offset + index).read_volatile() };
        }
    }

    fn write(&mut self, offset: usize, bytes: &[u8]) {
        for (index, value) in bytes.iter().enumerate() {
            // SAFETY: as in `read`, for a volatile write.
            unsafe { self.byte(offset + index).write_volatile(*value) };
        }
    }
}
