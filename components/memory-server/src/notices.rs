//! What the memory server tells the gateway of its loans, for the clients that may map grants
//! (those whose binding carries a gateway badge): a lend notice for every run before the client
//! can learn it, and a return notice for every run before the frames are taken back. The gateway
//! maps grants only into frames it heard were lent to the caller, and refuses a return notice
//! while a grant is mapped in the run (`FrameMapped`).
//!
//! A run the gateway will not take back stays lent to its client in the core, so it is neither
//! ballooned nor lent again: on a give-back the client hears `FrameMapped` and keeps it; when the
//! frames come back without the client (its death, a reply it can no longer receive) the run is
//! quarantined, and the return notice is retried on the server's timer until the gateway takes
//! it (the gateway unmaps a dead client's grants in its own `client_died`, whichever of the two
//! the runtime tells first), first after [`QUARANTINE_RETRY_NS`], then twice as long each time
//! up to [`QUARANTINE_MAX_RETRY_NS`] (a mapping Xen would not remove keeps its frame guarded
//! without waking the server every few milliseconds). Clients that do not map grants get no
//! notices.

use ballast_interfaces::hypercall::{HypercallClient, HypercallError};
use ballast_interfaces::support::{CallError, Permissions};
use ballast_ipc::{Badge, Sys};
use heapless::Vec;

use crate::MemoryServer;
use ballast_memory_server_core::{ClientId, FrameRun, FrameScrubber, Storage};

/// How long a quarantined run first waits before its return notice is sent again.
pub const QUARANTINE_RETRY_NS: u64 = 10_000_000;
/// The longest wait between two retries of the quarantine.
pub const QUARANTINE_MAX_RETRY_NS: u64 = 1_000_000_000;

/// The memory server's notices to the gateway, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoticeCounters {
    /// Lend notices sent.
    pub lend_notices: u64,
    /// Lend notices the gateway refused (the loan was then undone, the client refused).
    pub lends_refused: u64,
    /// Return notices sent, retries included.
    pub return_notices: u64,
    /// Return notices the gateway refused: a grant still mapped, or no answer.
    pub returns_refused: u64,
    /// Runs put in quarantine.
    pub quarantined: u64,
    /// Runs that left quarantine, back with the server.
    pub released: u64,
}

/// A run lent to a client that is gone, waiting for the gateway to take it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Quarantined {
    pub(crate) client: ClientId,
    pub(crate) run: FrameRun,
}

/// The runs in quarantine and when their return notices go out again.
#[derive(Debug)]
pub(crate) struct Quarantine<const LENT: usize> {
    runs: Vec<Quarantined, LENT>,
    /// When the next retry is due (ns on the server's clock).
    due_ns: u64,
    /// The wait after the next retry, should a run stay.
    delay_ns: u64,
}

/// Count one more notice or run: the counters are `u64` and count one event each, so 2^64 is out
/// of reach; were it reached, the counter would stay at its maximum rather than wrap.
fn bump(counter: &mut u64) {
    *counter = counter.saturating_add(1);
}

impl<const LENT: usize> Quarantine<LENT> {
    pub(crate) const fn new() -> Self {
        Quarantine {
            runs: Vec::new(),
            due_ns: 0,
            delay_ns: QUARANTINE_RETRY_NS,
        }
    }

    /// Runs in quarantine.
    pub(crate) fn len(&self) -> usize {
        self.runs.len()
    }

    /// Whether a retry is due at `now_ns`.
    pub(crate) fn due(&self, now_ns: u64) -> bool {
        !self.runs.is_empty() && now_ns >= self.due_ns
    }

    /// When the next retry is due, if any run is quarantined.
    pub(crate) fn next_retry_ns(&self) -> Option<u64> {
        (!self.runs.is_empty()).then_some(self.due_ns)
    }

    /// Add `entry` at `now_ns`; a quarantine that was empty retries after the first wait.
    fn push(&mut self, entry: Quarantined, now_ns: u64) {
        if self.runs.is_empty() {
            self.delay_ns = QUARANTINE_RETRY_NS;
            self.due_ns = now_ns.saturating_add(QUARANTINE_RETRY_NS);
        }
        // Each quarantined run is lent in the core, so the lent table's size bounds them.
        let _ = self.runs.push(entry);
    }

