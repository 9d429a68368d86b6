//! Driver clients that die on the deterministic runtime while holding loans (from the lending
//! space and from ballooned-out RAM), and while a deferred allocation is still pending: every
//! frame comes back (lent count drops, the frames are lent again to the next client), no page
//! leaks in xen-sim, and the memory server's invariant holds after every step.

use ballast::composition::SIM;
use ballast::system::{self, ExternalCap, MemoryHandler, SystemMap};
use ballast_interfaces::runs::{self, WireRun};
use ballast_interfaces::{balloon, balloon_control};
use ballast_ipc::deterministic::{CallId, DeterministicRuntime};
use ballast_ipc::{CheckedTables, IpcError, LeaseDescriptor};
use ballast_memory_server_core::{ClientAccount, ClientId, FrameState};
use ballast_system::{Composition, Policy};
use ballast_xen::Gfn;

const STEP_LIMIT: u64 = 1_000_000;
/// Highest gfn of the guest's RAM below 4 GiB: a loan there must come from ballooned RAM.
const LOW_MAX_GFN: u64 = 0xf_ffff;

/// The default system on the deterministic runtime, the invariant checked after every step.
struct System {
    runtime: DeterministicRuntime,
    map: SystemMap,
}

impl System {
    fn new(seed: u64) -> System {
        System::with_policy(seed, None)
    }

    /// The seed's policy balloons 512 frames per batch: a large deferred request then waits
    /// across several steps.
    fn with_policy(seed: u64, policy: Option<Policy>) -> System {
        let composition: &'static Composition = &SIM;
        let parts = system::build(composition, policy, seed).unwrap();
        let ipc = CheckedTables::from_tables(&composition.ipc).unwrap();
        let (handlers, map) = parts.into_deterministic();
        let mut runtime = DeterministicRuntime::new(ipc, handlers, seed).unwrap();
        let (xen, dom, memory) = (map.xen.clone(), map.dom, map.memory);
        runtime.set_step_hook(Box::new(move |view| {
            let server = view
                .handler::<MemoryHandler>(memory)
                .ok_or("no memory server")?;
            server
                .core()
                .check_invariant(xen.tot_pages(dom))
                .map_err(|v| format!("{v:?}"))?;
            match xen.leaked_pages(dom) {
                Some(0) => Ok(()),
                leaked => Err(format!("xen-sim leaked pages: {leaked:?}")),
            }
        }));
        let mut system = System { runtime, map };
        let control = system.map.control.clone();
        let call = system.submit(&control, &balloon_control::encode_stats(), None);
        system.settle();
        system.runtime.take_reply(call).unwrap().unwrap();
        system
    }

    fn client(&self, name: &str) -> ExternalCap {
        let found = self.map.clients.iter().find(|c| c.name == name);
        found.cloned().unwrap()
    }

    fn memory(&self) -> &MemoryHandler {
        self.runtime.handler(self.map.memory).unwrap()
    }

    fn account(&self, client: usize) -> ClientAccount {
        *self
            .memory()
            .core()
            .client(ClientId(client as u16))
            .unwrap()
    }

    fn submit(
        &mut self,
        from: &ExternalCap,
        message: &[u8],
        lease: Option<LeaseDescriptor>,
    ) -> CallId {
        self.runtime
            .submit_call(from.component, from.endpoint, message, lease)
            .unwrap()
    }

    fn settle(&mut self) {
        let report = self.runtime.run_until_idle(STEP_LIMIT).unwrap();
        assert!(report.idle, "the system did not settle");
    }

    /// Borrow `count` frames at or below `max_gfn`, waiting for a deferred grant if need be.
    fn borrow(&mut self, client: &ExternalCap, count: u64, max_gfn: u64) -> Vec<WireRun> {
        let message = balloon::encode_alloc_unpopulated(count, max_gfn);
        let call = self.submit(client, &message, Some(lease(client)));
        self.settle();
        let reply = self.runtime.take_reply(call).unwrap().unwrap();
        let body = balloon::decode_alloc_unpopulated(&reply).unwrap();
        let region = self.runtime.region(client.region.unwrap().0).unwrap();
        let granted = runs::read(region, body.runs as usize).unwrap().to_vec();
        assert_eq!(granted.iter().map(|r| r.count).sum::<u64>(), count);
        assert!(granted.iter().all(|r| r.first_gfn + r.count - 1 <= max_gfn));
        granted
    }

