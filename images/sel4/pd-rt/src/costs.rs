//! What the protection costs, measured between protection domains for `ballast hil --kernel sel4`
//! (feature `hil-test`): the round trip of a raw seL4 `Call` answered by `ReplyRecv` (the floor)
//! against ballast's generated client, the runtime's dispatch, the generated dispatch of
//! `BalloonControl` and a handler that only answers ([`AnswerStats`]), for messages of the same
//! size, through the same endpoint capability, between the same two PDs (the control agent
//! calling the memory server's PD); and, beside them, the same call answered by the memory
//! server's own handler (which counts its ballooned frames in its bitmaps). The three paths
//! take turns in blocks of [`BLOCK_CALLS`] calls: the caller times the middle
//! [`TIMED_PER_BLOCK`] of each block with the generic timer's count; the first call of a block
//! (which may still meet the responder changing paths) and its last (the responder answers it
//! with `Reply` before it changes paths) are not timed. [`Samples`] keeps the times and gives
//! their median, minimum and maximum.

use ballast_interfaces::balloon_control::{
    self, BalloonControlError, BalloonControlServer, BpState, ConfigureResponder, Policy,
    ReconcileResponder, SetTargetResponder, StatsReply, StatsResponder,
};
use ballast_interfaces::support::Answer;
use ballast_ipc::sel4_rt::{Sel4Abi, Served, MESSAGE_REGISTERS};
use ballast_ipc::{Badge, EndpointId, Handler, IncomingCall, IpcError, NotificationBits, Sys};
use ballast_sel4_plan::cspace::ENDPOINT;
use ballast_sel4_sys::{ipc, CPtr, Cap, Endpoint, MessageInfo};
use ballast_system::ManifestPermissions;

use crate::clock::Clock;
use crate::entry::Pd;
use crate::system::{PdServer, ABI, COMPOSITION};

/// Blocks of calls, a third on each path, in the order of [`PATHS`].
pub const BLOCKS: usize = 30;
/// Calls of one block the caller times.
pub const TIMED_PER_BLOCK: usize = 100;
/// Calls of one block: one before the timed ones and one after.
pub const BLOCK_CALLS: usize = TIMED_PER_BLOCK + 2;
/// Round trips timed on each path.
pub const SAMPLES: usize = BLOCKS / PATHS.len() * TIMED_PER_BLOCK;
/// The label of a raw call (the runtime's calls carry label 0).
pub const RAW_LABEL: u64 = 0xc057;

/// Which path a block takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// The generated client, the runtime, the generated dispatch and [`AnswerStats`].
    Generated,
    /// A raw `Call` answered by a raw `ReplyRecv`.
    Floor,
    /// As [`Path::Generated`], answered by the memory server's own handler.
    MemoryServer,
}

/// The paths, in the order the blocks take them.
pub const PATHS: [Path; 3] = [Path::Generated, Path::Floor, Path::MemoryServer];

/// The path of block `block`.
pub const fn path(block: usize) -> Path {
    PATHS[block % PATHS.len()]
}

/// Round-trip times, in ticks of the generic timer.
#[derive(Debug)]
pub struct Samples<const N: usize> {
    ticks: [u64; N],
    len: usize,
}

/// The median (the lower of the middle two for an even count), minimum and maximum of some
/// samples, in ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// How many samples.
    pub samples: usize,
    /// The median.
    pub median: u64,
    /// The smallest.
    pub min: u64,
    /// The largest.
    pub max: u64,
}

impl<const N: usize> Samples<N> {
    /// None yet.
    pub const fn new() -> Self {
        Samples {
            ticks: [0; N],
            len: 0,
        }
    }

    /// Keep one time (dropped once `N` are kept).
    pub fn push(&mut self, ticks: u64) {
        if let Some(slot) = self.ticks.get_mut(self.len) {
            *slot = ticks;
            self.len += 1;
        }
    }

