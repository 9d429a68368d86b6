//! The ballast memory server's core: the balloon's decision logic, knowing nothing of IPC,
//! transport or Xen calling conventions; `ballast-memory-server` puts it behind the IPC
//! interfaces. It keeps the page model (every managed frame populated-free, reserved,
//! ballooned, lent or in flight, plus lending space beyond RAM) in statically sized structures,
//! steers the populated count to a target one bounded batch at a time through a
//! [`ReservationPort`], lends unpopulated frames to clients under quotas, and defers requests it
//! cannot meet yet.
//!
//! # How the glue drives it
//!
//! ```text
//! let mut core = BalloonCore::<LENT, CLIENTS, PENDING>::new(&config, &mut BITMAP_WORDS)?;
//! core.start(&mut port)?;                         // baseline against current_reservation;
//!                                                 // on PoD, first the unbacked frames out
//! log core.boot_report()                          // what the start did
//! on set_target(pages):   core.set_target(pages); run a step now
//! on a step (timer/now):  let o = core.balloon_step(&mut port, &mut scrubber, now_ns);
//!                         while let Some(s) = core.take_settled(&mut runs) { reply to s.ticket }
//!                         arm the timer for o.next_run_ns (None: idle until the next event)
//! on alloc_unpopulated:   Granted -> reply now; Pending(ticket) -> keep the reply token
//! on free_unpopulated / client_died: answer, then run a step (the balloon may shrink)
//! ```
//!
//! # Where it departs from the seed, and why
//!
//! - The start is safe on populate-on-demand (`memory` below `maxmem`): when Xen's
//!   `current_reservation` reads below the model's populated count, the difference goes back to
//!   Xen unscrubbed before anything touches it, then small batches until Xen's count falls, and
//!   only then is the baseline taken (Linux's rule for PVH/HVM guests, done by measurement).
//! - A target above what RAM can hold now (lent frames, deferred requests) is kept, and the
//!   worker steers to the reachable part (`Stats::reachable_target_pages`) instead of
//!   overwriting the target with the current count and cancelling: frames a client gives back
//!   later are then repopulated without a new target. A target above everything the server
//!   could ever populate ([`BalloonCore::max_target_pages`]: RAM, extra and growth) is the
//!   glue's to refuse (`TargetTooHigh`).
//! - Growth past boot memory (`Config::growth`, the seed's memory hotplug) is ballooned space
//!   that was never populated: the worker deflates into it last and inflates out of it first.
//! - A short decrease is accounted exactly instead of `BUG()`: the completed prefix is released;
//!   a failed 2 MiB extent is probed with `current_reservation` before and after, because Xen may
//!   have freed its leading pages. A call lost in transport (gateway death) or answered out of
//!   convention leaves the batch in flight until a probe settles it; nothing else moves meanwhile.
//! - A failed superpage call (either direction) makes the worker use 4 KiB extents until the next
//!   target, and reports `BpState::Done` so the retry at 4 KiB happens at once.
//! - Frames for clients come from the lending range first (no hypercall, no memory), then from
//!   ballooned RAM lowest first; a request that needs inflation is deferred, never blocking.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

mod balloon;
mod bitmap;
mod book;
mod chunk_map;
mod config;
mod frame_list;
mod lent_table;
mod page_map;
mod pending;
mod populated;
mod ports;
mod regions;
mod reserved;
mod scan;
mod schedule;
mod stats;
mod steering;
mod storage;

#[cfg(test)]
mod test_support;

pub use crate::balloon::{
    AllocOutcome, BalloonCore, BootReport, FrameState, InvariantViolation, StepOutcome, TuningError,
};
pub use crate::book::{ClientAccount, LendError, Settled, MAX_GRANT_RUNS};
pub use crate::chunk_map::BLOCK_WORDS as MIXED_CHUNK_BLOCK_WORDS;
pub use crate::config::{
    Config, ConfigError, Policy, PopulatedForm, Tunables, DEFAULT_MIXED_CHUNK_BLOCKS,
    MAX_BATCH_EXTENTS,
};
pub use crate::lent_table::{ClientId, Ticket};
pub use crate::pending::AllocRequest;
pub use crate::ports::{FrameScrubber, HypervisorPort, PortError, ReservationPort};
pub use crate::regions::MAX_REGIONS;
pub use crate::schedule::BpState;
pub use crate::stats::{Counters, Stats, COUNTED_ORDERS};
pub use crate::storage::Storage;
pub use ballast_xen::FrameRun;
