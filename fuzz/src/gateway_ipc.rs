//! The hypercall gateway's IPC dispatch and checks (`Hypercall`), the real gateway of the fuzz
//! manifest's system over xen-sim in the deterministic runtime, called by a compromised memory
//! server (every reservation op with any frame list, order, flags and domid, the queries, lend and
//! return notices for any borrower and run) and a hostile backend (grant maps of any entries from
//! any domain, unmaps of any handles), each through its own capability and region as the manifest
//! wires them, or with raw messages and leases. The memory server is an external component here:
//! the fuzzer speaks for it.
//!
//! A call the gateway answers with a typed error, or that the runtime refuses, must leave Xen
//! exactly as it was (pages, call counters, host pool, grant mappings), the gateway's own state
//! (grants mapped, frames lent per borrower) too, and must not reach Xen at all (the gateway's
//! own hypercall counter). Only `XenErrno`, Xen's own refusal, went to Xen. After every call
//! xen-sim has leaked no page and the grant mappings Xen holds are the ones the gateway counts.
//! A panic anywhere is a finding.
//!
//! After every reservation call the gateway's page state agrees with Xen's on every frame the
//! call named: the fuzzer's one finding (a populate of a populated frame passed the gateway and
//! leaked a page, `fuzz/findings/gateway_ipc/`) is refused now, and stays in the corpus.
//!
//! As in [`crate::memory_ipc`], the system is kept across inputs and built again every
//! [`REBUILD_EVERY`] inputs.

use std::cell::RefCell;

use arbitrary::Arbitrary;
use ballast::system::{GatewayHandler, SystemMap};
use ballast_interfaces::grants::{GrantMapEntry, GrantUnmapEntry};
use ballast_interfaces::hypercall::{self, HypercallError, HypercallOp};
use ballast_interfaces::support::InterfaceError;
use ballast_ipc::deterministic::DeterministicRuntime;
use ballast_ipc::{
    Badge, CheckedTables, ComponentId, ComponentKind, ComponentSpec, EndpointId, IpcError,
    LeaseDescriptor, LeaseId, MessageHeader, Tables,
};
use ballast_system::Kind;
use ballast_xen::{Gfn, DOMID_SELF};
use zerocopy::{FromBytes, IntoBytes};

use crate::rig::{self, Lease, MANAGED_END};
use crate::snapshot::{self, GatewayView, View, XenView};

/// Inputs run on one system before it is built again.
pub const REBUILD_EVERY: u64 = 5_000;
/// Calls one input may make.
const MAX_CALLS: usize = 64;
/// Frames one fuzzed list may name.
const MAX_LIST: usize = 600;

/// A caller of the gateway: its component, capability and region.
#[derive(Debug, Clone, Copy)]
struct Caller {
    component: ComponentId,
    endpoint: EndpointId,
    region: (LeaseId, u32),
}

/// The gateway alone in the runtime, the memory server and the backend external.
struct Rig {
    runtime: DeterministicRuntime,
    map: SystemMap,
    frontend: u16,
    grant_refs: Vec<u32>,
    memory: Caller,
    backend: Caller,
    backend_badge: Badge,
    memory_badge: Badge,
    regions: Vec<LeaseId>,
    /// Handles of grants the backend mapped (for unmaps that pass).
    handles: Vec<u32>,
    inputs: u64,
}

/// The composition's tables with the memory server made an external component (and the calls to
/// it left out).
fn tables() -> CheckedTables {
    let composition = rig::composition();
    let memory = composition
        .first_of(Kind::MemoryServer)
        .expect("a memory server");
    let components: Vec<ComponentSpec<'static>> = composition
        .ipc
        .components
        .iter()
        .enumerate()
        .map(|(id, spec)| ComponentSpec {
            kind: if id == usize::from(memory.id) {
                ComponentKind::External
            } else {
                spec.kind
            },
            ..*spec
        })
        .collect();
    // Nobody serves the clients' calls to the memory server: they are not wired.
    let endpoints: Vec<_> = composition
        .ipc
        .endpoints
        .iter()
        .filter(|endpoint| endpoint.server.0 != memory.id)
        .copied()
        .collect();
    let tables = Tables {
        components: Box::leak(components.into_boxed_slice()),
        endpoints: Box::leak(endpoints.into_boxed_slice()),
        ..composition.ipc
    };
    CheckedTables::from_tables(&tables).expect("the tables check")
}

