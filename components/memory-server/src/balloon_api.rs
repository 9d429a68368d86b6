//! The `Balloon` interface: driver clients borrow unpopulated frames (granted now, or deferred
//! until the worker has ballooned enough out) and give them back, all or nothing.

use ballast_interfaces::balloon::{
    AllocUnpopulatedReply, AllocUnpopulatedResponder, BalloonError, BalloonServer,
    FreeUnpopulatedResponder,
};
use ballast_interfaces::runs::{self, WireRun, RUN_BYTES};
use ballast_interfaces::support::{Answer, Permissions, ReadLease, ReadWriteLease};
use ballast_ipc::{Badge, Sys};
use ballast_xen::Gfn;
use heapless::Vec;
use zerocopy::{FromBytes, IntoBytes};

use crate::notices::Returned;
use crate::{MemoryServer, Waiting};
use ballast_memory_server_core::{
    AllocOutcome, AllocRequest, FrameRun, FrameScrubber, LendError, Storage, MAX_GRANT_RUNS,
};

/// The interface error a refused lending request answers with.
pub(super) fn balloon_error(error: LendError) -> BalloonError {
    match error {
        LendError::UnknownClient | LendError::NotOwner => BalloonError::NotOwner,
        LendError::Empty | LendError::OverlappingRuns => BalloonError::BadRuns,
        LendError::BadRunCount => BalloonError::LeaseTooSmall,
        LendError::QuotaExceeded | LendError::RunLimit => BalloonError::OverQuota,
        LendError::NeverSatisfiable => BalloonError::CannotMeetConstraint,
        LendError::QueueFull | LendError::TableFull => BalloonError::QueueFull,
        LendError::NotLent => BalloonError::NotLent,
        LendError::TimedOut => BalloonError::TimedOut,
    }
}

fn wire(runs: &[FrameRun]) -> impl ExactSizeIterator<Item = WireRun> + '_ {
    runs.iter().map(|run| WireRun {
        first_gfn: run.first.0,
        count: run.frames,
    })
}

/// Writes `granted` at the start of a lease whatever the lease's alignment (a client may lend any
/// window of its region, and a region's bytes need not be aligned for a run); `None` and nothing
/// written if they do not fit.
fn deliver(lease: &mut [u8], granted: &[FrameRun]) -> Option<usize> {
    let bytes = lease.get_mut(..granted.len().checked_mul(RUN_BYTES)?)?;
    for (slot, run) in bytes.chunks_exact_mut(RUN_BYTES).zip(wire(granted)) {
        run.write_to(slot).ok()?;
    }
    Some(granted.len())
}

/// Reads the first `count` runs of a lease whatever its alignment; `None` if the lease does not
/// hold that many or they are more than a grant can have.
fn receive(lease: &[u8], count: usize) -> Option<Vec<FrameRun, MAX_GRANT_RUNS>> {
    let bytes = lease.get(..count.checked_mul(RUN_BYTES)?)?;
    let mut given = Vec::new();
    for slot in bytes.chunks_exact(RUN_BYTES) {
        let run = WireRun::read_from_bytes(slot).ok()?;
        given
            .push(FrameRun::new(Gfn(run.first_gfn), run.count))
            .ok()?;
    }
    Some(given)
}

/// Answer a deferred allocation: write its runs into the caller's lease, then reply. Returns
/// `false` if granted runs could not be delivered (the caller's lease is gone): the caller must
/// take them back, since the client never learns them.
pub(super) fn answer_deferred(
    sys: &mut dyn Sys,
    responder: AllocUnpopulatedResponder,
    result: Result<&[FrameRun], BalloonError>,
) -> bool {
    let (reply, delivered) = match result {
        Ok(granted) => {
            let written = responder
                .lease()
                .bytes(sys)
                .ok()
                .and_then(|lease| deliver(lease, granted));
            match written {
                Some(count) => (
                    responder.ok(AllocUnpopulatedReply { runs: count as u32 }),
                    true,
                ),
                None => (responder.err(BalloonError::LeaseTooSmall), false),
            }
        }
        Err(error) => (responder.err(error), true),
    };
    reply.send(sys);
    delivered
}

