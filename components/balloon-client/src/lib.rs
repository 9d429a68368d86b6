//! What a driver component (a block or network backend, a framebuffer) links to borrow
//! unpopulated guest frames from the memory server: the generated `Balloon` client, the run wire
//! format, and loans as values that must be given back.
//!
//! A [`FrameLoan`] is `#[must_use]` and not `Clone`: the only way to end one is
//! [`Balloon::give_back`], which hands the loan back to the caller if the server refuses it (as
//! Tock's HILs return buffers on failure). A loan still held when the component dies is reclaimed
//! by the memory server.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use ballast_interfaces::balloon::{BalloonClient, BalloonError};
use ballast_interfaces::runs::{self, WireRun};
use ballast_interfaces::support::{CallError, ProtocolError};
use ballast_ipc::{EndpointId, LeaseDescriptor, LeaseId, Sys};
use heapless::Vec;

/// Runs one loan can hold (the memory server grants at most 16).
pub const MAX_LOAN_RUNS: usize = 16;

/// Frames borrowed from the memory server, as runs of guest frame numbers.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a loan stays lent until it is given back (or the component dies)"]
pub struct FrameLoan {
    runs: Vec<WireRun, MAX_LOAN_RUNS>,
}

impl FrameLoan {
    /// The runs: `(first_gfn, count)`.
    pub fn runs(&self) -> &[WireRun] {
        &self.runs
    }

    /// A loan for `runs`, as a driver that tracks its frames elsewhere would rebuild one; `None`
    /// if there are more than [`MAX_LOAN_RUNS`], or a run that ends past the last frame number,
    /// or more frames in all than a `u64` counts. The server checks ownership when it comes back.
    pub fn from_runs(runs: &[WireRun]) -> Option<FrameLoan> {
        let runs = Vec::from_slice(runs).ok()?;
        let each_ends = runs
            .iter()
            .all(|run| run.first_gfn.checked_add(run.count).is_some());
        let total = runs
            .iter()
            .try_fold(0u64, |total, run| total.checked_add(run.count));
        (each_ends && total.is_some()).then_some(FrameLoan { runs })
    }

    /// Frames in the loan.
    pub fn frames(&self) -> u64 {
        // `from_runs` checked that the sum fits: it never saturates.
        (self.runs.iter()).fold(0, |total, run| total.saturating_add(run.count))
    }

    /// Every frame of the loan, in run order.
    pub fn gfns(&self) -> impl Iterator<Item = u64> + '_ {
        // `from_runs` checked that every run ends below 2^64: the end never saturates.
        (self.runs.iter()).flat_map(|run| run.first_gfn..run.first_gfn.saturating_add(run.count))
    }
}

/// Why a call to the memory server failed.
pub type BalloonCallError = CallError<BalloonError>;

/// A driver's connection to the memory server: its `Balloon` capability and the region it lends
/// for run lists.
#[derive(Debug, Clone, Copy)]
pub struct Balloon {
    client: BalloonClient,
    region: LeaseId,
    region_len: u32,
}

impl Balloon {
    /// A connection through `endpoint`, lending `region` (`region_len` bytes, owned by this
    /// component and shared with the memory server) for run lists.
    pub const fn new(endpoint: EndpointId, region: LeaseId, region_len: u32) -> Balloon {
        Balloon {
            client: BalloonClient::new(endpoint),
            region,
            region_len,
        }
    }

    fn lease(&self, writable: bool, len: u32) -> LeaseDescriptor {
        LeaseDescriptor {
            region: self.region.0,
            writable: u16::from(writable),
            offset: 0,
            len,
            reserved: 0,
        }
    }

    /// Borrow `count` unpopulated frames, none above `max_gfn` (`u64::MAX`: anywhere). Blocks
    /// until the server answers, which may be after it has ballooned frames out.
    pub fn borrow(
        &self,
        sys: &mut dyn Sys,
        count: u64,
        max_gfn: u64,
    ) -> Result<FrameLoan, BalloonCallError> {
        let reply = self.client.alloc_unpopulated(
            sys,
            count,
            max_gfn,
            self.lease(true, self.region_len),
        )?;
        let region = sys
            .own_region(self.region)
            .ok_or(CallError::Protocol(ProtocolError::BadLease))?;
        let granted = runs::read(region, reply.runs as usize)
            .ok_or(CallError::Protocol(ProtocolError::MalformedReply))?;
        FrameLoan::from_runs(granted).ok_or(CallError::Protocol(ProtocolError::MalformedReply))
    }

    /// Give a loan back. On failure the loan is returned with the error: it is still lent.
    // The loan travels back by value: components have no heap to box it in.
    #[allow(clippy::result_large_err)]
    pub fn give_back(
        &self,
        sys: &mut dyn Sys,
        loan: FrameLoan,
    ) -> Result<(), (FrameLoan, BalloonCallError)> {
        let written = sys
            .own_region(self.region)
            .and_then(|region| runs::write(region, loan.runs.iter().copied()));
        let Some(count) = written else {
            return Err((loan, CallError::Protocol(ProtocolError::BadLease)));
        };
        // A loan holds at most MAX_LOAN_RUNS runs, so neither the length nor the count can
        // saturate or lose bits.
        let len = count.saturating_mul(runs::RUN_BYTES) as u32;
        match self
            .client
            .free_unpopulated(sys, count as u32, self.lease(false, len))
        {
            Ok(()) => Ok(()),
            Err(error) => Err((loan, error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn run(first_gfn: u64, count: u64) -> WireRun {
        WireRun { first_gfn, count }
    }

    #[test]
    fn a_loan_of_runs_past_the_last_frame_number_is_refused() {
        assert_eq!(FrameLoan::from_runs(&[run(u64::MAX - 1, 4)]), None);
        assert_eq!(
            FrameLoan::from_runs(&[run(0x1000, 1 << 63), run(0x2000, 1 << 63)]),
            None
        );
        let top = FrameLoan::from_runs(&[run(u64::MAX - 2, 2), run(0x100, 2)]).expect("valid");
        assert_eq!(top.frames(), 4);
        assert!(top.gfns().eq([u64::MAX - 2, u64::MAX - 1, 0x100, 0x101]));
    }
}
