//! The real memory server and hypercall gateway over xen-sim on the HOST runtime (one OS thread
//! per component, blocking calls):
//! - 64 driver-client threads borrow and return frames while a toolstack thread moves the
//!   target; a watchdog fails the run on a deadlock; every request must be answered (a refusal
//!   only for a deferred request, or for a client at its limit of lent runs), as the clients
//!   count it and as the server's side counts it apart (the calls the memory server took and
//!   its replies to them, at its kernel interface; its core's deferred-request counters must
//!   agree with what the clients were told); no frame
//!   may be lent to two clients at once, nor be populated in Xen while lent; p99 latencies are
//!   printed (never asserted). Default: 2000 borrow/return rounds per client; long run:
//!   `cargo test --release --test host_concurrency -- --ignored` (10^5 per client), or any
//!   size with `BALLAST_HOST_OPS=N`.
//! - The issue-4 acceptance run, on the host runtime and on the deterministic one (invariant
//!   after every step): the 4 GiB guest balloons down to 1 GiB and back, frames are lent and
//!   reclaimed (one client dies holding loans), with both policies; hypercall counts printed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ballast::composition::{SIM, SIM_64_CLIENTS};
use ballast::system::{self, ExternalCap, MemoryHandler, SystemMap};
use ballast_interfaces::balloon::BalloonError;
use ballast_interfaces::balloon_control::StatsReply;
use ballast_interfaces::runs::{self, WireRun};
use ballast_interfaces::support::CallError;
use ballast_interfaces::{balloon, balloon_control};
use ballast_ipc::deterministic::DeterministicRuntime;
use ballast_ipc::host::{ClientHandle, HostRuntime};
use ballast_ipc::{
    Badge, CheckedTables, Handler, IncomingCall, IpcError, LeaseDescriptor, NotificationBits,
    ReplyObserved, ReplyToken, Sys, MESSAGE_BYTES,
};
use ballast_system::{Composition, Policy};
use ballast_xen_sim::{DomId, XenSim};

const CLIENTS: usize = 64;
/// Rounds per client by default (a tenth in a debug build).
const DEFAULT_OPS: u64 = if cfg!(debug_assertions) { 200 } else { 2_000 };
const LONG_OPS: u64 = 100_000;
const LOW_MAX_GFN: u64 = 0xf_ffff;
const RAM_END: u64 = 0x12_0000;
const MANAGED_END: u64 = 0x16_0000;
const GIB_PAGES: u64 = 0x4_0000;

/// The image with 64 driver clients, `manifests/sim-64-clients.toml`: each with its own runs
/// region and a quota of 16 MiB (together exactly the 1 GiB lending space).
fn many_clients_composition() -> &'static Composition {
    &SIM_64_CLIENTS
}

fn lease(cap: &ExternalCap, writable: bool) -> LeaseDescriptor {
    let (region, size) = cap.region.unwrap();
    LeaseDescriptor {
        region: region.0,
        writable: u16::from(writable),
        offset: 0,
        len: size,
        reserved: 0,
    }
}

/// SplitMix64 for each thread's choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

/// One external component on the host runtime.
struct Caller {
    cap: ExternalCap,
    handle: ClientHandle,
}

impl Caller {
    fn call(
        &mut self,
        message: &[u8],
        lease: Option<LeaseDescriptor>,
    ) -> Result<Vec<u8>, IpcError> {
        let mut reply = [0u8; MESSAGE_BYTES];
        let len = self
            .handle
            .call(self.cap.endpoint, message, lease, &mut reply)?;
        Ok(reply[..len].to_vec())
    }

    fn runs(&mut self, count: u32) -> Vec<WireRun> {
        let region = self.handle.region(self.cap.region.unwrap().0).unwrap();
        runs::read(&region, count as usize).unwrap().to_vec()
    }

    fn put_runs(&mut self, given: &[WireRun]) {
        let mut region = self.handle.region(self.cap.region.unwrap().0).unwrap();
        runs::write(&mut region, given.iter().copied()).unwrap();
    }

