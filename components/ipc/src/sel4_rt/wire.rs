//! How the runtime's messages sit in seL4's message registers, and how a received badge reads.
//!
//! Every call and every reply has the same layout:
//!
//! | register | contents |
//! | --- | --- |
//! | MR0 | bits 0..16: the message's length in bytes; bit 16: a lease follows; the rest zero |
//! | MR1 | the lease's `region` (bits 0..16), `writable` (16..32), `offset` (32..64) |
//! | MR2 | the lease's `len` (bits 0..32), `reserved` (32..64) |
//! | MR3.. | the message bytes, little-endian, 8 to a register, the last one zero-padded |
//!
//! A call's label is [`LABEL_CALL`]; a reply's label is [`LABEL_OK`] when it carries an answer,
//! else the [`IpcError`] code the caller's runtime returns. The root task's client-died message
//! is the one message of another form: label [`Sel4Abi::client_died_label`], MR0 the dead
//! client's badge at the receiving server.

use crate::kernel::{Badge, IpcError, LeaseDescriptor, NotificationBits, MESSAGE_BYTES};

use super::kernel::{MessageInfo, Received, MESSAGE_REGISTERS};

/// The label of a call.
pub const LABEL_CALL: u64 = 0;
/// The label of a reply that carries the server's answer.
pub const LABEL_OK: u64 = 0;
/// Registers before the message bytes.
pub const HEAD_REGISTERS: usize = 3;
/// Registers the longest message fills, head included.
pub const MAX_REGISTERS: usize = HEAD_REGISTERS + MESSAGE_BYTES.div_ceil(8);
const LEASE_FOLLOWS: u64 = 1 << 16;
const LENGTH_MASK: u64 = 0xffff;

const _: () = assert!(MAX_REGISTERS <= MESSAGE_REGISTERS);

/// The badge conventions of the PD ABI (`ballast-sel4-plan` fills them; the runtime cannot depend
/// on it, as the plan is built from a composition over this crate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sel4Abi {
    /// The bit every endpoint capability's badge carries and no notification capability's badge
    /// does (a receive cannot otherwise tell a message from a signal).
    pub endpoint_badge_bit: u64,
    /// The badge of the root task's capability to a server's endpoint (the endpoint bit set, and
    /// no client's badge).
    pub root_task_badge: u64,
    /// The label of the root task's client-died message.
    pub client_died_label: u64,
}

impl Sel4Abi {
    /// The badge the root task mints on a client's capability to a server whose composition badge
    /// is `badge`.
    pub const fn endpoint_badge(&self, badge: Badge) -> u64 {
        self.endpoint_badge_bit | badge.0 as u64
    }
}

/// What a receive brought, as the runtime reads its badge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Nothing (a non-blocking receive that found nothing).
    Nothing,
    /// A call from the client whose composition badge this is.
    Call(Badge),
    /// The root task's client-died message naming this badge.
    ClientDied(Badge),
    /// A message from the root task of no form the runtime knows.
    RootMessage,
    /// Notification bits (never the timer bit: the runtime raises that itself).
    Notified(NotificationBits),
}

/// Read what `received` is under `abi`, its message registers in `registers`.
pub fn arrival(abi: &Sel4Abi, received: Received, registers: &[u64]) -> Arrival {
    let badge = received.badge;
    if badge == 0 {
        return Arrival::Nothing;
    }
    if badge & abi.endpoint_badge_bit == 0 {
        let bits = (badge & !NotificationBits::TIMER.0 as u64) as u32;
        return if bits == 0 {
            Arrival::Nothing
        } else {
            Arrival::Notified(NotificationBits(bits))
        };
    }
    if badge == abi.root_task_badge {
        let died = registers
            .first()
            .filter(|_| received.info.label == abi.client_died_label && received.info.length >= 1);
        return match died.and_then(|&badge| u32::try_from(badge).ok()) {
            Some(badge) => Arrival::ClientDied(Badge(badge)),
            None => Arrival::RootMessage,
        };
    }
    match u32::try_from(badge & !abi.endpoint_badge_bit) {
        Ok(badge) => Arrival::Call(Badge(badge)),
        Err(_) => Arrival::RootMessage,
    }
}

/// Put the root task's client-died message for `badge` into `registers`; returns its info.
pub fn put_client_died(abi: &Sel4Abi, badge: Badge, registers: &mut [u64]) -> MessageInfo {
    if let Some(first) = registers.first_mut() {
        *first = u64::from(badge.0);
    }
    MessageInfo {
        label: abi.client_died_label,
        length: 1,
    }
}

