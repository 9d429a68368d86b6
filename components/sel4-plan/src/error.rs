//! Why a composition does not fit the seL4 PD ABI: the root task builds nothing from a refusal.

/// Why the plan refused a composition. C-like, zero reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum PlanError {
    /// The composition is not for the `sel4-xen-arm64` target.
    WrongTarget = 1,
    /// More components than the root task's ASID pool and fault badges can give a PD each.
    TooManyComponents = 2,
    /// A component needs more capability slots (reply slots, endpoints, hypercall capabilities)
    /// than its CNode has.
    CSpaceFull = 3,
    /// The shared regions, one stride each, run past the end of the region window.
    RegionsPastWindow = 4,
    /// The RAM the memory server may manage runs past the end of its RAM window.
    RamPastWindow = 5,
    /// A component id names no component of the composition.
    NoSuchComponent = 6,
    /// More RAM runs than a boot-info page holds.
    TooManyRamRuns = 7,
    /// A RAM run handed to the memory server is empty, not in whole large pages, past the RAM the
    /// manifest allows, or not after the run before it.
    MisplacedRamRun = 8,
    /// An endpoint's badge reaches the root task's badge (seL4 5.0 badges have 28 bits, one of
    /// them the endpoint bit).
    TooManyEndpoints = 9,
    /// A notification capability's bits reach the endpoint badge bit (seL4 5.0 badges have 28
    /// bits, the top one marking endpoints).
    NotificationBits = 10,
    /// The guest command line is longer than a boot-info page holds.
    CmdlineTooLong = 11,
}

impl PlanError {
    /// A one-line explanation, for logs and the CLI.
    pub const fn describe(self) -> &'static str {
        match self {
            PlanError::WrongTarget => "the manifest's image.target is not \"sel4-xen-arm64\"",
            PlanError::TooManyComponents => {
                "more components than the root task can give an ASID and a fault badge each"
            }
            PlanError::CSpaceFull => {
                "a component needs more capability slots than its CNode has (fewer endpoints or a smaller memory_server.pending_depth)"
            }
            PlanError::RegionsPastWindow => {
                "the shared regions do not fit the region window (fewer or smaller regions)"
            }
            PlanError::RamPastWindow => {
                "the RAM the memory server may manage does not fit its RAM window (a lower memory.ram_ceiling)"
            }
            PlanError::NoSuchComponent => "no component has that id",
            PlanError::TooManyRamRuns => "more RAM runs than a boot-info page holds",
            PlanError::TooManyEndpoints => {
                "more endpoints than seL4's 28-bit badges leave room for beside the root task's"
            }
            PlanError::NotificationBits => {
                "a notification's bits reach the endpoint badge bit (use bits 0 to 26)"
            }
            PlanError::CmdlineTooLong => {
                "the guest command line is longer than a boot-info page holds"
            }
            PlanError::MisplacedRamRun => {
                "a RAM run is empty, not in whole large pages, above the RAM ceiling or out of order"
            }
        }
    }
}

impl core::fmt::Display for PlanError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.describe())
    }
}
