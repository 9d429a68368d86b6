//! Writing a frame's bytes before it goes to a PD: the root task maps it for a moment at one
//! address of its own VSpace, fills it, and unmaps it (a frame capability maps once, so the frame
//! is free to be mapped into the PD afterwards).
//!
//! The scratch address lies in the second 512 GiB of the root task's VSpace, where the kernel
//! made no paging structure for the root task's image; the root task makes them on first use.
//! Data caches are physically indexed (Cortex-A57), so the PD sees the bytes at its own address;
//! the instruction cache is made to agree for code pages (`Page_Unify_Instruction`, which needs
//! the frame mapped, so it runs before the unmap).

use core::sync::atomic::{compiler_fence, Ordering};

use ballast_sel4_plan::vspace::{PAGE_BYTES, UPPER_DIRECTORY_BYTES};
use ballast_sel4_root_task::RootError;
use ballast_sel4_sys::{Cap, SmallPage};

use crate::kernel::{failed, Kernel};
use crate::space::AddressSpace;

/// Where the root task maps a frame it fills.
const SCRATCH: u64 = UPPER_DIRECTORY_BYTES;

/// The root task's scratch mapping.
#[derive(Debug)]
pub struct Scratch {
    space: AddressSpace,
}

impl Scratch {
    /// Over the root task's own VSpace.
    pub fn new() -> Scratch {
        Scratch {
            space: AddressSpace::root_task(),
        }
    }

    /// Lets `fill` write the bytes of `frame` (zero on entry: the kernel zeroes new frames),
    /// then readies them as code if `executable`.
    pub fn write(
        &mut self,
        kernel: &mut Kernel,
        frame: Cap<SmallPage>,
        executable: bool,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), RootError> {
        self.space.map_page(kernel, frame, SCRATCH, true, false)?;
        // SAFETY: `frame` is now mapped read-write at SCRATCH in this thread's VSpace, one page of
        // normal memory, and nothing else in the root task refers to that address; the slice
        // ends before the unmap below, which the fence keeps after every write through it.
        let page = unsafe {
            core::slice::from_raw_parts_mut(
                core::ptr::with_exposed_provenance_mut::<u8>(SCRATCH as usize),
                PAGE_BYTES as usize,
            )
        };
        fill(page);
        compiler_fence(Ordering::SeqCst);
        if executable {
            frame
                .unify_instruction(0, PAGE_BYTES)
                .map_err(|error| failed("Page_Unify_Instruction", error))?;
        }
        frame.unmap().map_err(|error| failed("Page_Unmap", error))
    }
}
