//! The manifest's grants as generated dispatch asks for them: may this badge call this op of
//! this interface on this server?

use ballast_interfaces::support::Permissions;
use ballast_ipc::Badge;

use crate::Composition;

/// The grants callers hold on one server, read from the composition.
#[derive(Debug, Clone, Copy)]
pub struct ManifestPermissions {
    composition: &'static Composition,
    server: u16,
}

impl ManifestPermissions {
    /// The permissions callers have on `server`.
    pub const fn new(composition: &'static Composition, server: u16) -> ManifestPermissions {
        ManifestPermissions {
            composition,
            server,
        }
    }
}

impl Permissions for ManifestPermissions {
    fn allows(&self, badge: Badge, interface: u16, op: u16) -> bool {
        self.composition.allows(self.server, badge.0, interface, op)
    }
}
