//! Model-based property test: random sequences of targets (and cycles down and up), allocations, frees (good and bad,
//! whole runs, spans across region seams, single frames that split a run: clients fragmenting the
//! shared lent-run table up to their own limit), client deaths, worker steps, reconciliations and
//! faults (short counts, partly freed superpages, host exhaustion, fragmentation, calls lost in
//! transport) on a small simulated guest, with the invariant checked against xen-sim after every
//! operation, each client's lent runs against what it was given, and every frame's state compared
//! with Xen's at the end. Every frame going back to Xen is checked against the written-frames
//! model (`written`): none that anyone could write since its last populate goes back unscrubbed,
//! and none holds the guest's data; the run counts the frames that went back unscrubbed.
//!
//! Each case runs on one of two layouts (the worst case in small, and one of whole chunks with
//! nothing reserved) with the populated bitmap in either form: direct, or the chunk summary with
//! the default pool or a pool of one to three spare blocks, so small that the worker often finds
//! it full and waits; the run counts those waits and must see some.

mod common;
mod written;

use ballast_memory_server_core::{
    AllocOutcome, AllocRequest, BalloonCore, BpState, ClientId, Config, FrameRun, FrameState,
    LendError, Policy, PopulatedForm, Tunables, DEFAULT_MIXED_CHUNK_BLOCKS, MAX_GRANT_RUNS,
};
use ballast_xen::Gfn;
use ballast_xen_sim::{DomId, DomainConfig, Fault, HostConfig, XenSim};
use common::{FlakyGateway, SimScrubber};
use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, TestRunner};
use std::cell::RefCell;
use std::rc::Rc;
use written::{WatchedGateway, WatchedScrubber, Written};

const RAM: [FrameRun; 1] = [FrameRun::span(0, 1024)];
/// Reserved runs, given out of order: a range, and single used frames that leave no 2 MiB chunk
/// of RAM whole (the worst case of the page model, in small).
const RESERVED: [FrameRun; 3] = [
    FrameRun::span(600, 640),
    FrameRun::span(3, 4),
    FrameRun::span(1000, 1001),
];
/// The lending range lies between RAM and the extra region, seam to seam: the top of RAM (the
/// first frames ballooned) and the bottom of the extra region (the first frames lent from it)
/// are lent together with it, and given back across the seams as one run.
const LENDING: FrameRun = FrameRun::span(1024, 1024 + 32);
const EXTRA: [FrameRun; 1] = [FrameRun::span(LENDING.end(), LENDING.end() + 512)];

/// Where the managed frames lie besides RAM.
#[derive(Clone, Copy, Debug)]
struct Layout {
    reserved: &'static [FrameRun],
    lending: FrameRun,
    extra: &'static [FrameRun; 1],
}

/// The worst case in small: a reserved frame in both RAM chunks, the extra region's ends inside
/// chunks. Every chunk holds a block for good in the summary.
const WORST: Layout = Layout {
    reserved: &RESERVED,
    lending: LENDING,
    extra: &EXTRA,
};

/// Whole chunks, nothing reserved: the summary's blocks come and go with the batches.
const ALIGNED: Layout = Layout {
    reserved: &[],
    lending: FrameRun::span(1024, 1024 + 32),
    extra: &[FrameRun::span(1536, 2048)],
};
const CLIENTS: u16 = 3;
/// Lent runs one client may hold: together the clients can fill the table exactly.
const RUNS_PER_CLIENT: usize = 8;

type Core<'a> = BalloonCore<&'a mut [u64], 24, 3, 4>;

