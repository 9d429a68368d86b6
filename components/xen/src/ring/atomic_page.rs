//! A [`SharedPage`] in this program's own memory, made of atomics: what host tests share
//! between the two sides of a ring, each side on its own thread if it likes.

use core::sync::atomic::{AtomicU32, Ordering};

use super::SharedPage;
use crate::PAGE_SIZE;

const WORDS: usize = PAGE_SIZE / 4;

/// A 4 KiB page of atomic words. `&AtomicPage` is a [`SharedPage`]: each side of a ring holds
/// its own reference. Bytes are read and written with relaxed atomic operations on their word,
/// indexes with acquire loads and release stores, as the trait's contract asks.
#[derive(Debug)]
pub struct AtomicPage {
    words: [AtomicU32; WORDS],
}

impl AtomicPage {
    /// A zeroed page.
    pub const fn new() -> AtomicPage {
        AtomicPage {
            words: [const { AtomicU32::new(0) }; WORDS],
        }
    }
}

impl Default for AtomicPage {
    fn default() -> Self {
        AtomicPage::new()
    }
}

/// The word holding byte `offset`, and a mask selecting that byte in it.
fn byte_in_word(offset: usize) -> (usize, u32) {
    let mut mask = [0u8; 4];
    mask[offset % 4] = 0xff;
    (offset / 4, u32::from_ne_bytes(mask))
}

impl SharedPage for &AtomicPage {
    fn load_u32(&self, offset: usize) -> u32 {
        u32::from_le(self.words[offset / 4].load(Ordering::Acquire))
    }

    fn store_u32(&mut self, offset: usize, value: u32) {
        self.words[offset / 4].store(value.to_le(), Ordering::Release);
    }

    fn read(&self, offset: usize, out: &mut [u8]) {
        for (at, byte) in (offset..).zip(out.iter_mut()) {
            let word = self.words[at / 4].load(Ordering::Relaxed);
            *byte = word.to_ne_bytes()[at % 4];
        }
    }

    fn write(&mut self, offset: usize, bytes: &[u8]) {
        for (at, byte) in (offset..).zip(bytes) {
            let (word, mask) = byte_in_word(at);
            let value = u32::from_ne_bytes([*byte; 4]) & mask;
            self.words[word].fetch_and(!mask, Ordering::Relaxed);
            self.words[word].fetch_or(value, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_words_share_the_little_endian_layout_of_the_real_page() {
        let page = AtomicPage::new();
        let mut side = &page;
        side.write(6, &[0x11, 0x22, 0x33, 0x44, 0x55]);
        assert_eq!(side.load_u32(8), 0x0055_4433);
        side.store_u32(4, 0xa1b2_c3d4);
        let mut out = [0u8; 6];
        side.read(3, &mut out);
        assert_eq!(out, [0, 0xd4, 0xc3, 0xb2, 0xa1, 0x33]);
    }
}
