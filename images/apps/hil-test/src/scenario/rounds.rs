//! The components phase's policy rounds, played the same by the static images' control component
//! and by the seL4 control PD: for each policy (`configure`: ballast's superpages, then the seed's
//! 4 KiB extents) move the balloon target 64 MiB down and back up with `set_target`, check every
//! move against the server's books (`stats`) and Xen's count, and log it as a `step` line, then
//! the policy's `hypercalls` and `timing` lines (the host checks that superpages need fewer
//! reservation hypercalls than the seed's 4 KiB extents). What differs where the control runs (how
//! it reaches the memory server, how it lets the balloon settle, how it reads Xen's count) is a
//! [`Control`]. The product path's timed rounds ([`Rounds::timed`], 128 MiB, asked for by
//! `ballast hil --timings`) come first where they run, with the policies in alternating order.

use ballast_interfaces::balloon_control::{BalloonControlClient, Policy, StatsReply};
use ballast_ipc::Sys;
use ballast_system::ServerSizing;

use super::Checks;

const MIB: u64 = 1 << 20;
const PAGE_BYTES: u64 = 4096;
/// What each policy balloons.
const ROUND_PAGES: u64 = 64 * MIB / PAGE_BYTES;
/// The policies `configure` takes, with their names in log lines.
pub const POLICIES: [(&str, Policy); 2] = [("2M", Policy::Ballast), ("4K", Policy::Seed)];

/// What each timed round balloons through the product path.
const TIMED_PAGES: u64 = 128 * MIB / PAGE_BYTES;

/// Which policy goes first in each pair of timed runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum PolicyOrder {
    /// ballast's superpages, then the seed's 4 KiB extents (the default).
    BallastFirst,
    /// The seed's 4 KiB extents, then ballast's superpages.
    SeedFirst,
}

impl PolicyOrder {
    /// The policies in this order, with their names in log lines.
    pub const fn policies(self) -> [(&'static str, Policy); 2] {
        match self {
            PolicyOrder::BallastFirst => POLICIES,
            PolicyOrder::SeedFirst => [POLICIES[1], POLICIES[0]],
        }
    }

    /// The other order.
    pub const fn reversed(self) -> PolicyOrder {
        match self {
            PolicyOrder::BallastFirst => PolicyOrder::SeedFirst,
            PolicyOrder::SeedFirst => PolicyOrder::BallastFirst,
        }
    }
}

/// Time the components spent in scrubbing and in Xen, as counted apart from them (where the
/// control can see it: the static images time the memory server's scrubber and the gateway's
/// hypercall instruction).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spent {
    /// Nanoseconds zeroing frames.
    pub scrub_ns: u64,
    /// Nanoseconds inside hypercalls.
    pub hypercall_ns: u64,
}

impl Spent {
    /// What was spent between `earlier` and `self`.
    fn since(self, earlier: Spent) -> Spent {
        Spent {
            scrub_ns: self.scrub_ns.saturating_sub(earlier.scrub_ns),
            hypercall_ns: self.hypercall_ns.saturating_sub(earlier.hypercall_ns),
        }
    }
}

/// One settled move of the target: its hypercalls, nanoseconds, and where they went (if known).
#[derive(Clone, Copy, Debug)]
struct Move {
    calls: u64,
    elapsed_ns: u64,
    spent: Option<Spent>,
    /// Pages the server zeroed in the move, and pages it gave back unscrubbed (clean chunks).
    scrubbed: (u64, u64),
}

/// Xen's page count as the control reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenCount {
    /// `XENMEM_current_reservation`.
    pub current: u64,
    /// How far the server's books are from it, where the control reads it through the server
    /// (`reconcile`); `None` where it reads Xen directly.
    pub drift: Option<u64>,
}

/// What the rounds need from where the control runs.
pub trait Control {
    /// Call the memory server's `BalloonControl` on the control's behalf; `None` when the control
    /// cannot reach it.
    fn call<R>(&mut self, call: impl FnOnce(&BalloonControlClient, &mut dyn Sys) -> R)
        -> Option<R>;

    /// Monotonic time in nanoseconds.
    fn now_ns(&self) -> u64;

    /// Let the balloon work after the target moved to `pages` until it settles (or the control
    /// gives up); the server's books then, `None` when they could not be read.
    fn settle(&mut self, checks: &mut Checks, pages: u64) -> Option<StatsReply>;

