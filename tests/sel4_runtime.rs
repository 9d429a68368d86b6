//! The default manifest's system as seL4 protection domains on the host: the hypercall gateway
//! and the memory server, built by the one assembly (`ballast::system::build` over
//! `ballast_system`), each run unchanged by the seL4 runtime on its own thread over the host model
//! of seL4 5.0's IPC (`ballast_ipc::sel4_rt::host_kernel`); the toolstack agent and a driver
//! client are client-only PDs calling through the generated stubs. The balloon moves to its
//! targets under both policies, a loan it must balloon out for first is answered late through a
//! saved reply capability (and the server then refills its target), and a client that dies
//! holding frames, reported by the root task, has them reclaimed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use ballast::composition::{HOST, SIM};
use ballast::system::{self, ExternalCap};
use ballast_interfaces::balloon::BalloonClient;
use ballast_interfaces::balloon_control::{BalloonControlClient, Policy, StatsReply};
use ballast_interfaces::runs;
use ballast_ipc::sel4_rt::host_kernel::{HostKernel, HostPd};
use ballast_ipc::sel4_rt::{Sel4Abi, Sel4Client, Sel4Server};
use ballast_ipc::{ComponentId, Handler, LeaseDescriptor, Sys, Tables};

/// The badge conventions the root task mints with.
const ABI: Sel4Abi = Sel4Abi {
    endpoint_badge_bit: 1 << 27,
    root_task_badge: (1 << 27) | 0x7ff_ffff,
    client_died_label: 1,
};
/// The memory server's reply slots: the call in hand and every request it may defer.
const MEMORY_REPLIES: usize = HOST.pending + 1;
/// Virtual time the control gives the balloon to reach a target.
const SETTLE_NS: u64 = 120_000_000_000;
/// How often the control looks at the books while it waits.
const POLL_NS: u64 = 10_000_000;
/// Frames the client borrows below 4 GiB: two of the seed's batches.
const BORROWED: u64 = 1024;
/// The highest gfn below 4 GiB: only RAM the server balloons out first lies below it.
const BELOW_4G: u64 = 0xf_ffff;

/// Stops the kernel when dropped, so that the PDs' threads end even when the test fails.
struct StopOnDrop<'k>(&'k HostKernel);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Serve `handler` as component `me` until the kernel stops; how many calls it answered through
/// a saved reply capability goes to `answered_late`.
fn serve<const REPLIES: usize>(
    kernel: &HostKernel,
    pd: HostPd,
    tables: Tables<'_>,
    me: ComponentId,
    mut handler: impl Handler,
    answered_late: &AtomicU64,
) {
    let mut scratch = vec![0u8; HOST.region_bytes];
    let mut rt = Sel4Server::<_, REPLIES>::new(pd, ABI, tables, me, &mut scratch).expect("a PD");
    while !kernel.stopped() {
        rt.run_once(&mut handler);
        answered_late.store(rt.answered_late(), Ordering::Relaxed);
    }
}

/// The toolstack agent's PD.
struct Control<'t> {
    pd: Sel4Client<'t, HostPd>,
    client: BalloonControlClient,
}

impl Control<'_> {
    fn stats(&mut self) -> StatsReply {
        self.client.stats(&mut self.pd).expect("stats answered")
    }

    /// Set the target and wait (in virtual time) until the books reach it.
    fn move_to(&mut self, pages: u64) {
        self.client
            .set_target(&mut self.pd, pages)
            .expect("target accepted");
        self.settle(|stats| stats.current == pages);
    }

    fn settle(&mut self, done: impl Fn(&StatsReply) -> bool) -> StatsReply {
        let give_up = self.pd.now_ns() + SETTLE_NS;
        loop {
            let stats = self.stats();
            if done(&stats) {
                return stats;
            }
            let now = self.pd.now_ns();
            assert!(now < give_up, "the balloon did not settle: {stats:?}");
            self.pd.wait_until(now + POLL_NS);
        }
    }
}

fn lease(cap: &ExternalCap, len: u32) -> LeaseDescriptor {
    let (region, _) = cap.region.expect("a driver client lends a region");
    LeaseDescriptor {
        region: region.0,
        writable: 1,
        offset: 0,
        len,
        reserved: 0,
    }
}

