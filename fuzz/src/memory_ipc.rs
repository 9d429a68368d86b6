//! The memory server's IPC dispatch, `Balloon` (driver clients) and `BalloonControl` (the
//! toolstack), on the fuzz manifest's system ([`crate::rig`]: the real gateway and memory server
//! over xen-sim) in the deterministic runtime: every call goes through the
//! runtime's capability and lease checks, the generated dispatch, the server's glue and the core,
//! as `tests/hostile_clients.rs` drives it. The fuzzer chooses the caller, the message (raw bytes
//! or a typed call with hostile arguments), the lease and the runs in the caller's region.
//!
//! A call answered with a typed error (a status, or the runtime's refusal) must have changed
//! nothing ([`crate::snapshot`]), except a deferred borrow that timed out (the worker may have
//! ballooned for it meanwhile); after any other call the core's invariant must hold and xen-sim
//! have leaked nothing. A panic anywhere is a finding.
//!
//! The system is built once and kept across inputs, and built again every [`REBUILD_EVERY`]
//! inputs, so a finding may depend on the inputs before it in the same process.

use std::cell::RefCell;

use arbitrary::Arbitrary;
use ballast::system::{ExternalCap, MemoryHandler, SystemMap};
use ballast_interfaces::balloon::{self, BalloonError};
use ballast_interfaces::balloon_control::{self, Policy};
use ballast_interfaces::runs::{self, WireRun};
use ballast_interfaces::support::InterfaceError;
use ballast_ipc::deterministic::DeterministicRuntime;
use ballast_ipc::{CheckedTables, IpcError, LeaseDescriptor, LeaseId, MessageHeader};
use ballast_memory_server_core::ClientId;
use zerocopy::FromBytes;

use crate::rig::{self, Lease, MANAGED_END};
use crate::snapshot::{self, MemoryView, View, XenView};

/// Inputs run on one system before it is built again.
pub const REBUILD_EVERY: u64 = 2_000;
/// Steps one call may take to settle (a deferred borrow waits out its timeout).
const STEP_LIMIT: u64 = 200_000;
/// Calls one input may make.
const MAX_CALLS: usize = 64;

/// The default system on the deterministic runtime.
struct Rig {
    runtime: DeterministicRuntime,
    map: SystemMap,
    regions: Vec<LeaseId>,
    inputs: u64,
    /// The server's and Xen's state as the last call left it. Nothing runs between calls (the
    /// fuzzer writes only the regions' bytes, taken afresh), so it is the state before the next
    /// call, and a refused call is compared with it instead of a second snapshot.
    settled: Option<(MemoryView, XenView)>,
}

impl Rig {
    fn new() -> Rig {
        let composition = rig::composition();
        let parts = rig::build(1).parts;
        let ipc = CheckedTables::from_tables(&composition.ipc).expect("its tables check");
        let (handlers, map) = parts.into_deterministic();
        let runtime = DeterministicRuntime::new(ipc, handlers, 1).expect("handlers placed");
        let regions = composition.ipc.regions.iter().map(|r| r.id).collect();
        let mut rig = Rig {
            runtime,
            map,
            regions,
            inputs: 0,
            settled: None,
        };
        // The first call takes the baseline against Xen; from then on the system is quiet.
        let control = rig.map.control.clone();
        rig.call(&control, &balloon_control::encode_stats(), None)
            .expect("the toolstack may ask for stats");
        rig
    }

    fn memory(&self) -> &MemoryHandler {
        self.runtime
            .handler(self.map.memory)
            .expect("the memory server")
    }

    fn check_invariant(&self) {
        let xen = &self.map.xen;
        let tot = xen.tot_pages(self.map.dom);
        if let Err(violation) = self.memory().core().check_invariant(tot) {
            panic!("the memory server's invariant broke: {violation:?}");
        }
        assert_eq!(
            xen.leaked_pages(self.map.dom),
            Some(0),
            "xen-sim leaked pages"
        );
    }

