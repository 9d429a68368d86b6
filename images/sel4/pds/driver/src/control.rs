//! The control agent: it makes the seed's policy the server's, so that the test client's loan
//! below 4 GiB takes two batches and is answered late, and says go to the test client (bit 0 of
//! its notification, as the manifest grants); once that loan has come and gone (the client died
//! holding it and the server reclaimed it), for each policy (`configure`: ballast's superpages,
//! then the seed's 4 KiB extents) it moves the balloon target 64 MiB down and back up with
//! `set_target`, waits for the books to reach it, and checks every move against the books
//! (`stats`) and Xen's count (`reconcile`, which the server reads through the gateway: only the
//! gateway's PD reaches Xen). It logs `step`, `hypercalls` and `timing` lines like the static
//! images' components phase (the host checks that superpages need fewer reservation hypercalls
//! than the seed's 4 KiB extents), the check tally and a verdict, then parks.

use ballast_app_hil_test::scenario::Checks;
use ballast_interfaces::balloon_control::{BalloonControlClient, Policy, StatsReply};
use ballast_ipc::sel4_rt::Sel4Client;
use ballast_ipc::Sys;
use ballast_sel4_pd_rt::entry::{die, park};
use ballast_sel4_pd_rt::system::{self, COMPOSITION};
use ballast_sel4_pd_rt::{Pd, Sel4Pd};
use ballast_system::Kind;

const MIB: u64 = 1 << 20;
const PAGE_BYTES: u64 = 4096;
/// What each policy balloons.
const ROUND_PAGES: u64 = 64 * MIB / PAGE_BYTES;
/// How long the control waits for the balloon to settle after each request, and for the test
/// client's loan to come and go.
const SETTLE_NS: u64 = 60_000_000_000;
/// How long it lets the other PDs run between two looks at the books.
const POLL_NS: u64 = 1_000_000;
/// The policies `configure` takes, with their names in log lines.
const POLICIES: [(&str, Policy); 2] = [("2M", Policy::Ballast), ("4K", Policy::Seed)];

struct Control {
    sys: Sel4Client<'static, Sel4Pd>,
    client: BalloonControlClient,
    checks: Checks,
    /// Xen's count minus the books', at the start.
    baseline: i64,
}

impl Control {
    fn stats(&mut self) -> Option<StatsReply> {
        let stats = self.client.stats(&mut self.sys).ok();
        self.checks.expect("stats_answered", stats.is_some());
        stats
    }

    /// Xen's count as the server reads it now, and the drift of its books from it.
    fn xen_current(&mut self) -> (u64, u64) {
        match self.client.reconcile(&mut self.sys) {
            Ok(reconciled) => (reconciled.xen_current, reconciled.drift),
            Err(_) => {
                self.checks.expect("reconcile_answered", false);
                (0, u64::MAX)
            }
        }
    }

    fn wait(&mut self) {
        let until = self.sys.now_ns().saturating_add(POLL_NS);
        self.sys.wait_until(until);
    }

    /// Look at the books until `done` holds or [`SETTLE_NS`] passed; the last books seen.
    fn settle(&mut self, done: impl Fn(&StatsReply) -> bool) -> Option<StatsReply> {
        let give_up = self.sys.now_ns().saturating_add(SETTLE_NS);
        loop {
            let stats = self.client.stats(&mut self.sys).ok()?;
            if done(&stats) || self.sys.now_ns() > give_up {
                return Some(stats);
            }
            self.wait();
        }
    }

    /// Say go to the test client (the bits of the control's notification capability to it).
    fn go(&mut self) -> bool {
        let me = self.sys.component().0;
        let capability = (COMPOSITION.all_of(Kind::DriverClient))
            .find_map(|client| COMPOSITION.notify_capability(me, client.id));
        capability.is_some_and(|(endpoint, bits)| self.sys.notify(endpoint, bits).is_ok())
    }

    /// Wait for the test client's loan below 4 GiB to be granted and, once it died, reclaimed:
    /// the server has made reservation hypercalls since `hypercalls` (the loan's batches; nothing
    /// else moves the balloon meanwhile), lends nothing, and is back at its target.
    fn await_test_client(&mut self, hypercalls: u64) -> bool {
        let give_up = self.sys.now_ns().saturating_add(SETTLE_NS);
        while self.sys.now_ns() < give_up {
            let Ok(stats) = self.client.stats(&mut self.sys) else {
                return false;
            };
            if stats.hypercalls > hypercalls && stats.lent == 0 && stats.current == stats.target {
                return true;
            }
            self.wait();
        }
        false
    }

