//! Hostile clients against the default manifest's system on the deterministic runtime, through
//! the real IPC path (runtime lease checks, generated dispatch, the memory server's glue, the
//! core): forged and foreign frame lists, double frees, quotas, capabilities, huge counts,
//! unmeetable constraints, malformed messages and leases. Every case must get a typed error
//! (a reply status, or the runtime's typed refusal) AND leave everything as it was: the memory
//! server's statistics, client accounts and the state of every managed frame, xen-sim's page
//! counts and counters, and the bytes of every shared region.

use ballast::composition::SIM;
use ballast::system::{self, ExternalCap, MemoryHandler, SystemMap};
use ballast_interfaces::balloon::BalloonError;
use ballast_interfaces::balloon_control::BalloonControlError;
use ballast_interfaces::runs::{self, WireRun};
use ballast_interfaces::support::{CallError, InterfaceError, ProtocolError};
use ballast_interfaces::{balloon, balloon_control, hypercall};
use ballast_ipc::deterministic::DeterministicRuntime;
use ballast_ipc::{
    CheckedTables, EndpointId, IpcError, LeaseDescriptor, MessageHeader, HEADER_BYTES,
};
use ballast_memory_server_core::{ClientAccount, ClientId, FrameState, Stats};
use ballast_system::{Composition, Policy};
use ballast_xen::Gfn;
use ballast_xen_sim::Counters;
use zerocopy::FromBytes;

/// Frames the default manifest's memory server manages: RAM, boot extra and lending space.
const MANAGED_END: u64 = 0x16_0000;
const STEP_LIMIT: u64 = 200_000;

fn composition() -> &'static Composition {
    &SIM
}

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
        let composition = composition();
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
        // The first call takes the baseline against Xen; from then on the system is quiet.
        let control = system.map.control.clone();
        system
            .call(&control, &balloon_control::encode_stats(), None)
            .unwrap();
        system
    }

    fn client(&self, name: &str) -> ExternalCap {
        let found = self.map.clients.iter().find(|c| c.name == name);
        found.cloned().unwrap()
    }

    fn memory(&self) -> &MemoryHandler {
        self.runtime.handler(self.map.memory).unwrap()
    }

    /// Submit a call, run until the system is idle, and take the reply.
    fn call(
        &mut self,
        from: &ExternalCap,
        message: &[u8],
        lease: Option<LeaseDescriptor>,
    ) -> Result<Vec<u8>, IpcError> {
        let call = self
            .runtime
            .submit_call(from.component, from.endpoint, message, lease)?;
        let report = self.runtime.run_until_idle(STEP_LIMIT).unwrap();
        assert!(report.idle, "the system did not settle");
        self.runtime.take_reply(call).unwrap()
    }

    /// Borrow `count` frames for `client` (granted at once: from the lending space).
    fn borrow(&mut self, client: &ExternalCap, count: u64) -> Vec<WireRun> {
        let reply = self
            .call(
                client,
                &balloon::encode_alloc_unpopulated(count, u64::MAX),
                Some(whole(client, true)),
            )
            .unwrap();
        let body = balloon::decode_alloc_unpopulated(&reply).unwrap();
        let region = self.runtime.region(client.region.unwrap().0).unwrap();
        runs::read(region, body.runs as usize).unwrap().to_vec()
    }

    /// Write `runs` into `client`'s region.
    fn put_runs(&mut self, client: &ExternalCap, given: &[WireRun]) {
        let region = self.runtime.region(client.region.unwrap().0).unwrap();
        runs::write(region, given.iter().copied()).unwrap();
    }

    fn free(&mut self, client: &ExternalCap, given: &[WireRun]) -> Result<Vec<u8>, IpcError> {
        self.put_runs(client, given);
        let message = balloon::encode_free_unpopulated(given.len() as u32);
        self.call(client, &message, Some(whole(client, false)))
    }

    fn snapshot(&mut self) -> Snapshot {
        let core = self.memory().core();
        let stats = core.stats();
        let accounts = (0..4).map(|c| core.client(ClientId(c)).copied()).collect();
        let mut frames: Vec<(u64, Option<FrameState>)> = Vec::new();
        for gfn in 0..MANAGED_END {
            let state = core.frame_state(Gfn(gfn));
            if frames.last().is_none_or(|&(_, last)| last != state) {
                frames.push((gfn, state));
            }
        }
        let (xen, dom) = (&self.map.xen, self.map.dom);
        let xen_view = (
            xen.tot_pages(dom),
            xen.populated_count(dom, 0..MANAGED_END),
            xen.counters(dom),
            xen.leaked_pages(dom),
            xen.host_free_pages(),
        );
        let regions = (1..=8)
            .filter_map(|id| {
                self.runtime
                    .region(ballast_ipc::LeaseId(id))
                    .map(|r| r.to_vec())
            })
            .collect();
        Snapshot {
            stats,
            accounts,
            frames,
            xen: xen_view,
            regions,
        }
    }
}