    fn stats(&mut self) -> StatsReply {
        let reply = self.call(&balloon_control::encode_stats(), None).unwrap();
        balloon_control::decode_stats(&reply).unwrap()
    }
}

/// Who holds which frames right now, across all client threads.
#[derive(Default)]
struct Ledger {
    /// First gfn -> (end, client).
    lent: BTreeMap<u64, (u64, usize)>,
}

impl Ledger {
    fn take(&mut self, client: usize, run: WireRun) -> Result<(), String> {
        let end = run.first_gfn + run.count;
        let before = self.lent.range(..end).next_back();
        if let Some((&start, &(other_end, owner))) = before {
            if other_end > run.first_gfn {
                return Err(format!(
                    "frames {:#x}..{end:#x} lent to client {client} while {start:#x}..{other_end:#x} is lent to client {owner}",
                    run.first_gfn
                ));
            }
        }
        self.lent.insert(run.first_gfn, (end, client));
        Ok(())
    }

    fn give(&mut self, run: WireRun) {
        self.lent.remove(&run.first_gfn);
    }
}

#[derive(Default)]
struct Latencies {
    alloc_ns: Vec<u64>,
    free_ns: Vec<u64>,
    control_ns: Vec<u64>,
}

fn p99(samples: &mut [u64]) -> (u64, u64, usize) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    (at(0.5), at(0.99), samples.len())
}

/// What a client thread did.
#[derive(Default, Debug)]
struct Tally {
    requests: u64,
    answers: u64,
    grants: u64,
    deferred_refusals: u64,
    /// Refused because the client held its `max_lent_runs_per_client` runs.
    run_limit_refusals: u64,
}

fn client_thread(
    mut me: Caller,
    index: usize,
    ops: u64,
    ledger: Arc<Mutex<Ledger>>,
    xen: XenSim,
    dom: DomId,
) -> Result<(Tally, Latencies), String> {
    let mut rng = Rng(0x00c1_1e47 + index as u64);
    let mut tally = Tally::default();
    let mut latencies = Latencies::default();
    let mut held: Vec<Vec<WireRun>> = Vec::new();
    for _ in 0..ops {
        let count = match rng.below(20) {
            0 => 1 + rng.below(1024),
            _ => 1 + rng.below(64),
        };
        let max_gfn = if rng.below(5) == 0 {
            LOW_MAX_GFN
        } else {
            u64::MAX
        };
        let started = Instant::now();
        tally.requests += 1;
        let reply = me
            .call(
                &balloon::encode_alloc_unpopulated(count, max_gfn),
                Some(lease(&me.cap, true)),
            )
            .map_err(|e| format!("client {index}: alloc transport error {e:?}"))?;
        latencies.alloc_ns.push(started.elapsed().as_nanos() as u64);
        tally.answers += 1;
        match balloon::decode_alloc_unpopulated(&reply) {
            Ok(body) => {
                let granted = me.runs(body.runs);
                if granted.iter().map(|r| r.count).sum::<u64>() != count {
                    return Err(format!("client {index}: granted {granted:?} for {count}"));
                }
                let mut book = ledger.lock().unwrap();
                for run in &granted {
                    book.take(index, *run)?;
                    let end = (run.first_gfn + run.count).min(RAM_END);
                    if run.first_gfn < RAM_END
                        && xen.populated_count(dom, run.first_gfn..end) != Some(0)
                    {
                        return Err(format!("client {index}: lent {run:?} is populated in Xen"));
                    }
                    if run.first_gfn + run.count - 1 > max_gfn {
                        return Err(format!(
                            "client {index}: {run:?} above max_gfn {max_gfn:#x}"
                        ));
                    }
                }
                drop(book);
                tally.grants += 1;
                held.push(granted);
            }
            Err(CallError::Interface(BalloonError::TimedOut | BalloonError::QueueFull)) => {
                tally.deferred_refusals += 1;
            }
            // Its loans (at most 3 held, at most 1024 frames each) keep it within its frame
            // quota, so `OverQuota` here is its limit of lent runs.
            Err(CallError::Interface(BalloonError::OverQuota)) => {
                tally.run_limit_refusals += 1;
            }
            Err(error) => return Err(format!("client {index}: alloc refused: {error:?}")),
        }
        while held.len() > (rng.below(4) as usize) {
            let loan = held.remove(0);
            {
                let mut book = ledger.lock().unwrap();
                for run in &loan {
                    book.give(*run);
                }
            }
            me.put_runs(&loan);
            let started = Instant::now();
            tally.requests += 1;
            let reply = me
                .call(
                    &balloon::encode_free_unpopulated(loan.len() as u32),
                    Some(lease(&me.cap, false)),
                )
                .map_err(|e| format!("client {index}: free transport error {e:?}"))?;
            latencies.free_ns.push(started.elapsed().as_nanos() as u64);
            tally.answers += 1;
            if let Err(error) = balloon::decode_free_unpopulated(&reply) {
                return Err(format!(
                    "client {index}: free of {loan:?} refused: {error:?}"
                ));
            }
        }
    }
    for loan in held.drain(..) {
        {
            let mut book = ledger.lock().unwrap();
            for run in &loan {
                book.give(*run);
            }
        }
        me.put_runs(&loan);
        tally.requests += 1;
        let reply = me
            .call(
                &balloon::encode_free_unpopulated(loan.len() as u32),
                Some(lease(&me.cap, false)),
            )
            .map_err(|e| format!("client {index}: final free transport error {e:?}"))?;
        tally.answers += 1;
        if let Err(error) = balloon::decode_free_unpopulated(&reply) {
            return Err(format!("client {index}: final free refused: {error:?}"));
        }
    }
    Ok((tally, latencies))
}

