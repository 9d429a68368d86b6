//! The caller's side of the cost figures (`ballast_sel4_pd_rt::costs`, with the memory server's
//! PD as the responder): the control agent times ballast's generated `stats` round trip to the
//! memory server's PD (answered by a handler that only answers, and by the memory server's own)
//! against a raw seL4 `Call` of the same message registers each way, through the same
//! capability, the three taking turns in blocks; the test client times borrowing one frame and
//! giving it back through the generated Balloon client, the server's dispatch and handler, the
//! runs written into its lease and read back. Each logs `cost` lines (median, minimum and
//! maximum, in ticks of the generic timer and in nanoseconds) for the host, which checks them and
//! sets the two round trips side by side.

use ballast_interfaces::balloon::BalloonClient;
use ballast_interfaces::balloon_control::{encode_stats, BalloonControlClient};
use ballast_ipc::sel4_rt::wire::HEAD_REGISTERS;
use ballast_ipc::sel4_rt::Sel4Client;
use ballast_ipc::{EndpointId, LeaseDescriptor, Sys, MESSAGE_BYTES};
use ballast_sel4_pd_rt::clock::Clock;
use ballast_sel4_pd_rt::costs::{
    self, path, Path, RawEndpoint, Samples, BLOCKS, BLOCK_CALLS, SAMPLES,
};
use ballast_sel4_pd_rt::{Pd, Sel4Pd};

/// Borrow-and-give-back round trips the test client times.
const BORROWS: usize = 200;

/// Message registers a message of `bytes` fills on the runtime's wire.
const fn registers(bytes: usize) -> usize {
    HEAD_REGISTERS + bytes.div_ceil(8)
}

/// Time the generated `stats` round trip to the memory server's PD through capability `endpoint`
/// (answered by the stand-in and by the memory server) against the raw floor, taking turns, and
/// log all three. The generated path's size comes from its
/// first call (untimed): the request as encoded, the reply as the server sent it.
pub fn round_trips(pd: &Pd, sys: &mut Sel4Client<'static, Sel4Pd>, endpoint: EndpointId) {
    let Some(raw) = RawEndpoint::of(pd, endpoint) else {
        defmt::error!("pd={=str} holds no endpoint for the floor", pd.name);
        return;
    };
    let client = BalloonControlClient::new(endpoint);
    let clock = Clock::new();
    let request = registers(encode_stats().bytes().len());
    let mut reply = 0;
    let mut generated = Samples::<SAMPLES>::new();
    let mut floor = Samples::<SAMPLES>::new();
    let mut served = Samples::<SAMPLES>::new();
    let mut refused = 0u32;
    for block in 0..BLOCKS {
        for call in 0..BLOCK_CALLS {
            let timed = call != 0 && call != BLOCK_CALLS - 1;
            let start = clock.ticks();
            let answered = match path(block) {
                Path::Generated if block == 0 && call == 0 => {
                    let mut bytes = [0; MESSAGE_BYTES];
                    let len = sys.call(endpoint, encode_stats().bytes(), None, &mut bytes);
                    reply = len.map_or(0, registers);
                    len.is_ok()
                }
                Path::Generated | Path::MemoryServer => client.stats(sys).is_ok(),
                Path::Floor => raw.call(request, reply) == Some(reply),
            };
            let ticks = clock.ticks().saturating_sub(start);
            refused += u32::from(!answered);
            match (timed, path(block)) {
                (false, _) => {}
                (true, Path::Generated) => generated.push(ticks),
                (true, Path::Floor) => floor.push(ticks),
                (true, Path::MemoryServer) => served.push(ticks),
            }
        }
    }
    defmt::info!(
        "cost_message op=stats request_registers={=usize} reply_registers={=usize} blocks={=usize} timed_per_block={=usize} refused={=u32}",
        request,
        reply,
        BLOCKS,
        costs::TIMED_PER_BLOCK,
        refused
    );
    costs::log("ipc_floor", floor.summary(), &clock);
    costs::log("ipc_generated", generated.summary(), &clock);
    costs::log("ipc_memory_server", served.summary(), &clock);
}

/// Time borrowing one frame (`alloc_unpopulated`, its run written into the lease of `region`)
/// and giving it back (`free_unpopulated`, the run lent read-only) through `balloon`, and log it;
/// whether every round trip succeeded.
pub fn borrow_give_back(
    sys: &mut Sel4Client<'static, Sel4Pd>,
    balloon: &BalloonClient,
    lease: (LeaseDescriptor, LeaseDescriptor),
) -> bool {
    let clock = Clock::new();
    let mut samples = Samples::<BORROWS>::new();
    let mut failed = 0u32;
    for _ in 0..BORROWS {
        let start = clock.ticks();
        let given_back = balloon
            .alloc_unpopulated(sys, 1, u64::MAX, lease.0)
            .ok()
            .and_then(|granted| balloon.free_unpopulated(sys, granted.runs, lease.1).ok());
        samples.push(clock.ticks().saturating_sub(start));
        failed += u32::from(given_back.is_none());
    }
    defmt::info!(
        "cost_borrow frames=1 round_trips={=usize} failed={=u32}",
        BORROWS,
        failed
    );
    costs::log("borrow_give_back", samples.summary(), &clock);
    failed == 0
}