type XenView = (Option<u64>, Option<u64>, Option<Counters>, Option<u64>, u64);

#[derive(Debug, PartialEq)]
struct Snapshot {
    stats: Stats,
    accounts: Vec<Option<ClientAccount>>,
    /// Run-length encoded: the first gfn of each stretch of equal states.
    frames: Vec<(u64, Option<FrameState>)>,
    xen: XenView,
    regions: Vec<Vec<u8>>,
}

fn whole(client: &ExternalCap, writable: bool) -> LeaseDescriptor {
    let (region, size) = client.region.unwrap();
    LeaseDescriptor {
        region: region.0,
        writable: u16::from(writable),
        offset: 0,
        len: size,
        reserved: 0,
    }
}

fn run(first_gfn: u64, count: u64) -> WireRun {
    WireRun { first_gfn, count }
}

/// What a hostile call must get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// A reply with this status.
    Status(u16),
    /// The runtime refuses the call before any server sees it.
    Refused(IpcError),
}

fn balloon_error(error: BalloonError) -> Expect {
    Expect::Status(error.status())
}

fn control_error(error: BalloonControlError) -> Expect {
    Expect::Status(error.status())
}

fn protocol(error: ProtocolError) -> Expect {
    Expect::Status(error.status())
}

/// One hostile call: it must get `expect`, and nothing may change.
fn hostile(
    system: &mut System,
    name: &str,
    from: &ExternalCap,
    message: &[u8],
    lease: Option<LeaseDescriptor>,
    expect: Expect,
) {
    let before = system.snapshot();
    let got = match system.call(from, message, lease) {
        Ok(reply) => {
            let (header, _) = MessageHeader::read_from_prefix(&reply).expect("a reply header");
            Expect::Status(header.op_or_status)
        }
        Err(error) => Expect::Refused(error),
    };
    assert_eq!(got, expect, "{name}: wrong answer");
    let after = system.snapshot();
    assert!(
        before == after,
        "{name}: the state changed\nbefore: {before:?}\nafter: {after:?}"
    );
    println!("{name:<60} {got:?}");
}

/// Free runs put in `from`'s region, expecting `error`.
fn hostile_free(
    system: &mut System,
    name: &str,
    from: &ExternalCap,
    given: &[WireRun],
    error: BalloonError,
) {
    system.put_runs(from, given);
    let message = balloon::encode_free_unpopulated(given.len() as u32);
    hostile(
        system,
        name,
        from,
        &message,
        Some(whole(from, false)),
        balloon_error(error),
    );
}

