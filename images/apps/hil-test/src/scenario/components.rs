//! The `components` phase: the memory server, the gateway over real Xen, a test client and the
//! control component, all on the static IPC runtime, played by the control component:
//!
//! 0. If the run asks for them (`timed_rounds=`), the product path's timed rounds
//!    ([`Rounds::timed`]), with the time the memory server spends scrubbing and the gateway in
//!    Xen counted apart ([`Timing`]).
//! 1. The policy rounds ([`super::rounds`]), with `XENMEM_current_reservation` read directly,
//!    apart from the components, and the balloon settled by running the runtime until idle. The
//!    server's target and `current` count the domain's pages as Xen does (the server adds the
//!    pages Xen counts outside its model); Xen's count must stay `current` plus the baseline the
//!    control reads at the start, which is therefore 0.
//! 2. The test client borrows 512 frames of the lending range and returns them (`Balloon`),
//!    then borrows 1024 frames below 4 GiB, which the server must balloon out first: two of the
//!    seed's batches (its policy is the active one by then), the second on the server's timer, so
//!    the answer is a deferred reply. The client dies holding them: the server reclaims them and
//!    repopulates to its target.
//!
//! Every change of the reservation is logged as a `step` line, as in the direct phase, so that
//! the host checks it too.

use core::cell::Cell;

use ballast_interfaces::balloon::{BalloonClient, BalloonDeferredClient};
use ballast_interfaces::balloon_control::{BalloonControlClient, StatsReply};
use ballast_interfaces::support::Submit;
use ballast_ipc::static_rt::Clock;
use ballast_ipc::{
    ComponentId, EndpointId, IpcError, LeaseDescriptor, LeaseId, Sys, MESSAGE_BYTES,
};
use ballast_xen::Hypervisor;

use super::rounds::{Control, PolicyOrder, Rounds, Spent, XenCount};
use super::Checks;
use ballast_app_memory_server::composition::COMPOSITION;
use ballast_app_memory_server::system::Runtime;

/// What the test client borrows from the lending range.
const BORROWED: u64 = 512;
/// What it borrows below 4 GiB: more than one batch of 4 KiB extents.
const BORROWED_LOW: u64 = 1024;
/// The highest gfn below 4 GiB: a constraint the lending range (above 4 GiB) cannot meet.
const BELOW_4G: u64 = (1 << 20) - 1;
/// Bytes of one run in a runs lease: first gfn and count, u64 each.
const RUN_BYTES: usize = 16;
/// How long the control waits for the balloon to settle after each request.
const SETTLE_NS: u64 = 60_000_000_000;

/// Who the scenario's components are and how they reach the memory server.
#[derive(Clone, Copy, Debug)]
pub struct Cast {
    /// The control component and its `BalloonControl` endpoint.
    pub control: (ComponentId, EndpointId),
    /// The test client, its `Balloon` endpoint and the region it lends its runs in.
    pub client: (ComponentId, EndpointId, LeaseId),
}

/// The timed rounds a run asks for, the counters of what the components spend in scrubbing and
/// in Xen (the phase wraps the memory server's scrubber and the gateway's hypercall in them), and
/// what runs after each step.
#[derive(Clone, Copy)]
pub struct Timing<'c> {
    /// Which policy goes first.
    pub order: PolicyOrder,
    /// Timed rounds of each policy (none: the phase plays only its functional rounds).
    pub rounds: u32,
    /// Nanoseconds the memory server spent zeroing frames.
    pub scrub_ns: &'c Cell<u64>,
    /// Nanoseconds the gateway spent inside hypercalls.
    pub hypercall_ns: &'c Cell<u64>,
    /// Run after every `step` line (the hold for the host's reading, when it reads every step).
    pub after_step: Option<&'c dyn Fn()>,
}

impl core::fmt::Debug for Timing<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Timing")
            .field("order", &self.order)
            .field("rounds", &self.rounds)
            .field("holds_after_steps", &self.after_step.is_some())
            .finish_non_exhaustive()
    }
}