#[test]
fn the_memory_server_balloons_lends_and_reclaims_as_sel4_protection_domains() {
    let parts = system::build(&SIM, None, 1).expect("the default system");
    let map = parts.map.clone();
    let (xen, dom) = (map.xen.clone(), map.dom);
    let tables = SIM.ipc;
    let kernel = HostKernel::new();
    let replies = |c: ComponentId| if c == map.memory { MEMORY_REPLIES } else { 1 };
    let mut composed = kernel.compose(&tables, ABI, replies);
    let mut pd = |c: ComponentId| composed.pds[c.index()].take().expect("one PD each");
    let (gateway_pd, memory_pd) = (pd(map.gateway), pd(map.memory));
    let mut control = Control {
        pd: Sel4Client::new(pd(map.control.component), tables, map.control.component)
            .expect("the control's PD"),
        client: BalloonControlClient::new(map.control.endpoint),
    };
    let driver = map.clients[0].clone();
    let mut client =
        Sel4Client::new(pd(driver.component), tables, driver.component).expect("the driver's PD");
    let mut root = composed.root;
    let (gateway_late, memory_late) = (AtomicU64::new(0), AtomicU64::new(0));
    thread::scope(|scope| {
        let kernel = &kernel;
        let _stop = StopOnDrop(kernel);
        let (gateway, memory) = (parts.gateway, parts.memory);
        let (gateway_late, memory_late) = (&gateway_late, &memory_late);
        scope.spawn(move || {
            serve::<1>(
                kernel,
                gateway_pd,
                tables,
                map.gateway,
                gateway,
                gateway_late,
            )
        });
        scope.spawn(move || {
            serve::<MEMORY_REPLIES>(kernel, memory_pd, tables, map.memory, memory, memory_late)
        });

        let start = control.stats();
        assert_eq!(Some(start.current), xen.tot_pages(dom));
        let mut calls = Vec::new();
        for policy in Policy::ALL {
            control
                .client
                .configure(&mut control.pd, 1000, 32_000, 0, policy)
                .expect("configured");
            let before = control.stats().hypercalls;
            for target in [start.current - 0x1000, start.current] {
                control.move_to(target);
                assert_eq!(xen.tot_pages(dom), Some(target), "Xen follows the books");
            }
            calls.push(control.stats().hypercalls - before);
        }
        assert!(
            calls[0] < calls[1],
            "superpages need fewer calls: {calls:?}"
        );

        // The seed's policy is active: 1024 frames below 4 GiB take two batches, the second on
        // the server's timer, so the call is kept and answered through its saved reply
        // capability.
        let balloon = BalloonClient::new(driver.endpoint);
        let before = control.stats();
        let granted = balloon
            .alloc_unpopulated(&mut client, BORROWED, BELOW_4G, lease(&driver, 4096))
            .expect("granted");
        let (region, _) = driver.region.expect("a runs region");
        let lent = runs::read(
            client.own_region(region).expect("the driver's region"),
            granted.runs as usize,
        )
        .expect("runs in the lease")
        .to_vec();
        assert_eq!(lent.iter().map(|r| r.count).sum::<u64>(), BORROWED);
        assert!(lent.iter().all(|r| r.first_gfn + r.count - 1 <= BELOW_4G));
        // The frames lent left the domain; the server keeps its target by repopulating as many
        // of the boot-time ballooned frames above 4 GiB.
        let refilled = control.settle(|stats| stats.current == start.current);
        // The server stored its count before it answered the `stats` calls that followed.
        assert!(
            memory_late.load(Ordering::Relaxed) >= 1,
            "the memory server answered the loan through its saved reply capability"
        );
        assert_eq!(refilled.lent, BORROWED);
        assert_eq!(refilled.ballooned_high, before.ballooned_high - BORROWED);
        assert_eq!(
            xen.tot_pages(dom),
            Some(start.current),
            "Xen follows the books"
        );

        assert_eq!(root.kill(driver.component), 1, "the memory server is told");
        let end = control.settle(|stats| stats.lent == 0);
        assert_eq!(
            end.ballooned_low,
            before.ballooned_low + BORROWED,
            "reclaimed from the dead client, back in the balloon"
        );
        assert_eq!(end.current, start.current);
        assert_eq!(
            xen.tot_pages(dom),
            Some(start.current),
            "Xen follows the books"
        );
        assert_eq!(
            gateway_late.load(Ordering::Relaxed),
            0,
            "the gateway answers every call at once"
        );
    });
}
