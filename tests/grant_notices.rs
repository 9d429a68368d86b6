//! Grants through the real components (`manifests/sim-grants.toml` on the deterministic runtime over
//! xen-sim): a backend driver written with `ballast-balloon-client` borrows frames, maps a
//! frontend domain's grants into them in one `grant_map`, reads the granter's data and writes its
//! answer through xen-sim, unmaps in one batch and gives the frames back, the memory server telling
//! the gateway of every loan. And every failure: a map from a domain the manifest does not list,
//! into frames not borrowed, a give-back while a grant is mapped (`FrameMapped`, the frames still
//! lent), the backend dying with grants mapped (whichever of the memory server and the gateway
//! hears of it first: nothing leaks, the quarantine ends; also on the host runtime, a thread per
//! component), a hostile notice. On the deterministic runtime the memory server's invariant and
//! xen-sim's page count are checked after every step.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use ballast::composition::SIM_GRANTS;
use ballast::system::{self, ExternalCap, GatewayHandler, MemoryHandler};
use ballast_balloon_client::{Balloon, BalloonCallError, FrameLoan};
use ballast_hypercall::{GatewayError, QueryError};
use ballast_interfaces::balloon::{self, BalloonError};
use ballast_interfaces::balloon_control;
use ballast_interfaces::grants::{GrantMapEntry, GrantUnmapEntry, GRANT_READONLY};
use ballast_interfaces::hypercall::{HypercallClient, HypercallError, HypercallOp};
use ballast_interfaces::runs;
use ballast_interfaces::support::CallError;
use ballast_ipc::deterministic::{DeterministicRuntime, SimHandler};
use ballast_ipc::host::{ClientHandle, HostRuntime};
use ballast_ipc::{
    Badge, CheckedTables, ComponentId, EndpointId, Handler, IncomingCall, LeaseDescriptor, LeaseId,
    NotificationBits, Sys, MESSAGE_BYTES,
};
use ballast_memory_server_core::{ClientId, FrameState};
use ballast_xen::{Gfn, ReservationOp, DOMID_SELF};
use ballast_xen_sim::{DomId, DomainConfig, XenSim};
use zerocopy::{FromBytes, IntoBytes};

mod doorbell;
use doorbell::{with_doorbell, DOORBELL};

const STEP_LIMIT: u64 = 1_000_000;
/// The doorbell bit that makes the backend run its next job.
const JOB: NotificationBits = NotificationBits(1);
/// The backend's account in the memory server (driver clients in name order: backend first).
const BACKEND: ClientId = ClientId(0);
/// The highest gfn of the guest's RAM: a loan at or below it comes from ballooned RAM.
const RAM_TOP: u64 = 0x3_ffff;

/// What the backend is asked to do next.
#[derive(Debug, Clone)]
enum Job {
    /// Borrow frames with `balloon-client`.
    Borrow { count: u64, max_gfn: u64 },
    /// Map these entries' grants of `domid` in one `grant_map`.
    Map {
        domid: u16,
        entries: Vec<GrantMapEntry>,
    },
    /// Unmap these handles in one `grant_unmap`.
    Unmap { handles: Vec<u32> },
    /// Give back every loan it holds, as one run list.
    GiveBackAll,
}

/// What a job answered.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Borrowed(Result<Vec<u64>, BalloonCallError>),
    Mapped(Result<u32, CallError<HypercallError>>, Vec<GrantMapEntry>),
    Unmapped(Result<u32, CallError<HypercallError>>),
    GivenBack(Result<(), BalloonCallError>),
}

/// The jobs the test queues and the answers the backend leaves.
#[derive(Debug, Default)]
struct Mailbox {
    jobs: VecDeque<Job>,
    answers: VecDeque<Answer>,
}

/// The backend driver: a handler that does one job per doorbell.
struct Backend {
    balloon: Balloon,
    gateway: HypercallClient,
    grants: (LeaseId, u32),
    loans: Vec<FrameLoan>,
    mailbox: Arc<Mutex<Mailbox>>,
}

impl Backend {
    fn entries_lease(&self, sys: &mut dyn Sys, bytes: &[u8]) -> LeaseDescriptor {
        let region = sys.own_region(self.grants.0).expect("the grant region");
        region[..bytes.len()].copy_from_slice(bytes);
        LeaseDescriptor {
            region: self.grants.0 .0,
            writable: 1,
            offset: 0,
            len: bytes.len() as u32,
            reserved: 0,
        }
    }

