//! Plays a scenario against a manifest's system on the deterministic runtime: the toolstack's
//! target writes, the driver clients' loans, host pressure and Xen faults, in simulated time,
//! with the memory server's invariant checked after every step of the runtime.

use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ballast_interfaces::balloon::{AllocUnpopulatedReply, BalloonDeferredClient, BalloonError};
use ballast_interfaces::balloon_control::BalloonControlDeferredClient;
use ballast_interfaces::runs::{self, WireRun};
use ballast_interfaces::support::{Pending, Submit};
use ballast_ipc::deterministic::{CallId, DeterministicRuntime};
use ballast_ipc::{CheckedTables, ComponentId, EndpointId, IpcError, LeaseDescriptor};
use ballast_xen::{ExtentOrder, Gfn, Hypervisor, MemFlags, ReservationOp, SUPERPAGE_ORDER};
use ballast_xen_sim::{CostModel, DomId, DomainConfig, PodStatus, StandingFaults};

use super::report::{GrowthReport, GrowthStep, PodReport, RunReport, Sample, TargetOutcome};
use super::scenario::{ClientWorkload, FaultKind, Scenario};
use crate::system::{self, ExternalCap, MemoryHandler, SystemMap};
use ballast_memory_server_core::Stats;
use ballast_system::{Composition, Policy};

const NS_PER_MS: u64 = 1_000_000;
const SAMPLE_EVERY_NS: u64 = 100 * NS_PER_MS;
/// Steps the runtime may take between two scenario events before the run counts as stuck.
const STEPS_PER_EVENT: u64 = 1_000_000;

fn ns(seconds: f64) -> u64 {
    (seconds * 1e9).round() as u64
}

/// Make every step of `runtime` cost the simulated time the domain of `map` spent in Xen's
/// `memory_op` and scrubbing pages during it, by `costs`; returns where the clock stood when the
/// latest step ended.
fn charge_xen_costs(
    map: &SystemMap,
    costs: CostModel,
    runtime: &mut DeterministicRuntime,
) -> Rc<Cell<u64>> {
    let (xen, dom) = (map.xen.clone(), map.dom);
    xen.set_cost_model(costs);
    let last_step_end = Rc::new(Cell::new(0));
    let end = last_step_end.clone();
    runtime.set_charge_hook(Box::new(move |step| {
        let took = xen.take_busy_ns(dom);
        end.set(step.now_ns.saturating_add(took));
        took
    }));
    last_step_end
}

/// Something the scenario does at a time of its own; clients by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Nothing,
    Target,
    WindowEdge,
    Death(usize),
    Request(usize),
    Return(usize),
}

/// An event found overdue twice in a row: its handler ran and did not act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stall {
    event: Event,
    due_ns: u64,
}

/// Catches a run that stops advancing: an event still due after its handlers ran would hold the
/// clock, stepping it one nanosecond at a time for ever.
#[derive(Debug, Default)]
struct Watchdog {
    overdue: Option<(u64, Event)>,
}

impl Watchdog {
    /// Look at the next event after the handlers for `now` ran. An event overdue once may be
    /// acted on at the next step (a submission the runtime refused for now); overdue again, the
    /// run has stalled.
    fn observe(&mut self, now: u64, due_ns: u64, event: Event) -> Result<(), Stall> {
        if due_ns > now {
            self.overdue = None;
            return Ok(());
        }
        if self.overdue == Some((due_ns, event)) {
            return Err(Stall { event, due_ns });
        }
        self.overdue = Some((due_ns, event));
        Ok(())
    }
}

/// What a driver client is doing: the call it waits on.
#[derive(Debug)]
enum Busy {
    Borrowing(Pending<CallId, AllocUnpopulatedReply, BalloonError>),
    Returning(Pending<CallId, (), BalloonError>),
}

/// The deterministic runtime as one external component submits through it.
struct External<'r> {
    runtime: &'r mut DeterministicRuntime,
    component: ComponentId,
}

impl Submit for External<'_> {
    type Call = CallId;

    fn submit(
        &mut self,
        endpoint: EndpointId,
        request: &[u8],
        lease: Option<LeaseDescriptor>,
    ) -> Result<CallId, IpcError> {
        self.runtime
            .submit_call(self.component, endpoint, request, lease)
    }
}