    fn free(&mut self, client: &ExternalCap, given: &[WireRun]) {
        let region = self.runtime.region(client.region.unwrap().0).unwrap();
        runs::write(region, given.iter().copied()).unwrap();
        let message = balloon::encode_free_unpopulated(given.len() as u32);
        let call = self.submit(client, &message, Some(lease(client)));
        self.settle();
        let reply = self.runtime.take_reply(call).unwrap().unwrap();
        assert_eq!(balloon::decode_free_unpopulated(&reply), Ok(()));
    }

    fn lent_frames_of(&self, client: ClientId, runs: &[WireRun]) -> u64 {
        let core = self.memory().core();
        runs.iter()
            .flat_map(|r| r.first_gfn..r.first_gfn + r.count)
            .filter(|&gfn| core.frame_state(Gfn(gfn)) == Some(FrameState::Lent(client)))
            .count() as u64
    }

    /// Nothing is lent to `client` anywhere in the managed space, and xen-sim agrees with the
    /// model frame by frame on `runs`.
    fn assert_owns_nothing(&self, client: ClientId, runs: &[WireRun]) {
        let core = self.memory().core();
        let lent_anywhere = (0..0x16_0000u64)
            .filter(|&gfn| core.frame_state(Gfn(gfn)) == Some(FrameState::Lent(client)))
            .count();
        assert_eq!(lent_anywhere, 0, "frames still lent to the dead client");
        for gfn in runs.iter().flat_map(|r| r.first_gfn..r.first_gfn + r.count) {
            let state = core.frame_state(Gfn(gfn)).unwrap();
            let populated = self.map.xen.is_populated(self.map.dom, gfn).unwrap();
            match state {
                FrameState::PopulatedFree => assert!(populated, "gfn {gfn:#x}"),
                FrameState::Ballooned | FrameState::LendingFree => {
                    assert!(!populated, "gfn {gfn:#x}")
                }
                other => panic!("gfn {gfn:#x} of the dead client is {other:?}"),
            }
        }
        assert_eq!(self.map.xen.leaked_pages(self.map.dom), Some(0));
    }
}

fn lease(client: &ExternalCap) -> LeaseDescriptor {
    let (region, size) = client.region.unwrap();
    LeaseDescriptor {
        region: region.0,
        writable: 1,
        offset: 0,
        len: size,
        reserved: 0,
    }
}

fn overlaps(a: &[WireRun], b: &[WireRun]) -> bool {
    a.iter().any(|x| {
        b.iter()
            .any(|y| x.first_gfn < y.first_gfn + y.count && y.first_gfn < x.first_gfn + x.count)
    })
}