/// The clients' calls as the memory server's side saw them: taken by the server, and answered by
/// its own `reply` (at once or deferred), counted on the server's thread at its kernel interface,
/// apart from the clients' tallies and from the server's own count (its `stats`).
#[derive(Debug, Default)]
struct ServerSide {
    /// Reply tokens of clients' calls taken and not answered yet.
    open: BTreeSet<u64>,
    calls: u64,
    answers: u64,
}

/// The real memory server as the host runtime runs it, behind a lock through which the test
/// reads what its side counted and its core's statistics once the clients are done.
struct Observed {
    server: MemoryHandler,
    clients: Vec<Badge>,
    side: ServerSide,
}

/// The handler the host runtime runs: the memory server, its calls and replies counted.
struct ObservedHandler(Arc<Mutex<Observed>>);

impl ServerSide {
    /// Count a reply the server sends, if it answers a client's call.
    fn replied(&mut self, token: &ReplyToken) {
        if self.open.remove(&token.raw()) {
            self.answers += 1;
        }
    }
}

impl Handler for ObservedHandler {
    fn protected(&mut self, sys: &mut dyn Sys, call: IncomingCall<'_>) {
        let mut observed = self.0.lock().unwrap();
        let Observed {
            server,
            clients,
            side,
        } = &mut *observed;
        if clients.contains(&call.badge) {
            side.calls += 1;
            side.open.insert(call.reply.raw());
        }
        server.protected(
            &mut ReplyObserved::new(sys, |token| side.replied(token)),
            call,
        );
    }

    fn notified(&mut self, sys: &mut dyn Sys, bits: NotificationBits) {
        let mut observed = self.0.lock().unwrap();
        let Observed { server, side, .. } = &mut *observed;
        server.notified(
            &mut ReplyObserved::new(sys, |token| side.replied(token)),
            bits,
        );
    }

    fn client_died(&mut self, sys: &mut dyn Sys, badge: Badge) {
        let mut observed = self.0.lock().unwrap();
        let Observed { server, side, .. } = &mut *observed;
        server.client_died(
            &mut ReplyObserved::new(sys, |token| side.replied(token)),
            badge,
        );
    }
}

