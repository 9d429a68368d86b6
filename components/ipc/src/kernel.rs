//! The contract between components and runtimes: what a handler receives and what it may ask of
//! the kernel. Nothing here knows threads, schedulers or hypervisors.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Largest message, header included (a seL4 IPC buffer holds 120 words; we use far less).
pub const MESSAGE_BYTES: usize = 128;
/// Size of [`MessageHeader`].
pub const HEADER_BYTES: usize = core::mem::size_of::<MessageHeader>();

/// The badge the kernel stamps on a call: which client capability was used. Generated from the
/// manifest, never chosen by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Badge(pub u32);

/// An endpoint a component may call, as numbered by the manifest's composition tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndpointId(pub u16);

/// A shared region, as numbered by the manifest's composition tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaseId(pub u16);

/// Notification bits delivered asynchronously (seL4 notification word). Bit 31 is the runtime's
/// timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NotificationBits(pub u32);

impl NotificationBits {
    /// The bit a runtime raises when a deadline set with [`Sys::set_timer`] has passed.
    pub const TIMER: NotificationBits = NotificationBits(1 << 31);

    /// The bits a composition may give a notification capability to raise: bits 0 to 26, the
    /// same on every target. The rule lives here, for the manifest's check and every runtime:
    /// - on seL4 a signal raises its capability's badge, and seL4 5.0 mints badges of 28 bits
    ///   (libsel4's `seL4_BadgeBits`), so bits 28 and up cannot be given;
    /// - bit 27, the top one of those 28, is the seL4 PD ABI's endpoint bit: every endpoint
    ///   capability's badge carries it and no notification badge may, since a server's receive
    ///   hands over either a caller's badge or its bound notification's word in the same register
    ///   (`ballast-sel4-plan`'s `ENDPOINT_BADGE_BIT`, the runtime's `Sel4Abi::endpoint_badge_bit`);
    /// - bit 31 is [`NotificationBits::TIMER`], the runtime's own.
    pub const ASSIGNABLE: NotificationBits = NotificationBits((1 << 27) - 1);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: NotificationBits) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether a notification capability may raise these bits: at least one, all within
    /// [`NotificationBits::ASSIGNABLE`].
    pub const fn assignable(self) -> bool {
        self.0 != 0 && NotificationBits::ASSIGNABLE.contains(self)
    }
}

/// The header in front of every message: which interface, which op, which interface version.
/// Replies carry the same interface and op, and a status in `op_or_status` (0 = ok).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct MessageHeader {
    /// Interface id from the IDL.
    pub interface: u16,
    /// Op id from the IDL (requests) or status code (replies: 0 ok, else an error code).
    pub op_or_status: u16,
    /// Interface version from the IDL.
    pub version: u16,
    /// Length of the body that follows, in bytes.
    pub body_len: u16,
}

/// A lease named in a call: a window of a shared region the caller lends for the call's duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct LeaseDescriptor {
    /// The region, as numbered by the composition tables.
    pub region: u16,
    /// 0 = read-only for the server, 1 = read-write.
    pub writable: u16,
    /// Byte offset into the region.
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
    /// Reserved, zero.
    pub reserved: u32,
}

/// Transport failures, as a caller or server sees them. C-like, nonzero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum IpcError {
    /// The endpoint is not one this component holds a capability for.
    NoSuchEndpoint = 1,
    /// The message is larger than [`MESSAGE_BYTES`].
    MessageTooLong = 2,
    /// The reply did not fit the caller's buffer.
    ReplyTooLong = 3,
    /// The lease names a region the peer does not share, or a window outside it, or asks for
    /// write access to a read-only region.
    BadLease = 4,
    /// A synchronous call would have to wait for a reply the callee deferred (the callee must
    /// answer component-to-component calls at once).
    WouldBlock = 5,
    /// The server died or restarted while the call was outstanding.
    ServerDied = 0xffff,
}

/// The right to answer one call, once. A server may keep it and answer later (deferred reply).
/// Not `Clone`: replying consumes it, as a seL4 reply capability is consumed.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ReplyToken {
    raw: u64,
}

impl ReplyToken {
    /// Made by runtimes only.
    #[doc(hidden)]
    pub const fn from_runtime(raw: u64) -> ReplyToken {
        ReplyToken { raw }
    }

    /// The runtime's number for this token.
    pub const fn raw(&self) -> u64 {
        self.raw
    }
}

/// One incoming call, as a handler receives it.
#[derive(Debug)]
pub struct IncomingCall<'a> {
    /// The badge of the capability the caller used.
    pub badge: Badge,
    /// Header and body.
    pub message: &'a [u8],
    /// The lease the caller attached, if any (not yet checked: see [`LeaseAccess`]).
    pub lease: Option<LeaseDescriptor>,
    /// The token to answer with, now or later.
    pub reply: ReplyToken,
}

/// Access to leased bytes, checked by the runtime against the composition tables.
pub trait LeaseAccess {
    /// The bytes of a lease the caller identified by `badge` attached, read-write if the
    /// descriptor says so. Fails with [`IpcError::BadLease`] if the caller does not share that
    /// region with this component or the window falls outside it.
    fn lease_bytes(&mut self, badge: Badge, lease: &LeaseDescriptor)
        -> Result<&mut [u8], IpcError>;
}

/// What a running handler may ask of its kernel.
pub trait Sys: LeaseAccess {
    /// Answer a call (at once or deferred). A token whose caller has died is dropped silently.
    fn reply(&mut self, token: ReplyToken, message: &[u8]);

    /// Call `endpoint` and block until it replies; returns the reply's length in `reply`.
    /// `lease`, if given, names a window of one of this component's own regions.
    fn call(
        &mut self,
        endpoint: EndpointId,
        request: &[u8],
        lease: Option<LeaseDescriptor>,
        reply: &mut [u8],
    ) -> Result<usize, IpcError>;

    /// The bytes of one of this component's own regions (to fill before lending it).
    fn own_region(&mut self, region: LeaseId) -> Option<&mut [u8]>;

    /// Raise notification bits on a component this one may signal.
    fn notify(&mut self, endpoint: EndpointId, bits: NotificationBits) -> Result<(), IpcError>;

    /// Monotonic time in nanoseconds (simulated time in the deterministic runtime).
    fn now_ns(&self) -> u64;

    /// Ask for [`NotificationBits::TIMER`] once `deadline_ns` has passed (replaces any earlier one).
    fn set_timer(&mut self, deadline_ns: u64);
}

/// A component: the runtime owns the loop and calls these.
pub trait Handler {
    /// A call arrived on the component's endpoint (Microkit's `protected`).
    fn protected(&mut self, sys: &mut dyn Sys, call: IncomingCall<'_>);

    /// Notification bits arrived, the timer among them (Microkit's `notified`).
    fn notified(&mut self, sys: &mut dyn Sys, bits: NotificationBits);

    /// A client holding capabilities to this component died: forget its state, reclaim what it
    /// held. Its outstanding reply tokens are void.
    fn client_died(&mut self, sys: &mut dyn Sys, badge: Badge);
}

#[cfg(test)]
mod tests {
    use super::NotificationBits;

    #[test]
    fn a_capability_may_raise_bits_0_to_26_only() {
        for bits in [1, 1 << 26, (1 << 27) - 1, 0b101] {
            assert!(NotificationBits(bits).assignable(), "{bits:#x}");
        }
        for bits in [
            0,
            1 << 27,
            1 << 28,
            NotificationBits::TIMER.0,
            (1 << 27) | 1,
        ] {
            assert!(!NotificationBits(bits).assignable(), "{bits:#x}");
        }
    }
}
