//! The `components` phase: the memory server, the gateway over real Xen, a test client and the
//! control component, all on the static IPC runtime, played by the control component:
//!
//! 1. For each policy (`configure`: ballast's superpages, then the seed's 4 KiB extents), move the
//!    balloon target 64 MiB down and back up with `set_target`, and check every move against
//!    `XENMEM_current_reservation` (read directly, apart from the components) and the server's
//!    books (`stats`); report the reservation hypercalls each policy needed and the time. The
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

use ballast_interfaces::balloon::{BalloonClient, BalloonDeferredClient};
use ballast_interfaces::balloon_control::{BalloonControlClient, Policy, StatsReply};
use ballast_interfaces::support::Submit;
use ballast_ipc::static_rt::Clock;
use ballast_ipc::{ComponentId, EndpointId, IpcError, LeaseDescriptor, LeaseId, MESSAGE_BYTES};
use ballast_xen::Hypervisor;

use super::Checks;
use ballast_app_memory_server::composition::COMPOSITION;
use ballast_app_memory_server::system::Runtime;

const MIB: u64 = 1 << 20;
const PAGE_BYTES: u64 = 4096;
/// What each policy balloons.
const ROUND_PAGES: u64 = 64 * MIB / PAGE_BYTES;
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

/// The policies `configure` takes, with their names in log lines.
const POLICIES: [(&str, Policy); 2] = [("2M", Policy::Ballast), ("4K", Policy::Seed)];

struct Control<'x, 'rt, 'h, 'r, C: Clock, X: Hypervisor> {
    rt: &'rt mut Runtime<'h, 'r, C>,
    xen: &'x mut X,
    cast: Cast,
    checks: Checks,
    /// Xen's page count minus the server's books, at the start.
    baseline: i64,
}

