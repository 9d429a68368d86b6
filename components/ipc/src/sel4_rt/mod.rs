//! The seL4 runtime: each component its own protection domain (PD) with one thread, the same
//! handlers and generated dispatch as on the host and the static runtime, the kernel reached
//! through [`Sel4Kernel`] (implemented in the PDs over the seL4 system calls, and on the host by
//! [`host_kernel`], feature `std`).
//!
//! - A server PD runs [`Sel4Server`]: it waits on its endpoint, whose badges name the caller as
//!   the composition does, hands each call to its handler, answers at once with `ReplyRecv` or,
//!   when the handler keeps the token, saves the reply capability into a reply slot and answers
//!   later with `Send` on it. A token names its slot and the slot's generation, so a token kept
//!   past its call's end (answered, or its client dead) never reaches a later caller.
//! - A PD that serves nothing (a driver, a control agent) runs [`Sel4Client`].
//! - Messages travel in message registers ([`wire`]); bulk data in leases: the region is mapped by
//!   the root task at the same address in the lender and every PD it is granted to, and only the
//!   lease descriptor travels, checked on both sides with the rules every runtime shares.
//! - Notification bits arrive through the notification bound to the server's thread; the timer
//!   bit is the runtime's own. seL4 5.0 offers user level no timer service, and its kernel keeps
//!   the virtual timer for its own tick, so the runtime reads the clock (the generic timer's
//!   virtual count, readable at EL0) and, while a deadline is set, polls its endpoint and yields
//!   instead of blocking: a PD waiting for its timer costs idle time only, every other PD of the
//!   same priority still runs, and no interrupt path through the root task is needed. Ballast's
//!   deadlines are coarse (retry backoff of a second and more, pending timeouts of seconds).
//! - Client death: the root task receives the dead PD's fault and sends each server it held a
//!   call capability to a message from the root task's badge naming the dead client's badge
//!   there ([`Sel4Abi`]); the server voids that client's saved replies and runs
//!   [`Handler::client_died`](crate::Handler::client_died).

mod client;
pub mod kernel;
mod pd;
mod regions;
mod replies;
mod server;
pub mod wire;

#[cfg(feature = "std")]
pub mod host_kernel;

pub use client::Sel4Client;
pub use kernel::{KernelError, MessageInfo, Received, Sel4Kernel, MESSAGE_REGISTERS};
pub use server::{Sel4Server, Served};
pub use wire::Sel4Abi;

use crate::tables::{ComponentId, ComponentKind, EndpointKind, Tables};

/// Why the seL4 runtime refused its composition, component or memory. C-like, nonzero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Sel4Error {
    /// The component is not in the composition.
    UnknownComponent = 1,
    /// A server runtime was asked for an external component, or a client runtime for a handler.
    WrongKind = 2,
    /// Two call endpoints of the server carry the same badge.
    DuplicateBadge = 3,
    /// A call badge of the server does not fit below the ABI's endpoint bit, or reads as the root
    /// task's badge.
    BadgeOutOfRange = 4,
    /// The runtime has no reply slot (or more than a token can name).
    ReplySlots = 5,
    /// The PD maps a region the component neither owns nor is granted.
    RegionNotShared = 6,
    /// The PD maps a region read-only where the component may write it, or the reverse.
    RegionAccessMismatch = 7,
    /// The PD maps a region at other than its declared size.
    RegionSizeMismatch = 8,
    /// The PD does not map a region the component owns or is granted.
    MissingRegionMemory = 9,
    /// The scratch buffer is smaller than a region the component is granted.
    ScratchTooSmall = 10,
}

/// `me` must be a component of `tables` of `kind`.
fn check_component(
    tables: &Tables<'_>,
    me: ComponentId,
    kind: ComponentKind,
) -> Result<(), Sel4Error> {
    let spec = tables
        .components
        .get(me.index())
        .ok_or(Sel4Error::UnknownComponent)?;
    if spec.kind == kind {
        Ok(())
    } else {
        Err(Sel4Error::WrongKind)
    }
}

/// The call badges of server `me` must be unique and read back as calls under `abi`.
fn check_badges(tables: &Tables<'_>, me: ComponentId, abi: &Sel4Abi) -> Result<(), Sel4Error> {
    let calls =
        || (tables.endpoints.iter()).filter(|e| e.server == me && e.kind == EndpointKind::Call);
    for (at, endpoint) in calls().enumerate() {
        let badge = u64::from(endpoint.badge.0);
        if badge == 0
            || badge >= abi.endpoint_badge_bit
            || abi.endpoint_badge(endpoint.badge) == abi.root_task_badge
        {
            return Err(Sel4Error::BadgeOutOfRange);
        }
        if calls().take(at).any(|e| e.badge == endpoint.badge) {
            return Err(Sel4Error::DuplicateBadge);
        }
    }
    Ok(())
}