#[test]
fn forged_foreign_and_repeated_frame_lists_are_refused_and_change_nothing() {
    let mut system = System::new(1);
    let (blkback, netback) = (system.client("blkback"), system.client("netback"));
    let held = system.borrow(&blkback, 100);
    let other = system.borrow(&netback, 10);
    let first = held[0];

    hostile_free(
        &mut system,
        "free: populated RAM frames never lent",
        &blkback,
        &[run(0x1000, 16)],
        BalloonError::NotLent,
    );
    hostile_free(
        &mut system,
        "free: lending-space frames never lent",
        &blkback,
        &[run(0x13_0000, 8)],
        BalloonError::NotLent,
    );
    hostile_free(
        &mut system,
        "free: reserved frames (the image)",
        &blkback,
        &[run(0x100, 1)],
        BalloonError::NotLent,
    );
    hostile_free(
        &mut system,
        "free: frames beyond the managed space",
        &blkback,
        &[run(1 << 40, 1)],
        BalloonError::NotLent,
    );
    hostile_free(
        &mut system,
        "free: another client's frames",
        &netback,
        &[first],
        BalloonError::NotOwner,
    );
    hostile_free(
        &mut system,
        "free: own frames plus another client's",
        &blkback,
        &[first, other[0]],
        BalloonError::NotOwner,
    );
    hostile_free(
        &mut system,
        "free: own run extended one frame before its start",
        &blkback,
        &[run(first.first_gfn - 1, first.count + 1)],
        BalloonError::NotLent,
    );
    hostile_free(
        &mut system,
        "free: the same run twice in one call",
        &blkback,
        &[first, first],
        BalloonError::BadRuns,
    );
    hostile_free(
        &mut system,
        "free: a run of zero frames",
        &blkback,
        &[run(first.first_gfn, 0)],
        BalloonError::BadRuns,
    );
    hostile_free(
        &mut system,
        "free: a run wrapping past u64::MAX",
        &blkback,
        &[run(u64::MAX - 1, 4)],
        BalloonError::BadRuns,
    );

    // Double free: the first succeeds, the second is refused and changes nothing.
    let reply = system.free(&blkback, &held).unwrap();
    assert_eq!(balloon::decode_free_unpopulated(&reply), Ok(()));
    hostile_free(
        &mut system,
        "free: frames already given back (double free)",
        &blkback,
        &held,
        BalloonError::NotLent,
    );
    assert_eq!(system.memory().core().stats().lent_pages, 10);
}

#[test]
fn over_quota_huge_and_unmeetable_requests_are_refused_and_change_nothing() {
    let mut system = System::new(2);
    let (blkback, netback) = (system.client("blkback"), system.client("netback"));
    let quota = 0x8000;
    let alloc = |count, max_gfn| balloon::encode_alloc_unpopulated(count, max_gfn);
    hostile(
        &mut system,
        "alloc: one frame over the quota",
        &netback,
        &alloc(quota + 1, u64::MAX),
        Some(whole(&netback, true)),
        balloon_error(BalloonError::OverQuota),
    );
    system.borrow(&netback, quota - 5);
    hostile(
        &mut system,
        "alloc: past the quota with frames already held",
        &netback,
        &alloc(6, u64::MAX),
        Some(whole(&netback, true)),
        balloon_error(BalloonError::OverQuota),
    );
    hostile(
        &mut system,
        "alloc: u64::MAX frames",
        &blkback,
        &alloc(u64::MAX, u64::MAX),
        Some(whole(&blkback, true)),
        balloon_error(BalloonError::OverQuota),
    );
    hostile(
        &mut system,
        "alloc: zero frames",
        &blkback,
        &alloc(0, u64::MAX),
        Some(whole(&blkback, true)),
        balloon_error(BalloonError::BadRuns),
    );
    hostile(
        &mut system,
        "alloc: max_gfn 0 (below every lendable frame)",
        &blkback,
        &alloc(1, 0),
        Some(whole(&blkback, true)),
        balloon_error(BalloonError::CannotMeetConstraint),
    );
    hostile(
        &mut system,
        "alloc: max_gfn inside reserved low memory",
        &blkback,
        &alloc(1, 0xff),
        Some(whole(&blkback, true)),
        balloon_error(BalloonError::CannotMeetConstraint),
    );
    hostile(
        &mut system,
        "alloc: more frames below max_gfn than exist",
        &blkback,
        &alloc(0x1000, 0x1000),
        Some(whole(&blkback, true)),
        balloon_error(BalloonError::CannotMeetConstraint),
    );
    system.put_runs(&blkback, &[run(0x13_0000, 1); 17]);
    hostile(
        &mut system,
        "free: 17 runs (more than a grant can have)",
        &blkback,
        &balloon::encode_free_unpopulated(17),
        Some(whole(&blkback, false)),
        balloon_error(BalloonError::BadRuns),
    );
    hostile(
        &mut system,
        "free: u32::MAX runs",
        &blkback,
        &balloon::encode_free_unpopulated(u32::MAX),
        Some(whole(&blkback, false)),
        balloon_error(BalloonError::BadRuns),
    );
    let short = LeaseDescriptor {
        len: 16,
        ..whole(&blkback, false)
    };
    hostile(
        &mut system,
        "free: 2 runs in a 16-byte lease",
        &blkback,
        &balloon::encode_free_unpopulated(2),
        Some(short),
        balloon_error(BalloonError::BadRuns),
    );
}