    fn run(&mut self, sys: &mut dyn Sys, job: Job) -> Answer {
        match job {
            Job::Borrow { count, max_gfn } => {
                Answer::Borrowed(self.balloon.borrow(sys, count, max_gfn).map(|loan| {
                    let gfns = loan.gfns().collect();
                    self.loans.push(loan);
                    gfns
                }))
            }
            Job::Map { domid, entries } => {
                let lease = self.entries_lease(sys, entries.as_bytes());
                let answer = self.gateway.grant_map(sys, domid, lease);
                let region = sys.own_region(self.grants.0).expect("the grant region");
                let back = <[GrantMapEntry]>::ref_from_bytes(&region[..entries.as_bytes().len()])
                    .expect("entries")
                    .to_vec();
                Answer::Mapped(answer.map(|reply| reply.mapped), back)
            }
            Job::Unmap { handles } => {
                let entries: Vec<GrantUnmapEntry> = (handles.iter())
                    .map(|&handle| GrantUnmapEntry { handle, status: 1 })
                    .collect();
                let lease = self.entries_lease(sys, entries.as_bytes());
                Answer::Unmapped((self.gateway.grant_unmap(sys, lease)).map(|reply| reply.unmapped))
            }
            Job::GiveBackAll => {
                let runs: Vec<_> = (self.loans.iter())
                    .flat_map(|loan| loan.runs().to_vec())
                    .collect();
                let all = FrameLoan::from_runs(&runs).expect("at most 16 runs");
                match self.balloon.give_back(sys, all) {
                    Ok(()) => {
                        self.loans.clear();
                        Answer::GivenBack(Ok(()))
                    }
                    Err((_, error)) => Answer::GivenBack(Err(error)),
                }
            }
        }
    }
}

impl Handler for Backend {
    fn protected(&mut self, _: &mut dyn Sys, _: IncomingCall<'_>) {}

    fn notified(&mut self, sys: &mut dyn Sys, bits: NotificationBits) {
        if !bits.contains(JOB) {
            return;
        }
        let job = self.mailbox.lock().unwrap().jobs.pop_front();
        if let Some(job) = job {
            let answer = self.run(sys, job);
            self.mailbox.lock().unwrap().answers.push_back(answer);
        }
    }

    fn client_died(&mut self, _: &mut dyn Sys, _: Badge) {}
}

/// The system of `sim-grants.toml` with the backend as a handler, rung by the toolstack, and a
/// frontend domain that grants pages to the guest.
struct System {
    runtime: DeterministicRuntime,
    xen: XenSim,
    dom: DomId,
    frontend: DomId,
    backend: ComponentId,
    backend_on_gateway: Badge,
    gateway: ComponentId,
    memory: ComponentId,
    plainclient: ExternalCap,
    toolstack: ComponentId,
    doorbell: EndpointId,
    mailbox: Arc<Mutex<Mailbox>>,
    external: External,
    /// Every gfn a grant was mapped at, for the step hook.
    mapped_at: Arc<Mutex<Vec<u64>>>,
}

/// The backend's capabilities, for a test that plays it from outside.
struct External {
    balloon: ExternalCap,
    gateway: EndpointId,
    grants: (LeaseId, u32),
}

/// A read-write lease of the first `len` bytes of `region`.
fn lease_of(region: LeaseId, len: u32) -> LeaseDescriptor {
    LeaseDescriptor {
        region: region.0,
        writable: 1,
        offset: 0,
        len,
        reserved: 0,
    }
}

/// What the frontend's page `page` holds.
fn pattern(page: u64) -> u64 {
    0x6772_616e_7400_0000 | page
}

/// The backend's answer to the frontend's page `page`.
fn answer_word(page: u64) -> u64 {
    0x616e_7377_6572_0000 | page
}

impl System {
    /// The backend played by [`Backend`], a handler.
    fn new(seed: u64) -> System {
        System::build(seed, true)
    }

