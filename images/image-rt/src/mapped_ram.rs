//! Access to guest frames through a mapping of RAM (`ballast-frame-access`'s `FrameMemory`): the
//! frames of a few runs, chosen away from everything the image uses, at the addresses a
//! [`FrameMap`] gives (the static images' identity map, the seL4 memory server's RAM window),
//! checked on every access. How a word that may be ballooned is read differs by platform
//! ([`WordReader`]): x86-64 PVH Xen emulates the missing RAM (the read returns all ones), arm64
//! Xen injects a data abort that only a read prepared for it survives (and that no seL4
//! protection domain survives: there, only frames known to be populated are read).

use core::marker::PhantomData;

use ballast_frame_access::{FrameError, FrameMemory, FrameRun, Read, WORDS_PER_PAGE};
use ballast_xen::Gfn;

/// Where the image maps guest frames.
pub trait FrameMap {
    /// The address of `gfn`'s frame, if the mapping reaches it. The mapping is linear: the frames
    /// of a run the mapping reaches lie at consecutive pages.
    fn address(gfn: Gfn) -> Option<u64>;
}

/// The identity map: a frame at its guest-physical address.
#[derive(Debug)]
pub enum Identity {}

impl FrameMap for Identity {
    fn address(gfn: Gfn) -> Option<u64> {
        Some(gfn.address())
    }
}

/// How the image reads one word of a frame that may be ballooned.
pub trait WordReader {
    /// Read the word at `address`.
    ///
    /// # Safety
    ///
    /// `address` is 8-byte aligned and mapped in RAM that nothing else in the image references.
    unsafe fn read_word(address: u64) -> Read;
}

/// Reads a word plainly: where Xen emulates a ballooned frame (x86-64 PVH: it reads as all ones),
/// or where only populated frames are read.
#[derive(Debug)]
pub enum VolatileRead {}

impl WordReader for VolatileRead {
    unsafe fn read_word(address: u64) -> Read {
        // SAFETY: the address is aligned, mapped and ours (this function's contract); volatile
        // because the frame's contents may come from Xen.
        Read::Word(unsafe { (address as *const u64).read_volatile() })
    }
}

/// Frames of up to `RUNS` runs, reached through the mapping `M`, read with `R`.
#[derive(Debug)]
pub struct MappedRam<M, R, const RUNS: usize> {
    runs: heapless::Vec<FrameRun, RUNS>,
    access: PhantomData<(M, R)>,
}

/// Frames of up to `RUNS` runs, reached through the identity map.
pub type IdentityRam<R, const RUNS: usize> = MappedRam<Identity, R, RUNS>;

impl<M: FrameMap, R: WordReader, const RUNS: usize> MappedRam<M, R, RUNS> {
    /// Access to `runs` (the first `RUNS` of them).
    ///
    /// # Safety
    ///
    /// Every frame of `runs` is mapped read-write RAM at its `M` address (or a frame Xen may have
    /// ballooned, mapped as RAM), and nothing else in the image references those frames for as
    /// long as the access lives: not the image, its stack, its page tables, nor what Xen left at
    /// boot.
    pub unsafe fn new(runs: impl IntoIterator<Item = FrameRun>) -> Self {
        MappedRam {
            runs: runs.into_iter().take(RUNS).collect(),
            access: PhantomData,
        }
    }

    /// The address of `gfn`, one of ours.
    fn page(&self, gfn: Gfn) -> Result<*mut u64, FrameError> {
        if !self.runs.iter().any(|run| run.contains(gfn.0)) {
            return Err(FrameError::NotScenarioRam);
        }
        let address = M::address(gfn).ok_or(FrameError::NotScenarioRam)?;
        Ok(address as *mut u64)
    }
}

impl<M: FrameMap, R: WordReader, const RUNS: usize> FrameMemory for MappedRam<M, R, RUNS> {
    fn fill(&mut self, range: FrameRun, word: u64) -> Result<(), FrameError> {
        if range.frames == 0 {
            return Ok(());
        }
        if !self.runs.iter().any(|run| run.contains_run(&range)) {
            return Err(FrameError::NotScenarioRam);
        }
        let start = self.page(range.frame(0))?;
        // Within one of our runs, which fits the address space: no overflow.
        let words = range.frames as usize * WORDS_PER_PAGE;
        // SAFETY: the whole of `range` lies in one of our runs (checked with overflow-checked
        // ends), which `new`'s contract makes mapped RAM that nothing else references, at
        // consecutive pages (`FrameMap`'s mapping is linear).
        let words = unsafe { core::slice::from_raw_parts_mut(start, words) };
        words.fill(word);
        Ok(())
    }

    fn read(&self, gfn: Gfn, index: usize) -> Result<Read, FrameError> {
        if index >= WORDS_PER_PAGE {
            return Err(FrameError::WordOutOfPage);
        }
        let page = self.page(gfn)?;
        // SAFETY: as in `fill`, for one aligned word of one of our frames.
        Ok(unsafe { R::read_word(page.wrapping_add(index) as u64) })
    }

    fn write(&mut self, gfn: Gfn, index: usize, word: u64) -> Result<(), FrameError> {
        if index >= WORDS_PER_PAGE {
            return Err(FrameError::WordOutOfPage);
        }
        let page = self.page(gfn)?;
        // SAFETY: as in `fill`, for one aligned word of one of our frames; volatile because
        // another domain may read it through a grant.
        unsafe { page.add(index).write_volatile(word) };
        Ok(())
    }

    fn holds_only(&self, gfn: Gfn, word: u64) -> Result<bool, FrameError> {
        let page = self.page(gfn)?;
        // SAFETY: as in `fill`, for every word of one of our frames; volatile because the frame
        // may just have come back from Xen. A frame Xen does not back reads as all ones (x86-64)
        // or raises a data abort that ends the run (arm64): never a read of memory that is not
        // ours.
        Ok((0..WORDS_PER_PAGE).all(|index| unsafe { page.add(index).read_volatile() } == word))
    }
}
