//! The memory server's RAM as it reaches it under seL4: the root task maps the frames it manages
//! (large pages retyped from untyped memory before any of them went to Xen) into the server's
//! RAM window, gfn `g` at the plan's `ram_window_address(g)`, and names them in the boot-info
//! page. `ballast-frame-access`'s `FrameMemory` over that window, checked on every access against
//! those runs: the server scrubs through it before frames go back to Xen. A frame Xen does not
//! back faults on access (no PD survives a data abort): read only frames known to be populated.

use ballast_frame_access::{FrameError, FrameMemory, FrameRun, Read, WORDS_PER_PAGE};
use ballast_sel4_plan::boot_info::BOOT_RAM_RUNS;
use ballast_sel4_plan::vspace::ram_window_address;
use ballast_xen::Gfn;

/// The RAM window over the runs the boot-info page names.
#[derive(Debug)]
pub struct WindowRam {
    runs: heapless::Vec<FrameRun, BOOT_RAM_RUNS>,
}

impl WindowRam {
    /// The window over `runs`.
    ///
    /// # Safety
    ///
    /// Every frame of `runs` is mapped read-write in this PD at its window address (the root task
    /// did so for the runs it wrote in the boot-info page), and nothing else in the PD references
    /// those frames for as long as the access lives.
    pub unsafe fn new(runs: impl Iterator<Item = FrameRun>) -> WindowRam {
        WindowRam {
            runs: runs.take(BOOT_RAM_RUNS).collect(),
        }
    }

    fn holds(&self, range: &FrameRun) -> bool {
        self.runs.iter().any(|run| run.contains_run(range))
    }

    /// The window address of `gfn`, one of ours.
    fn page(&self, gfn: Gfn) -> Result<*mut u64, FrameError> {
        if !self.runs.iter().any(|run| run.contains(gfn.0)) {
            return Err(FrameError::NotScenarioRam);
        }
        let address = ram_window_address(gfn.0).ok_or(FrameError::NotScenarioRam)?;
        Ok(address as *mut u64)
    }
}

impl FrameMemory for WindowRam {
    fn fill(&mut self, range: FrameRun, word: u64) -> Result<(), FrameError> {
        if range.frames == 0 {
            return Ok(());
        }
        if !self.holds(&range) {
            return Err(FrameError::NotScenarioRam);
        }
        let start = self.page(range.frame(0))?;
        let words = range.frames as usize * WORDS_PER_PAGE;
        // SAFETY: the whole of `range` lies in one of our runs, which `new`'s contract makes
        // mapped read-write, contiguously in the window (gfn order), and referenced by nothing
        // else.
        let words = unsafe { core::slice::from_raw_parts_mut(start, words) };
        words.fill(word);
        Ok(())
    }

    fn read(&self, gfn: Gfn, index: usize) -> Result<Read, FrameError> {
        if index >= WORDS_PER_PAGE {
            return Err(FrameError::WordOutOfPage);
        }
        let page = self.page(gfn)?;
        // SAFETY: as in `fill`, one aligned word of one of our frames; volatile, as the frame's
        // contents may come from Xen.
        Ok(Read::Word(unsafe { page.add(index).read_volatile() }))
    }

    fn holds_only(&self, gfn: Gfn, word: u64) -> Result<bool, FrameError> {
        let page = self.page(gfn)?;
        // SAFETY: as in `read`, every word of one of our frames.
        Ok((0..WORDS_PER_PAGE).all(|index| unsafe { page.add(index).read_volatile() } == word))
    }
}