    /// The system, the backend a handler if `played`, else external (the test makes its calls,
    /// which may wait for a deferred answer: a handler cannot).
    fn build(seed: u64, played: bool) -> System {
        let composition = &SIM_GRANTS;
        let parts = system::build(composition, None, seed).unwrap();
        let id = |name: &str| composition.component(name).unwrap().id;
        let (backend, toolstack, gateway) = (id("backend"), id("toolstack"), id("gateway"));
        let balloon_cap = (parts.map.clients.iter())
            .find(|cap| cap.name == "backend")
            .unwrap()
            .clone();
        let plainclient = (parts.map.clients.iter())
            .find(|cap| cap.name == "plainclient")
            .unwrap()
            .clone();
        let (gateway_endpoint, backend_on_gateway) =
            composition.capability(backend, gateway).unwrap();
        let grants = composition.lease(backend, gateway).unwrap();

        let checked = with_doorbell(&composition.ipc, toolstack, backend, played);
        let doorbell = DOORBELL;

        let mailbox = Arc::new(Mutex::new(Mailbox::default()));
        let (region, size) = balloon_cap.region.unwrap();
        let driver = Backend {
            balloon: Balloon::new(balloon_cap.endpoint, region, size),
            gateway: HypercallClient::new(gateway_endpoint),
            grants,
            loans: Vec::new(),
            mailbox: mailbox.clone(),
        };
        let external = External {
            balloon: balloon_cap.clone(),
            gateway: gateway_endpoint,
            grants,
        };
        let (xen, dom, memory) = (parts.map.xen.clone(), parts.map.dom, parts.map.memory);
        let (mut handlers, map) = parts.into_deterministic();
        if played {
            handlers.push((
                ComponentId(backend),
                Box::new(driver) as Box<dyn SimHandler>,
            ));
        }
        let mut runtime = DeterministicRuntime::new(checked, handlers, seed).unwrap();
        let (hook_xen, hook_dom) = (xen.clone(), dom);
        let mapped_at: Arc<Mutex<Vec<u64>>> = Arc::default();
        let watched = mapped_at.clone();
        runtime.set_step_hook(Box::new(move |view| {
            let server = (view.handler::<MemoryHandler>(memory)).ok_or("no memory server")?;
            (server.core())
                .check_invariant(hook_xen.tot_pages(hook_dom))
                .map_err(|violation| format!("{violation:?}"))?;
            // Item 4's rule: a frame that holds a grant stays lent to the backend, dead or
            // alive, so it is never ballooned, repopulated nor lent again while mapped.
            for &gfn in watched.lock().unwrap().iter() {
                let state = server.core().frame_state(Gfn(gfn));
                let held = hook_xen.grant_mapped_at(hook_dom, gfn).is_some();
                if held && state != Some(FrameState::Lent(BACKEND)) {
                    return Err(format!("gfn {gfn:#x} holds a grant but is {state:?}"));
                }
            }
            match hook_xen.leaked_pages(hook_dom) {
                Some(0) => Ok(()),
                leaked => Err(format!("xen-sim leaked pages: {leaked:?}")),
            }
        }));
        let frontend = xen.create_domain(DomainConfig::domu(0..0x1000, 0x1000));
        assert_eq!(
            frontend,
            DomId(2),
            "the domain the manifest lets the backend map from"
        );
        System {
            runtime,
            xen,
            dom,
            frontend,
            backend: ComponentId(backend),
            backend_on_gateway,
            gateway: map.gateway,
            memory,
            plainclient,
            toolstack: ComponentId(toolstack),
            doorbell,
            mailbox,
            external,
            mapped_at,
        }
    }

    /// Submit `message` from the external backend through `endpoint`, lending `lease`; the reply
    /// once the system has settled.
    fn external_call(
        &mut self,
        endpoint: EndpointId,
        message: &[u8],
        lease: LeaseDescriptor,
    ) -> Vec<u8> {
        let call = (self.runtime)
            .submit_call(self.backend, endpoint, message, Some(lease))
            .unwrap();
        self.settle();
        self.runtime.take_reply(call).unwrap().unwrap()
    }

    /// The plain client borrows `count` frames anywhere; the reply once the system has settled
    /// (its runs are in the plain client's region).
    fn plain_borrow(&mut self, count: u64) -> Vec<u8> {
        let plain = self.plainclient.clone();
        let (region, len) = plain.region.unwrap();
        let call = (self.runtime)
            .submit_call(
                plain.component,
                plain.endpoint,
                &balloon::encode_alloc_unpopulated(count, u64::MAX),
                Some(lease_of(region, len)),
            )
            .unwrap();
        self.settle();
        self.runtime.take_reply(call).unwrap().unwrap()
    }

    fn settle(&mut self) {
        let report = self.runtime.run_until_idle(STEP_LIMIT).unwrap();
        assert!(report.idle, "the system did not settle");
    }

