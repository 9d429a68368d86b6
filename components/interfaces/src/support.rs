//! The hand-written half of the IPC interfaces: the reply status encoding, protocol errors, the
//! permission check the composition tables implement, typed replies, and the header and lease
//! checks the generated clients and dispatchers share.
//!
//! # Reply status encoding
//!
//! A reply's header carries the interface id and version of the server that answered, and a
//! status in `op_or_status`:
//!
//! | status            | meaning                                                      | body            |
//! |-------------------|--------------------------------------------------------------|-----------------|
//! | `0`               | success                                                      | the op's reply  |
//! | `1..=0x7fff`      | the interface's error enum (values from the `.idol` file)    | empty           |
//! | `0x8000 \| n`     | [`ProtocolError`] `n`: the call never reached the server code | empty           |
//!
//! Transport failures ([`IpcError`]) never travel in a reply: the runtime reports them to the
//! caller directly. A server that died during a call shows up as the interface's `server_died`
//! variant (e.g. `ServerRestarted`).

use ballast_ipc::{
    Badge, EndpointId, IpcError, LeaseDescriptor, MessageHeader, ReplyToken, Sys, HEADER_BYTES,
    MESSAGE_BYTES,
};
use zerocopy::{FromBytes, IntoBytes};

/// Status of a successful reply.
pub const STATUS_OK: u16 = 0;
/// Highest status an interface error may use.
pub const MAX_INTERFACE_STATUS: u16 = 0x7fff;
/// Protocol errors are sent as `PROTOCOL_STATUS_BASE | error`.
pub const PROTOCOL_STATUS_BASE: u16 = 0x8000;
/// Largest body a message may carry.
pub const MAX_BODY_BYTES: usize = MESSAGE_BYTES - HEADER_BYTES;

/// Why a call was refused before it reached the server's code (or why its reply made no sense).
/// C-like, values from 1; on the wire as `PROTOCOL_STATUS_BASE | value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ProtocolError {
    /// The message is shorter than a header.
    ShortMessage = 1,
    /// The message is longer than `MESSAGE_BYTES`.
    OversizeMessage = 2,
    /// The header names another interface than the server's.
    WrongInterface = 3,
    /// The header names another version of the interface than the server's.
    WrongVersion = 4,
    /// The op id is not one of the interface's.
    UnknownOp = 5,
    /// The body's length disagrees with the header or with the op's request size.
    BodyLength = 6,
    /// The caller's badge does not hold the capability the op needs.
    PermissionDenied = 7,
    /// The op takes a lease and the call attached none.
    MissingLease = 8,
    /// The op takes no lease and the call attached one.
    UnexpectedLease = 9,
    /// The op writes its lease and the descriptor is read-only.
    LeaseNotWritable = 10,
    /// The descriptor is malformed, or the runtime refused it (region not shared, window outside).
    BadLease = 11,
    /// An argument's bytes are not a valid value of its type (a `bool` other than 0 or 1).
    BadArgument = 12,
    /// Client side: the reply is malformed (bad header, length or status, or an invalid value).
    MalformedReply = 13,
}

impl ProtocolError {
    /// The status this error travels as.
    pub const fn status(self) -> u16 {
        PROTOCOL_STATUS_BASE | self as u16
    }

    /// The protocol error a status encodes, if it encodes one.
    pub fn from_status(status: u16) -> Option<ProtocolError> {
        if status & PROTOCOL_STATUS_BASE == 0 {
            return None;
        }
        ProtocolError::try_from(status & !PROTOCOL_STATUS_BASE).ok()
    }
}

impl TryFrom<u16> for ProtocolError {
    type Error = u16;