    /// Xen's count now.
    fn xen_current(&mut self, checks: &mut Checks) -> XenCount;

    /// Run after every `step` line the rounds log (where the run holds for the host's reading).
    fn after_step(&mut self) {}

    /// What the components spent so far in scrubbing and in Xen, where the control can count it.
    fn spent(&self) -> Option<Spent> {
        None
    }

    /// The server's books, checked to answer.
    fn stats(&mut self, checks: &mut Checks) -> Option<StatsReply> {
        let stats = self.call(|client, sys| client.stats(sys).ok()).flatten();
        checks.expect("stats_answered", stats.is_some());
        stats
    }
}

/// The control's rounds over `C`, with the checks they make.
#[derive(Debug)]
pub struct Rounds<C: Control> {
    /// Where the control runs.
    pub control: C,
    /// The checks made so far.
    pub checks: Checks,
    /// The server's tunables, as `configure` passes them.
    server: ServerSizing,
    /// Xen's page count minus the server's books, at the start.
    baseline: i64,
}

impl<C: Control> Rounds<C> {
    /// Rounds over `control` for a server with tunables `server`.
    pub fn new(control: C, server: ServerSizing) -> Self {
        Self {
            control,
            checks: Checks::default(),
            server,
            baseline: 0,
        }
    }

    /// The server's books, checked to answer.
    pub fn stats(&mut self) -> Option<StatsReply> {
        self.control.stats(&mut self.checks)
    }

    /// Xen's count now.
    pub fn xen_current(&mut self) -> XenCount {
        self.control.xen_current(&mut self.checks)
    }

    /// Make `policy` the server's, with the manifest's tunables, and check that it is.
    pub fn configure(&mut self, name: &'static str, policy: Policy) {
        let server = self.server;
        let configured = self.control.call(|client, sys| {
            client
                .configure(
                    sys,
                    server.schedule_delay_s.saturating_mul(1000),
                    server.max_schedule_delay_s.saturating_mul(1000),
                    server.max_retry_count,
                    policy,
                )
                .is_ok()
        });
        defmt::info!("configured policy={=str}", name);
        self.checks.expect("configured", configured == Some(true));
        let active = self.stats().map_or(0, |stats| u8::from(stats.policy));
        self.checks.expect_eq(
            "policy_active",
            u64::from(active),
            u64::from(u8::from(policy)),
        );
    }

    /// Take the server's settled `books` and Xen's count `xen` as the start: log them, check that
    /// the books cover the guest's RAM, then play a round of each policy from there and check
    /// that superpages needed fewer hypercalls.
    pub fn play(&mut self, books: &StatsReply, xen: XenCount) {
        self.baseline = xen.current as i64 - books.current as i64;
        match xen.drift {
            None => defmt::info!(
                "server current={=u64} total={=u64} target={=u64} xen_current={=u64} baseline={=i64} policy={=u8}",
                books.current,
                books.total,
                books.target,
                xen.current,
                self.baseline,
                u8::from(books.policy)
            ),
            Some(drift) => defmt::info!(
                "server current={=u64} total={=u64} target={=u64} xen_current={=u64} drift={=u64} baseline={=i64} policy={=u8}",
                books.current,
                books.total,
                books.target,
                xen.current,
                drift,
                self.baseline,
                u8::from(books.policy)
            ),
        }
        self.checks.expect(
            "books_cover_guest_ram",
            books.current > 0 && books.current <= xen.current,
        );
        let mut calls = [0u64; 2];
        for (slot, (name, policy)) in calls.iter_mut().zip(POLICIES) {
            *slot = self.policy_round(name, policy, books.current);
        }
        self.checks.context = "components";
        self.checks.expect(
            "superpages_need_fewer_hypercalls",
            calls[0] > 0 && calls[0] < calls[1],
        );
    }