/// Poll the stats until `done` holds (or the deadline passes), checking xen-sim's books on
/// every poll: no leak, no gfn-less page, Xen's count equal to the populated frames.
fn wait_for(
    control: &mut Caller,
    xen: &XenSim,
    dom: DomId,
    within: Duration,
    what: &str,
    done: impl Fn(&StatsReply) -> bool,
) -> StatsReply {
    let deadline = Instant::now() + within;
    loop {
        let stats = control.stats();
        assert_eq!(xen.leaked_pages(dom), Some(0), "{what}: leaked pages");
        assert_eq!(xen.gfnless_pages(dom), Some(0), "{what}: gfn-less pages");
        assert_eq!(
            xen.tot_pages(dom),
            xen.populated_count(dom, 0..MANAGED_END),
            "{what}: Xen's count is its populated frames"
        );
        if done(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "{what}: not reached: {stats:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn many_clients(ops: u64, watchdog: Duration) {
    let composition = many_clients_composition();
    let parts = system::build(composition, None, 7).unwrap();
    let ipc = CheckedTables::from_tables(&composition.ipc).unwrap();
    let map = parts.map;
    assert_eq!(map.clients.len(), CLIENTS);
    let observed = Arc::new(Mutex::new(Observed {
        server: parts.memory,
        clients: map.clients.iter().map(|cap| cap.badge).collect(),
        side: ServerSide::default(),
    }));
    let handlers: system::HostHandlers = vec![
        (map.gateway, Box::new(parts.gateway)),
        (map.memory, Box::new(ObservedHandler(observed.clone()))),
    ];
    let mut runtime = HostRuntime::start(ipc, handlers).unwrap();
    let (xen, dom) = (map.xen.clone(), map.dom);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let (done_tx, done_rx) = mpsc::channel();
    for (index, cap) in map.clients.iter().enumerate() {
        let me = Caller {
            handle: runtime.client(cap.component).unwrap(),
            cap: cap.clone(),
        };
        let (ledger, xen, done) = (ledger.clone(), xen.clone(), done_tx.clone());
        std::thread::spawn(move || {
            let outcome = client_thread(me, index, ops, ledger, xen, dom);
            let _ = done.send(outcome);
        });
    }
    let stop = Arc::new(AtomicBool::new(false));
    let targets_set = Arc::new(AtomicU64::new(0));
    let mut control = Caller {
        handle: runtime.client(map.control.component).unwrap(),
        cap: map.control.clone(),
    };
    let toolstack = {
        let (stop, targets_set) = (stop.clone(), targets_set.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(0x7001);
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Acquire) {
                let target = GIB_PAGES + rng.below(RAM_END - GIB_PAGES);
                let started = Instant::now();
                let reply = control.call(&balloon_control::encode_set_target(target), None);
                latencies.push(started.elapsed().as_nanos() as u64);
                let reply = reply.expect("delivered");
                assert_eq!(balloon_control::decode_set_target(&reply), Ok(()));
                targets_set.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
            (control, latencies)
        })
    };

    let started = Instant::now();
    let mut total = Tally::default();
    let mut latencies = Latencies::default();
    for finished in 0..CLIENTS {
        let left = watchdog.saturating_sub(started.elapsed());
        match done_rx.recv_timeout(left) {
            Ok(Ok((tally, lat))) => {
                total.requests += tally.requests;
                total.answers += tally.answers;
                total.grants += tally.grants;
                total.deferred_refusals += tally.deferred_refusals;
                total.run_limit_refusals += tally.run_limit_refusals;
                latencies.alloc_ns.extend(lat.alloc_ns);
                latencies.free_ns.extend(lat.free_ns);
            }
            Ok(Err(failure)) => panic!("{failure}"),
            Err(_) => {
                // The threads are stuck: leave the runtime to the process's end.
                std::mem::forget(runtime);
                panic!(
                    "watchdog: {} of {CLIENTS} clients unfinished after {watchdog:?} (deadlock?)",
                    CLIENTS - finished
                );
            }
        }
    }
    stop.store(true, Ordering::Release);
    let (mut control, control_ns) = toolstack.join().unwrap();
    latencies.control_ns = control_ns;
    let elapsed = started.elapsed();
    assert_eq!(total.requests, total.answers, "every request answered");
    assert!(ledger.lock().unwrap().lent.is_empty());
    let (server_side, server_counters) = {
        let observed = observed.lock().unwrap();
        let side = &observed.side;
        (
            (side.calls, side.answers, side.open.len()),
            observed.server.core().stats().counters,
        )
    };
    assert_eq!(
        server_side,
        (total.requests, total.requests, 0),
        "the server took every request the clients made and answered each (calls, answers, \
         unanswered as the server counted them)"
    );
    // What the core counted of the deferred requests agrees with what the clients were told:
    // each timed-out one refused (a full queue is refused too, before the core takes it), each
    // granted one a grant.
    assert!(
        server_counters.deferred_timed_out <= total.deferred_refusals,
        "the core timed out {} deferred requests, the clients saw {} refused",
        server_counters.deferred_timed_out,
        total.deferred_refusals
    );
    assert!(
        server_counters.deferred_granted <= total.grants,
        "the core granted {} deferred requests, the clients saw {} grants",
        server_counters.deferred_granted,
        total.grants
    );

    let boot = map.boot_pages;
    control
        .call(&balloon_control::encode_set_target(boot), None)
        .unwrap();
    let stats = wait_for(
        &mut control,
        &xen,
        dom,
        watchdog,
        "back to boot size",
        |s| s.current == boot && s.lent == 0,
    );
    assert_eq!(xen.tot_pages(dom), Some(boot));
    // The server's own count, read through its `stats` reply: every call it took answered (this
    // `stats` call is the one taken and not answered yet), none voided (no client died), and at
    // least every client request the wrapper saw, plus the control calls.
    assert_eq!(
        (stats.requests_taken, stats.requests_voided),
        (stats.requests_answered + 1, 0),
        "the server's own count: every call it took answered"
    );
    assert!(stats.requests_taken > total.requests);
    let (alloc50, alloc99, allocs) = p99(&mut latencies.alloc_ns);
    let (free50, free99, frees) = p99(&mut latencies.free_ns);
    let (set50, set99, sets) = p99(&mut latencies.control_ns);
    println!(
        "host runtime, {CLIENTS} client threads x {ops} rounds in {elapsed:?}: {} requests, all \
         answered (the server's side: {} taken, {} answered; its own stats, control calls \
         included: {} taken, {} answered before that stats reply); {} grants ({} deferred, as the \
         core counted), {} deferred requests timed out or refused as queue full ({} timed out, \
         as the core counted), {} refused at the client's run limit; {} targets set; final \
         stats {stats:?}",
        total.requests,
        server_side.0,
        server_side.1,
        stats.requests_taken,
        stats.requests_answered,
        total.grants,
        server_counters.deferred_granted,
        total.deferred_refusals,
        server_counters.deferred_timed_out,
        total.run_limit_refusals,
        targets_set.load(Ordering::Relaxed),
    );
    println!(
        "latency (ns): alloc p50 {alloc50} p99 {alloc99} (n={allocs}); free p50 {free50} p99 \
         {free99} (n={frees}); set_target p50 {set50} p99 {set99} (n={sets})"
    );
    drop(runtime);
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}"))
    })
}