/// The control component on the static runtime: it calls the memory server as an external
/// component, lets the runtime run until idle to settle, and reads Xen's count directly.
struct StaticControl<'x, 'rt, 'h, 'r, 'c, C: Clock, X: Hypervisor> {
    rt: &'rt mut Runtime<'h, 'r, C>,
    xen: &'x mut X,
    cast: Cast,
    timing: Timing<'c>,
}

/// The phase: the shared rounds over the static runtime, and the lending it plays after them.
type Phase<'x, 'rt, 'h, 'r, 'c, C, X> = Rounds<StaticControl<'x, 'rt, 'h, 'r, 'c, C, X>>;

/// Run the phase; returns its checks.
pub fn run<C: Clock, X: Hypervisor>(
    rt: &mut Runtime<'_, '_, C>,
    xen: &mut X,
    cast: Cast,
    timing: Timing<'_>,
) -> Checks {
    let maximum = xen.maximum_reservation();
    let control = StaticControl {
        rt,
        xen,
        cast,
        timing,
    };
    let mut phase: Phase<'_, '_, '_, '_, '_, C, X> = Rounds::new(control, COMPOSITION.server);
    phase.checks.context = "components";
    let start = phase.xen_current();
    // Where the reservation stands before the phase's first step, for the host's checks (which
    // fail a run without it: the phase may run alone, `scenario=components`).
    match maximum {
        Ok(maximum) => defmt::info!(
            "reservation current={=u64} maximum={=u64} path=components",
            start.current,
            maximum
        ),
        Err(errno) => defmt::error!("maximum_reservation failed errno={=i32}", errno.0),
    }
    let Some(stats) = phase.stats() else {
        return phase.checks;
    };
    if timing.rounds > 0 {
        phase.timed(stats.current, timing.order, timing.rounds);
    }
    phase.play(&stats, start);
    phase.lend_and_reclaim(start.current);
    phase.checks.context = "components";
    let end = phase.xen_current().current;
    phase
        .checks
        .expect_eq("components_reservation_restored", end, start.current);
    phase.checks
}

/// The static runtime as one external component submits calls through it without waiting.
struct Submitter<'s, 'h, 'r, C: Clock> {
    rt: &'s mut Runtime<'h, 'r, C>,
    client: ComponentId,
}

impl<C: Clock> Submit for Submitter<'_, '_, '_, C> {
    type Call = u64;

    fn submit(
        &mut self,
        endpoint: EndpointId,
        request: &[u8],
        lease: Option<LeaseDescriptor>,
    ) -> Result<u64, IpcError> {
        self.rt.submit_call(self.client, endpoint, request, lease)
    }
}

impl<C: Clock, X: Hypervisor> StaticControl<'_, '_, '_, '_, '_, C, X> {
    /// Let the balloon work until it is idle (or `SETTLE_NS` passed).
    fn run_until_idle(&mut self, checks: &mut Checks) {
        let until = self.rt.now_ns().saturating_add(SETTLE_NS);
        let idle = self.rt.run_until_idle(until);
        checks.expect("settled", idle);
    }
}

impl<C: Clock, X: Hypervisor> Control for StaticControl<'_, '_, '_, '_, '_, C, X> {
    fn call<R>(
        &mut self,
        call: impl FnOnce(&BalloonControlClient, &mut dyn Sys) -> R,
    ) -> Option<R> {
        let (control, endpoint) = self.cast.control;
        let mut sys = self.rt.external(control).ok()?;
        Some(call(&BalloonControlClient::new(endpoint), &mut sys))
    }

    fn now_ns(&self) -> u64 {
        self.rt.now_ns()
    }

    fn settle(&mut self, checks: &mut Checks, _pages: u64) -> Option<StatsReply> {
        self.run_until_idle(checks);
        self.stats(checks)
    }

    fn after_step(&mut self) {
        if let Some(after_step) = self.timing.after_step {
            after_step();
        }
    }

    fn spent(&self) -> Option<Spent> {
        Some(Spent {
            scrub_ns: self.timing.scrub_ns.get(),
            hypercall_ns: self.timing.hypercall_ns.get(),
        })
    }

    fn xen_current(&mut self, _checks: &mut Checks) -> XenCount {
        let current = self.xen.current_reservation().unwrap_or_else(|errno| {
            defmt::error!("current_reservation failed errno={=i32}", errno.0);
            0
        });
        XenCount {
            current,
            drift: None,
        }
    }
}