    /// Their median, minimum and maximum; `None` without samples.
    pub fn summary(&mut self) -> Option<Summary> {
        let kept = &mut self.ticks[..self.len];
        kept.sort_unstable();
        Some(Summary {
            samples: kept.len(),
            median: *kept.get(kept.len().checked_sub(1)? / 2)?,
            min: *kept.first()?,
            max: *kept.last()?,
        })
    }
}

impl<const N: usize> Default for Samples<N> {
    fn default() -> Self {
        Samples::new()
    }
}

/// Log `summary` of what `name` measured as a `cost` line (ticks and nanoseconds), for the host.
pub fn log(name: &str, summary: Option<Summary>, clock: &Clock) {
    let Some(summary) = summary else {
        defmt::error!("cost name={=str} samples=0", name);
        return;
    };
    defmt::info!(
        "cost name={=str} samples={=usize} median_ticks={=u64} min_ticks={=u64} max_ticks={=u64} median_ns={=u64} min_ns={=u64} max_ns={=u64} frequency_hz={=u64}",
        name,
        summary.samples,
        summary.median,
        summary.min,
        summary.max,
        clock.ns(summary.median),
        clock.ns(summary.min),
        clock.ns(summary.max),
        clock.frequency()
    );
}

/// The caller's side of the floor: an endpoint capability of the PD, invoked directly.
#[derive(Clone, Copy, Debug)]
pub struct RawEndpoint(Cap<Endpoint>);

impl RawEndpoint {
    /// The capability `pd` holds as `endpoint`.
    pub fn of(pd: &Pd, endpoint: EndpointId) -> Option<RawEndpoint> {
        let slot = pd.plan.endpoint_slot(pd.component, endpoint)?;
        Some(RawEndpoint(Cap::from_cptr(CPtr(slot.cptr()))))
    }

    /// `seL4_Call` with `request` message registers, the first asking for an answer of `reply`
    /// registers; the answer's length, or `None` if the responder refused it.
    pub fn call(self, request: usize, reply: usize) -> Option<usize> {
        let info = MessageInfo::new(RAW_LABEL, 0, 0, request as u64);
        let received = self.0.call_with_registers(info, [reply as u64, 0, 0, 0]);
        (received.info.label() == 0).then_some(received.info.length() as usize)
    }
}

/// The handler of the generated path's blocks: the generated dispatch of `BalloonControl`, with
/// the memory server's permissions from the manifest, and a server that answers `stats` at once
/// with a reply of the memory server's size (its figures zero), doing none of the memory server's
/// work; the caller sends it no other op, and it refuses any with `Busy`.
#[derive(Debug)]
pub struct AnswerStats {
    permissions: ManifestPermissions,
    server: ZeroStats,
}

impl AnswerStats {
    /// The handler for the memory server's PD `pd`.
    pub fn new(pd: &Pd) -> AnswerStats {
        AnswerStats {
            permissions: ManifestPermissions::new(&COMPOSITION, pd.component),
            server: ZeroStats,
        }
    }
}

impl Handler for AnswerStats {
    fn protected(&mut self, sys: &mut dyn Sys, call: IncomingCall<'_>) {
        // A call dispatch rejects has been answered with its protocol error.
        let _ = balloon_control::dispatch(&mut self.server, sys, call, &self.permissions);
    }

    fn notified(&mut self, _sys: &mut dyn Sys, _bits: NotificationBits) {}

    fn client_died(&mut self, _sys: &mut dyn Sys, _badge: Badge) {}
}

/// Answers `stats` with zero figures, refuses the rest with `Busy`.
#[derive(Debug)]
struct ZeroStats;

impl BalloonControlServer for ZeroStats {
    fn set_target(
        &mut self,
        _sys: &mut dyn Sys,
        _badge: Badge,
        _pages: u64,
        reply: SetTargetResponder,
    ) -> Answer {
        reply.err(BalloonControlError::Busy).into()
    }

