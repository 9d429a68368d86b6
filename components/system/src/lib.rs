//! The one assembly of a ballast system: the composition a manifest compiles to (ids, badges,
//! grants, regions, layout, sizing: plain `'static` data) and the functions every target calls to
//! build the hypercall gateway's caller table, the memory server's configuration and client
//! bindings, and the dispatch permissions from it. The host runtimes, the static images and seL4 differ in
//! how they run components, never in how the system is put together. Every image reads its guest
//! command line through the same [`CommandLine`].
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

mod budget;
mod capacity;
pub mod command_line;
pub mod composition;
mod error;
pub mod gateway;
pub mod memory;
mod permissions;

pub use budget::{
    ImageBudget, SEL4_PD_ARRAY_BYTES, SEL4_PD_IMAGE_BYTES, XEN_IMAGE_ARRAY_BYTES,
    XEN_IMAGE_STACK_BYTES,
};
pub use capacity::{Capacities, Capacity, BOOT_MAP_RAM_RUNS};
pub use command_line::{CommandLine, CommandLineError};
pub use composition::{
    Component, Composition, Endpoint, Grant, Kind, MemoryLayout, Notification, RamSource, Region,
    Reserved, ServerSizing, SimHost, Target, XenLimits,
};
pub use error::AssemblyError;
pub use permissions::ManifestPermissions;

pub use ballast_hypercall::LENT_RUNS as GATEWAY_LENT_RUNS;
pub use ballast_memory_server_core::Policy;
pub use ballast_xen::FrameRun;