    fn try_from(value: u16) -> Result<ProtocolError, u16> {
        Ok(match value {
            1 => ProtocolError::ShortMessage,
            2 => ProtocolError::OversizeMessage,
            3 => ProtocolError::WrongInterface,
            4 => ProtocolError::WrongVersion,
            5 => ProtocolError::UnknownOp,
            6 => ProtocolError::BodyLength,
            7 => ProtocolError::PermissionDenied,
            8 => ProtocolError::MissingLease,
            9 => ProtocolError::UnexpectedLease,
            10 => ProtocolError::LeaseNotWritable,
            11 => ProtocolError::BadLease,
            12 => ProtocolError::BadArgument,
            13 => ProtocolError::MalformedReply,
            other => return Err(other),
        })
    }
}

/// Why a typed call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallError<E> {
    /// The server answered with the interface's error (or died: the `server_died` variant).
    Interface(E),
    /// The call or its reply broke the protocol.
    Protocol(ProtocolError),
    /// The runtime could not deliver the call.
    Transport(IpcError),
}

/// What the generated error enums provide.
pub trait InterfaceError: Copy + TryFrom<u16> {
    /// The variant reporting a server that died or restarted during a call.
    const SERVER_DIED: Self;

    /// The status this error travels as (1..=0x7fff).
    fn status(self) -> u16;
}

/// Who may call what: the composition tables implement this from the manifest.
pub trait Permissions {
    /// Whether the holder of `badge` may call op `op` of interface `interface`.
    fn allows(&self, badge: Badge, interface: u16, op: u16) -> bool;
}

/// One encoded message, header and body, as generated code builds it (the only place a
/// [`MessageHeader`] is filled in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    bytes: [u8; MESSAGE_BYTES],
    len: usize,
}

impl Message {
    /// Generated code: `header` followed by `body`. Bodies laid out by the IDL fit
    /// [`MAX_BODY_BYTES`]; a longer one would be cut there, and `body_len` always says what
    /// follows the header.
    pub fn new(mut header: MessageHeader, body: &[u8]) -> Message {
        let body = &body[..body.len().min(MAX_BODY_BYTES)];
        header.body_len = body.len() as u16;
        let mut bytes = [0; MESSAGE_BYTES];
        let len = HEADER_BYTES + body.len();
        bytes[..HEADER_BYTES].copy_from_slice(header.as_bytes());
        bytes[HEADER_BYTES..len].copy_from_slice(body);
        Message { bytes, len }
    }

    /// The message, header included, as it travels.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The header's `op_or_status`.
    pub fn op_or_status(&self) -> u16 {
        u16::from_ne_bytes([self.bytes[2], self.bytes[3]])
    }
}

/// A message is handed to runtimes as its bytes.
impl core::ops::Deref for Message {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.bytes()
    }
}

/// An encoded reply and the token to send it with. Made by the generated responders.
#[derive(Debug)]
#[must_use = "a caller waits until its reply is sent"]
pub struct ReplyMessage {
    token: ReplyToken,
    message: Message,
}

impl ReplyMessage {
    /// Generated code: the reply `message` to the call `token` names.
    pub fn new(token: ReplyToken, message: Message) -> ReplyMessage {
        ReplyMessage { token, message }
    }

    /// The status the reply carries.
    pub fn status(&self) -> u16 {
        self.message.op_or_status()
    }

    /// The encoded reply, header included.
    pub fn message(&self) -> &[u8] {
        self.message.bytes()
    }

    /// Sends the reply to the caller (silently dropped by the runtime if the caller has died).
    pub fn send(self, sys: &mut dyn Sys) {
        sys.reply(self.token, self.message.bytes());
    }
}

/// A lease an op reads, as its server method receives it: checked by dispatch (well formed, and
/// honoured by the runtime when the call arrived). Its bytes are reached through `sys`, so that a
/// server can use both; for the duration of the call the runtime keeps honouring it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadLease {
    badge: Badge,
    descriptor: LeaseDescriptor,
}

/// A lease an op reads and writes, as its server method receives it: checked by dispatch (well
/// formed, writable, and honoured by the runtime when the call arrived).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadWriteLease {
    badge: Badge,
    descriptor: LeaseDescriptor,
}