#[derive(Clone, Debug)]
enum Op {
    Target(u64),
    Alloc {
        client: u16,
        frames: u64,
        below: Option<u64>,
        max_runs: usize,
    },
    Free {
        client: u16,
        pick: usize,
    },
    FreeForeign {
        client: u16,
        pick: usize,
    },
    /// Give back, as one run, the longest stretch of adjacent runs the client holds around one.
    FreeSpan {
        client: u16,
        pick: usize,
    },
    /// Give back every other frame of a run the client holds, `batch` frames per call, until
    /// a call is refused: each frame inside the run splits it.
    Fragment {
        client: u16,
        pick: usize,
        batch: usize,
    },
    Die(u16),
    Steps {
        count: usize,
        advance_s: u64,
    },
    Reconcile,
    Short {
        completed: u64,
    },
    PartialExtent {
        completed: u64,
        pages: u64,
    },
    Exhausted {
        calls: u64,
    },
    Fragmented {
        calls: u64,
    },
    LoseCall {
        failing_probes: u32,
    },
    /// Down to one target and up to another, with the steps to get there: the second way down
    /// goes through chunks the server populated itself.
    Cycle {
        low: u64,
        high: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u64..1600).prop_map(Op::Target),
        3 => (0..CLIENTS, 1u64..400, prop::option::of(100u64..1600), 1usize..=4)
            .prop_map(|(client, frames, below, max_runs)| Op::Alloc { client, frames, below, max_runs }),
        2 => (0..CLIENTS, any::<usize>()).prop_map(|(client, pick)| Op::Free { client, pick }),
        1 => (0..CLIENTS, any::<usize>()).prop_map(|(client, pick)| Op::FreeForeign { client, pick }),
        2 => (0..CLIENTS, any::<usize>()).prop_map(|(client, pick)| Op::FreeSpan { client, pick }),
        2 => (0..CLIENTS, any::<usize>(), 1usize..=4)
            .prop_map(|(client, pick, batch)| Op::Fragment { client, pick, batch }),
        1 => (0..CLIENTS).prop_map(Op::Die),
        5 => (1usize..6, 0u64..8).prop_map(|(count, advance_s)| Op::Steps { count, advance_s }),
        1 => Just(Op::Reconcile),
        1 => (0u64..4).prop_map(|completed| Op::Short { completed }),
        1 => (0u64..3, 1u64..512).prop_map(|(completed, pages)| Op::PartialExtent { completed, pages }),
        1 => (1u64..4).prop_map(|calls| Op::Exhausted { calls }),
        1 => (1u64..4).prop_map(|calls| Op::Fragmented { calls }),
        1 => (0u32..3).prop_map(|failing_probes| Op::LoseCall { failing_probes }),
        2 => (0u64..800, 800u64..1600).prop_map(|(low, high)| Op::Cycle { low, high }),
    ]
}

#[derive(Clone, Debug)]
struct Case {
    layout: Layout,
    form: PopulatedForm,
    mixed_chunk_blocks: usize,
    policy: Policy,
    batch_extents: usize,
    host_free: u64,
    max_retry_count: u32,
    ops: Vec<Op>,
}

fn case() -> impl Strategy<Value = Case> {
    let bitmap = prop_oneof![
        3 => (Just(WORST), Just(PopulatedForm::Direct), Just(DEFAULT_MIXED_CHUNK_BLOCKS)),
        1 => (Just(WORST), Just(PopulatedForm::ChunkSummary), Just(DEFAULT_MIXED_CHUNK_BLOCKS)),
        1 => (Just(ALIGNED), Just(PopulatedForm::Direct), Just(DEFAULT_MIXED_CHUNK_BLOCKS)),
        1 => (Just(ALIGNED), Just(PopulatedForm::ChunkSummary), Just(DEFAULT_MIXED_CHUNK_BLOCKS)),
        3 => (Just(ALIGNED), Just(PopulatedForm::ChunkSummary), 1usize..4),
    ];
    (
        bitmap,
        prop_oneof![Just(Policy::Seed), Just(Policy::Ballast)],
        8usize..64,
        prop_oneof![Just(100u64), Just(600), Just(2048)],
        0u32..4,
        prop::collection::vec(op(), 1..14),
    )
        .prop_map(
            |(
                (layout, form, mixed_chunk_blocks),
                policy,
                batch_extents,
                host_free,
                max_retry_count,
                ops,
            )| Case {
                layout,
                form,
                mixed_chunk_blocks,
                policy,
                batch_extents,
                host_free,
                max_retry_count,
                ops,
            },
        )
}

/// What the test knows a client holds: the runs it was given.
struct Holdings {
    runs: Vec<(ClientId, FrameRun)>,
}

impl Holdings {
    fn of(&self, client: ClientId) -> Vec<usize> {
        (0..self.runs.len())
            .filter(|&i| self.runs[i].0 == client)
            .collect()
    }

