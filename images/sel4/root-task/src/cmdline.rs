//! The guest command line the loader left in the root task's image. The area
//! (`ballast_sel4_plan::cmdline`) is a static in a section of its own, which the linker script
//! makes a page-aligned loadable segment of its own; the image carries it marked and empty, and
//! the loader overwrites it with the domU's `/chosen/bootargs` before the kernel starts. The
//! compiler must not assume the static still holds what it was built with: it sits in an
//! `UnsafeCell` and is read once, a volatile word at a time (a volatile read of the whole area
//! would be unrolled into a load per byte).

use core::cell::UnsafeCell;

use ballast_sel4_plan::cmdline::{CmdlineArea, CmdlineError};
use zerocopy::IntoBytes;

/// The area's size in 64-bit words.
const AREA_WORDS: usize = size_of::<CmdlineArea>() / 8;
const _: () = assert!(size_of::<CmdlineArea>() == AREA_WORDS * 8);

/// The area, page-aligned so that it starts its segment.
#[repr(C, align(4096))]
struct LoaderArea(UnsafeCell<CmdlineArea>);

// SAFETY: nothing in the root task writes the area; it is read once, by `read`.
unsafe impl Sync for LoaderArea {}

#[used]
#[unsafe(link_section = ".cmdline")]
static AREA: LoaderArea = LoaderArea(UnsafeCell::new(CmdlineArea::EMPTY));

/// The area as the loader left it, checked to be one (marked, of this capacity).
pub fn read() -> Result<CmdlineArea, CmdlineError> {
    let first = AREA.0.get().cast::<u64>();
    let mut words = [0u64; AREA_WORDS];
    for (index, word) in words.iter_mut().enumerate() {
        // SAFETY: `AREA` is mapped, page-aligned and `AREA_WORDS` words long for the root task's
        // life (the loader wrote a whole area over it, or left it as built); nothing writes it
        // while the root task runs.
        *word = unsafe { first.add(index).read_volatile() };
    }
    CmdlineArea::read(words.as_bytes())
}