impl ReadLease {
    /// Generated dispatch: the checked lease `descriptor` of the caller `badge`.
    pub const fn checked(badge: Badge, descriptor: LeaseDescriptor) -> ReadLease {
        ReadLease { badge, descriptor }
    }

    /// The lent bytes. A runtime that stopped honouring the lease (the caller died while its
    /// call was deferred, say) answers [`IpcError::BadLease`].
    pub fn bytes<'s>(&self, sys: &'s mut dyn Sys) -> Result<&'s [u8], IpcError> {
        sys.lease_bytes(self.badge, &self.descriptor)
            .map(|bytes| &*bytes)
    }

    /// How many bytes are lent.
    pub const fn len(&self) -> usize {
        self.descriptor.len as usize
    }

    /// Whether no byte is lent.
    pub const fn is_empty(&self) -> bool {
        self.descriptor.len == 0
    }

    /// The descriptor the caller attached.
    pub const fn descriptor(&self) -> LeaseDescriptor {
        self.descriptor
    }
}

impl ReadWriteLease {
    /// Generated dispatch: the checked, writable lease `descriptor` of the caller `badge`.
    pub const fn checked(badge: Badge, descriptor: LeaseDescriptor) -> ReadWriteLease {
        ReadWriteLease { badge, descriptor }
    }

    /// The lent bytes, writable. A runtime that stopped honouring the lease (the caller died
    /// while its call was deferred, say) answers [`IpcError::BadLease`].
    pub fn bytes<'s>(&self, sys: &'s mut dyn Sys) -> Result<&'s mut [u8], IpcError> {
        sys.lease_bytes(self.badge, &self.descriptor)
    }

    /// How many bytes are lent.
    pub const fn len(&self) -> usize {
        self.descriptor.len as usize
    }

    /// Whether no byte is lent.
    pub const fn is_empty(&self) -> bool {
        self.descriptor.len == 0
    }

    /// The descriptor the caller attached.
    pub const fn descriptor(&self) -> LeaseDescriptor {
        self.descriptor
    }
}

/// What a server method returns: the reply to send now, a promise that the server kept the
/// responder and will send it later (deferred reply), or word that it has sent it already.
#[derive(Debug)]
#[must_use = "return it from the server method: dispatch sends an immediate answer"]
pub enum Answer {
    /// Send this reply now.
    Now(ReplyMessage),
    /// The server kept the responder and answers later.
    Deferred,
    /// The server sent the reply itself (`ReplyMessage::send`), to work on after answering.
    Sent,
}

impl From<ReplyMessage> for Answer {
    fn from(reply: ReplyMessage) -> Answer {
        Answer::Now(reply)
    }
}

/// Generated dispatch: checks length, interface and version; returns the op id and the body.
pub fn check_header(
    message: &[u8],
    interface: u16,
    version: u16,
) -> Result<(u16, &[u8]), ProtocolError> {
    if message.len() > MESSAGE_BYTES {
        return Err(ProtocolError::OversizeMessage);
    }
    let Ok((header, body)) = MessageHeader::read_from_prefix(message) else {
        return Err(ProtocolError::ShortMessage);
    };
    if header.interface != interface {
        return Err(ProtocolError::WrongInterface);
    }
    if header.version != version {
        return Err(ProtocolError::WrongVersion);
    }
    if usize::from(header.body_len) != body.len() {
        return Err(ProtocolError::BodyLength);
    }
    Ok((header.op_or_status, body))
}

/// Generated dispatch: a request body of exactly `T`'s size.
pub fn decode_request<T: FromBytes>(body: &[u8]) -> Result<T, ProtocolError> {
    T::read_from_bytes(body).map_err(|_| ProtocolError::BodyLength)
}

