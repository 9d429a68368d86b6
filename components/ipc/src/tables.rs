//! The composition tables: plain data naming components, the endpoints and notification
//! capabilities between them, and the shared regions they lend each other. The manifest build
//! generates these; runtimes validate them (see `checked_tables`, feature `std`) and run from them.

use crate::kernel::{Badge, EndpointId, LeaseId};

/// A component, numbered by its position in [`Tables::components`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentId(pub u16);

impl ComponentId {
    /// The position in the component table.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Who drives a component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ComponentKind {
    /// A [`crate::Handler`] run by the runtime.
    Handler,
    /// Driven from outside the runtime (a test, a scenario, a toolstack agent): it calls and
    /// notifies but is never called.
    External,
}

/// One component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ComponentSpec<'a> {
    /// A name for traces and errors.
    pub name: &'a str,
    /// Who drives it.
    pub kind: ComponentKind,
}

/// What a capability lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndpointKind {
    /// Call the server (it sees the badge in `protected`).
    Call,
    /// Raise notification bits on the server.
    Notify,
}

/// A capability `client` holds, numbered `id` in the client's own space, to `server`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointSpec {
    /// The holder.
    pub client: ComponentId,
    /// Its number as the holder sees it.
    pub id: EndpointId,
    /// The component on the other end.
    pub server: ComponentId,
    /// The badge the server sees on calls through it (unique per server among call endpoints).
    pub badge: Badge,
    /// Call or notify.
    pub kind: EndpointKind,
}

/// A shared region: `size` bytes owned by `owner`, who fills it and lends windows of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionSpec {
    /// The region's number.
    pub id: LeaseId,
    /// Its size in bytes.
    pub size: u32,
    /// The component that owns and lends it.
    pub owner: ComponentId,
}

/// A component other than the owner that may see a region while it is lent to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionGrant {
    /// The region.
    pub region: LeaseId,
    /// The component that may access it during a call that lends it.
    pub component: ComponentId,
    /// Whether it may write (else a lease asking for write access is refused).
    pub writable: bool,
}

/// The whole composition as plain slices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tables<'a> {
    /// Components, numbered by position.
    pub components: &'a [ComponentSpec<'a>],
    /// Call and notify capabilities.
    pub endpoints: &'a [EndpointSpec],
    /// Shared regions.
    pub regions: &'a [RegionSpec],
    /// Who besides the owner may see each region.
    pub grants: &'a [RegionGrant],
}

impl<'a> Tables<'a> {
    /// The call capabilities as `(caller, callee)` component indices: the edges
    /// [`CycleFinder`](crate::call_graph::CycleFinder) searches for a ring of calls.
    pub fn calls(&self) -> impl Iterator<Item = (usize, usize)> + Clone + 'a {
        (self.endpoints.iter())
            .filter(|e| e.kind == EndpointKind::Call)
            .map(|e| (e.client.index(), e.server.index()))
    }
}