#[test]
fn calls_beyond_a_capability_are_refused_and_change_nothing() {
    let mut system = System::new(3);
    let (blkback, control) = (system.client("blkback"), system.map.control.clone());
    let denied = protocol(ProtocolError::PermissionDenied);
    for (name, message) in [
        (
            "driver calls BalloonControl::set_target",
            balloon_control::encode_set_target(1),
        ),
        (
            "driver calls BalloonControl::stats",
            balloon_control::encode_stats(),
        ),
        (
            "driver calls BalloonControl::configure",
            balloon_control::encode_configure(1000, 32_000, 0, balloon_control::Policy::Seed),
        ),
    ] {
        hostile(&mut system, name, &blkback, &message, None, denied);
    }
    hostile(
        &mut system,
        "toolstack calls Balloon::alloc_unpopulated",
        &control,
        &balloon::encode_alloc_unpopulated(1, u64::MAX),
        None,
        denied,
    );
    hostile(
        &mut system,
        "toolstack calls Balloon::free_unpopulated",
        &control,
        &balloon::encode_free_unpopulated(1),
        None,
        denied,
    );
    let reservation = hypercall::encode_current_reservation();
    hostile(
        &mut system,
        "driver sends a Hypercall message to the memory server",
        &blkback,
        &reservation,
        None,
        protocol(ProtocolError::WrongInterface),
    );
    let gateway_cap = ExternalCap {
        endpoint: EndpointId(u16::MAX),
        ..blkback.clone()
    };
    hostile(
        &mut system,
        "driver calls a forged endpoint id (the gateway)",
        &gateway_cap,
        &reservation,
        None,
        Expect::Refused(IpcError::NoSuchEndpoint),
    );
    hostile(
        &mut system,
        "toolstack sets a zero target",
        &control,
        &balloon_control::encode_set_target(0),
        None,
        control_error(BalloonControlError::TargetTooLow),
    );
    hostile(
        &mut system,
        "toolstack sets a target above everything the domain could hold",
        &control,
        &balloon_control::encode_set_target(u64::MAX),
        None,
        control_error(BalloonControlError::TargetTooHigh),
    );
    // A policy no variant names: refused as a bad argument before the server sees it.
    let mut unknown_policy =
        balloon_control::encode_configure(1000, 32_000, 0, balloon_control::Policy::Seed).to_vec();
    unknown_policy[HEADER_BYTES + 12] = 9;
    hostile(
        &mut system,
        "toolstack configures an unknown policy",
        &control,
        &unknown_policy,
        None,
        protocol(ProtocolError::BadArgument),
    );
    hostile(
        &mut system,
        "toolstack configures a delay cap below the first delay",
        &control,
        &balloon_control::encode_configure(1000, 500, 0, balloon_control::Policy::Ballast),
        None,
        control_error(BalloonControlError::BadTunables),
    );
    // The largest target, as `stats` reports it: RAM and boot extra (this manifest grows no
    // further). One page more is refused; the limit itself is taken.
    let stats = system
        .call(&control, &balloon_control::encode_stats(), None)
        .unwrap();
    let max_target = balloon_control::decode_stats(&stats).unwrap().max_target;
    assert_eq!(max_target, 0x12_0000);
    hostile(
        &mut system,
        "toolstack sets a target one page above the largest",
        &control,
        &balloon_control::encode_set_target(max_target + 1),
        None,
        control_error(BalloonControlError::TargetTooHigh),
    );
    let reply = system
        .call(
            &control,
            &balloon_control::encode_set_target(max_target),
            None,
        )
        .unwrap();
    assert_eq!(balloon_control::decode_set_target(&reply), Ok(()));
}