/// Run the phase; returns its checks.
pub fn run<C: Clock, X: Hypervisor>(
    rt: &mut Runtime<'_, '_, C>,
    xen: &mut X,
    cast: Cast,
) -> Checks {
    let mut control = Control {
        rt,
        xen,
        cast,
        checks: Checks::default(),
        baseline: 0,
    };
    control.checks.context = "components";
    let start = control.xen_current();
    let Some(stats) = control.stats() else {
        return control.checks;
    };
    control.baseline = start as i64 - stats.current as i64;
    defmt::info!(
        "server current={=u64} total={=u64} target={=u64} xen_current={=u64} baseline={=i64} policy={=u8}",
        stats.current,
        stats.total,
        stats.target,
        start,
        control.baseline,
        u8::from(stats.policy)
    );
    control.checks.expect(
        "books_cover_guest_ram",
        stats.current > 0 && stats.current <= start,
    );
    let mut calls = [0u64; 2];
    for (slot, (name, policy)) in calls.iter_mut().zip(POLICIES) {
        *slot = control.policy_round(name, policy, stats.current);
    }
    control.checks.context = "components";
    control.checks.expect(
        "superpages_need_fewer_hypercalls",
        calls[0] > 0 && calls[0] < calls[1],
    );
    control.lend_and_reclaim(start);
    control.checks.context = "components";
    let end = control.xen_current();
    control
        .checks
        .expect_eq("components_reservation_restored", end, start);
    control.checks
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

impl<C: Clock, X: Hypervisor> Control<'_, '_, '_, '_, C, X> {
    fn xen_current(&mut self) -> u64 {
        self.xen.current_reservation().unwrap_or_else(|errno| {
            defmt::error!("current_reservation failed errno={=i32}", errno.0);
            0
        })
    }

    fn control_client(&self) -> BalloonControlClient {
        BalloonControlClient::new(self.cast.control.1)
    }

    fn stats(&mut self) -> Option<StatsReply> {
        let client = self.control_client();
        let stats = self
            .rt
            .external(self.cast.control.0)
            .ok()
            .and_then(|mut sys| client.stats(&mut sys).ok());
        self.checks.expect("stats_answered", stats.is_some());
        stats
    }

    /// Let the balloon work until it is idle (or `SETTLE_NS` passed).
    fn settle(&mut self) {
        let until = self.rt.now_ns().saturating_add(SETTLE_NS);
        let idle = self.rt.run_until_idle(until);
        self.checks.expect("settled", idle);
    }

    fn set_target(&mut self, pages: u64) -> bool {
        let client = self.control_client();
        let set = self
            .rt
            .external(self.cast.control.0)
            .ok()
            .is_some_and(|mut sys| client.set_target(&mut sys, pages).is_ok());
        self.checks.expect("set_target_accepted", set)
    }

    /// What Xen should count when the server's books say `books`.
    fn xen_of(&self, books: u64) -> u64 {
        (books as i64).saturating_add(self.baseline) as u64
    }

    /// Move the target to `pages` (of the books), wait, and log the move as a step; returns the
    /// hypercalls and the time it took.
    fn move_to(&mut self, op: &'static str, pages: u64) -> Option<(u64, u64)> {
        let before = self.xen_current();
        let books = self.stats()?;
        let t0 = self.rt.now_ns();
        self.set_target(pages);
        self.settle();
        let elapsed = self.rt.now_ns().saturating_sub(t0);
        let after = self.xen_current();
        let books_after = self.stats()?;
        let calls = books_after.hypercalls.saturating_sub(books.hypercalls);
        log_step(op, calls, before, after, books.current, books_after.current);
        self.checks
            .expect_eq("target_reached", books_after.current, pages);
        let expected = self.xen_of(books_after.current);
        self.checks.expect_eq("xen_follows_books", after, expected);
        Some((calls, elapsed))
    }

    /// One policy: configure it, 64 MiB down from the books' `start` and back up; returns the
    /// hypercalls it made.
    fn policy_round(&mut self, name: &'static str, policy: Policy, start: u64) -> u64 {
        self.checks.context = name;
        let client = self.control_client();
        let configured = self
            .rt
            .external(self.cast.control.0)
            .ok()
            .is_some_and(|mut sys| {
                client
                    .configure(
                        &mut sys,
                        COMPOSITION.server.schedule_delay_s.saturating_mul(1000),
                        COMPOSITION.server.max_schedule_delay_s.saturating_mul(1000),
                        COMPOSITION.server.max_retry_count,
                        policy,
                    )
                    .is_ok()
            });
        self.checks.expect("configured", configured);
        let active = self.stats().map_or(0, |stats| u8::from(stats.policy));
        self.checks.expect_eq(
            "policy_active",
            u64::from(active),
            u64::from(u8::from(policy)),
        );
        let (Some((down, down_ns)), Some((up, up_ns))) = (
            self.move_to("decrease", start - ROUND_PAGES),
            self.move_to("populate", start),
        ) else {
            return 0;
        };
        let bytes = ROUND_PAGES * PAGE_BYTES;
        defmt::info!(
            "hypercalls path=components policy={=str} bytes={=u64} decrease={=u64} populate={=u64}",
            name,
            bytes,
            down,
            up
        );
        for (op, calls, ns) in [
            ("set_target_down", down, down_ns),
            ("set_target_up", up, up_ns),
        ] {
            let micros = ns / 1000;
            defmt::info!(
                "timing path=components policy={=str} op={=str} bytes={=u64} calls={=u64} ms={=u64}.{=u64:03}",
                name,
                op,
                bytes,
                calls,
                micros / 1000,
                micros % 1000
            );
        }
        down + up
    }

    fn runs_lease(&self, runs: u32, writable: bool) -> LeaseDescriptor {
        LeaseDescriptor {
            region: self.cast.client.2 .0,
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
        let (client, endpoint, _) = self.cast.client;
        let stubs = BalloonClient::new(endpoint);
        let lease = self.runs_lease(0, true);
        let reply = self
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
        let (client, endpoint, _) = self.cast.client;
        let lease = self.runs_lease(0, true);
        let mut submitter = Submitter {
            rt: &mut *self.rt,
            client,
        };
        let stubs = BalloonDeferredClient::new(endpoint);
        let Ok(pending) = stubs.alloc_unpopulated(&mut submitter, count, max_gfn, lease) else {
            defmt::error!("alloc_unpopulated not delivered");
            return (false, None);
        };
        let token = *pending.call();
        let mut reply = [0u8; MESSAGE_BYTES];
        let at_once = self.rt.take_reply(token, &mut reply);
        let deferred = at_once.is_none();
        let answer = at_once.or_else(|| {
            self.settle();
            self.rt.take_reply(token, &mut reply)
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
        let Some(region) = self.rt.region(self.cast.client.2) else {
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
        let current = self.xen_current();
        self.checks
            .expect_eq("lending_range_costs_no_ram", current, start);
        let (client, endpoint, _) = self.cast.client;
        let stubs = BalloonClient::new(endpoint);
        let lease = self.runs_lease(runs, false);
        let freed = self
            .rt
            .external(client)
            .ok()
            .is_some_and(|mut sys| stubs.free_unpopulated(&mut sys, runs, lease).is_ok());
        self.checks.expect("returned", freed);
        let lent = self.stats().map_or(u64::MAX, |stats| stats.lent);
        self.checks.expect_eq("nothing_lent_after_return", lent, 0);
        self.borrow_low_then_die(start);
    }

    /// Borrow below 4 GiB (the server balloons RAM out first and answers late), then die holding
    /// the frames: the server reclaims them and repopulates to its target.
    fn borrow_low_then_die(&mut self, start: u64) {
        let before = self.xen_current();
        let Some(books) = self.stats() else {
            return;
        };
        let (deferred, runs) = self.borrow_deferred(BORROWED_LOW, BELOW_4G);
        self.checks.expect("answered_late", deferred);
        let after = self.xen_current();
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
        self.checks
            .expect_eq("ballooned_out_to_lend", after, before - BORROWED_LOW);
        let (client, ..) = self.cast.client;
        let killed = self.rt.kill(client).is_ok();
        self.checks.expect("client_killed", killed);
        self.settle();
        let reclaimed = self.xen_current();
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
