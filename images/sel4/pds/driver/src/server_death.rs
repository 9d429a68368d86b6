//! The `server-death` scenario (`scenario=server-death`): the memory server's PD dies holding the
//! control agent's first call. The control agent finds that call answered `ServerRestarted` (the
//! dead server's last rites, run by the root task, answered it) and its next one too (the dead
//! server's endpoint answers every later call so), then says go; the test client finds its borrow
//! answered `ServerRestarted` at once instead of blocking. Each logs its checks and a verdict.

use ballast_app_hil_test::scenario::Checks;
use ballast_interfaces::balloon::{BalloonClient, BalloonError};
use ballast_interfaces::balloon_control::{BalloonControlClient, BalloonControlError};
use ballast_interfaces::support::CallError;
use ballast_ipc::sel4_rt::Sel4Client;
use ballast_ipc::{LeaseDescriptor, Sys};
use ballast_sel4_pd_rt::entry::{die, park, SERVER_DEATH};
use ballast_sel4_pd_rt::system::COMPOSITION;
use ballast_sel4_pd_rt::{Pd, Sel4Pd};
use ballast_system::Kind;

/// Whether `pd` plays the `server-death` scenario.
pub fn chosen(pd: &Pd) -> bool {
    pd.scenario_is(SERVER_DEATH)
}

/// The control agent's part: two calls to the dead server, go to the test client, the verdict.
pub fn control(sys: &mut Sel4Client<'static, Sel4Pd>, client: &BalloonControlClient) -> ! {
    let mut checks = Checks::default();
    checks.context = "server_death";
    let restarted = Err(CallError::Interface(BalloonControlError::ServerRestarted));
    let in_hand = client.stats(sys).map(|_| ());
    let later = client.stats(sys).map(|_| ());
    defmt::info!(
        "server_death call_in_hand_restarted={=bool} later_call_restarted={=bool}",
        in_hand == restarted,
        later == restarted
    );
    checks.expect(
        "call_in_hand_answered_server_restarted",
        in_hand == restarted,
    );
    checks.expect("later_call_answered_server_restarted", later == restarted);
    let me = sys.component().0;
    let go = (COMPOSITION.all_of(Kind::DriverClient))
        .find_map(|client| COMPOSITION.notify_capability(me, client.id))
        .is_some_and(|(endpoint, bits)| sys.notify(endpoint, bits).is_ok());
    checks.expect("test_client_told_go", go);
    let passed = checks.report();
    defmt::info!("RESULT {=str}", if passed { "PASS" } else { "FAIL" });
    park()
}

/// The test client's part, once told go: a borrow through `balloon`, lending `lease`, from the
/// dead server; the verdict; then it dies.
pub fn test_client(
    sys: &mut Sel4Client<'static, Sel4Pd>,
    balloon: &BalloonClient,
    lease: LeaseDescriptor,
) -> ! {
    let mut checks = Checks::default();
    checks.context = "server_death";
    let borrowed = balloon
        .alloc_unpopulated(sys, 1, u64::MAX, lease)
        .map(|_| ());
    let restarted = borrowed == Err(CallError::Interface(BalloonError::ServerRestarted));
    defmt::info!("server_death borrow_restarted={=bool}", restarted);
    checks.expect("borrow_answered_server_restarted", restarted);
    let passed = checks.report();
    defmt::info!(
        "RESULT {=str} testclient",
        if passed { "PASS" } else { "FAIL" }
    );
    die()
}
