//! Why a composition could not be assembled for a target: nothing is built from a refusal.

use ballast_hypercall::CallerTableError;
use ballast_memory_server_core::ConfigError;

/// Why the assembly refused. Each names the part of the manifest (or of the target) at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssemblyError {
    /// No component of a kind the system needs (a gateway, a memory server, a control agent).
    MissingComponent,
    /// A component lacks the endpoint to a server it must call (named by the two kinds).
    MissingEndpoint,
    /// No region is shared between two components whose calls carry a lease.
    MissingRegion,
    /// `xen.max_extent_order` is above the largest order Xen's ABI has.
    OrderTooLarge,
    /// The manifest asks for more than the target's compiled capacities hold.
    Capacity,
    /// The gateway refused its caller table.
    Gateway(CallerTableError),
    /// The memory server refused its configuration.
    Memory(ConfigError),
    /// The manifest names a growth range, and the target's frame access cannot reach space above
    /// RAM at run time ([`crate::Target::reaches_growth`]): the server could not scrub it.
    GrowthUnreachable,
}

impl AssemblyError {
    /// A one-line explanation, for logs and the CLI.
    pub const fn describe(self) -> &'static str {
        match self {
            AssemblyError::MissingComponent => {
                "the manifest lacks a hypercall gateway, a memory server or a control agent"
            }
            AssemblyError::MissingEndpoint => {
                "a component holds no capability to a server it must call"
            }
            AssemblyError::MissingRegion => {
                "no region is shared for the frame list or a client's lent runs"
            }
            AssemblyError::OrderTooLarge => "xen.max_extent_order is above Xen's largest order",
            AssemblyError::Capacity => {
                "the manifest's sizing exceeds the capacities this target was compiled with"
            }
            AssemblyError::Gateway(_) => "the hypercall gateway refused its caller table",
            AssemblyError::Memory(_) => "the memory server refused its configuration",
            AssemblyError::GrowthUnreachable => {
                "this target cannot map a growth range (memory.growth): the arm64 image maps RAM \
                 bank 0 only and seL4's root task maps the memory server its boot RAM only; \
                 remove memory.growth"
            }
        }
    }
}

impl core::fmt::Display for AssemblyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AssemblyError::Gateway(inner) => write!(f, "{} ({inner:?})", self.describe()),
            AssemblyError::Memory(inner) => write!(f, "{} ({inner:?})", self.describe()),
            _ => f.write_str(self.describe()),
        }
    }
}