#[test]
fn a_dead_clients_loans_come_back_and_are_lent_again() {
    let mut system = System::new(11);
    let (blkback, netback) = (system.client("blkback"), system.client("netback"));
    let (blk_id, net_id) = (ClientId(0), ClientId(1));
    assert_eq!(system.map.clients[0].name, "blkback");
    let tot_before = system.map.xen.tot_pages(system.map.dom).unwrap();

    let mut held = Vec::new();
    for count in [1000, 3000, 17] {
        held.extend(system.borrow(&blkback, count, u64::MAX));
    }
    let low = system.borrow(&blkback, 1536, LOW_MAX_GFN);
    held.extend(low.iter().copied());
    let kept = system.borrow(&netback, 10, u64::MAX);
    let blk_frames = 1000 + 3000 + 17 + 1536;
    assert_eq!(system.account(0).lent, blk_frames);
    assert_eq!(system.lent_frames_of(blk_id, &held), blk_frames);
    assert_eq!(system.memory().core().stats().lent_pages, blk_frames + 10);
    for run in &low {
        let frames = run.first_gfn..run.first_gfn + run.count;
        let populated = system.map.xen.populated_count(system.map.dom, frames);
        assert_eq!(
            populated,
            Some(0),
            "lent RAM frames are ballooned out in Xen"
        );
    }

    system.runtime.kill(blkback.component).unwrap();
    system.settle();

    let stats = system.memory().core().stats();
    assert_eq!(stats.lent_pages, 10, "only netback's loan is left");
    assert_eq!(system.account(0).lent + system.account(0).waiting, 0);
    system.assert_owns_nothing(blk_id, &held);
    assert_eq!(system.lent_frames_of(net_id, &kept), 10);
    assert_eq!(
        system.map.xen.tot_pages(system.map.dom),
        Some(tot_before),
        "the RAM the dead client held is populated again"
    );

    // The frames are usable again: the next client is lent the same ones.
    system.free(&netback, &kept);
    let again = system.borrow(&netback, 4017, u64::MAX);
    assert!(
        overlaps(&again, &held),
        "the dead client's lending frames are reused"
    );
    system.free(&netback, &again);
    let again_low = system.borrow(&netback, 1536, LOW_MAX_GFN);
    assert!(
        overlaps(&again_low, &low),
        "the dead client's RAM frames are reused"
    );
    system.free(&netback, &again_low);
    system.settle();
    assert_eq!(system.memory().core().stats().lent_pages, 0);
    assert_eq!(system.map.xen.tot_pages(system.map.dom), Some(tot_before));
}

#[test]
fn a_client_dying_with_a_deferred_reply_pending_leaves_nothing_behind() {
    let mut deferred_kills = 0;
    let mut voided = 0;
    for seed in 0..24u64 {
        let mut system = System::with_policy(seed, Some(Policy::Seed));
        let (blkback, netback) = (system.client("blkback"), system.client("netback"));
        let tot_before = system.map.xen.tot_pages(system.map.dom).unwrap();
        let held = system.borrow(&blkback, 100 + seed, u64::MAX);
        let kept = system.borrow(&netback, 7, u64::MAX);

        let message = balloon::encode_alloc_unpopulated(2048 + 64 * seed, LOW_MAX_GFN);
        let pending = system.submit(&blkback, &message, Some(lease(&blkback)));
        while system.memory().core().waiting_requests() == 0 {
            system
                .runtime
                .step()
                .unwrap()
                .expect("the call is delivered");
        }
        // Let the worker get part of the way (some batches in, maybe a grant settled).
        for _ in 0..(seed * 3) % 11 {
            if system.runtime.step().unwrap().is_none() {
                break;
            }
        }
        let still_waiting = system.memory().core().waiting_requests() > 0;
        deferred_kills += u64::from(still_waiting);
        system.runtime.kill(blkback.component).unwrap();
        system.settle();

        let reply = system.runtime.take_reply(pending);
        if still_waiting {
            assert_eq!(reply, Some(Err(IpcError::ServerDied)), "seed {seed}");
        }
        assert_eq!(system.memory().core().waiting_requests(), 0, "seed {seed}");
        // The server's own count: each call it took either answered or voided by the death
        // (only the pending one can be: it is voided if the server had not answered it yet).
        let requests = system.memory().request_counters();
        voided += requests.voided;
        assert!(requests.voided <= 1, "seed {seed}");
        assert_eq!(
            requests.taken,
            requests.answered + requests.voided,
            "seed {seed}"
        );
        let account = system.account(0);
        assert_eq!((account.lent, account.waiting), (0, 0), "seed {seed}");
        assert_eq!(system.memory().core().stats().lent_pages, 7, "seed {seed}");
        system.assert_owns_nothing(ClientId(0), &held);
        assert_eq!(
            system.map.xen.tot_pages(system.map.dom),
            Some(tot_before),
            "seed {seed}: the RAM ballooned out for the dead request is back"
        );
        assert_eq!(system.lent_frames_of(ClientId(1), &kept), 7);
    }
    assert!(
        deferred_kills >= 12,
        "most kills hit a pending deferred reply"
    );
    assert!(voided > 0, "the server voided pending calls itself");
}
