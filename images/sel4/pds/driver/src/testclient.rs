//! The test client: once the control agent, having timed its round trips and made the seed's
//! policy the server's, says go, it times borrowing one frame and giving it back
//! ([`crate::costs`]), lends the stand-in server bytes read-only (which, under
//! `scenario=isolation`, tries to write into them and faults: [`lend_read_only`]), borrows 512
//! frames of the lending range and returns them, then borrows 1024 frames below 4 GiB, which the memory server must balloon out first in two of the seed's batches, the
//! second on its timer: the call is answered through the reply capability the server saved. Then
//! it dies holding them: the root task reports the death and the server reclaims them (its PD
//! logs `client_died ... answered_late=N`). Under `scenario=isolation` it first tries Xen
//! without a capability, and dies by the hypercall instruction ([`isolation::last_act`]).

use ballast_app_hil_test::scenario::Checks;
use ballast_interfaces::balloon::BalloonClient;
use ballast_interfaces::echo::{self, EchoClient, EchoError};
use ballast_interfaces::runs;
use ballast_interfaces::support::CallError;
use ballast_ipc::sel4_rt::Sel4Client;
use ballast_ipc::{LeaseDescriptor, LeaseId, Sys};
use ballast_sel4_pd_rt::entry::die;
use ballast_sel4_pd_rt::system::{self, COMPOSITION};
use ballast_sel4_pd_rt::{Pd, Sel4Pd};
use ballast_system::Kind;
use ballast_xen::Gfn;

use crate::isolation;

/// What the client borrows from the lending range.
const BORROWED: u64 = 512;
/// What it borrows below 4 GiB: two of the seed's batches.
const BORROWED_LOW: u64 = 1024;
/// The highest gfn below 4 GiB: a constraint the lending range (above 4 GiB) cannot meet.
const BELOW_4G: u64 = (1 << 20) - 1;
/// Bytes of one run in a runs lease.
const RUN_BYTES: u32 = 16;

struct Client {
    sys: Sel4Client<'static, Sel4Pd>,
    balloon: BalloonClient,
    region: (LeaseId, u32),
    checks: Checks,
}

impl Client {
    fn lease(&self, len: u32, writable: bool) -> LeaseDescriptor {
        LeaseDescriptor {
            region: self.region.0 .0,
            writable: u16::from(writable),
            offset: 0,
            len,
            reserved: 0,
        }
    }

    /// Borrow `count` frames at or below `max_gfn`; the runs written, their frames and their
    /// lowest and highest gfn.
    fn borrow(&mut self, count: u64, max_gfn: u64) -> Option<(u32, u64, u64, u64)> {
        let lease = self.lease(self.region.1, true);
        let granted = self
            .balloon
            .alloc_unpopulated(&mut self.sys, count, max_gfn, lease)
            .ok()?;
        let region = self.sys.own_region(self.region.0)?;
        let lent = runs::read(region, granted.runs as usize)?;
        let (frames, low, high) = lent
            .iter()
            .fold((0, u64::MAX, 0), |(frames, low, high), run| {
                let last = run.first_gfn + run.count.saturating_sub(1);
                (frames + run.count, low.min(run.first_gfn), high.max(last))
            });
        defmt::info!(
            "borrowed runs={=u32} frames={=u64} low={=u64:#x} high={=u64:#x}",
            granted.runs,
            frames,
            low,
            high
        );
        Some((granted.runs, frames, low, high))
    }
}

/// Bytes the test client lends the stand-in, and the value each holds.
const LENT: (u32, u8) = (64, 0x5a);

