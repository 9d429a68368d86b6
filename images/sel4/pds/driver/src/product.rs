//! The product's control agent and test client (the driver without the feature `hil-test`). The
//! control agent does what the memory-server app's boot agent does on the static images, through
//! real IPC to the memory server's PD: it starts the server (`reconcile`: its baseline against
//! Xen's count) and logs the books, balloons to the boot target if the command line gives one
//! (`target_mib=`, read as the app reads it), waits until the books reach the target, logs them
//! again, says it serves, and blocks on its notification for good, each line the one the app
//! logs, so the host checks both alike. No toolstack agent steers the target yet. The test
//! client has nothing to do in the product: it blocks.

use ballast_app_memory_server::serve::{self, BOOT_TARGET_KEY};
use ballast_interfaces::balloon_control::BalloonControlClient;
use ballast_ipc::sel4_rt::Sel4Client;
use ballast_ipc::Sys;
use ballast_sel4_pd_rt::entry::{die, park};
use ballast_sel4_pd_rt::system::{self, COMPOSITION};
use ballast_sel4_pd_rt::{Pd, Sel4Pd};
use ballast_system::Kind;

/// How long the control agent lets the other PDs run between two looks at the books.
const POLL_NS: u64 = 1_000_000;

/// The control agent's PD, reaching the memory server over its `BalloonControl` capability.
struct Agent {
    sys: Sel4Client<'static, Sel4Pd>,
    client: BalloonControlClient,
}

impl Agent {
    /// Reconcile the books with Xen and log them with the statistics, as `what`; the books'
    /// current and target pages.
    fn report(&mut self, what: &str) -> Option<(u64, u64)> {
        let answers = (self.client.reconcile(&mut self.sys))
            .and_then(|reconciled| Ok((reconciled, self.client.stats(&mut self.sys)?)));
        let Ok((reconciled, stats)) = answers else {
            defmt::error!("memory_server at={=str}: reconcile or stats refused", what);
            return None;
        };
        // The control agent cannot see the server's scrubs: the line leaves their count out, and the
        // server's PD logs each refused scrub itself (`scrub refused`), which the host counts.
        serve::log_books(what, (reconciled, stats), None);
        Some((stats.current, stats.target))
    }

    /// Look at the books until they reach their target (the server balloons on its timer).
    fn settle(&mut self) -> Option<()> {
        loop {
            let stats = self.client.stats(&mut self.sys).ok()?;
            if stats.current == stats.target {
                return Some(());
            }
            let until = self.sys.now_ns().saturating_add(POLL_NS);
            self.sys.wait_until(until);
        }
    }
}

/// Play the control agent: start the server, balloon to the boot target, report, block.
pub fn control(pd: &Pd) -> ! {
    let command_line = pd.command_line();
    let Ok(target_pages) = serve::target_pages(command_line) else {
        defmt::error!(
            "{=str}={=?}: not a number of MiB",
            BOOT_TARGET_KEY,
            command_line.value(BOOT_TARGET_KEY)
        );
        die()
    };
    let memory = COMPOSITION.first_of(Kind::MemoryServer);
    let Some((endpoint, _)) = memory.and_then(|m| COMPOSITION.capability(pd.component, m.id))
    else {
        defmt::error!(
            "pd={=str} holds no capability to the memory server",
            pd.name
        );
        die()
    };
    let mut agent = Agent {
        sys: system::client(pd),
        client: BalloonControlClient::new(endpoint),
    };
    if agent.report("started").is_none() {
        die()
    }
    if let Some(pages) = target_pages {
        defmt::info!("memory_server at=boot_target pages={=u64}", pages);
        if agent.client.set_target(&mut agent.sys, pages).is_err() {
            defmt::error!("set_target pages={=u64} refused", pages);
            die()
        }
    }
    if agent.settle().is_none() || agent.report("idle").is_none() {
        die()
    }
    serve::log_serving(false);
    park()
}

/// The test client: nothing to do in the product; it blocks for good (alive, so that the root
/// task reports no death).
pub fn test_client() -> ! {
    park()
}
