//! The kernel abstraction every ballast component is written against, with seL4 semantics:
//! endpoints whose capabilities carry badges, call and reply-recv, reply tokens a server may keep
//! to answer later, notifications, and leases (shared regions for bulk data).
//!
//! A component is a [`Handler`]; a runtime owns the loop and calls it. Runtimes: host threads and
//! the deterministic scheduler (feature `std`), the static runtime for bare-metal images
//! ([`static_rt`]: no heap, one thread), and seL4 ([`sel4_rt`]: each component its own protection
//! domain).
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod call_graph;
pub mod kernel;
mod lease;
mod observed_sys;
pub mod sel4_rt;
pub mod static_rt;
pub mod tables;

#[cfg(feature = "std")]
pub mod checked_tables;
#[cfg(feature = "std")]
pub mod deterministic;
#[cfg(feature = "std")]
mod error;
#[cfg(feature = "std")]
pub mod host;

pub use kernel::{
    Badge, EndpointId, Handler, IncomingCall, IpcError, LeaseAccess, LeaseDescriptor, LeaseId,
    MessageHeader, NotificationBits, ReplyToken, Sys, HEADER_BYTES, MESSAGE_BYTES,
};
pub use observed_sys::ReplyObserved;
pub use tables::{
    ComponentId, ComponentKind, ComponentSpec, EndpointKind, EndpointSpec, RegionGrant, RegionSpec,
    Tables,
};

#[cfg(feature = "std")]
pub use checked_tables::{CheckedTables, TablesBuilder, TablesError};
#[cfg(feature = "std")]
pub use error::RuntimeError;
