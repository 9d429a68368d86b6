//! A minimal in-test kernel: a `Sys` whose `call` routes a message straight into a server's
//! generated `dispatch`, with shared regions for leases, recorded replies, calls interleaved
//! while a caller waits on a deferred reply, and a switch to make the server "die".

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};

use ballast_interfaces::support::{Permissions, ProtocolError, Submit};
use ballast_ipc::{
    Badge, EndpointId, IncomingCall, IpcError, LeaseAccess, LeaseDescriptor, LeaseId,
    NotificationBits, ReplyToken, Sys,
};

/// A generated `dispatch` for server type `S`.
pub type Dispatch<S> =
    fn(&mut S, &mut dyn Sys, IncomingCall<'_>, &dyn Permissions) -> Result<(), ProtocolError>;

/// Which badge may call which op: the role the composition tables play.
#[derive(Debug, Default)]
pub struct Grants(pub Vec<(Badge, u16, u16)>);

impl Permissions for Grants {
    fn allows(&self, badge: Badge, interface: u16, op: u16) -> bool {
        self.0.contains(&(badge, interface, op))
    }
}

/// A region shared by a client with the server.
#[derive(Debug)]
pub struct Region {
    pub bytes: Vec<u8>,
    /// The badge of the client that shares it.
    pub owner: Badge,
    /// Whether the server may write it.
    pub writable: bool,
}

/// The server side of the kernel: regions, replies, tokens.
#[derive(Debug, Default)]
pub struct Kernel {
    pub regions: HashMap<u16, Region>,
    /// Replies sent, by token.
    pub replies: HashMap<u64, Vec<u8>>,
    /// Every reply in the order sent, with its token.
    pub reply_log: Vec<(u64, Vec<u8>)>,
    next_token: u64,
    now_ns: u64,
}

impl Kernel {
    pub fn token(&mut self) -> ReplyToken {
        self.next_token += 1;
        ReplyToken::from_runtime(self.next_token)
    }

    pub fn share(&mut self, region: u16, owner: Badge, len: usize, writable: bool) {
        self.regions.insert(
            region,
            Region {
                bytes: vec![0; len],
                owner,
                writable,
            },
        );
    }
}

impl LeaseAccess for Kernel {
    fn lease_bytes(
        &mut self,
        badge: Badge,
        lease: &LeaseDescriptor,
    ) -> Result<&mut [u8], IpcError> {
        let region = self
            .regions
            .get_mut(&lease.region)
            .ok_or(IpcError::BadLease)?;
        if region.owner != badge || (lease.writable == 1 && !region.writable) {
            return Err(IpcError::BadLease);
        }
        let start = lease.offset as usize;
        let end = start
            .checked_add(lease.len as usize)
            .ok_or(IpcError::BadLease)?;
        region.bytes.get_mut(start..end).ok_or(IpcError::BadLease)
    }
}

impl Sys for Kernel {
    fn reply(&mut self, token: ReplyToken, message: &[u8]) {
        self.replies.insert(token.raw(), message.to_vec());
        self.reply_log.push((token.raw(), message.to_vec()));
    }

    fn call(
        &mut self,
        _endpoint: EndpointId,
        _request: &[u8],
        _lease: Option<LeaseDescriptor>,
        _reply: &mut [u8],
    ) -> Result<usize, IpcError> {
        Err(IpcError::NoSuchEndpoint)
    }

    fn own_region(&mut self, region: LeaseId) -> Option<&mut [u8]> {
        self.regions
            .get_mut(&region.0)
            .map(|r| r.bytes.as_mut_slice())
    }

    fn notify(&mut self, _endpoint: EndpointId, _bits: NotificationBits) -> Result<(), IpcError> {
        Err(IpcError::NoSuchEndpoint)
    }

    fn now_ns(&self) -> u64 {
        self.now_ns
    }

    fn set_timer(&mut self, deadline_ns: u64) {
        self.now_ns = self.now_ns.max(deadline_ns);
    }
}

/// A call another client makes while the current caller waits.
#[derive(Debug)]
pub struct Interleaved {
    pub badge: Badge,
    pub message: Vec<u8>,
    pub lease: Option<LeaseDescriptor>,
}

/// One server, its kernel, and the clients' view of it.
pub struct Loopback<S> {
    pub server: S,
    pub kernel: Kernel,
    pub grants: Grants,
    dispatch: Dispatch<S>,
    /// The badge the next `Sys::call` carries.
    pub caller: Badge,
    /// Calls delivered, in order, while a caller waits for a deferred reply.
    pub interleaved: VecDeque<Interleaved>,
    /// What each dispatch returned, in order.
    pub outcomes: Vec<Result<(), ProtocolError>>,
    /// When set, calls fail as if the server had died.
    pub server_dead: bool,
}

impl<S> Loopback<S> {
    pub fn new(server: S, dispatch: Dispatch<S>, grants: Grants, caller: Badge) -> Loopback<S> {
        Loopback {
            server,
            kernel: Kernel::default(),
            grants,
            dispatch,
            caller,
            interleaved: VecDeque::new(),
            outcomes: Vec::new(),
            server_dead: false,
        }
    }

    /// Delivers one call to the server's dispatch; returns its token and outcome.
    pub fn deliver(
        &mut self,
        badge: Badge,
        message: &[u8],
        lease: Option<LeaseDescriptor>,
    ) -> (u64, Result<(), ProtocolError>) {
        let reply = self.kernel.token();
        let raw = reply.raw();
        let call = IncomingCall {
            badge,
            message,
            lease,
            reply,
        };
        let outcome = (self.dispatch)(&mut self.server, &mut self.kernel, call, &self.grants);
        self.outcomes.push(outcome);
        (raw, outcome)
    }
}

impl<S> LeaseAccess for Loopback<S> {
    fn lease_bytes(
        &mut self,
        badge: Badge,
        lease: &LeaseDescriptor,
    ) -> Result<&mut [u8], IpcError> {
        self.kernel.lease_bytes(badge, lease)
    }
}

/// The client's `Sys`: a call runs the server's dispatch at once.
impl<S> Sys for Loopback<S> {
    fn reply(&mut self, token: ReplyToken, message: &[u8]) {
        self.kernel.reply(token, message);
    }

    fn call(
        &mut self,
        _endpoint: EndpointId,
        request: &[u8],
        lease: Option<LeaseDescriptor>,
        reply: &mut [u8],
    ) -> Result<usize, IpcError> {
        if self.server_dead {
            return Err(IpcError::ServerDied);
        }
        let (token, _) = self.deliver(self.caller, request, lease);
        loop {
            if let Some(answer) = self.kernel.replies.remove(&token) {
                let target = reply
                    .get_mut(..answer.len())
                    .ok_or(IpcError::ReplyTooLong)?;
                target.copy_from_slice(&answer);
                return Ok(answer.len());
            }
            let Some(next) = self.interleaved.pop_front() else {
                return Err(IpcError::WouldBlock);
            };
            let (_, _outcome) = self.deliver(next.badge, &next.message, next.lease);
        }
    }

    fn own_region(&mut self, region: LeaseId) -> Option<&mut [u8]> {
        self.kernel.own_region(region)
    }

    fn notify(&mut self, endpoint: EndpointId, bits: NotificationBits) -> Result<(), IpcError> {
        self.kernel.notify(endpoint, bits)
    }

    fn now_ns(&self) -> u64 {
        self.kernel.now_ns()
    }

    fn set_timer(&mut self, deadline_ns: u64) {
        self.kernel.set_timer(deadline_ns);
    }
}

/// A caller that must not block: a submitted call is delivered to dispatch at once, and its
/// reply, now or deferred, waits in `kernel.replies` under the returned token.
impl<S> Submit for Loopback<S> {
    type Call = u64;

    fn submit(
        &mut self,
        _endpoint: EndpointId,
        request: &[u8],
        lease: Option<LeaseDescriptor>,
    ) -> Result<u64, IpcError> {
        if self.server_dead {
            return Err(IpcError::ServerDied);
        }
        let (token, _) = self.deliver(self.caller, request, lease);
        Ok(token)
    }
}

/// Header + body bytes of a request.
pub fn message(interface: u16, op: u16, version: u16, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for half in [interface, op, version, body.len() as u16] {
        bytes.extend_from_slice(&half.to_ne_bytes());
    }
    bytes.extend_from_slice(body);
    bytes
}

/// The status of a recorded reply.
pub fn status_of(reply: &[u8]) -> u16 {
    u16::from_ne_bytes([reply[2], reply[3]])
}

/// The body length a recorded reply's header announces.
pub fn body_len_of(reply: &[u8]) -> u16 {
    u16::from_ne_bytes([reply[6], reply[7]])
}

/// A lease descriptor.
pub fn lease(region: u16, offset: u32, len: u32, writable: bool) -> LeaseDescriptor {
    LeaseDescriptor {
        region,
        writable: u16::from(writable),
        offset,
        len,
        reserved: 0,
    }
}

pub mod echo_demo;