impl<W, S, P, const LENT: usize, const CLIENTS: usize, const PENDING: usize> BalloonServer
    for MemoryServer<W, S, P, LENT, CLIENTS, PENDING>
where
    W: Storage,
    S: FrameScrubber,
    P: Permissions + Copy,
{
    fn alloc_unpopulated(
        &mut self,
        sys: &mut dyn Sys,
        badge: Badge,
        count: u64,
        max_gfn: u64,
        runs_lease: ReadWriteLease,
        reply: AllocUnpopulatedResponder,
    ) -> Answer {
        let now = sys.now_ns();
        let Some(client) = self.client_of(badge) else {
            return reply.err(BalloonError::NotOwner).into();
        };
        // Dispatch checked the lease; the runtime honours it for the whole call.
        let Ok(lease) = runs_lease.bytes(sys) else {
            return reply.err(BalloonError::BadRuns).into();
        };
        let max_runs = runs::capacity(lease.len()).min(MAX_GRANT_RUNS);
        if max_runs == 0 {
            return reply.err(BalloonError::LeaseTooSmall).into();
        }
        let request = AllocRequest {
            frames: count,
            below: max_gfn.checked_add(1).map(Gfn),
            max_runs,
        };
        let mut granted = [FrameRun::default(); MAX_GRANT_RUNS];
        match self
            .core
            .alloc_unpopulated(client, request, now, &mut granted)
        {
            Ok(AllocOutcome::Granted { runs: n }) => {
                // The gateway hears of the loan before the client can learn a frame of it.
                if self.notify_lent(sys, client, &granted[..n]).is_err() {
                    return reply.err(BalloonError::QueueFull).into();
                }
                let written = runs_lease
                    .bytes(sys)
                    .ok()
                    .and_then(|lease| deliver(lease, &granted[..n]));
                match written {
                    Some(written) => reply
                        .ok(AllocUnpopulatedReply {
                            runs: written as u32,
                        })
                        .into(),
                    // The runs never reached the client: take them back, as the deferred path
                    // does, so that a refused request leaves nothing lent.
                    None => {
                        self.take_back(sys, client, &granted[..n]);
                        reply.err(BalloonError::LeaseTooSmall).into()
                    }
                }
            }
            Ok(AllocOutcome::Pending(ticket)) => {
                let waiting = Waiting {
                    ticket,
                    client,
                    responder: reply,
                };
                match self.waiting.push(waiting) {
                    Ok(()) => {
                        self.run_step(sys);
                        Answer::Deferred
                    }
                    // The core's queue and this table have the same capacity, so a ticket always
                    // finds a slot; should it not, the core times the ticket out unanswered.
                    Err(waiting) => {
                        let refused = waiting.responder.err(BalloonError::QueueFull);
                        self.answer_then_step(sys, refused)
                    }
                }
            }
            Err(error) => reply.err(balloon_error(error)).into(),
        }
    }

    fn free_unpopulated(
        &mut self,
        sys: &mut dyn Sys,
        badge: Badge,
        count: u32,
        run_list: ReadLease,
        reply: FreeUnpopulatedResponder,
    ) -> Answer {
        let Some(client) = self.client_of(badge) else {
            return reply.err(BalloonError::NotOwner).into();
        };
        let Ok(lease) = run_list.bytes(sys) else {
            return reply.err(BalloonError::BadRuns).into();
        };
        let Some(given) = receive(lease, count as usize) else {
            return reply.err(BalloonError::BadRuns).into();
        };
        if let Err(error) = self.core.check_free_unpopulated(client, &given) {
            return reply.err(balloon_error(error)).into();
        }
        // The gateway must release every run first: a run with a grant mapped stays the
        // client's, and so does every other run of the call.
        if self.return_all(sys, client, &given) == Returned::Held {
            return reply.err(BalloonError::FrameMapped).into();
        }
        match self.core.free_unpopulated(client, &given) {
            Ok(_) => self.answer_then_step(sys, reply.ok()),
            Err(error) => reply.err(balloon_error(error)).into(),
        }
    }
}