#[test]
fn malformed_messages_are_refused_and_change_nothing() {
    let mut system = System::new(4);
    let blkback = system.client("blkback");
    let lease = Some(whole(&blkback, true));
    let good = balloon::encode_alloc_unpopulated(1, u64::MAX).to_vec();
    let mut wrong_version = good.clone();
    wrong_version[4..6].copy_from_slice(&(balloon::VERSION + 1).to_ne_bytes());
    let mut unknown_op = good.clone();
    unknown_op[2..4].copy_from_slice(&99u16.to_ne_bytes());
    let mut body_len_lies = good.clone();
    body_len_lies[6..8].copy_from_slice(&8u16.to_ne_bytes());
    let mut short_body = good[..HEADER_BYTES + 8].to_vec();
    short_body[6..8].copy_from_slice(&8u16.to_ne_bytes());
    let mut oversize = good.clone();
    oversize.resize(129, 0);
    let mut long_body = good.clone();
    long_body.resize(128, 0xff);
    long_body[6..8].copy_from_slice(&120u16.to_ne_bytes());
    let cases: [(&str, Vec<u8>, Expect); 9] = [
        (
            "empty message",
            Vec::new(),
            protocol(ProtocolError::ShortMessage),
        ),
        (
            "4-byte message",
            good[..4].to_vec(),
            protocol(ProtocolError::ShortMessage),
        ),
        (
            "wrong interface version",
            wrong_version,
            protocol(ProtocolError::WrongVersion),
        ),
        (
            "unknown op 99",
            unknown_op,
            protocol(ProtocolError::UnknownOp),
        ),
        (
            "header body_len disagrees with the body",
            body_len_lies,
            protocol(ProtocolError::BodyLength),
        ),
        (
            "alloc with an 8-byte body",
            short_body,
            protocol(ProtocolError::BodyLength),
        ),
        (
            "alloc with a 120-byte body",
            long_body,
            protocol(ProtocolError::BodyLength),
        ),
        (
            "129-byte message",
            oversize,
            Expect::Refused(IpcError::MessageTooLong),
        ),
        (
            "random bytes",
            (0u8..64).map(|b| b.wrapping_mul(37)).collect(),
            protocol(ProtocolError::WrongInterface),
        ),
    ];
    for (name, message, expect) in cases {
        hostile(&mut system, name, &blkback, &message, lease, expect);
    }
}