/// Generated code: a wire `bool`.
pub fn bool_from_wire(byte: u8) -> Option<bool> {
    match byte {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

/// Generated dispatch: the lease of an op that takes one, well formed and as writable as needed.
pub fn check_lease(
    lease: Option<LeaseDescriptor>,
    writable: bool,
) -> Result<LeaseDescriptor, ProtocolError> {
    let lease = lease.ok_or(ProtocolError::MissingLease)?;
    if lease.reserved != 0 || lease.writable > 1 {
        return Err(ProtocolError::BadLease);
    }
    if writable && lease.writable == 0 {
        return Err(ProtocolError::LeaseNotWritable);
    }
    Ok(lease)
}

/// Generated dispatch: an op that takes no lease got none.
pub fn check_no_lease(lease: Option<LeaseDescriptor>) -> Result<(), ProtocolError> {
    match lease {
        Some(_) => Err(ProtocolError::UnexpectedLease),
        None => Ok(()),
    }
}

/// Generated dispatch: sends an immediate answer.
pub fn answer(sys: &mut dyn Sys, answer: Answer) -> Result<(), ProtocolError> {
    if let Answer::Now(reply) = answer {
        reply.send(sys);
    }
    Ok(())
}

/// Generated clients: sends `request` and waits for the reply; returns the reply message. A
/// server that died during the call is the interface's `server_died` variant.
pub fn call<'r, E: InterfaceError>(
    sys: &mut dyn Sys,
    endpoint: EndpointId,
    request: &Message,
    lease: Option<LeaseDescriptor>,
    response: &'r mut [u8; MESSAGE_BYTES],
) -> Result<&'r [u8], CallError<E>> {
    let received = sys
        .call(endpoint, request.bytes(), lease, response)
        .map_err(transport_error)?;
    response.get(..received).ok_or_else(malformed)
}

/// How a transport failure reaches a typed caller: a dead server is the interface's
/// `server_died` variant, anything else a [`CallError::Transport`].
pub fn transport_error<E: InterfaceError>(error: IpcError) -> CallError<E> {
    match error {
        IpcError::ServerDied => CallError::Interface(E::SERVER_DIED),
        other => CallError::Transport(other),
    }
}

/// Generated decoders: checks a reply message's header and status against the interface's;
/// returns the body of a successful reply.
pub fn check_reply<E: InterfaceError>(
    reply: &[u8],
    interface: u16,
    version: u16,
) -> Result<&[u8], CallError<E>> {
    let malformed = CallError::Protocol(ProtocolError::MalformedReply);
    let (header, body) = MessageHeader::read_from_prefix(reply).map_err(|_| malformed)?;
    if usize::from(header.body_len) != body.len() {
        return Err(malformed);
    }
    let ours = header.interface == interface && header.version == version;
    match header.op_or_status {
        STATUS_OK if ours => Ok(body),
        STATUS_OK => Err(malformed),
        status if status >= PROTOCOL_STATUS_BASE => Err(CallError::Protocol(
            ProtocolError::from_status(status).unwrap_or(ProtocolError::MalformedReply),
        )),
        status if body.is_empty() && ours => {
            E::try_from(status).map_or(Err(malformed), |error| Err(CallError::Interface(error)))
        }
        _ => Err(malformed),
    }
}

/// Generated decoders: the body of a successful reply, of exactly `T`'s size.
pub fn decode_reply<T: FromBytes, E>(body: &[u8]) -> Result<T, CallError<E>> {
    T::read_from_bytes(body).map_err(|_| malformed())
}

/// Generated decoders: a reply value that failed to decode (a `bool` other than 0 or 1, an
/// unknown enum value).
pub const fn malformed<E>() -> CallError<E> {
    CallError::Protocol(ProtocolError::MalformedReply)
}

/// How a caller that must not block hands a request to its runtime: the call is queued now and
/// its reply collected later (the deterministic and static runtimes' `submit_call` and
/// `take_reply`, for components driven from outside).
pub trait Submit {
    /// What names the submitted call when its reply is collected.
    type Call;