    /// The longest stretch of adjacent runs `client` holds around run `index`.
    fn span_around(&self, client: ClientId, index: usize) -> FrameRun {
        let mut span = self.runs[index].1;
        let mine = || {
            self.runs
                .iter()
                .filter(|(c, _)| *c == client)
                .map(|(_, r)| r)
        };
        while let Some(before) = mine().find(|r| r.end() == span.start()) {
            span = FrameRun::span(before.start(), span.end());
        }
        while let Some(after) = mine().find(|r| r.start() == span.end()) {
            span = FrameRun::span(span.start(), after.end());
        }
        span
    }

    /// Runs `frames` (disjoint, all held by `client`) would split: each stretch of them that
    /// lies strictly inside one held run.
    fn splits(&self, client: ClientId, frames: &[FrameRun]) -> usize {
        let mut spans: Vec<FrameRun> = frames.to_vec();
        spans.sort_by_key(|f| f.start());
        spans.dedup_by(|next, span| {
            let adjacent = span.end() == next.start();
            if adjacent {
                *span = FrameRun::span(span.start(), next.end());
            }
            adjacent
        });
        let mine: Vec<FrameRun> = self.of(client).iter().map(|&i| self.runs[i].1).collect();
        spans
            .iter()
            .filter(|s| {
                mine.iter()
                    .any(|r| r.start() < s.start() && s.end() < r.end())
            })
            .count()
    }

    /// Forget `frames` (given back) from `client`'s runs, keeping what is left of them.
    fn give_back(&mut self, client: ClientId, frames: &[FrameRun]) {
        let mut kept = Vec::new();
        for (owner, run) in self.runs.drain(..) {
            if owner != client || !frames.iter().any(|f| f.overlaps(&run)) {
                kept.push((owner, run));
                continue;
            }
            let mut at = run.start();
            let mut inside: Vec<&FrameRun> = frames.iter().filter(|f| f.overlaps(&run)).collect();
            inside.sort_by_key(|f| f.start());
            for gone in inside {
                if gone.start() > at {
                    kept.push((owner, FrameRun::span(at, gone.start())));
                }
                at = at.max(gone.end());
            }
            if at < run.end() {
                kept.push((owner, FrameRun::span(at, run.end())));
            }
        }
        self.runs = kept;
    }
}

struct World<'w> {
    core: Core<'w>,
    /// The last managed frame above RAM, plus one.
    end: u64,
    port: WatchedGateway,
    scrubber: WatchedScrubber,
    written: Rc<RefCell<Written>>,
    sim: XenSim,
    dom: DomId,
    now: u64,
    held: Holdings,
}