#[test]
fn malformed_and_foreign_leases_are_refused_and_change_nothing() {
    let mut system = System::new(5);
    let (blkback, netback) = (system.client("blkback"), system.client("netback"));
    let alloc = balloon::encode_alloc_unpopulated(1, u64::MAX);
    let mine = whole(&blkback, true);
    let frame_list = system
        .runtime
        .tables()
        .regions()
        .iter()
        .find(|r| r.owner == system.map.memory)
        .map(|r| r.id.0)
        .unwrap();
    let cases = [
        (
            "alloc without a lease",
            None,
            protocol(ProtocolError::MissingLease),
        ),
        (
            "alloc with a read-only lease",
            Some(whole(&blkback, false)),
            protocol(ProtocolError::LeaseNotWritable),
        ),
        (
            "alloc with an 8-byte lease (no room for one run)",
            Some(LeaseDescriptor { len: 8, ..mine }),
            balloon_error(BalloonError::LeaseTooSmall),
        ),
        (
            "lease window past the region's end",
            Some(LeaseDescriptor {
                offset: 4090,
                len: 16,
                ..mine
            }),
            Expect::Refused(IpcError::BadLease),
        ),
        (
            "lease window whose end overflows u32",
            Some(LeaseDescriptor {
                offset: u32::MAX,
                len: 2,
                ..mine
            }),
            Expect::Refused(IpcError::BadLease),
        ),
        (
            "lease of another client's region",
            Some(whole(&netback, true)),
            Expect::Refused(IpcError::BadLease),
        ),
        (
            "lease of the memory server's frame-list region",
            Some(LeaseDescriptor {
                region: frame_list,
                ..mine
            }),
            Expect::Refused(IpcError::BadLease),
        ),
        (
            "lease of a region that does not exist",
            Some(LeaseDescriptor {
                region: 999,
                ..mine
            }),
            Expect::Refused(IpcError::BadLease),
        ),
        (
            "lease with the reserved field set",
            Some(LeaseDescriptor {
                reserved: 1,
                ..mine
            }),
            Expect::Refused(IpcError::BadLease),
        ),
        (
            "lease with writable = 2",
            Some(LeaseDescriptor {
                writable: 2,
                ..mine
            }),
            Expect::Refused(IpcError::BadLease),
        ),
    ];
    for (name, lease, expect) in cases {
        hostile(&mut system, name, &blkback, &alloc, lease, expect);
    }
    hostile(
        &mut system,
        "free without a lease",
        &blkback,
        &balloon::encode_free_unpopulated(1),
        None,
        protocol(ProtocolError::MissingLease),
    );
    let control = system.map.control.clone();
    hostile(
        &mut system,
        "stats with a lease attached",
        &control,
        &balloon_control::encode_stats(),
        Some(mine),
        Expect::Refused(IpcError::BadLease),
    );
}

#[test]
fn a_client_cannot_lend_a_region_twice_at_once() {
    // A deferred allocation keeps the lease lent; a second call lending it is refused by the
    // runtime, so the server never sees two calls writing the same bytes.
    let mut system = System::with_policy(6, Some(Policy::Seed));
    let blkback = system.client("blkback");
    let low = balloon::encode_alloc_unpopulated(4096, 0xf_ffff);
    let first = system
        .runtime
        .submit_call(
            blkback.component,
            blkback.endpoint,
            &low,
            Some(whole(&blkback, true)),
        )
        .unwrap();
    while system.memory().core().waiting_requests() == 0 {
        system.runtime.step().unwrap().unwrap();
    }
    let second = system.runtime.submit_call(
        blkback.component,
        blkback.endpoint,
        &balloon::encode_alloc_unpopulated(1, u64::MAX),
        Some(whole(&blkback, true)),
    );
    assert_eq!(second, Err(IpcError::BadLease));
    assert!(system.runtime.run_until_idle(STEP_LIMIT).unwrap().idle);
    let reply = system.runtime.take_reply(first).unwrap().unwrap();
    let body = balloon::decode_alloc_unpopulated(&reply).unwrap();
    let region = system.runtime.region(blkback.region.unwrap().0).unwrap();
    let granted = runs::read(region, body.runs as usize).unwrap();
    assert_eq!(granted.iter().map(|r| r.count).sum::<u64>(), 4096);
    assert!(granted.iter().all(|r| r.first_gfn + r.count <= 0x10_0000));
}

/// The runs at `offset` of `client`'s region, read whatever the offset's alignment.
fn runs_at(system: &mut System, client: &ExternalCap, offset: usize, count: usize) -> Vec<WireRun> {
    let region = system.runtime.region(client.region.unwrap().0).unwrap();
    region[offset..offset + count * runs::RUN_BYTES]
        .chunks_exact(runs::RUN_BYTES)
        .map(|slot| WireRun::read_from_bytes(slot).unwrap())
        .collect()
}