    fn stats(&mut self, _sys: &mut dyn Sys, _badge: Badge, reply: StatsResponder) -> Answer {
        reply
            .ok(StatsReply {
                current: 0,
                target: 0,
                total: 0,
                ballooned_low: 0,
                ballooned_high: 0,
                lent: 0,
                hypercalls: 0,
                max_target: 0,
                schedule_delay_ms: 0,
                retry_count: 0,
                state: BpState::Done,
                policy: Policy::Ballast,
                requests_taken: 0,
                requests_answered: 0,
                requests_voided: 0,
                scrubbed: 0,
                scrub_skipped: 0,
            })
            .into()
    }

    fn configure(
        &mut self,
        _sys: &mut dyn Sys,
        _badge: Badge,
        _schedule_delay_ms: u32,
        _max_schedule_delay_ms: u32,
        _max_retry_count: u32,
        _policy: Policy,
        reply: ConfigureResponder,
    ) -> Answer {
        reply.err(BalloonControlError::Busy).into()
    }

    fn reconcile(
        &mut self,
        _sys: &mut dyn Sys,
        _badge: Badge,
        reply: ReconcileResponder,
    ) -> Answer {
        reply.err(BalloonControlError::Busy).into()
    }
}

/// The responder's side, in the memory server's PD before it serves: [`BLOCKS`] blocks of
/// [`BLOCK_CALLS`] calls from `caller` (its badge at this server), taking turns as [`path`] says,
/// the generated ones served by `runtime` with `standin` or with `server`, the memory server, as
/// the PD serves every call. Logs a check that nothing else arrived meanwhile.
pub fn respond<const REPLIES: usize>(
    runtime: &mut PdServer<REPLIES>,
    (standin, server): (&mut AnswerStats, &mut dyn Handler),
    caller: Badge,
) {
    let mut stray = 0;
    for block in 0..BLOCKS {
        stray += match path(block) {
            Path::Generated => respond_generated(runtime, standin, caller),
            Path::Floor => respond_raw(&ABI, caller),
            Path::MemoryServer => respond_generated(runtime, server, caller),
        };
    }
    defmt::info!(
        "check context=costs name=responder_saw_only_the_bench ok={=bool} stray={=u32}",
        stray == 0,
        stray
    );
}

/// One block of generated calls, then the last answer sent: a timer due at once makes the
/// runtime answer with `Reply` and return without waiting. The events that were not the
/// caller's calls.
fn respond_generated<const REPLIES: usize>(
    runtime: &mut PdServer<REPLIES>,
    handler: &mut dyn Handler,
    caller: Badge,
) -> u32 {
    let (mut served, mut stray) = (0, 0);
    while served < BLOCK_CALLS {
        match runtime.run_once(handler) {
            Served::Call(badge) if badge == caller => served += 1,
            _ => stray += 1,
        }
    }
    runtime.sys().set_timer(0);
    if runtime.run_once(handler) != Served::Timer {
        stray += 1;
    }
    stray
}

/// One block of raw calls, each answered with as many message registers as its first asks for
/// (a call of another label, or from another badge, is refused); the last answered with
/// `Reply`. The messages that were not the caller's raw calls.
fn respond_raw(abi: &Sel4Abi, caller: Badge) -> u32 {
    let endpoint: Cap<Endpoint> = Cap::from_cptr(CPtr(ENDPOINT.cptr()));
    let expected = abi.endpoint_badge(caller);
    let (mut served, mut stray) = (0, 0);
    let mut received = endpoint.recv_with_registers();
    loop {
        if received.badge & abi.endpoint_badge_bit == 0 {
            // A signal: nobody to answer.
            stray += 1;
            received = endpoint.recv_with_registers();
            continue;
        }
        let ours = received.badge == expected && received.info.label() == RAW_LABEL;
        let answer = if ours {
            served += 1;
            let length = usize::try_from(received.registers[0]).unwrap_or(MESSAGE_REGISTERS);
            MessageInfo::new(0, 0, 0, length.min(MESSAGE_REGISTERS) as u64)
        } else {
            stray += 1;
            MessageInfo::new(IpcError::WouldBlock as u64, 0, 0, 0)
        };
        if served == BLOCK_CALLS {
            ipc::reply_with_registers(answer, [0; 4]);
            return stray;
        }
        received = endpoint.reply_recv_with_registers(answer, [0; 4]);
    }
}
