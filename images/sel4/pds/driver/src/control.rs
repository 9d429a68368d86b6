//! The control agent: it first times the round trips to the memory server ([`crate::costs`]:
//! the server answers them before it serves anyone else, so the test client waits for go before
//! its first call), then makes the seed's policy the server's, so that the test client's loan
//! below 4 GiB takes two batches and is answered late, and says go to the test client (bit 0 of
//! its notification, as the manifest grants); once that loan has come and gone (the client died
//! holding it and the server reclaimed it), it plays the static images' policy rounds
//! (`ballast_app_hil_test::scenario::rounds`: 64 MiB down and back up under each policy, every
//! move checked against the books and Xen's count, logged as `step`, `hypercalls` and `timing`
//! lines) through real IPC: it reads Xen's count with `reconcile` (the server reads it through
//! the gateway: only the gateway's PD reaches Xen) and lets the balloon settle by looking at the
//! books until they reach the target. It logs the check tally and a verdict, then parks (under
//! `scenario=isolation` it executes `hvc` instead, and faults: [`crate::isolation`]).

use ballast_app_hil_test::scenario::rounds::{Control, Rounds, XenCount, POLICIES};
use ballast_app_hil_test::scenario::Checks;
use ballast_interfaces::balloon_control::{BalloonControlClient, StatsReply};
use ballast_ipc::sel4_rt::Sel4Client;
use ballast_ipc::Sys;
use ballast_sel4_pd_rt::entry::{die, park};
use ballast_sel4_pd_rt::system::{self, COMPOSITION};
use ballast_sel4_pd_rt::{Pd, Sel4Pd};
use ballast_system::Kind;

/// How long the control waits for the balloon to settle after each request, and for the test
/// client's loan to come and go.
const SETTLE_NS: u64 = 60_000_000_000;
/// How long it lets the other PDs run between two looks at the books.
const POLL_NS: u64 = 1_000_000;

/// The control agent's PD, reaching the memory server over its `BalloonControl` capability.
struct Sel4Control {
    sys: Sel4Client<'static, Sel4Pd>,
    client: BalloonControlClient,
    /// `stats` calls made by the last [`Sel4Control::settle_until`].
    polls: u64,
}

impl Sel4Control {
    /// Xen's count as the server reads it now, and the drift of its books from it.
    fn reconcile(&mut self, checks: &mut Checks) -> (u64, u64) {
        match self.client.reconcile(&mut self.sys) {
            Ok(reconciled) => (reconciled.xen_current, reconciled.drift),
            Err(_) => {
                checks.expect("reconcile_answered", false);
                (0, u64::MAX)
            }
        }
    }

    fn wait(&mut self) {
        let until = self.sys.now_ns().saturating_add(POLL_NS);
        self.sys.wait_until(until);
    }

    /// Look at the books until `done` holds or [`SETTLE_NS`] passed; the last books seen.
    fn settle_until(&mut self, done: impl Fn(&StatsReply) -> bool) -> Option<StatsReply> {
        let give_up = self.sys.now_ns().saturating_add(SETTLE_NS);
        self.polls = 0;
        loop {
            self.polls += 1;
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
}

impl Control for Sel4Control {
    fn call<R>(
        &mut self,
        call: impl FnOnce(&BalloonControlClient, &mut dyn Sys) -> R,
    ) -> Option<R> {
        Some(call(&self.client, &mut self.sys))
    }

    fn now_ns(&self) -> u64 {
        self.sys.now_ns()
    }

    /// Polls the books (a PD apart cannot see the server go idle), and logs how many `stats`
    /// calls that took: what the wait costs in round trips to the server.
    fn settle(&mut self, _checks: &mut Checks, pages: u64) -> Option<StatsReply> {
        let settled = self.settle_until(|stats| stats.current == pages);
        defmt::info!("settle pages={=u64} polls={=u64}", pages, self.polls);
        settled
    }

    fn xen_current(&mut self, checks: &mut Checks) -> XenCount {
        let (current, drift) = self.reconcile(checks);
        XenCount {
            current,
            drift: Some(drift),
        }
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
    let mut control = Sel4Control {
        sys: system::client(pd),
        client: BalloonControlClient::new(endpoint),
        polls: 0,
    };
    if crate::server_death::chosen(pd) {
        crate::server_death::control(&mut control.sys, &control.client)
    }
    crate::costs::round_trips(pd, &mut control.sys, endpoint);
    let mut rounds = Rounds::new(control, COMPOSITION.server);
    rounds.checks.context = "lending";
    // The seed's policy balloons 512 frames a batch: the test client's loan below 4 GiB then
    // takes two, the second on the server's timer, so the server answers it late.
    let (seed_name, seed) = POLICIES[1];
    rounds.configure(seed_name, seed);
    let (booted, _) = rounds.control.reconcile(&mut rounds.checks);
    let hypercalls = rounds.stats().map_or(u64::MAX, |stats| stats.hypercalls);
    let go = rounds.control.go();
    rounds.checks.expect("test_client_told_go", go);
    let reclaimed = rounds.control.await_test_client(hypercalls);
    rounds
        .checks
        .expect("test_client_loan_reclaimed", reclaimed);
    let (reclaimed_at, drift) = rounds.control.reconcile(&mut rounds.checks);
    defmt::info!(
        "reclaimed xen_before={=u64} xen_after={=u64} drift={=u64}",
        booted,
        reclaimed_at,
        drift
    );
    rounds
        .checks
        .expect_eq("repopulated_after_reclaim", reclaimed_at, booted);
    rounds.checks.expect_eq("no_drift_after_reclaim", drift, 0);
    if crate::isolation::chosen(pd) {
        // The test client tried to populate one of the frames it held, without a capability,
        // before it wrote into the memory server's frame list and died: had the populate
        // reached Xen, the reclaim would have populated the frame twice and Xen's count would
        // not be back where it was.
        defmt::info!(
            "isolation xen_before={=u64} xen_after={=u64} drift={=u64}",
            booted,
            reclaimed_at,
            drift
        );
        rounds.checks.context = "isolation";
        rounds
            .checks
            .expect_eq("client_hypercalls_reached_no_xen", reclaimed_at, booted);
    }
    rounds.checks.context = "components";
    let Some(stats) = rounds
        .control
        .settle_until(|stats| stats.current == stats.target)
    else {
        rounds.checks.expect("stats_answered", false);
        finish(pd, &rounds.checks)
    };
    let start = rounds.xen_current();
    rounds.play(&stats, start);
    let end = rounds.xen_current().current;
    rounds
        .checks
        .expect_eq("components_reservation_restored", end, start.current);
    finish(pd, &rounds.checks)
}

/// Log the tally and the verdict, then park (under the isolation scenario: try `hvc`, and die).
fn finish(pd: &Pd, checks: &Checks) -> ! {
    let passed = checks.report();
    defmt::info!("RESULT {=str}", if passed { "PASS" } else { "FAIL" });
    if crate::isolation::chosen(pd) {
        crate::isolation::hvc_last_act()
    }
    park()
}