impl World<'_> {
    fn check(&self) {
        let xen = self.sim.tot_pages(self.dom);
        self.core
            .check_invariant(xen)
            .unwrap_or_else(|e| panic!("{e:?} (xen {xen:?}) {:?}", self.core.stats()));
    }

    fn collect_settled(&mut self) {
        let mut out = [FrameRun::default(); MAX_GRANT_RUNS];
        while let Some(settled) = self.core.take_settled(&mut out) {
            if let Ok(runs) = settled.result {
                self.lend(settled.client, &out[..runs]);
            }
        }
    }

    /// `client` was given `runs`: the test holds them for it, and the client may write them.
    fn lend(&mut self, client: ClientId, runs: &[FrameRun]) {
        self.held.runs.extend(runs.iter().map(|r| (client, *r)));
        let mut written = self.written.borrow_mut();
        for run in runs {
            written.lent(run.start()..run.end());
        }
    }

    /// Each client's lent runs in the core are the runs it was given, less what it gave back,
    /// never more than its limit.
    fn runs_match(&self) {
        for client in (0..CLIENTS).map(ClientId) {
            let runs = self.core.client(client).unwrap().runs;
            assert_eq!(runs, self.held.of(client).len(), "{client:?}");
            assert!(runs <= RUNS_PER_CLIENT);
        }
    }

    /// Give back `runs` of `client`: all taken back, or refused, with nothing changed, exactly
    /// when the runs they split would take the client past its limit. The shared table is never
    /// what refuses. Returns whether they were taken back.
    fn give_back(&mut self, client: ClientId, runs: &[FrameRun]) -> bool {
        let frames = runs.iter().map(|r| r.frames).sum();
        let before = (self.core.stats(), *self.core.client(client).unwrap());
        let past_limit = before.1.runs + self.held.splits(client, runs) > RUNS_PER_CLIENT;
        match self.core.free_unpopulated(client, runs) {
            Ok(freed) => {
                assert!(!past_limit, "a give-back past the run limit was taken");
                assert_eq!(freed, frames);
                self.held.give_back(client, runs);
                assert_eq!(
                    self.core.free_unpopulated(client, runs),
                    Err(LendError::NotLent)
                );
                true
            }
            Err(error) => {
                assert!(past_limit, "a give-back within the run limit was refused");
                assert_eq!(error, LendError::RunLimit);
                assert_eq!(
                    (self.core.stats(), *self.core.client(client).unwrap()),
                    before
                );
                false
            }
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Target(pages) => self.core.set_target(pages),
            Op::Alloc {
                client,
                frames,
                below,
                max_runs,
            } => {
                let request = AllocRequest {
                    frames,
                    below: below.map(Gfn),
                    max_runs,
                };
                let mut out = [FrameRun::default(); MAX_GRANT_RUNS];
                let before = self.core.stats();
                let at_limit = self.held.of(ClientId(client)).len() == RUNS_PER_CLIENT;
                let outcome =
                    self.core
                        .alloc_unpopulated(ClientId(client), request, self.now, &mut out);
                if outcome == Err(LendError::RunLimit) || at_limit {
                    assert!(
                        at_limit && outcome.is_err(),
                        "{outcome:?}: at the limit {at_limit}"
                    );
                }
                assert_ne!(outcome, Err(LendError::TableFull));
                match outcome {
                    Ok(AllocOutcome::Granted { runs }) => {
                        assert_eq!(out[..runs].iter().map(|r| r.frames).sum::<u64>(), frames);
                        assert!(runs <= max_runs);
                        assert!(out[..runs]
                            .iter()
                            .all(|r| below.is_none_or(|b| r.end() <= b)));
                        self.lend(ClientId(client), &out[..runs]);
                    }
                    Ok(AllocOutcome::Pending(_)) => {}
                    Err(_) => assert_eq!(self.core.stats(), before),
                }
            }
            Op::Free { client, pick } => {
                let mine = self.held.of(ClientId(client));
                if !mine.is_empty() {
                    let run = self.held.runs[mine[pick % mine.len()]].1;
                    self.give_back(ClientId(client), &[run]);
                }
            }
            Op::FreeSpan { client, pick } => {
                let mine = self.held.of(ClientId(client));
                if !mine.is_empty() {
                    let span = self
                        .held
                        .span_around(ClientId(client), mine[pick % mine.len()]);
                    self.give_back(ClientId(client), &[span]);
                }
            }
            Op::Fragment {
                client,
                pick,
                batch,
            } => {
                let mine = self.held.of(ClientId(client));
                if !mine.is_empty() {
                    let run = self.held.runs[mine[pick % mine.len()]].1;
                    let frames: Vec<FrameRun> = (run.start() + 1..run.end())
                        .step_by(2)
                        .map(|gfn| FrameRun::new(Gfn(gfn), 1))
                        .collect();
                    for call in frames.chunks(batch) {
                        if !self.give_back(ClientId(client), call) {
                            break;
                        }
                    }
                }
            }
            Op::FreeForeign { client, pick } => {
                let theirs: Vec<usize> = (0..self.held.runs.len())
                    .filter(|&i| self.held.runs[i].0 != ClientId(client))
                    .collect();
                if !theirs.is_empty() {
                    let run = self.held.runs[theirs[pick % theirs.len()]].1;
                    let before = self.core.stats();
                    assert_eq!(
                        self.core.free_unpopulated(ClientId(client), &[run]),
                        Err(LendError::NotOwner)
                    );
                    assert_eq!(self.core.stats(), before);
                }
            }
            Op::Die(client) => {
                let held: u64 = self
                    .held
                    .runs
                    .iter()
                    .filter(|(c, _)| *c == ClientId(client))
                    .map(|(_, r)| r.frames)
                    .sum();
                let reclaimed = self.core.client_died(ClientId(client)).unwrap();
                assert_eq!(reclaimed, held);
                self.held.runs.retain(|(c, _)| *c != ClientId(client));
            }
            Op::Steps { count, advance_s } => {
                for _ in 0..count {
                    let outcome =
                        self.core
                            .balloon_step(&mut self.port, &mut self.scrubber, self.now);
                    self.check();
                    self.collect_settled();
                    self.now = outcome.next_run_ns.unwrap_or(self.now).max(self.now);
                }
                self.now += advance_s * 1_000_000_000;
            }
            Op::Reconcile => {
                if let Ok(drift) = self.core.reconcile(&mut self.port) {
                    assert_eq!(drift, 0);
                }
            }
            Op::Short { completed } => self.sim.inject(Fault::Shorten {
                call: self.sim.next_call(),
                completed,
            }),
            Op::PartialExtent { completed, pages } => self.sim.inject(Fault::PartialExtent {
                call: self.sim.next_call(),
                completed,
                pages,
            }),
            Op::Exhausted { calls } => {
                let first = self.sim.next_call();
                self.sim.inject(Fault::HostExhausted {
                    calls: first..first + calls,
                })
            }
            Op::Fragmented { calls } => {
                let first = self.sim.next_call();
                self.sim.inject(Fault::Fragmented {
                    calls: first..first + calls,
                })
            }
            Op::LoseCall { failing_probes } => {
                self.port.inner.lose_next_call = true;
                self.port.inner.failing_probes = failing_probes;
            }
            Op::Cycle { low, high } => {
                for target in [low, high] {
                    self.apply(&Op::Target(target));
                    self.apply(&Op::Steps {
                        count: 200,
                        advance_s: 0,
                    });
                }
            }
        }
        self.check();
        self.runs_match();
    }

    /// With the gateway healthy, the worker reaches the reachable target, or stops only where
    /// nothing more can be done: no free frame to release, or Xen has no page to give.
    fn converges(&mut self) {
        self.port.inner.lose_next_call = false;
        self.port.inner.failing_probes = 0;
        let mut last = None;
        let mut idle_steps = 0;
        let mut pool_wait = false;
        for _ in 0..4000 {
            let waits = self.core.stats().counters.pool_waits;
            let outcome = self
                .core
                .balloon_step(&mut self.port, &mut self.scrubber, self.now);
            pool_wait = self.core.stats().counters.pool_waits > waits;
            self.check();
            self.collect_settled();
            let idle = outcome.frames_moved == 0 && outcome.settled == 0;
            idle_steps = if idle { idle_steps + 1 } else { 0 };
            if idle_steps > 8 {
                break;
            }
            if outcome.state == BpState::Cancelled {
                self.core.set_target(self.core.stats().target_pages);
                continue;
            }
            last = Some(outcome.state);
            match outcome.next_run_ns {
                Some(next) => self.now = next.max(self.now),
                None => break,
            }
        }
        let stats = self.core.stats();
        let free = (RAM[0].start()..self.end)
            .filter(|g| self.core.frame_state(Gfn(*g)) == Some(FrameState::PopulatedFree))
            .count();
        let xen_full = self.sim.host_free_pages() == 0
            || self.sim.tot_pages(self.dom) == self.sim.max_pages(self.dom);
        if stats.current_pages > stats.reachable_target_pages {
            assert!(
                free == 0 || last == Some(BpState::Wait),
                "{last:?} {stats:?}"
            );
        } else if stats.current_pages < stats.reachable_target_pages {
            let waits_for_blocks = last == Some(BpState::Wait) && pool_wait;
            assert!(xen_full || waits_for_blocks, "{last:?} {stats:?}");
        }
    }

    /// Every managed frame's state agrees with Xen's, nothing leaked, lent frames are held.
    fn agrees_with_xen(&self) {
        let mut run_start = RAM[0].start();
        let mut run_state = None;
        for gfn in RAM[0].start()..=self.end {
            let state = self.core.frame_state(Gfn(gfn)).map(|s| match s {
                FrameState::PopulatedFree | FrameState::Reserved => Some(true),
                FrameState::Ballooned | FrameState::Lent(_) => Some(false),
                FrameState::InFlight | FrameState::LendingFree => None,
            });
            if state != run_state || gfn == self.end {
                if let Some(Some(populated)) = run_state {
                    let count = self.sim.populated_count(self.dom, run_start..gfn).unwrap();
                    let expected = if populated { gfn - run_start } else { 0 };
                    assert_eq!(
                        count, expected,
                        "frames {run_start}..{gfn} populated: {populated}"
                    );
                }
                (run_start, run_state) = (gfn, state);
            }
        }
        for (client, run) in &self.held.runs {
            for gfn in run.start()..run.end() {
                assert_eq!(
                    self.core.frame_state(Gfn(gfn)),
                    Some(FrameState::Lent(*client))
                );
            }
        }
        assert_eq!(self.sim.leaked_pages(self.dom), Some(0));
    }
}