#[derive(Debug)]
struct Client {
    cap: ExternalCap,
    workload: ClientWorkload,
    next_request_ns: u64,
    busy: Option<Busy>,
    /// Loans held: when to give each back, and its runs.
    loans: VecDeque<(u64, Vec<WireRun>)>,
    alive: bool,
}

/// What one target cost: where the domain stood when it was set, and the hypercalls until it
/// was reached.
#[derive(Debug, Clone, Copy)]
struct TargetCost {
    from_pages: u64,
    calls_at_set: u64,
    calls_at_reached: Option<u64>,
}

/// A running scenario.
pub struct Simulation {
    runtime: DeterministicRuntime,
    map: SystemMap,
    scenario: Scenario,
    policy: Option<Policy>,
    seed: u64,
    clients: Vec<Client>,
    /// When, the target in pages, and Xen's new maximum in pages if the change sets one.
    targets: VecDeque<(u64, u64, Option<u64>)>,
    target_outcomes: Vec<TargetOutcome>,
    /// Per target in `target_outcomes`: Xen's page count and the hypercalls made so far when it
    /// was set, and the hypercalls made so far when it was reached.
    target_costs: Vec<TargetCost>,
    /// Frames of the manifest's growth range, if it has one.
    growth_frames: Option<u64>,
    hog: Option<DomId>,
    checks: Arc<AtomicU64>,
    violations: Arc<AtomicU64>,
    first_violation: Arc<std::sync::Mutex<Option<String>>>,
    /// Xen's PoD entries and cache when the memory server had started.
    pod_at_start: Arc<std::sync::Mutex<Option<PodStatus>>>,
    samples: Vec<Sample>,
    /// The memory server's statistics and the runtime's step count when they were taken: with
    /// no step since, they cannot have changed (taking them scans the page model).
    last_stats: Option<(u64, Stats)>,
    /// The simulated time at which the latest step of the runtime ended (its cost included).
    last_step_end: Rc<Cell<u64>>,
    loans_granted: u64,
    frames_reclaimed: u64,
    stuck: Option<String>,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("scenario", &self.scenario.name)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// A snapshot for progress displays.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Simulated time, ms.
    pub time_ms: u64,
    /// Scenario length, ms.
    pub duration_ms: u64,
    /// The latest sample.
    pub sample: Sample,
}