impl Rig {
    fn new() -> Rig {
        let built = rig::build(2);
        let map = built.parts.map;
        let gateway: GatewayHandler = built.parts.gateway;
        let runtime =
            DeterministicRuntime::new(tables(), vec![(map.gateway, Box::new(gateway))], 2)
                .expect("the gateway placed");
        let memory = map.memory;
        let backend = rig::component("backend");
        let caller = |component| Caller {
            component,
            endpoint: rig::endpoint(component, Kind::HypercallGateway),
            region: rig::region(component, Kind::HypercallGateway),
        };
        let composition = rig::composition();
        let (_, backend_badge) = composition
            .capability(backend.0, map.gateway.0)
            .expect("the backend calls the gateway");
        let (_, memory_badge) = composition
            .capability(memory.0, map.gateway.0)
            .expect("the memory server calls the gateway");
        Rig {
            runtime,
            regions: composition.ipc.regions.iter().map(|r| r.id).collect(),
            frontend: built.frontend.0,
            grant_refs: built.grant_refs,
            memory: caller(memory),
            backend: caller(backend),
            backend_badge,
            memory_badge,
            map,
            handles: Vec::new(),
            inputs: 0,
        }
    }

    fn gateway(&self) -> &GatewayHandler {
        self.runtime.handler(self.map.gateway).expect("the gateway")
    }

    fn view(&mut self) -> View<(XenView, GatewayView, u64)> {
        let xen = XenView::of(&self.map.xen, self.map.dom, 0..MANAGED_END);
        let gateway = GatewayView::of(self.gateway(), &[self.backend_badge]);
        let hypercalls = self.gateway().counters().total().hypercalls;
        let regions = snapshot::regions(&mut self.runtime, &self.regions);
        View {
            state: (xen, gateway, hypercalls),
            regions,
        }
    }

    fn check(&self) {
        let xen = &self.map.xen;
        assert_eq!(
            xen.leaked_pages(self.map.dom),
            Some(0),
            "xen-sim leaked pages"
        );
        assert_eq!(
            xen.grant_mappings(self.map.dom),
            self.gateway().grants_mapped(),
            "Xen's grant mappings are not the gateway's"
        );
    }

    /// Submit a call, run the gateway, and check what a refusal must leave as it was: the
    /// reply, or the runtime's refusal (`None`: not made, see below).
    fn call(
        &mut self,
        from: Caller,
        message: &[u8],
        lease: Lease,
    ) -> Option<Result<Vec<u8>, IpcError>> {
        let lease = lease.descriptor(Some(from.region));
        let before = self.view();
        let reply = self
            .runtime
            .submit_call(from.component, from.endpoint, message, lease)
            .and_then(|call| {
                let report = self.runtime.run_until_idle(1_000).expect("no step hook");
                assert!(report.idle, "the gateway did not settle");
                self.runtime
                    .take_reply(call)
                    .expect("every call is answered once the system is idle")
            });
        if refused(&reply) {
            snapshot::assert_same(&before, &self.view(), &reply);
        }
        self.check();
        if !refused(&reply) {
            self.check_page_state(message, lease);
        }
        Some(reply)
    }

    /// After a reservation call that reached Xen: the gateway's page state agrees with Xen's on
    /// the first and the last frame of every extent the leased list names (Xen completes or
    /// leaves whole extents here: no fault makes it free part of one). A refused call changed
    /// neither (`snapshot::assert_same`), so they still agree there.
    fn check_page_state(&mut self, message: &[u8], lease: Option<LeaseDescriptor>) {
        let Ok((header, body)) = MessageHeader::read_from_prefix(message) else {
            return;
        };
        let reservation = [
            HypercallOp::PopulatePhysmap as u16,
            HypercallOp::DecreaseReservation as u16,
        ];
        if header.interface != hypercall::INTERFACE_ID
            || !reservation.contains(&header.op_or_status)
        {
            return;
        }
        // The request's extent order follows `mem_flags` (4 bytes) and `domid` (2 bytes).
        let order = body.get(6).copied().unwrap_or(0).min(18);
        let Some(lease) = lease else {
            return;
        };
        let Some(region) = self.runtime.region(LeaseId(lease.region)) else {
            return;
        };
        let start = (lease.offset as usize).min(region.len());
        let end = start.saturating_add(lease.len as usize).min(region.len());
        let mut frames: Vec<u64> = region[start..end]
            .chunks_exact(8)
            .map(|word| u64::from_le_bytes(word.try_into().expect("8 bytes")))
            .collect();
        frames.sort_unstable();
        frames.dedup();
        let gateway = self.gateway();
        let last = (1u64 << order) - 1;
        for gfn in frames
            .iter()
            .flat_map(|&first| [first, first.saturating_add(last)])
        {
            let Some(known) = gateway.is_populated(self.memory_badge, Gfn(gfn)) else {
                continue;
            };
            assert_eq!(
                Some(known),
                self.map.xen.is_populated(self.map.dom, gfn),
                "the gateway's page state of frame {gfn:#x} is not Xen's"
            );
        }
    }

