//! A minimal backend driver component, what borrowed frames are for: for each grant offer
//! (`ballast_grant_offer`) it borrows as many unpopulated frames from the memory server as the
//! offer has grants (`ballast_balloon_client`), maps the grants into them with one `grant_map`
//! through the hypercall gateway (`GNTMAP_host_map` at each borrowed gfn), checks every word of
//! every granted page, writes its answer word into each, unmaps them with one `grant_unmap` and
//! gives the frames back, timing each step. The offer's mode makes it try what must be refused
//! (a frame it did not borrow, a give-back while mapped) or stop holding its grants so that its
//! runtime can kill it ([`Served::HoldingGrants`]).
//!
//! `no_std`, no allocation, no unsafe: the frames' contents are reached through
//! [`GrantedFrames`], which the image implements over its mapping of the lending range.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

mod entries;
mod pages;
mod round;

use ballast_balloon_client::{Balloon, FrameLoan};
use ballast_grant_offer::Answer;
use ballast_interfaces::hypercall::HypercallClient;
use ballast_ipc::{EndpointId, LeaseId};

pub use entries::GRANT_REGION_BYTES;

/// Access to the contents of the frames the backend borrowed and mapped grants into.
pub trait GrantedFrames {
    /// Word `index` (0..512) of frame `gfn`; `None` if the access cannot reach that frame.
    fn read(&self, gfn: u64, index: usize) -> Option<u64>;
    /// Write `word` as word `index` of frame `gfn`; `None` if the access cannot reach that frame.
    fn write(&mut self, gfn: u64, index: usize, word: u64) -> Option<()>;
}

/// What serving an offer left.
#[derive(Debug, PartialEq, Eq)]
pub enum Served {
    /// The round is over: every frame was given back (or, on a failure, is still lent and said
    /// so in the answer), every grant unmapped.
    Answered(Answer),
    /// Mode `die-mapped`: a grant is mapped in every frame of `loan`, still lent; the backend's
    /// runtime now kills it, and the gateway and memory server must clean up.
    HoldingGrants {
        /// The round.
        round: u32,
        /// The borrowed frames, each holding a mapped grant.
        loan: FrameLoan,
    },
}

/// The backend's capabilities: its `Balloon` connection (with its run-list region) and its
/// `Hypercall` endpoint, with the region it lends the gateway for grant entries (at least
/// [`GRANT_REGION_BYTES`]).
#[derive(Debug, Clone, Copy)]
pub struct Backend {
    balloon: Balloon,
    xen: HypercallClient,
    grants: LeaseId,
}

impl Backend {
    /// A backend borrowing through `balloon`, mapping through the gateway at `xen`, with grant
    /// entries in its region `grants`.
    pub const fn new(balloon: Balloon, xen: EndpointId, grants: LeaseId) -> Backend {
        Backend {
            balloon,
            xen: HypercallClient::new(xen),
            grants,
        }
    }
}
