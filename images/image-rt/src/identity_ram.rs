//! Access to guest frames through the image's identity map (`ballast-frame-access`'s
//! `FrameMemory`): the frames of one range, chosen by the image away from everything it uses,
//! checked on every access. How a word that may be ballooned is read differs by platform
//! ([`WordReader`]): x86-64 PVH Xen emulates the missing RAM (the read returns all ones), arm64
//! Xen injects a data abort that only a read prepared for it survives.

use core::marker::PhantomData;

use ballast_frame_access::{FrameError, FrameMemory, FrameRun, Read, WORDS_PER_PAGE};
use ballast_xen::Gfn;

/// How the image reads one word of a frame that may be ballooned.
pub trait WordReader {
    /// Read the word at `address`.
    ///
    /// # Safety
    ///
    /// `address` is 8-byte aligned and mapped (identity) in RAM that nothing else in the image
    /// references.
    unsafe fn read_word(address: u64) -> Read;
}

/// Frames of one range, reached through the identity map, read with `R`.
#[derive(Debug)]
pub struct IdentityRam<R> {
    range: FrameRun,
    reader: PhantomData<R>,
}

impl<R: WordReader> IdentityRam<R> {
    /// Access to `range`.
    ///
    /// # Safety
    ///
    /// Every frame of `range` is identity-mapped RAM (or a frame Xen may have ballooned, mapped
    /// as RAM) that nothing else in the image references for as long as the access lives: not
    /// the image, its stack, its page tables, nor what Xen left at boot.
    pub unsafe fn new(range: FrameRun) -> IdentityRam<R> {
        IdentityRam {
            range,
            reader: PhantomData,
        }
    }

    fn page(&self, gfn: Gfn) -> Result<*mut u64, FrameError> {
        if self.range.contains(gfn.0) {
            Ok(gfn.address() as *mut u64)
        } else {
            Err(FrameError::NotScenarioRam)
        }
    }
}

impl<R: WordReader> FrameMemory for IdentityRam<R> {
    fn fill(&mut self, range: FrameRun, word: u64) -> Result<(), FrameError> {
        if range.frames == 0 {
            return Ok(());
        }
        if !self.range.contains_run(&range) {
            return Err(FrameError::NotScenarioRam);
        }
        let start = self.page(range.frame(0))?;
        // Within our range, which fits the address space: no overflow.
        let words = range.frames as usize * WORDS_PER_PAGE;
        // SAFETY: the whole of `range` lies in ours (checked with overflow-checked ends), which
        // `new`'s contract makes identity-mapped RAM that nothing else references.
        let words = unsafe { core::slice::from_raw_parts_mut(start, words) };
        words.fill(word);
        Ok(())
    }

    fn read(&self, gfn: Gfn, index: usize) -> Result<Read, FrameError> {
        if index >= WORDS_PER_PAGE {
            return Err(FrameError::WordOutOfPage);
        }
        let page = self.page(gfn)?;
        // SAFETY: as in `fill`, for one aligned word of one frame of our range.
        Ok(unsafe { R::read_word(page.wrapping_add(index) as u64) })
    }

    fn holds_only(&self, gfn: Gfn, word: u64) -> Result<bool, FrameError> {
        let page = self.page(gfn)?;
        // SAFETY: as in `fill`, for every word of one frame of our range; volatile because the
        // frame may just have come back from Xen. A frame Xen does not back reads as all ones
        // (x86-64) or raises a data abort that the image's vectors turn into the end of the run
        // (arm64): never a read of memory that is not ours.
        Ok((0..WORDS_PER_PAGE).all(|index| unsafe { page.add(index).read_volatile() } == word))
    }
}