    /// After a retry at `now_ns` that left runs: wait twice as long as last time (capped).
    fn back_off(&mut self, now_ns: u64) {
        self.due_ns = now_ns.saturating_add(self.delay_ns);
        self.delay_ns = (self.delay_ns.saturating_mul(2)).min(QUARANTINE_MAX_RETRY_NS);
    }
}

/// What the gateway said to a return notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Returned {
    /// The run holds no grant the gateway knows of: it may go back.
    Released,
    /// The gateway holds it (a grant is mapped in it) or did not answer: it stays lent.
    Held,
}

/// The gateway refused a lend notice; the loan was undone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LendRefused;

impl<W, S, P, const LENT: usize, const CLIENTS: usize, const PENDING: usize>
    MemoryServer<W, S, P, LENT, CLIENTS, PENDING>
where
    W: Storage,
    S: FrameScrubber,
    P: Permissions + Copy,
{
    /// The gateway badge of `client`, if it may map grants.
    fn mapper(&self, client: ClientId) -> Option<Badge> {
        (self.wiring.clients.iter())
            .find(|binding| binding.client == client)
            .and_then(|binding| binding.gateway_badge)
    }

    /// Tell the gateway that `runs` (just lent to `client` in the core, its reply not sent) are
    /// the client's. If the gateway refuses one, the loan is undone: the runs noticed so far are
    /// returned, and every run goes back to the core.
    pub(crate) fn notify_lent(
        &mut self,
        sys: &mut dyn Sys,
        client: ClientId,
        runs: &[FrameRun],
    ) -> Result<(), LendRefused> {
        let Some(badge) = self.mapper(client) else {
            return Ok(());
        };
        let gateway = HypercallClient::new(self.wiring.gateway);
        for (index, run) in runs.iter().enumerate() {
            bump(&mut self.notices.lend_notices);
            if gateway
                .lend_notice(sys, badge.0, run.first.0, run.frames)
                .is_err()
            {
                bump(&mut self.notices.lends_refused);
                self.take_back(sys, client, &runs[..index]);
                // Never noticed: the gateway lets no grant into them.
                let _ = self.core.free_unpopulated(client, &runs[index..]);
                return Err(LendRefused);
            }
        }
        Ok(())
    }

    /// Send the return notice of `run`, lent to `client`.
    pub(crate) fn return_run(
        &mut self,
        sys: &mut dyn Sys,
        client: ClientId,
        run: FrameRun,
    ) -> Returned {
        let Some(badge) = self.mapper(client) else {
            return Returned::Released;
        };
        bump(&mut self.notices.return_notices);
        let gateway = HypercallClient::new(self.wiring.gateway);
        match gateway.return_notice(sys, badge.0, run.first.0, run.frames) {
            // Not lent to the client as the gateway knows it: it let no grant of the client in.
            Ok(()) | Err(CallError::Interface(HypercallError::FrameNotLent)) => Returned::Released,
            Err(_) => {
                bump(&mut self.notices.returns_refused);
                Returned::Held
            }
        }
    }

    /// Return every run of `runs` (lent to `client`, who keeps them until all are released), or
    /// none: on the first the gateway holds, those already returned are lent to it again.
    pub(crate) fn return_all(
        &mut self,
        sys: &mut dyn Sys,
        client: ClientId,
        runs: &[FrameRun],
    ) -> Returned {
        for (index, run) in runs.iter().enumerate() {
            if self.return_run(sys, client, *run) == Returned::Held {
                // The client keeps every run; should the gateway refuse to record one again, the
                // client can map nothing there (safe) and a later give-back still succeeds.
                if let Some(badge) = self.mapper(client) {
                    let gateway = HypercallClient::new(self.wiring.gateway);
                    for again in &runs[..index] {
                        bump(&mut self.notices.lend_notices);
                        let relent = gateway.lend_notice(sys, badge.0, again.first.0, again.frames);
                        if relent.is_err() {
                            bump(&mut self.notices.lends_refused);
                        }
                    }
                }
                return Returned::Held;
            }
        }
        Returned::Released
    }

    /// Take `runs` of `client` back without the client (its reply could not be delivered, or
    /// its loan was undone): each run the gateway releases goes back to the core, each it holds
    /// is quarantined.
    pub(crate) fn take_back(&mut self, sys: &mut dyn Sys, client: ClientId, runs: &[FrameRun]) {
        for run in runs {
            match self.return_run(sys, client, *run) {
                Returned::Released => {
                    let _ = self.core.free_unpopulated(client, &[*run]);
                }
                Returned::Held => self.quarantine(sys, client, *run),
            }
        }
    }

    /// Reclaim a dead client's loans: the runs the gateway releases go back at once; the others
    /// stay lent to it in the core, quarantined until the gateway releases them.
    pub(crate) fn reclaim(&mut self, sys: &mut dyn Sys, client: ClientId) {
        let mut held: Vec<FrameRun, LENT> = Vec::new();
        if self.mapper(client).is_some() {
            let delivered: Vec<FrameRun, LENT> = self.core.delivered_runs(client).collect();
            for run in delivered {
                if self.return_run(sys, client, run) == Returned::Held {
                    // As many as the lent table holds: there is room.
                    let _ = held.push(run);
                }
            }
        }
        let _ = self
            .core
            .client_died_keeping(client, |run| held.contains(run));
        for run in held {
            self.quarantine(sys, client, run);
        }
    }

    /// Put `run` (lent to `client` in the core, which keeps it there) in quarantine.
    fn quarantine(&mut self, sys: &mut dyn Sys, client: ClientId, run: FrameRun) {
        bump(&mut self.notices.quarantined);
        let now = sys.now_ns();
        self.quarantine.push(Quarantined { client, run }, now);
    }

    /// Send the return notice of every quarantined run again; those the gateway releases go back
    /// to the core. A run the core no longer lends to that client (its client came back and gave
    /// it back) leaves quarantine as well. If any run stays, the next retry waits longer.
    pub(crate) fn retry_quarantine(&mut self, sys: &mut dyn Sys) {
        let mut index = 0;
        while let Some(&Quarantined { client, run }) = self.quarantine.runs.get(index) {
            let lent: u64 = (self.core.delivered_runs(client))
                .map(|held| {
                    let (start, end) = (held.start().max(run.start()), held.end().min(run.end()));
                    end.saturating_sub(start)
                })
                .sum();
            let released = lent < run.frames
                || (self.return_run(sys, client, run) == Returned::Released
                    && self.core.free_unpopulated(client, &[run]).is_ok());
            if released {
                self.quarantine.runs.swap_remove(index);
                bump(&mut self.notices.released);
            } else {
                // Below the quarantine's length, which fits in memory.
                index = index.saturating_add(1);
            }
        }
        if !self.quarantine.runs.is_empty() {
            let now = sys.now_ns();
            self.quarantine.back_off(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_xen::Gfn;

    #[test]
    fn a_quarantine_retries_after_a_first_wait_then_backs_off_to_the_cap() {
        let mut quarantine = Quarantine::<4>::new();
        assert_eq!(
            (quarantine.next_retry_ns(), quarantine.due(u64::MAX)),
            (None, false)
        );
        let entry = Quarantined {
            client: ClientId(0),
            run: FrameRun::new(Gfn(0x100), 4),
        };
        quarantine.push(entry, 1_000);
        assert_eq!(
            quarantine.next_retry_ns(),
            Some(1_000 + QUARANTINE_RETRY_NS)
        );
        assert!(!quarantine.due(1_000 + QUARANTINE_RETRY_NS - 1));
        assert!(quarantine.due(1_000 + QUARANTINE_RETRY_NS));
        let mut now = 1_000 + QUARANTINE_RETRY_NS;
        let mut waits: Vec<u64, 10> = Vec::new();
        for _ in 0..10 {
            quarantine.back_off(now);
            let due = quarantine.next_retry_ns().expect("still quarantined");
            waits.push(due - now).expect("room for ten");
            now = due;
        }
        assert_eq!(&waits[..3], &[10_000_000, 20_000_000, 40_000_000]);
        assert_eq!(waits.last(), Some(&QUARANTINE_MAX_RETRY_NS));
        quarantine.push(entry, now);
        assert_eq!(quarantine.len(), 2);
        assert_eq!(
            quarantine.next_retry_ns(),
            Some(quarantine.due_ns),
            "a second run keeps the wait"
        );
    }
}