    /// The server's and Xen's part of what a refused call must leave as it was.
    fn state(&self) -> (MemoryView, XenView) {
        let clients = self.map.clients.len() as u16 + 1;
        let memory = MemoryView::of(self.memory(), clients);
        let xen = XenView::of(&self.map.xen, self.map.dom, 0..MANAGED_END);
        (memory, xen)
    }

    /// Everything a refused call must leave as it was: `state` and the bytes of every region.
    fn view(&mut self, state: (MemoryView, XenView)) -> View<(MemoryView, XenView)> {
        let regions = snapshot::regions(&mut self.runtime, &self.regions);
        View { state, regions }
    }

    /// Submit a call and run until the system is idle, then check it: a refusal changed
    /// nothing, anything else left the invariant whole. The reply, or the runtime's refusal.
    fn call(
        &mut self,
        from: &ExternalCap,
        message: &[u8],
        lease: Option<LeaseDescriptor>,
    ) -> Result<Vec<u8>, IpcError> {
        let state = match self.settled.take() {
            Some(state) => state,
            None => self.state(),
        };
        let before = self.view(state);
        let reply = self
            .runtime
            .submit_call(from.component, from.endpoint, message, lease)
            .and_then(|call| {
                let report = self
                    .runtime
                    .run_until_idle(STEP_LIMIT)
                    .expect("no step hook to break");
                assert!(report.idle, "the system did not settle after a call");
                self.runtime
                    .take_reply(call)
                    .expect("every call is answered once the system is idle")
            });
        let state = self.state();
        let state = if refused(&reply) {
            let after = self.view(state);
            snapshot::assert_same(&before, &after, &reply);
            after.state
        } else {
            self.check_invariant();
            state
        };
        self.settled = Some(state);
        reply
    }

    /// The caller `who` picks: a driver client or the toolstack.
    fn caller(&self, who: u8) -> ExternalCap {
        let clients = &self.map.clients;
        match clients.get(usize::from(who) % (clients.len() + 1)) {
            Some(client) => client.clone(),
            None => self.map.control.clone(),
        }
    }

    fn write_runs(&mut self, caller: &ExternalCap, given: &[WireRun]) {
        let Some((region, _)) = caller.region else {
            return;
        };
        let bytes = self.runtime.region(region).expect("the caller's region");
        let fit = given.len().min(bytes.len() / 16);
        runs::write(bytes, given[..fit].iter().copied()).expect("the runs fit");
    }
}

/// One call of the fuzzer's.
#[derive(Arbitrary, Debug)]
enum Call {
    /// Any bytes as the message.
    Raw {
        who: u8,
        message: Vec<u8>,
        lease: Lease,
    },
    /// `alloc_unpopulated`.
    Borrow {
        who: u8,
        count: u64,
        max_gfn: u64,
        lease: Lease,
    },
    /// `free_unpopulated` of runs of the fuzzer's choosing.
    GiveBack {
        who: u8,
        runs: Vec<(u64, u64)>,
        count: Option<u32>,
        lease: Lease,
    },
    /// `free_unpopulated` of part of a run the client holds (and optionally a second one).
    GiveBackHeld {
        who: u8,
        nth: u16,
        skip: u32,
        frames: u32,
        also: Option<(u16, u32, u32)>,
    },
    /// `set_target`, in pages.
    SetTarget { pages: u64 },
    /// `set_target` near what the domain holds now.
    NudgeTarget { delta: i32 },
    /// `configure`.
    Configure {
        delay_ms: u32,
        max_delay_ms: u32,
        retries: u32,
        seed_policy: bool,
    },
    /// `reconcile`.
    Reconcile,
    /// `stats`.
    Stats,
}

