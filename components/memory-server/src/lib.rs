//! The ballast memory server core: the balloon's decision logic, knowing nothing of IPC
//! transport or Xen calling conventions. It keeps the page model (every managed frame
//! populated-free, reserved, ballooned, lent or in flight, plus lending space beyond RAM) in
//! statically sized structures, steers the populated count to a target one bounded batch at a
//! time through a [`ReservationPort`], lends unpopulated frames to clients under quotas, and
//! defers requests it cannot meet yet.
#![no_std]
#![forbid(unsafe_code)]

pub mod balloon;
pub mod bitmap;
pub mod config;
pub mod invariant;
pub mod lending;
pub mod lent_table;
pub mod pending;
pub mod ports;
pub mod regions;
pub mod run;
pub mod scan;
pub mod schedule;
pub mod stats;
pub mod worker;

#[cfg(test)]
mod test_support;

pub use crate::balloon::{BalloonCore, ClientAccount, FrameState};
pub use crate::config::{Config, ConfigError, Policy, Tunables, MAX_BATCH_EXTENTS};
pub use crate::invariant::InvariantViolation;
pub use crate::lending::{AllocOutcome, LendError, Settled, MAX_GRANT_RUNS};
pub use crate::lent_table::{ClientId, Ticket};
pub use crate::pending::AllocRequest;
pub use crate::ports::{FrameScrubber, HypervisorPort, PortError, ReservationPort};
pub use crate::run::FrameRun;
pub use crate::schedule::BpState;
pub use crate::stats::{Counters, Stats};
pub use crate::worker::StepOutcome;