impl Simulation {
    /// Compose `composition`'s system and prepare `scenario` on it.
    pub fn new(
        composition: &'static Composition,
        scenario: Scenario,
        policy: Option<Policy>,
        seed: u64,
    ) -> Result<Simulation, String> {
        let pod = scenario.pod.map(|pod| system::PodBuild {
            boot_pages: pod.boot_pages().unwrap_or(u64::MAX),
            special_pages: pod.special_pages,
        });
        let parts = system::build_on(composition, policy, seed, pod).map_err(|e| e.to_string())?;
        let ipc = CheckedTables::from_tables(&composition.ipc)
            .map_err(|e| format!("IPC tables refused: {e:?}"))?;
        let (handlers, map) = parts.into_deterministic();
        let mut runtime = DeterministicRuntime::new(ipc, handlers, seed)
            .map_err(|e| format!("runtime refused: {e:?}"))?;

        let checks = Arc::new(AtomicU64::new(0));
        let violations = Arc::new(AtomicU64::new(0));
        let first_violation = Arc::new(std::sync::Mutex::new(None));
        let (xen, dom, memory) = (map.xen.clone(), map.dom, map.memory);
        let (c, v, first) = (checks.clone(), violations.clone(), first_violation.clone());
        let pod_at_start = Arc::new(std::sync::Mutex::new(None));
        let at_start = pod_at_start.clone();
        let pod_xen = xen.clone();
        runtime.set_step_hook(Box::new(move |view| {
            if let Some(server) = view.handler::<MemoryHandler>(memory) {
                if server.core().started() {
                    let mut at_start = at_start.lock().expect("the hook runs on one thread");
                    if at_start.is_none() {
                        *at_start = pod_xen.pod_status(dom);
                    }
                }
                c.fetch_add(1, Ordering::Relaxed);
                if let Err(violation) = server.core().check_invariant(xen.tot_pages(dom)) {
                    v.fetch_add(1, Ordering::Relaxed);
                    let mut first = first.lock().expect("the hook runs on one thread");
                    first.get_or_insert_with(|| {
                        format!("step {}: {violation:?}", view.record().step)
                    });
                }
            }
            Ok(())
        }));

        let last_step_end = charge_xen_costs(&map, scenario.xen_costs.model(), &mut runtime);

        let mut clients = Vec::new();
        for workload in &scenario.clients {
            let cap = map.clients.iter().find(|c| c.name == workload.client).ok_or_else(|| {
                let known: Vec<&str> = map.clients.iter().map(|c| c.name.as_str()).collect();
                format!("scenario `{}`: client `{}` is not a driver client of the manifest (it has: {})", scenario.name, workload.client, known.join(", "))
            })?;
            if cap.region.is_none() {
                return Err(format!(
                    "client `{}` lends no region to the memory server: it cannot receive runs",
                    cap.name
                ));
            }
            clients.push(Client {
                cap: cap.clone(),
                workload: workload.clone(),
                next_request_ns: ns(workload.start_s),
                busy: None,
                loans: VecDeque::new(),
                alive: true,
            });
        }
        let targets = scenario
            .targets
            .iter()
            .map(|t| {
                let max = t.max_pages().map(|pages| pages.unwrap_or(u64::MAX));
                (ns(t.at_s), t.target_pages().unwrap_or(u64::MAX), max)
            })
            .collect();
        Ok(Simulation {
            runtime,
            map,
            scenario,
            policy,
            seed,
            clients,
            targets,
            target_outcomes: Vec::new(),
            target_costs: Vec::new(),
            growth_frames: composition.memory.growth.map(|growth| growth.frames),
            hog: None,
            checks,
            violations,
            first_violation,
            pod_at_start,
            samples: Vec::new(),
            last_stats: None,
            last_step_end,
            loans_granted: 0,
            frames_reclaimed: 0,
            stuck: None,
        })
    }

    fn memory(&self) -> &MemoryHandler {
        self.runtime
            .handler::<MemoryHandler>(self.map.memory)
            .expect("the memory server is a handler of the system")
    }

    /// A count of the server's pages as the domain's (Xen's) count: with the baseline it took at
    /// start (the special pages of a PoD boot, say).
    fn domain_pages(&self, server_pages: u64) -> u64 {
        server_pages.saturating_add_signed(self.memory().core().domain_offset())
    }

    /// The memory server's statistics now.
    fn stats(&mut self) -> Stats {
        let steps = self.runtime.steps();
        match self.last_stats {
            Some((at_steps, stats)) if at_steps == steps => stats,
            _ => {
                let stats = self.memory().core().stats();
                self.last_stats = Some((steps, stats));
                stats
            }
        }
    }

    fn sample(&mut self) -> Sample {
        let stats = self.stats();
        Sample {
            time_ms: self.runtime.now_ns() / NS_PER_MS,
            target_pages: self.domain_pages(stats.target_pages),
            current_pages: self.map.xen.tot_pages(self.map.dom).unwrap_or(0),
            ballooned_pages: stats.balloon_low + stats.balloon_high,
            lent_pages: stats.lent_pages,
        }
    }