    fn fill(&mut self, caller: Caller, bytes: &[u8]) {
        let region = self.runtime.region(caller.region.0).expect("the region");
        let fit = bytes.len().min(region.len());
        region[..fit].copy_from_slice(&bytes[..fit]);
    }
}

/// Where a fuzzed frame list starts: the edges of the fuzz manifest's ranges, or anywhere.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Base {
    Zero,
    Image,
    Ram,
    BootExtra,
    Lending,
    Managed,
    Raw(u64),
}

impl Base {
    fn gfn(self) -> u64 {
        match self {
            Base::Zero => 0,
            Base::Image => 0x100,
            Base::Ram => 0x300,
            Base::BootExtra => 0x2000,
            Base::Lending => 0x2800,
            Base::Managed => MANAGED_END,
            Base::Raw(gfn) => gfn,
        }
    }
}

/// A frame list: `count` frames from `base` + `offset`, `stride` apart, then `extra` as given.
#[derive(Arbitrary, Debug, Clone)]
struct List {
    base: Base,
    offset: u16,
    count: u16,
    stride: u16,
    extra: Vec<u64>,
}

impl List {
    fn bytes(&self) -> Vec<u8> {
        let first = self.base.gfn().wrapping_add(u64::from(self.offset));
        let count = usize::from(self.count) % (MAX_LIST + 1);
        let frames: Vec<u64> = (0..count as u64)
            .map(|i| first.wrapping_add(i.wrapping_mul(u64::from(self.stride))))
            .chain(self.extra.iter().copied())
            .take(MAX_LIST)
            .collect();
        frames.as_bytes().to_vec()
    }
}

/// A reservation op.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Reservation {
    Increase,
    Decrease,
    Populate,
}

/// One grant entry: a gfn, a reference (one the frontend granted, or any) and flags.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Entry {
    base: Base,
    offset: u16,
    granted: Option<u8>,
    raw_ref: u32,
    flags: u8,
}

/// One call of the fuzzer's.
#[derive(Arbitrary, Debug)]
enum Call {
    /// Any bytes from the memory server or the backend, with any lease.
    Raw {
        backend: bool,
        message: Vec<u8>,
        fill: Vec<u8>,
        lease: Lease,
    },
    /// A reservation op from the memory server (or the backend) over a list in its region.
    Reservation {
        backend: bool,
        op: Reservation,
        flags: u32,
        self_domain: bool,
        domid: u16,
        order: u8,
        list: List,
        lease: Lease,
    },
    /// `current_reservation` or `maximum_reservation`.
    Query { backend: bool, maximum: bool },
    /// `event_send`.
    EventSend { backend: bool, port: u32 },
    /// `shutdown`.
    Shutdown { backend: bool, reason: u32 },
    /// A lend or return notice from the memory server.
    Notice {
        lend: bool,
        borrower: Option<u32>,
        base: Base,
        offset: u16,
        count: u64,
    },
    /// `grant_map` from the backend (or the memory server) of entries in its region.
    GrantMap {
        memory: bool,
        frontend: bool,
        domid: u16,
        entries: Vec<Entry>,
        lease: Lease,
    },
    /// `grant_unmap` of handles it holds (`known`) or any.
    GrantUnmap {
        memory: bool,
        known: Vec<u8>,
        raw: Vec<u32>,
        lease: Lease,
    },
}