    /// Queues `request` to `endpoint`, lending `lease`.
    fn submit(
        &mut self,
        endpoint: EndpointId,
        request: &[u8],
        lease: Option<LeaseDescriptor>,
    ) -> Result<Self::Call, IpcError>;
}

/// A submitted call whose reply has not been decoded yet: the runtime's name for the call, and
/// the op's reply decoder. Made by the generated deferred clients.
#[derive(Clone, Copy, Debug)]
#[must_use = "the reply still has to be collected and decoded"]
pub struct Pending<C, R, E> {
    call: C,
    decode: fn(&[u8]) -> Result<R, CallError<E>>,
}

impl<C, R, E: InterfaceError> Pending<C, R, E> {
    /// Generated deferred clients: submits `request` through `sys`; its reply will be decoded
    /// with `decode`.
    pub fn submit<S: Submit<Call = C> + ?Sized>(
        sys: &mut S,
        endpoint: EndpointId,
        request: &Message,
        lease: Option<LeaseDescriptor>,
        decode: fn(&[u8]) -> Result<R, CallError<E>>,
    ) -> Result<Pending<C, R, E>, CallError<E>> {
        let call = sys
            .submit(endpoint, request.bytes(), lease)
            .map_err(transport_error)?;
        Ok(Pending { call, decode })
    }

    /// The runtime's name for the call, to collect its reply with.
    pub fn call(&self) -> &C {
        &self.call
    }