/// Put `message` with `lease` into `registers` under `label`; returns the info to send with.
/// `MessageTooLong` if it exceeds [`MESSAGE_BYTES`].
pub fn put(
    registers: &mut [u64; MESSAGE_REGISTERS],
    label: u64,
    message: &[u8],
    lease: Option<&LeaseDescriptor>,
) -> Result<MessageInfo, IpcError> {
    if message.len() > MESSAGE_BYTES {
        return Err(IpcError::MessageTooLong);
    }
    let flag = if lease.is_some() { LEASE_FOLLOWS } else { 0 };
    registers[0] = message.len() as u64 | flag;
    let (first, second) = lease.map_or((0, 0), |lease| {
        (
            u64::from(lease.region)
                | u64::from(lease.writable) << 16
                | u64::from(lease.offset) << 32,
            u64::from(lease.len) | u64::from(lease.reserved) << 32,
        )
    });
    registers[1] = first;
    registers[2] = second;
    let words = message.len().div_ceil(8);
    for (register, chunk) in registers[HEAD_REGISTERS..]
        .iter_mut()
        .zip(message.chunks(8))
    {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        *register = u64::from_le_bytes(word);
    }
    Ok(MessageInfo {
        label,
        // `words` was checked to fit the registers after the head.
        length: HEAD_REGISTERS.saturating_add(words),
    })
}

/// An error reply (no message) with `error` as its label.
pub fn error_reply(error: IpcError) -> MessageInfo {
    MessageInfo {
        label: error as u64,
        length: 0,
    }
}

/// The message and lease in `registers` (as [`put`] laid them out, under `info`), the bytes
/// copied into `into`; returns the message's length. `MessageTooLong` if the head is missing or
/// malformed or names more bytes than the registers or [`MESSAGE_BYTES`] hold.
pub fn take(
    registers: &[u64; MESSAGE_REGISTERS],
    info: MessageInfo,
    into: &mut [u8; MESSAGE_BYTES],
) -> Result<(usize, Option<LeaseDescriptor>), IpcError> {
    if info.length < HEAD_REGISTERS || info.length > MESSAGE_REGISTERS {
        return Err(IpcError::MessageTooLong);
    }
    let head = registers[0];
    if head & !(LENGTH_MASK | LEASE_FOLLOWS) != 0 {
        return Err(IpcError::MessageTooLong);
    }
    let len = (head & LENGTH_MASK) as usize;
    // `len` is at most MESSAGE_BYTES when the sum is taken.
    if len > MESSAGE_BYTES || HEAD_REGISTERS.saturating_add(len.div_ceil(8)) > info.length {
        return Err(IpcError::MessageTooLong);
    }
    for (chunk, register) in into[..len].chunks_mut(8).zip(&registers[HEAD_REGISTERS..]) {
        chunk.copy_from_slice(&register.to_le_bytes()[..chunk.len()]);
    }
    let lease = (head & LEASE_FOLLOWS != 0).then(|| LeaseDescriptor {
        region: registers[1] as u16,
        writable: (registers[1] >> 16) as u16,
        offset: (registers[1] >> 32) as u32,
        len: registers[2] as u32,
        reserved: (registers[2] >> 32) as u32,
    });
    Ok((len, lease))
}

/// What the caller's runtime makes of a reply: its length in `reply` (the bytes copied), or the
/// error the label names.
pub fn take_reply(
    registers: &[u64; MESSAGE_REGISTERS],
    info: MessageInfo,
    reply: &mut [u8],
) -> Result<usize, IpcError> {
    if info.label != LABEL_OK {
        return Err(error_of(info.label));
    }
    let mut bytes = [0u8; MESSAGE_BYTES];
    let (len, _) = take(registers, info, &mut bytes)?;
    let into = reply.get_mut(..len).ok_or(IpcError::ReplyTooLong)?;
    into.copy_from_slice(&bytes[..len]);
    Ok(len)
}

/// The error a reply label names (an unknown label reads as a server that is gone).
fn error_of(label: u64) -> IpcError {
    [
        IpcError::NoSuchEndpoint,
        IpcError::MessageTooLong,
        IpcError::ReplyTooLong,
        IpcError::BadLease,
        IpcError::WouldBlock,
    ]
    .into_iter()
    .find(|error| *error as u64 == label)
    .unwrap_or(IpcError::ServerDied)
}

#[cfg(test)]
mod tests;