impl Call {
    fn make(self, rig: &mut Rig) -> Option<Result<Vec<u8>, IpcError>> {
        let pick = |rig: &Rig, backend: bool| if backend { rig.backend } else { rig.memory };
        match self {
            Call::Raw {
                backend,
                message,
                fill,
                lease,
            } => {
                let caller = pick(rig, backend);
                rig.fill(caller, &fill);
                rig.call(caller, &message, lease)
            }
            Call::Reservation {
                backend,
                op,
                flags,
                self_domain,
                domid,
                order,
                list,
                lease,
            } => {
                let caller = pick(rig, backend);
                let domid = if self_domain { DOMID_SELF } else { domid };
                let message = match op {
                    Reservation::Increase => {
                        hypercall::encode_increase_reservation(flags, domid, order)
                    }
                    Reservation::Decrease => {
                        hypercall::encode_decrease_reservation(flags, domid, order)
                    }
                    Reservation::Populate => {
                        hypercall::encode_populate_physmap(flags, domid, order)
                    }
                };
                let bytes = list.bytes();
                rig.fill(caller, &bytes);
                let lease = match lease {
                    Lease::Whole { writable } => Lease::Prefix {
                        writable,
                        len: bytes.len() as u16,
                    },
                    other => other,
                };
                rig.call(caller, &message, lease)
            }
            Call::Query { backend, maximum } => {
                let message = if maximum {
                    hypercall::encode_maximum_reservation()
                } else {
                    hypercall::encode_current_reservation()
                };
                rig.call(pick(rig, backend), &message, Lease::None)
            }
            Call::EventSend { backend, port } => {
                let message = hypercall::encode_event_send(port);
                rig.call(pick(rig, backend), &message, Lease::None)
            }
            Call::Shutdown { backend, reason } => {
                let message = hypercall::encode_shutdown(reason);
                rig.call(pick(rig, backend), &message, Lease::None)
            }
            Call::Notice {
                lend,
                borrower,
                base,
                offset,
                count,
            } => {
                let borrower = borrower.unwrap_or(rig.backend_badge.0);
                let first = base.gfn().wrapping_add(u64::from(offset));
                let message = if lend {
                    hypercall::encode_lend_notice(borrower, first, count)
                } else {
                    hypercall::encode_return_notice(borrower, first, count)
                };
                rig.call(rig.memory, &message, Lease::None)
            }
            Call::GrantMap {
                memory,
                frontend,
                domid,
                entries,
                lease,
            } => {
                let caller = pick(rig, !memory);
                let domid = if frontend { rig.frontend } else { domid };
                let entries: Vec<GrantMapEntry> = entries
                    .iter()
                    .map(|entry| GrantMapEntry {
                        gfn: entry.base.gfn().wrapping_add(u64::from(entry.offset)),
                        grant_ref: match entry.granted {
                            Some(nth) => rig.grant_refs[usize::from(nth) % rig.grant_refs.len()],
                            None => entry.raw_ref,
                        },
                        flags: u32::from(entry.flags),
                        handle: 0,
                        status: 0,
                    })
                    .collect();
                rig.fill(caller, entries.as_bytes());
                let lease = match lease {
                    Lease::Whole { writable } => Lease::Prefix {
                        writable,
                        len: entries.as_bytes().len() as u16,
                    },
                    other => other,
                };
                let reply = rig.call(caller, &hypercall::encode_grant_map(domid), lease);
                rig.remember_handles(caller, entries.len());
                reply
            }
            Call::GrantUnmap {
                memory,
                known,
                raw,
                lease,
            } => {
                let caller = pick(rig, !memory);
                let held = &rig.handles;
                let entries: Vec<GrantUnmapEntry> = known
                    .iter()
                    .filter_map(|&nth| held.get(usize::from(nth) % held.len().max(1)).copied())
                    .chain(raw)
                    .map(|handle| GrantUnmapEntry { handle, status: 0 })
                    .collect();
                rig.fill(caller, entries.as_bytes());
                let lease = match lease {
                    Lease::Whole { writable } => Lease::Prefix {
                        writable,
                        len: entries.as_bytes().len() as u16,
                    },
                    other => other,
                };
                rig.call(caller, &hypercall::encode_grant_unmap(), lease)
            }
        }
    }
}

impl Rig {
    /// Keep the handles of the entries a grant map left mapped in `caller`'s region.
    fn remember_handles(&mut self, caller: Caller, entries: usize) {
        let region = self.runtime.region(caller.region.0).expect("the region");
        let fit = entries.min(region.len() / size_of::<GrantMapEntry>());
        let mapped = <[GrantMapEntry]>::ref_from_prefix_with_elems(region, fit)
            .map(|(entries, _)| entries.iter().filter(|e| e.status == 0).map(|e| e.handle))
            .into_iter()
            .flatten();
        self.handles.extend(mapped);
        self.handles.sort_unstable();
        self.handles.dedup();
    }
}

/// Whether a reply is a refusal that must have changed nothing and never reached Xen.
fn refused(reply: &Result<Vec<u8>, IpcError>) -> bool {
    match reply {
        Err(_) => true,
        Ok(message) => {
            let (header, _) = MessageHeader::read_from_prefix(message).expect("a reply header");
            let status = header.op_or_status;
            status != 0 && status != HypercallError::XenErrno.status()
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