    /// Have the backend do `job`, and its answer.
    fn run(&mut self, job: Job) -> Answer {
        self.mailbox.lock().unwrap().jobs.push_back(job);
        (self.runtime)
            .notify(self.toolstack, self.doorbell, JOB)
            .unwrap();
        self.settle();
        self.mailbox
            .lock()
            .unwrap()
            .answers
            .pop_front()
            .expect("answered")
    }

    fn borrow(&mut self, count: u64, max_gfn: u64) -> Vec<u64> {
        match self.run(Job::Borrow { count, max_gfn }) {
            Answer::Borrowed(Ok(gfns)) => gfns,
            other => panic!("borrowing {count} answered {other:?}"),
        }
    }

    /// Map the frontend's grants `refs` at `gfns`, one batch.
    fn map(&mut self, domid: u16, refs: &[u32], gfns: &[u64], readonly: bool) -> Answer {
        let entries = (refs.iter().zip(gfns))
            .map(|(&grant_ref, &gfn)| GrantMapEntry {
                gfn,
                grant_ref,
                flags: if readonly { GRANT_READONLY } else { 0 },
                ..GrantMapEntry::default()
            })
            .collect();
        self.run(Job::Map { domid, entries })
    }

    /// Map and expect every entry mapped: the handles.
    fn map_all(&mut self, refs: &[u32], gfns: &[u64]) -> Vec<u32> {
        self.mapped_at.lock().unwrap().extend_from_slice(gfns);
        match self.map(self.frontend.0, refs, gfns, false) {
            Answer::Mapped(Ok(mapped), entries) => {
                assert_eq!(mapped as usize, refs.len(), "{entries:?}");
                assert!(entries.iter().all(|entry| entry.status == 0));
                entries.iter().map(|entry| entry.handle).collect()
            }
            other => panic!("the map answered {other:?}"),
        }
    }

    /// The frontend grants its pages `pages` to the guest, each filled with [`pattern`].
    fn grant(&self, pages: std::ops::Range<u64>) -> Vec<u32> {
        (pages.map(|page| {
            self.xen
                .write_page(self.frontend, page, pattern(page))
                .unwrap();
            self.xen
                .grant_access(self.frontend, page, self.dom, false)
                .unwrap()
        }))
        .collect()
    }

    fn memory(&self) -> &MemoryHandler {
        self.runtime.handler(self.memory).unwrap()
    }

    fn gateway(&self) -> &GatewayHandler {
        self.runtime.handler(self.gateway).unwrap()
    }