#[test]
fn a_lease_at_an_unaligned_offset_gets_its_runs_and_gives_them_back() {
    // A client may lend any window of its region. An immediate grant into a window not 8-byte
    // aligned used to fail writing its runs, answer `LeaseTooSmall` and leave the frames lent
    // against the client's quota.
    let mut system = System::new(7);
    let blkback = system.client("blkback");
    let accounts_before = system.snapshot().accounts;
    let offset = 4;
    let window = |writable| LeaseDescriptor {
        offset: offset as u32,
        len: 4 * runs::RUN_BYTES as u32,
        ..whole(&blkback, writable)
    };
    let reply = system
        .call(
            &blkback,
            &balloon::encode_alloc_unpopulated(100, u64::MAX),
            Some(window(true)),
        )
        .unwrap();
    let lent = system.memory().core().stats().lent_pages;
    let body = balloon::decode_alloc_unpopulated(&reply)
        .unwrap_or_else(|error| panic!("refused ({error:?}) with {lent} frames left lent"));
    let granted = runs_at(&mut system, &blkback, offset, body.runs as usize);
    assert_eq!(granted.iter().map(|r| r.count).sum::<u64>(), 100);
    assert_eq!(lent, 100);

    // The same unaligned window gives them back.
    let reply = system
        .call(
            &blkback,
            &balloon::encode_free_unpopulated(body.runs),
            Some(window(false)),
        )
        .unwrap();
    assert_eq!(balloon::decode_free_unpopulated(&reply), Ok(()));
    assert_eq!(system.memory().core().stats().lent_pages, 0);
    assert_eq!(system.snapshot().accounts, accounts_before);
}

#[test]
fn a_client_fragmenting_its_loan_meets_its_own_run_limit_and_the_others_still_borrow() {
    // One client borrows one large run and gives back every other frame: each give-back splits
    // a lent run. It used to fill the shared lent-run table (2048 entries in 128 calls), after
    // which every other client was refused with `QueueFull`.
    let mut system = System::new(4);
    let (blkback, netback) = (system.client("blkback"), system.client("netback"));
    let limit = usize::from(composition().server.max_lent_runs_per_client);
    let frames = 4096;
    let loan = system.borrow(&blkback, frames);
    assert_eq!(loan.len(), 1, "one run from the empty lending space");
    let first = loan[0].first_gfn;
    let odd: Vec<WireRun> = (1..frames).step_by(2).map(|i| run(first + i, 1)).collect();
    let give_back = |system: &mut System, runs: &[WireRun]| {
        let reply = system.free(&blkback, runs).unwrap();
        balloon::decode_free_unpopulated(&reply)
    };
    let mut given = 0;
    let mut refused = None;
    'fragment: for batch in odd.chunks(16) {
        if give_back(&mut system, batch).is_ok() {
            given += batch.len();
            continue;
        }
        // All or nothing: the batch would pass a limit; find it one frame at a time.
        for single in batch {
            if let Err(error) = give_back(&mut system, std::slice::from_ref(single)) {
                refused = Some(error);
                break 'fragment;
            }
            given += 1;
        }
    }

    let reply = system
        .call(
            &netback,
            &balloon::encode_alloc_unpopulated(100, u64::MAX),
            Some(whole(&netback, true)),
        )
        .unwrap();
    assert!(
        balloon::decode_alloc_unpopulated(&reply).is_ok(),
        "another client is refused ({:?}) after one client gave back {given} single frames",
        balloon::decode_alloc_unpopulated(&reply)
    );
    assert_eq!(
        refused,
        Some(CallError::Interface(BalloonError::OverQuota)),
        "the fragmenting client is stopped by its own limit"
    );
    assert_eq!(given + 1, limit, "every give-back split one run in two");
    hostile_free(
        &mut system,
        "free: a frame splitting a run, past the client's run limit",
        &blkback,
        &[odd[given]],
        BalloonError::OverQuota,
    );

    // Whole runs still go back, and free room under the limit for new loans.
    assert_eq!(give_back(&mut system, &[run(first, 1)]), Ok(()));
    let more = system.borrow(&blkback, 1);
    let split = 2 * given as u64;
    let mut left: Vec<WireRun> = (2..split).step_by(2).map(|i| run(first + i, 1)).collect();
    left.push(run(first + split, frames - split));
    left.extend(more);
    for batch in left.chunks(16) {
        assert_eq!(give_back(&mut system, batch), Ok(()));
    }
    assert_eq!(system.memory().core().stats().lent_pages, 100);
}