    /// Run the whole scenario; `progress` is called at every sample.
    pub fn run(mut self, mut progress: impl FnMut(Progress)) -> RunReport {
        let end = ns(self.scenario.duration_s);
        let mut next_sample = 0;
        let mut watchdog = Watchdog::default();
        while self.runtime.now_ns() < end && self.stuck.is_none() {
            let now = self.runtime.now_ns();
            self.apply_timeline(now);
            self.drive_clients(now);
            if now >= next_sample {
                let sample = self.sample();
                self.samples.push(sample);
                progress(Progress {
                    time_ms: now / NS_PER_MS,
                    duration_ms: end / NS_PER_MS,
                    sample,
                });
                // A step's cost may have carried the clock past several sample times.
                next_sample = (now / SAMPLE_EVERY_NS + 1) * SAMPLE_EVERY_NS;
            }
            let (due, event) = self.next_event(now);
            if let Err(stalled) = watchdog.observe(now, due, event) {
                self.stuck = Some(format!(
                    "simulated time stopped advancing at {now} ns: {} was due at {} ns and was not acted on",
                    self.describe(stalled.event),
                    stalled.due_ns
                ));
                break;
            }
            let next = due.max(now + 1).min(next_sample).min(end);
            match self.runtime.run_until_time(next, STEPS_PER_EVENT) {
                Ok(report) if !report.idle && self.runtime.now_ns() < next => {
                    self.stuck = Some(format!(
                        "the system did not settle within {STEPS_PER_EVENT} steps at {} ms",
                        now / NS_PER_MS
                    ));
                }
                Ok(_) => {}
                Err(violation) => self.stuck = Some(format!("{violation:?}")),
            }
            self.collect_replies();
            self.note_reached_targets();
        }
        let last = self.sample();
        self.samples.push(last);
        self.report()
    }

    /// The earliest thing the scenario will do after `now`'s handlers ran, and when: a client
    /// past its `stop_s` issues nothing more, so it does not hold the clock.
    fn next_event(&self, now: u64) -> (u64, Event) {
        let mut next = (u64::MAX, Event::Nothing);
        let mut consider = |at: u64, event: Event| {
            if at < next.0 {
                next = (at, event);
            }
        };
        if let Some(&(at, _, _)) = self.targets.front() {
            consider(at, Event::Target);
        }
        for window in self.windows() {
            for edge in window {
                if edge > now {
                    consider(edge, Event::WindowEdge);
                }
            }
        }
        for (index, client) in self.clients.iter().enumerate().filter(|(_, c)| c.alive) {
            if let Some(dies) = client.workload.dies_at_s.map(ns) {
                if dies > now {
                    consider(dies, Event::Death(index));
                }
            }
            if client.busy.is_none() {
                let stop = ns(client.workload.stop_s);
                if client.next_request_ns <= stop && now <= stop {
                    consider(client.next_request_ns, Event::Request(index));
                }
                if let Some(&(due, _)) = client.loans.front() {
                    consider(due, Event::Return(index));
                }
            }
        }
        next
    }

    /// What `event` is, naming its client.
    fn describe(&self, event: Event) -> String {
        let client = |index: usize| &self.clients[index].cap.name;
        match event {
            Event::Nothing => "nothing".into(),
            Event::Target => "the next target write".into(),
            Event::WindowEdge => "a pressure or fault window's edge".into(),
            Event::Death(index) => format!("client `{}`'s death", client(index)),
            Event::Request(index) => format!("client `{}`'s next request", client(index)),
            Event::Return(index) => format!("client `{}`'s next loan return", client(index)),
        }
    }