#[test]
fn sixty_four_clients_borrow_and_return_while_the_target_moves() {
    let ops = env_u64("BALLAST_HOST_OPS").unwrap_or(DEFAULT_OPS);
    many_clients(ops, Duration::from_secs(300 + ops / 10));
}

#[test]
#[ignore = "long run (10^5 rounds per client): cargo test --release --test host_concurrency -- --ignored"]
fn sixty_four_clients_long_run() {
    many_clients(LONG_OPS, Duration::from_secs(4 * 3600));
}

/// The acceptance sequence, over either runtime.
trait Driver {
    fn map(&self) -> &SystemMap;
    /// Call as `who`, lending `lease`; returns the reply.
    fn call(&mut self, who: usize, message: &[u8], lease: Option<LeaseDescriptor>) -> Vec<u8>;
    fn runs(&mut self, who: usize, count: u32) -> Vec<WireRun>;
    fn put_runs(&mut self, who: usize, given: &[WireRun]);
    fn kill(&mut self, who: usize);
    /// Let the system work until `done` holds for the stats, checking on the way.
    fn wait_for(&mut self, what: &str, done: &dyn Fn(&StatsReply) -> bool) -> StatsReply;
}

/// `who` numbering of the drivers: the clients in map order, then the toolstack.
fn control_index(map: &SystemMap) -> usize {
    map.clients.len()
}