impl Call {
    /// Make the call on `rig` (which checks it): the reply, or the runtime's refusal.
    fn make(self, rig: &mut Rig) -> Result<Vec<u8>, IpcError> {
        let control = rig.map.control.clone();
        match self {
            Call::Raw {
                who,
                message,
                lease,
            } => {
                let caller = rig.caller(who);
                rig.call(&caller, &message, lease.descriptor(caller.region))
            }
            Call::Borrow {
                who,
                count,
                max_gfn,
                lease,
            } => {
                let caller = rig.caller(who);
                let message = balloon::encode_alloc_unpopulated(count, max_gfn);
                rig.call(&caller, &message, lease.descriptor(caller.region))
            }
            Call::GiveBack {
                who,
                runs,
                count,
                lease,
            } => {
                let caller = rig.caller(who);
                let given: Vec<WireRun> = runs
                    .iter()
                    .map(|&(first_gfn, count)| WireRun { first_gfn, count })
                    .collect();
                rig.write_runs(&caller, &given);
                let count = count.unwrap_or(given.len() as u32);
                let message = balloon::encode_free_unpopulated(count);
                rig.call(&caller, &message, lease.descriptor(caller.region))
            }
            Call::GiveBackHeld {
                who,
                nth,
                skip,
                frames,
                also,
            } => {
                let caller = rig.caller(who);
                let client = ClientId(u16::from(who) % (rig.map.clients.len() as u16 + 1));
                let held: Vec<_> = rig.memory().core().delivered_runs(client).collect();
                let part = |nth: u16, skip: u32, frames: u32| {
                    let run = held.get(usize::from(nth) % held.len().max(1))?;
                    let skip = u64::from(skip) % run.frames;
                    let frames = (u64::from(frames) % (run.frames - skip)) + 1;
                    Some(WireRun {
                        first_gfn: run.first.0 + skip,
                        count: frames,
                    })
                };
                let given: Vec<WireRun> = part(nth, skip, frames)
                    .into_iter()
                    .chain(also.and_then(|(n, s, f)| part(n, s, f)))
                    .collect();
                rig.write_runs(&caller, &given);
                let message = balloon::encode_free_unpopulated(given.len() as u32);
                let lease = Lease::Whole { writable: false }.descriptor(caller.region);
                rig.call(&caller, &message, lease)
            }
            Call::SetTarget { pages } => {
                rig.call(&control, &balloon_control::encode_set_target(pages), None)
            }
            Call::NudgeTarget { delta } => {
                let current = rig.memory().core().stats().current_pages;
                let pages = current.saturating_add_signed(i64::from(delta));
                rig.call(&control, &balloon_control::encode_set_target(pages), None)
            }
            Call::Configure {
                delay_ms,
                max_delay_ms,
                retries,
                seed_policy,
            } => {
                let policy = if seed_policy {
                    Policy::Seed
                } else {
                    Policy::Ballast
                };
                let message =
                    balloon_control::encode_configure(delay_ms, max_delay_ms, retries, policy);
                rig.call(&control, &message, None)
            }
            Call::Reconcile => rig.call(&control, &balloon_control::encode_reconcile(), None),
            Call::Stats => rig.call(&control, &balloon_control::encode_stats(), None),
        }
    }
}

/// What a reply says: a success, a typed error that must have changed nothing, or a deferred
/// borrow's timeout.
fn refused(reply: &Result<Vec<u8>, IpcError>) -> bool {
    match reply {
        Err(_) => true,
        Ok(message) => {
            let (header, _) = MessageHeader::read_from_prefix(message).expect("a reply header");
            let status = header.op_or_status;
            status != 0 && status != BalloonError::TimedOut.status()
        }
    }
}

thread_local! {
    static RIG: RefCell<Option<Rig>> = const { RefCell::new(None) };
}

/// Play the calls `data` decodes to on the kept system.
pub fn run(data: &[u8]) {
    RIG.with_borrow_mut(|slot| {
        if slot.as_ref().is_none_or(|rig| rig.inputs >= REBUILD_EVERY) {
            *slot = Some(Rig::new());
        }
        let rig = slot.as_mut().expect("built above");
        rig.inputs += 1;
        for call in crate::decode_all::<Call>(data, MAX_CALLS) {
            // `Rig::call` checked the reply and what it left.
            let _ = call.make(rig);
        }
    });
}
