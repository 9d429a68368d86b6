//! A PD's VSpace: where its image, stack, IPC buffer, boot-info page, shared regions and (memory
//! server) managed RAM sit, and with which rights.
//!
//! seL4 5.0 aarch64 facts this layout relies on: 4 KiB small pages and 2 MiB large pages; a VSpace
//! is a page global directory (each entry 512 GiB) over page upper directories (1 GiB each), page
//! directories (2 MiB each) and page tables (4 KiB pages); a large page takes a page-directory
//! entry, so it needs no page table. Userland's addresses lie in the lower half (TTBR0), below the
//! 48-bit limit. The IPC buffer must be aligned to 512 bytes (a page is). seL4 maps only what the
//! root task maps and never pages on demand: everything below is mapped before the PD starts.
//!
//! Everything but the RAM window lies in the first GiB, under one page upper directory and one page
//! directory; the RAM window lies in the second page-global-directory entry, so only the memory
//! server has a second page upper directory.
//!
//! A region is mapped into every component that shares it, for the life of the system: the lender
//! and the components it may lend it writable to read-write, the others read-only. That the lease
//! is only valid during the call that names it is the runtime's rule; the MMU enforces the rights.

use ballast_xen::FrameRun;

/// Bytes in a small page.
pub const PAGE_BYTES: u64 = 1 << 12;
/// Bytes in a large page (one page-directory entry).
pub const LARGE_PAGE_BYTES: u64 = 1 << 21;
/// Bytes one page directory covers (one page-upper-directory entry).
pub const DIRECTORY_BYTES: u64 = 1 << 30;
/// Bytes one page upper directory covers (one page-global-directory entry).
pub const UPPER_DIRECTORY_BYTES: u64 = 1 << 39;

/// Where every PD's ELF is linked: its loadable segments lie in `[IMAGE_BASE, IMAGE_END)`.
pub const IMAGE_BASE: u64 = 0x40_0000;
/// The first address past the PD image's segments.
pub const IMAGE_END: u64 = 0x100_0000;
/// Bytes of every PD's stack.
pub const STACK_BYTES: u64 = 256 * 1024;
/// The top of every PD's stack (its initial stack pointer); the page above stays unmapped.
pub const STACK_TOP: u64 = 0x140_0000;
/// The lowest address of the stack; the pages below, down to [`IMAGE_END`], stay unmapped.
pub const STACK_BASE: u64 = STACK_TOP - STACK_BYTES;
/// Every PD's IPC buffer (one page, read-write).
pub const IPC_BUFFER: u64 = STACK_TOP + PAGE_BYTES;
/// Every PD's boot-info page ([`crate::PdBootInfo`], one page, read-only).
pub const BOOT_INFO: u64 = IPC_BUFFER + 2 * PAGE_BYTES;
/// Where the shared regions start: region `i` at `REGION_BASE + i * stride`.
pub const REGION_BASE: u64 = 0x200_0000;
/// The first address past the region window (the end of the first GiB).
pub const REGION_END: u64 = DIRECTORY_BYTES;
/// The memory server's RAM window: guest frame `gfn` at `RAM_WINDOW + gfn * PAGE_BYTES`.
pub const RAM_WINDOW: u64 = UPPER_DIRECTORY_BYTES;
/// Bytes of the RAM window: it maps guest-physical addresses below this.
pub const RAM_WINDOW_BYTES: u64 = UPPER_DIRECTORY_BYTES;

// The areas are ordered and apart: image, guard, stack, guard page, IPC buffer, guard page,
// boot-info page, regions, and the RAM window past the first GiB.
const _: () = assert!(IMAGE_BASE < IMAGE_END && IMAGE_END < STACK_BASE);
const _: () = assert!(STACK_TOP < IPC_BUFFER && IPC_BUFFER + PAGE_BYTES < BOOT_INFO);
const _: () = assert!(BOOT_INFO + PAGE_BYTES <= REGION_BASE && REGION_BASE < REGION_END);
const _: () = assert!(REGION_END <= RAM_WINDOW);
// `ballast check` holds the memory server PD's static arrays to this window's budget.
const _: () = assert!(IMAGE_END - IMAGE_BASE == ballast_system::SEL4_PD_IMAGE_BYTES as u64);

/// Small pages of every PD's stack.
pub const STACK_PAGES: u64 = STACK_BYTES / PAGE_BYTES;

/// Where the memory server sees guest frame `gfn`, if the window reaches it.
pub const fn ram_window_address(gfn: u64) -> Option<u64> {
    if gfn < RAM_WINDOW_BYTES / PAGE_BYTES {
        Some(RAM_WINDOW + gfn * PAGE_BYTES)
    } else {
        None
    }
}

/// `bytes` rounded up to whole small pages.
pub const fn page_round(bytes: u64) -> u64 {
    bytes.div_ceil(PAGE_BYTES) * PAGE_BYTES
}

/// One shared region as one component maps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionMapping {
    /// The region (its `LeaseId`).
    pub region: u16,
    /// Where it is mapped, in this component and every other that shares it.
    pub address: u64,
    /// Bytes mapped: the region's size in whole small pages.
    pub bytes: u64,
    /// Whether this component maps it read-write (else read-only).
    pub writable: bool,
    /// Whether this component is the region's lender (its frames are created for it).
    pub lender: bool,
}