fn cap_of(map: &SystemMap, who: usize) -> ExternalCap {
    map.clients
        .get(who)
        .cloned()
        .unwrap_or_else(|| map.control.clone())
}

fn borrow(driver: &mut dyn Driver, who: usize, count: u64, max_gfn: u64) -> Vec<WireRun> {
    let cap = cap_of(driver.map(), who);
    let reply = driver.call(
        who,
        &balloon::encode_alloc_unpopulated(count, max_gfn),
        Some(lease(&cap, true)),
    );
    let body = balloon::decode_alloc_unpopulated(&reply).unwrap();
    let granted = driver.runs(who, body.runs);
    assert_eq!(granted.iter().map(|r| r.count).sum::<u64>(), count);
    assert!(granted.iter().all(|r| r.first_gfn + r.count - 1 <= max_gfn));
    granted
}

fn give_back(driver: &mut dyn Driver, who: usize, given: &[WireRun]) {
    let cap = cap_of(driver.map(), who);
    driver.put_runs(who, given);
    let reply = driver.call(
        who,
        &balloon::encode_free_unpopulated(given.len() as u32),
        Some(lease(&cap, false)),
    );
    assert_eq!(balloon::decode_free_unpopulated(&reply), Ok(()));
}

fn stats(driver: &mut dyn Driver) -> StatsReply {
    let control = control_index(driver.map());
    let reply = driver.call(control, &balloon_control::encode_stats(), None);
    balloon_control::decode_stats(&reply).unwrap()
}

fn set_target(driver: &mut dyn Driver, pages: u64) {
    let control = control_index(driver.map());
    let reply = driver.call(control, &balloon_control::encode_set_target(pages), None);
    assert_eq!(balloon_control::decode_set_target(&reply), Ok(()));
}

/// Issue 4: balloon the 4 GiB guest down to 1 GiB and back, lending and reclaiming frames, one
/// client dying with loans. Returns the guest's hypercall count (Xen's view).
fn acceptance(driver: &mut dyn Driver) -> u64 {
    let (xen, dom, boot) = {
        let map = driver.map();
        (map.xen.clone(), map.dom, map.boot_pages)
    };
    let xen_calls = |xen: &XenSim| {
        let c = xen.counters(dom).unwrap();
        c.increase_calls + c.decrease_calls + c.populate_calls + c.current_calls + c.maximum_calls
    };
    let (blkback, netback) = (0, 1);
    assert_eq!(driver.map().clients[0].name, "blkback");
    let start = stats(driver);
    assert_eq!(start.current, boot);
    assert_eq!(xen.tot_pages(dom), Some(boot));

    let blk_loans = [
        borrow(driver, blkback, 4096, u64::MAX),
        borrow(driver, blkback, 100, u64::MAX),
    ];
    let net_low = borrow(driver, netback, 1024, LOW_MAX_GFN);
    let lent = 4096 + 100 + 1024;
    let after_loans = stats(driver);
    assert_eq!(after_loans.lent, lent);

    set_target(driver, GIB_PAGES);
    let down = driver.wait_for("down to 1 GiB", &|s| s.current == GIB_PAGES);
    assert_eq!(down.lent, lent);
    assert_eq!(xen.tot_pages(dom), Some(GIB_PAGES), "Xen agrees: 1 GiB");
    let blk_low = borrow(driver, blkback, 2048, LOW_MAX_GFN);
    assert_eq!(stats(driver).lent, lent + 2048);

    driver.kill(blkback);
    let reclaimed = driver.wait_for("blkback's loans reclaimed", &|s| s.lent == 1024);
    assert_eq!(reclaimed.current, GIB_PAGES);
    let again = borrow(driver, netback, 2048, LOW_MAX_GFN);
    let overlaps = again.iter().any(|a| {
        blk_low
            .iter()
            .any(|b| a.first_gfn < b.first_gfn + b.count && b.first_gfn < a.first_gfn + a.count)
    });
    assert!(overlaps, "the dead client's frames are lent again");
    give_back(driver, netback, &again);
    give_back(driver, netback, &net_low);
    assert!(blk_loans.iter().all(|l| !l.is_empty()));

    set_target(driver, boot);
    let up = driver.wait_for("back to 4 GiB", &|s| s.current == boot && s.lent == 0);
    assert_eq!(up.target, boot);
    assert_eq!(xen.tot_pages(dom), Some(boot), "Xen agrees: 4 GiB");
    assert_eq!(xen.populated_count(dom, 0..MANAGED_END), Some(boot));
    assert_eq!(xen.leaked_pages(dom), Some(0));
    println!("  stats at the end: {up:?}");
    xen_calls(&xen)
}

