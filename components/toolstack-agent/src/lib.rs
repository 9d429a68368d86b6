//! The ballast toolstack agent's logic without any IO: a xenstore client over the shared ring
//! (`ballast_xen::ring::XenstoreRing`), the `memory/static-max`, `memory/target` and
//! `control/shutdown` watches, the reports under `data/ballast/` ([`keys`] lists them), and the
//! grant handshake it relays for the domain's backend (`data/ballast/grant-offer` and
//! `grant-answer`).
//! `no_std`, no allocation: every queue is bounded and sized here. Everything the daemon writes
//! is untrusted: a malformed message or ring is an [`ErrorReport`], never a panic, and the agent
//! goes on.
//!
//! # How the glue drives it
//!
//! ```text
//! let mut agent = Agent::new();                   // start queued: four watches
//! on the xenstore event channel, and after each report below:
//!     agent.poll(&mut ring);
//!     while let Some(e) = agent.next_error() { log e }
//!     while let Some(action) = agent.next_action() {
//!         NotifyPeer          => send the xenstore event channel
//!         Shutdown(reason)    => SCHEDOP_shutdown (already acknowledged in control/shutdown)
//!         SetTarget { pages } => BalloonControl::set_target(pages), then
//!                                agent.accepted(pages) | agent.clamped(limit, why) | agent.refused(why)
//!         GrantOffer          => the backend serves agent.take_grant_offer(), then
//!                                agent.grant_answered(&answer)
//!     }
//! when the memory server holds the target:  agent.reached(pages); agent.poll(&mut ring) ...
//! ```
//!
//! Actions are kept until taken, never lost: at most one target (the latest wins, which is what a
//! balloon wants), at most one shutdown, one pending notification, and the newest grant offer.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

mod agent;
pub mod client;
mod error;
pub mod keys;
pub mod wire;

#[cfg(test)]
mod test_daemon;

pub use agent::{Action, Agent, ShutdownReason, GRANT_ANSWER_MAX};
pub use error::{AgentError, ErrorReport};
pub use keys::{Key, Status};