impl<C: Clock, X: Hypervisor> Phase<'_, '_, '_, '_, '_, C, X> {
    fn runs_lease(&self, runs: u32, writable: bool) -> LeaseDescriptor {
        LeaseDescriptor {
            region: self.control.cast.client.2 .0,
            writable: u16::from(writable),
            offset: 0,
            len: if writable {
                4096
            } else {
                runs * RUN_BYTES as u32
            },
            reserved: 0,
        }
    }

    /// The test client borrows `count` frames at or below `max_gfn`; returns the runs written.
    fn borrow(&mut self, count: u64, max_gfn: u64) -> Option<u32> {
        let (client, endpoint, _) = self.control.cast.client;
        let stubs = BalloonClient::new(endpoint);
        let lease = self.runs_lease(0, true);
        let reply = self
            .control
            .rt
            .external(client)
            .ok()
            .map(|mut sys| stubs.alloc_unpopulated(&mut sys, count, max_gfn, lease));
        match reply {
            Some(Ok(reply)) => Some(reply.runs),
            _ => {
                defmt::error!("alloc_unpopulated failed max_gfn={=u64:#x}", max_gfn);
                None
            }
        }
    }

    /// Like [`Self::borrow`], but the call is submitted and its answer collected separately, so
    /// that a deferred reply shows: returns whether the server kept the token past the call, and
    /// the runs written.
    fn borrow_deferred(&mut self, count: u64, max_gfn: u64) -> (bool, Option<u32>) {
        let (client, endpoint, _) = self.control.cast.client;
        let lease = self.runs_lease(0, true);
        let mut submitter = Submitter {
            rt: &mut *self.control.rt,
            client,
        };
        let stubs = BalloonDeferredClient::new(endpoint);
        let Ok(pending) = stubs.alloc_unpopulated(&mut submitter, count, max_gfn, lease) else {
            defmt::error!("alloc_unpopulated not delivered");
            return (false, None);
        };
        let token = *pending.call();
        let mut reply = [0u8; MESSAGE_BYTES];
        let at_once = self.control.rt.take_reply(token, &mut reply);
        let deferred = at_once.is_none();
        let answer = at_once.or_else(|| {
            self.control.run_until_idle(&mut self.checks);
            self.control.rt.take_reply(token, &mut reply)
        });
        let runs = answer
            .and_then(|outcome| pending.decode(outcome.map(|len| &reply[..len])).ok())
            .map(|granted| granted.runs);
        if runs.is_none() {
            defmt::error!("alloc_unpopulated failed max_gfn={=u64:#x}", max_gfn);
        }
        (deferred, runs)
    }

    /// Frames and the lowest and highest gfn of the first `runs` runs in the client's region.
    fn read_runs(&mut self, runs: u32) -> (u64, u64, u64) {
        let Some(region) = self.control.rt.region(self.control.cast.client.2) else {
            return (0, 0, 0);
        };
        let word = |bytes: &[u8]| {
            let mut word = [0; 8];
            word.copy_from_slice(bytes);
            u64::from_le_bytes(word)
        };
        region
            .chunks_exact(RUN_BYTES)
            .take(runs as usize)
            .map(|run| (word(&run[..8]), word(&run[8..])))
            .fold((0, u64::MAX, 0), |(frames, low, high), (first, count)| {
                let last = first + count.saturating_sub(1);
                (frames + count, low.min(first), high.max(last))
            })
    }

    fn lend_and_reclaim(&mut self, start: u64) {
        self.checks.context = "lending";
        let Some(runs) = self.borrow(BORROWED, u64::MAX) else {
            self.checks.expect("borrowed_from_lending_range", false);
            return;
        };
        let (frames, low, high) = self.read_runs(runs);
        defmt::info!(
            "borrowed runs={=u32} frames={=u64} low={=u64:#x} high={=u64:#x}",
            runs,
            frames,
            low,
            high
        );
        self.checks.expect_eq("borrowed_frames", frames, BORROWED);
        self.checks.expect(
            "borrowed_from_lending_range",
            low >= COMPOSITION.memory.unpopulated.start()
                && high < COMPOSITION.memory.unpopulated.end(),
        );
        let lent = self.stats().map_or(0, |stats| stats.lent);
        self.checks.expect_eq("server_counts_lent", lent, BORROWED);
        let current = self.xen_current().current;
        self.checks
            .expect_eq("lending_range_costs_no_ram", current, start);
        let (client, endpoint, _) = self.control.cast.client;
        let stubs = BalloonClient::new(endpoint);
        let lease = self.runs_lease(runs, false);
        let freed = self
            .control
            .rt
            .external(client)
            .ok()
            .is_some_and(|mut sys| stubs.free_unpopulated(&mut sys, runs, lease).is_ok());
        self.checks.expect("returned", freed);
        let lent = self.stats().map_or(u64::MAX, |stats| stats.lent);
        self.checks.expect_eq("nothing_lent_after_return", lent, 0);
        self.borrow_low_then_die(start);
    }

    /// Borrow below 4 GiB (the server balloons RAM out first and answers late; with a growth
    /// range it grows by as much to hold its target), then die holding the frames: the server
    /// reclaims them and is at its target.
    fn borrow_low_then_die(&mut self, start: u64) {
        let before = self.xen_current().current;
        let Some(books) = self.stats() else {
            return;
        };
        let (deferred, runs) = self.borrow_deferred(BORROWED_LOW, BELOW_4G);
        self.checks.expect("answered_late", deferred);
        let after = self.xen_current().current;
        let Some(books_after) = self.stats() else {
            return;
        };
        let calls = books_after.hypercalls.saturating_sub(books.hypercalls);
        log_step(
            "decrease",
            calls,
            before,
            after,
            books.current,
            books_after.current,
        );
        self.control.after_step();
        let (frames, _, high) = self.read_runs(runs.unwrap_or(0));
        defmt::info!(
            "borrowed_low frames={=u64} high={=u64:#x} deferred={=bool} xen_before={=u64} xen_after={=u64}",
            frames,
            high,
            deferred,
            before,
            after
        );
        self.checks
            .expect_eq("borrowed_low_frames", frames, BORROWED_LOW);
        self.checks.expect("borrowed_below_4g", high <= BELOW_4G);
        // With a growth range and room under Xen's maximum, the server keeps its target by
        // growing into it as it balloons RAM out to lend: Xen's count stays where it was.
        let maximum = self.control.xen.maximum_reservation().unwrap_or(0);
        let grows = COMPOSITION.memory.growth.is_some() && maximum >= before + BORROWED_LOW;
        let lent_out = if grows { 0 } else { BORROWED_LOW };
        self.checks
            .expect_eq("ballooned_out_to_lend", after, before - lent_out);
        let (client, ..) = self.control.cast.client;
        let killed = self.control.rt.kill(client).is_ok();
        self.checks.expect("client_killed", killed);
        self.control.run_until_idle(&mut self.checks);
        let reclaimed = self.xen_current().current;
        let Some(books_end) = self.stats() else {
            return;
        };
        let calls = books_end.hypercalls.saturating_sub(books_after.hypercalls);
        log_step(
            "populate",
            calls,
            after,
            reclaimed,
            books_after.current,
            books_end.current,
        );
        self.control.after_step();
        self.checks
            .expect_eq("nothing_lent_after_death", books_end.lent, 0);
        self.checks
            .expect_eq("repopulated_after_reclaim", reclaimed, start);
    }
}

/// A `step` line for the host: the pages the server's books moved, in order-0 extents, with
/// Xen's count before and after.
fn log_step(op: &str, calls: u64, before: u64, after: u64, books_before: u64, books_after: u64) {
    let done = books_before.abs_diff(books_after);
    defmt::info!(
        "step op={=str} order=0 calls={=u64} requested={=u64} done={=u64} before={=u64} after={=u64} path=components",
        op,
        calls,
        done,
        done,
        before,
        after
    );
}