    fn windows(&self) -> impl Iterator<Item = [u64; 2]> + '_ {
        let pressure = self
            .scenario
            .pressure
            .iter()
            .map(|p| [ns(p.from_s), ns(p.until_s)]);
        let faults = self
            .scenario
            .faults
            .iter()
            .map(|f| [ns(f.from_s), ns(f.until_s)]);
        pressure.chain(faults)
    }

    fn apply_timeline(&mut self, now: u64) {
        while let Some(&(at, pages, max)) = self.targets.front() {
            if at > now {
                break;
            }
            self.targets.pop_front();
            if let Some(max) = max {
                // `xl mem-max`: Xen's maximum moves first, then the target.
                let _ = self.map.xen.set_max_pages(self.map.dom, max);
            }
            if self.scenario.pod.is_some() {
                // The toolstack is xl: `xl mem-set` also sets the PoD target (the domain
                // exists for the whole run).
                let _ = self.map.xen.set_pod_target(self.map.dom, pages);
            }
            let control = &self.map.control;
            let mut toolstack = External {
                runtime: &mut self.runtime,
                component: control.component,
            };
            // The toolstack does not wait for the answer: progress shows in the samples.
            let submitted = BalloonControlDeferredClient::new(control.endpoint)
                .set_target(&mut toolstack, pages)
                .is_ok();
            if submitted {
                self.target_outcomes.push(TargetOutcome {
                    set_at_s: at as f64 / 1e9,
                    target_pages: pages,
                    reached_after_s: None,
                });
                self.target_costs.push(TargetCost {
                    from_pages: self.map.xen.tot_pages(self.map.dom).unwrap_or(0),
                    calls_at_set: self.xen_calls(),
                    calls_at_reached: None,
                });
            }
        }
        self.apply_pressure(now);
        let active = |kind: FaultKind| {
            self.scenario
                .faults
                .iter()
                .filter(|f| f.kind == kind)
                .find(|f| ns(f.from_s) <= now && now < ns(f.until_s))
        };
        self.map.xen.set_standing_faults(StandingFaults {
            exhausted: active(FaultKind::HostExhausted).is_some(),
            fragmented: active(FaultKind::NoSuperpages).is_some(),
            shorten_every: active(FaultKind::ShortCount)
                .and_then(|f| f.every_nth_call)
                .map(u64::from),
        });
        for client in &mut self.clients {
            if client.alive && client.workload.dies_at_s.is_some_and(|t| ns(t) <= now) {
                client.alive = false;
                let held: u64 = client
                    .loans
                    .iter()
                    .flat_map(|(_, runs)| runs)
                    .map(|r| r.count)
                    .sum();
                self.frames_reclaimed += held;
                client.loans.clear();
                client.busy = None;
                // A dead client's frames come back through the memory server's client_died.
                let _ = self.runtime.kill(client.cap.component);
            }
        }
    }

    /// Other domains take the host's free memory down to the window's level, and give it back
    /// when the window closes.
    fn apply_pressure(&mut self, now: u64) {
        let window = self
            .scenario
            .pressure
            .iter()
            .find(|p| ns(p.from_s) <= now && now < ns(p.until_s));
        match (window, self.hog) {
            (Some(window), None) => {
                let xen = &self.map.xen;
                let hog = xen
                    .try_create_domain(DomainConfig {
                        ram: Vec::new(),
                        max_pages: u64::MAX / 2,
                        max_order: SUPERPAGE_ORDER.get(),
                    })
                    .ok();
                if let Some(hog) = hog {
                    let leave = window.host_free_pages().unwrap_or(u64::MAX);
                    let mut hv = xen.hypervisor(hog);
                    let mut next_gfn = 0;
                    for order in [SUPERPAGE_ORDER, ExtentOrder::PAGE] {
                        while xen.host_free_pages() >= leave + order.frames() {
                            let mut frame = [Gfn(next_gfn)];
                            if hv
                                .reservation(
                                    ReservationOp::Populate,
                                    order,
                                    MemFlags::NONE,
                                    &mut frame,
                                )
                                .extents
                                == 0
                            {
                                break;
                            }
                            next_gfn += order.frames();
                        }
                    }
                    self.hog = Some(hog);
                }
            }
            (None, Some(hog)) => {
                let _ = self.map.xen.destroy_domain(hog);
                self.hog = None;
            }
            _ => {}
        }
    }

    fn lease(cap: &ExternalCap, writable: bool) -> LeaseDescriptor {
        let (region, size) = cap.region.expect("checked when the simulation was built");
        LeaseDescriptor {
            region: region.0,
            writable: u16::from(writable),
            offset: 0,
            len: size,
            reserved: 0,
        }
    }

    fn drive_clients(&mut self, now: u64) {
        for client in self
            .clients
            .iter_mut()
            .filter(|c| c.alive && c.busy.is_none())
        {
            let cap = &client.cap;
            if client.loans.front().is_some_and(|&(due, _)| due <= now) {
                let (_, loan) = client.loans.pop_front().expect("just looked");
                let region = self
                    .runtime
                    .region(cap.region.expect("checked").0)
                    .expect("the client's own region");
                let written = runs::write(region, loan.iter().copied()).unwrap_or(0);
                let mut driver = External {
                    runtime: &mut self.runtime,
                    component: cap.component,
                };
                let lease = Self::lease(cap, false);
                if let Ok(pending) = BalloonDeferredClient::new(cap.endpoint).free_unpopulated(
                    &mut driver,
                    written as u32,
                    lease,
                ) {
                    client.busy = Some(Busy::Returning(pending));
                }
            } else if client.next_request_ns <= now && now <= ns(client.workload.stop_s) {
                client.next_request_ns = client
                    .workload
                    .every_ns()
                    .map_or(u64::MAX, |every| now.saturating_add(every));
                let max_gfn = client.workload.max_gfn.unwrap_or(u64::MAX);
                let mut driver = External {
                    runtime: &mut self.runtime,
                    component: cap.component,
                };
                let frames = u64::from(client.workload.frames);
                let lease = Self::lease(cap, true);
                if let Ok(pending) = BalloonDeferredClient::new(cap.endpoint).alloc_unpopulated(
                    &mut driver,
                    frames,
                    max_gfn,
                    lease,
                ) {
                    client.busy = Some(Busy::Borrowing(pending));
                }
            }
        }
    }

    fn collect_replies(&mut self) {
        let now = self.runtime.now_ns();
        for client in self.clients.iter_mut().filter(|c| c.alive) {
            let call = match &client.busy {
                Some(Busy::Borrowing(pending)) => *pending.call(),
                Some(Busy::Returning(pending)) => *pending.call(),
                None => continue,
            };
            let Some(reply) = self.runtime.take_reply(call) else {
                continue;
            };
            // A returned loan needs no bookkeeping here: the server's books are checked.
            if let Some(Busy::Borrowing(pending)) = &client.busy {
                if let Ok(body) = pending.decode(reply.as_deref().map_err(|error| *error)) {
                    let region = self
                        .runtime
                        .region(client.cap.region.expect("checked").0)
                        .expect("own region");
                    if let Some(loan) = runs::read(region, body.runs as usize) {
                        self.loans_granted += 1;
                        let due = client
                            .workload
                            .hold_ns()
                            .map_or(u64::MAX, |hold| now.saturating_add(hold));
                        client.loans.push_back((due, loan.to_vec()));
                    }
                }
            }
            client.busy = None;
        }
    }

    fn note_reached_targets(&mut self) {
        let waiting = (self.target_outcomes.last()).is_some_and(|t| t.reached_after_s.is_none());
        if !waiting {
            return;
        }
        let stats = self.stats();
        let current = self.map.xen.tot_pages(self.map.dom).unwrap_or(0);
        // Reached by the end of the latest step (the clock may since have jumped to the next
        // sample or event while nothing ran).
        let reached_at = self.last_step_end.get() as f64 / 1e9;
        let reached =
            stats.current_pages == stats.reachable_target_pages && stats.in_flight_pages == 0;
        let target = self.domain_pages(stats.target_pages);
        let calls = self.xen_calls();
        if let Some(last) = self.target_outcomes.last_mut() {
            if reached && target == last.target_pages && current > 0 {
                last.reached_after_s = Some((reached_at - last.set_at_s).max(0.0));
                if let Some(cost) = self.target_costs.last_mut() {
                    cost.calls_at_reached = Some(calls);
                }
            }
        }
    }

    /// Hypercalls the domain has made so far (every reservation op and query).
    fn xen_calls(&self) -> u64 {
        let xen = self.map.xen.counters(self.map.dom).unwrap_or_default();
        xen.increase_calls
            + xen.decrease_calls
            + xen.populate_calls
            + xen.current_calls
            + xen.maximum_calls
    }

    /// The growth report: the boot maximum and each target's cost, if the manifest has growth.
    fn growth_report(&self, total_pages: u64) -> Option<GrowthReport> {
        let growth_pages = self.growth_frames?;
        let steps = (self.target_outcomes.iter().zip(&self.target_costs))
            .map(|(outcome, cost)| GrowthStep {
                set_at_s: outcome.set_at_s,
                from_pages: cost.from_pages,
                target_pages: outcome.target_pages,
                reached_after_s: outcome.reached_after_s,
                hypercalls: cost.calls_at_reached.map(|calls| calls - cost.calls_at_set),
            })
            .collect();
        Some(GrowthReport {
            boot_max_pages: self.domain_pages(total_pages - growth_pages),
            growth_pages,
            steps,
        })
    }

    fn report(self) -> RunReport {
        let stats = self.memory().core().stats();
        let xen = self.map.xen.counters(self.map.dom).unwrap_or_default();
        let growth = self.growth_report(stats.total_pages);
        let mut extents_by_order = BTreeMap::new();
        for (order, (&populated, &released)) in stats
            .counters
            .populated_extents
            .iter()
            .zip(&stats.counters.released_extents)
            .enumerate()
        {
            if populated + released > 0 {
                extents_by_order.insert(order as u8, populated + released);
            }
        }
        let violations = self.violations.load(Ordering::Relaxed) + u64::from(self.stuck.is_some());
        if let Some(first) = self.first_violation.lock().ok().and_then(|f| f.clone()) {
            eprintln!("ballast sim: first invariant violation: {first}");
        }
        if let Some(stuck) = &self.stuck {
            eprintln!("ballast sim: {stuck}");
        }
        RunReport {
            scenario: self.scenario.name.clone(),
            policy: self.memory().core().policy().name().into(),
            seed: self.seed,
            target_pages: self.domain_pages(stats.target_pages),
            current_pages: self.map.xen.tot_pages(self.map.dom).unwrap_or(0),
            ballooned_pages: stats.balloon_low + stats.balloon_high,
            lent_pages: stats.lent_pages,
            hypercalls: self.xen_calls(),
            pages_released: xen.pages_released,
            pages_populated: xen.pages_populated,
            scrubbed_pages: stats.counters.scrubbed_frames,
            scrub_skipped_pages: stats.counters.scrub_skipped_frames,
            extents_by_order,
            retries: stats.counters.retries,
            loans_granted: self.loans_granted,
            frames_reclaimed: self.frames_reclaimed,
            invariant_checks: self.checks.load(Ordering::Relaxed),
            invariant_violations: violations,
            reached_target: self
                .target_outcomes
                .iter()
                .all(|t| t.reached_after_s.is_some()),
            pod: self.scenario.pod.map(|pod| {
                let at_start = self.pod_at_start.lock().ok().and_then(|s| *s);
                let now = self.map.xen.pod_status(self.map.dom).unwrap_or_default();
                let boot = self.memory().boot_report().unwrap_or_default();
                PodReport {
                    memory_pages: pod.boot_pages().unwrap_or(u64::MAX),
                    special_pages: pod.special_pages,
                    boot_deficit: boot.deficit,
                    boot_unscrubbed_frames: boot.unscrubbed_frames,
                    boot_settling_batches: boot.settling_batches,
                    entries_at_start: at_start.map(|s| s.entries),
                    cache_at_start: at_start.map(|s| s.cache),
                    entries: now.entries,
                    cache: now.cache,
                    demand_populated: now.counters.demand_populated,
                    cache_grown: now.counters.cache_grown,
                    crashed: now.crashed.map(|crash| crash.to_string()),
                }
            }),
            growth,
            targets: self.target_outcomes,
            samples: self.samples,
        }
    }

    /// The policy the run was asked for.
    pub fn policy(&self) -> Option<Policy> {
        self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_names_an_event_left_overdue_twice() {
        let mut watchdog = Watchdog::default();
        assert_eq!(watchdog.observe(10, 20, Event::Request(1)), Ok(()));
        // Overdue once: the next step may still act on it.
        assert_eq!(watchdog.observe(20, 20, Event::Request(1)), Ok(()));
        assert_eq!(
            watchdog.observe(21, 20, Event::Request(1)),
            Err(Stall {
                event: Event::Request(1),
                due_ns: 20
            })
        );
    }

    #[test]
    fn the_watchdog_lets_overdue_events_that_were_acted_on_pass() {
        let mut watchdog = Watchdog::default();
        assert_eq!(watchdog.observe(20, 20, Event::Return(0)), Ok(()));
        // A different overdue event each time is progress, not a stall.
        assert_eq!(watchdog.observe(21, 21, Event::Return(0)), Ok(()));
        assert_eq!(watchdog.observe(22, 30, Event::Return(0)), Ok(()));
        assert_eq!(watchdog.observe(30, 30, Event::Return(0)), Ok(()));
    }
}