    /// Move the target to `pages` (of the books), wait, check and log the move as a step; its
    /// hypercalls and nanoseconds.
    fn move_to(&mut self, op: &'static str, pages: u64) -> Option<Move> {
        let before = self.xen_current();
        let books = self.stats()?;
        let spent_before = self.control.spent();
        let t0 = self.control.now_ns();
        let set = self
            .control
            .call(|client, sys| client.set_target(sys, pages).is_ok())
            .unwrap_or(false);
        self.checks.expect("set_target_accepted", set);
        let books_after = self.control.settle(&mut self.checks, pages)?;
        let elapsed_ns = self.control.now_ns().saturating_sub(t0);
        let spent = (self.control.spent())
            .zip(spent_before)
            .map(|(now, before)| now.since(before));
        let after = self.xen_current();
        let calls = books_after.hypercalls.saturating_sub(books.hypercalls);
        defmt::info!(
            "step op={=str} order=0 calls={=u64} requested={=u64} done={=u64} before={=u64} after={=u64} path=components",
            op,
            calls,
            books.current.abs_diff(pages),
            books.current.abs_diff(books_after.current),
            before.current,
            after.current
        );
        self.control.after_step();
        self.checks
            .expect_eq("target_reached", books_after.current, pages);
        let expected = (books_after.current as i64).saturating_add(self.baseline) as u64;
        self.checks
            .expect_eq("xen_follows_books", after.current, expected);
        if let Some(drift) = after.drift {
            self.checks.expect_eq("no_drift", drift, 0);
        }
        Some(Move {
            calls,
            elapsed_ns,
            spent,
            scrubbed: (
                books_after.scrubbed.saturating_sub(books.scrubbed),
                books_after
                    .scrub_skipped
                    .saturating_sub(books.scrub_skipped),
            ),
        })
    }

    /// One policy: configure it, 64 MiB down from the books' `start` and back up; its hypercalls.
    fn policy_round(&mut self, name: &'static str, policy: Policy, start: u64) -> u64 {
        self.checks.context = name;
        self.configure(name, policy);
        let (Some(down), Some(up)) = (
            self.move_to("decrease", start - ROUND_PAGES),
            self.move_to("populate", start),
        ) else {
            return 0;
        };
        let (down, down_ns, up, up_ns) = (down.calls, down.elapsed_ns, up.calls, up.elapsed_ns);
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

    /// The product path's timed rounds, before anything else moves the balloon: `rounds` times
    /// each policy moves the target 128 MiB down from the books' `start` and back up through the
    /// components, the pairs alternating between `order` and its reverse (A B, B A, A B, ...),
    /// each move logged as a `step` and as a `timing path=product` line with its round, the time
    /// to settle, and the time the components spent scrubbing and in Xen where the control can
    /// count it (the rest is bookkeeping and IPC). The host takes the boot's first move as cold.
    pub fn timed(&mut self, start: u64, order: PolicyOrder, rounds: u32) {
        let mut pair = order;
        for round in 1..=rounds {
            for (name, policy) in pair.policies() {
                self.checks.context = name;
                self.configure(name, policy);
                let down = self.move_to("decrease", start.saturating_sub(TIMED_PAGES));
                let up = self.move_to("populate", start);
                for (op, moved) in [("set_target_down", down), ("set_target_up", up)] {
                    let Some(moved) = moved else {
                        self.checks.expect("timed_move_settled", false);
                        continue;
                    };
                    log_product_timing(name, op, round, moved);
                }
            }
            pair = pair.reversed();
        }
    }
}

/// The `timing path=product` line of one timed move, in microseconds, with the pages the server
/// scrubbed and skipped (its own counters); `scrub_us` and `hypercall_us` are absent where the
/// control cannot count them.
fn log_product_timing(policy: &str, op: &str, round: u32, moved: Move) {
    let total_us = moved.elapsed_ns / 1000;
    let bytes = TIMED_PAGES * PAGE_BYTES;
    match moved.spent {
        Some(spent) => {
            let (scrub_us, hypercall_us) = (spent.scrub_ns / 1000, spent.hypercall_ns / 1000);
            defmt::info!(
                "timing path=product policy={=str} op={=str} round={=u32} bytes={=u64} calls={=u64} scrubbed={=u64} skipped={=u64} us={=u64} scrub_us={=u64} hypercall_us={=u64} rest_us={=u64}",
                policy,
                op,
                round,
                bytes,
                moved.calls,
                moved.scrubbed.0,
                moved.scrubbed.1,
                total_us,
                scrub_us,
                hypercall_us,
                total_us.saturating_sub(scrub_us).saturating_sub(hypercall_us)
            );
        }
        None => defmt::info!(
            "timing path=product policy={=str} op={=str} round={=u32} bytes={=u64} calls={=u64} scrubbed={=u64} skipped={=u64} us={=u64}",
            policy,
            op,
            round,
            bytes,
            moved.calls,
            moved.scrubbed.0,
            moved.scrubbed.1,
            total_us
        ),
    }
}