impl RegionMapping {
    /// Small pages mapped.
    pub const fn pages(&self) -> u64 {
        self.bytes / PAGE_BYTES
    }
}

/// Counts the distinct spans of `span_bytes` (2 MiB: page tables; 1 GiB: page directories) a
/// series of address ranges touches, for ranges given in ascending address order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanCounter {
    span_bytes: u64,
    last: Option<u64>,
    spans: u64,
}

impl SpanCounter {
    /// No ranges yet; spans of `span_bytes` (a power of two).
    pub const fn new(span_bytes: u64) -> SpanCounter {
        SpanCounter {
            span_bytes,
            last: None,
            spans: 0,
        }
    }

    /// Adds `[start, start + bytes)`; `start` is at or above every earlier range's start.
    pub const fn add(mut self, start: u64, bytes: u64) -> SpanCounter {
        if bytes == 0 {
            return self;
        }
        let first = start / self.span_bytes;
        let last = (start + (bytes - 1)) / self.span_bytes;
        let from = match self.last {
            Some(counted) if counted >= first => counted + 1,
            _ => first,
        };
        if last >= from {
            self.spans += last - from + 1;
            self.last = Some(last);
        }
        self
    }

    /// Distinct spans touched.
    pub const fn spans(&self) -> u64 {
        self.spans
    }
}

/// The page tables an image whose loadable segments span `[start, end)` needs.
pub const fn image_page_tables(start: u64, end: u64) -> u64 {
    if end <= start {
        0
    } else {
        SpanCounter::new(LARGE_PAGE_BYTES)
            .add(start, end - start)
            .spans()
    }
}

/// The page tables every PD needs besides its image and regions: the stack's, and the one of the
/// IPC buffer and boot-info page.
pub const fn fixed_page_tables() -> u64 {
    SpanCounter::new(LARGE_PAGE_BYTES)
        .add(STACK_BASE, STACK_BYTES)
        .add(IPC_BUFFER, PAGE_BYTES)
        .add(BOOT_INFO, PAGE_BYTES)
        .spans()
}

/// The page directories the memory server's RAM window needs to map `runs` (ascending, inside
/// the window) in large pages.
pub fn ram_window_directories(runs: &[FrameRun]) -> u64 {
    let counter = runs
        .iter()
        .fold(SpanCounter::new(DIRECTORY_BYTES), |counter, run| {
            counter.add(
                RAM_WINDOW + run.start() * PAGE_BYTES,
                run.frames * PAGE_BYTES,
            )
        });
    counter.spans()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_areas_are_page_aligned() {
        for address in [
            IMAGE_BASE, IMAGE_END, STACK_BASE, STACK_TOP, IPC_BUFFER, BOOT_INFO,
        ] {
            assert_eq!(address % PAGE_BYTES, 0, "{address:#x}");
        }
        assert_eq!(REGION_BASE % LARGE_PAGE_BYTES, 0);
        assert_eq!(RAM_WINDOW % UPPER_DIRECTORY_BYTES, 0);
    }

    #[test]
    fn the_ram_window_maps_guest_physical_addresses_linearly() {
        assert_eq!(ram_window_address(0x40000), Some(RAM_WINDOW + 0x4000_0000));
        let last = RAM_WINDOW_BYTES / PAGE_BYTES - 1;
        assert_eq!(
            ram_window_address(last),
            Some(RAM_WINDOW + RAM_WINDOW_BYTES - PAGE_BYTES)
        );
        assert_eq!(ram_window_address(last + 1), None);
    }

    #[test]
    fn spans_are_counted_once_however_ranges_share_them() {
        let two_in_one = SpanCounter::new(LARGE_PAGE_BYTES)
            .add(0x20_0000, 0x1000)
            .add(0x3f_f000, 0x1000);
        assert_eq!(two_in_one.spans(), 1);
        let straddling = SpanCounter::new(LARGE_PAGE_BYTES)
            .add(0x1f_f000, 0x2000)
            .add(0x20_0000, 0x1000);
        assert_eq!(straddling.spans(), 2);
        let apart = SpanCounter::new(LARGE_PAGE_BYTES)
            .add(0, 0x1000)
            .add(0x40_0000, 0x1000);
        assert_eq!(apart.spans(), 2);
        assert_eq!(SpanCounter::new(LARGE_PAGE_BYTES).add(0x1000, 0).spans(), 0);
        assert_eq!(image_page_tables(IMAGE_BASE, IMAGE_END), 6);
        assert_eq!(image_page_tables(IMAGE_BASE, IMAGE_BASE + 0x1000), 1);
        assert_eq!(image_page_tables(IMAGE_BASE, IMAGE_BASE), 0);
        assert_eq!(fixed_page_tables(), 2);
    }

    #[test]
    fn the_ram_window_needs_a_directory_per_gib_its_runs_touch() {
        let low = FrameRun::span(0x40000, 0x50000);
        let next_gib = FrameRun::span(0x80000, 0x80200);
        assert_eq!(ram_window_directories(&[low]), 1);
        assert_eq!(ram_window_directories(&[low, next_gib]), 2);
        assert_eq!(
            ram_window_directories(&[FrameRun::span(0x3fe00, 0x40200)]),
            2
        );
        assert_eq!(ram_window_directories(&[]), 0);
    }
}