struct HostDriver {
    map: SystemMap,
    runtime: HostRuntime,
    callers: Vec<Caller>,
}

impl HostDriver {
    fn new(policy: Option<Policy>) -> HostDriver {
        let composition: &'static Composition = &SIM;
        let parts = system::build(composition, policy, 4).unwrap();
        let ipc = CheckedTables::from_tables(&composition.ipc).unwrap();
        let (handlers, map) = parts.into_host();
        let mut runtime = HostRuntime::start(ipc, handlers).unwrap();
        let callers = (map.clients.iter().chain([&map.control]))
            .map(|cap| Caller {
                handle: runtime.client(cap.component).unwrap(),
                cap: cap.clone(),
            })
            .collect();
        HostDriver {
            map,
            runtime,
            callers,
        }
    }
}

impl Driver for HostDriver {
    fn map(&self) -> &SystemMap {
        &self.map
    }

    fn call(&mut self, who: usize, message: &[u8], lease: Option<LeaseDescriptor>) -> Vec<u8> {
        self.callers[who].call(message, lease).unwrap()
    }

    fn runs(&mut self, who: usize, count: u32) -> Vec<WireRun> {
        self.callers[who].runs(count)
    }

    fn put_runs(&mut self, who: usize, given: &[WireRun]) {
        self.callers[who].put_runs(given);
    }

    fn kill(&mut self, who: usize) {
        self.runtime.kill(self.map.clients[who].component).unwrap();
    }

    fn wait_for(&mut self, what: &str, done: &dyn Fn(&StatsReply) -> bool) -> StatsReply {
        let control = control_index(&self.map);
        let (xen, dom) = (self.map.xen.clone(), self.map.dom);
        wait_for(
            &mut self.callers[control],
            &xen,
            dom,
            Duration::from_secs(120),
            what,
            done,
        )
    }
}

struct DeterministicDriver {
    map: SystemMap,
    runtime: DeterministicRuntime,
    checks: Arc<AtomicU64>,
}

impl DeterministicDriver {
    fn new(policy: Option<Policy>) -> DeterministicDriver {
        let composition: &'static Composition = &SIM;
        let parts = system::build(composition, policy, 4).unwrap();
        let ipc = CheckedTables::from_tables(&composition.ipc).unwrap();
        let (handlers, map) = parts.into_deterministic();
        let mut runtime = DeterministicRuntime::new(ipc, handlers, 4).unwrap();
        let checks = Arc::new(AtomicU64::new(0));
        let (xen, dom, memory, count) = (map.xen.clone(), map.dom, map.memory, checks.clone());
        runtime.set_step_hook(Box::new(move |view| {
            count.fetch_add(1, Ordering::Relaxed);
            let server = view
                .handler::<MemoryHandler>(memory)
                .ok_or("no memory server")?;
            server
                .core()
                .check_invariant(xen.tot_pages(dom))
                .map_err(|v| format!("step {}: {v:?}", view.record().step))?;
            match xen.leaked_pages(dom) {
                Some(0) => Ok(()),
                leaked => Err(format!("xen-sim leaked pages: {leaked:?}")),
            }
        }));
        DeterministicDriver {
            map,
            runtime,
            checks,
        }
    }
}