/// Run `case`; returns the frames that went back scrubbed and unscrubbed, and the steps that
/// waited for a block of the chunk summary.
fn run_case(case: &Case) -> (u64, u64, u64) {
    let mut config = Config::new(&RAM, case.policy);
    config.reserved = case.layout.reserved;
    config.extra = case.layout.extra;
    config.lending = Some(case.layout.lending);
    config.populated_form = case.form;
    config.mixed_chunk_blocks = case.mixed_chunk_blocks;
    config.batch_extents = case.batch_extents;
    config.tunables = Tunables {
        max_schedule_delay_s: 32,
        max_retry_count: case.max_retry_count,
    };
    config.default_client_quota = 600;
    config.max_lent_runs_per_client = RUNS_PER_CLIENT;
    config.pending_timeout_ns = 20_000_000_000;
    let sim = XenSim::new(HostConfig {
        free_pages: case.host_free,
        ..HostConfig::default()
    });
    let dom = sim.create_domain(DomainConfig::domu(0..1024, 2048));
    let written = Written::boot(&sim, dom, RAM[0].start()..RAM[0].end());
    let mut words = vec![0u64; config.bitmap_words().unwrap()];
    let mut world = World {
        core: Core::new(&config, &mut words).unwrap(),
        end: case.layout.extra[0].end(),
        port: WatchedGateway {
            inner: FlakyGateway::new(sim.hypervisor(dom)),
            written: written.clone(),
            sim: sim.clone(),
            dom,
        },
        scrubber: WatchedScrubber {
            inner: SimScrubber {
                sim: sim.clone(),
                dom,
            },
            written: written.clone(),
        },
        written: written.clone(),
        sim: sim.clone(),
        dom,
        now: 0,
        held: Holdings { runs: Vec::new() },
    };
    for op in &case.ops {
        world.apply(op);
    }
    world.apply(&Op::Steps {
        count: 4,
        advance_s: 0,
    });
    world.agrees_with_xen();
    world.converges();
    world.now += config.pending_timeout_ns;
    world.apply(&Op::Steps {
        count: 1,
        advance_s: 0,
    });
    assert_eq!(
        world.core.waiting_requests(),
        0,
        "every deferred request settles by its deadline"
    );
    let pool_waits = world.core.stats().counters.pool_waits;
    let written = written.borrow();
    (
        written.went_back_scrubbed,
        written.went_back_unscrubbed,
        pool_waits,
    )
}

#[test]
fn the_page_model_stays_consistent_with_xen() {
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 14_000,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    });
    let totals = RefCell::new((0u64, 0u64, 0u64, 0u64));
    runner
        .run(&case(), |case| {
            let (scrubbed, unscrubbed, pool_waits) = run_case(&case);
            let mut totals = totals.borrow_mut();
            totals.0 += scrubbed;
            totals.1 += unscrubbed;
            totals.2 += u64::from(unscrubbed > 0);
            totals.3 += u64::from(pool_waits > 0);
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
    let (scrubbed, unscrubbed, skipping_cases, waiting_cases) = totals.into_inner();
    println!(
        "frames gone back to Xen: {scrubbed} scrubbed, {unscrubbed} unscrubbed \
         (in {skipping_cases} cases); the worker waited for a summary block in {waiting_cases} cases"
    );
    assert!(
        unscrubbed > 0 && scrubbed > 0,
        "the run must see both, or the scrub rule went untested"
    );
    assert!(
        waiting_cases > 0,
        "the run must find the summary's pool full, or its limit went untested"
    );
}