    fn lent_to_backend(&self) -> u64 {
        self.memory().core().client(BACKEND).unwrap().lent
    }
}

fn map_refused(answer: Answer, expected: HypercallError) {
    match answer {
        Answer::Mapped(Err(CallError::Interface(error)), entries) => {
            assert_eq!(error, expected);
            assert!(entries
                .iter()
                .all(|entry| (entry.handle, entry.status) == (0, 0)));
        }
        other => panic!("expected {expected:?}, got {other:?}"),
    }
}

#[test]
fn a_backend_maps_256_grants_into_borrowed_frames_and_gives_them_back() {
    let mut system = System::new(3);
    let gfns = system.borrow(256, u64::MAX);
    let backend = system.backend_on_gateway;
    // The lend notice came before the reply: the gateway knew the loan when the backend did.
    assert_eq!(system.gateway().lent_frames(backend), 256);
    let notices = system.memory().notice_counters();
    assert!(notices.lend_notices >= 1 && notices.lends_refused == 0);
    assert!(gfns
        .iter()
        .all(|&gfn| system.xen.is_populated(system.dom, gfn) == Some(false)));

    let refs = system.grant(0..256);
    let handles = system.map_all(&refs, &gfns);
    let map = *system.gateway().counters().op(HypercallOp::GrantMap);
    assert_eq!(
        (map.calls, map.hypercalls, map.grant_entries_done),
        (1, 1, 256)
    );
    for (page, &gfn) in (0..).zip(&gfns) {
        assert_eq!(
            system.xen.read_granted(system.dom, gfn),
            Some(pattern(page))
        );
        system
            .xen
            .write_granted(system.dom, gfn, answer_word(page))
            .unwrap();
        assert_eq!(
            system.xen.read_page(system.frontend, page),
            Some(answer_word(page))
        );
    }

    assert_eq!(
        system.run(Job::Unmap { handles }),
        Answer::Unmapped(Ok(256))
    );
    assert_eq!(system.xen.grant_mappings(system.dom), 0);
    assert_eq!(system.run(Job::GiveBackAll), Answer::GivenBack(Ok(())));
    assert_eq!(system.gateway().lent_frames(backend), 0);
    assert_eq!(system.lent_to_backend(), 0);
    let notices = system.memory().notice_counters();
    assert_eq!(
        notices.return_notices, notices.lend_notices,
        "each run came back"
    );
    assert_eq!((notices.returns_refused, notices.quarantined), (0, 0));
    let unmap = *system.gateway().counters().op(HypercallOp::GrantUnmap);
    assert_eq!((unmap.hypercalls, unmap.grant_entries_done), (1, 256));
    for grant_ref in refs {
        assert_eq!(system.xen.grant_in_use(system.frontend, grant_ref), Some(0));
    }
}

#[test]
fn a_deferred_loan_of_ballooned_ram_is_noticed_before_the_backend_learns_it() {
    let mut system = System::build(5, false);
    // Below the lending range and more than any ballooned RAM: the memory server balloons out
    // first and answers later (a deferred answer).
    let (runs_region, runs_len) = system.external.balloon.region.unwrap();
    let endpoint = system.external.balloon.endpoint;
    let message = balloon::encode_alloc_unpopulated(1024, RAM_TOP);
    let reply = system.external_call(endpoint, &message, lease_of(runs_region, runs_len));
    let count = balloon::decode_alloc_unpopulated(&reply).unwrap().runs as usize;
    let granted = runs::read(system.runtime.region(runs_region).unwrap(), count)
        .unwrap()
        .to_vec();
    let gfns: Vec<u64> = (granted.iter())
        .flat_map(|run| run.first_gfn..run.first_gfn + run.count)
        .collect();
    assert_eq!(gfns.len(), 1024);
    assert!(gfns.iter().all(|&gfn| gfn <= RAM_TOP));
    let stats = system.memory().core().stats();
    assert_eq!(stats.counters.deferred_granted, 1, "{stats:?}");
    assert_eq!(
        system.gateway().lent_frames(system.backend_on_gateway),
        1024
    );

    let refs = system.grant(0..4);
    let entries: Vec<GrantMapEntry> = (refs.iter().zip(&gfns))
        .map(|(&grant_ref, &gfn)| GrantMapEntry {
            gfn,
            grant_ref,
            ..GrantMapEntry::default()
        })
        .collect();
    let (grants_region, _) = system.external.grants;
    system.runtime.region(grants_region).unwrap()[..entries.as_bytes().len()]
        .copy_from_slice(entries.as_bytes());
    let message = ballast_interfaces::hypercall::encode_grant_map(system.frontend.0);
    let lease = lease_of(grants_region, entries.as_bytes().len() as u32);
    system
        .mapped_at
        .lock()
        .unwrap()
        .extend_from_slice(&gfns[..4]);
    let reply = system.external_call(system.external.gateway, &message, lease);
    let mapped = ballast_interfaces::hypercall::decode_grant_map(&reply)
        .unwrap()
        .mapped;
    assert_eq!(mapped, 4);
    assert_eq!(
        system.xen.read_granted(system.dom, gfns[2]),
        Some(pattern(2))
    );

    // The backend dies holding them: every frame comes back once the gateway has unmapped.
    system.runtime.kill(system.backend).unwrap();
    system.settle();
    assert_eq!(system.xen.grant_mappings(system.dom), 0);
    assert_eq!(system.gateway().lent_frames(system.backend_on_gateway), 0);
    assert_eq!(system.lent_to_backend(), 0);
    assert_eq!(system.memory().quarantined_runs(), 0);
}

#[test]
fn maps_from_another_domain_or_into_frames_not_borrowed_are_refused_before_xen() {
    let mut system = System::new(7);
    let gfns = system.borrow(8, u64::MAX);
    let refs = system.grant(0..1);
    let other = system.xen.create_domain(DomainConfig::domu(0..16, 16));
    system.xen.write_page(other, 0, 1).unwrap();
    let foreign = system
        .xen
        .grant_access(other, 0, system.dom, false)
        .unwrap();

    // A domain the manifest does not list, however real its grant.
    map_refused(
        system.map(other.0, &[foreign], &gfns[..1], false),
        HypercallError::DomainNotAllowed,
    );
    map_refused(
        system.map(DOMID_SELF, &refs, &gfns[..1], false),
        HypercallError::DomainNotAllowed,
    );
    // Populated RAM, a lending frame nobody borrowed, and the plain client's borrowed frame.
    let front = system.frontend.0;
    map_refused(
        system.map(front, &refs, &[0x1000], false),
        HypercallError::FrameNotLent,
    );
    let unborrowed = gfns.iter().max().unwrap() + 1;
    map_refused(
        system.map(front, &refs, &[unborrowed], false),
        HypercallError::FrameNotLent,
    );
    let reply = system.plain_borrow(4);
    let count = balloon::decode_alloc_unpopulated(&reply).unwrap().runs as usize;
    let region = system.plainclient.region.unwrap().0;
    let plain_gfn = runs::read(system.runtime.region(region).unwrap(), count).unwrap()[0].first_gfn;
    map_refused(
        system.map(front, &refs, &[plain_gfn], false),
        HypercallError::FrameNotLent,
    );

    assert_eq!(
        system.xen.grant_mappings(system.dom),
        0,
        "Xen saw none of it"
    );
    let map = *system.gateway().counters().op(HypercallOp::GrantMap);
    assert_eq!(map.hypercalls, 0);
    assert_eq!(map.rejections.get(GatewayError::DomainNotAllowed), 2);
    assert_eq!(map.rejections.get(GatewayError::FrameNotLent), 3);
    // The plain client maps nothing: the memory server told the gateway nothing of its loan.
    let notices = system.memory().notice_counters();
    assert_eq!(notices.lend_notices, 1, "the backend's one run only");
    assert_eq!(system.memory().core().client(ClientId(1)).unwrap().lent, 4);
}

#[test]
fn a_give_back_while_a_grant_is_mapped_is_frame_mapped_and_changes_nothing() {
    let mut system = System::new(9);
    let first = system.borrow(4, u64::MAX);
    let second = system.borrow(4, u64::MAX);
    let refs = system.grant(0..1);
    let handles = system.map_all(&refs, &second[2..3]);
    let before = system.memory().core().stats();
    let refused = Answer::GivenBack(Err(CallError::Interface(BalloonError::FrameMapped)));
    assert_eq!(system.run(Job::GiveBackAll), refused);
    assert_eq!(system.memory().core().stats(), before, "nothing moved");
    assert_eq!(system.lent_to_backend(), 8, "every frame still lent");
    assert_eq!(
        system.gateway().lent_frames(system.backend_on_gateway),
        8,
        "and still known as lent"
    );
    for gfn in first.iter().chain(&second) {
        assert_eq!(
            system.memory().core().frame_state(Gfn(*gfn)),
            Some(FrameState::Lent(BACKEND))
        );
    }
    assert_eq!(
        system.xen.read_granted(system.dom, second[2]),
        Some(pattern(0)),
        "the mapping stands"
    );
    let notices = system.memory().notice_counters();
    assert_eq!(notices.returns_refused, 1);
    assert_eq!(notices.quarantined, 0);

    assert_eq!(system.run(Job::Unmap { handles }), Answer::Unmapped(Ok(1)));
    assert_eq!(system.run(Job::GiveBackAll), Answer::GivenBack(Ok(())));
    assert_eq!(system.lent_to_backend(), 0);
    assert_eq!(system.gateway().lent_frames(system.backend_on_gateway), 0);
}

/// The backend dies with grants mapped in lending-range and RAM frames. Returns whether the memory
/// server heard first (its return notices were refused and the runs quarantined until the gateway
/// had unmapped them).
fn die_with_grants_mapped(seed: u64) -> bool {
    let mut system = System::new(seed);
    let high = system.borrow(64, u64::MAX);
    let low = system.borrow(64, RAM_TOP);
    let holes =
        |gfn: &u64| *gfn <= RAM_TOP && system.xen.is_populated(system.dom, *gfn) == Some(false);
    assert!(low.iter().all(holes));
    let refs = system.grant(0..8);
    system.map_all(&refs[..4], &high[..4]);
    system.map_all(&refs[4..], &low[..4]);
    assert_eq!(system.xen.grant_mappings(system.dom), 8);

    system.runtime.kill(system.backend).unwrap();
    system.settle();
    let notices = system.memory().notice_counters();
    assert_eq!(
        system.memory().quarantined_runs(),
        0,
        "seed {seed}: the quarantine ended"
    );
    assert_eq!(
        notices.quarantined, notices.released,
        "seed {seed}: {notices:?}"
    );
    assert_eq!(system.xen.grant_mappings(system.dom), 0, "seed {seed}");
    assert_eq!(system.gateway().grants_mapped(), 0);
    assert_eq!(system.gateway().lent_frames(system.backend_on_gateway), 0);
    assert_eq!(system.lent_to_backend(), 0);
    for gfn in high.iter().chain(&low) {
        let state = system.memory().core().frame_state(Gfn(*gfn)).unwrap();
        assert!(
            matches!(
                state,
                FrameState::LendingFree | FrameState::Ballooned | FrameState::PopulatedFree
            ),
            "{gfn:#x} {state:?}"
        );
    }
    for grant_ref in refs {
        assert_eq!(system.xen.grant_in_use(system.frontend, grant_ref), Some(0));
    }
    // Nothing lost: the whole lending range is lent again, to the plain client.
    let reply = system.plain_borrow(1024);
    assert!(balloon::decode_alloc_unpopulated(&reply).is_ok());
    let lending = SIM_GRANTS.memory.unpopulated;
    assert!((lending.start()..lending.end()).all(|gfn| system
        .memory()
        .core()
        .frame_state(Gfn(gfn))
        == Some(FrameState::Lent(ClientId(1)))));
    notices.quarantined > 0
}

#[test]
fn a_backend_dying_with_grants_mapped_loses_no_frame_whichever_server_hears_first() {
    let orders: Vec<bool> = (0..24).map(die_with_grants_mapped).collect();
    assert!(
        orders.contains(&true),
        "no seed had the memory server hear first: {orders:?}"
    );
    assert!(
        orders.contains(&false),
        "no seed had the gateway hear first: {orders:?}"
    );
}

#[test]
fn hostile_notices_to_the_assembled_gateway_are_refused() {
    let mut system = System::new(11);
    let gfns = system.borrow(4, u64::MAX);
    let ram = system.borrow(4, RAM_TOP);
    let refs = system.grant(0..1);
    system.map_all(&refs, &gfns[..1]);
    let memory_badge = SIM_GRANTS
        .capability(system.memory.0, system.gateway.0)
        .unwrap()
        .1;
    let backend = system.backend_on_gateway;
    let plain_on_gateway = Badge(0xffff);
    let gateway = system
        .runtime
        .handler_mut::<GatewayHandler>(system.gateway)
        .unwrap();
    let refused = |reason| Err(QueryError::Refused(reason));
    // The image's own frames, and beyond everything the memory server owns or lends.
    assert_eq!(
        gateway.lend_notice(memory_badge, backend.0, 0x100, 4),
        refused(GatewayError::NotOwned)
    );
    assert_eq!(
        gateway.lend_notice(memory_badge, backend.0, 0x200_0000, 4),
        refused(GatewayError::NotOwned)
    );
    // A borrower that cannot map grants, frames lent already, a return with a grant mapped.
    assert_eq!(
        gateway.lend_notice(memory_badge, plain_on_gateway.0, 0x2000, 4),
        refused(GatewayError::BadBorrower)
    );
    assert_eq!(
        gateway.lend_notice(memory_badge, backend.0, gfns[0], 1),
        refused(GatewayError::AlreadyLent)
    );
    assert_eq!(
        gateway.return_notice(memory_badge, backend.0, gfns[0], 4),
        refused(GatewayError::FrameMapped)
    );
    // The backend itself may not say what it borrowed.
    assert_eq!(
        gateway.lend_notice(backend, backend.0, 0x2000, 4),
        refused(GatewayError::NotPermitted)
    );
    // Populating or releasing a lent frame of RAM would put memory under a grant; the lending
    // range is nobody's to populate at all.
    let mut lending = [Gfn(gfns[1])];
    let populate = ReservationOp::Populate;
    let answer = gateway.reservation(memory_badge, populate, 0, 0, DOMID_SELF, &mut lending);
    assert_eq!(answer, Err(GatewayError::NotOwned));
    let mut lent = [Gfn(ram[1])];
    for op in [ReservationOp::Populate, ReservationOp::Decrease] {
        assert_eq!(
            gateway.reservation(memory_badge, op, 0, 0, DOMID_SELF, &mut lent),
            Err(GatewayError::AlreadyLent)
        );
    }
    assert_eq!(gateway.lent_frames(backend), 8, "nothing changed");
    assert_eq!(system.xen.grant_mappings(system.dom), 1);
}

/// One component's calls on the host runtime: a blocking call and its whole reply.
fn host_call(
    handle: &mut ClientHandle,
    endpoint: EndpointId,
    message: &[u8],
    lease: Option<LeaseDescriptor>,
) -> Vec<u8> {
    let mut reply = [0u8; MESSAGE_BYTES];
    let len = handle.call(endpoint, message, lease, &mut reply).unwrap();
    reply[..len].to_vec()
}

/// On the host runtime (a thread per component: the gateway and the memory server hear of the
/// death in whatever order their threads run), a backend killed holding grants leaves nothing
/// mapped or lent, and the whole lending range can be lent again.
#[test]
fn on_the_host_runtime_a_dead_backends_frames_all_come_back() {
    let composition = &SIM_GRANTS;
    let id = |name: &str| ComponentId(composition.component(name).unwrap().id);
    for seed in 0..6 {
        let parts = system::build(composition, None, seed).unwrap();
        let (xen, dom) = (parts.map.xen.clone(), parts.map.dom);
        let cap = |name: &str| {
            let found = parts.map.clients.iter().find(|cap| cap.name == name);
            found.unwrap().clone()
        };
        let (backend_cap, plain_cap) = (cap("backend"), cap("plainclient"));
        let (control, gateway) = (parts.map.control.clone(), parts.map.gateway);
        let (to_gateway, _) = composition.capability(id("backend").0, gateway.0).unwrap();
        let (grants_region, _) = composition.lease(id("backend").0, gateway.0).unwrap();
        let ipc = CheckedTables::from_tables(&composition.ipc).unwrap();
        let (handlers, _) = parts.into_host();
        let mut runtime = HostRuntime::start(ipc, handlers).unwrap();
        let mut backend = runtime.client(id("backend")).unwrap();
        let mut plain = runtime.client(id("plainclient")).unwrap();
        let mut toolstack = runtime.client(control.component).unwrap();
        let frontend = xen.create_domain(DomainConfig::domu(0..0x1000, 0x1000));

        let (runs_region, runs_len) = backend_cap.region.unwrap();
        let message = balloon::encode_alloc_unpopulated(64, u64::MAX);
        let lease = lease_of(runs_region, runs_len);
        let reply = host_call(&mut backend, backend_cap.endpoint, &message, Some(lease));
        let count = balloon::decode_alloc_unpopulated(&reply).unwrap().runs as usize;
        let region = backend.region(runs_region).unwrap();
        let first = runs::read(&region, count).unwrap()[0].first_gfn;
        drop(region);
        let entries: Vec<GrantMapEntry> = (0..8)
            .map(|page| {
                xen.write_page(frontend, page, pattern(page)).unwrap();
                GrantMapEntry {
                    gfn: first + page,
                    grant_ref: xen.grant_access(frontend, page, dom, false).unwrap(),
                    ..GrantMapEntry::default()
                }
            })
            .collect();
        let bytes = entries.as_bytes();
        backend.region(grants_region).unwrap()[..bytes.len()].copy_from_slice(bytes);
        let message = ballast_interfaces::hypercall::encode_grant_map(frontend.0);
        let lease = lease_of(grants_region, bytes.len() as u32);
        let reply = host_call(&mut backend, to_gateway, &message, Some(lease));
        let mapped = ballast_interfaces::hypercall::decode_grant_map(&reply).unwrap();
        assert_eq!(mapped.mapped, 8);

        runtime.kill(id("backend")).unwrap();
        // The quarantine, if the memory server heard first, ends once the gateway has unmapped;
        // a watchdog fails a run that never settles.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let reply = host_call(
                &mut toolstack,
                control.endpoint,
                &balloon_control::encode_stats(),
                None,
            );
            let lent = balloon_control::decode_stats(&reply).unwrap().lent;
            if lent == 0 && xen.grant_mappings(dom) == 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "seed {seed}: {lent} frames still lent"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let (runs_region, runs_len) = plain_cap.region.unwrap();
        let message = balloon::encode_alloc_unpopulated(1024, u64::MAX);
        let lease = lease_of(runs_region, runs_len);
        let reply = host_call(&mut plain, plain_cap.endpoint, &message, Some(lease));
        assert!(
            balloon::decode_alloc_unpopulated(&reply).is_ok(),
            "seed {seed}"
        );
        assert_eq!(xen.leaked_pages(dom), Some(0));
    }
}
