//! Why the root task stopped building the system: nothing starts after one of these.

/// Why the root task refused or failed. C-like, zero reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum RootError {
    /// The composition does not fit the PD ABI (the plan says why).
    Plan = 1,
    /// No untyped memory left for an object of the size asked.
    OutOfMemory = 2,
    /// The root task's CNode has no free slot left.
    OutOfSlots = 3,
    /// More untyped capabilities than the root task tracks.
    TooManyUntypeds = 4,
    /// A kernel invocation failed (logged with the kernel's error).
    Kernel = 5,
    /// A PD's image segment lies outside the image window, or its pages need more page tables
    /// than the root task tracks.
    ImageOutsideWindow = 6,
    /// The memory server's RAM falls in more runs than a boot-info page holds.
    TooManyRamRuns = 7,
    /// A PD needs more page tables or directories than the root task tracks.
    TooManyTables = 8,
    /// The command-line area the loader fills is missing or holds no readable command line
    /// (logged with why).
    Cmdline = 9,
}

impl RootError {
    /// A one-line explanation, for the console.
    pub const fn describe(self) -> &'static str {
        match self {
            RootError::Plan => "the composition does not fit the seL4 PD ABI",
            RootError::OutOfMemory => "no untyped memory left for a kernel object",
            RootError::OutOfSlots => "the root task's CNode is full",
            RootError::TooManyUntypeds => "more untyped capabilities than the root task tracks",
            RootError::Kernel => "a kernel invocation failed",
            RootError::ImageOutsideWindow => "a PD image segment lies outside the image window",
            RootError::TooManyRamRuns => "the memory server's RAM falls in too many runs",
            RootError::TooManyTables => "a PD needs more paging structures than tracked",
            RootError::Cmdline => "the loader handed over no readable command line",
        }
    }
}

impl core::fmt::Display for RootError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.describe())
    }
}
