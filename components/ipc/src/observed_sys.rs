//! A [`Sys`] that passes everything through to another and tells an observer of every reply that
//! leaves through it: how a component (or a test standing at its kernel interface) counts its own
//! answers without touching the code that sends them.

use crate::kernel::{
    Badge, EndpointId, IpcError, LeaseAccess, LeaseDescriptor, LeaseId, NotificationBits,
    ReplyToken, Sys,
};

/// `sys`, with `on_reply` called with the token of each reply before it is sent.
pub struct ReplyObserved<'s, F: FnMut(&ReplyToken)> {
    sys: &'s mut dyn Sys,
    on_reply: F,
}

impl<F: FnMut(&ReplyToken)> core::fmt::Debug for ReplyObserved<'_, F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReplyObserved").finish_non_exhaustive()
    }
}

impl<'s, F: FnMut(&ReplyToken)> ReplyObserved<'s, F> {
    /// `sys`, observed by `on_reply`.
    pub fn new(sys: &'s mut dyn Sys, on_reply: F) -> ReplyObserved<'s, F> {
        ReplyObserved { sys, on_reply }
    }
}

impl<F: FnMut(&ReplyToken)> LeaseAccess for ReplyObserved<'_, F> {
    fn lease_bytes(
        &mut self,
        badge: Badge,
        lease: &LeaseDescriptor,
    ) -> Result<&mut [u8], IpcError> {
        self.sys.lease_bytes(badge, lease)
    }
}

impl<F: FnMut(&ReplyToken)> Sys for ReplyObserved<'_, F> {
    fn reply(&mut self, token: ReplyToken, message: &[u8]) {
        (self.on_reply)(&token);
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