/// Lend the stand-in server (the driver client that serves Echo) `LENT` bytes of the region they
/// share, read-only, with `sum`. In the balloon scenario it answers their sum. Under the isolation
/// scenario it writes into them while the call is in hand, where the root task mapped them
/// read-only: it faults, its last rites answer the call, and the call fails with
/// `ServerRestarted`; the bytes must be as lent.
fn lend_read_only(pd: &Pd, client: &mut Client) {
    let me = pd.component;
    let standin = (COMPOSITION.components.iter())
        .find(|component| component.serves.contains(&echo::INTERFACE_ID));
    let wiring = standin.and_then(|standin| {
        let (endpoint, _) = COMPOSITION.capability(me, standin.id)?;
        Some((endpoint, COMPOSITION.lease(me, standin.id)?.0))
    });
    let Some((endpoint, region)) = wiring else {
        client.checks.expect("standin_wired", false);
        return;
    };
    let (len, byte) = LENT;
    let lent = client
        .sys
        .own_region(region)
        .and_then(|bytes| bytes.get_mut(..len as usize));
    let Some(lent) = lent else {
        client.checks.expect("standin_region_owned", false);
        return;
    };
    lent.fill(byte);
    let lease = LeaseDescriptor {
        region: region.0,
        writable: 0,
        offset: 0,
        len,
        reserved: 0,
    };
    let summed = EchoClient::new(endpoint).sum(&mut client.sys, lease);
    let isolation = isolation::chosen(pd);
    defmt::info!(
        "lent_read_only to=standin bytes={=u32} answered={=bool} server_restarted={=bool}",
        len,
        summed.is_ok(),
        summed == Err(CallError::Interface(EchoError::ServerRestarted))
    );
    if isolation {
        client.checks.context = "isolation";
        client.checks.expect(
            "standin_write_into_read_only_lease_faulted",
            summed == Err(CallError::Interface(EchoError::ServerRestarted)),
        );
    } else {
        let total = u64::from(len) * u64::from(byte);
        client.checks.expect(
            "standin_summed_read_only_lease",
            summed.is_ok_and(|reply| reply.total == total),
        );
    }
    let intact = (client.sys.own_region(region))
        .and_then(|bytes| bytes.get(..len as usize))
        .is_some_and(|bytes| bytes.iter().all(|&lent| lent == byte));
    client.checks.expect("lent_bytes_unchanged", intact);
}

/// Play the test client, then die holding the frames borrowed below 4 GiB.
pub fn run(pd: &Pd) -> ! {
    let (me, memory) = (pd.component, COMPOSITION.first_of(Kind::MemoryServer));
    let wiring = memory.and_then(|memory| {
        let (endpoint, _) = COMPOSITION.capability(me, memory.id)?;
        Some((endpoint, COMPOSITION.lease(me, memory.id)?))
    });
    let Some((endpoint, region)) = wiring else {
        defmt::error!(
            "pd={=str} holds no capability or region to the memory server",
            pd.name
        );
        die()
    };
    let mut client = Client {
        sys: system::client(pd),
        balloon: BalloonClient::new(endpoint),
        region,
        checks: Checks::default(),
    };
    // The control agent says go once it has timed its round trips (the memory server answers
    // only those meanwhile) and the seed's policy is the server's.
    let go = client.sys.wait_notified();
    defmt::info!("go bits={=u32:#x}", go.0);
    if crate::server_death::chosen(pd) {
        let lease = client.lease(client.region.1, true);
        crate::server_death::test_client(&mut client.sys, &client.balloon, lease)
    }
    client.checks.context = "costs";
    let leases = (
        client.lease(client.region.1, true),
        client.lease(RUN_BYTES, false),
    );
    let timed = crate::costs::borrow_give_back(&mut client.sys, &client.balloon, leases);
    client
        .checks
        .expect("borrowed_and_gave_back_one_frame", timed);
    client.checks.context = "lending";
    lend_read_only(pd, &mut client);
    client.checks.context = "lending";
    let lending = COMPOSITION.memory.unpopulated;
    match client.borrow(BORROWED, u64::MAX) {
        Some((runs, frames, low, high)) => {
            client.checks.expect_eq("borrowed_frames", frames, BORROWED);
            client.checks.expect(
                "borrowed_from_lending_range",
                low >= lending.start() && high < lending.end(),
            );
            let lease = client.lease(runs * RUN_BYTES, false);
            let freed = client
                .balloon
                .free_unpopulated(&mut client.sys, runs, lease);
            client.checks.expect("returned", freed.is_ok());
        }
        None => {
            client.checks.expect("borrowed_from_lending_range", false);
        }
    }
    let low = client.borrow(BORROWED_LOW, BELOW_4G);
    let (frames, high) = low.map_or((0, u64::MAX), |(_, frames, _, high)| (frames, high));
    client
        .checks
        .expect_eq("borrowed_low_frames", frames, BORROWED_LOW);
    client.checks.expect("borrowed_below_4g", high <= BELOW_4G);
    if isolation::chosen(pd) {
        let ballooned = low.map(|(_, _, first, _)| Gfn(first));
        isolation::last_act(pd, &mut client.checks, ballooned, frames)
    }
    let passed = client.checks.report();
    defmt::info!(
        "RESULT {=str} testclient dies holding frames={=u64}",
        if passed { "PASS" } else { "FAIL" },
        frames
    );
    die()
}
