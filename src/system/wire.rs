//! Encoding calls and decoding replies for components driven from outside the runtimes (the
//! scenario player, tests): the same header and bodies the generated stubs use.

use ballast_interfaces::support::STATUS_OK;
use ballast_ipc::MessageHeader;
use zerocopy::{FromBytes, IntoBytes};

/// A request message: header for `interface` (at `version`) and `op`, then `body`.
pub fn request(interface: u16, version: u16, op: u16, body: &[u8]) -> Vec<u8> {
    let header = MessageHeader {
        interface,
        op_or_status: op,
        version,
        body_len: body.len() as u16,
    };
    let mut message = header.as_bytes().to_vec();
    message.extend_from_slice(body);
    message
}

/// A reply's status (0 = ok) and body; `None` if the bytes are not a reply.
pub fn reply(message: &[u8]) -> Option<(u16, &[u8])> {
    let (header, body) = MessageHeader::read_from_prefix(message).ok()?;
    let body = body.get(..usize::from(header.body_len))?;
    Some((header.op_or_status, body))
}

/// The typed body of a successful reply.
pub fn ok_body<T: FromBytes>(message: &[u8]) -> Result<T, u16> {
    match reply(message) {
        Some((STATUS_OK, body)) => T::read_from_bytes(body).map_err(|_| u16::MAX),
        Some((status, _)) => Err(status),
        None => Err(u16::MAX),
    }
}

/// `BalloonControl::set_target(pages)`.
pub fn set_target(pages: u64) -> Vec<u8> {
    use ballast_interfaces::balloon_control::{
        BalloonControlOp, SetTargetRequest, INTERFACE_ID, VERSION,
    };
    request(
        INTERFACE_ID,
        VERSION,
        BalloonControlOp::SetTarget as u16,
        SetTargetRequest::new(pages).as_bytes(),
    )
}

/// `BalloonControl::configure(...)` with the seed's retry delays and `policy` (1 ballast, 2 seed).
pub fn configure(max_schedule_delay_ms: u32, max_retry_count: u32, policy: u8) -> Vec<u8> {
    use ballast_interfaces::balloon_control::{
        BalloonControlOp, ConfigureRequest, INTERFACE_ID, VERSION,
    };
    let body = ConfigureRequest::new(1000, max_schedule_delay_ms, max_retry_count, policy);
    request(
        INTERFACE_ID,
        VERSION,
        BalloonControlOp::Configure as u16,
        body.as_bytes(),
    )
}

/// `BalloonControl::stats()`.
pub fn stats() -> Vec<u8> {
    use ballast_interfaces::balloon_control::{BalloonControlOp, INTERFACE_ID, VERSION};
    request(INTERFACE_ID, VERSION, BalloonControlOp::Stats as u16, &[])
}

/// `Balloon::alloc_unpopulated(count, max_gfn)` (the runs come back in the caller's lease).
pub fn alloc_unpopulated(count: u64, max_gfn: u64) -> Vec<u8> {
    use ballast_interfaces::balloon::{AllocUnpopulatedRequest, BalloonOp, INTERFACE_ID, VERSION};
    let body = AllocUnpopulatedRequest::new(count, max_gfn);
    request(
        INTERFACE_ID,
        VERSION,
        BalloonOp::AllocUnpopulated as u16,
        body.as_bytes(),
    )
}

/// `Balloon::free_unpopulated(runs)` (the runs go in the caller's lease).
pub fn free_unpopulated(runs: u32) -> Vec<u8> {
    use ballast_interfaces::balloon::{BalloonOp, FreeUnpopulatedRequest, INTERFACE_ID, VERSION};
    request(
        INTERFACE_ID,
        VERSION,
        BalloonOp::FreeUnpopulated as u16,
        FreeUnpopulatedRequest::new(runs).as_bytes(),
    )
}
