//! The hypercall gateway: the only component holding the Hypervisor backend (real Xen or xen-sim).
//!
//! It knows nothing of ballooning. It holds a caller table built from the manifest (per caller
//! badge: the `Hypercall` ops it may call, one per Xen operation, the frame ranges it owns and,
//! given by the image at boot, the event-channel ports it may send on; for everyone: the maximum
//! extent order and frames per call) and refuses, with a typed error and without a hypercall,
//! any request that breaks it. From the memory server's notices it knows which frames each driver
//! borrowed, and lets drivers map grants only there ([`grant_book`]), and only grants of the
//! domains the manifest lists for each driver. What passes goes to Xen, and
//! Xen's answer comes back exactly. Over IPC it serves the generated `Hypercall` interface and
//! runs as a `ballast_ipc::Handler` ([`server`]).
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod caller_table;
mod checks;
pub mod counters;
pub mod error;
pub mod gateway;
pub mod grant_book;
mod grant_ops;
pub mod page_state;
pub mod server;

pub use ballast_interfaces::grants::{
    GrantMapEntry, GrantUnmapEntry, GRANTS_PER_CALL, GRANT_READONLY,
};
pub use ballast_xen::FrameRun;
pub use caller_table::{
    ranges_without, CallerEntry, CallerGrant, CallerTable, Limits, EVENT_PORTS_PER_CALLER,
    GRANT_DOMAINS_PER_CALLER,
};
pub use counters::{Counters, GatewayCounters, Rejections};
pub use error::{CallerTableError, EventPortError, GatewayError, QueryError};
pub use gateway::{op_of, Gateway};
pub use grant_book::{LENT_RUNS, MAPPED_GRANTS};
pub use page_state::bitmap_words;
pub use server::wire_error;