    /// Move the target to `pages`, wait, check and log the move; its hypercalls and nanoseconds.
    fn move_to(&mut self, op: &'static str, pages: u64) -> Option<(u64, u64)> {
        let (before, _) = self.xen_current();
        let books = self.stats()?;
        let t0 = self.sys.now_ns();
        let set = self.client.set_target(&mut self.sys, pages).is_ok();
        self.checks.expect("set_target_accepted", set);
        let after_books = self.settle(|stats| stats.current == pages)?;
        let elapsed = self.sys.now_ns().saturating_sub(t0);
        let (after, drift) = self.xen_current();
        let calls = after_books.hypercalls.saturating_sub(books.hypercalls);
        defmt::info!(
            "step op={=str} order=0 calls={=u64} requested={=u64} done={=u64} before={=u64} after={=u64} path=components",
            op,
            calls,
            books.current.abs_diff(pages),
            books.current.abs_diff(after_books.current),
            before,
            after
        );
        self.checks
            .expect_eq("target_reached", after_books.current, pages);
        let expected = (after_books.current as i64).saturating_add(self.baseline) as u64;
        self.checks.expect_eq("xen_follows_books", after, expected);
        self.checks.expect_eq("no_drift", drift, 0);
        Some((calls, elapsed))
    }

    /// Make `policy` the server's, with the manifest's tunables.
    fn configure(&mut self, name: &'static str, policy: Policy) {
        let server = COMPOSITION.server;
        let configured = self.client.configure(
            &mut self.sys,
            server.schedule_delay_s.saturating_mul(1000),
            server.max_schedule_delay_s.saturating_mul(1000),
            server.max_retry_count,
            policy,
        );
        defmt::info!("configured policy={=str}", name);
        self.checks.expect("configured", configured.is_ok());
    }

    /// One policy: configure it, 64 MiB down from `start` and back up; its hypercalls.
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

/// Play the control agent, log the verdict, park.
pub fn run(pd: &Pd) -> ! {
    let memory = COMPOSITION.first_of(Kind::MemoryServer);
    let Some((endpoint, _)) = memory.and_then(|m| COMPOSITION.capability(pd.component, m.id))
    else {
        defmt::error!(
            "pd={=str} holds no capability to the memory server",
            pd.name
        );
        die()
    };
    let mut control = Control {
        sys: system::client(pd),
        client: BalloonControlClient::new(endpoint),
        checks: Checks::default(),
        baseline: 0,
    };
    control.checks.context = "lending";
    // The seed's policy balloons 512 frames a batch: the test client's loan below 4 GiB then
    // takes two, the second on the server's timer, so the server answers it late.
    let (seed_name, seed) = POLICIES[1];
    control.configure(seed_name, seed);
    let (booted, _) = control.xen_current();
    let hypercalls = control.stats().map_or(u64::MAX, |stats| stats.hypercalls);
    let go = control.go();
    control.checks.expect("test_client_told_go", go);
    let reclaimed = control.await_test_client(hypercalls);
    control
        .checks
        .expect("test_client_loan_reclaimed", reclaimed);
    let (reclaimed_at, drift) = control.xen_current();
    defmt::info!(
        "reclaimed xen_before={=u64} xen_after={=u64} drift={=u64}",
        booted,
        reclaimed_at,
        drift
    );
    control
        .checks
        .expect_eq("repopulated_after_reclaim", reclaimed_at, booted);
    control.checks.expect_eq("no_drift_after_reclaim", drift, 0);
    control.checks.context = "components";
    let Some(stats) = control.settle(|stats| stats.current == stats.target) else {
        control.checks.expect("stats_answered", false);
        finish(&control.checks)
    };
    let (xen, drift) = control.xen_current();
    control.baseline = xen as i64 - stats.current as i64;
    defmt::info!(
        "server current={=u64} total={=u64} target={=u64} xen_current={=u64} drift={=u64} baseline={=i64} policy={=u8}",
        stats.current,
        stats.total,
        stats.target,
        xen,
        drift,
        control.baseline,
        u8::from(stats.policy)
    );
    control.checks.expect(
        "books_cover_guest_ram",
        stats.current > 0 && stats.current <= xen,
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
    let (end, _) = control.xen_current();
    control
        .checks
        .expect_eq("components_reservation_restored", end, xen);
    finish(&control.checks)
}

/// Log the tally and the verdict, then park.
fn finish(checks: &Checks) -> ! {
    let passed = checks.report();
    defmt::info!("RESULT {=str}", if passed { "PASS" } else { "FAIL" });
    park()
}
