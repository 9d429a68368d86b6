//! The runtime of a PD that serves nothing (a scenario driver, a test client, a control agent):
//! it calls servers and signals notifications through the capabilities the composition gives it,
//! fills the regions it owns before lending them, and waits for the bits others raise on its own
//! notification. It is never called, so it holds no reply token and borrows no lease.

use crate::kernel::{
    Badge, EndpointId, IpcError, LeaseAccess, LeaseDescriptor, LeaseId, NotificationBits,
    ReplyToken, Sys,
};
use crate::tables::{ComponentId, ComponentKind, Tables};

use super::kernel::Sel4Kernel;
use super::pd::Pd;
use super::regions;
use super::Sel4Error;

/// A client-only PD's runtime over `kernel`.
#[derive(Debug)]
pub struct Sel4Client<'t, K> {
    pd: Pd<'t, 'static, K>,
}

impl<'t, K: Sel4Kernel> Sel4Client<'t, K> {
    /// The runtime of external component `me` of `tables` over `kernel`, which must map exactly
    /// the regions `me` owns (it is granted none: nobody calls it).
    pub fn new(mut kernel: K, tables: Tables<'t>, me: ComponentId) -> Result<Self, Sel4Error> {
        super::check_component(&tables, me, ComponentKind::External)?;
        regions::check_mappings(&mut kernel, &tables, me, 0)?;
        Ok(Sel4Client {
            pd: Pd {
                kernel,
                tables,
                me,
                scratch: &mut [],
            },
        })
    }

    /// Yield to the other PDs until the clock reaches `deadline_ns`.
    pub fn wait_until(&mut self, deadline_ns: u64) {
        while self.pd.kernel.now_ns() < deadline_ns {
            self.pd.kernel.yield_now();
        }
    }

    /// The notification bits raised on this PD since it last took them, without waiting (none:
    /// `NotificationBits(0)`).
    pub fn take_notified(&mut self) -> NotificationBits {
        NotificationBits(notified(self.pd.kernel.poll_notification()))
    }

    /// Wait until notification bits are raised on this PD; returns them.
    pub fn wait_notified(&mut self) -> NotificationBits {
        loop {
            let bits = notified(self.pd.kernel.wait_notification());
            if bits != 0 {
                return NotificationBits(bits);
            }
        }
    }

    /// The kernel (to reach what the PD does outside its calls).
    pub fn kernel(&mut self) -> &mut K {
        &mut self.pd.kernel
    }

    /// Which component this PD is.
    pub fn component(&self) -> ComponentId {
        self.pd.me
    }
}

/// The bits of notification word `word` a capability may raise (never the timer's, nor above).
fn notified(word: u64) -> u32 {
    (word & u64::from(NotificationBits::ASSIGNABLE.0)) as u32
}

impl<K: Sel4Kernel> LeaseAccess for Sel4Client<'_, K> {
    /// Nobody calls a client-only PD, so nothing is ever lent to it.
    fn lease_bytes(
        &mut self,
        _badge: Badge,
        _lease: &LeaseDescriptor,
    ) -> Result<&mut [u8], IpcError> {
        Err(IpcError::BadLease)
    }
}

impl<K: Sel4Kernel> Sys for Sel4Client<'_, K> {
    /// A client-only PD holds no reply token: there is nothing to answer.
    fn reply(&mut self, _token: ReplyToken, _message: &[u8]) {}

    fn call(
        &mut self,
        endpoint: EndpointId,
        request: &[u8],
        lease: Option<LeaseDescriptor>,
        reply: &mut [u8],
    ) -> Result<usize, IpcError> {
        self.pd.call(endpoint, request, lease, reply)
    }

    fn own_region(&mut self, region: LeaseId) -> Option<&mut [u8]> {
        self.pd.own_region(region)
    }

    fn notify(&mut self, endpoint: EndpointId, bits: NotificationBits) -> Result<(), IpcError> {
        self.pd.notify(endpoint, bits)
    }

    fn now_ns(&self) -> u64 {
        self.pd.kernel.now_ns()
    }

    /// A client-only PD runs no handler, so no timer bit could reach it: it waits with
    /// [`Sel4Client::wait_until`] instead.
    fn set_timer(&mut self, _deadline_ns: u64) {}
}