impl Driver for DeterministicDriver {
    fn map(&self) -> &SystemMap {
        &self.map
    }

    fn call(&mut self, who: usize, message: &[u8], lease: Option<LeaseDescriptor>) -> Vec<u8> {
        let cap = cap_of(&self.map, who);
        let call = self
            .runtime
            .submit_call(cap.component, cap.endpoint, message, lease)
            .unwrap();
        loop {
            if let Some(reply) = self.runtime.take_reply(call) {
                return reply.unwrap();
            }
            self.runtime
                .step()
                .unwrap()
                .expect("a call is outstanding, so something can run");
        }
    }

    fn runs(&mut self, who: usize, count: u32) -> Vec<WireRun> {
        let cap = cap_of(&self.map, who);
        let region = self.runtime.region(cap.region.unwrap().0).unwrap();
        runs::read(region, count as usize).unwrap().to_vec()
    }

    fn put_runs(&mut self, who: usize, given: &[WireRun]) {
        let cap = cap_of(&self.map, who);
        let region = self.runtime.region(cap.region.unwrap().0).unwrap();
        runs::write(region, given.iter().copied()).unwrap();
    }

    fn kill(&mut self, who: usize) {
        self.runtime.kill(self.map.clients[who].component).unwrap();
    }

    fn wait_for(&mut self, what: &str, done: &dyn Fn(&StatsReply) -> bool) -> StatsReply {
        let report = self.runtime.run_until_idle(10_000_000).unwrap();
        assert!(report.idle, "{what}: the system did not settle");
        let stats = stats(self);
        assert!(done(&stats), "{what}: not reached: {stats:?}");
        stats
    }
}

#[test]
fn issue_4_acceptance_on_the_host_and_deterministic_runtimes() {
    let mut counts = Vec::new();
    for policy in [Some(Policy::Ballast), Some(Policy::Seed)] {
        println!("host runtime, {policy:?} policy:");
        let mut host = HostDriver::new(policy);
        let host_calls = acceptance(&mut host);
        drop(host);
        println!("deterministic runtime, {policy:?} policy:");
        let mut det = DeterministicDriver::new(policy);
        let det_calls = acceptance(&mut det);
        let steps = det.runtime.steps();
        let checks = det.checks.load(Ordering::Relaxed);
        assert_eq!(checks, steps, "the invariant was checked after every step");
        let memory: &MemoryHandler = det.runtime.handler(det.map.memory).unwrap();
        let server_calls = memory.core().stats().counters.hypercalls();
        counts.push((policy, host_calls, det_calls, server_calls, steps));
    }
    for (policy, host, det, server, steps) in &counts {
        println!(
            "issue 4, {policy:?} policy: hypercalls seen by xen-sim: host runtime {host}, \
             deterministic runtime {det} (memory server's count {server}); {steps} steps, \
             invariant checked after each, 0 violations"
        );
    }
    let (ballast, seed) = (counts[0].2, counts[1].2);
    assert!(
        ballast < seed,
        "superpages need fewer hypercalls ({ballast} vs {seed})"
    );
}

#[test]
fn a_dead_host_client_holding_loans_is_reclaimed() {
    let mut host = HostDriver::new(None);
    let before = stats(&mut host);
    let loans = [
        borrow(&mut host, 0, 5000, u64::MAX),
        borrow(&mut host, 0, 300, LOW_MAX_GFN),
    ];
    assert_eq!(stats(&mut host).lent, 5300);
    host.kill(0);
    let after = host.wait_for("reclaimed", &|s| s.lent == 0 && s.current == before.current);
    assert_eq!(after.lent, 0);
    let again = borrow(&mut host, 1, 5000, u64::MAX);
    assert!(again
        .iter()
        .zip(&loans[0])
        .any(|(a, b)| a.first_gfn == b.first_gfn));
}