    /// The typed outcome of the call, from what the runtime delivered: the reply message, or
    /// the transport failure (a dead server is the interface's `server_died` variant).
    pub fn decode(&self, delivered: Result<&[u8], IpcError>) -> Result<R, CallError<E>> {
        (self.decode)(delivered.map_err(transport_error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message whose header is read from its wire halves, as a peer would send it.
    fn message(interface: u16, op_or_status: u16, version: u16, body: &[u8]) -> Message {
        let mut bytes = [0; HEADER_BYTES];
        for (i, half) in [interface, op_or_status, version].into_iter().enumerate() {
            bytes[2 * i..2 * i + 2].copy_from_slice(&half.to_ne_bytes());
        }
        Message::new(MessageHeader::read_from_bytes(&bytes).unwrap(), body)
    }

    fn request(interface: u16, op: u16, version: u16, body: &[u8]) -> ([u8; 64], usize) {
        let encoded = message(interface, op, version, body);
        let mut bytes = [0; 64];
        bytes[..encoded.len()].copy_from_slice(&encoded);
        (bytes, encoded.len())
    }

    #[test]
    fn header_checks() {
        let (bytes, len) = request(3, 9, 1, &[1, 2]);
        assert_eq!(check_header(&bytes[..len], 3, 1), Ok((9, &[1u8, 2][..])));
        assert_eq!(
            check_header(&bytes[..7], 3, 1),
            Err(ProtocolError::ShortMessage)
        );
        assert_eq!(
            check_header(&[0; MESSAGE_BYTES + 1], 3, 1),
            Err(ProtocolError::OversizeMessage)
        );
        assert_eq!(
            check_header(&bytes[..len], 4, 1),
            Err(ProtocolError::WrongInterface)
        );
        assert_eq!(
            check_header(&bytes[..len], 3, 2),
            Err(ProtocolError::WrongVersion)
        );
        assert_eq!(
            check_header(&bytes[..len + 1], 3, 1),
            Err(ProtocolError::BodyLength)
        );
    }

    #[test]
    fn lease_checks() {
        let good = LeaseDescriptor {
            region: 1,
            writable: 1,
            offset: 0,
            len: 8,
            reserved: 0,
        };
        assert_eq!(check_lease(Some(good), true), Ok(good));
        assert_eq!(check_lease(None, false), Err(ProtocolError::MissingLease));
        let read_only = LeaseDescriptor {
            writable: 0,
            ..good
        };
        assert_eq!(check_lease(Some(read_only), false), Ok(read_only));
        assert_eq!(
            check_lease(Some(read_only), true),
            Err(ProtocolError::LeaseNotWritable)
        );
        let reserved = LeaseDescriptor {
            reserved: 1,
            ..good
        };
        assert_eq!(
            check_lease(Some(reserved), false),
            Err(ProtocolError::BadLease)
        );
        assert_eq!(
            check_no_lease(Some(good)),
            Err(ProtocolError::UnexpectedLease)
        );
        assert_eq!(check_no_lease(None), Ok(()));
    }

    #[test]
    fn reply_messages_encode_header_and_body() {
        let reply = ReplyMessage::new(ReplyToken::from_runtime(4), message(3, 7, 2, &[9, 8, 7]));
        assert_eq!(reply.status(), 7);
        let (sent, body) = MessageHeader::read_from_prefix(reply.message()).unwrap();
        assert_eq!((sent.interface, sent.version, sent.body_len), (3, 2, 3));
        assert_eq!(body, &[9, 8, 7]);
        let oversize = message(3, 0, 2, &[1; 200]);
        assert_eq!(oversize.bytes().len(), MESSAGE_BYTES);
        let (cut, _) = MessageHeader::read_from_prefix(oversize.bytes()).unwrap();
        assert_eq!(
            usize::from(cut.body_len),
            MAX_BODY_BYTES,
            "the header says what follows"
        );
    }

    #[test]
    fn replies_are_checked_against_the_interface() {
        #[derive(Clone, Copy, Debug, PartialEq)]
        struct Died;
        impl TryFrom<u16> for Died {
            type Error = u16;
            fn try_from(status: u16) -> Result<Died, u16> {
                if status == 1 {
                    Ok(Died)
                } else {
                    Err(status)
                }
            }
        }
        impl InterfaceError for Died {
            const SERVER_DIED: Died = Died;
            fn status(self) -> u16 {
                1
            }
        }
        let check = |message: Message| check_reply::<Died>(message.bytes(), 3, 2).map(<[u8]>::len);
        assert_eq!(check(message(3, 0, 2, &[5; 4])), Ok(4));
        assert_eq!(
            check(message(3, 1, 2, &[])),
            Err(CallError::Interface(Died))
        );
        let malformed = Err(CallError::Protocol(ProtocolError::MalformedReply));
        assert_eq!(check(message(4, 0, 2, &[])), malformed);
        assert_eq!(check(message(3, 0, 1, &[])), malformed);
        assert_eq!(check(message(3, 1, 2, &[0])), malformed);
        assert_eq!(check(message(3, 2, 2, &[])), malformed);
        let denied = ProtocolError::PermissionDenied.status();
        assert_eq!(
            check(message(3, denied, 2, &[])),
            Err(CallError::Protocol(ProtocolError::PermissionDenied))
        );
        assert_eq!(
            check_reply::<Died>(&[0; 7], 3, 2).map(<[u8]>::len),
            malformed
        );
        assert_eq!(
            transport_error::<Died>(IpcError::ServerDied),
            CallError::Interface(Died)
        );
        assert_eq!(
            transport_error::<Died>(IpcError::WouldBlock),
            CallError::Transport(IpcError::WouldBlock)
        );
    }

    #[test]
    fn statuses_split_into_ranges() {
        assert_eq!(ProtocolError::ShortMessage.status(), 0x8001);
        assert_eq!(ProtocolError::from_status(MAX_INTERFACE_STATUS), None);
        assert_eq!(ProtocolError::from_status(STATUS_OK), None);
        assert_eq!(bool_from_wire(1), Some(true));
        assert_eq!(bool_from_wire(0), Some(false));
        assert_eq!(bool_from_wire(2), None);
    }
}
