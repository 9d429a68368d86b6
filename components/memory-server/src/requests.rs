//! The memory server's own count of the calls it serves: taken, answered, and voided by the
//! caller's death, counted where the replies leave (a [`Sys`] that counts what passes through it),
//! so that "every request answered" can be read from the server itself, not from a test's wrapper.

use ballast_ipc::{
    Badge, EndpointId, IpcError, LeaseAccess, LeaseDescriptor, LeaseId, NotificationBits,
    ReplyToken, Sys,
};

/// The calls the server took and what became of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestCounters {
    /// Calls delivered to the server, on either interface (refused ones included).
    pub taken: u64,
    /// Replies the server sent (at once or deferred; a protocol refusal is a reply too).
    pub answered: u64,
    /// Deferred calls dropped unanswered because their caller died.
    pub voided: u64,
}

/// `sys`, with every reply that passes through it counted in `answered`.
pub(crate) struct Counting<'s, 'c> {
    sys: &'s mut dyn Sys,
    answered: &'c mut u64,
}

impl<'s, 'c> Counting<'s, 'c> {
    pub(crate) fn new(sys: &'s mut dyn Sys, answered: &'c mut u64) -> Counting<'s, 'c> {
        Counting { sys, answered }
    }
}

impl LeaseAccess for Counting<'_, '_> {
    fn lease_bytes(
        &mut self,
        badge: Badge,
        lease: &LeaseDescriptor,
    ) -> Result<&mut [u8], IpcError> {
        self.sys.lease_bytes(badge, lease)
    }
}

impl Sys for Counting<'_, '_> {
    fn reply(&mut self, token: ReplyToken, message: &[u8]) {
        *self.answered = self.answered.saturating_add(1);
        self.sys.reply(token, message);
    }

    fn call(
        &mut self,
        endpoint: EndpointId,
        request: &[u8],
        lease: Option<LeaseDescriptor>,
        reply: &mut [u8],
    ) -> Result<usize, IpcError> {
        self.sys.call(endpoint, request, lease, reply)
    }

    fn own_region(&mut self, region: LeaseId) -> Option<&mut [u8]> {
        self.sys.own_region(region)
    }

    fn notify(&mut self, endpoint: EndpointId, bits: NotificationBits) -> Result<(), IpcError> {
        self.sys.notify(endpoint, bits)
    }

    fn now_ns(&self) -> u64 {
        self.sys.now_ns()
    }

    fn set_timer(&mut self, deadline_ns: u64) {
        self.sys.set_timer(deadline_ns);
    }
}
