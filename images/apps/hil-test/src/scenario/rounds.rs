//! The components phase's policy rounds, played the same by the static images' control component
//! and by the seL4 control PD: for each policy (`configure`: ballast's superpages, then the seed's
//! 4 KiB extents) move the balloon target 64 MiB down and back up with `set_target`, check every
//! move against the server's books (`stats`) and Xen's count, and log it as a `step` line, then
//! the policy's `hypercalls` and `timing` lines (the host checks that superpages need fewer
//! reservation hypercalls than the seed's 4 KiB extents). What differs where the control runs (how
//! it reaches the memory server, how it lets the balloon settle, how it reads Xen's count) is a
//! [`Control`].

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
    fn move_to(&mut self, op: &'static str, pages: u64) -> Option<(u64, u64)> {
        let before = self.xen_current();
        let books = self.stats()?;
        let t0 = self.control.now_ns();
        let set = self
            .control
            .call(|client, sys| client.set_target(sys, pages).is_ok())
            .unwrap_or(false);
        self.checks.expect("set_target_accepted", set);
        let books_after = self.control.settle(&mut self.checks, pages)?;
        let elapsed = self.control.now_ns().saturating_sub(t0);
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
        self.checks
            .expect_eq("target_reached", books_after.current, pages);
        let expected = (books_after.current as i64).saturating_add(self.baseline) as u64;
        self.checks
            .expect_eq("xen_follows_books", after.current, expected);
        if let Some(drift) = after.drift {
            self.checks.expect_eq("no_drift", drift, 0);
        }
        Some((calls, elapsed))
    }

    /// One policy: configure it, 64 MiB down from the books' `start` and back up; its hypercalls.
    fn policy_round(&mut self, name: &'static str, policy: Policy, start: u64) -> u64 {
        self.checks.context = name;
        self.configure(name, policy);
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
}
